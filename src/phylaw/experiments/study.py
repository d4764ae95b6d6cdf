"""What the mechanism-study experiments (fig5.py, fig6.py, fig7.py) share: their cells' settings at each scale,
their pipeline (the standard stages plus ``study``, a study-aware ``collect`` and ``report``) and checks.

Stages of a study cell: data, train, sample, evaluate, gallery (as Fig. 3), then

study    ``evaluate.study_run.analyse``: the study's tables and rows, retrieval (indexes cached under
         ``OUT/index``, one per training set), this cell's figures, in ``cells/<id>/study/``
collect  the standard collect (evaluator and release-mode rows), plus the study rows -> ``cell_results.csv``
report   the experiment's study report from every finished cell (``experiments.study_report``), in
         ``OUT/study_report/`` (rebuilt after each cell, so the last cell to finish leaves the whole report)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from phylaw.experiments.experiment import CELL_RESULTS, ExperimentPlan, result_columns
from phylaw.experiments.runner import CellContext, Pipeline, Stage
from phylaw.experiments.spec import DataSpec, RunSpec, TrainSpec
from phylaw.io import write_csv

# split-name suffixes of a study's training set and evaluation set per scale (sim.studies' size suffixes)
TRAIN_SUFFIX = {"paper": "", "small": "-small", "tiny": "-tiny"}
EVAL_SUFFIX = {"paper": "-eval", "small": "-eval", "tiny": "-eval-small"}

FACTORS = ("scenario", "study", "setting", "model", "data_size")
STUDY_DIR, REPORT_DIR, INDEX_DIR = "study", "study_report", "index"


def tiny_base():
    """The tiny study cells' settings (2 CPU cores): the demo's video size, autoencoder and model, trained
    longer than Fig. 3's tiny cells (3,000 steps at the demo's lr 2e-3: ID error about 3.4x the floor in the
    demo's measurements, where Fig. 3's 1,200 steps leave 10x) so that what the model does at unseen speeds is
    not buried under its ID error. Every field written out: tuning the demo does not rename these cells."""
    from phylaw.experiments.demo import DemoConfig

    return DemoConfig(
        name="study-tiny", scenario="uniform_motion", resolution=64, n_frames=16, grid_r=20, grid_v=100,
        model="DiT-tiny", autoencoder="vae", vae_factor=8, vae_base_channels=16, vae_steps=400, vae_batch_size=4,
        vae_lr=1e-3, space_to_depth=8, patch=2, temporal_patch=2, steps=3000, batch_size=16, micro_batch_size=8,
        train_procs=1, lr=2e-3, warmup=50, ema_decay=0.995, cpu_bf16="off", deterministic=True,
        timesteps="uniform", flip=False, sample_steps=4, sample_batch_size=50, eval_per_split=(),
        gallery_per_split=2, seed=0,
    )  # fmt: skip


def study_cell(experiment: str, scale: str, study: str, setting: str, train_split: str, eval_split: str,
               scenario: str, *, flip: bool = False) -> RunSpec:  # fmt: skip
    """One cell: a model trained on ``train_split`` and evaluated on ``eval_split`` at ``scale``."""
    from phylaw.sim import get_split

    size = len(get_split(scenario, train_split))
    if scale == "tiny":
        base = tiny_base()
        from phylaw.experiments.demo import train_spec

        ts = train_spec(dataclasses.replace(base, flip=flip))
        train = DataSpec(scenario, train_split, resolution=base.resolution, n_frames=base.n_frames)
        evald = DataSpec(scenario, eval_split, resolution=base.resolution, n_frames=base.n_frames)
        steps, batch = base.sample_steps, base.sample_batch_size
        distributed = False
    elif scale == "small":  # one GPU: Fig. 3's small settings (64 px, pixel space, DiT-S, 20K steps)
        ts = TrainSpec(model="DiT-S", steps=20_000, batch_size=64, lr=1e-4, warmup=500, autoencoder="identity",
                       space_to_depth=4, patch=2, temporal_patch=2, ema_decay=0.9995, flip=flip, preset="paper")  # fmt: skip
        train = DataSpec(scenario, train_split, resolution=64)
        evald = DataSpec(scenario, eval_split, resolution=64, per_split=(("id", 300), ("ood", 300)))
        steps, batch, distributed = 50, 64, False
    else:  # the paper's in-depth studies: DiT-B (SPEC A.3, C.3), 128 px, 32 frames, 100K steps x 256
        ts = TrainSpec(model="DiT-B", steps=100_000, batch_size=256, lr=1e-4, warmup=1000, autoencoder="vae",
                       flip=flip, preset="paper")  # fmt: skip
        train = DataSpec(scenario, train_split, resolution=128, procedural=size >= 300_000)
        evald = DataSpec(scenario, eval_split, resolution=128)
        steps, batch, distributed = 50, 64, True
    factors = (("scenario", scenario), ("study", study), ("setting", setting), ("model", ts.model),
               ("data_size", size))  # fmt: skip
    return RunSpec(experiment, scale, scenario, size, train, evald, ts, sample_steps=steps, sample_batch_size=batch,
                   distributed=distributed, factors=factors)  # fmt: skip


# the settings of a scale's shared VideoVAE (trained once for every cell that names it): 3x the per-cell VAE's
# steps at tiny, since it is trained once
SHARED_VAE = {"tiny": {"vae_steps": 1200}}


def shared_vae_data(spec: RunSpec, split: str) -> DataSpec:
    """``split`` at cell ``spec``'s resolution, length and ranges: the frames of a shared VideoVAE (generated
    procedurally at paper scale, as the paper's training sets are)."""
    t = spec.train_data
    return DataSpec(spec.scenario, split, resolution=t.resolution, n_frames=t.n_frames, ranges=t.ranges,
                    procedural=spec.scale == "paper")  # fmt: skip


def with_shared_vae(spec: RunSpec, split: str) -> RunSpec:
    """Cell ``spec`` on the scale's shared VideoVAE fitted to ``split`` (:func:`shared_vae_data`, settings
    :data:`SHARED_VAE`); unchanged where the cell trains without a VAE (pixel space)."""
    if spec.train.autoencoder != "vae":
        return spec
    train = dataclasses.replace(spec.train, **SHARED_VAE.get(spec.scale, {}))
    return dataclasses.replace(spec, train=train, vae_data=shared_vae_data(spec, split))


def plan(name: str, scale: str, cells: list[RunSpec], description: str) -> ExperimentPlan:
    return ExperimentPlan(name, scale, tuple(cells), description, factors=FACTORS)


# ----------------------------------------------------------------------------------------------- stages
def _setting(spec: RunSpec):
    from phylaw.sim.studies import GAP_SETTINGS, HOLE_SETTINGS, study_split

    entry = study_split(spec.train_data.split)
    return entry, GAP_SETTINGS.get(entry.setting) or HOLE_SETTINGS.get(entry.setting)


def label(spec: RunSpec) -> str:
    """A cell's short title in the figures: its setting (Set-1 / Set-2 for the memorisation study)."""
    return str(spec.factor_values["setting"])


def study(ctx: CellContext) -> dict[str, Any]:
    from phylaw.evaluate.study_run import analyse
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    entry, setting = _setting(ctx.spec)
    result = analyse(
        ctx.train_data_dir / DATA_FILE, ctx.eval_data_dir / DATA_FILE, ctx.path(SAMPLES_FILE), ctx.path(STUDY_DIR),
        study=entry.study, setting=setting, metrics_csv=ctx.path("eval", "metrics.csv"), title=label(ctx.spec),
        index_cache=ctx.cell_dir.parent.parent / INDEX_DIR,
    )  # fmt: skip
    return {"rows": len(result.rows), "videos": len(result.videos)}


def study_results(spec: RunSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """Study rows (``rows.csv``) with the cell's id and factor columns, in the results layout."""
    ids = {"experiment": spec.experiment, "scale": spec.scale, "run_id": spec.run_id, **spec.factor_values}
    out = rows.copy()
    for key, value in reversed(list(ids.items())):
        out.insert(0, key, value)
    return out.reindex(columns=list(result_columns(tuple(spec.factor_values))))


def collect(ctx: CellContext) -> dict[str, Any]:
    """The standard collect (the evaluator's rows, release-mode rows, the training curve), then the study's
    rows appended to ``cell_results.csv``."""
    return collect_with(ctx, STUDY_DIR)


def collect_with(ctx: CellContext, rows_dir: str) -> dict[str, Any]:
    """The standard collect, then the tidy rows of ``<cell>/<rows_dir>/rows.csv`` appended to
    ``cell_results.csv`` (rewritten whole: a rerun does not append twice)."""
    from phylaw.experiments.stages import collect as collect_evaluated

    collect_evaluated(ctx)
    evaluated = pd.read_csv(ctx.path(CELL_RESULTS), dtype={"split": str, "level": str})
    rows = pd.read_csv(ctx.path(rows_dir, "rows.csv"), dtype={"split": str, "level": str})
    tidy = pd.concat([evaluated, study_results(ctx.spec, rows)], ignore_index=True)
    write_csv(ctx.path(CELL_RESULTS), tidy)
    return {"rows": len(tidy)}


def report(ctx: CellContext) -> dict[str, Any]:
    from phylaw.experiments.study_report import build_study_report

    out = ctx.cell_dir.parent.parent
    files = build_study_report(out, out / REPORT_DIR)
    return {"report": str(files.html)}


def check(spec: RunSpec) -> None:
    """The cell's training config resolves and its training split is a registered study split."""
    from phylaw.experiments.stages import check_cell

    check_cell(spec)
    _setting(spec)


def pipeline(launch=None) -> Pipeline:
    from phylaw.experiments.stages import build_data, evaluate, gallery, sample, train

    del launch  # carried in the run options, as in the default pipeline
    cell = (Stage("train", train), Stage("sample", sample), Stage("evaluate", evaluate), Stage("gallery", gallery),
            Stage("study", study), Stage("collect", collect), Stage("report", report))  # fmt: skip
    return Pipeline(Stage("data", build_data), cell, check=check)
