"""The mechanism studies' figures, drawn from their CSV tables only (matplotlib's object API, no pyplot).

``gap_figure`` (Fig. 5), ``hull_figure`` (Fig. 6), ``memo_figure`` (Fig. 7) and ``case_figure`` (the
case-vs-law comparison); each takes one panel per cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from phylaw.io import atomic_path

SEEN_SHADE = "#cfe8cf"  # training bands / region
MODEL, FLOOR, LAW = "C0", "0.45", "C3"


def _figure(n_panels: int, ncols: int, panel: tuple[float, float] = (4.0, 3.4)):
    from matplotlib.figure import Figure

    ncols = max(1, min(ncols, n_panels))
    nrows = max(1, -(-n_panels // ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


@dataclass(frozen=True)
class GapPanel:
    """One Fig. 5 panel: per-video speeds (v_cond, v_gen, v_floor), the seen bands and the binned summary."""

    title: str
    videos: pd.DataFrame
    bands: tuple[tuple[float, float], ...]
    bins: pd.DataFrame  # speed_bins of v_gen
    floor_bins: pd.DataFrame | None = None


def gap_figure(panels: list[GapPanel], path: Path) -> Path:
    """Generated vs conditioning speed per gap setting: dots per video, median and quartiles per bin, the
    training bands shaded on both axes, the law (y = x) dashed."""
    fig, axes = _figure(len(panels), 3)
    for ax, p in zip(axes, panels, strict=False):
        for lo, hi in p.bands:
            ax.axvspan(lo, hi, color=SEEN_SHADE, lw=0, zorder=0)
            ax.axhspan(lo, hi, color=SEEN_SHADE, alpha=0.5, lw=0, zorder=0)
        ax.plot([0, 5], [0, 5], ls="--", color=LAW, lw=1, label="law (v_gen = v)")
        ax.scatter(p.videos["v_cond"], p.videos["v_gen"], s=6, color=MODEL, alpha=0.35, lw=0)
        mid = (p.bins["bin_lo"] + p.bins["bin_hi"]) / 2
        ax.fill_between(mid, p.bins["q25"], p.bins["q75"], color=MODEL, alpha=0.25, lw=0)
        ax.plot(mid, p.bins["median"], color=MODEL, marker="o", ms=3, label="generated: median, IQR")
        if p.floor_bins is not None:
            ax.plot(mid, p.floor_bins["median"], color=FLOOR, ls=":", label="ground-truth frames")
        lo, hi = float(p.videos["v_cond"].min()), float(p.videos["v_cond"].max())
        ax.set_xlim(lo - 0.2, hi + 0.2)
        ax.set_ylim(
            min(lo, float(np.nanmin(p.videos["v_gen"]))) - 0.3,
            max(hi, float(np.nanmax(p.videos["v_gen"]))) + 0.3,
        )
        ax.set_title(p.title, fontsize=9)
        ax.set_xlabel("conditioning speed v (world/s)")
        ax.set_ylabel("generated speed (world/s)")
    if len(panels):
        axes[0].legend(fontsize=7, loc="upper left")
    return _save(fig, path)


@dataclass(frozen=True)
class HullPanel:
    """One Fig. 6 panel: mean error per plane point, the training points and their hull."""

    title: str
    heat: pd.DataFrame  # columns: plane[0], plane[1], value
    plane: tuple[str, str]
    train_points: np.ndarray  # (m, 2)
    hull: np.ndarray  # (h, 2) vertices in order
    vmax: float | None = None


def hull_figure(panels: list[HullPanel], path: Path) -> Path:
    """Error heat maps over the plane: training points (small grey dots), their convex hull (black line)."""
    fig, axes = _figure(len(panels), 3, (4.3, 3.6))
    for ax, p in zip(axes, panels, strict=False):
        a, b = p.plane
        xs, ys = np.unique(p.heat[a]), np.unique(p.heat[b])
        grid = np.full((len(ys), len(xs)), np.nan)
        for r in p.heat.itertuples():
            grid[np.searchsorted(ys, getattr(r, b)), np.searchsorted(xs, getattr(r, a))] = r.value
        vmax = p.vmax if p.vmax is not None else (np.nanmax(grid) if np.isfinite(grid).any() else 1.0)
        mesh = ax.pcolormesh(
            _edges(xs), _edges(ys), grid, cmap="viridis", vmin=0.0, vmax=vmax, shading="flat"
        )
        fig.colorbar(mesh, ax=ax, label="post-collision velocity error")
        ax.scatter(p.train_points[:, 0], p.train_points[:, 1], s=2, color="0.85", lw=0)
        ring = np.vstack([p.hull, p.hull[:1]])
        ax.plot(ring[:, 0], ring[:, 1], color="k", lw=1.2, label="training hull")
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.set_title(p.title, fontsize=9)
    if len(panels):
        axes[0].legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (half-way between neighbours)."""
    c = np.asarray(centres, np.float64)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[:-1] + c[1:]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


@dataclass(frozen=True)
class MemoPanel:
    """One Fig. 7 series: the generated speeds of the low-speed test videos of one model."""

    label: str
    v_gen: np.ndarray
    v_floor: np.ndarray = field(default_factory=lambda: np.zeros(0))


def memo_figure(series: list[MemoPanel], path: Path, train_band: tuple[float, float] = (2.5, 4.0),
                test_band: tuple[float, float] = (1.0, 2.5)) -> Path:  # fmt: skip
    """Histograms of generated speeds for the same low-speed conditions, one per model (Set-1, Set-2), with
    the training band shaded and v = 0 marked (left of it: reversed)."""
    fig, axes = _figure(1, 1, (6.0, 3.6))
    ax = axes[0]
    finite = [s.v_gen[np.isfinite(s.v_gen)] for s in series]
    allv = np.concatenate([*finite, [test_band[0], train_band[1]]])
    bins = np.linspace(min(-1.0, allv.min()) - 0.1, max(5.0, allv.max()) + 0.1, 49)
    ax.axvspan(*train_band, color=SEEN_SHADE, lw=0, zorder=0, label="training speeds")
    ax.axvspan(*test_band, color="#f3e3c3", lw=0, zorder=0, label="test conditions")
    for i, (s, v) in enumerate(zip(series, finite, strict=True)):
        ax.hist(v, bins=bins, histtype="step", lw=1.6, color=f"C{i}", label=f"{s.label} (n={len(v)})")
    floors = [s.v_floor[np.isfinite(s.v_floor)] for s in series if len(s.v_floor)]
    if floors:
        ax.hist(floors[0], bins=bins, histtype="step", lw=1, ls=":", color=FLOOR, label="ground-truth frames")
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel("generated speed (world/s; < 0: the ball reverses)")
    ax.set_ylabel("videos")
    ax.legend(fontsize=7)
    return _save(fig, path)


@dataclass(frozen=True)
class CasePanel:
    """The case-vs-law table of one cell (retrieval.case_table) and its index rows."""

    title: str
    table: pd.DataFrame
    index: float
    ci: tuple[float, float]


def case_figure(panels: list[CasePanel], path: Path) -> Path:
    """Per cell: d(gen, law) against d(gen, nearest case) for every informative video (above the diagonal:
    closer to the case), coloured by split, with the case-vs-law index and its CI in the title."""
    fig, axes = _figure(len(panels), 3)
    for ax, p in zip(axes, panels, strict=False):
        t = p.table[p.table["informative"].astype(bool)]
        for split, colour in (("id", "C0"), ("ood", "C1")):
            s = t[t["split"] == split]
            ax.scatter(
                s["d_case"], s["d_law"], s=8, color=colour, alpha=0.6, lw=0, label=f"{split} (n={len(s)})"
            )
        top = float(np.nanmax(np.r_[t["d_law"], t["d_case"], 1.0])) * 1.05 if len(t) else 1.0
        ax.plot([0, top], [0, top], color="k", lw=0.8, ls="--")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("distance to the nearest case (world/s)")
        ax.set_ylabel("distance to the law (world/s)")
        ax.set_title(f"{p.title}\ncase index {p.index:.2f} [{p.ci[0]:.2f}, {p.ci[1]:.2f}]", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)
