"""``train_dit``: the DiT training loop (one process on CPU/GPU, or DDP under torchrun), resumable exactly.

Everything random is a pure function of (runtime.seed, step, micro-batch): data order and flips
(:mod:`phylaw.train.data`), diffusion timesteps and noise (a CPU ``torch.Generator`` per micro-batch). A
checkpoint therefore only needs model, EMA and optimizer states plus the step, and a run killed and resumed
produces the same losses and weights as an uninterrupted one, on any number of ranks.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from phylaw import __version__
from phylaw.config import TrainConfig, to_dict, to_json
from phylaw.diffusion import condition_anchor, make_condition, make_train_scheduler, training_loss
from phylaw.errors import PhylawError
from phylaw.io import write_text
from phylaw.models.dit import model_flops_per_sample
from phylaw.seeding import derive_seed
from phylaw.train import distributed
from phylaw.train.checkpoint import (
    ckpt_path,
    latest_step,
    load_checkpoint,
    save_checkpoint,
)
from phylaw.train.data import BatchOrder, LatentSource, flip_flags
from phylaw.train.ema import ema_decay, update_ema
from phylaw.train.logger import MetricsLogger
from phylaw.train.lr import get_lr
from phylaw.train.setup import (
    autocast_dtype,
    check_model_shape,
    cond_latent_frames,
    make_autoencoder,
    make_model,
    model_config,
    open_training_data,
    peak_flops,
)

log = logging.getLogger(__name__)


def micro_layout(cfg: TrainConfig, world_size: int) -> tuple[int, int]:
    """(micro-batch size, number of micro-batches per step); errors if the batch does not split evenly."""
    b = cfg.optim.batch_size
    micro = cfg.optim.micro_batch_size or max(1, b // world_size)
    if b % micro or (b // micro) % world_size:
        raise PhylawError(
            f"optim.batch_size={b} must split into micro-batches of {micro} shared evenly by {world_size} ranks"
        )
    return micro, b // micro


def train_dit(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
) -> Path:
    """Train (or continue) a DiT run in ``out_dir``; returns the run directory.

    resume=True continues from the latest checkpoint (a finished run returns at once); resume=False refuses a
    directory that already holds checkpoints. ``stop_after`` ends this call after that optimizer step (with a
    checkpoint), as if the job had been killed there: used to test exact resumption.
    """
    info = distributed.init(cfg.runtime.device)
    distributed.use_deterministic_kernels(info.device, cfg.runtime.deterministic)
    try:
        with distributed.cpu_threads(cfg.runtime.threads), distributed.deterministic_errors_as_phylaw():
            return _train(cfg, Path(out_dir), info, resume=resume, progress=progress, stop_after=stop_after)
    finally:
        distributed.teardown()


def encode_latents(cfg: TrainConfig, out_dir: str | Path, *, progress: bool = True) -> Path | None:
    """Build the run's latent cache now (what ``train_dit`` would build first); None for pixel space."""
    device = distributed.resolve_device(cfg.runtime.device)
    distributed.use_deterministic_kernels(device, cfg.runtime.deterministic)
    data = open_training_data(cfg)
    ae = make_autoencoder(cfg, device)
    model_config(cfg, ae)  # the geometry must fit before anything is written
    source = LatentSource(
        data, ae, device, cache_dir=Path(cfg.data.cache_dir or out_dir), hflip=cfg.data.hflip
    )
    return source.build_cache(progress=progress)


def _cache_dir(cfg: TrainConfig, run_dir: Path) -> Path | None:
    """The latent cache's directory: ``data.cache_dir`` when set, else the run dir (None: no cache)."""
    return Path(cfg.data.cache_dir or run_dir) if cfg.data.cache_latents else None


def _train(
    cfg: TrainConfig,
    run_dir: Path,
    info: distributed.DistInfo,
    *,
    resume: bool,
    progress: bool,
    stop_after: int | None,
) -> Path:
    device = info.device
    data = open_training_data(cfg)
    ae = make_autoencoder(cfg, device)
    dit_cfg = model_config(cfg, ae)
    micro, n_micro = micro_layout(cfg, info.world_size)
    n_local = n_micro // info.world_size
    c_lat = cond_latent_frames(cfg, ae)

    model = make_model(cfg, dit_cfg)
    ema = copy.deepcopy(model).requires_grad_(False)
    model, ema = model.to(device), ema.to(device)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.optim.lr,
        betas=cfg.optim.betas,
        weight_decay=cfg.optim.weight_decay,
        eps=cfg.optim.eps,
        fused=device.type == "cuda",
    )
    start = _restore(run_dir, resume, cfg, dit_cfg, data.data.fingerprint, model, ema, opt)
    total = cfg.schedule.steps
    if start >= total:
        log.info("run %s is complete (%d steps)", run_dir, start)
        return run_dir
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / "config.json", to_json(cfg))
        log.info("training config:\n%s", to_json(cfg))
        log.info(
            "model %s: %.2fM parameters, %d tokens",
            cfg.model.preset,
            sum(p.numel() for p in model.parameters()) / 1e6,
            dit_cfg.num_tokens,
        )

    source = LatentSource(data, ae, device, cache_dir=_cache_dir(cfg, run_dir), hflip=cfg.data.hflip)
    if info.is_main:
        source.build_cache(progress=progress)
    distributed.barrier(info)

    net = model
    if info.distributed:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    scheduler = make_train_scheduler()
    amp = autocast_dtype(cfg.runtime.precision, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    flops = model_flops_per_sample(dit_cfg, training=True)
    peak = peak_flops(device)
    logger = MetricsLogger(run_dir, start, tensorboard=cfg.logging.tensorboard) if info.is_main else None
    seed, b = cfg.runtime.seed, cfg.optim.batch_size
    order = BatchOrder(len(source), seed)
    end = total if stop_after is None else min(total, stop_after)
    window: list[float] = []
    t_window = time.perf_counter()
    bar = _progress(start, end, progress and info.is_main)
    stop = distributed.StopSignal()
    try:
        for step in range(start, end):
            lr = get_lr(step, cfg.optim, cfg.schedule)
            for group in opt.param_groups:
                group["lr"] = lr
            positions = order.indices(step, b)  # (B,)
            flips = flip_flags(step, b, seed, cfg.data.hflip)  # (B,)
            loss_sum = torch.zeros((), device=device)
            mine = list(range(info.rank, n_micro, info.world_size))
            for k, m in enumerate(mine):
                sl = slice(m * micro, (m + 1) * micro)
                x0 = source.latents(positions[sl], flips[sl])  # (b, C, T, H, W)
                cond, mask = make_condition(x0, c_lat)
                if cfg.diffusion.residual:
                    x0 = x0 - condition_anchor(cond, mask)  # (b, C, T, H, W)
                gen = torch.Generator().manual_seed(derive_seed(seed, "noise", step, m))
                sync = (
                    contextlib.nullcontext() if k == len(mine) - 1 or not info.distributed else net.no_sync()
                )
                with sync, torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                    out = training_loss(
                        net, scheduler, x0, cond, mask, gen, timesteps=cfg.diffusion.timesteps,
                        logit_mean=cfg.diffusion.logit_mean, logit_std=cfg.diffusion.logit_std,
                        prediction=cfg.diffusion.prediction,
                    )  # fmt: skip
                    (out.loss / n_local).backward()
                loss_sum += out.loss.detach().float()
            clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            stop_flag = torch.tensor(float(stop.requested), device=device)
            stats = distributed.all_reduce_mean(
                torch.stack([loss_sum / n_local, grad_norm.float(), stop_flag]), info
            )
            loss = float(stats[0])
            if not (math.isfinite(loss) and math.isfinite(float(stats[1]))):
                last = latest_step(run_dir)
                kept = (
                    f"last good checkpoint: {ckpt_path(run_dir, last).name}"
                    if last is not None
                    else "no checkpoint yet"
                )
                raise PhylawError(
                    f"loss became {loss} at step {step} (grad norm {float(stats[1])}); stopped, {kept}"
                )
            opt.step()
            opt.zero_grad(set_to_none=True)
            update_ema(ema, model, ema_decay(step, cfg.ema))
            window.append(loss)
            done = step + 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
            if done % cfg.logging.log_every == 0 or done == total:
                dt = time.perf_counter() - t_window
                rate = len(window) * b / max(dt, 1e-9)
                row = {
                    "step": done,
                    "loss": sum(window) / len(window),
                    "lr": lr,
                    "grad_norm": float(stats[1]),
                    "samples_per_s": rate,
                    "tokens_per_s": rate * dit_cfg.num_tokens,
                    "mfu": flops * rate / (peak * info.world_size) if peak else float("nan"),
                }
                if logger is not None:
                    logger.log(row)
                window, t_window = [], time.perf_counter()
            stopping = float(stats[2]) > 0  # a rank got SIGTERM/SIGINT: checkpoint this step, then stop
            if done % cfg.logging.ckpt_every == 0 or done == end or stopping:
                if info.is_main:
                    _save(run_dir, done, cfg, dit_cfg, data, model, ema, opt, loss)
                distributed.barrier(info)
                t_window = time.perf_counter()  # checkpoint I/O is not training throughput
            if stopping:
                raise KeyboardInterrupt(
                    f"stopped by a signal after step {done}; checkpoint written, resume to continue"
                )
    finally:
        stop.restore()
        bar.close()
        source.close()
        if logger is not None:
            logger.close()
    return run_dir


def _progress(start: int, end: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=end, initial=start, desc="train", disable=not enabled, dynamic_ncols=True)


def _restore(run_dir, resume, cfg, dit_cfg, fingerprint, model, ema, opt) -> int:
    """Load the latest checkpoint into model/EMA/optimizer and return its step (0 for a fresh run)."""
    step = latest_step(run_dir)
    if step is None:
        return 0
    if not resume:
        raise PhylawError(
            f"{run_dir} already holds checkpoints; pass --resume to continue it or choose a new --out"
        )
    state = load_checkpoint(run_dir, step, map_location=model.parameters().__next__().device)
    check_model_shape(state["dit_config"], dit_cfg, str(ckpt_path(run_dir, step)))
    if state.get("dataset_fingerprint") != fingerprint:
        raise PhylawError(
            f"{run_dir} was trained on another dataset (fingerprint differs from {cfg.data.train})"
        )
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    opt.load_state_dict(state["optimizer"])
    log.info("resuming %s from step %d", run_dir, step)
    return step


def _save(run_dir, step, cfg, dit_cfg, data, model, ema, opt, loss) -> None:
    state = {
        "step": step,
        "model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": opt.state_dict(),
        "dit_config": dit_cfg.to_dict(),
        "config": to_dict(cfg),
        "dataset_fingerprint": data.data.fingerprint,
    }
    meta = {
        "loss": loss,
        "config": to_dict(cfg),
        "dit_config": dit_cfg.to_dict(),
        "dataset": cfg.data.train,
        "dataset_fingerprint": data.data.fingerprint,
        "scenario": data.data.scenario,  # lets `sample` check the scenario after the dataset is gone
        "n_videos": len(data),
        "phylaw_version": __version__,
    }
    save_checkpoint(run_dir, step, state, meta, cfg.logging.keep_last)
