"""The training objective: v-prediction MSE on the generated (mask < 1) positions.

What the network outputs is ``prediction`` (:data:`PREDICTIONS`): ``"v"`` (the velocity itself, the default) or
``"x0"`` (the clean latents, turned into v by :func:`velocity` before the same v loss: "x-prediction, v-loss"
of Li & He 2025, arXiv 2511.13720). x0 matters when a token carries more values than the model's width (a
spatial patch 8 x 8 x 2 of 4 channels is 512 values for a 128-wide DiT-tiny): v and ε contain the noise, which
is full-dimensional and cannot pass such a bottleneck, while clean latents lie near a low-dimensional set that
can (docs/table2.md, "The DiT on x4 latents").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDPMScheduler
from torch import Tensor, nn

from phylaw.errors import PhylawError

PREDICTIONS = ("v", "x0")
# training's floor on sqrt(1 - alpha_bar) when x0 is turned into v (JiT clips 1 - t at 0.05): the v loss weighs an
# x0 error by 1 / (1 - alpha_bar), which would be 1e4 at the least noisy DDPM step
X0_MIN_SIGMA = 0.05


def velocity(
    out: Tensor, x_t: Tensor, t: Tensor, alphas_cumprod: Tensor, prediction: str, *, min_sigma: float = 0.0
) -> Tensor:
    """The v the network's output ``out`` (B, C, T, H, W) stands for, at noisy latents x_t and steps t (B,).

    ``"v"``: out itself. ``"x0"``: v = (√ᾱ x_t - x0) / √(1-ᾱ) (x_t = √ᾱ x0 + √(1-ᾱ) ε, v = √ᾱ ε - √(1-ᾱ) x0),
    with √(1-ᾱ) floored at ``min_sigma``; DDIM's x0 from this v is exactly ``out`` when the floor does not bite.
    """
    if prediction == "v":
        return out
    if prediction != "x0":
        raise PhylawError(f"unknown prediction {prediction!r}; choose one of {', '.join(PREDICTIONS)}")
    ab = alphas_cumprod.to(x_t.device, torch.float32)[t.to(x_t.device)]  # (B,)
    ab = ab.view(-1, 1, 1, 1, 1)  # (B, 1, 1, 1, 1)
    sigma = (1 - ab).sqrt().clamp_min(min_sigma)
    return (ab.sqrt() * x_t.float() - out.float()) / sigma  # (B, C, T, H, W)


@dataclass(frozen=True)
class LossOutput:
    """loss: scalar to backpropagate (mean of mse_per_sample); mse_per_sample (B,): detached per-video MSE
    over generated positions; timesteps (B,): the sampled diffusion steps (for loss-vs-t logging)."""

    loss: Tensor
    mse_per_sample: Tensor
    timesteps: Tensor


def sample_timesteps(
    n: int,
    n_steps: int,
    generator: torch.Generator,
    *,
    kind: str = "uniform",
    mean: float = 0.0,
    std: float = 1.0,
) -> Tensor:
    """(n,) int64 diffusion steps in [0, n_steps) on the generator's device.

    ``uniform``: t ~ U{0, ..., n_steps-1}. ``logit_normal``: t = floor(n_steps * sigmoid(mean + std * z)),
    z ~ N(0, 1) (the logit-normal of Esser et al. 2024 on a discrete schedule; mean > 0 favours high noise).
    """
    if kind == "uniform":
        return torch.randint(0, n_steps, (n,), generator=generator, device=generator.device)
    if kind == "logit_normal":
        z = torch.randn((n,), generator=generator, device=generator.device, dtype=torch.float64)
        u = torch.sigmoid(mean + std * z)
        return (u * n_steps).floor().long().clamp_(0, n_steps - 1)
    raise PhylawError(f"unknown timestep sampling {kind!r}; choose uniform or logit_normal")


def training_loss(
    model: nn.Module,
    scheduler: DDPMScheduler,
    x0: Tensor,
    cond: Tensor,
    mask: Tensor,
    generator: torch.Generator,
    *,
    timesteps: str = "uniform",
    logit_mean: float = 0.0,
    logit_std: float = 1.0,
    prediction: str = "v",
) -> LossOutput:
    """One v-prediction loss evaluation for clean latents x0 (B, C, T, H, W).

    t (``sample_timesteps``: uniform by default) and ε ~ N(0, I) are drawn from ``generator`` (on its own
    device, then moved to x0's, so a CPU generator gives the same draws for CPU and GPU training);
    x_t = √ᾱ x0 + √(1-ᾱ) ε through ``scheduler.add_noise``; target v = √ᾱ ε - √(1-ᾱ) x0 through
    ``scheduler.get_velocity``. The squared error is averaged over the positions where mask < 1 (every
    channel), per video, then over the batch; conditioning positions (mask == 1) contribute nothing. Runs
    under whatever autocast the caller set; the error is computed in fp32. ``prediction="x0"``: the model's
    output is read as x0 (:func:`velocity`, √(1-ᾱ) floored at :data:`X0_MIN_SIGMA` in both pred and target).
    """
    b = x0.shape[0]
    n_steps = scheduler.config.num_train_timesteps
    t = sample_timesteps(b, n_steps, generator, kind=timesteps, mean=logit_mean, std=logit_std).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=generator.device, dtype=x0.dtype).to(x0.device)
    x_t = scheduler.add_noise(x0, noise, t)  # (B, C, T, H, W)
    out = model(x_t, t, cond, mask)  # (B, C, T, H, W)
    if prediction == "v":
        target, pred = scheduler.get_velocity(x0, noise, t), out  # (B, C, T, H, W) each
    else:  # the v of the true x0 through the same floored conversion: the loss is |x0_hat - x0|^2 / sigma^2
        ab = scheduler.alphas_cumprod
        target = velocity(x0, x_t, t, ab, prediction, min_sigma=X0_MIN_SIGMA)
        pred = velocity(out, x_t, t, ab, prediction, min_sigma=X0_MIN_SIGMA)
    weight = (mask < 1).to(torch.float32)  # (B, 1, T, H, W)
    sq = (pred.float() - target.float()).square() * weight  # (B, C, T, H, W)
    count = (weight.flatten(1).sum(1) * x0.shape[1]).clamp_min(1.0)  # (B,)
    mse = sq.flatten(1).sum(1) / count  # (B,)
    return LossOutput(loss=mse.mean(), mse_per_sample=mse.detach(), timesteps=t)
