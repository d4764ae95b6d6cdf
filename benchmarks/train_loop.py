"""Overhead of phylaw's training loop (train_dit) over a bare training step, measured in the same run.

Baseline: the bare step on one fixed in-memory batch (training_loss forward + backward + AdamW), nothing
else. phylaw: ``train_dit`` end to end on a real dataset file (frames read from HDF5 and kept in memory,
flips, per-micro-batch seeded noise, gradient clipping, EMA update, metrics.csv, checkpoints at the end).
Both use the same model, batch and thread count; rates are samples per CPU second of this process (robust on
a shared machine). Target: loop rate >= 0.9 x bare step rate. Also times the VideoVAE latent-cache path
(encode once, then read cached latents) against encoding every batch on the fly.

    .venv/bin/python benchmarks/train_loop.py            # cpu-tiny model, 1 thread
    .venv/bin/python benchmarks/train_loop.py --quick    # fewer steps
    python benchmarks/train_loop.py --device cuda        # GPU: wall clock, bf16; the loop with and without
                                                         # runtime.deterministic (its cost), from the trainer's
                                                         # own samples/s (setup and checkpoints excluded)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from phylaw.config import load_config
from phylaw.datasets.build import generate
from phylaw.diffusion import make_condition, make_train_scheduler, training_loss
from phylaw.models.autoencoder import save_video_vae
from phylaw.models.vae import VAEConfig, VideoVAE
from phylaw.train.data import LatentSource
from phylaw.train.logger import read_metrics
from phylaw.train.setup import make_autoencoder, make_model, model_config, open_training_data
from phylaw.train.trainer import train_dit


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_rate(cfg, steps: int, device: torch.device) -> float:
    """Samples per second of the bare step on one in-memory batch: CPU seconds of this process on CPU, wall
    seconds (synchronised) under bf16 autocast on CUDA."""
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    ae = make_autoencoder(cfg, device)
    model = make_model(cfg, model_config(cfg, ae)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, fused=device.type == "cuda")
    source = LatentSource(open_training_data(cfg), ae, device)
    b = cfg.optim.batch_size
    x0 = source.latents(np.arange(b) % len(source), np.zeros(b, dtype=bool))
    cond, mask = make_condition(x0, cfg.data.cond_frames)
    sched, gen = make_train_scheduler(), torch.Generator().manual_seed(0)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = training_loss(model, sched, x0, cond, mask, gen)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):  # warm-up
        step()
    _sync(device)
    t0 = clock()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * b / (clock() - t0)


def loop_rate(cfg, run: Path, steps: int) -> float:
    """Samples per CPU second of train_dit over steps 2..n+1 (resumed after a first warm-up step; the timed
    call includes its own setup: opening data, building the model, loading and saving a checkpoint)."""
    train_dit(cfg, run, progress=False, stop_after=1)
    t1 = time.process_time()
    train_dit(cfg, run, progress=False)
    t2 = time.process_time()
    rows = read_metrics(run)
    assert rows[-1]["step"] == steps + 1
    return steps * cfg.optim.batch_size / (t2 - t1)


def loop_rate_gpu(cfg, run: Path) -> float:
    """train_dit on CUDA: the median of the trainer's own samples/s windows after the first (setup, checkpoint
    I/O and the first window's warm-up excluded)."""
    train_dit(cfg, run, progress=False)
    rates = sorted(r["samples_per_s"] for r in read_metrics(run)[1:])
    return rates[len(rates) // 2]


def vae_cache_rates(cfg, tmp: Path, batches: int) -> tuple[float, float]:
    """Batches per CPU second: VideoVAE encode on the fly vs reading the latent cache."""
    vae = VideoVAE(VAEConfig(latent_channels=4, spatial_factor=4, base_channels=32))
    save_video_vae(tmp / "vae.pt", vae, 1.0)
    device = torch.device("cpu")
    from phylaw.config import apply_overrides

    cfg = apply_overrides(cfg, ["autoencoder.kind=vae", f"autoencoder.path={str(tmp)!r}"])
    ae = make_autoencoder(cfg, device)
    data = open_training_data(cfg)
    b = cfg.optim.batch_size
    pos, flips = np.arange(b) % len(data), np.zeros(b, dtype=bool)
    fly = LatentSource(data, ae, device)
    fly.latents(pos, flips)
    t0 = time.process_time()
    for _ in range(batches):
        fly.latents(pos, flips)
    t_fly = time.process_time() - t0
    cached = LatentSource(data, ae, device, cache_dir=tmp)
    cached.build_cache(progress=False)
    t0 = time.process_time()
    for _ in range(batches):
        cached.latents(pos, flips)
    t_cache = time.process_time() - t0
    cached.close()
    return batches / t_fly, batches / t_cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default: 12 on CPU, 4 with --quick; 600 on CUDA)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    steps = args.steps or (600 if gpu else 4 if args.quick else 12)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = generate(
            "uniform_motion", "train-30k", tmp / "train.h5", resolution=32, limit=64, progress=False
        )
        log_every = 50 if gpu else steps + 1
        cfg = load_config(
            "cpu-tiny",
            [f"data.train={str(data)!r}", f"schedule.steps={steps + 1}", "schedule.warmup_steps=1",
             f"logging.log_every={log_every}", f"logging.ckpt_every={steps + 1}", "logging.tensorboard=false",
             f"runtime.device={args.device!r}", f"runtime.threads={args.threads}"],
        )  # fmt: skip
        bare = bare_rate(cfg, steps, device)
        if gpu:  # the non-deterministic loop first: torch's deterministic mode is process-wide once set
            from phylaw.config import apply_overrides

            fast = loop_rate_gpu(apply_overrides(cfg, ["runtime.deterministic=false"]), tmp / "fast")
            det = loop_rate_gpu(cfg, tmp / "det")
        else:
            loop = loop_rate(cfg, tmp / "run", steps)
            fly, cache = vae_cache_rates(cfg, tmp, batches=3 if args.quick else 8)
    where = torch.cuda.get_device_name(device) + ", wall clock, bf16" if gpu else f"{args.threads} thread(s), CPU s"
    print(f"cpu-tiny ({cfg.model.preset}, batch {cfg.optim.batch_size}, {where}), samples per second")
    print("| measurement | baseline | phylaw | ratio |")
    print("|---|---|---|---|")
    if gpu:
        print(f"| bare step vs train_dit loop (runtime.deterministic=false) | {bare:.1f} | {fast:.1f} | {fast / bare:.2f} |")
        print(f"| bare step vs train_dit loop (runtime.deterministic=true) | {bare:.1f} | {det:.1f} | {det / bare:.2f} |")
        return
    print(f"| train step: bare step vs train_dit loop | {bare:.2f} | {loop:.2f} | {loop / bare:.2f} |")
    print(
        f"| VideoVAE latents (batches/s): encode on the fly vs cache | {fly:.2f} | {cache:.1f} | {cache / fly:.0f} |"
    )


if __name__ == "__main__":
    main()
