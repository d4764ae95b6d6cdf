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
    """ema <- decay * ema + (1 - decay) * model (buffers copied). One ``_foreach_lerp_`` over all parameters:
    a few fused launches on a GPU instead of one per tensor (the same arithmetic as ``lerp_`` per tensor)."""
    ema_params = dict(ema.named_parameters())
    targets = [ema_params[name] for name, _ in model.named_parameters()]
    sources = [
        p.detach().to(e.dtype) for e, p in zip(targets, model.parameters(), strict=True)
    ]  # no copy if same dtype
    torch._foreach_lerp_(targets, sources, 1.0 - decay)
    ema_buffers = dict(ema.named_buffers())
    for name, buf in model.named_buffers():
        ema_buffers[name].copy_(buf)
