"""What the attribute-priority experiments (fig8.py, fig9.py) share: their cells, their pipeline and checks.

A cell trains on an attribute pair's training combinations (``sim.attribute_studies``) and is evaluated on all
four combinations; the cell settings per scale are the mechanism studies' (``experiments.study.study_cell``:
tiny = the demo's 64 px / 16 frames / VideoVAE / DiT-tiny, 3,000 steps on 2 CPU cores; small = one GPU,
DiT-S; paper = DiT-B, 128 px, 32 frames, 100K steps x 256).

Stages: data, train, sample, evaluate, gallery (as Fig. 3), then

attributes  ``evaluate.attributes``: the read-out of every generated and ground-truth video
            (``attributes/videos.csv``), the tidy rows (``attributes/rows.csv``: changed rates, outcome
            shares, win rates, each with its ground-truth floor), this cell's Fig. 14-style figure and GIFs of
            typical conflicts (``attributes/media``)
collect     the standard collect plus the attribute rows -> ``cell_results.csv``
report      ``experiments.attribute_report`` over every finished cell -> ``OUT/attribute_report/``
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.experiments import study as s
from phylaw.experiments.experiment import Experiment, ExperimentPlan, ReportSection
from phylaw.experiments.runner import CellContext, Pipeline, Stage
from phylaw.experiments.spec import DataSpec, RunSpec
from phylaw.io import write_csv, write_json

SCENARIO = "attribute_motion"
ATTR_DIR, REPORT_DIR = "attributes", "attribute_report"
GIFS_PER_LEVEL = 2


def vae_split(scale: str) -> str:
    """``attr-all<size>``: the split of the VideoVAE every attribute cell of ``scale`` shares (every colour x
    shape over the whole ranges), trained once with ``study.SHARED_VAE``'s settings
    (benchmarks/attr_vae_floor.py measures its floor)."""
    from phylaw.sim.attribute_studies import ALL_PREFIX

    return ALL_PREFIX + s.TRAIN_SUFFIX[scale]


def shared_vae_data(spec: RunSpec) -> DataSpec:
    """:func:`vae_split` at the cell's resolution and length (300,000 videos at paper scale: generated
    procedurally there, as the paper's training sets are)."""
    return s.shared_vae_data(spec, vae_split(spec.scale))


def attribute_cell(experiment: str, scale: str, setting: str) -> RunSpec:
    """The cell of one registered pair setting (``sim.attribute_studies.SETTINGS``) at ``scale``. Where it
    trains on a VideoVAE, that VAE is the scale's shared one (:func:`shared_vae_data`): a VAE fitted to the
    cell's own two training combinations changes the test combinations by itself (docs/attributes.md)."""
    from phylaw.sim.attribute_studies import get_setting

    st = get_setting(setting)
    prefix = setting if st.kind == "compose" else f"attr-{setting}"
    spec = s.study_cell(experiment, scale, "attribute", setting, prefix + s.TRAIN_SUFFIX[scale],
                        prefix + s.EVAL_SUFFIX[scale], SCENARIO)  # fmt: skip
    return s.with_shared_vae(spec, vae_split(scale))


def plan(name: str, scale: str, settings: tuple[str, ...], description: str) -> ExperimentPlan:
    return s.plan(name, scale, [attribute_cell(name, scale, x) for x in settings], description)


def attribute_experiment(name: str, settings: dict[str, tuple[str, ...]], title: str) -> Experiment:
    """The experiment ``name`` of the pair ``settings`` per scale (fig8, fig9): its plan, titled
    "``title`` (N cells).", this module's pipeline and the standard report section."""

    def plan_of(scale: str) -> ExperimentPlan:
        chosen = settings[scale]
        return plan(name, scale, chosen, f"{title} ({len(chosen)} cells).")

    section = ReportSection("Velocity error", figures=("training_curves", "error_distribution"))
    return Experiment(name, s.FACTORS, plan_of, pipeline=pipeline, report=section)


def setting_of(spec: RunSpec):
    """The pair setting of a cell's training split (one-line error when it is not an attribute split)."""
    from phylaw.sim.attribute_studies import attribute_split, get_setting

    return get_setting(attribute_split(spec.train_data.split).setting)


def check(spec: RunSpec) -> None:
    """The training config resolves, the training and evaluation splits are a training and an evaluation split
    of one attribute setting (the read-out classifies the evaluation videos by the training split's setting)
    and their rings (if any) are at least a pixel thick at the cell's resolution."""
    from phylaw.experiments.stages import check_cell
    from phylaw.sim import get_split
    from phylaw.sim.attribute_studies import attribute_split
    from phylaw.sim.attributes import check_ring_resolution

    check_cell(spec)
    train, evald = attribute_split(spec.train_data.split), attribute_split(spec.eval_data.split)
    if train.role != "train" or evald.role != "eval" or train.setting != evald.setting:
        raise PhylawError(
            f"cell {spec.run_id}: {train.name} / {evald.name} are not a training and evaluation pair"
        )
    for d in (spec.train_data, spec.eval_data):
        check_ring_resolution(get_split(d.scenario, d.split, n_frames=d.n_frames), d.resolution)


def attributes(ctx: CellContext) -> dict[str, Any]:
    from phylaw.evaluate import attribute_plots as ap
    from phylaw.evaluate.attributes import observe_attributes, pair_rows
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    setting = setting_of(ctx.spec)
    data, samples = ctx.eval_data_dir / DATA_FILE, ctx.path(SAMPLES_FILE)
    videos = observe_attributes(data, samples)
    rows = pd.DataFrame(pair_rows(videos, setting))
    out = ctx.path(ATTR_DIR)
    recon = vae_recon_videos(ctx, data, videos)
    if recon is not None:  # the autoencoder's own floor: its reconstructions of the same videos, read alike
        write_csv(out / "vae_videos.csv", recon)
        vae_rows = pd.DataFrame(pair_rows(recon, setting))
        vae_rows["metric"] = "vae_" + vae_rows["metric"].astype(str)
        rows = pd.concat([rows, vae_rows], ignore_index=True)
    write_csv(out / "videos.csv", videos)
    write_csv(out / "rows.csv", rows)
    ap.cell_figure(videos, setting, out / "attributes.png", title=setting.name)
    gifs = conflict_gifs(ctx, videos, setting)
    info = {"setting": setting.name, "kind": setting.kind, "attributes": list(setting.attributes),
            "train": [list(c) for c in setting.train], "n_videos": len(videos), "gifs": gifs}  # fmt: skip
    write_json(out / "attributes.json", info)
    return {"rows": len(rows), "videos": len(videos)}


def vae_recon_videos(ctx: CellContext, data, videos: pd.DataFrame) -> pd.DataFrame | None:
    """The read-out of the cell's VideoVAE reconstructions of the evaluated ground truth, or None when the cell
    trains in pixel space. A generated attribute the autoencoder itself cannot keep (a colour it never learned
    to reconstruct) is the VAE's, not the DiT's: the report shows this floor beside the counts."""
    from phylaw.evaluate.attributes import observe_attributes
    from phylaw.experiments.stages import reconstruct_evaluated

    path = reconstruct_evaluated(ctx, ctx.path(ATTR_DIR, "vae_recon.h5"))
    if path is None:
        return None
    recon = observe_attributes(data, path)
    if recon["index"].tolist() != videos["index"].tolist():
        raise PhylawError(f"cell {ctx.spec.run_id}: the VAE reconstructions do not hold the evaluated videos")
    return recon


def conflict_gifs(ctx: CellContext, videos: pd.DataFrame, setting) -> list[str]:
    """GIFs (ground truth | generated) of the most common outcome of every test combination and of one other
    outcome where there is one, named ``<level>_<outcome>_<dataset index>.gif``."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples
    from phylaw.evaluate.attributes import decisions, outcomes
    from phylaw.evaluate.parse import parse
    from phylaw.experiments.gallery import side_by_side_frames, write_gif
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    outcome = outcomes(decisions(videos, setting, "gen"), setting)
    picks = []
    levels = videos["level"].to_numpy()
    test = videos["split"].to_numpy() == ("ood" if setting.kind != "control" else "id")
    for lv in sorted(set(levels[test].tolist())):
        rows = np.flatnonzero(test & (levels == lv))
        kinds, counts = np.unique(outcome[rows], return_counts=True)
        for o in kinds[np.argsort(-counts, kind="stable")][:GIFS_PER_LEVEL]:
            picks.append((int(rows[outcome[rows] == o][0]), str(lv), str(o)))
    written = []
    with open_samples(ctx.path(SAMPLES_FILE)) as f, open_dataset(ctx.eval_data_dir / DATA_FILE) as ds:
        where = {int(i): r for r, i in enumerate(f.index)}
        for row, lv, o in picks:
            i = int(videos["index"].iloc[row])
            gen = f.frames(where[i])
            gt = ds.frames(i, resolution=gen.shape[1])[: len(gen)]
            truth = ds.trajectories(np.array([i])).position[0, : len(gen)]
            p_gt, p_gen = parse(gt).center[0], parse(gen).center[0]
            frames = side_by_side_frames(gt, gen, p_gt, p_gen, truth, title=f"{lv}: {o}")
            written.append(str(write_gif(frames, ctx.path(ATTR_DIR, "media", f"{lv}_{o}_{i:06d}.gif"))))
    return written


def collect(ctx: CellContext) -> dict[str, Any]:
    """The standard collect (evaluator and release-mode rows, training curve) plus the attribute rows."""
    return s.collect_with(ctx, ATTR_DIR)


def report(ctx: CellContext) -> dict[str, Any]:
    from phylaw.experiments.attribute_report import build_attribute_report

    out = ctx.cell_dir.parent.parent
    files = build_attribute_report(out, out / REPORT_DIR)
    return {"report": str(files.html)}


def pipeline(launch=None) -> Pipeline:
    from phylaw.experiments.stages import build_data, evaluate, gallery, sample, train

    del launch  # carried in the run options, as in the default pipeline
    cell = (Stage("train", train), Stage("sample", sample), Stage("evaluate", evaluate), Stage("gallery", gallery),
            Stage("attributes", attributes), Stage("collect", collect), Stage("report", report))  # fmt: skip
    return Pipeline(Stage("data", build_data), cell, check=check)
