"""Fig. 10 of the paper (SPEC B.6.6, SPEC_COMBINATORIAL B.3): visual ambiguity. Templates 20000-20003, where a
pixel-level size or offset difference decides the outcome: does the red ball pass the gap between two pegs
(20000: its radius; 20002: the gap), and which side of one peg does it roll off (20001, 20003: its offset)?

Cells (factors scenario, model, train_set): a model trained on ``ambiguity-train`` (the even values of each
template's varied index) and asked to continue the first frame of ``ambiguity-eval`` (the odd ones), with
Table 2's model and video settings at each scale (``table2.SETTINGS``) and its VAE trained on these frames.
How the paper turned the templates into train / test sets is not published (SPEC B.6.6); this is phylaw's
choice, and the interleaving puts every test value between two trained ones.

For each evaluation video the analysis (stage ``ambiguity``) computes, from the simulator's states:

- ``difference``: 20000 / 20002: the red ball's diameter minus the clear gap between the pegs; 20001 / 20003:
  the red ball's x minus the peg's; in 512-scene units and in pixels of the video;
- the simulator's outcome (gap: the ball goes through between the pegs, around them, or stays stuck on top;
  offset: it ends right / left of the peg) and the generated video's, from its parsed red-ball track;
- ``agreement`` (generated outcome = simulator's) and Type 1 (the whole last frame as the simulator's, the
  evaluator's ``final_frame_agreement`` = 1).

Figure: agreement and Type 1 share vs the difference in pixels per template (Wilson CIs), with the simulator's
outcome along the same axis, so one sees whether the model's outcome flips where the physics does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.experiments import table2 as t2
from phylaw.experiments import table2_stages as st2
from phylaw.experiments.experiment import (
    CELL_RESULTS,
    Experiment,
    ExperimentPlan,
    ReportSection,
    result_columns,
)
from phylaw.experiments.runner import CellContext, Pipeline, Stage
from phylaw.experiments.spec import DataSpec, RunSpec
from phylaw.io import write_csv, write_text

FACTORS = ("scenario", "model", "train_set")
TRAIN_SPLIT, EVAL_SPLIT = "ambiguity-train", "ambiguity-eval"
GAP_TEMPLATES, OFFSET_TEMPLATES = (20000, 20002), (20001, 20003)
ANALYSIS_DIR, REPORT_DIR = "ambiguity", "fig10_report"
WORLD = 512.0
N_BINS = 6


def cell(scale: str) -> RunSpec:
    from phylaw.sim import get_split

    s = t2.settings(scale)
    model = s.models[-1][0] if scale != "paper" else "DiT-B"  # paper: the in-depth studies' DiT-B (SPEC A.3)
    n_eval = len(get_split(t2.SCENARIO, EVAL_SPLIT))
    train = DataSpec(t2.SCENARIO, TRAIN_SPLIT, resolution=s.resolution, n_frames=s.n_frames)
    evald = DataSpec(t2.SCENARIO, EVAL_SPLIT, resolution=s.resolution, n_frames=s.n_frames,
                     per_split=(("ood", n_eval),))  # fmt: skip
    size = len(get_split(t2.SCENARIO, TRAIN_SPLIT))
    factors = (("scenario", t2.SCENARIO), ("model", model), ("train_set", TRAIN_SPLIT))
    ts = t2.train_spec(s, model)
    if scale == "paper":  # 202 videos: the in-depth studies' 100K steps (SPEC C.3), not Table 2's 1M
        ts = dataclasses.replace(ts, steps=100_000)
    return RunSpec("fig10", scale, t2.SCENARIO, size, train, evald, ts,
                   sample_steps=s.sample_steps, sample_batch_size=s.sample_batch_size, distributed=s.distributed,
                   factors=factors)  # fmt: skip


def fig10(scale: str) -> ExperimentPlan:
    c = cell(scale)
    text = f"Fig. 10: visual ambiguity, {c.model} trained on {c.data_size} ambiguity videos (1 cell)."
    return ExperimentPlan("fig10", scale, (c,), text, factors=FACTORS)


# ----------------------------------------------------------------------------------------------- analysis
def scene_geometry(template: int, position: np.ndarray, radius: np.ndarray, static: np.ndarray,
                   shape: np.ndarray, present: np.ndarray) -> tuple[float, float, np.ndarray, int]:  # fmt: skip
    """(difference in scene units, the pegs' line y, the pegs' x (sorted), red slot) of one video from frame-0
    states (position (K, 2), radius / static / shape / present (K,)). The red user ball is the last present
    slot; the pegs are the static discs (the floor is a bar)."""
    from phylaw.sim.states import SHAPE_DISC

    red = int(np.flatnonzero(present)[-1])
    pegs = np.flatnonzero(present & static & (shape == SHAPE_DISC))
    pegs = pegs[np.argsort(position[pegs, 0])]
    want = 2 if template in GAP_TEMPLATES else 1 if template in OFFSET_TEMPLATES else None
    if want is None:
        raise PhylawError(f"template {template} is not an ambiguity template (20000-20003)")
    if len(pegs) != want:
        raise PhylawError(f"ambiguity template {template} should have {want} pegs, found {len(pegs)}")
    xs, peg_y = position[pegs, 0], float(position[pegs, 1].mean())
    if template in GAP_TEMPLATES:
        a, b = pegs
        gap = (position[b, 0] - radius[b]) - (position[a, 0] + radius[a])
        return float(2 * radius[red] - gap), peg_y, xs, red
    return float(position[red, 0] - xs[0]), peg_y, xs, red


def outcome(template: int, track: np.ndarray, peg_y: float, peg_xs: np.ndarray) -> str:
    """The outcome class of a red-ball track (T, 2) (NaN rows: not found). Gap templates: ``through`` (its
    centre goes below the pegs' line between the pegs), ``around`` (below the line, outside them), ``stuck``
    (never below); offset templates: ``left`` / ``right`` of the peg at the end; ``lost``: no red ball."""
    seen = track[np.isfinite(track).all(axis=1)]
    if not len(seen):
        return "lost"
    if template in GAP_TEMPLATES:
        below = seen[seen[:, 1] < peg_y]
        if not len(below):
            return "stuck"
        between = (below[:, 0] > peg_xs[0]) & (below[:, 0] < peg_xs[-1])
        return "through" if between[0] else "around"
    return "right" if seen[-1, 0] > peg_xs[0] else "left"


def analyse(data: Path, samples: Path, metrics_csv: Path) -> pd.DataFrame:
    """One row per evaluation video: template, difference (scene units, pixels), simulator / generated
    outcome, agreement, Type 1."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples
    from phylaw.evaluate.parse import parse

    m = pd.read_csv(metrics_csv)
    ffa = m[m.metric == "final_frame_agreement"].set_index("index")["value"]
    rows = []
    with open_dataset(data) as ds, open_samples(samples) as f:
        index = np.asarray(f.index)
        truth = ds.trajectories(index)
        params = np.asarray(ds.params)[index]
        res = int(ds.resolution)
        for row, i in enumerate(index):
            tpl = int(params[row, 0])
            diff, peg_y, peg_xs, red = scene_geometry(tpl, truth.position[row, 0], truth.radius[row],
                                                      truth.static[row], truth.shape[row], truth.present[row])  # fmt: skip
            gen = f.frames(row)  # (T, H, W, 3)
            sim_out = outcome(tpl, truth.position[row, : len(gen), red], peg_y, peg_xs)
            gen_out = outcome(
                tpl, parse(gen, scenario="phyre").center[0, :, 0], peg_y, peg_xs
            )  # red rule (T, 2)
            type1 = float(ffa[int(i)] >= 1.0) if int(i) in ffa.index else np.nan
            rows.append({"index": int(i), "template": tpl, "task": int(params[row, 1]), "trial": int(params[row, 2]),
                         "difference": diff, "difference_px": diff * res / WORLD, "sim_outcome": sim_out,
                         "gen_outcome": gen_out, "agreement": float(sim_out == gen_out), "type1": type1})  # fmt: skip
    return pd.DataFrame(rows)


def binned(videos: pd.DataFrame, n_bins: int = N_BINS) -> pd.DataFrame:
    """Agreement / Type 1 / the simulator's first outcome share per template and difference bin (Wilson CIs)."""
    from phylaw.evaluate.outcome import wilson_ci

    rows = []
    for tpl, g in videos.groupby("template", sort=True):
        first = "through" if tpl in GAP_TEMPLATES else "right"
        edges = np.unique(np.quantile(g.difference_px, np.linspace(0, 1, n_bins + 1)))
        which = np.clip(np.searchsorted(edges, g.difference_px, side="right") - 1, 0, max(len(edges) - 2, 0))
        for b in np.unique(which):
            h = g[which == b]
            out = {"template": int(tpl), "bin": int(b), "difference_px": float(h.difference_px.mean()),
                   "lo_px": float(h.difference_px.min()), "hi_px": float(h.difference_px.max()), "n": len(h)}  # fmt: skip
            for name, hit in (("agreement", h.agreement >= 1), ("type1", h.type1 >= 1),
                              (f"sim_{first}", h.sim_outcome == first), (f"gen_{first}", h.gen_outcome == first)):  # fmt: skip
                p, lo, hi = wilson_ci(int(hit.sum()), len(h))
                out |= {name: p, f"{name}_lo": lo, f"{name}_hi": hi}
            rows.append(out)
    return pd.DataFrame(rows)


def plot(bins: pd.DataFrame, path: Path) -> Path:
    from matplotlib.figure import Figure

    from phylaw.evaluate.plots import _save

    fig = Figure(figsize=(11, 3.2))
    axes = fig.subplots(1, 4, sharey=True)
    for ax, tpl in zip(axes, (20000, 20001, 20002, 20003), strict=True):
        g = bins[bins.template == tpl]
        first = "through" if tpl in GAP_TEMPLATES else "right"
        for col, label, style in (("agreement", "outcome agreement", "o-"), ("type1", "Type 1", "s--"),
                                  (f"sim_{first}", f"simulator: {first}", "k:"),
                                  (f"gen_{first}", f"generated: {first}", "^-")):  # fmt: skip
            if col not in g or g[col].isna().all():
                continue
            err = np.clip(
                np.vstack([g[col] - g[f"{col}_lo"], g[f"{col}_hi"] - g[col]]), 0, None
            )  # float rounding
            ax.errorbar(g.difference_px, g[col], yerr=err, fmt=style, capsize=2, ms=4, label=label)
        kind = "diameter - gap" if tpl in GAP_TEMPLATES else "ball x - peg x"
        ax.set_title(f"{tpl} (n={int(g.n.sum()) if len(g) else 0})", fontsize=9)
        ax.set_xlabel(f"{kind} (pixels)")
        ax.axvline(0, color="0.8", lw=0.8)
    axes[0].set_ylabel("share of videos")
    axes[0].legend(fontsize=6)
    return _save(fig, path)


def ambiguity(ctx: CellContext) -> dict[str, Any]:
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    videos = analyse(
        ctx.eval_data_dir / DATA_FILE, ctx.path(SAMPLES_FILE), ctx.path(st2.EVAL_DIR, "metrics.csv")
    )
    write_csv(ctx.path(ANALYSIS_DIR, "videos.csv"), videos)
    bins = binned(videos)
    write_csv(ctx.path(ANALYSIS_DIR, "bins.csv"), bins)
    plot(bins, ctx.path(ANALYSIS_DIR, "fig10.png"))
    return {"videos": len(videos)}


def agreement_rows(videos: pd.DataFrame, spec: RunSpec) -> pd.DataFrame:
    from phylaw.evaluate.outcome import wilson_ci

    ids = {"experiment": spec.experiment, "scale": spec.scale, "run_id": spec.run_id, **spec.factor_values}
    rows = []
    for tpl, g in videos.groupby("template", sort=True):
        for name in ("agreement", "type1"):
            hit = g[name].dropna()
            p, lo, hi = wilson_ci(int((hit >= 1).sum()), len(hit))
            rows.append({**ids, "split": "ood", "level": f"ambiguity-{tpl}", "metric": f"ambiguity_{name}",
                         "value": p, "ci_low": lo, "ci_high": hi, "n": len(hit), "n_videos": len(g), "kind": "share"})  # fmt: skip
    return pd.DataFrame(rows, columns=list(result_columns(tuple(spec.factor_values))))


def collect(ctx: CellContext) -> dict[str, Any]:
    from phylaw.experiments.stages import tidy_results, write_cell_results

    summary = pd.read_csv(ctx.path(st2.EVAL_DIR, "summary.csv"), dtype={"split": str, "level": str})
    videos = pd.read_csv(ctx.path(ANALYSIS_DIR, "videos.csv"))
    tidy = pd.concat([tidy_results(summary, ctx.spec), agreement_rows(videos, ctx.spec)], ignore_index=True)
    return write_cell_results(ctx, tidy)


def report(ctx: CellContext) -> dict[str, Any]:
    """``OUT/fig10_report/report.md``: the figure and the agreement per template."""
    from phylaw.experiments.tables import markdown_table

    out = ctx.cell_dir.parent.parent / REPORT_DIR
    res = pd.read_csv(ctx.path(CELL_RESULTS), dtype={"split": str, "level": str})
    rows = res[res.metric.str.startswith("ambiguity_")]
    table = pd.DataFrame({"template": rows.level, "metric": rows.metric, "n": rows.n.astype(int),
                          "share": rows.value.round(3), "95 % Wilson CI": [f"[{a:.2f}, {b:.2f}]" for a, b in
                                                                         zip(rows.ci_low, rows.ci_high, strict=True)]})  # fmt: skip
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ctx.path(ANALYSIS_DIR, "fig10.png"), out / "fig10.png")
    lines = ["# Fig. 10: visual ambiguity (phylaw)", "", f"Cell `{ctx.spec.run_id}` ({ctx.spec.model}, trained on "
             f"{ctx.spec.data_size} `{TRAIN_SPLIT}` videos, scored on `{EVAL_SPLIT}`).", "",
             markdown_table(table), "", "![fig10](fig10.png)", "",
             "Per-video rows: the cell's ambiguity/videos.csv; per bin: ambiguity/bins.csv."]  # fmt: skip
    write_text(out / "report.md", "\n".join(lines) + "\n")
    return {"report": str(out / "report.md")}


def pipeline(launch=None) -> Pipeline:
    from phylaw.experiments.stages import build_data, check_cell
    from phylaw.experiments.stages import train as train_own_vae

    del launch
    stages = (Stage("train", train_own_vae), Stage("sample", st2.sample), Stage("evaluate", st2.evaluate),
              Stage("ambiguity", ambiguity), Stage("collect", collect), Stage("report", report))  # fmt: skip
    return Pipeline(Stage("data", build_data), stages, check=check_cell)


EXPERIMENT = Experiment(
    "fig10", FACTORS, fig10, pipeline=pipeline,
    report=ReportSection("Visual ambiguity", metric="ambiguity_agreement", figures=("training_curves",)),
)  # fmt: skip
