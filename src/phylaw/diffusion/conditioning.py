"""Frame conditioning as data (STYLE rule 11): zero-padded condition latents plus a binary mask.

The model input is x_t ‖ cond ‖ mask on the channel axis. ``mask`` is 1 on conditioning positions; the loss
covers the positions where ``mask < 1`` (the generated frames).

With an autoencoder that does not compress time (identity, phylaw's VideoVAE: latent frame k = video frame k),
use :func:`make_condition` on the clean latents. With a temporally compressing autoencoder (latent frame k
covers several video frames), encode the *zero-padded pixel video* (first c frames real, the rest zeros) to
get ``cond``, and use :func:`compressed_condition_mask` for the mask: each latent frame gets the fraction of
its video frames that are conditioning frames. Latent frames that are entirely conditioning get 1 (no loss;
:func:`~phylaw.diffusion.sampler.sample` copies ``cond`` there), partly conditioned ones get a value in (0, 1)
(the model sees how much is given, and they are still trained and generated).
"""

from __future__ import annotations

import torch
from torch import Tensor

from phylaw.errors import PhylawError


def make_condition(x0: Tensor, n_cond_frames: int) -> tuple[Tensor, Tensor]:
    """(cond, mask) for latents x0 (B, C, T, H, W) whose first ``n_cond_frames`` latent frames are given.

    cond (B, C, T, H, W) equals x0 on those frames and is zero elsewhere; mask (B, 1, T, H, W) is 1 there.
    """
    b, _, t, h, w = x0.shape
    if not 0 <= n_cond_frames < t:
        raise PhylawError(f"n_cond_frames must be in [0, {t}) for {t} latent frames, got {n_cond_frames}")
    mask = torch.zeros(b, 1, t, h, w, dtype=x0.dtype, device=x0.device)  # (B, 1, T, H, W)
    mask[:, :, :n_cond_frames] = 1
    return x0 * mask, mask  # (B, C, T, H, W), (B, 1, T, H, W)


def compressed_condition_mask(
    n_cond_frames: int, n_frames: int, temporal_factor: int, *, causal: bool = True
) -> Tensor:
    """Per-latent-frame conditioning fraction (T_latent,) for a temporally compressing autoencoder.

    causal=True: the MAGVIT-v2 / CogVideoX layout, latent 0 = frame 0 and latent k >= 1 = frames
    (k-1)·f + 1 ... k·f (n_frames = 1 + f·(T_latent - 1)); causal=False: latent k = frames k·f ... k·f + f - 1.
    Broadcast it to (B, 1, T_latent, H, W) for the model's mask.
    """
    f = temporal_factor
    if f < 1 or not 0 <= n_cond_frames < n_frames:
        raise PhylawError(f"bad conditioning layout: {n_cond_frames} of {n_frames} frames, factor {f}")
    if causal:
        if (n_frames - 1) % f:
            raise PhylawError(f"a causal factor-{f} autoencoder needs 1 + {f}k frames, got {n_frames}")
        groups = [range(1)] + [range((k - 1) * f + 1, k * f + 1) for k in range(1, (n_frames - 1) // f + 1)]
    else:
        if n_frames % f:
            raise PhylawError(f"a factor-{f} autoencoder needs a multiple of {f} frames, got {n_frames}")
        groups = [range(k * f, (k + 1) * f) for k in range(n_frames // f)]
    return torch.tensor([sum(i < n_cond_frames for i in g) / len(g) for g in groups], dtype=torch.float32)


def condition_anchor(cond: Tensor, mask: Tensor) -> Tensor:
    """The last fully given latent frame of ``cond`` broadcast over time (B, C, T, H, W): the reference of a
    residual target (``diffusion.residual``: the model generates x0 - anchor, static pixels are exactly 0).

    Conditioning is a prefix of latent frames (:func:`make_condition`); without a fully given frame there is
    nothing to anchor to.
    """
    given = (mask[:, 0, :, 0, 0] >= 1).all(0)  # (T,) the same prefix for every video
    n = int(given.int().cumprod(0).sum())
    if n == 0:
        raise PhylawError("a residual target needs at least one fully given conditioning latent frame")
    return cond[:, :, n - 1 : n].expand_as(cond)  # (B, C, T, H, W)
