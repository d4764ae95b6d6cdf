"""Aggregation of the tidy per-video CSV into the summary table (CSV + Markdown).

Summary rows are grouped by split, level and metric over the included videos; every OOD split also gets a
pooled row (level "pooled", the paper's single OOD number). The 95 % confidence interval is the Student-t interval of the mean,
mean ± t_{0.975, n−1}·s/√n over the videos with a finite value (NaN: undefined, counted in ``n_nan``). The
ground-truth floor (the same parser on ground-truth frames at the same resolution) is aggregated the same way
and shown beside the model's number, over exactly the same videos: a video counts in a row when its model
value and its floor are both defined (``n``; ``n_nan`` = ``n_videos`` − ``n`` are undefined), so
``floor_n == n`` in every row.

Set metrics (``kind = "set"``, e.g. a Fréchet distance) have one value per split/level, computed from the
per-video statistics of set_stats.csv, with a seeded percentile bootstrap CI over videos (``bootstrap_ci``);
their floor is the same computation on the ground-truth frames' statistics of the same videos.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

POOLED = "pooled"  # summary level of a whole split (all its levels together)
SUMMARY_COLUMNS = [
    "split", "level", "metric", "unit", "higher_is_better", "n_videos", "n", "n_nan", "mean", "ci95_lo", "ci95_hi",
    "floor_n", "floor_mean", "floor_ci95_lo", "floor_ci95_hi", "n_failed_videos", "median", "floor_median", "kind",
]  # fmt: skip


def mean_ci(values: np.ndarray) -> tuple[int, float, float, float]:
    """(n finite, mean, lo, hi) with a Student-t 95 % interval; NaN bounds when n < 2."""
    from scipy import stats  # imported on use: scipy.stats takes ~1 s to import

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return 0, float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if n < 2:
        return n, mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return n, mean, mean - half, mean + half


BOOTSTRAP_RESAMPLES = 1000  # resamples of the videos behind a set metric's 95 % CI
BOOTSTRAP_SEED = 0  # every set-metric row draws the same resamples: same inputs, same bytes


def bootstrap_ci(
    stat: Callable[[np.ndarray], float],
    n: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """95 % percentile bootstrap interval of ``stat(rows)`` over n videos: ``resamples`` draws of n video
    indices with replacement from ``np.random.default_rng(seed)``, then the 2.5th and 97.5th percentiles of
    the finite statistics (NaN bounds for n < 2)."""
    if n < 2:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))  # (B, n)
    vals = np.array([stat(i) for i in idx], dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def stat_columns(rows: pd.DataFrame, prefix: str) -> list[str]:
    """The statistic columns ``prefix_0, prefix_1, ...`` of set-metric rows, in order."""
    cols = [c for c in rows.columns if c.startswith(prefix + "_") and c[len(prefix) + 1 :].isdigit()]
    return sorted(cols, key=lambda c: int(c[len(prefix) + 1 :]))


def _set_row(
    split: str, level: str, metric: str, g: pd.DataFrame, floor: bool, compute, resamples: int
) -> dict:
    """One summary row of a set metric: compute() over the videos whose statistics (and floor statistics)
    are all defined, with percentile bootstrap CIs; model and floor resample the same videos."""

    def stats(prefix: str) -> np.ndarray:
        return g[stat_columns(g, prefix)].to_numpy(np.float64)  # (m, d), NaN padded beyond this metric's d

    gen, ref, fgen, fref = (stats(p) for p in ("gen", "ref", "floor_gen", "floor_ref"))
    d = int(g["stat_dim"].iloc[0]) if len(g) else 0
    gen, ref, fgen, fref = gen[:, :d], ref[:, :d], fgen[:, :d], fref[:, :d]
    used = np.isfinite(gen).all(1) & np.isfinite(ref).all(1)
    if floor:
        used &= np.isfinite(fgen).all(1) & np.isfinite(fref).all(1)
    gen, ref, fgen, fref = gen[used], ref[used], fgen[used], fref[used]
    n = int(used.sum())
    nan = float("nan")

    def value(a, b) -> float:
        return float(compute(a, b)) if n >= 2 else nan

    lo, hi = bootstrap_ci(lambda i: compute(gen[i], ref[i]), n, resamples)
    flo, fhi = bootstrap_ci(lambda i: compute(fgen[i], fref[i]), n, resamples) if floor else (nan, nan)
    return {
        "split": split, "level": level, "metric": metric, "unit": g["unit"].iloc[0],
        "higher_is_better": g["higher_is_better"].iloc[0], "n_videos": len(g), "n": n, "n_nan": len(g) - n,
        "mean": value(gen, ref), "ci95_lo": lo, "ci95_hi": hi,
        "floor_n": n if floor else 0, "floor_mean": value(fgen, fref) if floor else nan,
        "floor_ci95_lo": flo, "floor_ci95_hi": fhi,
        "n_failed_videos": int((g["status"] != "ok").sum()), "median": nan, "floor_median": nan, "kind": "set",
    }  # fmt: skip


def _group_row(split: str, level: str, metric: str, g: pd.DataFrame, floor: bool) -> dict:
    """One summary row. The videos counted (``n``) are those with a model value and, when a floor was
    computed, a floor value: the floor is averaged over exactly the videos the model value is (floor_n == n)."""
    value, fl = g["value"].to_numpy(np.float64), g["floor"].to_numpy(np.float64)
    used = np.isfinite(value) & (np.isfinite(fl) if floor else True)
    n, mean, lo, hi = mean_ci(value[used])
    fn, fmean, flo, fhi = mean_ci(fl[used]) if floor else (0, *(float("nan"),) * 3)
    return {
        "split": split, "level": level, "metric": metric, "unit": g["unit"].iloc[0],
        "higher_is_better": g["higher_is_better"].iloc[0], "n_videos": len(g), "n": n, "n_nan": len(g) - n,
        "mean": mean, "ci95_lo": lo, "ci95_hi": hi,
        "floor_n": fn, "floor_mean": fmean, "floor_ci95_lo": flo, "floor_ci95_hi": fhi,
        "n_failed_videos": int((g["status"] != "ok").sum()),
        "median": _median(value[used]), "floor_median": _median(fl[used]) if floor else float("nan"),
        "kind": "video",
    }  # fmt: skip


def _median(values: np.ndarray) -> float:
    """Median of the finite values (NaN when there are none): robust to the few videos whose object vanishes
    and whose parsed track jumps, which can dominate a mean."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def level_order(levels: list[str]) -> list[str]:
    """ "id" first, then the other levels in name order."""
    return [x for x in ("id",) if x in levels] + sorted(x for x in set(levels) if x != "id")


def summarize(
    rows: pd.DataFrame,
    floor: bool = True,
    set_rows: pd.DataFrame | None = None,
    computes: dict[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
    resamples: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Tidy per-video rows -> one summary row per (metric, split, level) (+ POOLED for OOD splits).

    ``floor``: the rows hold a ground-truth floor (False: ``--no-floor``; floor columns are NaN, floor_n 0).
    ``set_rows``: per-video statistics of set metrics (set_stats.csv), summarised with ``computes[metric]``
    and ``resamples[metric]`` bootstrap resamples (default BOOTSTRAP_RESAMPLES)."""
    parts = [(r, False) for r in [rows] if len(r)] + [
        (r, True) for r in [set_rows] if r is not None and len(r)
    ]
    out = []
    for frame, is_set in parts:
        used = frame[frame["included"].astype(bool)]
        splits = sorted(used["split"].unique(), key=lambda s: ({"id": 0, "ood": 1}.get(s, 2), s))
        for metric in dict.fromkeys(used["metric"]):

            def row(
                split: str, level: str, g: pd.DataFrame, metric: str = metric, is_set: bool = is_set
            ) -> dict:
                if is_set:
                    reps = (resamples or {}).get(metric, BOOTSTRAP_RESAMPLES)
                    return _set_row(split, level, metric, g, floor, (computes or {})[metric], reps)
                return _group_row(split, level, metric, g, floor)

            for split in splits:
                g = used[(used["metric"] == metric) & (used["split"] == split)]
                levels = sorted(g["level"].unique())
                for level in level_order(levels):
                    out.append(row(split, level, g[g["level"] == level]))
                if len(levels) > 1 or (split == "ood" and len(g)):
                    out.append(row(split, POOLED, g))
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def _fmt(x: object) -> str:
    if isinstance(x, float | np.floating):
        return "nan" if not np.isfinite(x) else f"{x:.4g}"
    return str(x)


def to_markdown(summary: pd.DataFrame, notes: list[str]) -> str:
    """A readable Markdown table: model mean [95 % CI] beside the ground-truth floor, per level."""
    lines = ["# phylaw evaluation summary", ""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    head = ["metric", "split", "level", "n", "mean [95% CI]", "GT floor [95% CI]", "failed videos"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary.itertuples(index=False):
        model = f"{_fmt(r.mean)} [{_fmt(r.ci95_lo)}, {_fmt(r.ci95_hi)}]"
        floor = f"{_fmt(r.floor_mean)} [{_fmt(r.floor_ci95_lo)}, {_fmt(r.floor_ci95_hi)}]"
        name = f"{r.metric} ({r.unit})" + (", set" if getattr(r, "kind", "video") == "set" else "")
        lines.append(
            f"| {name} | {r.split} | {r.level} | {r.n}/{r.n_videos} | {model} | {floor} | {r.n_failed_videos} |"
        )
    return "\n".join(lines) + "\n"
