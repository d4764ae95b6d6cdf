"""Tiny phylaw datasets for the training tests.

The videos are uniform motion of one red disc (closed-form states, hard-edged raster drawn here), stored
with frames so the tests do not depend on the renderer.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from phylaw.config import load_config
from phylaw.datasets.store import DatasetConfig
from phylaw.sim.trajectory import FRAME_DT, WORLD_SIZE, Trajectories

# the state fields of dataset format v1 (docs/formats.md): the file below is a v1 file, as phylaw wrote them
V1_STATES = ("position", "velocity", "radius", "color", "shape", "in_view", "contact_time", "contact_frame")


def draw(position: np.ndarray, radius: float, res: int) -> np.ndarray:
    """(T, 2) world positions -> uint8 (T, res, res, 3), red hard disc on white (docs/formats.md pixels)."""
    c = (np.arange(res) + 0.5) * WORLD_SIZE / res
    xs, ys = c[None, :], WORLD_SIZE - c[:, None]
    out = np.full((len(position), res, res, 3), 255, dtype=np.uint8)
    for k, (x, y) in enumerate(position):
        disc = (xs - x) ** 2 + (ys - y) ** 2 <= radius**2
        out[k][disc] = (255, 0, 0)
    return out


def make_dataset(path: Path, n: int = 8, t: int = 8, res: int = 16, seed: int = 0) -> Path:
    rng = np.random.Generator(np.random.PCG64(seed))
    r = rng.uniform(1.0, 1.5, n)
    v = rng.uniform(1.0, 4.0, n)
    x0 = rng.uniform(2.0, 4.0, n)
    y0 = rng.uniform(3.0, 7.0, n)
    times = np.arange(t) * FRAME_DT
    pos = np.zeros((n, t, 1, 2))
    pos[:, :, 0, 0] = x0[:, None] + v[:, None] * times[None]
    pos[:, :, 0, 1] = y0[:, None]
    vel = np.zeros((n, t, 1, 2))
    vel[:, :, 0, 0] = v[:, None]
    traj = Trajectories(
        scenario="uniform_motion",
        position=pos,
        velocity=vel,
        radius=r[:, None],
        color=np.ones((n, 1), np.uint8),
        shape=np.zeros((n, 1), np.uint8),
        in_view=np.ones((n, t, 1), bool),
        contact_time=np.full(n, np.nan),
        contact_frame=np.full(n, -1, np.int32),
    )
    config = DatasetConfig(
        scenario="uniform_motion", split="train", split_version="test", ranges="paper", n_videos=n,
        n_frames=t, n_objects=1, resolution=res, seed=seed, param_names=("r", "v"), frames_stored=True,
    )  # fmt: skip
    # written with plain h5py, following docs/formats.md (the contract), frames stored
    with h5py.File(path, "w") as f:
        f.attrs.update(
            {"format": "phylaw-dataset", "format_version": 1, "scenario": "uniform_motion", "split": "train",
             "resolution": res, "n_frames": t, "dt": FRAME_DT, "seed": seed, "frames_stored": True,
             "n_videos": n, "shard": "0/1", "config_json": json.dumps(config.to_dict(), sort_keys=True)}
        )  # fmt: skip
        f["params"] = np.stack([r, v], 1)
        f["params"].attrs["names"] = ["r", "v"]
        f["labels/split"] = np.array([b"train"] * n)
        f["labels/level"] = np.array([b"id"] * n)
        f["labels/index"] = np.arange(n, dtype=np.int64)
        for name in V1_STATES:
            f[f"states/{name}"] = getattr(traj, name)
        f.create_dataset(
            "frames",
            data=np.stack([draw(pos[i, :, 0], r[i], res) for i in range(n)]),
            chunks=(1, t, res, res, 3),
            compression="gzip",
        )
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "tiny.h5")


def micro_overrides(data: Path) -> list[str]:
    """A DiT-micro in pixel space (space-to-depth 4 at 16^2 -> 48 x 8 x 4 x 4 latents, 128 tokens)."""
    return [
        f"data.train={data}", "data.resolution=16", "data.n_frames=8", "data.cond_frames=3",
        "model.preset=DiT-micro", "autoencoder.kind=identity", "autoencoder.space_to_depth=4",
        "optim.batch_size=4", "optim.lr=1e-3", "schedule.steps=6", "schedule.warmup_steps=2",
        "logging.log_every=1", "logging.ckpt_every=2", "logging.keep_last=10", "logging.tensorboard=false",
        "ema.decay=0.9", "runtime.device=cpu",
    ]  # fmt: skip


@pytest.fixture(scope="session")
def micro_cfg_shared(tiny_data):
    return load_config("cpu-tiny", micro_overrides(tiny_data))


@pytest.fixture
def micro_cfg(tiny_data):
    return load_config("cpu-tiny", micro_overrides(tiny_data))


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """Tiny models run faster on one thread, and the test machine's cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
