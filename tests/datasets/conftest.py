"""Small datasets shared by the dataset tests (generated once per session, read-only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phylaw.datasets import generate


@pytest.fixture(scope="session")
def small_dirs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="session")
def stored_collision(small_dirs: Path) -> Path:
    """24 collision eval videos, frames stored at 32x32."""
    return generate(
        "collision", "eval", small_dirs / "coll.h5", resolution=32, limit=24, seed=3, progress=False
    )


@pytest.fixture(scope="session")
def procedural_collision(small_dirs: Path) -> Path:
    """The same 24 videos, states only."""
    return generate(
        "collision", "eval", small_dirs / "coll_proc.h5", resolution=32, limit=24, seed=3,
        procedural=True, progress=False,
    )  # fmt: skip
