"""Noise schedules: diffusers' DDPMScheduler for training, DDIMScheduler on trailing timesteps for sampling.

Both use v-prediction and a zero-terminal-SNR schedule (Lin et al. 2024, ``rescale_betas_zero_snr=True``):
ᾱ at the last training step is exactly 0, so the model learns to start from pure noise. Schedule family:
DDPM's linear betas 1e-4 -> 0.02 over 1000 steps (designed for 32x32 images, which matches phylaw's small
latent/pixel grids better than Stable Diffusion's "scaled_linear"), then rescaled to zero terminal SNR.
Schedulers hold no weights and are not nn.Modules; the network never sees betas.
"""

from __future__ import annotations

from diffusers import DDIMScheduler, DDPMScheduler

from phylaw.errors import PhylawError

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


def make_train_scheduler(
    num_train_timesteps: int = 1000,
    *,
    beta_schedule: str = "linear",
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
) -> DDPMScheduler:
    """The training noise process: v-prediction, zero terminal SNR, ``num_train_timesteps`` discrete steps."""
    if num_train_timesteps < 2:
        raise PhylawError(f"num_train_timesteps must be >= 2, got {num_train_timesteps}")
    if beta_schedule not in BETA_SCHEDULES:
        raise PhylawError(
            f"unknown beta schedule {beta_schedule!r}; choose one of {', '.join(BETA_SCHEDULES)}"
        )
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        beta_start=beta_start,
        beta_end=beta_end,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        clip_sample=False,
        timestep_spacing="trailing",
    )


def make_sample_scheduler(train_scheduler: DDPMScheduler | DDIMScheduler, steps: int = 50) -> DDIMScheduler:
    """A fresh deterministic DDIM (eta = 0) scheduler with the training betas on ``steps`` trailing timesteps.

    Trailing spacing starts at t = T - 1 (where ᾱ = 0, pure noise) as zero terminal SNR requires; the last
    step goes to ᾱ = 1 (``set_alpha_to_one``), so the final sample is the model's x0 prediction.
    """
    if steps < 1 or steps > train_scheduler.config.num_train_timesteps:
        raise PhylawError(
            f"sampling steps must be in [1, {train_scheduler.config.num_train_timesteps}], got {steps}"
        )
    cfg = train_scheduler.config
    scheduler = DDIMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        beta_start=cfg.beta_start,
        beta_end=cfg.beta_end,
        trained_betas=cfg.trained_betas,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=cfg.rescale_betas_zero_snr,
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )
    scheduler.set_timesteps(steps)
    return scheduler
