"""train_vae + report, latent cache with a learned autoencoder, and the model CLI end to end."""

from __future__ import annotations

import h5py
import pandas as pd
import pytest
import torch

from phylaw.cli.main import main
from phylaw.config import apply_overrides, load_config
from phylaw.errors import PhylawError
from phylaw.models.autoencoder import load_video_vae
from phylaw.train.checkpoint import checkpoint_steps, ckpt_path
from phylaw.train.logger import read_metrics
from phylaw.train.trainer import train_dit
from phylaw.train.vae_trainer import train_vae, vae_report

from .conftest import micro_overrides


@pytest.fixture(scope="module")
def vae_cfg(tiny_data):
    return load_config(
        "vae-cpu",
        [f"data.train={tiny_data}", "data.resolution=16", "data.n_frames=8", "schedule.steps=12",
         "schedule.warmup_steps=2", "optim.lr=2e-3", "logging.tensorboard=false", "logging.ckpt_every=4",
         "logging.log_every=1", "logging.keep_last=5", "autoencoder.base_channels=8", "runtime.device=cpu"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def vae_run(vae_cfg, tmp_path_factory):
    torch.set_num_threads(1)
    return train_vae(vae_cfg, tmp_path_factory.mktemp("vae") / "run", progress=False)


def test_vae_trains_writes_weights_and_report(vae_run, vae_cfg, tiny_data):
    losses = [r["loss"] for r in read_metrics(vae_run)]
    assert len(losses) == 12
    assert losses[-1] < losses[0]
    ae = load_video_vae(vae_run)
    assert (ae.spatial_factor, ae.latent_channels) == (4, 4)
    assert 0 < ae.scaling_factor < 1e6
    report = vae_report(vae_run, tiny_data, vae_cfg, limit=4, progress=False)
    table = pd.read_csv(vae_run / "report.csv")
    row = table[table["metric"] == "velocity_error"].iloc[0]
    assert row["n_videos"] == 4
    assert row["gt_floor"] >= 0
    assert row["vae_recon"] > 0
    assert "GT floor" in report.read_text()


def test_vae_resume_is_exact(vae_cfg, vae_run, tmp_path):
    part = tmp_path / "part"
    train_vae(vae_cfg, part, progress=False, stop_after=6)  # "killed" after step 6 (not a ckpt_every step)
    assert not (part / "vae.pt").exists()
    train_vae(vae_cfg, part, progress=False)
    assert [r["loss"] for r in read_metrics(part)] == [r["loss"] for r in read_metrics(vae_run)]
    assert checkpoint_steps(part) == [4, 6, 8, 12]
    a, b = load_video_vae(part), load_video_vae(vae_run)
    for name, tensor in a.state_dict().items():
        assert torch.equal(tensor, b.state_dict()[name]), name
    assert ckpt_path(part, 12).read_bytes() == ckpt_path(vae_run, 12).read_bytes()


def test_dit_on_vae_latents_uses_a_keyed_cache(vae_run, tiny_data, tmp_path):
    cfg = load_config(
        "cpu-tiny", [*micro_overrides(tiny_data), "autoencoder.kind=vae", f"autoencoder.path={str(vae_run)!r}",
                     "schedule.steps=2", "model.patch_size=1"],
    )  # fmt: skip
    sets = [*micro_overrides(tiny_data), "autoencoder.kind=vae", f"autoencoder.path={str(vae_run)!r}",
            "schedule.steps=2", "model.patch_size=1"]  # fmt: skip
    args = ["encode-latents", "--config", "cpu-tiny", "--out", str(tmp_path / "run"), "--quiet"]
    assert main([*args, *(x for o in sets for x in ("--set", o))]) == 0
    caches = list((tmp_path / "run").glob("latents-*.h5"))
    assert len(caches) == 1
    no_data = [o for o in sets if not o.startswith("data.train=")]  # --data as in `train` (documented)
    args_d = ["encode-latents", "--config", "cpu-tiny", "--data", str(tiny_data), "--out", str(tmp_path / "d"), "--quiet"]
    assert main([*args_d, *(x for o in no_data for x in ("--set", o))]) == 0
    assert [p.name for p in (tmp_path / "d").glob("latents-*.h5")] == [caches[0].name]
    built = caches[0].stat().st_mtime_ns
    run = train_dit(cfg, tmp_path / "run", progress=False)  # uses the pre-computed cache
    assert list(run.glob("latents-*.h5")) == caches
    assert caches[0].stat().st_mtime_ns == built
    with h5py.File(caches[0], "r") as f:
        assert f["z"].shape == (8, 4, 8, 4, 4)
        assert f["z_flip"].shape == (8, 4, 8, 4, 4)
    first = caches[0].stat().st_mtime_ns
    train_dit(apply_overrides(cfg, ["schedule.steps=3"]), run, progress=False)  # resume reuses the cache
    assert caches[0].stat().st_mtime_ns == first
    nohflip = train_dit(apply_overrides(cfg, ["data.hflip=false"]), tmp_path / "run2", progress=False)
    other = next(nohflip.glob("latents-*.h5"))
    assert other.name != caches[0].name
    with h5py.File(other, "r") as f:
        assert "z_flip" not in f
        with h5py.File(caches[0], "r") as g:
            assert torch.equal(torch.from_numpy(f["z"][:]), torch.from_numpy(g["z"][:]))
    # data.cache_dir: two runs share one cache (built once, by the first); nothing lands in the run dirs
    shared = tmp_path / "shared"
    stamps = []
    for name in ("run3", "run4"):
        train_dit(apply_overrides(cfg, [f"data.cache_dir={str(shared)!r}"]), tmp_path / name, progress=False)
        assert not list((tmp_path / name).glob("latents-*"))
        assert [p.name for p in shared.iterdir()] == [caches[0].name]
        stamps.append((shared / caches[0].name).stat().st_mtime_ns)
    assert stamps[0] == stamps[1]


def test_latent_caches_share_the_rows_of_the_same_videos(vae_run, tiny_data, tmp_path, monkeypatch):
    """A cache built beside a complete one of the same VAE copies the rows of the videos both hold and encodes
    only the others, and its bytes are those of a cache built alone; another VAE's cache is never a donor."""
    import numpy as np

    from phylaw.datasets.torch_dataset import VideoDataset
    from phylaw.train.data import LatentSource

    ae = load_video_vae(vae_run)
    encoded = []
    real = LatentSource.encode_frames

    def counting(self, frames):
        encoded.append(frames.shape[0])
        return real(self, frames)

    monkeypatch.setattr(LatentSource, "encode_frames", counting)

    def build(directory, indices, autoencoder=ae):
        src = LatentSource(VideoDataset(tiny_data, indices=indices), autoencoder, torch.device("cpu"),
                           cache_dir=directory)  # fmt: skip
        encoded.clear()
        path = src.build_cache(progress=False)
        with h5py.File(path, "r") as f:
            return {k: f[k][:] for k in ("z", "z_flip")}, sum(encoded)

    subset, superset = [1, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7]
    alone, n_alone = build(tmp_path / "alone", superset)
    assert n_alone == 2 * 8  # every video and its mirror image
    _, n_sub = build(tmp_path / "shared", subset)
    assert n_sub == 2 * 3
    shared, n_shared = build(tmp_path / "shared", superset)
    assert n_shared == 2 * 5  # the subset's three videos are copied
    for name in ("z", "z_flip"):
        assert np.array_equal(shared[name], alone[name]), name
    # a VAE with other weights: same videos, no donor rows
    other = load_video_vae(vae_run)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    changed, n_other = build(tmp_path / "shared", subset, other)
    assert n_other == 2 * 3
    assert not np.array_equal(changed["z"], alone["z"][subset])


def test_cli_train_sample_presets_and_errors(tiny_data, tmp_path, capsys):
    sets = [x for o in micro_overrides(tiny_data) for x in ("--set", o)]
    run = tmp_path / "run"
    assert main(["train", "--config", "cpu-tiny", "--out", str(run), "--quiet", *sets]) == 0
    assert (run / "ckpt_0000006.pt").is_file()
    # a second fresh start into the same directory is refused; --resume is a no-op on a finished run
    assert main(["train", "--config", "cpu-tiny", "--out", str(run), "--quiet", *sets]) == 2
    assert "already holds checkpoints" in capsys.readouterr().err
    assert main(["train", "--config", "cpu-tiny", "--out", str(run), "--quiet", "--resume", *sets]) == 0
    out = tmp_path / "s.h5"
    args = ["sample", "--checkpoint", str(run), "--data", str(tiny_data), "--out", str(out), "--steps", "2"]
    assert main([*args, "--indices", "0-2,5", "--quiet"]) == 0
    with h5py.File(out, "r") as f:
        assert f["index"][:].tolist() == [0, 1, 2, 5]
    assert main(["presets"]) == 0
    assert "DiT-B" in capsys.readouterr().out
    assert main(["train", "--config", "cpu-tiny", "--out", str(tmp_path / "x"), "--set", "optim.lrr=1"]) == 2
    assert "unknown config key 'optim.lrr'" in capsys.readouterr().err
    assert main(["train", "--config", "nope", "--out", str(tmp_path / "x")]) == 2
    assert main([*args[:-2], "--indices", "a-b"]) == 2
    assert not (tmp_path / "x").exists()
    vae = ["train-vae", "--data", str(tiny_data), "--out", str(tmp_path / "v"), "--steps", "1", "--quiet"]
    assert main([*vae, "--report-limit", "0"]) == 2  # refused before training (was a traceback after it)
    assert "--report-limit" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_diffusers_vae_needs_a_path(tiny_data, tmp_path, monkeypatch):
    cfg = load_config("cpu-tiny", [*micro_overrides(tiny_data), "autoencoder.kind=diffusers"])
    with pytest.raises(PhylawError, match="PHYLAW_VAE_PATH"):
        train_dit(cfg, tmp_path / "run", progress=False)
    monkeypatch.setenv("PHYLAW_VAE_PATH", str(tmp_path / "missing"))
    sets = [x for o in micro_overrides(tiny_data) for x in ("--set", o)]
    code = main(
        [
            "train",
            "--config",
            "cpu-tiny",
            "--out",
            str(tmp_path / "run"),
            *sets,
            "--set",
            "autoencoder.kind=diffusers",
        ]
    )
    assert code == 2
