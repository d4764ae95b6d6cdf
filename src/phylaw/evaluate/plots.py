"""Plots of an evaluation (PNG; matplotlib ``Figure`` objects, no pyplot global state), read from the tidy rows and the summary only.

* ``error_by_level.png``: the headline metric per split/level (ID, each OOD level, pooled OOD), model mean
  with its 95 % CI beside the ground-truth floor, log scale (OOD errors are ~10x ID).
* ``error_plane.png``: per-video headline error over the (v, r) plane (uniform motion, parabola), or over the
  (v1, v2) plane for collision, averaged over the radii at each velocity pair (as the paper's Fig. 6).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from phylaw.io import atomic_path


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    return path


def plot_by_level(summary: pd.DataFrame, metric: str, path: Path) -> Path | None:
    from matplotlib.figure import Figure  # imported on use (slow to import)

    s = summary[(summary["metric"] == metric) & (summary["n"] > 0)]
    if s.empty:
        return None
    labels = [f"{r.split}/{r.level}" if r.split != r.level else r.level for r in s.itertuples()]
    x = np.arange(len(s))
    fig = Figure(figsize=(max(4.0, 0.9 * len(s) + 2), 3.6))
    ax = fig.subplots()
    for col, lo, hi, name, dx, color in (
        ("mean", "ci95_lo", "ci95_hi", "videos", -0.12, "tab:red"),
        ("floor_mean", "floor_ci95_lo", "floor_ci95_hi", "GT floor", 0.12, "0.4"),
    ):
        m = s[col].to_numpy(float)
        err = np.abs(np.stack([m - s[lo].to_numpy(float), s[hi].to_numpy(float) - m]))
        ax.errorbar(x + dx, m, yerr=np.nan_to_num(err), fmt="o", color=color, capsize=3, label=name)
    if (s["mean"] > 0).all() and (s["floor_mean"].dropna() > 0).all():
        ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=30, ha="right")
    unit = s["unit"].iloc[0]
    ax.set_ylabel(f"{metric} ({unit})")
    ax.set_title(f"{metric} by split and level (mean, 95% CI)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def plot_plane(rows: pd.DataFrame, metric: str, scenario: str, path: Path) -> Path | None:
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    r = rows[(rows["metric"] == metric) & rows["included"] & np.isfinite(rows["value"])]
    xy = ("v1", "v2") if scenario == "collision" else ("v", "r")
    if r.empty or not set(xy) <= set(r.columns):
        return None
    g = r.groupby(list(xy), as_index=False).agg(value=("value", "mean"), split=("split", "first"))
    fig = Figure(figsize=(5.2, 4.2))
    ax = fig.subplots()
    vals = g["value"].to_numpy(float)
    pos = vals[vals > 0]
    norm = LogNorm(vmin=pos.min(), vmax=max(pos.max(), pos.min() * 1.0001)) if len(pos) == len(vals) else None
    for split, marker in (("id", "o"), ("ood", "s"), ("train", "^")):
        q = g[g["split"] == split]
        if len(q):
            sc = ax.scatter(q[xy[0]], q[xy[1]], c=q["value"], cmap="viridis", norm=norm, marker=marker, s=22,
                            edgecolors="none", label=split)  # fmt: skip
            if norm is None:
                sc.set_clim(vals.min(), vals.max())
    fig.colorbar(sc, ax=ax, label=f"{metric} ({r['unit'].iloc[0]})")
    ax.set_xlabel(xy[0])
    ax.set_ylabel(xy[1])
    what = "mean over radii" if scenario == "collision" else "per video"
    ax.set_title(f"{metric} over the ({xy[0]}, {xy[1]}) plane ({what})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=8, frameon=False)
    return _save(fig, path)


def write_plots(
    rows: pd.DataFrame, summary: pd.DataFrame, out: Path, metric: str, scenario: str
) -> tuple[Path, ...]:
    made = (
        plot_by_level(summary, metric, out / "error_by_level.png"),
        plot_plane(rows, metric, scenario, out / "error_plane.png"),
    )
    return tuple(p for p in made if p is not None)


def plot_frame_curves(frames: pd.DataFrame, path: Path) -> Path | None:
    """frame_curves.png: each per-frame metric (SSIM, PSNR, LPIPS) averaged over the videos of each split
    per frame index (the release's per-frame arrays), one panel per metric."""
    from matplotlib.figure import Figure

    f = frames[np.isfinite(frames["value"])]
    if f.empty:
        return None
    metrics = list(dict.fromkeys(f["metric"]))
    fig = Figure(figsize=(4.2 * len(metrics), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics, strict=True):
        g = f[f["metric"] == metric]
        for split, s in g.groupby("split", sort=True):
            curve = s.groupby("frame")["value"].agg(["mean", "count"])
            n = int(s["index"].nunique())
            ax.plot(curve.index, curve["mean"], marker=".", label=f"{split} (n={n})")
        ax.set_xlabel("frame")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} per frame (mean over videos)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)
