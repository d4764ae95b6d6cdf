"""Determinism: same seed -> same bytes; slices of generate() equal the rows of one big call."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from phylaw.sim import KINEMATIC_SCENARIOS, get_split, simulate
from phylaw.sim.splits import BLOCK
from phylaw.sim.trajectory import Trajectories

STATE_FIELDS = (
    "position",
    "velocity",
    "radius",
    "color",
    "shape",
    "in_view",
    "contact_time",
    "contact_frame",
)


def _bytes(tr: Trajectories) -> bytes:
    return b"".join(np.ascontiguousarray(getattr(tr, f)).tobytes() for f in STATE_FIELDS)


@pytest.mark.parametrize("scenario", KINEMATIC_SCENARIOS)
def test_same_seed_same_bytes_different_seed_different(scenario):
    s = get_split(scenario, "eval")
    a, b, c = s.generate(0, 500, seed=7), s.generate(0, 500, seed=7), s.generate(0, 500, seed=8)
    assert _bytes(a.trajectories) == _bytes(b.trajectories)
    assert _bytes(a.trajectories) != _bytes(c.trajectories)
    np.testing.assert_array_equal(a.params, c.params)  # the seed only moves the placement


@pytest.mark.parametrize("scenario", KINEMATIC_SCENARIOS)
def test_shards_concatenate_to_the_same_bytes(scenario):
    s = get_split(scenario, "train-30k")
    n = 2 * BLOCK + 100  # a prefix: rows do not depend on where a call stops
    whole = s.generate(0, n, seed=11)
    np.testing.assert_array_equal(
        whole.trajectories.position[:50], s.generate(0, 50, 11).trajectories.position
    )
    cuts = [0, 1, 17, BLOCK - 1, BLOCK + 5, n - 3, n]
    parts = [s.generate(a, b, seed=11) for a, b in itertools.pairwise(cuts)]
    joined = Trajectories.concatenate([p.trajectories for p in parts])
    assert _bytes(joined) == _bytes(whole.trajectories)
    np.testing.assert_array_equal(np.concatenate([p.params for p in parts]), whole.params)
    np.testing.assert_array_equal(np.concatenate([p.labels.level for p in parts]), whole.labels.level)
    np.testing.assert_array_equal(np.concatenate([p.labels.index for p in parts]), np.arange(n))


def test_generate_matches_simulate_on_a_full_block():
    from phylaw.seeding import child_rng

    s = get_split("collision", "train-30k")
    batch = s.generate(BLOCK, 2 * BLOCK, seed=3)
    rng = child_rng(3, s.scenario, s.name, s.version, s.ranges, 1)
    tr = simulate("collision", s.params(BLOCK, 2 * BLOCK), rng)
    assert _bytes(tr) == _bytes(batch.trajectories)


def test_simulate_rows_depend_only_on_their_own_draws():
    params = np.array([[1.0, 2.0], [1.2, 3.0], [0.8, 1.5]])
    a = simulate("parabola", params, np.random.Generator(np.random.PCG64(0)))
    b = simulate("parabola", params[:2], np.random.Generator(np.random.PCG64(0)))
    assert _bytes(a.subset(slice(0, 2))) == _bytes(b)


def test_shorter_videos():
    long = get_split("parabola", "eval").generate(0, 50, seed=2).trajectories
    short = get_split("parabola", "eval", n_frames=16).generate(0, 50, seed=2).trajectories
    assert short.n_frames == 16
    np.testing.assert_array_equal(short.position, long.position[:, :16])
    coll = get_split("collision", "eval", n_frames=16).generate(0, 500, seed=2)
    ids = coll.labels.split == "id"
    k = coll.trajectories.contact_frame[ids]
    assert (k >= 4).all()
    assert (k <= 12).all()
