"""Dataset format v2: every States field stored; v1 files (today's phylaw before v2) read as v2; bad layouts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from phylaw import sim
from phylaw.cli.main import main
from phylaw.datasets import generate, open_dataset
from phylaw.datasets.store import STATE_FIELDS, DatasetConfig, DatasetWriter, RowBlock
from phylaw.errors import PhylawError
from phylaw.sim.states import ARRAY_FIELDS, SHAPE_POLYGON, States

V1_FIELDS = {
    "position": "float64", "velocity": "float64", "radius": "float64", "color": "uint8", "shape": "uint8",
    "in_view": "bool", "contact_time": "float64", "contact_frame": "int32",
}  # fmt: skip


def write_v1(path: Path, batch: sim.Batch, config: DatasetConfig, frames: np.ndarray | None) -> Path:
    """A dataset file as phylaw wrote it before format v2 (the v1 layout of store._create_layout)."""
    st, n = batch.trajectories, len(batch.params)
    with h5py.File(path, "w") as f:
        f.attrs.update(
            {"format": "phylaw-dataset", "format_version": 1, "phylaw_version": "0.1.0",
             "scenario": config.scenario, "split": config.split, "split_version": config.split_version,
             "ranges": config.ranges, "resolution": config.resolution, "n_frames": config.n_frames,
             "dt": config.dt, "seed": config.seed, "frames_stored": frames is not None, "n_videos": n,
             "shard": "0/1", "row_start": 0, "n_videos_total": n, "source": "phylaw", "time_offset": 0.0,
             "pixel_convention": "centre", "config_json": json.dumps(config.to_dict(), sort_keys=True),
             "rows_written": n}
        )  # fmt: skip
        p = f.create_dataset("params", data=batch.params)
        p.attrs["names"] = list(config.param_names)
        for name, dtype in V1_FIELDS.items():
            f.create_dataset(f"states/{name}", data=np.asarray(getattr(st, name), dtype=dtype))
        f["labels/split"] = batch.labels.split.astype("S24")
        f["labels/level"] = batch.labels.level.astype("S24")
        f["labels/index"] = batch.labels.index
        if frames is not None:
            f["frames"] = frames
    return path


@pytest.fixture(scope="module", params=["collision", "uniform_motion"])
def v1_and_v2(request, tmp_path_factory):
    scenario = request.param
    d = tmp_path_factory.mktemp(f"v1-{scenario}")
    v2 = generate(scenario, "eval-small", d / "v2.h5", resolution=16, limit=20, seed=4, progress=False)
    ds = open_dataset(v2)
    frames = np.stack([ds.frames(i) for i in range(len(ds))])
    batch = sim.get_split(scenario, "eval-small").generate(0, 20, 4)
    v1 = write_v1(d / "v1.h5", batch, ds.config, frames)
    return open_dataset(v1), ds


def test_v1_file_reads_as_v2(v1_and_v2):
    old, new = v1_and_v2
    assert (old.format_versions, new.format_versions) == ((1,), (2,))
    assert old.fingerprint == new.fingerprint
    assert (old.n_objects, old.n_events, old.n_vertices) == (new.n_objects, new.n_events, new.n_vertices)
    for name in (*STATE_FIELDS, "contact_time", "contact_frame"):
        a, b = old.read(f"states/{name}"), new.read(f"states/{name}")
        assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        np.testing.assert_array_equal(a, b, err_msg=name)
    idx = np.array([7, 2, 2, 15])
    sa, sb = old.trajectories(idx), new.trajectories(idx)
    for name in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(sa, name), getattr(sb, name), err_msg=name)
    every = np.arange(len(new))  # every row by index: h5py cannot select all rows of an empty (E = 0) axis
    for name in ARRAY_FIELDS:
        np.testing.assert_array_equal(
            getattr(old.trajectories(every), name), getattr(new.trajectories(every), name), err_msg=name
        )
    for key, value in old.states(3).items():
        np.testing.assert_array_equal(value, new.states(3)[key], err_msg=key)
    np.testing.assert_array_equal(old.frames(5), new.frames(5))


def test_v2_file_stores_the_first_event_as_contact(v1_and_v2):
    _, new = v1_and_v2
    if new.scenario == "collision":
        assert new.n_events == 1
        with h5py.File(new.paths[0]) as f:
            assert int(f.attrs["format_version"]) == 2
            assert "contact_time" not in f["states"]  # stored as the first event
            np.testing.assert_array_equal(f["states/event_time"][:, 0], new.read("states/contact_time"))
    else:
        assert new.n_events == 0
        assert np.isnan(new.read("states/contact_time")).all()
        assert (new.read("states/contact_frame") == -1).all()


def _polygon_states(n: int, n_events: int) -> States:
    rng = np.random.default_rng(n)
    k, t, v = 3, 4, 5
    ang = np.linspace(0, 2 * np.pi, v, endpoint=False)
    verts = np.stack([np.cos(ang), np.sin(ang)], -1) * 0.4  # a pentagon, body frame
    vertices = np.broadcast_to(verts, (n, k, v, 2)).copy()
    vertices[:, 2, 3:] = np.nan  # slot 2: a triangle, NaN padded
    pos = rng.uniform(2, 8, (n, t, k, 2))
    return States(
        scenario="uniform_motion", position=pos, velocity=rng.normal(size=pos.shape),
        radius=np.full((n, k), 0.4), color=np.tile(np.array([1, 2, 3], np.uint8), (n, 1)),
        shape=np.full((n, k), SHAPE_POLYGON, np.uint8), in_view=np.ones((n, t, k), bool),
        angle=rng.uniform(0, 6, (n, t, k)), present=np.tile([True, True, False], (n, 1)),
        half_size=np.full((n, k, 2), 0.3), vertices=vertices, static=np.tile([False, True, False], (n, 1)),
        event_time=np.tile(np.array([0.1, 0.25])[:n_events], (n, 1)),
        event_frame=np.tile(np.array([1, 3], np.int32)[:n_events], (n, 1)),
        event_a=np.tile(np.array([0, 1], np.int16)[:n_events], (n, 1)),
        event_b=np.tile(np.array([1, 2], np.int16)[:n_events], (n, 1)),
    )  # fmt: skip


def _config(n: int) -> DatasetConfig:
    return DatasetConfig(
        scenario="uniform_motion", split="custom", split_version="1", ranges="paper", n_videos=n, n_frames=4,
        n_objects=3, resolution=16, seed=0, param_names=("r", "v"), frames_stored=False,
    )  # fmt: skip


def _block(start: int, states: States) -> RowBlock:
    n = len(states)
    idx = np.arange(start, start + n)
    return RowBlock(
        start, start + n, np.ones((n, 2)), states, np.full(n, "train"), np.full(n, "train"), idx, None
    )


def test_every_states_field_round_trips_and_blocks_are_padded(tmp_path):
    first, second = _polygon_states(3, 2), _polygon_states(2, 1)  # the second block has one event fewer
    writer = DatasetWriter(tmp_path / "p.h5", _config(5))
    writer.write(_block(0, first))
    writer.write(_block(3, second))
    path = writer.finalize()
    ds = open_dataset(path)
    assert (ds.n_objects, ds.n_events, ds.n_vertices) == (3, 2, 5)
    want = States.concatenate([first, second])
    got = ds.trajectories()
    for name in ARRAY_FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert np.isnan(got.event_time[3:, 1]).all()
    assert (got.event_a[3:, 1] == -1).all()


def test_a_block_with_more_events_than_the_file_is_an_error(tmp_path):
    writer = DatasetWriter(tmp_path / "p.h5", _config(5))
    try:
        writer.write(_block(0, _polygon_states(3, 1)))
        with pytest.raises(
            PhylawError, match="2 events and 5 vertices does not fit a file laid out for 1 and 5"
        ):
            writer.write(_block(3, _polygon_states(2, 2)))
    finally:
        writer.close()


def _mutated(src: Path, dst: Path, edit) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def _replace(f: h5py.File, name: str, data: np.ndarray) -> None:
    del f[name]
    f[name] = data


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda f: f.attrs.__setitem__("format_version", 3), ["unknown format_version 3", "reads 1, 2"]),
        (lambda f: f.attrs.__setitem__("format_version", "two"), ["unknown format_version 'two'"]),
        (lambda f: _replace(f, "states/color", np.ones((20, 3), np.uint8)), ["objects K", "color has 3"]),
        (
            lambda f: _replace(f, "frames", f["frames"][:, :5]),
            ["frames T", "frames has 5", "position has 32"],
        ),
        (lambda f: _replace(f, "states/angle", np.zeros((20, 32, 3))), ["objects K", "angle has 3"]),
    ],
)
def test_bad_layouts_are_one_line_errors(v1_and_v2, tmp_path, capsys, edit, words):
    _, new = v1_and_v2
    bad = _mutated(new.paths[0], tmp_path / "bad.h5", edit)
    with pytest.raises(PhylawError) as err:
        open_dataset(bad)
    assert str(bad) in str(err.value)
    for w in words:
        assert w in str(err.value)
    out = tmp_path / "merged.h5"
    assert main(["merge", str(bad), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert str(bad) in lines[0]
    assert not out.exists()
    assert not Path(str(out) + ".partial").exists()


def test_v1_states_disagreeing_with_frames_is_an_error(v1_and_v2, tmp_path):
    old, _ = v1_and_v2
    bad = _mutated(old.paths[0], tmp_path / "bad1.h5", lambda f: _replace(f, "frames", f["frames"][:, :7]))
    with pytest.raises(PhylawError, match=r"bad1\.h5: states and frames: .*frames has 7, position has 32"):
        open_dataset(bad)


def test_a_shard_set_of_v1_and_v2_files_reads_as_one_dataset(tmp_path):
    out = tmp_path / "c.h5"
    paths = [
        generate(
            "collision", "eval-small", out, resolution=16, limit=12, seed=2, shard=(i, 2), progress=False
        )
        for i in range(2)
    ]
    whole = open_dataset(paths)
    with h5py.File(paths[0]) as f:
        attrs = dict(f.attrs)
    n0 = int(attrs["n_videos"])
    frames = np.stack([whole.frames(i) for i in range(n0)])
    batch = sim.get_split("collision", "eval-small").generate(0, n0, 2)
    paths[0].unlink()
    write_v1(paths[0], batch, whole.config, frames)
    with h5py.File(paths[0], "r+") as f:
        f.attrs.update({k: attrs[k] for k in ("shard", "row_start", "n_videos_total")})
    mixed = open_dataset(paths)
    assert mixed.format_versions == (1, 2)
    assert mixed.fingerprint == whole.fingerprint
    for name in (*STATE_FIELDS, "contact_time"):
        np.testing.assert_array_equal(
            mixed.read(f"states/{name}"), whole.read(f"states/{name}"), err_msg=name
        )
