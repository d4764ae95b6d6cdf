"""Figures built from CSV files only: Fig. 3 style scaling plots and training curves (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter, NullLocator

from phylaw.experiments.published import published_for
from phylaw.experiments.spec import size_label
from phylaw.experiments.tables import HEADLINE_METRIC, RELEASE_METRIC, pooled
from phylaw.io import atomic_path

SCENARIO_TITLES = {"uniform_motion": "Uniform motion", "collision": "Collision", "parabola": "Parabola"}
AXIS_LABELS = {
    HEADLINE_METRIC: "velocity error (phylaw, per frame)",
    RELEASE_METRIC: "release-mode error (the paper's quantity)",
}


def _figure(nrows: int, ncols: int, size: tuple[float, float]):
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    fig = Figure(figsize=size, layout="constrained")
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    return fig, axes


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    return path


def scaling_plot(
    results: pd.DataFrame, path: Path, *, experiment: str = "fig3", metric: str = HEADLINE_METRIC
) -> Path:
    """``scaling_figure`` saved as a PNG."""
    return _save(scaling_figure(results, experiment=experiment, metric=metric), path)


def scaling_figure(results: pd.DataFrame, *, experiment: str = "fig3", metric: str = HEADLINE_METRIC):
    """Error vs training-set size, one line per model; one row per scenario, ID and OOD columns, log x.

    Ours: solid lines with 95 % CI error bars. Ground-truth floor (ours, the same metric): grey dashed. The
    paper's published values (where its text gives them) are drawn only when ``metric`` is the quantity they
    are of (``published.METRIC``, the release mode): hollow markers, the paper's floor dotted. phylaw's own
    metrics get no paper markers: the paper published no value of them.
    """
    sel = pooled(results, metric)
    scenarios = [s for s in SCENARIO_TITLES if s in set(sel["scenario"])] + sorted(
        set(sel["scenario"]) - set(SCENARIO_TITLES)
    )
    if not scenarios:
        scenarios = ["uniform_motion"]
    pub = published_for(experiment, metric)
    fig, axes = _figure(len(scenarios), 2, (10, 3.3 * len(scenarios)))
    models = sorted(set(sel["model"]) | set(pub["model"].dropna() if len(pub) else []))
    colors = {m: f"C{i}" for i, m in enumerate(models)}
    for row, scenario in enumerate(scenarios):
        for col, split in enumerate(("id", "ood")):
            ax = axes[row, col]
            ticks = _draw_panel(ax, sel, pub, scenario, split, colors)
            ax.set_xscale("log")
            ax.set_yscale("log")
            if ticks:
                ax.set_xticks(ticks)
                ax.set_xticklabels([size_label(s) for s in ticks])
                ax.xaxis.set_minor_locator(NullLocator())
            lo, hi = ax.get_ylim()
            if hi > 10 * lo:  # several decades: label the decades only (one decade or less keeps its minors)
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{SCENARIO_TITLES.get(scenario, scenario)} — {split.upper()}")
            ax.set_xlabel("training videos")
            ax.set_ylabel(AXIS_LABELS.get(metric, metric))
            ax.grid(True, which="both", alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="best")
    return fig


def _draw_panel(
    ax, sel: pd.DataFrame, pub: pd.DataFrame, scenario: str, split: str, colors: dict
) -> list[int]:
    """Draw one panel (linear axes; the caller sets log scales); returns the data sizes for x ticks."""
    ours = sel[(sel["scenario"] == scenario) & (sel["split"] == split)]
    sizes = sorted(set(ours["data_size"].astype(int)))
    for model, g in ours.groupby("model", sort=True):
        g = g.sort_values("data_size")
        x = g["data_size"].to_numpy(float)
        y = g["value"].to_numpy(float)
        lo = np.nan_to_num(y - g["ci_low"].to_numpy(float), nan=0.0)
        hi = np.nan_to_num(g["ci_high"].to_numpy(float) - y, nan=0.0)
        ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, color=colors[model], label=f"{model} (ours)")
    if len(ours):
        floor = ours["floor"].astype(float).mean()
        if np.isfinite(floor):
            ax.axhline(floor, color="0.4", ls="--", lw=1, label=f"GT floor (ours, same metric) {floor:.4f}")
    if len(pub):
        p = pub[(pub["scenario"] == scenario) & (pub["split"] == split)]
        for model, g in p.groupby("model", sort=True):
            ax.scatter(
                g["data_size"].to_numpy(float), g["value"].to_numpy(float), s=60, facecolors="none",
                edgecolors=colors.get(model, "k"), linewidths=1.8, marker="D", zorder=5, label=f"{model} (paper)",
            )  # fmt: skip
        gt = pub[(pub["scenario"] == scenario) & (pub["split"] == "gt")]
        if split == "id" and len(gt):
            ax.axhline(float(gt["value"].iloc[0]), color="k", ls=":", lw=1, label="GT floor (paper, 256 px)")
    pub_sizes = {int(x) for x in pub["data_size"].dropna()} if len(pub) else set()
    return sorted(set(sizes) | pub_sizes)


def training_curves(curves: dict[str, pd.DataFrame], path: Path) -> Path:
    """Training loss vs step, one line per run (raw loss faint, smoothed loss solid), log y."""
    fig, axes = _figure(1, 1, (7, 3.6))
    ax = axes[0, 0]
    for i, (name, df) in enumerate(sorted(curves.items())):
        if "step" not in df or "loss" not in df or df.empty:
            continue
        df = df.sort_values("step")
        step, loss = df["step"].to_numpy(float), df["loss"].to_numpy(float)
        window = max(1, len(loss) // 30)
        smooth = pd.Series(loss).rolling(window, min_periods=1).mean().to_numpy()
        ax.plot(step, loss, color=f"C{i % 10}", alpha=0.25, lw=0.8)
        ax.plot(step, smooth, color=f"C{i % 10}", lw=1.5, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return _save(fig, path)


def error_distribution(videos: dict[str, pd.DataFrame], path: Path, *, max_cells: int = 12) -> Path:
    """Per-video velocity error as empirical CDFs, one panel per cell: ID, OOD (all levels) and the ID
    ground-truth floor, log x. Shows what a mean hides: a few videos with a vanished object can carry an OOD
    mean far above the typical OOD video (the median is where a curve crosses 0.5)."""
    names = sorted(videos)[:max_cells]
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = _figure(nrows, ncols, (4.2 * ncols, 3.0 * nrows))
    for ax, name in zip(axes.flat, names, strict=False):
        df = videos[name]
        curves = [
            (df.loc[df["split"] == "id", "value"], "ID", "tab:blue", "-"),
            (df.loc[df["split"] == "ood", "value"], "OOD", "tab:red", "-"),
            (df.loc[df["split"] == "id", "floor"], "GT floor (ID)", "0.45", "--"),
        ]
        for values, label, color, style in curves:
            v = np.sort(values.to_numpy(float))
            v = v[np.isfinite(v) & (v > 0)]
            if v.size:
                ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, ls=style,
                        label=f"{label} (median {np.median(v):.3g})")  # fmt: skip
        ax.axhline(0.5, color="0.8", lw=0.8, zorder=0)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_title(name if len(name) <= 40 else name[:37] + "...", fontsize=8)
        ax.set_xlabel("velocity error per video")
        ax.set_ylabel("fraction of videos")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    return _save(fig, path)
