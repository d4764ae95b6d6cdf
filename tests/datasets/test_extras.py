"""Per-video extras of a seeded scenario (phyre's actions): simulated from the dataset seed, stored under
``extras/``, identical across shards, merges and resumes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from phylaw.datasets import generate, merge, open_dataset
from phylaw.seeding import child_rng
from phylaw.sim import kinematics as km
from phylaw.sim import registry
from phylaw.sim import splits as sp


@pytest.fixture
def seeded(monkeypatch):
    """uniform motion registered again as 'seeded': its placement and an 'action' per video come from the
    dataset seed and the row's parameters (as phyre's layouts do), not from per-row uniforms."""
    base = registry.get_scenario("uniform_motion")

    def simulate_seeded(params, seed, n_frames):
        u = np.stack([child_rng(seed, "row", *map(float, row)).random(3) for row in params])  # (n, 3)
        return km.uniform_motion(params, u, n_frames), {
            "action": u * 2.0,
            "tag": params[:, :1].astype(np.int32),
        }

    sc = dataclasses.replace(
        base, name="seeded", simulate=None, n_uniforms=0, simulate_seeded=simulate_seeded
    )
    monkeypatch.setitem(registry.SCENARIOS, "seeded", sc)
    monkeypatch.setitem(registry.PARAM_NAMES, "seeded", sc.param_names)
    monkeypatch.setitem(registry.N_UNIFORMS, "seeded", 0)
    return sp.grid_split("seeded", "grid", r=np.linspace(0.7, 1.4, 4), v=np.linspace(1.0, 4.0, 5))


def test_extras_are_stored_and_depend_on_seed_and_params_only(seeded, tmp_path):
    batch = seeded.generate(0, len(seeded), 5)
    assert set(batch.extras) == {"action", "tag"}
    part = seeded.generate(7, 12, 5)  # a slice computes the same rows
    np.testing.assert_array_equal(part.extras["action"], batch.extras["action"][7:12])
    np.testing.assert_array_equal(part.trajectories.position, batch.trajectories.position[7:12])
    path = generate("seeded", seeded, tmp_path / "s.h5", resolution=16, seed=5, progress=False)
    with open_dataset(path) as ds:
        assert ds.extra_names == ("action", "tag")
        np.testing.assert_array_equal(ds.read("extras/action"), batch.extras["action"])
        assert ds.read("extras/tag").dtype == np.int32
        np.testing.assert_array_equal(ds.read("extras/action", 3, 9), batch.extras["action"][3:9])
    other = seeded.generate(0, len(seeded), 6)
    assert not np.array_equal(other.extras["action"], batch.extras["action"])


def test_extras_survive_shards_and_merge(seeded, tmp_path):
    one = generate("seeded", seeded, tmp_path / "one.h5", resolution=16, seed=2, progress=False)
    for i in range(3):
        generate("seeded", seeded, tmp_path / "sh.h5", resolution=16, seed=2, shard=(i, 3), progress=False)
    merged = merge(sorted(tmp_path.glob("sh.shard-*")), tmp_path / "merged.h5", progress=False)
    with (
        open_dataset(one) as a,
        open_dataset(sorted(tmp_path.glob("sh.shard-*"))) as b,
        open_dataset(merged) as c,
    ):
        for ds in (b, c):
            np.testing.assert_array_equal(ds.read("extras/action"), a.read("extras/action"))
            np.testing.assert_array_equal(ds.read("states/position"), a.read("states/position"))
