"""The GPU path: SDPA attention and the DiT in bf16 against higher-precision references, deterministic sampling,
and DDP over NCCL under torchrun (skipped without CUDA; run on a GPU machine with ``pytest -m gpu``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from phylaw.config import apply_overrides, load_config
from phylaw.diffusion import make_condition
from phylaw.models.layers import attention
from phylaw.models.presets import build_dit
from phylaw.train.checkpoint import latest_step
from phylaw.train.logger import read_metrics
from phylaw.train.sampling import sample_dataset
from phylaw.train.trainer import train_dit

from .conftest import micro_overrides

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
WORKER = Path(__file__).with_name("ddp_worker.py")


def _rel(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double() - ref.double()).norm() / ref.double().norm())


@pytest.mark.parametrize("tokens", [128, 2048])
def test_sdpa_bf16_on_cuda_matches_float64(tokens):
    g = torch.Generator(device="cuda").manual_seed(tokens)
    q, k, v = (torch.randn(2, 6, tokens, 64, device="cuda", generator=g) for _ in range(3))
    ref = torch.softmax(q.double() @ k.double().transpose(-2, -1) / 8.0, dim=-1) @ v.double()
    out = attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out).all()
    assert _rel(out, ref) < 1e-2
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # the fused flash kernel accepts phylaw's shapes and dtype
        flash = attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert _rel(flash, ref) < 1e-2


def test_dit_bf16_autocast_on_cuda_matches_fp32():
    model = build_dit("DiT-S", input_size=(8, 8, 8), device="cuda", seed=0)
    g = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(2, model.cfg.latent_channels, 8, 8, 8, device="cuda", generator=g)
    cond, mask = make_condition(x, 3)
    t = torch.tensor([10, 900], device="cuda")
    torch.nn.init.normal_(model.final_layer.linear.weight, std=0.02)  # adaLN-zero: a zero output compares nothing
    with torch.no_grad():
        ref = model(x, t, cond, mask)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x, t, cond, mask)
    assert torch.isfinite(out).all()
    assert _rel(out.float(), ref) < 3e-2


def test_cuda_training_and_sampling_are_deterministic(tiny_data, tmp_path):
    cfg = apply_overrides(load_config("cpu-tiny", micro_overrides(tiny_data)), ["runtime.device=cuda"])
    runs = [train_dit(cfg, tmp_path / f"run{i}", progress=False) for i in range(2)]
    losses = [[r["loss"] for r in read_metrics(run)] for run in runs]
    assert losses[0] == losses[1]
    frames = []
    for i, run in enumerate(runs):
        out = sample_dataset(run, tiny_data, tmp_path / f"s{i}.h5", steps=3, limit=3, device="cuda", progress=False)
        with h5py.File(out, "r") as f:
            frames.append(f["frames"][:])
    np.testing.assert_array_equal(frames[0], frames[1])


def test_torchrun_nccl_matches_single_process(tiny_data, tmp_path):
    sets = [*micro_overrides(tiny_data), "runtime.device=cuda", "schedule.steps=4"]
    single = train_dit(load_config("cpu-tiny", sets), tmp_path / "single", progress=False)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    n = torch.cuda.device_count()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), str(WORKER),
           "train", str(tmp_path / "ddp"), *sets, f"optim.micro_batch_size={4 // n if 4 % n == 0 else 4}"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = read_metrics(single), read_metrics(tmp_path / "ddp")
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b, strict=True):  # bf16 autocast on both sides: same arithmetic on one GPU
        assert abs(ra["loss"] - rb["loss"]) < 2e-2 * max(1.0, abs(ra["loss"]))
    assert latest_step(tmp_path / "ddp") == 4


def test_vae_then_latent_dit_on_cuda(tiny_data, tmp_path):
    """The demo's path on a GPU: VideoVAE training (posterior noise from a CPU generator), the latent cache, a DiT
    on the latents; the VAE's losses on CUDA follow the CPU run's closely (same data, init and noise)."""
    from phylaw.train.vae_trainer import train_vae

    sets = [f"data.train={tiny_data}", "data.resolution=16", "data.n_frames=8", "schedule.steps=4",
            "schedule.warmup_steps=2", "logging.tensorboard=false", "logging.log_every=1",
            "autoencoder.base_channels=8"]  # fmt: skip
    runs = {d: train_vae(load_config("vae-cpu", [*sets, f"runtime.device={d}"]), tmp_path / d, progress=False)
            for d in ("cpu", "cuda")}  # fmt: skip
    cpu, gpu = ([r["loss"] for r in read_metrics(runs[d])] for d in ("cpu", "cuda"))
    np.testing.assert_allclose(gpu, cpu, rtol=2e-2)
    dit = [*micro_overrides(tiny_data), "runtime.device=cuda", "autoencoder.kind=vae",
           f"autoencoder.path={runs['cuda']}", "autoencoder.base_channels=8", "autoencoder.spatial_factor=4",
           "model.patch_size=1", "model.patch_t=1", "schedule.steps=2"]  # fmt: skip
    run = train_dit(load_config("cpu-tiny", dit), tmp_path / "dit", progress=False)
    assert all(np.isfinite(r["loss"]) for r in read_metrics(run))
