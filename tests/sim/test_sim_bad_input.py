"""Bad input gives one clear PhylawError line."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.sim import get_split, grid_split, list_splits, simulate


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: get_split("pendulum", "eval"), "unknown scenario 'pendulum'"),
        (lambda: get_split("collision", "train-1m"), "unknown split 'train-1m'"),
        (lambda: get_split("collision", "eval", "kubric"), "unknown range set 'kubric'"),
        (lambda: list_splits("pendulum"), "unknown scenario"),
        (lambda: get_split("parabola", "eval").generate(0, 10**6, 0), "outside split 'eval'"),
        (lambda: get_split("parabola", "eval").params(5, 2), "outside split"),
    ],
)
def test_unknown_names_and_bounds(call, match):
    with pytest.raises(PhylawError, match=match):
        call()


@pytest.mark.parametrize(
    ("scenario", "row", "match"),
    [
        ("uniform_motion", [-0.5, 1.0], "radius <= 0"),
        ("uniform_motion", [0.0, 1.0], "radius <= 0"),
        ("parabola", [4.8, 1.0], "radius too big"),
        ("collision", [3.0, 2.5, 1.0, 1.0], "radii too big"),
        ("collision", [1.0, 1.0, -1.0, 1.0], "negative speed"),
        ("uniform_motion", [1.0, np.nan], "not finite"),
    ],
)
def test_physically_meaningless_params(scenario, row, match, rng):
    params = np.array([[1.0] * len(row), row])
    with pytest.raises(PhylawError, match=f"row 1 .*{match}"):
        simulate(scenario, params, rng)


def test_wrong_param_shape(rng):
    with pytest.raises(PhylawError, match=r"shape \(n, 4\)"):
        simulate("collision", np.ones((3, 2)), rng)


def test_grid_split_rejects_bad_values():
    with pytest.raises(PhylawError, match="radius <= 0"):
        grid_split("uniform_motion", "bad", r=[-1.0, 1.0], v=[1.0])
    with pytest.raises(PhylawError, match="exactly"):
        grid_split("uniform_motion", "bad", r=[1.0])
    with pytest.raises(PhylawError, match="split label"):
        grid_split("uniform_motion", "bad", split="test", r=[1.0], v=[1.0])
    with pytest.raises(PhylawError, match="radius too big"):
        grid_split("uniform_motion", "bad", r=[1.0, 6.0], v=[1.0])


def test_bad_frame_count():
    with pytest.raises(PhylawError, match="n_frames"):
        get_split("uniform_motion", "eval", n_frames=0)
    with pytest.raises(PhylawError, match="at least 4 frames"):
        get_split("collision", "eval", n_frames=3).generate(0, 5, seed=0)
