"""Shared pytest fixtures."""

from __future__ import annotations

import os

import numpy as np
import pytest

# CUDA runs: cuBLAS reads its workspace setting when its first handle is made, before any trainer sets it
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(1234))
