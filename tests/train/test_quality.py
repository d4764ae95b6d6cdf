"""Model quality in the default run: a tiny DiT trained for a few seconds must beat a model that learned
nothing. Replaces the demo's slow, non-strict quality checks; it fails when training stops learning (no
optimizer step, no EMA update, loss on the wrong positions, condition not reaching the model)."""

from __future__ import annotations

import h5py
import pytest
import torch

from phylaw.config import apply_overrides
from phylaw.diffusion import make_condition, make_train_scheduler
from phylaw.models.autoencoder import frames_to_tensor
from phylaw.train.sampling import load_run
from phylaw.train.trainer import train_dit

MARGIN = 0.25  # the trained model's x0 error must be at most this fraction of the no-learning error
STEPS = 100  # about 5 s on one CPU thread; measured ratios 0.12 (t = 999) and 0.13 (t = 700)


@pytest.fixture(scope="module")
def learned(tmp_path_factory, micro_cfg_shared):
    sets = [f"schedule.steps={STEPS}", f"logging.ckpt_every={STEPS}", "logging.log_every=50",
            "schedule.warmup_steps=10"]  # fmt: skip
    run = train_dit(
        apply_overrides(micro_cfg_shared, sets), tmp_path_factory.mktemp("q") / "run", progress=False
    )
    return load_run(run, torch.device("cpu"))


@pytest.mark.parametrize("t", [999, 700])
def test_trained_denoiser_beats_the_no_learning_baseline(learned, tiny_data, t):
    """At high noise the generated frames must come from what the model learned: its x0 prediction on the
    generated positions of the training videos (fixed noise) has at most MARGIN times the squared error of
    the untrained model, whose zero-initialised output layer predicts v = 0 (x0 estimate √ᾱ x_t)."""
    cfg, ae, model, _ = learned
    with h5py.File(tiny_data, "r") as f:
        x0 = ae.encode(frames_to_tensor(torch.from_numpy(f["frames"][:]))).float()  # (B, C, T, H, W)
    c = cfg.data.cond_frames
    cond, mask = make_condition(x0, c)
    sched = make_train_scheduler()
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    tb = torch.full((x0.shape[0],), t)
    x_t = sched.add_noise(x0, eps, tb)
    ab = sched.alphas_cumprod[t]
    with torch.no_grad():
        v = model(x_t, tb, cond, mask)
    trained = (ab.sqrt() * x_t - (1 - ab).sqrt() * v - x0)[:, :, c:].square().mean()
    untrained = (ab.sqrt() * x_t - x0)[:, :, c:].square().mean()
    assert trained <= MARGIN * untrained, (float(trained), float(untrained))
