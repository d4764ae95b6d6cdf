"""The ``phyre`` metric set: Table 2's video metrics, trajectory metrics and the judge, for PHYRE-style scenes.

The kinematic metric sets read per-colour parsed states (``metrics.build_context``); a PHYRE-style scene has
several objects per colour, so this set has its own inputs (``PhyreInputs``): the scored frames, the
ground-truth frames, the true ``States``, and — computed once per block of videos, on first use — the
multi-object parse (``objects.parse_objects`` matched to the truth) and the judge's verdict. Every metric
here is a function of those inputs (docs/video_metrics.md):

* pixel metrics against the ground-truth frames, per frame (``per_frame``: (n, T), the video's value is the
  mean over all frames, condition frame included, as the paper's): ``ssim``, ``psnr``, ``lpips``;
* ``fvd``: a set metric (per-video I3D features of the video and of its ground truth);
* trajectory metrics against the simulator: ``red_position_error``, ``final_position_error``,
  ``final_state_agreement``;
* the judge: ``abnormal`` (0/1, its reasons in the row's ``detail``) and ``outcome_type`` (1, 2, 3).

Networks are loaded from local files only (``evaluate.weights``); a metric whose weights are missing is not
computed (the evaluator says which file and where), the others run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from phylaw.errors import PhylawError
from phylaw.sim.states import States


def trim_frames(states: States, n_frames: int) -> States:
    """The first ``n_frames`` frames of ``states`` (the per-frame fields cut; objects and events kept)."""
    if n_frames >= states.n_frames:
        return states
    cut = {k: getattr(states, k)[:, :n_frames] for k in ("position", "velocity", "angle", "in_view")}
    return replace(states, **cut)


@dataclass
class PhyreInputs:
    """What a ``phyre`` metric receives for a block of n videos of T common frames (module docstring).

    ``frames`` are the videos scored (the model's, or the ground truth for the floor), ``gt_frames`` the
    ground-truth frames at the same size (None unless a chosen metric needs them), ``truth`` the simulator's
    states cut to T frames. ``tracks()`` and ``verdict()`` are computed on first use and shared by the
    metrics of the block."""

    scenario: str
    cond_frames: int
    frames: np.ndarray
    gt_frames: np.ndarray | None
    truth: States
    weights: dict[str, str] = field(default_factory=dict)
    judge_config: str = ""  # a judge_config.json (judge.load_judge_config); "": the judge's defaults
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def only(self, needs: tuple[str, ...]) -> PhyreInputs:  # noqa: ARG002 - the lazy inputs are shared
        return self

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[1])

    def need_gt(self, metric: str) -> np.ndarray:
        if self.gt_frames is None:
            raise PhylawError(f"metric {metric} needs the ground-truth frames")
        return self.gt_frames

    def parsed(self):
        """The multi-object parse of ``frames`` (``evaluate.objects.parse_objects``): from the pixels only,
        what the judge sees."""
        if "parsed" not in self._cache:
            from phylaw.evaluate import objects

            world = float(self.truth_world_size())
            self._cache["parsed"] = objects.parse_objects(
                self.frames, world_size=world, dt=float(self.truth.dt)
            )
        return self._cache["parsed"]

    def tracks(self):
        """The parse matched to the true objects (``objects.match_truth``; it may add member tracks of blobs
        from the truth, so the judge never sees these)."""
        if "tracks" not in self._cache:
            from phylaw.evaluate import objects

            self._cache["tracks"] = objects.match_truth(self.parsed(), self.truth)
        return self._cache["tracks"]

    def found_any(self) -> np.ndarray | None:
        """(n,) anything tracked in any frame, where a metric parsed the frames (None: none did)."""
        tracks = self._cache.get("parsed")
        return None if tracks is None else tracks.present.any(axis=(1, 2))

    def verdict(self):
        """The judge's verdict on ``frames`` (``evaluate.judge``)."""
        if "verdict" not in self._cache:
            from phylaw.evaluate import judge

            config = judge.load_judge_config(self.judge_config) if self.judge_config else judge.JudgeConfig()
            self._cache["verdict"] = judge.judge(self.parsed(), cond_frames=self.cond_frames, config=config)
        return self._cache["verdict"]

    def truth_world_size(self) -> float:
        from phylaw.sim.registry import get_scenario

        return get_scenario(self.scenario).world_size


def build_inputs(
    frames: np.ndarray,
    gt_frames: np.ndarray | None,
    truth: States,
    cond_frames: int,
    weights: dict[str, str],
    judge_config: str = "",
) -> PhyreInputs:
    """The inputs of a block: frames (n, T, H, W, 3), truth cut to the frames both have."""
    t = min(frames.shape[1], truth.n_frames)
    gt = None if gt_frames is None else gt_frames[:, :t]
    return PhyreInputs(
        truth.scenario, cond_frames, frames[:, :t], gt, trim_frames(truth, t), dict(weights), judge_config
    )


# ----------------------------------------------------------------------------- pixel metrics (per frame)


def ssim(x: PhyreInputs) -> np.ndarray:
    """SSIM per frame against the ground truth (the paper's valid SSIM, Gaussian 11 / σ 1.5, 5-px crop)"""
    from phylaw.evaluate.image_metrics import ssim_frames

    return ssim_frames(x.frames, x.need_gt("ssim"))


def psnr(x: PhyreInputs) -> np.ndarray:
    """PSNR per frame against the ground truth (dB, [0, 1] frames, 100 where the MSE < 1e-10)"""
    from phylaw.evaluate.image_metrics import psnr_frames

    return psnr_frames(x.frames, x.need_gt("psnr"))


def lpips(x: PhyreInputs) -> np.ndarray:
    """LPIPS (AlexNet, v0.1 head, spatial) per frame against the ground truth"""
    from phylaw.evaluate import lpips as lp

    return lp.lpips_frames(x.frames, x.need_gt("lpips"), lp.load_lpips(overrides=x.weights))


def fvd_statistics(x: PhyreInputs) -> np.ndarray:
    """(n, 2, 400): I3D features of each video and of its ground truth (FVD's per-video statistics)"""
    from phylaw.evaluate import fvd

    return fvd.fvd_statistics(x.frames, x.need_gt("fvd"), fvd.load_detector(overrides=x.weights))


# bootstrap resamples of FVD's CI: each is a Fréchet distance in 400 dimensions (~0.1 s at 600 videos on one
# core), so 200 (a 95 % percentile interval to about ±1 resample-quantile) instead of the 1,000 of cheap sets
FVD_RESAMPLES = 200


def fvd_compute(gen: np.ndarray, ref: np.ndarray) -> float:
    from phylaw.evaluate import fvd

    return fvd.fvd_compute(gen, ref)


# ----------------------------------------------------------------------------- trajectories and the judge


def red_position_error(x: PhyreInputs) -> np.ndarray:
    """Mean distance of the parsed red ball to the simulator's over the generated frames (scene units)"""
    from phylaw.evaluate import tracks_metrics as tm

    return tm.red_position_error(x.tracks(), x.truth, x.cond_frames)


def final_position_error(x: PhyreInputs) -> np.ndarray:
    """Mean final-frame distance of the dynamic objects to the simulator's (scene units)"""
    from phylaw.evaluate import tracks_metrics as tm

    return tm.final_position_error(x.tracks(), x.truth, x.cond_frames)


def final_state_agreement(x: PhyreInputs) -> np.ndarray:
    """Fraction of dynamic objects whose final centroid is within the tolerance of the simulator's"""
    from phylaw.evaluate import tracks_metrics as tm

    return tm.final_state_agreement(x.tracks(), x.truth, x.cond_frames)


def abnormal(x: PhyreInputs) -> np.ndarray:
    """1 when the rule-based judge flags the video as physically abnormal (Type 3), else 0"""
    return x.verdict().abnormal.astype(np.float64)


def abnormal_reasons(x: PhyreInputs) -> list[str]:
    """The judge's reasons per video, joined (the ``detail`` column of ``abnormal``)."""
    return ["; ".join(r) for r in x.verdict().reasons]


# "Type 1 = matches the ground truth", read from the last frames' pixels (no object identities, so touching
# bodies of one colour, which the tracker may swap, cannot spoil it): every connected component of a dynamic
# colour (objects.MIN_AREA pixels or more, as the parser counts bodies) in either last frame must have
# FINAL_PIXEL_SHARE of its pixels within FINAL_TOLERANCE scene units (tracks_metrics.FINAL_TOLERANCE: a bar's
# thickness, under the smallest ball's diameter) of a pixel of its colour in the other. Ground truth against itself matches exactly.
FINAL_PIXEL_SHARE = 0.9


def _bodies(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of ``mask`` with at least the parser's ``objects.MIN_AREA`` pixels (smaller ones
    are noise: a decoder's soft edge between a black peg and the white background reads as specks of gray),
    as (labels with the specks cleared, count)."""
    from scipy import ndimage

    from phylaw.evaluate.objects import MIN_AREA

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    size = np.bincount(labels.ravel(), minlength=n + 1)
    keep = size >= MIN_AREA
    keep[0] = False
    new = np.cumsum(keep) * keep  # old label -> new label (0: cleared)
    return new[labels], int(keep.sum())


def _components_within(a: np.ndarray, b: np.ndarray, tol_px: float) -> tuple[int, int]:
    """(components of mask ``a`` with FINAL_PIXEL_SHARE of their pixels within ``tol_px`` of mask ``b``,
    components of ``a``); components of either mask under ``objects.MIN_AREA`` pixels are ignored."""
    from scipy import ndimage

    labels, n = _bodies(a)
    if n == 0:
        return 0, 0
    b = _bodies(b)[0] > 0
    near = (ndimage.distance_transform_edt(~b) <= tol_px) if b.any() else np.zeros_like(a)
    size = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    good = np.bincount(labels.ravel(), weights=near.ravel(), minlength=n + 1)[1:]
    return int((good >= FINAL_PIXEL_SHARE * size).sum()), int(n)


def final_frame_agreement(x: PhyreInputs) -> np.ndarray:
    """Share of the dynamic-colour components of both last frames that lie where the other has them (tolerance
    10.24 scene units); 1 = the video ends as the simulator's"""
    from phylaw.evaluate import objects
    from phylaw.evaluate.tracks_metrics import FINAL_TOLERANCE

    if "final_frame_agreement" in x._cache:  # outcome_type reads it too
        return x._cache["final_frame_agreement"]
    gt = x.need_gt("final_frame_agreement")
    ca, cb = objects.classify(x.frames[:, -1:]), objects.classify(gt[:, -1:])  # (n, 1, H, W)
    tol_px = FINAL_TOLERANCE * x.frames.shape[3] / x.truth_world_size()
    out = np.full(len(x.frames), np.nan)
    for i in range(len(out)):
        ok = total = 0
        for c in range(1, len(objects.PHYRE_CLASSES) + 1):
            if c == objects.BLACK:  # static bodies: where they were drawn
                continue
            a, b = ca[i, 0] == c, cb[i, 0] == c
            for m1, m2 in ((a, b), (b, a)):
                k, n = _components_within(m1, m2, tol_px)
                ok, total = ok + k, total + n
        out[i] = ok / total if total else 1.0
    x._cache["final_frame_agreement"] = out
    return out


def outcome_type(x: PhyreInputs) -> np.ndarray:
    """Outcome type per video: 1 ends as the simulator's, 2 differs but physical, 3 abnormal (the judge)"""
    from phylaw.evaluate import outcome

    match = final_frame_agreement(x) >= 1.0
    return outcome.outcome_types(x.verdict().abnormal, match).astype(np.float64)


def summary_notes(rows) -> list[str]:
    """summary.md lines of a phyre evaluation: per split/level, the outcome-type shares and the abnormal
    ratio with its 95 % Wilson interval (a binomial interval: the Student-t one of the table collapses to a
    point when no video, or every video, is flagged)."""
    from phylaw.evaluate import outcome

    out = []
    ok = rows[(rows["status"] == "ok") & rows["included"].astype(bool)]
    for (split, level), g in ok.groupby(["split", "level"], sort=True):
        types = g.loc[g["metric"] == "outcome_type", "value"].dropna().astype(int)
        ab = g.loc[g["metric"] == "abnormal", "value"].dropna()
        parts = []
        if len(ab):
            r = outcome.abnormal_ratio(ab.to_numpy() >= 1)
            parts.append(f"abnormal {r.abnormal}/{r.n} = {r.ratio:.3f} [Wilson 95 % {r.lo:.3f}, {r.hi:.3f}]")
        if len(types):
            shares = ", ".join(f"Type {k} {int((types == k).sum())}" for k in (1, 2, 3))
            parts.append(f"outcome types of {len(types)} videos: {shares}")
        if parts:
            out.append(f"{split}/{level}: " + "; ".join(parts))
    return out
