"""train_dit: LR schedule, data order, overfitting, determinism, exact resume, NaN stop, bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from phylaw.config import OptimConfig, ScheduleConfig, apply_overrides
from phylaw.errors import PhylawError
from phylaw.train import trainer
from phylaw.train.checkpoint import checkpoint_steps, ckpt_path, load_checkpoint
from phylaw.train.data import BatchOrder, flip_flags, hflip_states, step_indices
from phylaw.train.logger import read_metrics
from phylaw.train.lr import get_lr
from phylaw.train.trainer import train_dit


def test_get_lr_warmup_and_cosine():
    opt, sch = OptimConfig(lr=1.0), ScheduleConfig(steps=110, warmup_steps=10, min_lr_ratio=0.1)
    assert get_lr(0, opt, sch) == pytest.approx(0.1)
    assert get_lr(9, opt, sch) == pytest.approx(1.0)
    assert get_lr(10, opt, sch) == pytest.approx(1.0)
    assert get_lr(60, opt, sch) == pytest.approx(0.55)  # half way: (1 + 0.1) / 2
    assert get_lr(110, opt, sch) == pytest.approx(0.1)
    assert get_lr(500, opt, sch) == pytest.approx(0.1)
    lrs = [get_lr(s, opt, sch) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_step_indices_are_epoch_permutations():
    n, b = 10, 4
    seq = np.concatenate([step_indices(s, b, n, seed=3) for s in range(5)])  # 20 samples = 2 epochs
    assert sorted(seq[:10]) == list(range(10))
    assert sorted(seq[10:]) == list(range(10))
    assert not np.array_equal(seq[:10], seq[10:])
    assert np.array_equal(step_indices(2, b, n, seed=3), seq[8:12])
    assert not np.array_equal(step_indices(0, b, n, seed=4), seq[:4])
    order = BatchOrder(n, seed=3)  # the cached version used by the loop gives the same batches
    assert all(np.array_equal(order.indices(s, b), step_indices(s, b, n, seed=3)) for s in range(12))
    flips = flip_flags(0, 1000, 0, True)
    assert 400 < flips.sum() < 600
    assert not flip_flags(0, 8, 0, False).any()


def test_hflip_states_mirrors_x_and_vx():
    states = {
        "position": torch.tensor([[[1.0, 2.0]], [[1.5, 2.0]]]),
        "velocity": torch.tensor([[[5.0, -1.0]], [[5.0, -1.0]]]),
        "radius": torch.tensor([0.7]),
    }
    out = hflip_states(states)
    torch.testing.assert_close(out["position"], torch.tensor([[[9.0, 2.0]], [[8.5, 2.0]]]))
    torch.testing.assert_close(out["velocity"], torch.tensor([[[-5.0, -1.0]], [[-5.0, -1.0]]]))
    assert out["radius"] is states["radius"]
    torch.testing.assert_close(states["position"][0, 0], torch.tensor([1.0, 2.0]))  # input untouched


def _losses(run_dir):
    return [r["loss"] for r in read_metrics(run_dir)]


def test_overfits_one_batch(micro_cfg, tmp_path):
    cfg = apply_overrides(
        micro_cfg,
        ["data.limit=4", "data.hflip=false", "schedule.steps=60", "schedule.warmup_steps=5", "optim.lr=3e-3",
         "logging.ckpt_every=60"],
    )  # fmt: skip
    run = train_dit(cfg, tmp_path / "run", progress=False)
    losses = _losses(run)
    assert len(losses) == 60
    assert all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    assert json.loads((run / "config.json").read_text())["schedule"]["steps"] == 60


def test_same_config_and_seed_same_bytes(micro_cfg, tmp_path):
    a = train_dit(micro_cfg, tmp_path / "a", progress=False)
    b = train_dit(micro_cfg, tmp_path / "b", progress=False)
    assert _losses(a) == _losses(b)
    assert ckpt_path(a, 6).read_bytes() == ckpt_path(b, 6).read_bytes()
    c = train_dit(apply_overrides(micro_cfg, ["runtime.seed=1"]), tmp_path / "c", progress=False)
    assert _losses(c) != _losses(a)


def _assert_same_state(x, y):
    for key in ("model", "ema"):
        for name, tensor in x[key].items():
            assert torch.equal(tensor, y[key][name]), f"{key}.{name}"
    for sx, sy in zip(x["optimizer"]["state"].values(), y["optimizer"]["state"].values(), strict=True):
        for k in sx:
            assert torch.equal(torch.as_tensor(sx[k]), torch.as_tensor(sy[k]))


def test_resume_is_exact(micro_cfg, tmp_path):
    full = train_dit(micro_cfg, tmp_path / "full", progress=False)
    part = tmp_path / "part"
    train_dit(micro_cfg, part, progress=False, stop_after=3)  # "killed" after step 3 (3 is not a ckpt_every)
    assert checkpoint_steps(part) == [2, 3]
    with pytest.raises(PhylawError, match="already holds checkpoints"):
        train_dit(micro_cfg, part, resume=False, progress=False)
    train_dit(micro_cfg, part, progress=False)
    assert _losses(part) == _losses(full)
    _assert_same_state(load_checkpoint(part), load_checkpoint(full))
    assert ckpt_path(part, 6).read_bytes() == ckpt_path(full, 6).read_bytes()  # same bytes, not just values
    before = ckpt_path(part, 6).stat().st_mtime_ns
    train_dit(micro_cfg, part, progress=False)  # finished run: nothing to do
    assert ckpt_path(part, 6).stat().st_mtime_ns == before


def test_nan_loss_stops_and_keeps_last_good_checkpoint(micro_cfg, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = trainer.training_loss

    def flaky(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 4:  # step index 3
            return type(out)(
                loss=out.loss * float("nan"), mse_per_sample=out.mse_per_sample, timesteps=out.timesteps
            )
        return out

    monkeypatch.setattr(trainer, "training_loss", flaky)
    run = tmp_path / "run"
    with pytest.raises(PhylawError, match=r"loss became nan at step 3.*ckpt_0000002\.pt"):
        train_dit(micro_cfg, run, progress=False)
    assert checkpoint_steps(run) == [2]
    assert len(read_metrics(run)) == 3


def test_other_model_shape_or_data_is_refused(micro_cfg, tmp_path):
    run = train_dit(apply_overrides(micro_cfg, ["schedule.steps=2"]), tmp_path / "run", progress=False)
    snapshot = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(PhylawError, match="another model shape"):
        train_dit(apply_overrides(micro_cfg, ["model.preset=DiT-tiny"]), run, progress=False)
    with pytest.raises(PhylawError, match="another model shape"):
        train_dit(apply_overrides(micro_cfg, ["autoencoder.space_to_depth=2"]), run, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == snapshot


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("data.n_frames=16", "has 8 frames per video but the model needs data.n_frames=16"),
        ("data.resolution=18", "not divisible"),
        ('data.train=""', "no training data"),
        ("optim.micro_batch_size=3", "must split into micro-batches"),
        ("model.preset=DiT-huge", "unknown DiT preset"),
    ],
)
def test_bad_input_one_line(micro_cfg, tmp_path, override, match):
    with pytest.raises(PhylawError, match=match):
        train_dit(apply_overrides(micro_cfg, [override]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_training_logs_mfu(micro_cfg, tmp_path):
    cfg = apply_overrides(micro_cfg, ["runtime.device='cuda'", "schedule.steps=4"])
    run = train_dit(cfg, tmp_path / "run", progress=False)
    rows = read_metrics(run)
    assert all(np.isfinite(r["loss"]) for r in rows)
    if any(k in torch.cuda.get_device_name() for k in ("H100", "H200", "A100")):
        assert all(0 < r["mfu"] < 1 for r in rows)


def test_tensorboard_scalars(micro_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train_dit(
        apply_overrides(micro_cfg, ["logging.tensorboard=true", "schedule.steps=2"]),
        tmp_path / "r",
        progress=False,
    )
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/samples_per_s", "train/tokens_per_s"} <= tags
    assert "train/mfu" not in tags  # NaN on CPU: not written
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]


def test_sigterm_checkpoints_the_current_step_and_resumes_exactly(micro_cfg, tmp_path, monkeypatch):
    import signal

    full = train_dit(micro_cfg, tmp_path / "full", progress=False)
    calls, real = {"n": 0}, trainer.training_loss

    def preempted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # during step index 2
            signal.raise_signal(signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "training_loss", preempted)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt, match="after step 3"):
        train_dit(micro_cfg, run, progress=False)
    assert checkpoint_steps(run) == [2, 3]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handler restored
    monkeypatch.setattr(trainer, "training_loss", real)
    train_dit(micro_cfg, run, progress=False)
    assert _losses(run) == _losses(full)
    _assert_same_state(load_checkpoint(run), load_checkpoint(full))


def test_deterministic_cuda_mode_restricts_attention_and_names_the_switch():
    """runtime.deterministic on CUDA: torch's strict deterministic mode (not warn-only, which keeps the attention
    backward non-deterministic), attention through flash or math only; an op without a deterministic kernel
    becomes one line naming runtime.deterministic=false. Checked on the flags (no GPU needed), then restored."""
    from phylaw.train import distributed

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cuda.cudnn_sdp_enabled(),
              torch.backends.cuda.mem_efficient_sdp_enabled(), torch.backends.cudnn.benchmark)  # fmt: skip
    try:
        distributed.use_deterministic_kernels(torch.device("cpu"))
        assert not torch.are_deterministic_algorithms_enabled()  # CPU: nothing to change
        distributed.use_deterministic_kernels(torch.device("cuda"), deterministic=False)
        assert not torch.are_deterministic_algorithms_enabled()
        distributed.use_deterministic_kernels(torch.device("cuda"))
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert not torch.backends.cuda.mem_efficient_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled()
        assert torch.backends.cuda.math_sdp_enabled()
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cuda.enable_cudnn_sdp(before[1])
        torch.backends.cuda.enable_mem_efficient_sdp(before[2])
        torch.backends.cudnn.benchmark = before[3]
    hint = r"^scatter_add_cuda_kernel does not have .*runtime\.deterministic=false"
    with pytest.raises(PhylawError, match=hint), distributed.deterministic_errors_as_phylaw():
        raise RuntimeError(
            "scatter_add_cuda_kernel does not have a deterministic implementation, but you set..."
        )
    with pytest.raises(RuntimeError, match="other"), distributed.deterministic_errors_as_phylaw():
        raise RuntimeError("other")


def test_residual_and_x0_prediction_reach_the_loss(micro_cfg, tmp_path, monkeypatch):
    """diffusion.residual: the loss sees x0 minus the last conditioning frame (which is then exactly 0, as is
    every pixel that does not move); diffusion.prediction is passed on. The run samples back to videos."""
    seen = []
    real = trainer.training_loss

    def spy(model, scheduler, x0, cond, mask, gen, **kw):
        seen.append((x0.detach().clone(), cond.detach().clone(), kw["prediction"]))
        return real(model, scheduler, x0, cond, mask, gen, **kw)

    monkeypatch.setattr(trainer, "training_loss", spy)
    steps = ["schedule.steps=2", "logging.ckpt_every=2"]
    train_dit(apply_overrides(micro_cfg, steps), tmp_path / "plain", progress=False)
    x0, cond, prediction = seen[-1]
    assert prediction == "v"
    assert torch.equal(x0[:, :, :3], cond[:, :, :3])
    seen.clear()
    run = train_dit(apply_overrides(micro_cfg, [*steps, "diffusion.residual=true", "diffusion.prediction=x0"]),
                    tmp_path / "residual", progress=False)  # fmt: skip
    x0, cond, prediction = seen[-1]
    assert prediction == "x0"
    assert torch.equal(x0[:, :, 2], torch.zeros_like(x0[:, :, 2]))  # the anchor frame (c = 3)
    torch.testing.assert_close(x0[:, :, :3], cond[:, :, :3] - cond[:, :, 2:3])
    assert json.loads((run / "config.json").read_text())["diffusion"] == {
        "timesteps": "uniform", "logit_mean": 0.0, "logit_std": 1.0, "prediction": "x0", "residual": True,
    }  # fmt: skip
