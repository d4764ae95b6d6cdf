"""The mechanism studies' analyses (SPEC §5.1–5.2, E.5): what a model generates at speeds, points and directions
it was never trained on. Pure functions of parsed and true states, plus one loader (:func:`observe`).

* **Generated velocity** (``fitted_velocity``): the least-squares slope of the parsed centre over the generated
  frames (t >= c) where the object is detected whole (parsed radius >= 0.8 x its median: a ball cut by the
  frame edge is left out); signed, so a ball that reverses has a negative x velocity. Needs 3 such frames.
* **Fig. 5, gaps** (``gap_table``, ``gap_rows``, ``speed_bins``): generated vs conditioning speed; for the test
  videos whose speed lies in a gap, the fraction whose generated speed lands in a gap, in a seen band, or
  outside the training range (Wilson 95 % CIs), and |v_gen − v| per level (Student-t CIs).
* **Fig. 6, holes** (``hull_table``, ``hull_rows``): the evaluator's per-video post-collision error over the
  (v1, v2) (or (r1, r2)) plane, the labels checked against the hull of the training set's points, and the
  error gaps out-of-hull − in-hull and in-hull − seen with Welch 95 % CIs.
* **Fig. 7, memorisation** (``memo_rows``): the rate of reversed generations (v_gen < 0), the rate of
  generations at training speeds (v_gen >= 2.5) and the mean shift v_gen − v.

Every number has a floor: the same analysis of the parser on the ground-truth frames of the same videos.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError

MIN_FIT_FRAMES = 3
WHOLE_FRACTION = 0.8  # a detection counts for the velocity fit when its radius is >= this x the median


def wilson_ci(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float, float]:
    """(k / n, low, high): the 95 % Wilson score interval of a proportion (NaNs for n = 0)."""
    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends (round-off leaves 0.9999999999999999)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return float(p), float(lo), float(hi)


def welch_ci(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, int]:
    """(mean(a) − mean(b), low, high, n_a + n_b): Welch's 95 % interval of a difference of means."""
    from scipy import stats

    a, b = (np.asarray(x, np.float64) for x in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
        return diff, float("nan"), float("nan"), len(a) + len(b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff, se = float(a.mean() - b.mean()), float(np.sqrt(va + vb))
    if se == 0:
        return diff, diff, diff, len(a) + len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df) * se)
    return diff, diff - half, diff + half, len(a) + len(b)


def fitted_velocity(
    pos: np.ndarray, detected: np.ndarray, radius: np.ndarray, cond_frames: int, dt: float
) -> np.ndarray:
    """(n, K, 2) least-squares velocity of parsed centres pos (n, T, K, 2) over generated frames where the
    object is detected whole (module docstring); NaN with fewer than ``MIN_FIT_FRAMES`` frames."""
    n, t, k, _ = pos.shape
    gen = (np.arange(t) >= cond_frames)[None, :, None]  # (1, T, 1)
    ok = np.asarray(detected, bool) & gen & np.isfinite(pos).all(axis=-1)  # (n, T, K)
    r = np.where(ok, radius, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: objects never detected
        med = np.nanmedian(r, axis=1, keepdims=True)  # (n, 1, K)
    ok &= np.where(np.isfinite(r), r, -1.0) >= WHOLE_FRACTION * np.where(np.isfinite(med), med, np.inf)
    w = ok.astype(np.float64)
    tt = (np.arange(t) * dt)[None, :, None]  # (1, T, 1)
    cnt = w.sum(axis=1)  # (n, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = (w * tt).sum(axis=1) / cnt  # (n, K)
        dtt = tt - t_mean[:, None, :]  # (n, T, K)
        denom = (w * dtt**2).sum(axis=1)  # (n, K)
        out = np.empty((n, k, 2))
        for c in range(2):
            x = np.where(ok, pos[..., c], 0.0)
            x_mean = (w * x).sum(axis=1) / cnt
            out[..., c] = (w * dtt * (x - x_mean[:, None, :])).sum(axis=1) / denom
    out[cnt < MIN_FIT_FRAMES] = np.nan
    return out


# ----------------------------------------------------------------------------------------------- loading
def finished_rows(ds, sf, samples) -> np.ndarray:
    """The finished rows of open sample file ``sf`` (path ``samples``) of open dataset ``ds``; one-line errors
    for samples of another dataset or none finished."""
    if sf.attrs.get("dataset_fingerprint") not in (None, ds.fingerprint):
        raise PhylawError(f"{samples}: sample file was generated from another dataset (fingerprint mismatch)")
    rows = np.flatnonzero(sf.done)
    if not len(rows):
        raise PhylawError(f"{samples}: no finished row to analyse")
    return rows


def frame_blocks(
    ds, sf, rows: np.ndarray, block: int, desc: str
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per block of ``block`` sample rows: (dataset rows (b,), generated frames (b, T, H, W, 3), ground-truth
    frames of the same rows at the generated resolution and length), with a progress bar."""
    from tqdm.auto import tqdm

    for a in tqdm(range(0, len(rows), block), desc=desc, unit="block", leave=False):
        sel = rows[a : a + block]
        idx = sf.index[sel].astype(np.int64)
        gen = np.stack([sf.frames(int(r)) for r in sel])
        t, res = gen.shape[1], gen.shape[2]
        gt = np.stack([ds.frames(int(i), resolution=res)[:t] for i in idx])
        yield idx, gen, gt


@dataclass(frozen=True)
class Observed:
    """The evaluated videos of one cell: labels, parameters, true and parsed states (generated and ground
    truth) over T common frames, K objects, and the generated videos' conditioning-frame features."""

    scenario: str
    index: np.ndarray  # (n,) dataset rows
    split: np.ndarray  # (n,) str
    level: np.ndarray  # (n,) str
    params: np.ndarray  # (n, P)
    param_names: tuple[str, ...]
    truth: np.ndarray  # (n, T, K, 2) true centres
    gen: np.ndarray  # (n, T, K, 2) parsed centres of the generated frames (NaN: not detected)
    gen_detected: np.ndarray  # (n, T, K)
    gen_radius: np.ndarray  # (n, T, K)
    floor: np.ndarray  # (n, T, K, 2) parsed centres of the ground-truth frames
    floor_detected: np.ndarray
    floor_radius: np.ndarray
    features: np.ndarray  # (n, D) conditioning-frame features (retrieval.frame_features)
    cond_frames: int
    dt: float
    resolution: int

    def param(self, name: str) -> np.ndarray:
        if name not in self.param_names:
            raise PhylawError(f"the videos have parameters {self.param_names}, not {name!r}")
        return self.params[:, self.param_names.index(name)]

    def velocity(self, which: str = "gen") -> np.ndarray:
        """(n, K, 2) fitted velocities of the generated ("gen") or ground-truth ("floor") frames."""
        if which == "gen":
            return fitted_velocity(self.gen, self.gen_detected, self.gen_radius, self.cond_frames, self.dt)
        return fitted_velocity(self.floor, self.floor_detected, self.floor_radius, self.cond_frames, self.dt)


def observe(data, samples, *, feature_res: int = 16, block: int = 64) -> Observed:
    """Parse the generated videos of sample file ``samples`` and the ground-truth frames of the same rows of
    dataset ``data`` (paths), aligned with the true states (``evaluate.metrics.build_context``)."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples
    from phylaw.evaluate.metrics import build_context
    from phylaw.evaluate.parse import parse
    from phylaw.evaluate.retrieval import frame_features

    with open_dataset(data) as ds, open_samples(samples) as sf:
        rows = finished_rows(ds, sf, samples)
        c = int(sf.attrs.get("cond_frames", 3))
        convention = getattr(ds.config, "pixel_convention", "centre")
        labels = ds.labels
        parts: dict[str, list[np.ndarray]] = {}
        for idx, gen, gt in frame_blocks(ds, sf, rows, block, "observe"):
            res = gen.shape[2]
            truth = ds.trajectories(idx)
            for key, frames in (("gen", gen), ("floor", gt)):
                ctx = build_context(parse(frames, convention=convention), truth, c, frames=frames)
                parts.setdefault(key, []).append(ctx.pos_hat)
                parts.setdefault(f"{key}_detected", []).append(ctx.detected)
                parts.setdefault(f"{key}_radius", []).append(ctx.radius_hat)
            parts.setdefault("truth", []).append(truth.position[:, : ctx.n_frames])
            parts.setdefault("features", []).append(frame_features(gen[:, :c], feature_res))
        joined = {k: np.concatenate(v) for k, v in parts.items()}
        index = sf.index[rows].astype(np.int64)
        return Observed(
            scenario=ds.scenario, index=index, split=np.asarray(labels.split)[index],
            level=np.asarray(labels.level)[index], params=np.asarray(ds.params)[index],
            param_names=tuple(ds.param_names), cond_frames=c, dt=float(ds.config.dt), resolution=int(res),
            **joined,
        )  # fmt: skip


# ----------------------------------------------------------------------------------------------- rows
def result_row(split: str, level: str, metric: str, value, lo, hi, n, floor=np.nan, floor_lo=np.nan,
               floor_hi=np.nan, kind: str = "proportion", median=np.nan, floor_median=np.nan) -> dict:  # fmt: skip
    """One tidy result row (the experiments' metric columns)."""
    return {"split": split, "level": level, "metric": metric, "value": value, "ci_low": lo, "ci_high": hi,
            "n": n, "floor": floor, "floor_ci_low": floor_lo, "floor_ci_high": floor_hi,
            "parse_fail_rate": np.nan, "median": median, "floor_median": floor_median, "n_videos": n,
            "floor_n": n, "kind": kind}  # fmt: skip


def rate_row(
    split: str, level: str, metric: str, hit: np.ndarray, floor_hit: np.ndarray, valid: np.ndarray
) -> dict:
    """A proportion over the ``valid`` videos, its Wilson CI, and the same proportion of the floor."""
    n = int(valid.sum())
    p, lo, hi = wilson_ci(int((hit & valid).sum()), n)
    fp, flo, fhi = wilson_ci(int((floor_hit & valid).sum()), n)
    return result_row(split, level, metric, p, lo, hi, n, fp, flo, fhi)


def mean_row(split: str, level: str, metric: str, values: np.ndarray, floor_values: np.ndarray) -> dict:
    """A mean with its Student-t CI over the videos where value and floor are both finite."""
    from phylaw.evaluate.report import mean_ci

    ok = np.isfinite(values) & np.isfinite(floor_values)
    n, m, lo, hi = mean_ci(values[ok])
    _, fm, flo, fhi = mean_ci(floor_values[ok])
    med = float(np.median(values[ok])) if n else np.nan
    fmed = float(np.median(floor_values[ok])) if n else np.nan
    return result_row(split, level, metric, m, lo, hi, n, fm, flo, fhi, "video", med, fmed)


def _levels(obs_level: np.ndarray, obs_split: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(split, level, mask) per level, in a stable order."""
    out = []
    for lv in sorted(set(obs_level.tolist())):
        m = obs_level == lv
        out.append((str(obs_split[m][0]), lv, m))
    return out


# ----------------------------------------------------------------------------------------------- Fig. 5
def speed_table(obs: Observed) -> pd.DataFrame:
    """Per video: labels, the conditioning speed, generated and floor x velocities (first object)."""
    return pd.DataFrame({
        "index": obs.index, "split": obs.split, "level": obs.level, **{n: obs.param(n) for n in obs.param_names},
        "v_cond": obs.param("v"), "v_gen": obs.velocity("gen")[:, 0, 0], "v_floor": obs.velocity("floor")[:, 0, 0],
    })  # fmt: skip


def gap_table(obs: Observed, setting) -> pd.DataFrame:
    """``speed_table`` plus where each generated (and floor) speed lands: "seen", "gap" or "outside" of the
    gap setting (``sim.studies.GapSetting``); NaN speeds land nowhere ("none")."""
    df = speed_table(obs)
    for col, src in (("landing", "v_gen"), ("floor_landing", "v_floor")):
        v = df[src].to_numpy()
        df[col] = np.where(np.isfinite(v), setting.label(np.nan_to_num(v)), "none")
    return df


def gap_rows(df: pd.DataFrame) -> list[dict]:
    """Landing fractions of the in-gap test videos (over those with a generated speed) and the speed error
    per level."""
    rows = []
    gap = (df["level"] == "gap").to_numpy()
    if gap.any():
        split = str(df.loc[gap, "split"].iloc[0])
        valid = gap & (df["landing"] != "none").to_numpy() & (df["floor_landing"] != "none").to_numpy()
        for where in ("gap", "seen", "outside"):
            rows.append(rate_row(split, "gap", f"gap_landing_{where}", (df["landing"] == where).to_numpy(),
                                 (df["floor_landing"] == where).to_numpy(), valid))  # fmt: skip
    for split, level, m in _levels(df["level"].to_numpy(), df["split"].to_numpy()):
        err = np.abs(df["v_gen"] - df["v_cond"]).to_numpy()[m]
        ferr = np.abs(df["v_floor"] - df["v_cond"]).to_numpy()[m]
        rows.append(mean_row(split, level, "speed_error", err, ferr))
    return rows


def speed_bins(df: pd.DataFrame, edges: np.ndarray, column: str = "v_gen") -> pd.DataFrame:
    """Median and quartiles of ``column`` per bin [edges[i], edges[i+1]) of the conditioning speed."""
    rows = []
    v = df["v_cond"].to_numpy()
    for lo, hi in pairwise(edges):
        vals = df[column].to_numpy()[(v >= lo) & (v < hi)]
        vals = vals[np.isfinite(vals)]
        q = np.percentile(vals, [25, 50, 75]) if len(vals) else [np.nan] * 3
        rows.append({"bin_lo": lo, "bin_hi": hi, "n": len(vals), "q25": q[0], "median": q[1], "q75": q[2]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------- Fig. 7
def memo_rows(df: pd.DataFrame, train_lo: float = 2.5) -> list[dict]:
    """Per level: reversal rate (v_gen < 0), rate of generations at training speeds (v_gen >= train_lo) and the
    mean shift v_gen − v, each beside its floor (over the videos with both speeds)."""
    rows = []
    for split, level, m in _levels(df["level"].to_numpy(), df["split"].to_numpy()):
        g, f, v = (df[c].to_numpy()[m] for c in ("v_gen", "v_floor", "v_cond"))
        valid = np.isfinite(g) & np.isfinite(f)
        rows.append(rate_row(split, level, "reversal_rate", g < 0, f < 0, valid))
        rows.append(rate_row(split, level, "training_speed_rate", g >= train_lo, f >= train_lo, valid))
        rows.append(mean_row(split, level, "speed_shift", g - v, f - v))
    return rows


# ----------------------------------------------------------------------------------------------- Fig. 6
PLANES = {"hole-mass": ("r1", "r2")}  # every other hole setting lives in the (v1, v2) plane


def plane_of(setting: str) -> tuple[str, str]:
    return PLANES.get(setting, ("v1", "v2"))


def hull_table(per_video: pd.DataFrame, train_params: np.ndarray, param_names: tuple[str, ...],
               plane: tuple[str, str]) -> pd.DataFrame:  # fmt: skip
    """The evaluator's per-video rows of one metric (columns split, level, value, floor and the parameters)
    with ``inside_hull`` from the hull of the training set's plane points; PhylawError when the dataset's
    labels disagree with that hull (evaluation data of another training set)."""
    from phylaw.sim.studies import IN_HULL, OUT_OF_HULL, SEEN, convex_hull

    cols = [param_names.index(p) for p in plane]
    hull = convex_hull(np.asarray(train_params)[:, cols])
    df = per_video.copy()
    df["inside_hull"] = hull.contains(df[list(plane)].to_numpy())
    wrong = (df["level"].isin([SEEN, IN_HULL]) & ~df["inside_hull"]) | (
        (df["level"] == OUT_OF_HULL) & df["inside_hull"]
    )
    if wrong.any():
        r = df[wrong].iloc[0]
        raise PhylawError(
            f"evaluation video {int(r['index'])} is labelled {r['level']!r} but its {plane} point "
            f"({r[plane[0]]:g}, {r[plane[1]]:g}) is {'outside' if r['level'] != OUT_OF_HULL else 'inside'} the hull "
            "of this training set: evaluation data of another training set?"
        )
    return df


def hull_heat(df: pd.DataFrame, plane: tuple[str, str]) -> pd.DataFrame:
    """Mean error and floor per plane point (averaged over the other parameters), with the point's label."""
    g = df.groupby(list(plane), sort=True)
    return g.agg(value=("value", "mean"), floor=("floor", "mean"), n=("value", "count"),
                 level=("level", "first")).reset_index()  # fmt: skip


def hull_rows(df: pd.DataFrame, metric: str) -> list[dict]:
    """Error gaps: out_of_hull − in_hull and in_hull − seen (Welch CIs), model and floor."""
    from phylaw.sim.studies import IN_HULL, OUT_OF_HULL, SEEN

    rows = []
    for name, a, b in ((f"{metric}_out_minus_in_hull", OUT_OF_HULL, IN_HULL),
                       (f"{metric}_in_hull_minus_seen", IN_HULL, SEEN)):  # fmt: skip
        va, vb = (df.loc[df["level"] == lv, "value"].to_numpy() for lv in (a, b))
        fa, fb = (df.loc[df["level"] == lv, "floor"].to_numpy() for lv in (a, b))
        diff, lo, hi, n = welch_ci(va, vb)
        fdiff, flo, fhi, _ = welch_ci(fa, fb)
        rows.append(result_row("ood", f"{a}-{b}", name, diff, lo, hi, n, fdiff, flo, fhi, "difference"))
    return rows
