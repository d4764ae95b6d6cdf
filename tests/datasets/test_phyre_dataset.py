"""phyre datasets through the common generator (issue 12): stored = procedural, same seed = same bytes,
workers and shards = one run, resume, and the CLI's bad input."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from phylaw import sim
from phylaw.datasets import build as gen_mod
from phylaw.datasets import generate, merge, open_dataset
from phylaw.datasets.store import STATE_FIELDS, partial_path
from phylaw.render import render

KW = {"resolution": 32, "limit": 6, "n_frames": 6, "progress": False}


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_stored_equals_procedural_and_the_renderer(tmp_path):
    stored = generate("phyre", "train6-small", tmp_path / "s.h5", seed=1, **KW)
    proc = generate("phyre", "train6-small", tmp_path / "p.h5", seed=1, procedural=True, **KW)
    with open_dataset(stored) as a, open_dataset(proc) as b:
        assert (a.scenario, a.n_frames, a.n_objects, a.config.time_offset) == ("phyre", 6, 14, 1 / 60)
        assert a.fingerprint == b.fingerprint
        batch = sim.get_split("phyre", "train6-small", n_frames=6).generate(0, 6, 1)
        np.testing.assert_array_equal(a.read("extras/action"), batch.extras["action"])
        np.testing.assert_array_equal(b.read("extras/action"), batch.extras["action"])
        for i in range(len(a)):
            np.testing.assert_array_equal(a.frames(i), b.frames(i))
        np.testing.assert_array_equal(a.frames(3), render(batch.states, 32, indices=[3])[0])
        assert (a.frames(0) != 255).any()  # something is drawn


def test_seed_workers_and_shards_give_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_mod, "FRAME_BYTES_PER_BLOCK", 2 * 6 * 32 * 32 * 3)  # blocks of 2 videos
    one = generate("phyre", "eval-out-of-template", tmp_path / "one.h5", seed=2, **KW)
    again = generate("phyre", "eval-out-of-template", tmp_path / "again.h5", seed=2, **KW)
    two = generate("phyre", "eval-out-of-template", tmp_path / "two.h5", seed=2, workers=2, **KW)
    assert sha(one) == sha(again) == sha(two)
    other = generate("phyre", "eval-out-of-template", tmp_path / "other.h5", seed=3, **KW)
    with open_dataset(one) as a, open_dataset(other) as b:
        assert not np.array_equal(a.read("states/position"), b.read("states/position"))
    for i in range(3):
        generate("phyre", "eval-out-of-template", tmp_path / "sh.h5", seed=2, shard=(i, 3), **KW)
    shards = sorted(tmp_path.glob("sh.shard-*"))
    merged = merge(shards, tmp_path / "merged.h5", progress=False)
    with open_dataset(one) as a, open_dataset(shards) as b, open_dataset(merged) as c:
        for ds in (b, c):
            for name in (*(f"states/{n}" for n in STATE_FIELDS), "params", "extras/action", "frames"):
                np.testing.assert_array_equal(ds.read(name), a.read(name))


def test_interrupted_generation_resumes_to_the_same_data(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_mod, "block_rows", lambda *a: 2)
    full = generate("phyre", "ambiguity", tmp_path / "full.h5", seed=0, **KW)
    out = tmp_path / "cut.h5"
    real = gen_mod.compute_block
    calls = []

    def dying(job):
        calls.append(job.start)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(gen_mod, "compute_block", dying)
    with pytest.raises(KeyboardInterrupt):
        generate("phyre", "ambiguity", out, seed=0, **KW)
    assert partial_path(out).exists()
    assert not out.exists()
    resumed = []
    monkeypatch.setattr(gen_mod, "compute_block", lambda job: resumed.append(job.start) or real(job))
    generate("phyre", "ambiguity", out, seed=0, **KW)
    assert resumed == [2, 4]  # the flushed first block was kept
    with open_dataset(out) as a, open_dataset(full) as b:
        for name in (*(f"states/{n}" for n in STATE_FIELDS), "params", "extras/action", "frames"):
            np.testing.assert_array_equal(a.read(name), b.read(name))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "train7"], "unknown split 'train7' for phyre"),
        (["--split", "train6", "--resolution", "4"], "resolution must be >= 8"),
        (["--split", "train6", "--frames", "60"], "at most 50 frames"),
        (["--split", "train6", "--ranges", "phyworld"], "phyre has no range sets"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "x.h5"
    r = subprocess.run(
        [sys.executable, "-m", "phylaw", "generate", "phyre", *args, "--out", str(out), "--limit", "2"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert not partial_path(out).exists()


def test_procedural_blocks_are_bounded_by_state_bytes():
    # phyre: 32 frames x 14 slots of states, ~18 KB per video -> a few thousand rows per block (< 1 GB peak
    # per worker); the kinematic scenes keep their 16,384-row blocks (their files' bytes do not change)
    assert 1000 < gen_mod.block_rows(64, 32, True, 14) <= 6000
    assert gen_mod.block_rows(64, 32, True, 2) == gen_mod.PROCEDURAL_BLOCK_ROWS == 16384
    assert gen_mod.block_rows(64, 32, True, 1) == 16384


def test_shards_option_is_for_ray_only(tmp_path):
    out = tmp_path / "x.h5"
    r = subprocess.run(
        [sys.executable, "-m", "phylaw", "generate", "phyre", "--split", "train6-small", "--out", str(out),
         "--shards", "3"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert r.returncode == 2
    assert "--shards is for --backend ray" in r.stderr
    assert not out.exists()
