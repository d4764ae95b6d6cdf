"""Schedulers against the closed forms: q(x_t | x_0), v-target identities, zero terminal SNR, DDIM spacing."""

from __future__ import annotations

import pytest
import torch

from phylaw.diffusion import make_sample_scheduler, make_train_scheduler
from phylaw.errors import PhylawError


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 2, 4, 4, generator=g)
    eps = torch.randn(4, 3, 2, 4, 4, generator=g)
    t = torch.tensor([0, 250, 731, 999])
    return x0, eps, t


def _ab(sched, t: torch.Tensor) -> torch.Tensor:
    return sched.alphas_cumprod[t].reshape(-1, 1, 1, 1, 1)


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
def test_zero_terminal_snr_and_monotone(schedule: str) -> None:
    sched = make_train_scheduler(beta_schedule=schedule)
    ab = sched.alphas_cumprod
    assert ab.shape == (1000,)
    assert ab[-1].item() == 0.0  # zero terminal SNR
    assert ab[0].item() > 0.99
    assert torch.all(ab[1:] < ab[:-1])
    assert sched.config.prediction_type == "v_prediction"


def test_add_noise_matches_closed_form(data) -> None:
    x0, eps, t = data
    sched = make_train_scheduler()
    ab = _ab(sched, t)
    torch.testing.assert_close(sched.add_noise(x0, eps, t), ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    # t = T - 1 is pure noise
    torch.testing.assert_close(sched.add_noise(x0, eps, t)[-1], eps[-1])


def test_velocity_identities(data) -> None:
    x0, eps, t = data
    sched = make_train_scheduler()
    ab = _ab(sched, t)
    x_t = sched.add_noise(x0, eps, t)
    v = sched.get_velocity(x0, eps, t)
    torch.testing.assert_close(v, ab.sqrt() * eps - (1 - ab).sqrt() * x0)
    torch.testing.assert_close(ab.sqrt() * x_t - (1 - ab).sqrt() * v, x0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ab.sqrt() * v + (1 - ab).sqrt() * x_t, eps, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v[-1], -x0[-1])  # at zero SNR, v = -x0


@pytest.mark.parametrize("steps", [1, 10, 50])
def test_sample_scheduler_same_betas_trailing(steps: int) -> None:
    train = make_train_scheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    sched = make_sample_scheduler(train, steps)
    assert torch.equal(sched.alphas_cumprod, train.alphas_cumprod)
    assert sched.config.prediction_type == "v_prediction"
    assert sched.config.timestep_spacing == "trailing"
    ts = sched.timesteps
    assert len(ts) == steps
    assert ts[0].item() == 999  # starts from pure noise
    assert torch.all(ts[1:] < ts[:-1])
    assert sched.final_alpha_cumprod.item() == 1.0


def test_bad_arguments() -> None:
    with pytest.raises(PhylawError, match="beta schedule"):
        make_train_scheduler(beta_schedule="sigmoid")
    with pytest.raises(PhylawError, match="sampling steps"):
        make_sample_scheduler(make_train_scheduler(), 0)
    with pytest.raises(PhylawError, match="sampling steps"):
        make_sample_scheduler(make_train_scheduler(100), 101)
