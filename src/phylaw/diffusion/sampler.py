"""The only denoising loop: frame-conditioned DDIM sampling on trailing timesteps."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler
from torch import Tensor, nn
from tqdm.auto import tqdm

from phylaw.diffusion.conditioning import condition_anchor
from phylaw.diffusion.losses import velocity
from phylaw.diffusion.scheduler import make_sample_scheduler
from phylaw.errors import PhylawError

CONDITIONING = ("reimpose", "free")  # see sample(condition=...)
DEFAULT_CONDITION = "reimpose"  # measured: docs/training.md, "Conditioning during sampling"


@torch.no_grad()
def sample(
    model: nn.Module,
    scheduler: DDPMScheduler | DDIMScheduler,
    cond: Tensor,
    mask: Tensor,
    *,
    steps: int = 50,
    generator: torch.Generator | None,
    progress: bool = False,
    keep_condition: bool = True,
    noise: Tensor | None = None,
    condition: str = DEFAULT_CONDITION,
    prediction: str = "v",
    residual: bool = False,
) -> Tensor:
    """Generate clean latents (B, C, T, H, W) given condition latents ``cond`` and ``mask`` (B, 1, T, H, W).

    ``scheduler`` is the training (or any) scheduler: a fresh DDIM copy with its betas is made for ``steps``
    trailing steps, so the caller's scheduler is never mutated. The start noise x_T ~ N(0, I) is drawn from
    ``generator`` (on its device, then moved), and DDIM with eta = 0 is deterministic after that.

    condition: what x_t holds at the conditioning positions (mask == 1) when the model is called.
    ``"reimpose"``: before every model call they are set to ``add_noise(cond, x_T, t)``, the condition noised
    to the current step with the start noise as its one fixed draw, as in training, where x_t there is the
    real data noised with the sample's single ε (at the first step, where ᾱ = 0, this is x_T itself).
    ``"free"``: they follow the DDIM updates driven by the model's output there, which the loss never trains,
    so x_t there is not the noised condition that training showed; the model sees the real condition only
    through its cond/mask channels. Positions with
    0 < mask < 1 (partly conditioned latent frames of a temporally compressing autoencoder) are generated
    either way. docs/training.md has the measurement that chose the default of ``phylaw sample``.

    The result is the x0 prediction of the last step. When ``steps`` divides ``num_train_timesteps`` this is
    exactly DDIM's final ``prev_sample`` (which steps to ᾱ = 1); otherwise diffusers' trailing DDIM stops at
    t = 0 (ᾱ ≈ 0.9999) and its ``prev_sample`` would keep √(1-ᾱ) ≈ 1 % of noise.

    keep_condition (default True): at the end, positions with mask == 1 are set to ``cond``. The loss never
    trains those positions, so the model's output there is arbitrary, while the exact latents are known
    (they are the condition); this makes decoded videos start with the real conditioning frames. Pass
    False to get the raw model output everywhere.

    noise: optional start noise x_T (B, C, T, H, W) given by the caller instead of drawing it from
    ``generator`` (e.g. per-video seeds, so a video does not depend on the batch it is sampled in).

    prediction / residual: how the model was trained (``diffusion.prediction``, ``diffusion.residual``): its
    output is v or x0 (``losses.velocity`` turns x0 into v exactly), and with ``residual`` the denoised
    variable is x0 minus the last conditioning frame (``condition_anchor``), which is added back at the end
    (the model's cond channels hold the real condition either way).
    """
    if condition not in CONDITIONING:
        raise PhylawError(f"unknown condition mode {condition!r}; choose {' or '.join(CONDITIONING)}")
    sched = make_sample_scheduler(scheduler, steps)
    if noise is None and generator is None:
        raise ValueError("sample() needs a generator or the start noise")
    if noise is not None and noise.shape != cond.shape:
        raise ValueError(f"start noise {tuple(noise.shape)} must have the latent shape {tuple(cond.shape)}")
    if noise is None:
        noise = torch.randn(cond.shape, generator=generator, device=generator.device, dtype=torch.float32)
    x = noise.to(cond.device, torch.float32) * sched.init_noise_sigma  # (B, C, T, H, W)
    cond = cond.to(torch.float32)
    anchor = condition_anchor(cond, mask) if residual else torch.zeros_like(cond)  # (B, C, T, H, W)
    target_cond = cond - anchor  # the condition in the denoised variable
    start = noise.to(cond.device, torch.float32)  # (B, C, T, H, W), the fixed draw for the condition
    given = mask >= 1  # (B, 1, T, H, W)
    x0 = x
    for t in tqdm(sched.timesteps, desc="sampling", leave=False, disable=not progress):
        t_batch = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)  # (B,)
        if condition == "reimpose":
            x = torch.where(given, sched.add_noise(target_cond, start, t_batch), x)  # (B, C, T, H, W)
        out = model(x, t_batch, cond, mask).to(torch.float32)  # (B, C, T, H, W)
        v = velocity(out, x, t_batch, sched.alphas_cumprod, prediction)
        out = sched.step(v, t, x, eta=0.0)
        x, x0 = out.prev_sample, out.pred_original_sample  # (B, C, T, H, W) each
    x = x0 + anchor  # the last x0 prediction: see the docstring
    if keep_condition:
        x = torch.where(given, cond, x)  # (B, C, T, H, W)
    return x
