"""Composition metrics (SPEC B.6.5, §5.4, Figs. 11, 17): does each object of a generated video follow its law?

Objects are the dynamic slots of the true states (the red ball, the blue square / ball); the wall (static, gray)
is never parsed: neither of the parser's colour rules matches it. Each object is parsed with the rule of its
colour (one object per colour in these scenes). Only generated frames (t >= c) count, and only those where the
true object lies fully in view.

Per object and video:

* ``velocity_error``: mean over generated intervals k -> k+1 of |(p̂_{k+1} − p̂_k) − (p_{k+1} − p_k)| / dt
  (world units/s; the evaluator's per-interval velocity error, ``evaluate.metrics.velocity_error``), against
  the simulator's states, over intervals with both frames detected and in view.
* ``position_error``: mean |p̂ − p| over the generated frames (world units).
* ``missing``: the share of the generated in-view frames where the object is not detected.
* **law check** per segment: the true motion is piecewise linear between the object's events (contacts with
  the wall or the other ball); on each segment the least-squares velocity of the parsed centres over its
  generated in-view detected frames (>= ``MIN_SEGMENT_FRAMES``) must lie within ``TOL_ABS + TOL_REL·|v|`` of
  the true velocity v.

The verdict of an object, first failing reason first: ``vanished`` (missing > ``VANISH_FRACTION``),
``no_rebound`` (a segment that starts at a wall contact whose fitted x velocity does not have the true
sign: the object went on through or stopped at the wall), ``velocity`` (any other segment out of tolerance),
else ``ok``. A video **composes correctly** when every object is ``ok``. Reported per level with Wilson 95 %
CIs beside the floor: the same verdicts on the ground-truth frames of the same videos.

Tolerance (calibrated on ground truth with ``ground_truth_check``; docs/composition.md has the table):
``TOL_ABS`` = 0.4 world units/s, ``TOL_REL`` = 0.1, segments of >= 4 judged frames. On the ground-truth frames
of the three evaluation splits (792 videos) the largest segment error is 0.166 world units/s at 64 px / 16
frames (tiny), 0.200 at 64 px / 32 frames (small) and 0.058 at 128 px / 32 frames (paper); 3-frame segments
reach 0.30 at 64 px (centroids of two touching soft-edged balls), hence 4. So the tolerance is at least 2x the
parser's worst case and every ground-truth video passes, while it stays below half the slowest moving
object's speed (1 world unit/s): a missed bounce (error 2|v|), a ball that stops, or one off its speed by more
than 10 % + 0.4 fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from phylaw.errors import PhylawError
from phylaw.evaluate.studies import finished_rows, frame_blocks, mean_row, rate_row, wilson_ci

TOL_ABS = 0.4  # world units/s
TOL_REL = 0.1
VANISH_FRACTION = 0.25
MIN_SEGMENT_FRAMES = 4
REASONS = ("ok", "vanished", "no_rebound", "velocity")
OBJECT_NAMES = {1: "red", 2: "blue"}  # palette id -> the name in metric names


@dataclass(frozen=True)
class Verdicts:
    """Per video (n) and dynamic object (K) of one set of parsed frames (generated or ground truth)."""

    objects: tuple[int, ...]  # (K,) state slots judged
    names: tuple[str, ...]  # (K,) "red" / "blue"
    present: np.ndarray  # (n, K) the object is in the video
    velocity_error: np.ndarray  # (n, K) NaN where no interval counts
    position_error: np.ndarray  # (n, K)
    missing: np.ndarray  # (n, K) share of frames not detected
    segment_error: np.ndarray  # (n, K) largest segment error over tolerance (<= 1: within); NaN: none judged
    reason: np.ndarray  # (n, K) str, "" for an absent object

    @property
    def object_ok(self) -> np.ndarray:
        return (self.reason == "ok") | ~self.present

    @property
    def passed(self) -> np.ndarray:
        """(n,) every present object follows its law."""
        return self.object_ok.all(axis=1)

    def video_reason(self) -> np.ndarray:
        """(n,) "ok" or the first failing object's "name: reason"."""
        out = np.full(len(self.present), "ok", dtype=object)
        for k in reversed(range(len(self.objects))):
            bad = self.present[:, k] & (self.reason[:, k] != "ok")
            out[bad] = [f"{self.names[k]}: {r}" for r in self.reason[bad, k]]
        return out.astype(str)


def dynamic_objects(truth) -> tuple[int, ...]:
    """The slots that hold a moving-capable object in some video (not static, present somewhere)."""
    keep = (~truth.static & truth.present).any(axis=0) & ~(truth.static.any(axis=0))
    return tuple(int(k) for k in np.flatnonzero(keep))


def align(center: np.ndarray, visible: np.ndarray, color_ids: tuple[int, ...], truth, objects) -> tuple:
    """Parsed per-colour states (n, T, R, 2) / (n, T, R) -> per-object (n, T, K, 2) / (n, T, K) by colour."""
    out_c, out_v = [], []
    for k in objects:
        colors = set(truth.color[truth.present[:, k], k].tolist())
        if len(colors) != 1:
            raise PhylawError(f"object slot {k} has colours {sorted(colors)}; one colour per slot is needed")
        cid = colors.pop()
        if cid not in color_ids:
            raise PhylawError(f"the parser has no rule for colour id {cid} of object slot {k}")
        j = color_ids.index(cid)
        out_c.append(center[:, :, j])
        out_v.append(visible[:, :, j])
    return np.stack(out_c, axis=2), np.stack(out_v, axis=2)


def _segments(truth, i: int, k: int) -> list[tuple[int, int, bool]]:
    """(start, stop, starts at a wall contact) frame ranges of object k's linear pieces in video i."""
    n_frames = truth.n_frames
    ev = (truth.event_a[i] == k) | (truth.event_b[i] == k)
    frames = truth.event_frame[i][ev & (truth.event_frame[i] >= 0)]
    other = np.where(truth.event_a[i] == k, truth.event_b[i], truth.event_a[i])[
        ev & (truth.event_frame[i] >= 0)
    ]
    walls = {int(f) for f, o in zip(frames, other, strict=True) if truth.static[i, int(o)]}
    cuts = sorted({0, n_frames, *(int(f) for f in frames if 0 < f < n_frames)})
    return [(a, b, a in walls) for a, b in pairwise(cuts)]


def _fit(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Least-squares slope (2,) of p (m, 2) over t (m,)."""
    dt = t - t.mean()
    return (dt[:, None] * (p - p.mean(axis=0))).sum(axis=0) / (dt**2).sum()


def _object_verdict(truth, i, slot, pos, det, c, tol_abs, tol_rel) -> tuple[float, float, str]:
    """(missing share, worst segment error / tolerance, reason) of object slot ``slot`` in video i."""
    t_all = np.arange(truth.n_frames) * truth.dt
    view = truth.in_view[i, :, slot] & (np.arange(truth.n_frames) >= c)
    counted = view[: pos.shape[0]]
    missing = float((~det[counted]).mean()) if counted.any() else np.nan
    if counted.any() and missing > VANISH_FRACTION:
        return missing, np.nan, "vanished"
    worst, reason = np.nan, "ok"
    for a, b, after_wall in _segments(truth, i, slot):
        sel = np.zeros(pos.shape[0], bool)
        sel[a:b] = True
        sel &= counted & det & np.isfinite(pos).all(axis=-1)
        if sel.sum() < MIN_SEGMENT_FRAMES:
            continue
        v_true = truth.velocity[i, a, slot]
        v_fit = _fit(t_all[: pos.shape[0]][sel], pos[sel])
        ratio = float(np.linalg.norm(v_fit - v_true) / (tol_abs + tol_rel * np.linalg.norm(v_true)))
        worst = ratio if not np.isfinite(worst) else max(worst, ratio)
        if ratio > 1 and reason == "ok":
            wrong_sign = np.sign(v_fit[0]) != np.sign(v_true[0])
            reason = "no_rebound" if after_wall and wrong_sign else "velocity"
    return missing, worst, reason


def judge(
    truth, center: np.ndarray, visible: np.ndarray, color_ids: tuple[int, ...], cond_frames: int,
    tol_abs: float = TOL_ABS, tol_rel: float = TOL_REL,
) -> Verdicts:  # fmt: skip
    """Verdicts of parsed frames (``ParsedStates.center`` (n, T', R, 2), ``visible`` (n, T', R), its
    ``color_ids``) against ``truth`` (States of the same n videos, T >= T' frames)."""
    if center.shape[0] != len(truth) or center.shape[1] > truth.n_frames:
        raise PhylawError(
            f"parsed frames of {center.shape[:2]} (videos, frames) do not match the states' "
            f"{(len(truth), truth.n_frames)}"
        )
    if not 1 <= cond_frames < center.shape[1]:
        raise PhylawError(f"cond_frames must be in [1, {center.shape[1] - 1}], got {cond_frames}")
    objects = dynamic_objects(truth)
    pos, det = align(center, visible, color_ids, truth, objects)  # (n, T', K, 2), (n, T', K)
    n, t, kk = det.shape
    present = truth.present[:, list(objects)]
    true_pos = truth.position[:, :t][:, :, list(objects)]
    view = truth.in_view[:, :t][:, :, list(objects)] & (np.arange(t) >= cond_frames)[None, :, None]
    ok = view & det
    with np.errstate(invalid="ignore"):
        perr = np.linalg.norm(pos - true_pos, axis=-1)  # (n, T', K)
        dv = (
            np.linalg.norm(np.diff(pos, axis=1) - np.diff(true_pos, axis=1), axis=-1) / truth.dt
        )  # (n, T'-1, K)
        step_ok = ok[:, 1:] & ok[:, :-1]
        verr = np.where(step_ok, dv, 0).sum(1) / step_ok.sum(1)
        pos_err = np.where(ok, perr, 0).sum(1) / ok.sum(1)
    missing = np.full((n, kk), np.nan)
    seg = np.full((n, kk), np.nan)
    reason = np.full((n, kk), "", dtype=object)
    for i in range(n):
        for j, slot in enumerate(objects):
            if present[i, j]:
                missing[i, j], seg[i, j], reason[i, j] = _object_verdict(
                    truth, i, slot, pos[i, :, j], det[i, :, j], cond_frames, tol_abs, tol_rel
                )
    names = tuple(OBJECT_NAMES.get(int(truth.color[present[:, j], s][0]), f"object{s}") for j, s in
                  enumerate(objects))  # fmt: skip
    return Verdicts(objects, names, present, np.where(present, verr, np.nan), np.where(present, pos_err, np.nan),
                    missing, seg, reason.astype(str))  # fmt: skip


# ----------------------------------------------------------------------------------------------- rows
def composition_rows(gen: Verdicts, floor: Verdicts, split: np.ndarray, level: np.ndarray) -> list[dict]:
    """Tidy rows per level: ``composed`` (share of videos whose every object follows its law, Wilson CI,
    floor), and per object ``velocity_error_<name>``, ``position_error_<name>`` (Student-t CIs, floor) and
    ``vanish_rate_<name>`` (Wilson CI, floor)."""
    rows = []
    for lv in sorted(set(level.tolist())):
        m = level == lv
        sp = str(split[m][0])
        rows.append(rate_row(sp, lv, "composed", gen.passed, floor.passed, m))
        for j, name in enumerate(gen.names):
            has = m & gen.present[:, j]
            if not has.any():
                continue
            rows.append(mean_row(sp, lv, f"velocity_error_{name}", gen.velocity_error[has, j],
                                 floor.velocity_error[has, j]))  # fmt: skip
            rows.append(mean_row(sp, lv, f"position_error_{name}", gen.position_error[has, j],
                                 floor.position_error[has, j]))  # fmt: skip
            rows.append(rate_row(sp, lv, f"vanish_rate_{name}", gen.reason[:, j] == "vanished",
                                 floor.reason[:, j] == "vanished", has))  # fmt: skip
    return rows


def reason_counts(gen: Verdicts, level: np.ndarray) -> list[dict]:
    """Per level and object: how many videos got each verdict, with the share and its Wilson CI."""
    out = []
    for lv in sorted(set(level.tolist())):
        m = level == lv
        for j, name in enumerate(gen.names):
            has = m & gen.present[:, j]
            for r in REASONS:
                k = int((has & (gen.reason[:, j] == r)).sum())
                p, lo, hi = wilson_ci(k, int(has.sum()))
                out.append({"level": lv, "object": name, "reason": r, "count": k, "n": int(has.sum()),
                            "share": p, "ci_low": lo, "ci_high": hi})  # fmt: skip
    return out


# ----------------------------------------------------------------------------------------------- one cell
@dataclass(frozen=True)
class CompositionResult:
    rows: list[dict]
    videos: list[dict]
    reasons: list[dict]


def video_rows(gen: Verdicts, floor: Verdicts, index, split, level) -> list[dict]:
    """One row per video: labels, verdict, and per object the errors, missing share and reason (gen / floor)."""
    out = []
    greason, freason = gen.video_reason(), floor.video_reason()
    for i in range(len(index)):
        row = {"index": int(index[i]), "split": str(split[i]), "level": str(level[i]),
               "composed": bool(gen.passed[i]), "reason": greason[i], "floor_composed": bool(floor.passed[i]),
               "floor_reason": freason[i]}  # fmt: skip
        for j, name in enumerate(gen.names):
            row |= {f"{name}_present": bool(gen.present[i, j]), f"{name}_reason": gen.reason[i, j],
                    f"{name}_velocity_error": gen.velocity_error[i, j],
                    f"{name}_floor_velocity_error": floor.velocity_error[i, j],
                    f"{name}_missing": gen.missing[i, j], f"{name}_segment_error": gen.segment_error[i, j]}  # fmt: skip
        out.append(row)
    return out


def analyse(data, samples, block: int = 64) -> CompositionResult:
    """Judge the generated videos of sample file ``samples`` and the ground-truth frames of the same rows of
    dataset ``data`` (paths; ground truth at the generated resolution and length)."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples
    from phylaw.evaluate.parse import parse
    from phylaw.sim.composition_studies import COMPOSITION_SCENARIOS
    from phylaw.sim.states import States

    with open_dataset(data) as ds, open_samples(samples) as sf:
        if ds.scenario not in COMPOSITION_SCENARIOS:
            raise PhylawError(
                f"{data} holds {ds.scenario} videos; composition is judged on {COMPOSITION_SCENARIOS}"
            )
        rows = finished_rows(ds, sf, samples)
        c = int(sf.attrs.get("cond_frames", 3))
        gens, floors = [], []
        for idx, gen, gt in frame_blocks(ds, sf, rows, block, "composition"):
            truth = ds.trajectories(idx)
            for frames, dest in ((gen, gens), (gt, floors)):
                p = parse(frames)
                dest.append((truth, p.center, p.visible, p.color_ids))
        truth = States.concatenate([g[0] for g in gens])
        ids = gens[0][3]
        gen_v = judge(
            truth, np.concatenate([g[1] for g in gens]), np.concatenate([g[2] for g in gens]), ids, c
        )
        floor_v = judge(
            truth, np.concatenate([f[1] for f in floors]), np.concatenate([f[2] for f in floors]), ids, c
        )
        index = sf.index[rows].astype(np.int64)
        split = np.asarray(ds.labels.split)[index]
        level = np.asarray(ds.labels.level)[index]
    return CompositionResult(
        composition_rows(gen_v, floor_v, split, level),
        video_rows(gen_v, floor_v, index, split, level),
        reason_counts(gen_v, level),
    )


def ground_truth_check(scenario: str, split: str, resolution: int, n_frames: int, seed: int = 0) -> dict:
    """The law check on the ground-truth frames of a whole composition split (the tolerance's calibration,
    docs/composition.md): videos, share passing, and the segment errors in world units/s."""
    from phylaw.evaluate.parse import parse
    from phylaw.render.raster import render
    from phylaw.sim import get_split

    sp = get_split(scenario, split, n_frames=n_frames)
    b = sp.generate(0, len(sp), seed)
    p = parse(render(b.states, resolution))
    raw = judge(b.states, p.center, p.visible, p.color_ids, 3, tol_abs=1.0, tol_rel=0.0)  # errors as they are
    v = judge(b.states, p.center, p.visible, p.color_ids, 3)
    return {"split": split, "resolution": resolution, "n_frames": n_frames, "n_videos": len(b.params),
            "passed": float(v.passed.mean()), "max_segment_error": float(np.nanmax(raw.segment_error)),
            "p99_segment_error": float(np.nanpercentile(raw.segment_error, 99)),
            "mean_velocity_error": float(np.nanmean(raw.velocity_error)), "max_missing": float(np.nanmax(raw.missing))}  # fmt: skip
