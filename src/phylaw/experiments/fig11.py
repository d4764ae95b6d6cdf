"""Fig. 11 of the paper (SPEC B.6.5, §5.4) with App. E.4's failure case (Fig. 17): spatial and temporal
composition. Trained on two pieces of a scene, does the model generate their combination, each object following
its own law?

Cells (factors scenario, study = "composition", setting, model, data_size), one per composition study of
``sim.composition_studies``:

- ``spatial``: trained on ``compose-spatial*`` (the blue square moves while the red ball rests / the red ball
  bounces off the wall while the square rests), tested on both moving;
- ``temporal``: trained on ``compose-temporal*`` (two balls collide, no wall / the red ball bounces off the
  wall), tested on a collision next to the wall (the struck blue ball bounces off it);
- ``temporal-nored``: the failure variant: the bounce subset has only the blue ball; same test.

At ``small`` and ``paper`` also **attribute composition** (issue 16 item 4; ``sim.attribute_studies``, scenario
``attribute_motion``, study = "attribute"): ``compose-velocity-size`` (the three diagonal speed x size bins
held out) and ``compose-color-size`` ((red, large) and (blue, small) held out), read out by the attribute
studies' stage (``experiments.attribute_study``): did the generated object keep both attributes of a
held-out combination?

Scales (``experiments.study.study_cell``'s settings):

- ``paper``: 200,000 / 237,300 / 237,300 videos (+ 300,000 / 200,000 attribute compositions), DiT-B, 128 px,
  32 frames, 100K steps x 256 (torchrun); evaluation ``compose-*-eval`` (temporal: the paper's 54 test videos
  plus held-out controls of the cell's own two training subsets).
- ``small``: the ``-small`` sets (20,000 / 15,400 / 15,400; 20,400 / 13,600), DiT-S, 64 px, 20K steps, one GPU.
- ``tiny``: the 3 scene cells on the ``-tiny`` sets (2,400 videos each), the demo's 64 px / 16 frames /
  VideoVAE / DiT-tiny, 3,000 steps on 2 CPU cores; evaluation ``-eval-small`` (96 spatial, 56 temporal
  videos). Each cell has its own training set and VideoVAE: about 20 minutes per cell (the attribute studies'
  estimate for the same settings; not measured here), about an hour for the figure, which leaves no room for
  the two attribute cells (they run at ``small``).

Stages: data, train, sample (as Fig. 3), then

evaluate     the standard evaluator for the attribute cells only (it has no rule for the gray wall; the scene
             cells' per-object errors come from the next stage)
composition  scene cells: ``evaluate.composition.analyse``, the law check of every generated and ground-truth
             video (``composition/videos.csv``), the tidy rows (``composition/rows.csv``: composed share with
             Wilson CI and ground-truth floor, per-object velocity / position errors and vanish rates), the
             verdict counts (``reasons.csv``) and GIFs of one composed and one failed video per level
             (``media/``); attribute cells: the attribute read-out (``attributes/``)
collect      the cell's rows -> ``cell_results.csv``, the training curve
report       ``OUT/composition_report/``: success rates, per-object errors, verdict counts, the attribute
             compositions' kept-both shares, figure, GIFs
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.experiments import study as s
from phylaw.experiments.experiment import Experiment, ExperimentPlan, ReportSection
from phylaw.experiments.runner import CellContext, Pipeline, Stage
from phylaw.experiments.spec import RunSpec
from phylaw.experiments.tables import html_table, markdown_table
from phylaw.io import write_csv, write_json, write_text

STUDIES = ("spatial", "temporal", "temporal-nored")
TRAIN_PREFIX = {
    "spatial": "compose-spatial",
    "temporal": "compose-temporal",
    "temporal-nored": "compose-temporal-nored",
}
EVAL_PREFIX = TRAIN_PREFIX  # each study's evaluation split: its test scene and controls of its own subsets
COMP_DIR, REPORT_DIR, ATTR_DIR = "composition", "composition_report", "attributes"
GIF_HEADING, MISSING_HEADING = "Typical compositions", "Cells without composition results yet"
# attribute composition (sim.attribute_studies, scenario attribute_motion): held-out attribute combinations,
# read out by the attribute studies' stage (experiments.attribute_study)
ATTRIBUTE_SETTINGS = ("compose-velocity-size", "compose-color-size")
ATTRIBUTE_SCENARIO = "attribute_motion"
NOTE = (
    "A video composes correctly when every object follows its law after the conditioning frames "
    "(evaluate.composition): detected in >= 75 % of its in-view generated frames, and on every linear piece of "
    "its true motion (between contacts) its fitted velocity within 0.4 world units/s + 10 % of the simulator's. "
    "Verdicts: vanished, no_rebound (wrong x direction after a wall contact), velocity. Share with Wilson 95 % "
    "CI; floor = the same check on the ground-truth frames of the same videos. Levels: the test scene (ood) and "
    "held-out controls of each training subset (id). VAE recon composed: the same check on the cell's "
    "autoencoder reconstructions of the same ground truth (condition frames pasted back); below n, the "
    "autoencoder alone breaks the law there, and the model's share measures it, not the DiT."
)


# the frames of the VideoVAE every scene cell of a scale shares (where the scale trains on one; settings
# study.SHARED_VAE): its scenario's -all frames (every subset and the test layout; sim.composition_studies);
# temporal and temporal-nored share one (same scenario)
VAE_PREFIX = {"spatial": "compose-spatial-all", "temporal": "compose-temporal-all",
              "temporal-nored": "compose-temporal-all"}  # fmt: skip


def cell(scale: str, study: str) -> RunSpec:
    """One scene cell. Where it trains on a VideoVAE, that VAE is the scale's shared one for its scenario: a
    VAE fitted to the cell's two training subsets breaks the law by itself in its reconstructions of the test
    scene (tiny temporal-nored: 0 of 16 composed, docs/composition.md)."""
    from phylaw.sim.composition_studies import SCENARIO_OF

    spec = s.study_cell("fig11", scale, "composition", study, TRAIN_PREFIX[study] + s.TRAIN_SUFFIX[scale],
                        EVAL_PREFIX[study] + s.EVAL_SUFFIX[scale], SCENARIO_OF[study])  # fmt: skip
    return s.with_shared_vae(spec, VAE_PREFIX[study] + s.TRAIN_SUFFIX[scale])


def fig11(scale: str) -> ExperimentPlan:
    from phylaw.experiments.attribute_study import attribute_cell

    cells = [cell(scale, st) for st in STUDIES]
    if scale != "tiny":  # the tiny hour has room for the three scene cells only
        cells += [attribute_cell("fig11", scale, x) for x in ATTRIBUTE_SETTINGS]
    return s.plan(
        "fig11", scale, cells, f"Fig. 11 (+ Fig. 17): spatial and temporal composition ({len(cells)} cells)."
    )


def check(spec: RunSpec) -> None:
    """The training config resolves; the training and evaluation splits are composition splits of one study."""
    from phylaw.experiments.stages import check_cell
    from phylaw.sim.composition_studies import composition_split

    if spec.scenario == ATTRIBUTE_SCENARIO:
        from phylaw.experiments.attribute_study import check as attribute_check

        attribute_check(spec)
        return
    check_cell(spec)
    train, evald = composition_split(spec.train_data.split), composition_split(spec.eval_data.split)
    if train.role != "train" or evald.role != "eval" or train.study != evald.study:
        raise PhylawError(
            f"cell {spec.run_id}: {train.name} / {evald.name} are not a training and evaluation pair"
        )


# ----------------------------------------------------------------------------------------------- stages
def evaluate(ctx: CellContext) -> dict[str, Any]:
    """The standard evaluator for attribute cells; none for the wall scenes (it has no rule for the gray wall:
    the composition stage measures their per-object errors)."""
    from phylaw.experiments.stages import evaluate as evaluate_standard

    if ctx.spec.scenario == ATTRIBUTE_SCENARIO:
        return evaluate_standard(ctx)
    return {"skipped": "wall scene: per-object errors come from the composition stage"}


def composition(ctx: CellContext) -> dict[str, Any]:
    from phylaw.evaluate.composition import analyse
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    if ctx.spec.scenario == ATTRIBUTE_SCENARIO:
        from phylaw.experiments.attribute_study import attributes

        return attributes(ctx)

    from phylaw.experiments.stages import reconstruct_evaluated

    data = ctx.eval_data_dir / DATA_FILE
    result = analyse(data, ctx.path(SAMPLES_FILE))
    videos = pd.DataFrame(result.videos)
    rows = pd.DataFrame(result.rows)
    recon = reconstruct_evaluated(ctx, ctx.path(COMP_DIR, "vae_recon.h5"))
    if recon is not None:  # the autoencoder's floor: the same law check on its reconstructions of the truth
        floor = analyse(data, recon)
        write_csv(ctx.path(COMP_DIR, "vae_videos.csv"), pd.DataFrame(floor.videos))
        vae_rows = pd.DataFrame(floor.rows)
        vae_rows["metric"] = "vae_" + vae_rows["metric"].astype(str)
        rows = pd.concat([rows, vae_rows], ignore_index=True)
    write_csv(ctx.path(COMP_DIR, "videos.csv"), videos)
    write_csv(ctx.path(COMP_DIR, "rows.csv"), rows)
    write_csv(ctx.path(COMP_DIR, "reasons.csv"), pd.DataFrame(result.reasons))
    gifs = composition_gifs(ctx, videos)
    write_json(ctx.path(COMP_DIR, "composition.json"), {"setting": ctx.spec.factor_values["setting"],
                                                       "n_videos": len(videos), "gifs": gifs})  # fmt: skip
    return {"rows": len(result.rows), "videos": len(videos)}


def composition_gifs(ctx: CellContext, videos: pd.DataFrame) -> list[str]:
    """GIFs (ground truth | generated) of the first composed and the first failed video of every level."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples
    from phylaw.evaluate.parse import parse
    from phylaw.experiments.gallery import side_by_side_frames, write_gif
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    picks = []
    for lv in sorted(set(videos["level"])):
        for ok in (True, False):
            m = videos[(videos["level"] == lv) & (videos["composed"] == ok)]
            if len(m):
                picks.append((int(m["index"].iloc[0]), lv, "ok" if ok else m["reason"].iloc[0]))
    written = []
    with open_samples(ctx.path(SAMPLES_FILE)) as f, open_dataset(ctx.eval_data_dir / DATA_FILE) as ds:
        where = {int(i): r for r, i in enumerate(f.index)}
        for i, lv, verdict in picks:
            gen = f.frames(where[i])
            gt = ds.frames(i, resolution=gen.shape[1])[: len(gen)]
            truth = ds.trajectories(np.array([i])).position[0, : len(gen), :2]  # the red and blue objects
            frames = side_by_side_frames(gt, gen, parse(gt).center[0], parse(gen).center[0], truth,
                                         title=f"{lv}: {verdict}")  # fmt: skip
            name = f"{lv}_{verdict.replace(': ', '-')}_{i:06d}.gif"
            written.append(str(write_gif(frames, ctx.path(COMP_DIR, "media", name))))
    return written


def collect(ctx: CellContext) -> dict[str, Any]:
    if ctx.spec.scenario == ATTRIBUTE_SCENARIO:
        from phylaw.experiments.attribute_study import collect as attribute_collect

        return attribute_collect(ctx)
    rows = pd.read_csv(ctx.path(COMP_DIR, "rows.csv"), dtype={"split": str, "level": str})
    from phylaw.experiments.stages import write_cell_results

    return write_cell_results(ctx, s.study_results(ctx.spec, rows))


def report(ctx: CellContext) -> dict[str, Any]:
    out = ctx.cell_dir.parent.parent
    return {"report": str(build_composition_report(out, out / REPORT_DIR))}


def pipeline(launch=None) -> Pipeline:
    from phylaw.experiments.stages import build_data, sample, train

    del launch  # carried in the run options, as in the default pipeline
    cells = (Stage("train", train), Stage("sample", sample), Stage("evaluate", evaluate),
             Stage("composition", composition), Stage("collect", collect), Stage("report", report))  # fmt: skip
    return Pipeline(Stage("data", build_data), cells, check=check)


# ----------------------------------------------------------------------------------------------- report
def _ci(value, lo, hi, pct: bool) -> str:
    if not np.isfinite(value):
        return "n/a"
    f = (lambda x: f"{100 * x:.1f} %") if pct else (lambda x: f"{x:.3f}")
    return f"{f(value)} [{f(lo)}, {f(hi)}]" if np.isfinite(lo) else f(value)


def _load(out: Path) -> tuple[dict, list[tuple[str, str, Path]], list[tuple[str, str, Path]], list[str]]:
    """(plan, finished scene cells, finished attribute cells, unfinished run ids); cells as (id, setting, dir)."""
    from phylaw.experiments.study_report import read_plan

    plan = read_plan(out)
    done, attr, missing = [], [], []
    for c in plan["cells"]:
        setting = str(dict(c.get("factors") or []).get("setting", ""))
        d = out / "cells" / c["run_id"]
        if (d / COMP_DIR / "composition.json").is_file():
            done.append((c["run_id"], setting, d / COMP_DIR))
        elif (d / ATTR_DIR / "attributes.json").is_file():
            attr.append((c["run_id"], setting, d / ATTR_DIR))
        else:
            missing.append(c["run_id"])
    return plan, done, attr, missing


def attribute_table(attr: list[tuple[str, str, Path]]) -> pd.DataFrame:
    """Per attribute-composition cell and combination: the share of generated videos that kept both attributes
    of the condition (``outcome_kept_both``, Wilson CI, ground-truth floor); ood = a held-out combination."""
    out = []
    for _, setting, d in attr:
        rows = pd.read_csv(d / "rows.csv", dtype={"split": str, "level": str})
        for r in rows[rows["metric"] == "outcome_kept_both"].itertuples():
            out.append({"setting": setting, "split": r.split, "level": r.level, "n": int(r.n),
                        "kept both": f"{_ci(r.value, r.ci_low, r.ci_high, True)} (GT {_ci(r.floor, np.nan, np.nan, True)})"})  # fmt: skip
    return pd.DataFrame(out)


def tables(done: list[tuple[str, str, Path]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(success per setting and level, per-object errors per setting, level and object, verdict counts of
    the test level), each value with its CI and the ground-truth floor in brackets after it."""
    from phylaw.sim.composition_studies import TEST_LEVEL

    succ, errs, reasons = [], [], []
    for _, setting, d in done:
        rows = pd.read_csv(d / "rows.csv", dtype={"split": str, "level": str})
        vae = rows[rows["metric"] == "vae_composed"].set_index(["split", "level"])
        rows = rows[~rows["metric"].str.startswith("vae_")]
        per_object: dict[tuple[str, str], dict] = {}
        for r in rows.itertuples():
            pct = r.metric == "composed" or r.metric.startswith("vanish_rate")
            text = f"{_ci(r.value, r.ci_low, r.ci_high, pct)} (GT {_ci(r.floor, np.nan, np.nan, pct)})"
            if r.metric == "composed":
                entry = {"setting": setting, "split": r.split, "level": r.level, "n": int(r.n), "composed": text}
                if (r.split, r.level) in vae.index:  # the VAE floor: its reconstructions of the same videos
                    v = vae.loc[(r.split, r.level)]
                    entry["VAE recon composed"] = f"{round(v.value * v.n)}/{int(v.n)}"
                succ.append(entry)
                continue
            metric, name = r.metric.rsplit("_", 1)
            entry = per_object.setdefault((r.level, name), {"setting": setting, "split": r.split, "level": r.level,
                                                            "object": name, "n": 0})  # fmt: skip
            if metric == "vanish_rate":
                entry["n"] = int(r.n)  # videos with the object
            else:
                text += f" n={int(r.n)}"  # videos where the error could be measured (object detected)
            entry[metric] = text
        errs += list(per_object.values())
        rc = pd.read_csv(d / "reasons.csv", dtype={"level": str})
        rc = rc[rc["level"].isin(set(TEST_LEVEL.values())) & (rc["n"] > 0)]
        reasons += [{"setting": setting, "level": x.level, "object": x.object, "verdict": x.reason,
                     "count": f"{x.count} / {x.n}"} for x in rc.itertuples()]  # fmt: skip
    return pd.DataFrame(succ), pd.DataFrame(errs), pd.DataFrame(reasons)


def _figure(done, path: Path) -> Path:
    """Composed share per setting and level, Wilson CIs, ground-truth floor as a black diamond."""
    from phylaw.evaluate.study_plots import _figure as panels
    from phylaw.evaluate.study_plots import _save

    fig, axes = panels(len(done), len(done), (4.2, 3.4))
    for ax, (_, setting, d) in zip(axes, done, strict=True):
        rows = pd.read_csv(d / "rows.csv", dtype={"split": str, "level": str})
        r = rows[rows["metric"] == "composed"].sort_values(["split", "level"], ascending=[False, True])
        x = np.arange(len(r))
        colors = ["tab:red" if sp == "ood" else "tab:gray" for sp in r["split"]]
        err = np.stack([r["value"] - r["ci_low"], r["ci_high"] - r["value"]])
        ax.bar(x, r["value"], color=colors, yerr=err, capsize=3)
        ax.scatter(x, r["floor"], marker="D", s=22, color="black", label="ground truth", zorder=3)
        vae = rows[rows["metric"] == "vae_composed"].set_index(["split", "level"])
        if len(vae):
            y = [vae["value"].get((sp, lv), np.nan) for sp, lv in zip(r["split"], r["level"], strict=True)]
            ax.scatter(x, y, marker="o", s=30, facecolors="none", edgecolors="tab:blue", zorder=3,
                       label="VAE reconstruction")  # fmt: skip
        ax.set_xticks(x, [f"{lv}\nn={n}" for lv, n in zip(r["level"], r["n"], strict=True)], fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(setting)
        ax.set_ylabel("composed correctly")
    axes[0].legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def build_composition_report(out: str | Path, dest: str | Path) -> Path:
    """``DEST/report.md``, a self-contained ``DEST/report.html``, ``success.csv``, ``errors.csv``,
    ``composition.png`` and the cells' GIFs, from the finished cells' composition files. Returns the HTML."""
    from phylaw.experiments.study_report import markdown_tail

    out, dest = Path(out), Path(dest)
    plan, done, attr, missing = _load(out)
    succ, errs, reasons = tables(done)
    attr_table = attribute_table(attr)
    write_csv(dest / "success.csv", succ)
    write_csv(dest / "errors.csv", errs)
    fig = _figure(done, dest / "composition.png") if done else None
    gifs = []
    for _, setting, d in [*done, *attr]:
        for g in sorted((d / "media").glob("*.gif")):
            target = dest / "media" / f"{setting}_{g.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(g, target)
            gifs.append((f"{setting}: {g.stem}", target))
    title = f"Fig. 11 / 17: composition ({plan.get('scale', '')})"
    sections = [
        ("Composition success", succ),
        ("Per-object errors", errs),
        ("Verdicts of the test videos", reasons),
    ]
    if attr:
        sections.append(("Attribute composition (held-out combinations)", attr_table))
    md = [f"# {title}", "", plan.get("description", ""), "", NOTE, ""]
    for head, df in sections:
        md += [f"## {head}", "", markdown_table(df), ""]
    md += [f"![composition]({fig.name})", ""] if fig else []
    md += markdown_tail(GIF_HEADING, gifs, MISSING_HEADING, missing)
    write_text(dest / "report.md", "\n".join(md))
    return write_text(dest / "report.html", _html(title, plan, sections, fig, gifs, missing))


def _html(title, plan, sections, fig, gifs, missing) -> str:
    from phylaw.experiments.study_report import b64, html_start, html_tail

    parts = html_start(title, plan.get("description", ""), NOTE)
    for head, df in sections:
        parts += [f"<h2>{html.escape(head)}</h2>", html_table(df)]
    if fig is not None:
        parts.append(f"<img class='plot' alt='composition' src='{b64(fig, 'image/png')}'>")
    parts += html_tail(GIF_HEADING, gifs, MISSING_HEADING, missing)
    return "\n".join(parts)


EXPERIMENT = Experiment(
    "fig11", s.FACTORS, fig11, pipeline=pipeline,
    report=ReportSection("Composition", metric="composed", figures=("training_curves",)),
)  # fmt: skip
