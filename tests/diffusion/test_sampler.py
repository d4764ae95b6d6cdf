"""The sampling loop: an oracle denoiser recovers x0; determinism; condition handling."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from phylaw.diffusion import make_condition, make_train_scheduler, sample
from phylaw.models.presets import build_dit


class OracleV(nn.Module):
    """Returns the true v for a known x0: v = √ᾱ ε − √(1−ᾱ) x0 with ε recovered from x_t."""

    def __init__(self, x0: Tensor, alphas_cumprod: Tensor) -> None:
        super().__init__()
        self.x0 = x0
        self.ab = alphas_cumprod.double()
        self.calls = 0

    def forward(self, x_t: Tensor, timesteps: Tensor, cond: Tensor, mask: Tensor) -> Tensor:
        self.calls += 1
        ab = self.ab[timesteps].reshape(-1, 1, 1, 1, 1)
        x_t, x0 = x_t.double(), self.x0.double()
        eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()
        return (ab.sqrt() * eps - (1 - ab).sqrt() * x0).float()


def _x0() -> Tensor:
    return torch.randn(2, 4, 6, 4, 4, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("steps", [1, 7, 50])
def test_oracle_denoiser_recovers_x0(steps: int) -> None:
    x0 = _x0()
    sched = make_train_scheduler()
    oracle = OracleV(x0, sched.alphas_cumprod)
    cond, mask = make_condition(x0, 2)
    out = sample(
        oracle,
        sched,
        cond,
        mask,
        steps=steps,
        generator=torch.Generator().manual_seed(1),
        keep_condition=False,
    )
    assert oracle.calls == steps
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=1e-4)


def test_sampling_deterministic_and_seed_dependent() -> None:
    model = build_dit("DiT-micro", input_size=(4, 4, 4))
    with torch.no_grad():  # non-zero output layer so the sample depends on the noise
        w = model.final_layer.linear.weight
        w.copy_(torch.randn(w.shape, generator=torch.Generator().manual_seed(3)) * 0.1)
    x0 = torch.randn(2, 4, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    cond, mask = make_condition(x0, 1)
    sched = make_train_scheduler()
    a = sample(model, sched, cond, mask, steps=4, generator=torch.Generator().manual_seed(7))
    b = sample(model, sched, cond, mask, steps=4, generator=torch.Generator().manual_seed(7))
    c = sample(model, sched, cond, mask, steps=4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a[:, :, 1:], c[:, :, 1:])
    torch.testing.assert_close(a[:, :, :1], x0[:, :, :1])  # keep_condition copies the given frames
    assert sched.timesteps.numel() == 1000  # the caller's scheduler was not touched


def test_raw_output_at_condition_positions_when_not_kept() -> None:
    x0 = _x0()
    sched = make_train_scheduler()
    cond, mask = make_condition(x0, 2)

    class Zero(nn.Module):
        def forward(self, x_t, timesteps, cond, mask):
            return torch.zeros_like(x_t)

    out = sample(
        Zero(), sched, cond, mask, steps=3, generator=torch.Generator().manual_seed(0), keep_condition=False
    )
    kept = sample(Zero(), sched, cond, mask, steps=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :, 2:], kept[:, :, 2:])
    assert torch.equal(kept[:, :, :2], x0[:, :, :2])
    assert not torch.allclose(out[:, :, :2], x0[:, :, :2])


def test_caller_given_noise_equals_generator_noise() -> None:
    x0 = _x0()
    sched = make_train_scheduler()
    cond, mask = make_condition(x0, 2)
    model = build_dit("DiT-micro", input_size=(6, 4, 4))
    with torch.no_grad():
        w = model.final_layer.linear.weight
        w.copy_(torch.randn(w.shape, generator=torch.Generator().manual_seed(3)) * 0.1)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(9))
    a = sample(model, sched, cond, mask, steps=3, generator=None, noise=noise)
    b = sample(model, sched, cond, mask, steps=3, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="generator or the start noise"):
        sample(model, sched, cond, mask, steps=3, generator=None)
    with pytest.raises(ValueError, match="latent shape"):
        sample(model, sched, cond, mask, steps=3, generator=None, noise=noise[:1])


class Spy(nn.Module):
    """Records x_t at every call; predicts a fixed non-zero v so that free positions drift."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, Tensor]] = []

    def forward(self, x_t: Tensor, timesteps: Tensor, cond: Tensor, mask: Tensor) -> Tensor:
        self.seen.append((int(timesteps[0]), x_t.clone()))
        return torch.full_like(x_t, 0.3)


@pytest.mark.parametrize("condition", ["reimpose", "free"])
def test_reimposed_condition_is_the_noised_condition_at_every_step(condition: str) -> None:
    """reimpose: at every model call x_t at the conditioning positions is add_noise(cond, x_T, t), the
    condition noised to that step with the start noise (as in training); free: only at the first step."""
    x0 = _x0()
    sched = make_train_scheduler()
    cond, mask = make_condition(x0, 2)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4))
    spy = Spy()
    sample(spy, sched, cond, mask, steps=5, generator=None, noise=noise, condition=condition)
    assert len(spy.seen) == 5
    ab = sched.alphas_cumprod
    for k, (t, x_t) in enumerate(spy.seen):
        expected = ab[t].sqrt() * x0[:, :, :2] + (1 - ab[t]).sqrt() * noise[:, :, :2]
        same = torch.allclose(x_t[:, :, :2], expected, atol=1e-5)
        assert same == (condition == "reimpose" or k == 0), (condition, k)
    rest = [x_t[:, :, 2:] for _, x_t in spy.seen]  # the generated positions follow DDIM either way
    assert not torch.allclose(rest[0], rest[-1])


@pytest.mark.parametrize("steps", [1, 4])
def test_oracle_recovers_x0_with_reimposed_condition(steps: int) -> None:
    x0 = _x0()
    sched = make_train_scheduler()
    cond, mask = make_condition(x0, 2)
    out = sample(OracleV(x0, sched.alphas_cumprod), sched, cond, mask, steps=steps,
                 generator=torch.Generator().manual_seed(1), keep_condition=False, condition="reimpose")  # fmt: skip
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=1e-4)


def test_unknown_condition_mode_is_refused() -> None:
    from phylaw.errors import PhylawError

    x0 = _x0()
    cond, mask = make_condition(x0, 2)
    with pytest.raises(PhylawError, match="unknown condition mode 'x0'"):
        sample(OracleV(x0, make_train_scheduler().alphas_cumprod), make_train_scheduler(), cond, mask,
               generator=torch.Generator(), condition="x0")  # fmt: skip


class OracleX0(nn.Module):
    """An x0-predicting network that knows the answer (``diffusion.prediction = "x0"``)."""

    def __init__(self, x0: Tensor) -> None:
        super().__init__()
        self.x0 = x0

    def forward(self, x_t: Tensor, timesteps: Tensor, cond: Tensor, mask: Tensor) -> Tensor:
        return self.x0.expand_as(x_t)


@pytest.mark.parametrize("steps", [1, 7])
def test_x0_prediction_is_turned_into_v_exactly(steps: int) -> None:
    x0 = _x0()
    cond, mask = make_condition(x0, 2)
    out = sample(OracleX0(x0), make_train_scheduler(), cond, mask, steps=steps,
                 generator=torch.Generator().manual_seed(1), keep_condition=False, prediction="x0")  # fmt: skip
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=1e-4)
    # read as v, the same output is a different (wrong) sample: the flag is what changes the reading
    raw = sample(OracleX0(x0), make_train_scheduler(), cond, mask, steps=steps,
                 generator=torch.Generator().manual_seed(1), keep_condition=False)  # fmt: skip
    assert (raw - x0).abs().max() > 0.1


def test_residual_target_is_added_back_to_the_last_condition_frame() -> None:
    """A residual model that generates 0 (nothing moves) holds the last conditioning latent frame still."""
    x0 = _x0()
    cond, mask = make_condition(x0, 2)
    zero = OracleX0(torch.zeros_like(x0))
    out = sample(zero, make_train_scheduler(), cond, mask, steps=4, generator=torch.Generator().manual_seed(1),
                 prediction="x0", residual=True)  # fmt: skip
    torch.testing.assert_close(out[:, :, :2], x0[:, :, :2])  # the condition kept
    torch.testing.assert_close(out[:, :, 2:], x0[:, :, 1:2].expand(-1, -1, 4, -1, -1), rtol=1e-5, atol=1e-5)
    # a residual oracle (x0 - anchor) recovers x0 itself
    delta = x0 - x0[:, :, 1:2]
    out = sample(OracleX0(delta), make_train_scheduler(), cond, mask, steps=4,
                 generator=torch.Generator().manual_seed(1), prediction="x0", residual=True)  # fmt: skip
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=1e-4)


def test_residual_sampling_reimposes_the_condition_in_the_residual_variable() -> None:
    """With a residual target the model is trained on x0 - anchor, so the reimposed condition is (cond - anchor)
    noised: for the anchor frame itself that is pure start noise scaled by sqrt(1 - alpha_bar)."""
    x0 = _x0()
    sched = make_train_scheduler()
    cond, mask = make_condition(x0, 2)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4))
    spy = Spy()
    sample(spy, sched, cond, mask, steps=3, generator=None, noise=noise, residual=True)
    ab = sched.alphas_cumprod
    for t, x_t in spy.seen:
        delta = x0[:, :, :2] - x0[:, :, 1:2]
        torch.testing.assert_close(x_t[:, :, :2], ab[t].sqrt() * delta + (1 - ab[t]).sqrt() * noise[:, :, :2])
