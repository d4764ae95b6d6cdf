"""sample_dataset: a well-formed sample file the evaluator reads, per-video seeds, resume, bad input."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.train import sampling
from phylaw.train.sampling import sample_dataset
from phylaw.train.trainer import train_dit

from .conftest import make_dataset


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, micro_cfg_shared):
    return train_dit(micro_cfg_shared, tmp_path_factory.mktemp("runs") / "run", progress=False)


def _read(path):
    with h5py.File(path, "r") as f:
        return dict(f.attrs), f["index"][:], f["done"][:], f["frames"][:]


def test_sample_file_is_well_formed_and_evaluable(trained_run, tiny_data, tmp_path):
    out = sample_dataset(
        trained_run, tiny_data, tmp_path / "s.h5", steps=3, indices=[5, 1, 2], progress=False
    )
    attrs, index, done, frames = _read(out)
    assert attrs["format"] == "phylaw-samples"
    assert attrs["format_version"] == 1
    assert attrs["complete"]
    assert (attrs["cond_frames"], attrs["n_frames"], attrs["resolution"], attrs["steps"]) == (3, 8, 16, 3)
    assert attrs["checkpoint"].endswith("ckpt_0000006.pt")
    assert index.tolist() == [5, 1, 2]
    assert done.all()
    assert frames.shape == (3, 8, 16, 16, 3)
    assert frames.dtype == np.uint8
    with h5py.File(tiny_data, "r") as f:  # first c frames are the ground-truth condition frames
        np.testing.assert_array_equal(frames[:, :3], f["frames"][[1, 2, 5]][[2, 0, 1], :3])
    assert not (tmp_path / "s.h5.partial").exists()

    from phylaw.evaluate import evaluate

    result = evaluate(tiny_data, out, tmp_path / "eval")
    assert result.metrics_csv.is_file()


def test_videos_do_not_depend_on_batch_size(trained_run, tiny_data, tmp_path):
    a = sample_dataset(
        trained_run, tiny_data, tmp_path / "a.h5", steps=2, limit=4, batch_size=1, progress=False
    )
    b = sample_dataset(
        trained_run, tiny_data, tmp_path / "b.h5", steps=2, limit=4, batch_size=3, progress=False
    )
    fa, fb = _read(a)[3], _read(b)[3]
    assert np.abs(fa.astype(int) - fb.astype(int)).max() <= 1  # float batching may flip a rounding
    c = sample_dataset(trained_run, tiny_data, tmp_path / "c.h5", steps=2, limit=4, seed=1, progress=False)
    assert not np.array_equal(_read(c)[3], fa)


def test_interrupted_sampling_resumes(trained_run, tiny_data, tmp_path, monkeypatch):
    ref = sample_dataset(
        trained_run, tiny_data, tmp_path / "ref.h5", steps=2, limit=5, batch_size=2, progress=False
    )
    real, calls = sampling._generate, {"n": 0}

    def dies_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sampling, "_generate", dies_on_second_batch)
    out = tmp_path / "s.h5"
    with pytest.raises(KeyboardInterrupt):
        sample_dataset(trained_run, tiny_data, out, steps=2, limit=5, batch_size=2, progress=False)
    assert not out.exists()
    assert _read(tmp_path / "s.h5.partial")[2].tolist() == [True, True, False, False, False]
    monkeypatch.setattr(sampling, "_generate", real)
    sample_dataset(trained_run, tiny_data, out, steps=2, limit=5, batch_size=2, progress=False)
    np.testing.assert_array_equal(_read(out)[3], _read(ref)[3])
    with pytest.raises(PhylawError, match="other settings"):
        sample_dataset(trained_run, tiny_data, out, steps=3, limit=5, progress=False)


def test_bad_sampling_input(trained_run, tiny_data, tmp_path):
    with pytest.raises(PhylawError, match="not a training run directory"):
        sample_dataset(tmp_path, tiny_data, tmp_path / "x.h5", progress=False)
    with pytest.raises(PhylawError, match="indices must lie in"):
        sample_dataset(trained_run, tiny_data, tmp_path / "x.h5", indices=[99], progress=False)
    with pytest.raises(PhylawError, match="sampling steps must be in"):
        sample_dataset(trained_run, tiny_data, tmp_path / "x.h5", steps=0, limit=1, progress=False)
    short = make_dataset(tmp_path / "short.h5", n=2, t=6)
    with pytest.raises(PhylawError, match="has 6 frames per video; the model needs 8"):
        sample_dataset(trained_run, short, tmp_path / "x.h5", progress=False)
    assert not list(tmp_path.glob("x.h5*"))


def _label_as_parabola(path) -> None:
    """Relabel a uniform-motion dataset file as parabola videos (same geometry, another scenario)."""
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["config_json"])
        config["scenario"] = "parabola"
        f.attrs["config_json"] = json.dumps(config)
        f.attrs["scenario"] = "parabola"


def test_sampling_refuses_another_scenario(trained_run, tmp_path):
    other = make_dataset(tmp_path / "other.h5", n=2)
    _label_as_parabola(other)
    with pytest.raises(PhylawError, match=r"trained on uniform_motion videos but .* holds parabola videos"):
        sample_dataset(trained_run, other, tmp_path / "x.h5", steps=1, progress=False)
    assert not list(tmp_path.glob("x.h5*"))


def test_scenario_check_survives_a_deleted_training_dataset(micro_cfg, tiny_data, tmp_path):
    """The run records its scenario in the checkpoint meta, so the check works after the training file is gone."""
    import shutil

    from phylaw.config import apply_overrides

    data = tmp_path / "train.h5"
    shutil.copyfile(tiny_data, data)
    run = train_dit(apply_overrides(micro_cfg, [f"data.train={data}", "schedule.steps=2"]), tmp_path / "run",
                    progress=False)  # fmt: skip
    data.unlink()
    other = make_dataset(tmp_path / "other.h5", n=2)
    _label_as_parabola(other)
    with pytest.raises(PhylawError, match=r"trained on uniform_motion videos"):
        sample_dataset(run, other, tmp_path / "x.h5", steps=1, progress=False)


def test_generated_frames_do_not_see_the_frames_after_the_condition(trained_run, tiny_data, tmp_path):
    """Only the first c frames of a dataset video reach the sampler: blanking the frames after them leaves
    every generated frame unchanged (a sampler whose condition leaks ground-truth latents, ``cond = x0``,
    would change)."""
    import shutil

    blank = tmp_path / "blank.h5"
    shutil.copyfile(tiny_data, blank)
    with h5py.File(blank, "r+") as f:
        frames = f["frames"][:]
        frames[:, 3:] = 255  # white from frame c = 3 on
        f["frames"][...] = frames
    for condition in ("free", "reimpose"):
        a = sample_dataset(trained_run, tiny_data, tmp_path / f"a-{condition}.h5", steps=2, limit=3,
                           condition=condition, progress=False)  # fmt: skip
        b = sample_dataset(trained_run, blank, tmp_path / f"b-{condition}.h5", steps=2, limit=3,
                           condition=condition, progress=False)  # fmt: skip
        fa, fb = _read(a)[3], _read(b)[3]
        np.testing.assert_array_equal(fa, fb)
        with h5py.File(tiny_data, "r") as f:  # and the generated frames are not the ground truth
            assert not np.array_equal(fa[:, 3:], f["frames"][:3, 3:])


def test_condition_mode_is_recorded_and_changes_the_videos(trained_run, tiny_data, tmp_path):
    from phylaw.diffusion import DEFAULT_CONDITION

    d = sample_dataset(trained_run, tiny_data, tmp_path / "d.h5", steps=2, limit=2, progress=False)
    r = sample_dataset(trained_run, tiny_data, tmp_path / "r.h5", steps=2, limit=2, condition="reimpose",
                       progress=False)  # fmt: skip
    f = sample_dataset(trained_run, tiny_data, tmp_path / "f.h5", steps=2, limit=2, condition="free",
                       progress=False)  # fmt: skip
    assert _read(d)[0]["condition"] == DEFAULT_CONDITION
    assert (_read(r)[0]["condition"], _read(f)[0]["condition"]) == ("reimpose", "free")
    assert not np.array_equal(_read(r)[3], _read(f)[3])
    with pytest.raises(PhylawError, match="other settings"):  # a file of the other mode is not reused
        sample_dataset(trained_run, tiny_data, tmp_path / "r.h5", steps=2, limit=2, condition="free",
                       progress=False)  # fmt: skip
    with pytest.raises(PhylawError, match="unknown --condition 'both'"):
        sample_dataset(trained_run, tiny_data, tmp_path / "x.h5", condition="both", progress=False)


def test_load_run_samples_with_the_ema_weights(trained_run):
    """The checkpoint's raw and EMA weights differ (6 steps, decay 0.9); load_run must return the EMA ones."""
    import torch

    from phylaw.train.checkpoint import latest_step, load_checkpoint

    state = load_checkpoint(trained_run, latest_step(trained_run))
    raw, ema = state["model"], state["ema"]
    assert any(not torch.equal(raw[k], ema[k]) for k in ema)
    _, _, model, _ = sampling.load_run(trained_run, torch.device("cpu"))
    loaded = model.state_dict()
    assert loaded.keys() == ema.keys()
    for k in ema:
        assert torch.equal(loaded[k], ema[k].to(loaded[k].dtype)), k
