"""generate_ray on a real local Ray cluster (2 CPUs): shards read as one-process data, resume, progress.

Starting Ray takes 5-15 s on the 2-core machine, so the module is marked slow; ``.ci/run`` runs it after the
default suite (``pytest -m slow tests/datasets/test_ray_cluster.py``).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from phylaw.datasets import generate, open_dataset
from phylaw.datasets.build import BlockJob, compute_block, dataset_config, generate_ray, get_split_checked
from phylaw.datasets.store import STATE_FIELDS, DatasetWriter, shard_path
from phylaw.errors import PhylawError
from phylaw.io import partial_path

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

KW = {"resolution": 32, "limit": 24, "n_frames": 6, "seed": 5}  # 24 phyre videos, frames stored at 32²
SPLIT = "train6-small"


@pytest.fixture(scope="module")
def cluster():
    """A fresh local cluster (address="local": never one another process started) with 2 CPUs."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    return open_dataset(
        generate("phyre", SPLIT, tmp_path_factory.mktemp("one") / "one.h5", progress=False, **KW)
    )


def assert_same_rows(a, b, rows=slice(None)) -> None:
    """params, every state field, labels, extras/action and frames of ``rows`` are identical."""
    idx = np.arange(len(b))[rows]
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.read("params", lo, hi), b.read("params", lo, hi))
    for name in STATE_FIELDS:
        np.testing.assert_array_equal(a.read(f"states/{name}", lo, hi), b.read(f"states/{name}", lo, hi))
    for name in ("split", "level", "index"):
        np.testing.assert_array_equal(a.read(f"labels/{name}", lo, hi), b.read(f"labels/{name}", lo, hi))
    assert a.extra_names == b.extra_names == ("action",)
    np.testing.assert_array_equal(a.read("extras/action", lo, hi), b.read("extras/action", lo, hi))
    for i in idx:
        np.testing.assert_array_equal(a.frames(int(i)), b.frames(int(i)))


def test_shards_on_ray_read_as_one_process_generate(cluster, tmp_path, one_process):
    assert cluster["CPU"] == 2
    paths = generate_ray("phyre", SPLIT, tmp_path / "r.h5", n_shards=4, progress=False, **KW)
    assert [p.name for p in paths] == [f"r.shard-{i:05d}-of-00004.h5" for i in range(4)]
    ds = open_dataset(tmp_path / "r.h5")
    assert (ds.scenario, len(ds), ds.n_frames, ds.resolution, ds.frames_stored) == ("phyre", 24, 6, 32, True)
    assert ds.config.content() == one_process.config.content()
    assert_same_rows(ds, one_process)
    # the rows are the split's first 24 (templates x tasks x trials of train6-small, in split order)
    assert set(ds.params[:, 0].astype(int)) <= {10003, 10005, 10016, 10023, 10024, 10053}


def test_resume_skips_finished_shards_and_continues_a_partial(cluster, tmp_path, one_process, capsys):
    out = tmp_path / "r.h5"
    first = generate_ray("phyre", SPLIT, out, progress=False, **KW)
    assert [p.name for p in first] == ["r.shard-00000-of-00002.h5", "r.shard-00001-of-00002.h5"]  # 1 per CPU

    # shard 1 "interrupted" after 3 of its 12 rows: a .partial as generate leaves it, with a marker in row 0
    first[1].unlink()
    split_def = get_split_checked("phyre", SPLIT, "paper", KW["n_frames"])
    config = dataset_config(split_def, 24, KW["resolution"], KW["seed"], True)
    writer = DatasetWriter(first[1], config, shard=(1, 2), rows=(12, 24))
    writer.write(compute_block(BlockJob(split_def, KW["seed"], KW["resolution"], False, 12, 15, 12)))
    writer.close()
    with h5py.File(partial_path(first[1]), "r+") as f:
        assert int(f.attrs["rows_written"]) == 3
        f["extras/action"][0] = (0.125, 0.25, 0.5)
    kept = first[0].stat()

    again = generate_ray("phyre", SPLIT, out, progress=True, **KW)  # N = 2 taken from the files
    assert again == first
    assert not partial_path(first[1]).exists()
    after = first[0].stat()
    assert (after.st_ino, after.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)  # finished shard: no task
    ds = open_dataset(out)
    marker = ds.read("extras/action", 12, 13)[0]
    np.testing.assert_array_equal(marker, (0.125, 0.25, 0.5))  # the flushed rows were kept, not redone
    assert_same_rows(ds, one_process, slice(0, 12))
    assert_same_rows(ds, one_process, slice(13, 24))
    err = capsys.readouterr().err
    assert "24/24" in err
    assert "video/s" in err

    # a third run finds everything finished; another N is refused before any task
    assert generate_ray("phyre", SPLIT, out, progress=False, **KW) == first
    with pytest.raises(PhylawError, match="N = 2 exist already"):
        generate_ray("phyre", SPLIT, out, n_shards=3, progress=False, **KW)
    assert not shard_path(out, 0, 3).exists()
