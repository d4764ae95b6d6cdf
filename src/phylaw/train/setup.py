"""Shared construction for training and sampling: dataset view, autoencoder, DiT shaped for the latents."""

from __future__ import annotations

import numpy as np
import torch

from phylaw.config import TrainConfig
from phylaw.datasets.torch_dataset import VideoDataset
from phylaw.errors import PhylawError
from phylaw.models.autoencoder import Autoencoder, build_autoencoder
from phylaw.models.dit import DiTConfig, VideoDiT
from phylaw.models.presets import build_dit, dit_config
from phylaw.seeding import derive_seed

# peak dense bf16 tensor FLOP/s per GPU (no sparsity), matched against torch.cuda.get_device_name()
PEAK_BF16_FLOPS: dict[str, float] = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "4090": 165e12,
    "V100": 125e12,
}


def peak_flops(device: torch.device) -> float | None:
    """The card's peak bf16 FLOP/s if known (for MFU), None on CPU or unknown cards."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def open_training_data(cfg: TrainConfig, path: str | None = None) -> VideoDataset:
    """The dataset view the model is trained on (resolution, first n_frames, first ``limit`` videos)."""
    source = path or cfg.data.train
    if not source:
        raise PhylawError("no training data: set data.train (e.g. --set data.train=DATASET.h5)")
    data = VideoDataset(source, resolution=cfg.data.resolution)
    n_avail = data.data.n_frames
    if n_avail < cfg.data.n_frames:
        raise PhylawError(
            f"dataset {source} has {n_avail} frames per video but the model needs data.n_frames={cfg.data.n_frames}"
        )
    n = len(data) if cfg.data.limit is None else min(len(data), cfg.data.limit)
    if n < 1:
        raise PhylawError(f"dataset {source} has no videos to train on")
    return VideoDataset(
        data.data, resolution=cfg.data.resolution, indices=np.arange(n), n_frames=cfg.data.n_frames
    )


def make_autoencoder(cfg: TrainConfig, device: torch.device) -> Autoencoder:
    ae = build_autoencoder(cfg.autoencoder.kind, cfg.autoencoder.path, cfg.autoencoder.space_to_depth)
    if ae.temporal_factor != 1:
        raise PhylawError(
            f"autoencoder {cfg.autoencoder.kind} compresses time (x{ae.temporal_factor}); phylaw's training loop "
            "supports temporal factor 1 (identity, VideoVAE, image AutoencoderKL)"
        )
    return ae.to(device)


def model_config(cfg: TrainConfig, ae: Autoencoder) -> DiTConfig:
    """The preset's DiTConfig with latent channels / size from the autoencoder and the data geometry."""
    c, t, h, w = ae.latent_shape(cfg.data.n_frames, cfg.data.resolution)
    overrides: dict[str, object] = {"latent_channels": c, "input_size": (t, h, w)}
    if cfg.model.patch_size is not None:
        overrides["patch_size"] = cfg.model.patch_size
    if cfg.model.patch_t is not None:
        overrides["patch_t"] = cfg.model.patch_t
    return dit_config(cfg.model.preset, **overrides)


def make_model(cfg: TrainConfig, dit_cfg: DiTConfig) -> VideoDiT:
    """The DiT with weights initialised from (runtime.seed, "init") on the CPU."""
    overrides = dit_cfg.to_dict()
    overrides["input_size"] = tuple(overrides["input_size"])
    return build_dit(cfg.model.preset, seed=derive_seed(cfg.runtime.seed, "init"), **overrides)


def check_model_shape(saved: dict, dit_cfg: DiTConfig, where: str) -> None:
    """One clear line if a checkpoint's model shape differs from the one the config/data ask for."""
    want = dit_cfg.to_dict()
    diff = [k for k in want if k in saved and saved[k] != want[k] and k != "grad_checkpoint"]
    if diff:
        parts = ", ".join(f"{k}={saved[k]} vs {want[k]}" for k in diff)
        raise PhylawError(
            f"checkpoint {where} has another model shape than the config and data ask for: {parts}"
        )


def cond_latent_frames(cfg: TrainConfig, ae: Autoencoder) -> int:
    """Conditioning frames in latent frames (temporal factor 1: equal to data.cond_frames)."""
    return cfg.data.cond_frames // ae.temporal_factor


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA by default (``auto``), fp32 on CPU; None means no autocast."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    return torch.bfloat16
