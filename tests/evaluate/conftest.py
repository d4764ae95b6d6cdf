"""Fixtures: tiny real datasets (phylaw.datasets.generate), and helpers to build doctored trajectories."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from phylaw.datasets.build import generate
from phylaw.datasets.reader import open_dataset
from phylaw.evaluate.parse import ParsedStates
from phylaw.sim.trajectory import Trajectories


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> dict:
    """Lazily generated eval-small datasets keyed by (scenario, resolution, limit)."""
    root = tmp_path_factory.mktemp("eval_data")
    cache: dict = {}

    def get(scenario: str, resolution: int = 64, limit: int = 12) -> Path:
        key = (scenario, resolution, limit)
        if key not in cache:
            path = root / f"{scenario}_{resolution}_{limit}.h5"
            cache[key] = generate(
                scenario, "eval-small", path, resolution=resolution, limit=limit, progress=False
            )
        return cache[key]

    return get


@pytest.fixture(scope="session")
def uniform64(datasets) -> Path:
    return datasets("uniform_motion", 64, 12)


@pytest.fixture(scope="session")
def collision64(datasets) -> Path:
    return datasets("collision", 64, 8)


def perfect_parse(traj: Trajectories, color_ids: tuple[int, ...] = (1, 2)) -> ParsedStates:
    """ParsedStates that report the true states exactly (object k in the column of its colour)."""
    n, t, k = traj.in_view.shape
    p = len(color_ids)
    center = np.full((n, t, p, 2), np.nan)
    radius = np.full((n, t, p), np.nan)
    visible = np.zeros((n, t, p), dtype=bool)
    shape = np.full((n, t, p), -1, dtype=np.int8)
    for obj in range(k):
        for v in range(n):
            col = color_ids.index(int(traj.color[v, obj]))
            center[v, :, col] = traj.position[v, :, obj]
            radius[v, :, col] = traj.radius[v, obj]
            visible[v, :, col] = True
            shape[v, :, col] = traj.shape[v, obj]
    area = np.where(visible, 100, 0)
    return ParsedStates(("red", "blue")[:p], color_ids, center, radius, area, visible,
                        np.where(visible, 0.785, np.nan), shape, 64, 64)  # fmt: skip


def with_positions(traj: Trajectories, position: np.ndarray) -> Trajectories:
    return replace(traj, position=position)


def load(path: Path, indices) -> tuple:
    ds = open_dataset(path)
    return ds, ds.trajectories(np.asarray(indices))
