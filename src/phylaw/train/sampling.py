"""``sample_dataset``: condition a trained run on the first c frames of dataset videos, generate the rest.

Writes the sample file of docs/formats.md ("phylaw-samples" v1), rows aligned with dataset indices. Output
frames: the first c frames are the ground-truth condition frames (as the model saw them, at the run's
resolution), the rest are the decoded model output. Video i starts from noise drawn
with seed ``derive_seed(seed, "sample", i)``, so a video does not depend on batch size or rank count (up to
floating-point batching effects). Resumable: rows marked ``done`` in ``OUT.partial`` are skipped. Under
torchrun each rank samples rows ``rank::world`` into its own part file; rank 0 merges them at the end.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from phylaw import __version__
from phylaw.config import config_from_dict, to_json
from phylaw.datasets import open_dataset
from phylaw.datasets.samples import FORMAT, FORMAT_VERSION, SampleWriter, finish, is_finished, part_path
from phylaw.datasets.torch_dataset import VideoDataset
from phylaw.diffusion import CONDITIONING, DEFAULT_CONDITION, make_condition, make_train_scheduler, sample
from phylaw.errors import PhylawError
from phylaw.models.autoencoder import Autoencoder, frames_to_tensor, tensor_to_frames
from phylaw.models.dit import DiTConfig, VideoDiT
from phylaw.seeding import derive_seed
from phylaw.train import distributed
from phylaw.train.checkpoint import ckpt_path, latest_step, load_checkpoint, read_meta
from phylaw.train.setup import check_model_shape, cond_latent_frames, make_autoencoder, model_config

log = logging.getLogger(__name__)


def load_run(run_dir: str | Path, device: torch.device, step: int | None = None):  # -> (cfg, ae, model, step)
    """Config, autoencoder and EMA denoiser of a training run (latest checkpoint unless ``step``)."""
    run = Path(run_dir)
    if not (run / "config.json").is_file():
        raise PhylawError(f"{run} is not a training run directory (no config.json)")
    cfg = config_from_dict(json.loads((run / "config.json").read_text()))
    step = latest_step(run) if step is None else step
    if step is None:
        raise PhylawError(f"{run} has no checkpoint yet")
    state = load_checkpoint(run, step)
    ae = make_autoencoder(cfg, device)
    dit_cfg = model_config(cfg, ae)
    check_model_shape(state["dit_config"], dit_cfg, str(ckpt_path(run, step)))
    saved = dict(state["dit_config"])
    saved["input_size"] = tuple(saved["input_size"])
    with torch.device("meta"):  # no default init (no global RNG); every weight comes from the checkpoint
        model = VideoDiT(DiTConfig(**saved))
    model = model.to_empty(device="cpu")
    model.load_state_dict(state["ema"])
    return cfg, ae, model.to(device).eval().requires_grad_(False), step


def _attrs(
    run: Path, cfg, step: int, data: VideoDataset, dataset: str, steps: int, seed: int, condition: str
) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "phylaw_version": __version__,
        "dataset": str(dataset),
        "dataset_fingerprint": data.data.fingerprint,
        "scenario": data.data.scenario,
        "cond_frames": cfg.data.cond_frames,
        "n_frames": cfg.data.n_frames,
        "resolution": cfg.data.resolution,
        "checkpoint": str(ckpt_path(run, step)),
        "steps": steps,
        "seed": seed,
        "condition": condition,
        "config_json": to_json(cfg),
    }


@torch.no_grad()
def _generate(
    model,
    ae: Autoencoder,
    frames: torch.Tensor,
    idx: np.ndarray,
    c_lat: int,
    steps: int,
    seed: int,
    condition: str = DEFAULT_CONDITION,
    prediction: str = "v",
    residual: bool = False,
):
    """uint8 (B,T,H,W,3) condition videos -> generated uint8 videos, noise seeded per dataset index."""
    device = next(model.parameters()).device
    x0 = ae.encode(frames_to_tensor(frames).to(device)).float()  # (B, C, T, H, W)
    cond, mask = make_condition(x0, c_lat)
    noise = torch.stack(
        [
            torch.randn(
                x0.shape[1:], generator=torch.Generator().manual_seed(derive_seed(seed, "sample", int(i)))
            )
            for i in idx
        ]
    )  # (B, C, T, H, W)
    z = sample(
        model,
        make_train_scheduler(),
        cond,
        mask,
        steps=steps,
        generator=None,
        noise=noise,
        condition=condition,
        prediction=prediction,
        residual=residual,
    )
    videos = tensor_to_frames(ae.decode(z))  # (B, T, H, W, 3)
    videos[:, : c_lat * ae.temporal_factor] = frames[:, : c_lat * ae.temporal_factor].numpy()
    return videos


def _training_scenario(cfg, run: Path, step: int) -> str | None:
    """Scenario the run was trained on: recorded in the checkpoint's meta file (runs since 2026-11-26), else read
    from the training dataset; None when neither is there."""
    try:
        recorded = read_meta(run, step).get("scenario")
    except (OSError, ValueError):
        recorded = None
    if recorded:
        return str(recorded)
    try:
        return open_dataset(cfg.data.train).scenario
    except (PhylawError, OSError):
        return None


def sample_dataset(
    run_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    steps: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    indices: list[int] | np.ndarray | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    threads: int = 0,
    progress: bool = True,
    condition: str = DEFAULT_CONDITION,
) -> Path:
    """Generate videos for dataset rows (``indices`` or the first ``limit``) into sample file ``out``.

    ``steps`` / ``batch_size`` default to the run's ``runtime.sample_steps`` / ``runtime.sample_batch_size``.
    ``condition``: how the sampler treats the conditioning positions (diffusion.sample; recorded in the file).
    """
    if condition not in CONDITIONING:
        raise PhylawError(f"unknown --condition {condition!r}; choose {' or '.join(CONDITIONING)}")
    info = distributed.init(device)
    try:
        with distributed.cpu_threads(threads), distributed.deterministic_errors_as_phylaw():
            return _sample(
                Path(run_dir),
                data,
                Path(out),
                info,
                steps,
                seed,
                limit,
                indices,
                batch_size,
                progress,
                condition,
            )
    finally:
        distributed.teardown()


def _sample(run, data, out, info, steps, seed, limit, indices, batch_size, progress, condition) -> Path:
    if batch_size is not None and batch_size < 1:
        raise PhylawError(f"--batch-size must be >= 1, got {batch_size}")
    if steps is not None and steps < 1:
        raise PhylawError(f"sampling steps must be in [1, 1000], got {steps}")
    cfg, ae, model, step = load_run(run, info.device)
    distributed.use_deterministic_kernels(info.device, cfg.runtime.deterministic)  # as the run was trained
    steps = cfg.runtime.sample_steps if steps is None else steps
    batch_size = cfg.runtime.sample_batch_size if batch_size is None else batch_size
    ds = VideoDataset(data, resolution=cfg.data.resolution)
    if ds.data.n_frames < cfg.data.n_frames:
        raise PhylawError(
            f"dataset {data} has {ds.data.n_frames} frames per video; the model needs {cfg.data.n_frames}"
        )
    trained_on = _training_scenario(cfg, run, step)
    if trained_on is not None and trained_on != ds.data.scenario:
        raise PhylawError(
            f"the model in {run} was trained on {trained_on} videos but {data} holds {ds.data.scenario} videos"
        )
    n = len(ds)
    index = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if index.size and (index.min() < 0 or index.max() >= n):
        raise PhylawError(f"indices must lie in 0..{n - 1} for dataset {data}")
    index = index[:limit] if limit is not None else index
    if index.size == 0:
        raise PhylawError("nothing to sample (empty index selection)")
    ds = VideoDataset(ds.data, resolution=cfg.data.resolution, indices=index, n_frames=cfg.data.n_frames)
    attrs = _attrs(run, cfg, step, ds, str(data), steps, seed, condition)
    t, res = cfg.data.n_frames, cfg.data.resolution
    if is_finished(out, attrs, index):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = np.arange(info.rank, len(index), info.world_size)
    part = part_path(out, info.rank, info.world_size)
    c_lat = cond_latent_frames(cfg, ae)
    with SampleWriter(part, attrs, index[rows], t, res) as writer:
        todo = writer.todo()
        bar = tqdm(
            total=len(rows),
            initial=len(rows) - len(todo),
            desc="sample",
            unit="video",
            disable=not (progress and info.is_main),
        )
        for start in range(0, len(todo), batch_size):
            local = todo[start : start + batch_size]
            frames = torch.stack([ds[int(rows[j])][0] for j in local])  # (B, T, H, W, 3)
            videos = _generate(
                model, ae, frames, index[rows[local]], c_lat, steps, seed, condition,
                cfg.diffusion.prediction, cfg.diffusion.residual,
            )  # fmt: skip
            writer.write(local, videos)
            bar.update(len(local))
        bar.close()
    distributed.barrier(info)
    if info.is_main:
        finish(out, attrs, index, info.world_size, t, res)
    distributed.barrier(info)
    return out
