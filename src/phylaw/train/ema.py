"""Exponential moving average of model weights (the weights used for sampling)."""

from __future__ import annotations

import torch
from torch import nn

from phylaw.config import EMAConfig


def ema_decay(step: int, cfg: EMAConfig) -> float:
    """Decay applied after optimizer step ``step`` (0-based): ``min(decay, (1 + s) / (10 + s))`` with warm-up."""
    if not cfg.warmup:
        return cfg.decay
    return min(cfg.decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter (buffers copied)."""
    ema_params = dict(ema.named_parameters())
    for name, param in model.named_parameters():
        ema_params[name].lerp_(param.detach().to(ema_params[name].dtype), 1.0 - decay)
    ema_buffers = dict(ema.named_buffers())
    for name, buf in model.named_buffers():
        ema_buffers[name].copy_(buf)
