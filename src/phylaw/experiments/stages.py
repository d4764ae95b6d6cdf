"""The real stages of a cell, calling the other phylaw stages' library functions.

data     ``phylaw.datasets.generate`` (a named split, or a custom ``phylaw.sim.grid_split`` grid)
train    ``phylaw.train.train_dit`` in-process, or several ranks (``phylaw.train.launch``)
sample   ``phylaw.train.sample_dataset`` on the chosen evaluation rows
evaluate ``phylaw.evaluate.evaluate`` (per-video CSV, summary with ground-truth floor, plots)
gallery  side-by-side GIFs with parsed trajectories (``experiments.gallery``)
collect  the evaluator's summary.csv -> the tidy ``cell_results.csv``; the training curve -> train_metrics.csv

Each library function resumes on its own (generate and sample continue ``.partial`` files, training restarts
from its latest checkpoint), so a stage that was interrupted simply runs again.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.experiments.experiment import CELL_RESULTS, result_columns
from phylaw.experiments.runner import CellContext, DataContext, Pipeline, Stage, ensure_data
from phylaw.experiments.spec import DataSpec, GridPart, RunSpec
from phylaw.experiments.tables import POOLED
from phylaw.io import write_csv, write_json, write_text
from phylaw.seeding import child_rng
from phylaw.train.launch import LaunchOptions, launch_training, local_cpu_ranks

log = logging.getLogger(__name__)

DATA_FILE = "data.h5"
SAMPLES_FILE = "samples.h5"


# ----------------------------------------------------------------------------------------------- data
def split_def(spec: DataSpec):
    """The testbed split of a DataSpec: a named split, a custom product grid, or a union of parts."""
    from phylaw import sim
    from phylaw.sim.splits import union_split

    if spec.parts:
        parts = [_part(p) for p in spec.parts]
        return union_split(spec.scenario, spec.split, parts, ranges=spec.ranges, n_frames=spec.n_frames)
    if spec.grid:
        values = {name: np.linspace(lo, hi, int(n)) for name, lo, hi, n in spec.grid}
        return sim.grid_split(spec.scenario, spec.split, ranges=spec.ranges, n_frames=spec.n_frames, **values)
    return sim.get_split(spec.scenario, spec.split, ranges=spec.ranges, n_frames=spec.n_frames)


def _part(p: GridPart):
    """A GridPart as ``phylaw.sim.splits`` parts (a grid, or the disjoint parts of a grid minus a box)."""
    from phylaw.sim.splits import Part, grid_minus_box

    values = {name: np.linspace(lo, hi, int(n)) for name, lo, hi, n in p.grid}
    attributes = {k: tuple(v) for k, v in p.attributes}
    if p.box:
        return grid_minus_box(p.split, p.level, values, {k: (lo, hi) for k, lo, hi in p.box}, attributes)
    return Part(p.split, p.level, tuple(values.values()), attributes, tuple(values))


def build_data(ctx: DataContext) -> dict[str, Any]:
    from phylaw.datasets import generate

    spec = ctx.spec
    path = generate(
        spec.scenario, split_def(spec), ctx.data_dir / DATA_FILE, ranges=spec.ranges,
        resolution=spec.resolution, procedural=spec.procedural, workers=int(ctx.options.get("workers", 1)),
        limit=spec.limit, seed=spec.seed, progress=ctx.progress,
    )  # fmt: skip
    return {"path": str(path)}


def eval_indices(
    split: np.ndarray, level: np.ndarray, per_split: tuple[tuple[str, int], ...], seed: int
) -> np.ndarray:
    """Dataset rows to evaluate: for each (label, count), ``count`` rows spread evenly over the label's levels.

    Deterministic (seeded by ``seed``); all rows when ``per_split`` is empty. Sorted ascending.
    """
    if not per_split:
        return np.arange(len(split))
    chosen: list[np.ndarray] = []
    for label, count in per_split:
        levels = sorted(set(level[split == label].tolist()))
        for j, lv in enumerate(levels):
            rows = np.flatnonzero((split == label) & (level == lv))
            k = count // len(levels) + (1 if j < count % len(levels) else 0)
            rng = child_rng(seed, "eval-subset", label, lv)
            chosen.append(np.sort(rng.choice(rows, size=min(k, len(rows)), replace=False)))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


# ----------------------------------------------------------------------------------------------- train
def cell_overrides(spec: RunSpec, data_path: Path) -> tuple[tuple[str, Any], ...]:
    """The cell's training settings as typed overrides of its ``phylaw.config`` preset."""
    t = spec.train
    items: list[tuple[str, Any]] = [
        ("data.train", str(data_path)),
        ("data.resolution", spec.train_data.resolution),
        ("data.n_frames", spec.train_data.n_frames),
        ("data.hflip", t.flip),
        ("model.preset", t.model),
        ("optim.lr", t.lr),
        ("optim.batch_size", t.batch_size),
        ("schedule.steps", t.steps),
        ("schedule.warmup_steps", t.warmup),
        ("runtime.seed", t.seed),
        ("runtime.sample_steps", spec.sample_steps),
        ("runtime.sample_batch_size", spec.sample_batch_size),
        ("logging.tensorboard", False),
    ]
    if t.autoencoder == "identity":
        items += [("autoencoder.kind", "identity"), ("autoencoder.space_to_depth", t.space_to_depth)]
    elif t.autoencoder == "vae":
        items += [("autoencoder.kind", "vae"), ("autoencoder.spatial_factor", t.vae_factor),
                  ("autoencoder.base_channels", t.vae_base_channels),
                  ("autoencoder.foreground_weight", t.vae_foreground_weight)]  # fmt: skip
    else:
        items += [("autoencoder.kind", "diffusers"), ("autoencoder.path", t.autoencoder)]
    items += [("model.patch_size", t.patch)] if t.patch is not None else []
    items += [("model.patch_t", t.temporal_patch)] if t.temporal_patch is not None else []
    items += [("ema.decay", t.ema_decay)] if t.ema_decay is not None else []
    return (*items, *t.overrides)


def train_config(spec: RunSpec, data_path: Path, runtime: tuple[tuple[str, Any], ...] = ()):
    """The resolved ``phylaw.config.TrainConfig`` of a cell, with this machine's ``runtime`` settings applied
    (one-line PhylawError for an unknown key or a wrong type)."""
    from phylaw.config import load_config

    return load_config(spec.train.preset, [*cell_overrides(spec, data_path), *runtime])


def check_cell(spec: RunSpec) -> None:
    """Resolve the cell's training config before anything runs (its override keys and types)."""
    train_config(spec, Path(DATA_FILE))


def _launch(ctx: CellContext) -> LaunchOptions:
    return ctx.options.get("launch") or LaunchOptions()


def train(ctx: CellContext) -> dict[str, Any]:
    from phylaw.config import to_dict

    launch = _launch(ctx)
    cfg = train_config(ctx.spec, ctx.train_data_dir / DATA_FILE, launch.runtime)
    write_runtime(ctx, launch)
    if ctx.spec.train.autoencoder == "vae":
        cfg = _on_vae(cfg, _train_vae(ctx, cfg))
    run_dir = ctx.path("train")
    if launch.torchrun:
        if local_cpu_ranks(launch):
            # one thread per rank (the demo's setting): encode the latent cache here first, on every core,
            # instead of on rank 0's one thread (the ranks find it, content-addressed)
            from phylaw.train import encode_latents

            encode_latents(cfg, run_dir, progress=ctx.progress)
        _torchrun_train(ctx, to_dict(cfg), launch, quiet=not ctx.progress)
    else:
        from phylaw.train import train_dit

        train_dit(cfg, run_dir, resume=True, progress=ctx.progress)
    return {"run_dir": str(run_dir)}


def write_runtime(ctx: CellContext, launch: LaunchOptions) -> Path:
    """``cells/<id>/runtime.json``: how this machine trained the cell (ranks, device, runtime overrides); not
    part of the cell's identity."""
    import torch

    device = f"cuda ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "cpu"
    return write_json(ctx.path("runtime.json"), {
        "nproc_per_node": launch.nproc_per_node, "nnodes": launch.nnodes, "device": device,
        "overrides": dict(launch.runtime),
    })  # fmt: skip


def _on_vae(cfg, vae_run: Path):
    """``cfg`` training on the VideoVAE in ``vae_run``, whose directory also holds the latent cache of the
    training set (shared by every cell, and every node of a multi-node job, that trains on those latents)."""
    from phylaw.config import apply_overrides

    return apply_overrides(cfg, [("autoencoder.path", str(vae_run)), ("data.cache_dir", str(vae_run))])


def vae_key(spec: RunSpec) -> list[Any]:
    """The VAE settings that name a VAE directory (with the training data's id)."""
    t = spec.train
    key = [t.vae_factor, t.vae_base_channels, t.vae_steps, t.vae_batch_size, t.vae_lr, t.seed]
    # appended only when set, so the VAE directories named before the option existed keep their names
    # "union": the weight covers the reconstruction's objects too (train.vae_trainer.reconstruction_loss); VAEs
    # trained with the target's objects only (which drew bodies fatter) are not reused
    key += [("foreground_weight", t.vae_foreground_weight), ("foreground", "union")] if t.vae_foreground_weight else []
    return [*key, ("train_frames", t.vae_train_frames)] if t.vae_train_frames else key


def vae_data(spec: RunSpec) -> DataSpec:
    """The frames a cell's VideoVAE trains on: ``spec.vae_data`` when set (one autoencoder shared by the cells
    of a scale), else the cell's own training data."""
    return spec.vae_data if spec.vae_data is not None else spec.train_data


def vae_dir_of(out: Path, spec: RunSpec) -> Path:
    """``OUT/vae/<VAE data id>-<hash of the VAE settings>``: one VAE per training set and VAE setting, shared by
    every cell of ``OUT`` that names both."""
    from phylaw.experiments.spec import _content_hash

    return Path(out) / "vae" / f"{vae_data(spec).data_id}-{_content_hash(vae_key(spec))}"


def vae_dir(ctx: CellContext) -> Path:
    return vae_dir_of(ctx.cell_dir.parent.parent, ctx.spec)


def _train_vae(ctx: CellContext, cfg) -> Path:
    """phylaw's own frame-wise VideoVAE (SPEC I.3), trained before the DiT on :func:`vae_data` (built here when
    it is not the cell's training data) and shared by every cell with the same VAE data and settings."""
    from phylaw.config import apply_overrides
    from phylaw.train import train_vae

    run = vae_dir(ctx)
    if not (run / "vae.pt").is_file():
        sets = vae_train_overrides(ctx.spec.train)
        if ctx.spec.vae_data is not None:
            data_dir = ensure_data(ctx.cell_dir.parent.parent, ctx.spec.vae_data, Stage("data", build_data),
                                   progress=ctx.progress, options=ctx.options)  # fmt: skip
            sets = [("data.train", str(data_dir / DATA_FILE)), *sets]
        train_vae(apply_overrides(cfg, sets), run, resume=True, progress=ctx.progress)
    return run


def vae_train_overrides(t) -> list[tuple[str, Any]]:
    """The overrides that turn a cell's training config (``TrainSpec`` ``t``) into its VideoVAE's training
    config. runtime.threads=0: the VAE trains in one process on every core, whatever the DiT's ranks use."""
    sets = [("optim.batch_size", t.vae_batch_size), ("schedule.steps", t.vae_steps), ("optim.lr", t.vae_lr),
            ("schedule.warmup_steps", min(100, t.vae_steps // 10)), ("optim.weight_decay", 0.0),
            ("data.cache_latents", False), ("autoencoder.path", ""), ("runtime.threads", 0)]  # fmt: skip
    return [*sets, ("autoencoder.train_frames", t.vae_train_frames)] if t.vae_train_frames else sets


def _torchrun_train(
    ctx: CellContext, cfg_dict: dict[str, Any], launch: LaunchOptions, quiet: bool = True
) -> None:
    import yaml

    config_path = write_text(ctx.path("train_config.yaml"), yaml.safe_dump(cfg_dict, sort_keys=True))
    launch_training(config_path, ctx.path("train"), launch, quiet=quiet)


def train_on_worker_node(out: Path, spec: RunSpec, launch: LaunchOptions) -> None:
    """Nodes other than node 0 of a multi-node job: join the cell's torchrun training and do nothing else
    (node 0 builds the data, writes the markers, samples and evaluates; the file system is shared)."""
    if launch.node_rank == 0 or not launch.torchrun:
        raise PhylawError("train_on_worker_node is for --node-rank > 0 of a multi-node torchrun job")
    cell_dir = Path(out) / "cells" / spec.run_id
    cell_dir.mkdir(parents=True, exist_ok=True)
    data_root = Path(out) / "data"
    ctx = CellContext(spec, cell_dir, data_root / spec.train_data.data_id, data_root / spec.eval_data.data_id,
                      options={"launch": launch})  # fmt: skip
    from phylaw.config import to_dict

    cfg = train_config(spec, ctx.train_data_dir / DATA_FILE, launch.runtime)
    if spec.train.autoencoder == "vae":
        cfg = _on_vae(cfg, vae_dir(ctx))
    _torchrun_train(ctx, to_dict(cfg), launch)


# ----------------------------------------------------------------------------------------------- sample
def sample(ctx: CellContext) -> dict[str, Any]:
    from phylaw.datasets import open_dataset
    from phylaw.train import sample_dataset

    data = ctx.eval_data_dir / DATA_FILE
    with open_dataset(data) as ds:
        labels = ds.labels
        index = eval_indices(np.asarray(labels.split), np.asarray(labels.level), ctx.spec.eval_data.per_split,
                             ctx.spec.seed)  # fmt: skip
    write_json(ctx.path("eval_indices.json"), index.tolist())
    path = sample_dataset(
        ctx.path("train"), data, ctx.path(SAMPLES_FILE), steps=ctx.spec.sample_steps, seed=ctx.spec.seed,
        indices=index, batch_size=ctx.spec.sample_batch_size, progress=ctx.progress,
    )  # fmt: skip
    return {"samples": str(path), "n_videos": len(index)}


# ----------------------------------------------------------------------------------------------- evaluate
RELEASE_EVAL = "eval_release"  # the cell's release-mode evaluation (the paper's quantities, evaluate.release)


def evaluate(ctx: CellContext) -> dict[str, Any]:
    """phylaw's metrics into eval/, and where the release has a recipe for the scenario and its 256² frames
    average down to the cell's resolution, the release's numbers into eval_release/ (the quantity the paper's
    published values are drawn beside)."""
    from phylaw.evaluate.release import SCENARIOS as RELEASE_SCENARIOS
    from phylaw.evaluate.run import EvalOptions
    from phylaw.evaluate.run import evaluate as run_eval
    from phylaw.render.raster import RELEASE_RESOLUTION

    data, samples = ctx.eval_data_dir / DATA_FILE, ctx.path(SAMPLES_FILE)
    result = run_eval(data, samples, out=ctx.path("eval"), progress=ctx.progress)
    out = {"summary": str(result.summary_csv)}
    spec = ctx.spec.eval_data
    if spec.scenario in RELEASE_SCENARIOS and RELEASE_RESOLUTION % spec.resolution == 0:
        release = run_eval(data, samples, out=ctx.path(RELEASE_EVAL), options=EvalOptions(metric_set="release"),
                           progress=ctx.progress)  # fmt: skip
        out["release_summary"] = str(release.summary_csv)
    return out


def gallery(ctx: CellContext) -> dict[str, Any]:
    """A few ID and OOD examples as GIFs (ground truth | generated) with parsed tracks drawn over them."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples
    from phylaw.evaluate.parse import parse
    from phylaw.experiments.gallery import pick_examples, side_by_side_frames, write_gif

    per_split = int(ctx.options.get("gallery_per_split", 3))
    out_dir = ctx.path("gallery")
    with open_samples(ctx.path(SAMPLES_FILE)) as f, open_dataset(ctx.eval_data_dir / DATA_FILE) as ds:
        index = f.index
        labels = ds.labels
        splits, levels = np.asarray(labels.split)[index], np.asarray(labels.level)[index]
        rows = pick_examples(levels, splits, per_split, child_rng(ctx.spec.seed, "gallery"))
        written = []
        for row in rows:
            i = int(index[row])
            gen = f.frames(row)  # (T, H, W, 3)
            gt = ds.frames(i, resolution=gen.shape[1])[: len(gen)]  # (T, H, W, 3)
            truth = ds.trajectories(np.array([i])).position[0, : len(gen)]  # (T, K, 2)
            p_gt, p_gen = parse(gt).center[0], parse(gen).center[0]  # (T, K, 2)
            params = ", ".join(f"{n}={v:.2f}" for n, v in zip(ds.param_names, ds.params[i], strict=True))
            frames = side_by_side_frames(gt, gen, p_gt, p_gen, truth, title=f"{levels[row]}: {params}")
            name = f"{splits[row]}_{levels[row]}_{i:06d}.gif"
            written.append(str(write_gif(frames, out_dir / name)))
    return {"gifs": written}


# ----------------------------------------------------------------------------------------------- collect
def tidy_results(summary: pd.DataFrame, spec: RunSpec) -> pd.DataFrame:
    """The evaluator's summary.csv -> tidy result rows (the cell's factor columns, then one row per split,
    level and metric), one pooled row (level POOLED) per split and metric.

    The evaluator appends a pooled row (level "pooled"; "all" in its first version) after the per-level rows
    of a split with several levels; a split with a single level (ID) gets its only row as the pooled row.
    Columns are read by name; those an evaluator does not write (medians, ``n_videos``, ``floor_n``, ``kind``)
    are NaN.
    """
    rows = []
    fail = summary[summary["metric"] == "parse_failure_rate"]
    ids = {"experiment": spec.experiment, "scale": spec.scale, "run_id": spec.run_id, **spec.factor_values}
    for (split, metric), g in summary.groupby(["split", "metric"], sort=False):
        levels = list(g.itertuples())
        has_pooled = len(levels) > 1 and levels[-1].level in (POOLED, "all")
        per_level = levels[:-1] if has_pooled else levels
        for r, level in [*((r, r.level) for r in per_level), (levels[-1], POOLED)]:
            f = fail[(fail["split"] == split) & (fail["level"] == r.level)]
            rows.append({
                **ids, "split": split, "level": level, "metric": metric, "value": r.mean,
                "ci_low": r.ci95_lo, "ci_high": r.ci95_hi, "n": r.n, "floor": r.floor_mean,
                "floor_ci_low": r.floor_ci95_lo, "floor_ci_high": r.floor_ci95_hi,
                "parse_fail_rate": float(f["mean"].iloc[-1]) if len(f) else float("nan"),
                **{c: getattr(r, c, float("nan")) for c in ("median", "floor_median", "n_videos", "floor_n", "kind")},
            })  # fmt: skip
    return pd.DataFrame(rows, columns=list(result_columns(tuple(spec.factor_values))))


def collect(ctx: CellContext) -> dict[str, Any]:
    summary = pd.read_csv(ctx.path("eval", "summary.csv"), dtype={"split": str, "level": str})
    tidy = tidy_results(summary, ctx.spec)
    release = ctx.path(RELEASE_EVAL, "summary.csv")
    if release.is_file():  # release-mode rows (metric names release_*) beside phylaw's own
        more = tidy_results(pd.read_csv(release, dtype={"split": str, "level": str}), ctx.spec)
        tidy = pd.concat([tidy, more], ignore_index=True)
    return write_cell_results(ctx, tidy)


def write_cell_results(ctx: CellContext, tidy: pd.DataFrame) -> dict[str, Any]:
    """Every collect's ending: the tidy rows -> ``cell_results.csv``, the training curve (if the cell trained)
    -> ``train_metrics.csv``; returns the stage's record."""
    write_csv(ctx.path(CELL_RESULTS), tidy)
    metrics = ctx.path("train", "metrics.csv")
    if metrics.is_file():
        shutil.copyfile(metrics, ctx.path("train_metrics.csv"))
    return {"rows": len(tidy)}


def default_pipeline(launch: LaunchOptions | None = None) -> Pipeline:
    """The real pipeline (``launch`` is passed to the train stage through the run options)."""
    del launch  # carried in options; kept in the signature so the CLI states what it launches
    cell = (Stage("train", train), Stage("sample", sample), Stage("evaluate", evaluate),
            Stage("gallery", gallery), Stage("collect", collect))  # fmt: skip
    return Pipeline(Stage("data", build_data), cell, check=check_cell)


def describe(spec: RunSpec) -> str:
    return json.dumps(spec.to_json(), indent=1)


def reconstruct_evaluated(ctx: CellContext, out: Path) -> Path | None:
    """The cell's VideoVAE reconstructions of the rows its samples hold (condition frames pasted back as the
    sampler does) into sample file ``out``: the autoencoder's floor of whatever the cell measures on its
    samples. None when the cell trains in pixel space or has no trained VAE."""
    from phylaw.datasets.samples import open_samples

    run = vae_dir(ctx)
    if ctx.spec.train.autoencoder != "vae" or not (run / "vae.pt").is_file():
        return None
    with open_samples(ctx.path(SAMPLES_FILE)) as sf:
        c, index = int(sf.attrs.get("cond_frames", 3)), np.asarray(sf.index)
    ev = ctx.spec.eval_data
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return reconstruct(run, ctx.eval_data_dir / DATA_FILE, index, out, n_frames=ev.n_frames,
                       resolution=ev.resolution, cond_frames=c)  # fmt: skip


def reconstruct(vae_run: Path, data: Path, index: np.ndarray, out: Path, *, n_frames: int, resolution: int,
                cond_frames: int = 1, progress: bool = False, batch_size: int = 8) -> Path:  # fmt: skip
    """Encode + decode dataset rows ``index`` with a trained VideoVAE into a sample file: the reconstruction
    floor of the same videos a model is scored on. The first ``cond_frames`` frames are the ground truth's, as
    in the model's samples (``train.sampling`` pastes the condition back), so both are scored alike."""
    import torch
    from tqdm.auto import tqdm

    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import FORMAT, FORMAT_VERSION, SampleWriter, finish, is_finished
    from phylaw.io import partial_path
    from phylaw.models.autoencoder import frames_to_tensor, load_video_vae, tensor_to_frames

    ae = load_video_vae(Path(vae_run) / "vae.pt")
    with open_dataset(data) as ds:
        attrs = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "dataset": str(data),
            "dataset_fingerprint": ds.fingerprint, "scenario": ds.scenario, "cond_frames": cond_frames, "n_frames": n_frames,
            "resolution": resolution, "checkpoint": str(vae_run), "steps": 0, "seed": 0, "config_json": "{}",
        }  # fmt: skip
        index = np.asarray(index, dtype=np.int64)
        if is_finished(out, attrs, index):
            return out
        partial_path(out).unlink(missing_ok=True)  # cheap: never resumed
        with SampleWriter(partial_path(out), attrs, index, n_frames, resolution) as writer, torch.no_grad():
            for start in tqdm(range(0, len(index), batch_size), desc="reconstruct", disable=not progress):
                rows = np.arange(start, min(len(index), start + batch_size))
                batch = np.stack(
                    [ds.frames(int(index[r]), resolution)[:n_frames] for r in rows]
                )  # (B, T, H, W, 3)
                videos = tensor_to_frames(ae.decode(ae.encode(frames_to_tensor(batch))))  # (B, T, H, W, 3)
                videos[:, :cond_frames] = batch[
                    :, :cond_frames
                ]  # as the sampler does: the condition is exact
                writer.write(rows, videos)
    return finish(out, attrs, index, 1, n_frames, resolution)
