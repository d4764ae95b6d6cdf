"""The learning-rate schedule: a pure function of the step (linear warm-up, then cosine decay)."""

from __future__ import annotations

import math

from phylaw.config import OptimConfig, ScheduleConfig


def get_lr(step: int, optim: OptimConfig, schedule: ScheduleConfig) -> float:
    """LR for optimizer step ``step`` (0-based).

    Warm-up: ``lr * (step + 1) / warmup_steps`` for ``step < warmup_steps``; then cosine from ``lr`` down to
    ``min_lr_ratio * lr`` at ``schedule.steps`` (and held there beyond).
    """
    peak, floor = optim.lr, optim.lr * schedule.min_lr_ratio
    if step < schedule.warmup_steps:
        return peak * (step + 1) / schedule.warmup_steps
    span = max(1, schedule.steps - schedule.warmup_steps)
    progress = min(1.0, (step - schedule.warmup_steps) / span)
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))
