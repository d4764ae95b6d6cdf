"""Diffusion core: schedulers (diffusers), the v-prediction loss, frame conditioning and the sampling loop."""

from __future__ import annotations

from phylaw.diffusion.conditioning import compressed_condition_mask, condition_anchor, make_condition
from phylaw.diffusion.losses import PREDICTIONS, LossOutput, training_loss, velocity
from phylaw.diffusion.sampler import CONDITIONING, DEFAULT_CONDITION, sample
from phylaw.diffusion.scheduler import make_sample_scheduler, make_train_scheduler

__all__ = [
    "CONDITIONING",
    "DEFAULT_CONDITION",
    "PREDICTIONS",
    "LossOutput",
    "compressed_condition_mask",
    "condition_anchor",
    "make_condition",
    "make_sample_scheduler",
    "make_train_scheduler",
    "sample",
    "training_loss",
    "velocity",
]
