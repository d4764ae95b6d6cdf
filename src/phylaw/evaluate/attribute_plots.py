"""The attribute studies' figures (Figs. 8, 9, 14–16), drawn from the read-out tables only.

``cell_figure``: one cell — for every continuous attribute of its pair (size, velocity) the generated value
against the conditioning value (Fig. 14 style; the attribute's value sets shaded and named, test combinations as crosses, the
law dashed, the ground-truth read-out in grey), then the outcome shares per combination.
``matrix_figure``: the priority matrix (row attribute's win rate over the column attribute, Wilson CI, k/n).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from phylaw.evaluate.study_plots import SEEN_SHADE, _figure, _save

AXIS = {"size": ("r", "gen_size", "floor_size", "radius / half side"),
        "velocity": ("v", "gen_velocity", "floor_velocity", "speed (world/s)")}  # fmt: skip
OUTCOME_COLORS = {"kept_both": "#7fbf7f", "changed_first": "#e07b39", "changed_second": "#3b75af",
                  "changed_both": "#9e4fa5", "lost": "0.7"}  # fmt: skip


def cell_figure(videos: pd.DataFrame, setting, path: Path, title: str = "") -> Path:
    """The figure of one cell (module docstring)."""
    from phylaw.evaluate.attributes import decisions, outcomes

    cont = [a for a in setting.attributes if a in AXIS]
    fig, axes = _figure(len(cont) + 1, len(cont) + 1, (4.2, 3.6))
    levels = sorted(videos["level"].unique())
    for ax, attr in zip(axes, cont, strict=False):
        x, y, yf, label = AXIS[attr]
        i_attr = setting.attributes.index(attr)
        for j, vs in enumerate(setting.sets[i_attr]):  # the attribute's value sets, alternately shaded
            lo, hi = (vs.lo - 0.02, vs.hi + 0.02) if vs.point else (vs.lo, vs.hi)
            shade = SEEN_SHADE if j % 2 == 0 else "#e6e0f3"
            ax.axvspan(lo, hi, color=shade, lw=0, zorder=0)
            ax.axhspan(lo, hi, color=shade, alpha=0.5, lw=0, zorder=0)
            ax.text((lo + hi) / 2, 0.02, vs.name, transform=ax.get_xaxis_transform(), ha="center", fontsize=7)
        binary = all(vs.point for vs in setting.sets[i_attr])  # jitter the two extremes apart (drawn only)
        jitter = (
            np.random.default_rng(0).uniform(-0.06, 0.06, len(videos)) if binary else np.zeros(len(videos))
        )
        xj = pd.Series(videos[x].to_numpy(float) + jitter, index=videos.index)
        ax.scatter(xj, videos[yf], s=5, color="0.55", lw=0, label="ground-truth frames", zorder=1)
        for j, lv in enumerate(levels):
            d = videos[videos["level"] == lv]
            test = (d["split"] == "ood").any()
            ax.scatter(xj[d.index], d[y], s=14 if test else 8, marker="x" if test else "o", color=f"C{j}", lw=1,
                       alpha=0.8, label=f"{lv}{' (test)' if test else ''}", zorder=2)  # fmt: skip
        vals = np.concatenate([videos[x].to_numpy(float), videos[y].to_numpy(float)])
        vals = vals[np.isfinite(vals)]
        lo, hi = float(vals.min()) - 0.2, float(vals.max()) + 0.2
        ax.plot([lo, hi], [lo, hi], ls="--", color="C3", lw=1)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"conditioning {label}")
        ax.set_ylabel(f"generated {label}")
        ax.set_title(f"{title}: {attr}", fontsize=9)
        ax.legend(fontsize=6, loc="upper left")
    ax = axes[len(cont)]
    out = outcomes(decisions(videos, setting, "gen"), setting)
    first, second = setting.attributes
    names = {"kept_both": "kept both", "changed_first": f"{first} changed", "changed_second": f"{second} changed",
             "changed_both": "both changed", "lost": "object lost"}  # fmt: skip
    bottom = np.zeros(len(levels))
    for o, color in OUTCOME_COLORS.items():
        share = np.array([(out[(videos["level"] == lv).to_numpy()] == o).mean() for lv in levels])
        ax.bar(range(len(levels)), share, bottom=bottom, color=color, label=names[o])
        bottom += share
    test = [lv for lv in levels if (videos.loc[videos["level"] == lv, "split"] == "ood").any()]
    ticks = [f"{lv}\n{'test' if lv in test else 'train'}" for lv in levels]
    rot = {"rotation": 45, "ha": "right"} if len(levels) > 4 else {}  # composition: 6-9 combinations
    ax.set_xticks(range(len(levels)), ticks, fontsize=7, **rot)
    ax.set_ylabel("share of generated videos")
    ax.set_ylim(0, 1)
    ax.set_title(f"{title}: outcomes (n = {len(videos)})", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    return _save(fig, path)


def matrix_figure(wins, path: Path, attributes: tuple[str, ...], title: str = "") -> Path:
    """Heat map of the priority matrix: cell (A, B) = A's pooled win rate over B, annotated with its Wilson
    95 % interval and k / n; grey where the pair was not measured."""
    from phylaw.evaluate.attributes import pooled_counts
    from phylaw.evaluate.studies import wilson_ci

    k, n = pooled_counts(wins)
    m = len(attributes)
    grid = np.full((m, m), np.nan)
    fig, axes = _figure(1, 1, (1.5 * m + 1.6, 1.3 * m + 0.9))
    ax = axes[0]
    for i, a in enumerate(attributes):
        for j, b in enumerate(attributes):
            if n.get((a, b)):
                p, lo, hi = wilson_ci(k[(a, b)], n[(a, b)])
                grid[i, j] = p
                ax.text(j, i, f"{p:.2f}\n[{lo:.2f}, {hi:.2f}]\n{k[(a, b)]}/{n[(a, b)]}", ha="center", va="center",
                        fontsize=7, color="k" if 0.25 < p < 0.75 else "w")  # fmt: skip
    mesh = ax.imshow(grid, cmap="coolwarm_r", vmin=0, vmax=1)
    fig.colorbar(mesh, ax=ax, label="row attribute kept, column changed")
    ax.set_xticks(range(m), attributes)
    ax.set_yticks(range(m), attributes)
    ax.set_xlabel("changed (loses)")
    ax.set_ylabel("kept (wins)")
    ax.set_title(title or "priority matrix", fontsize=9)
    return _save(fig, path)
