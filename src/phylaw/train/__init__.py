"""Training and sampling: ``train_dit``, ``train_vae``, ``sample_dataset`` (docs/training.md)."""

from __future__ import annotations

from phylaw.train.lr import get_lr
from phylaw.train.sampling import sample_dataset
from phylaw.train.trainer import encode_latents, train_dit
from phylaw.train.vae_trainer import train_vae, vae_report

__all__ = ["encode_latents", "get_lr", "sample_dataset", "train_dit", "train_vae", "vae_report"]
