"""Dataset files: contents equal the split definition, stored == procedural, determinism, shards, resume."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from phylaw import sim
from phylaw.datasets import build as gen_mod
from phylaw.datasets import generate, merge, open_dataset
from phylaw.datasets.store import STATE_FIELDS, partial_path
from phylaw.errors import PhylawError
from phylaw.render import render


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_same_data(a, b) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.params, b.params)
    for name in STATE_FIELDS:
        np.testing.assert_array_equal(a.read(f"states/{name}"), b.read(f"states/{name}"))
    la, lb = a.labels, b.labels
    for field in ("split", "level", "index"):
        np.testing.assert_array_equal(getattr(la, field), getattr(lb, field))
    for i in range(len(a)):
        np.testing.assert_array_equal(a.frames(i), b.frames(i))


def test_file_holds_exactly_the_split_rows(stored_collision):
    ds = open_dataset(stored_collision)
    batch = sim.get_split("collision", "eval").generate(0, 24, 3)
    assert (len(ds), ds.scenario, ds.resolution, ds.n_frames, ds.frames_stored) == (
        24,
        "collision",
        32,
        32,
        True,
    )
    assert ds.param_names == ("r1", "r2", "v1", "v2")
    np.testing.assert_array_equal(ds.params, batch.params)
    traj = ds.trajectories()
    for name in STATE_FIELDS:
        np.testing.assert_array_equal(getattr(traj, name), getattr(batch.trajectories, name))
    np.testing.assert_array_equal(ds.labels.level, batch.labels.level.astype(str))
    np.testing.assert_array_equal(ds.labels.index, np.arange(24))
    # stored frames are the renderer's bytes
    np.testing.assert_array_equal(ds.frames(5), render(batch.trajectories, 32, indices=np.array([5]))[0])
    # lazy slices across the file
    np.testing.assert_array_equal(ds.read("states/position", 3, 7), batch.trajectories.position[3:7])
    np.testing.assert_array_equal(ds.trajectories(np.array([9, 2])).radius, batch.trajectories.radius[[9, 2]])


def test_stored_and_procedural_frames_are_identical(stored_collision, procedural_collision):
    stored, proc = open_dataset(stored_collision), open_dataset(procedural_collision)
    assert not proc.frames_stored
    assert "frames" not in proc._file(0)
    assert stored.fingerprint == proc.fingerprint  # same content, different storage
    for i in range(len(stored)):
        np.testing.assert_array_equal(stored.frames(i), proc.frames(i))
    # another resolution renders from the states (exact), not a resize
    big = stored.frames(4, resolution=48)
    assert big.shape == (32, 48, 48, 3)
    np.testing.assert_array_equal(big, render(stored.trajectories(slice(4, 5)), 48)[0])


def test_same_seed_same_bytes_and_workers_do_not_matter(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_mod, "block_rows", lambda *a: 7)  # several blocks
    kw = {"resolution": 16, "limit": 20, "seed": 5, "progress": False}
    a = generate("uniform_motion", "eval", tmp_path / "a.h5", **kw)
    b = generate("uniform_motion", "eval", tmp_path / "b.h5", **kw)
    assert sha(a) == sha(b)
    c = generate(
        "uniform_motion", "eval", tmp_path / "c.h5", seed=6, **{k: v for k, v in kw.items() if k != "seed"}
    )
    assert not np.array_equal(
        open_dataset(a).read("states/position"), open_dataset(c).read("states/position")
    )


@pytest.mark.slow
def test_worker_processes_give_the_same_bytes(tmp_path):
    kw = {"resolution": 16, "limit": 40, "seed": 5, "progress": False}
    a = generate("parabola", "eval", tmp_path / "a.h5", workers=1, **kw)
    b = generate("parabola", "eval", tmp_path / "b.h5", workers=2, **kw)
    assert sha(a) == sha(b)


def test_shards_read_together_and_merge_equal_one_run(tmp_path, stored_collision):
    out = tmp_path / "coll.h5"
    kw = {"resolution": 32, "limit": 24, "seed": 3, "progress": False}
    first = generate("collision", "eval", out, shard=(2, 3), **kw)
    mtime = first.stat().st_mtime_ns
    assert generate("collision", "eval", out, shard=(2, 3), **kw) == first  # finished shard: skipped, alone
    assert first.stat().st_mtime_ns == mtime
    with pytest.raises(PhylawError, match="different configuration"):
        generate("collision", "eval", out, shard=(2, 3), **{**kw, "seed": kw.get("seed", 0) + 1})
    shards = [generate("collision", "eval", out, shard=(i, 3), **kw) for i in (2, 0, 1)]
    assert [p.name for p in sorted(shards)] == [f"coll.shard-{i:05d}-of-00003.h5" for i in range(3)]
    assert not out.exists()
    one = open_dataset(stored_collision)
    for spec in (out, tmp_path, str(tmp_path / "coll.shard-*.h5"), [str(p) for p in shards]):
        together = open_dataset(spec)
        assert together.fingerprint == one.fingerprint
        assert_same_data(together, one)
        pick = np.array([20, 3, 11, 3])  # rows in three different shards, unsorted, repeated
        np.testing.assert_array_equal(together.trajectories(pick).position, one.read("states/position")[pick])
    merged = merge(tmp_path / "coll.shard-*.h5", tmp_path / "merged" / "coll.h5", progress=False)
    assert_same_data(open_dataset(merged), one)
    assert open_dataset(merged).fingerprint == one.fingerprint
    with pytest.raises(PhylawError, match="different shardings"):
        open_dataset([merged, *shards])


def test_missing_or_foreign_shard_is_an_error(tmp_path):
    kw = {"resolution": 16, "limit": 12, "progress": False, "procedural": True}
    generate("uniform_motion", "eval", tmp_path / "u.h5", shard=(0, 3), **kw)
    generate("uniform_motion", "eval", tmp_path / "u.h5", shard=(2, 3), **kw)
    with pytest.raises(PhylawError, match="missing"):
        open_dataset(tmp_path / "u.h5")
    generate("uniform_motion", "eval", tmp_path / "u.h5", shard=(1, 3), seed=9, **kw)
    with pytest.raises(PhylawError, match="different datasets"):
        open_dataset(tmp_path / "u.h5")


def test_interrupted_generation_resumes_and_finished_file_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_mod, "block_rows", lambda *a: 5)
    kw = {"resolution": 16, "limit": 23, "seed": 1, "progress": False}
    real = gen_mod.compute_block
    calls = []

    def flaky(job):
        calls.append(job.start)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(job)

    out = tmp_path / "p.h5"
    monkeypatch.setattr(gen_mod, "compute_block", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate("parabola", "eval", out, **kw)
    assert not out.exists()
    assert partial_path(out).exists()
    with pytest.raises(PhylawError, match="no such dataset"):
        open_dataset(out)
    monkeypatch.setattr(gen_mod, "compute_block", real)
    resumed_calls = []
    monkeypatch.setattr(gen_mod, "compute_block", lambda job: resumed_calls.append(job.start) or real(job))
    generate("parabola", "eval", out, **kw)
    assert resumed_calls == [10, 15, 20]  # the two flushed blocks were kept
    assert out.exists()
    assert not partial_path(out).exists()
    fresh = generate("parabola", "eval", tmp_path / "fresh.h5", **kw)
    assert_same_data(open_dataset(out), open_dataset(fresh))
    mtime = out.stat().st_mtime_ns
    assert generate("parabola", "eval", out, **kw) == out
    assert out.stat().st_mtime_ns == mtime
    with pytest.raises(PhylawError, match="different configuration"):
        generate("parabola", "eval", out, **{**kw, "seed": 2})


def test_corrupt_partial_is_redone(tmp_path):
    out = tmp_path / "u.h5"
    partial_path(out).write_bytes(b"not hdf5 at all")
    generate("uniform_motion", "eval", out, resolution=16, limit=6, progress=False)
    assert len(open_dataset(out)) == 6


def test_truncated_file_is_a_clear_error(tmp_path, stored_collision):
    bad = tmp_path / "trunc.h5"
    data = stored_collision.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(PhylawError, match="truncated or corrupt"):
        open_dataset(bad)


class FakeRay:
    """Just enough of Ray's API to run generate_ray's shard tasks synchronously in this process."""

    def __init__(self) -> None:
        self.started = False

    def is_initialized(self) -> bool:
        return self.started

    def init(self) -> None:
        self.started = True

    def cluster_resources(self) -> dict:
        return {"CPU": 3.0}

    def remote(self, fn):
        class Task:
            def remote(self, *args):
                return fn(*args)

        return Task()

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, refs):
        return refs


def test_ray_backend_runs_one_task_per_shard(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", FakeRay())
    kw = {"resolution": 16, "limit": 10, "procedural": True}
    paths = gen_mod.generate_ray("uniform_motion", "eval", tmp_path / "r.h5", progress=False, **kw)
    assert [p.name for p in paths] == [f"r.shard-{i:05d}-of-00003.h5" for i in range(3)]
    one = generate("uniform_motion", "eval", tmp_path / "one.h5", progress=False, **kw)
    assert_same_data(open_dataset(tmp_path / "r.h5"), open_dataset(one))
