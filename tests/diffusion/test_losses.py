"""The masked v-loss, frame conditioning helpers, and a tiny DiT overfitting one batch."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from phylaw.diffusion import compressed_condition_mask, make_condition, make_train_scheduler, training_loss
from phylaw.diffusion.losses import sample_timesteps
from phylaw.errors import PhylawError
from phylaw.models.presets import build_dit


class TrueVPlus(nn.Module):
    """Predicts the exact v (knowing x0 and the schedule) plus ``err`` where ``where`` is True."""

    def __init__(self, x0: Tensor, ab: Tensor, err: float, where: Tensor) -> None:
        super().__init__()
        self.x0, self.ab, self.err, self.where = x0, ab, err, where

    def forward(self, x_t: Tensor, timesteps: Tensor, cond: Tensor, mask: Tensor) -> Tensor:
        ab = self.ab[timesteps].reshape(-1, 1, 1, 1, 1)
        eps = (x_t - ab.sqrt() * self.x0) / (1 - ab).sqrt().clamp_min(1e-12)
        eps = torch.where(ab < 1 - 1e-12, eps, torch.zeros_like(eps))
        v = ab.sqrt() * eps - (1 - ab).sqrt() * self.x0
        return v + self.err * self.where.to(v.dtype)


def _batch() -> tuple[Tensor, Tensor, Tensor]:
    x0 = torch.randn(3, 2, 5, 4, 4, generator=torch.Generator().manual_seed(0))
    cond, mask = make_condition(x0, 2)
    return x0, cond, mask


def test_make_condition() -> None:
    x0, cond, mask = _batch()
    assert mask.shape == (3, 1, 5, 4, 4)
    assert torch.equal(mask[:, :, :2], torch.ones(3, 1, 2, 4, 4))
    assert torch.equal(mask[:, :, 2:], torch.zeros(3, 1, 3, 4, 4))
    assert torch.equal(cond[:, :, :2], x0[:, :, :2])
    assert torch.count_nonzero(cond[:, :, 2:]) == 0
    with pytest.raises(PhylawError, match="n_cond_frames"):
        make_condition(x0, 5)


def test_compressed_condition_mask() -> None:
    # causal 4x: latents cover frames {0}, {1..4}, {5..8}; 3 conditioning frames
    assert compressed_condition_mask(3, 9, 4).tolist() == [1.0, 0.5, 0.0]
    assert compressed_condition_mask(3, 8, 2, causal=False).tolist() == [1.0, 0.5, 0.0, 0.0]
    assert compressed_condition_mask(3, 32, 1, causal=False).tolist() == [1.0] * 3 + [0.0] * 29
    with pytest.raises(PhylawError, match="1 \\+ 4k"):
        compressed_condition_mask(3, 32, 4)


def test_loss_ignores_conditioning_positions() -> None:
    x0, cond, mask = _batch()
    sched = make_train_scheduler()
    ab = sched.alphas_cumprod
    exact_on_generated = TrueVPlus(x0, ab, err=5.0, where=mask.bool().expand_as(x0))
    out = training_loss(exact_on_generated, sched, x0, cond, mask, torch.Generator().manual_seed(0))
    assert out.loss.item() < 1e-8
    assert out.mse_per_sample.shape == (3,)
    wrong_on_generated = TrueVPlus(x0, ab, err=0.5, where=~mask.bool().expand_as(x0))
    out = training_loss(wrong_on_generated, sched, x0, cond, mask, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.mse_per_sample, torch.full((3,), 0.25), rtol=1e-4, atol=1e-5)


def test_loss_uses_generator_deterministically() -> None:
    x0, cond, mask = _batch()
    sched = make_train_scheduler()
    model = build_dit("DiT-micro", latent_channels=2, input_size=(5, 4, 4))
    with torch.no_grad():
        model.final_layer.linear.weight.normal_(generator=torch.Generator().manual_seed(1))
    a = training_loss(model, sched, x0, cond, mask, torch.Generator().manual_seed(3))
    b = training_loss(model, sched, x0, cond, mask, torch.Generator().manual_seed(3))
    c = training_loss(model, sched, x0, cond, mask, torch.Generator().manual_seed(4))
    assert torch.equal(a.loss, b.loss)
    assert torch.equal(a.timesteps, b.timesteps)
    assert not torch.equal(a.timesteps, c.timesteps)


def test_tiny_model_overfits_one_batch() -> None:
    x0 = torch.randn(2, 4, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    cond, mask = make_condition(x0, 1)
    sched = make_train_scheduler()
    model = build_dit("DiT-micro", input_size=(4, 4, 4), seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(40):  # the same t and noise every step: a fixed regression problem
        out = training_loss(model, sched, x0, cond, mask, torch.Generator().manual_seed(0))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[0] > 0.3
    assert losses[-1] < losses[0] / 50, (losses[0], losses[-1])


def test_loss_under_bf16_autocast_is_fp32_and_backpropagates() -> None:
    x0, cond, mask = _batch()
    sched = make_train_scheduler()
    model = build_dit("DiT-micro", latent_channels=2, input_size=(5, 4, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = training_loss(model, sched, x0, cond, mask, torch.Generator().manual_seed(0))
    assert out.loss.dtype == torch.float32
    out.loss.backward()
    grad = model.final_layer.linear.weight.grad
    assert grad is not None
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0


def test_timestep_sampling_distributions() -> None:
    n, steps = 20_000, 1000
    u = sample_timesteps(n, steps, torch.Generator().manual_seed(0))
    assert u.dtype == torch.int64
    assert int(u.min()) >= 0
    assert int(u.max()) <= steps - 1
    assert abs(u.float().mean().item() - 499.5) < 8  # U{0..999}: mean 499.5, sd 289 -> se 2
    ln = sample_timesteps(n, steps, torch.Generator().manual_seed(0), kind="logit_normal", mean=1.0, std=1.0)
    assert ln.dtype == torch.int64
    assert int(ln.min()) >= 0
    assert int(ln.max()) <= steps - 1
    # median of sigmoid(1 + z) is sigmoid(1) = 0.731; P(t < 269) = P(z < -2) = 2.3 %
    assert abs(ln.float().median().item() - 731) < 10
    assert abs((ln < 269).float().mean().item() - 0.0228) < 0.005
    again = sample_timesteps(
        n, steps, torch.Generator().manual_seed(0), kind="logit_normal", mean=1.0, std=1.0
    )
    assert torch.equal(ln, again)
    with pytest.raises(PhylawError, match="unknown timestep sampling 'cosine'"):
        sample_timesteps(4, steps, torch.Generator(), kind="cosine")


def test_loss_draws_timesteps_from_the_configured_distribution() -> None:
    x0, cond, mask = _batch()
    sched = make_train_scheduler()
    model = build_dit("DiT-micro", latent_channels=2, input_size=(5, 4, 4))
    high = training_loss(
        model, sched, x0, cond, mask, torch.Generator().manual_seed(3), timesteps="logit_normal", logit_mean=6.0,
    )  # fmt: skip
    assert bool((high.timesteps > 900).all())  # sigmoid(6 - 3 sd) = 0.95


def test_x0_prediction_loss_is_zero_for_the_true_x0_and_weighs_errors_by_the_noise() -> None:
    from phylaw.diffusion.losses import X0_MIN_SIGMA

    x0 = torch.randn(3, 4, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    cond, mask = make_condition(x0, 1)
    sched = make_train_scheduler()

    class Out(nn.Module):
        def __init__(self, value: Tensor) -> None:
            super().__init__()
            self.value = value

        def forward(self, x_t, t, c, m):
            return self.value.expand_as(x_t)

    def loss(value: Tensor, prediction: str):
        return training_loss(Out(value), sched, x0, cond, mask, torch.Generator().manual_seed(5),
                             prediction=prediction)  # fmt: skip

    assert float(loss(x0, "x0").loss) < 1e-10
    assert float(loss(x0, "v").loss) > 0.1  # read as v, x0 is not the answer
    # an x0 error e costs |e|^2 / max(1 - alpha_bar, floor^2): the v error the DDIM step would see
    out = loss(x0 + 0.1, "x0")
    ab = sched.alphas_cumprod[out.timesteps].double()
    expected = 0.01 / (1 - ab).clamp_min(X0_MIN_SIGMA**2)
    torch.testing.assert_close(out.mse_per_sample.double(), expected, rtol=1e-3, atol=1e-6)
