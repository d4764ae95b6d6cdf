"""phyworld interop: export layout, import of released-style files, round trip, bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from phylaw.datasets import convert, generate, open_dataset
from phylaw.datasets.phyworld import classify
from phylaw.errors import PhylawError
from phylaw.io import decode_mp4, encode_mp4
from phylaw.sim.kinematics import elastic_velocities


def test_round_trip_preserves_params_positions_and_frames(tmp_path, stored_collision):
    exported = convert(stored_collision, "phyworld", tmp_path / "pw.hdf5", progress=False)
    with h5py.File(exported, "r") as f:
        for g in ("position_streams", "init_streams", "video_streams"):
            assert list(f[g]) == ["00000"]
        assert f["position_streams/00000"].shape == (24, 32, 2, 2)
        assert f["init_streams/00000"].shape == (24, 4)
        assert f["video_streams/00000"].dtype == h5py.vlen_dtype(np.uint8)
        first = f["video_streams/00000"][0]
    assert decode_mp4(first).shape == (32, 32, 32, 3)
    back = open_dataset(convert(exported, "phylaw", tmp_path / "back.h5", progress=False))
    orig = open_dataset(stored_collision)
    np.testing.assert_array_equal(back.params, orig.params)
    np.testing.assert_array_equal(back.read("states/position"), orig.read("states/position"))
    np.testing.assert_array_equal(back.read("states/radius"), orig.read("states/radius"))
    np.testing.assert_array_equal(back.labels.level, orig.labels.level)
    assert back.config.time_offset == 0.0
    assert back.config.pixel_convention == "centre"
    # velocities rebuilt from the closed form and the contact found from positions
    np.testing.assert_allclose(back.read("states/velocity"), orig.read("states/velocity"), atol=1e-9)
    np.testing.assert_array_equal(back.read("states/contact_frame"), orig.read("states/contact_frame"))
    # frames: lossy H.264, but close
    for i in (0, 11, 23):
        diff = np.abs(back.frames(i).astype(int) - orig.frames(i).astype(int))
        assert diff.mean() < 4.0, diff.mean()


def released_style_file(path, n_chunks=(3, 2)):
    """A collision file laid out like the released data: Box2D-like positions, frame 0 at t = 0.01 s."""
    rng = np.random.Generator(np.random.PCG64(0))
    t = 0.01 + 0.1 * np.arange(32)
    with h5py.File(path, "w") as f:
        for c, n in enumerate(n_chunks):
            r = rng.uniform(0.5, 1.5, (n, 2))
            v = rng.uniform(1.0, 4.0, (n, 2))
            if c == 1:
                r[0, 0] = 0.35  # an OOD radius (level "r1" in the phyworld range set)
            x1, x2 = np.full(n, 2.0), 2.0 + r.sum(1) + 1.2 * (v[:, 0] + v[:, 1])  # contact at t = 1.21 s
            u1, u2 = elastic_velocities(r[:, 0] ** 2, r[:, 1] ** 2, v[:, 0], -v[:, 1])
            tc = 0.01 + 1.2
            pos = np.zeros((n, 32, 2, 2))
            for k, tk in enumerate(t):
                d_pre = tk - 0.01
                d_post = tk - tc
                pos[:, k, 0, 0] = np.where(tk < tc, x1 + v[:, 0] * d_pre, x1 + v[:, 0] * 1.2 + u1 * d_post)
                pos[:, k, 1, 0] = np.where(tk < tc, x2 - v[:, 1] * d_pre, x2 - v[:, 1] * 1.2 + u2 * d_post)
            pos[..., 1] = 5.0
            name = f"{c:05d}"
            f[f"position_streams/{name}"] = pos
            f[f"init_streams/{name}"] = np.concatenate([r, v], axis=1)
            vids = f.create_dataset(f"video_streams/{name}", (n,), h5py.vlen_dtype(np.uint8))
            frames = np.full((32, 16, 16, 3), 255, np.uint8)
            for i in range(n):
                vids[i] = np.frombuffer(encode_mp4(frames), np.uint8)
    return path


def test_import_released_style_eval_file(tmp_path):
    src = released_style_file(tmp_path / "collision_eval.hdf5")
    ds = open_dataset(convert(src, "phylaw", tmp_path / "imp.h5", procedural=True, progress=False))
    assert (len(ds), ds.scenario, ds.config.source) == (5, "collision", "phyworld")
    assert ds.resolution == 16  # read from the first video, not assumed (the released data is 256²)
    assert ds.config.time_offset == pytest.approx(0.01)
    assert ds.config.pixel_convention == "linspace"
    assert not ds.frames_stored
    np.testing.assert_array_equal(ds.read("states/contact_frame"), np.full(5, 12))  # t_12 = 1.21 >= t_c
    np.testing.assert_allclose(ds.read("states/contact_time"), np.full(5, 1.21), atol=1e-9)
    vel = ds.read("states/velocity")
    params = ds.params
    np.testing.assert_allclose(vel[:, 0, 0, 0], params[:, 2])
    np.testing.assert_allclose(vel[:, 0, 1, 0], -params[:, 3])
    m1, m2 = params[:, 0] ** 2, params[:, 1] ** 2
    np.testing.assert_allclose(
        m1 * vel[:, -1, 0, 0] + m2 * vel[:, -1, 1, 0], m1 * params[:, 2] - m2 * params[:, 3]
    )
    assert ds.labels.split.tolist() == ["id"] * 3 + ["ood", "id"]
    assert ds.labels.level[3] == "r1"
    with_frames = open_dataset(convert(src, "phylaw", tmp_path / "imp2.h5", progress=False))
    assert with_frames.frames_stored
    assert with_frames.frames(0).shape == (32, 16, 16, 3)


def test_classify_levels():
    split, level = classify("uniform_motion", np.array([[1.0, 2.0], [0.4, 2.0], [1.0, 5.0], [1.8, 0.2]]))
    assert split.tolist() == ["id", "ood", "ood", "ood"]
    assert level.tolist() == ["id", "r_ood", "v_ood", "rv_ood"]
    _, level = classify("collision", np.array([[1.0, 1.0, 0.5, 5.0], [0.3, 1.9, 0.1, 5.0]]))
    assert level.tolist() == ["v1_v2", "all"]


@pytest.mark.parametrize("damage", ["drop_group", "rename_chunk", "bad_name"])
def test_bad_phyworld_files(tmp_path, damage):
    src = released_style_file(tmp_path / "collision_30K.hdf5")
    with h5py.File(src, "a") as f:
        if damage == "drop_group":
            del f["init_streams"]
        elif damage == "rename_chunk":
            f.move("video_streams/00001", "video_streams/00002")
        else:
            for g in ("position_streams", "init_streams", "video_streams"):
                f.move(f"{g}/00001", f"{g}/chunk1")
    out = tmp_path / "imp.h5"
    with pytest.raises(PhylawError, match=r"phyworld|chunk"):
        convert(src, "phylaw", out, progress=False)
    assert not out.exists()


def test_worker_processes_give_the_same_import_and_export(tmp_path):
    src = released_style_file(tmp_path / "collision_eval.hdf5")
    one = open_dataset(convert(src, "phylaw", tmp_path / "one.h5", progress=False))
    two = open_dataset(convert(src, "phylaw", tmp_path / "two.h5", workers=2, progress=False))
    np.testing.assert_array_equal(one.read("states/velocity"), two.read("states/velocity"))
    for i in range(len(one)):
        np.testing.assert_array_equal(one.frames(i), two.frames(i))
    # x264 output is byte-deterministic at real sizes (not at tiny ones like 32², an x264 quirk): use 128²
    src128 = generate("uniform_motion", "eval", tmp_path / "u128.h5", resolution=128, limit=4, procedural=True,
                      progress=False)  # fmt: skip
    a = convert(src128, "phyworld", tmp_path / "a.hdf5", progress=False)
    b = convert(src128, "phyworld", tmp_path / "b.hdf5", workers=2, progress=False)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for va, vb in zip(fa["video_streams/00000"], fb["video_streams/00000"], strict=True):
            np.testing.assert_array_equal(va, vb)  # deterministic MP4 bytes


@pytest.mark.parametrize("scenario", ["uniform_motion", "parabola"])
def test_import_single_ball_scenarios(tmp_path, scenario):
    """Uniform vs parabola is told from the positions; velocities follow the closed form at t = 0.01 + 0.1 k."""
    t = 0.01 + 0.1 * np.arange(32)
    r, v = np.array([0.8, 1.2, 1.0]), np.array([1.0, 2.5, 3.5])
    g = 2.5 if scenario == "parabola" else 0.0
    pos = np.stack(
        [1.0 + v[:, None] * t, 8.0 - 0.5 * g * t[None, :] ** 2 + 0 * v[:, None]], axis=-1
    )  # (3, 32, 2)
    src = tmp_path / f"{scenario}_30K.hdf5"
    with h5py.File(src, "w") as f:
        f["position_streams/00000"] = pos
        f["init_streams/00000"] = np.stack([r, v], axis=1)
    ds = open_dataset(convert(src, "phylaw", tmp_path / "imp.h5", procedural=True, progress=False))
    assert ds.scenario == scenario
    assert ds.labels.split.tolist() == ["train"] * 3
    vel = ds.read("states/velocity")[:, :, 0]  # (3, 32, 2)
    np.testing.assert_allclose(vel[..., 0], np.broadcast_to(v[:, None], (3, 32)))
    np.testing.assert_allclose(vel[..., 1], np.broadcast_to(-g * t, (3, 32)), atol=1e-12)
    np.testing.assert_array_equal(ds.read("states/position")[:, :, 0], pos)
    assert ds.read("states/in_view").shape == (3, 32, 1)
    assert ds.frames(1).shape == (32, 256, 256, 3)  # rendered from the states at the released resolution


def _assert_same_h5(a_path, b_path) -> None:
    """Same groups, datasets and values (vlen MP4 streams element by element)."""
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        names_a, names_b = [], []
        a.visit(names_a.append)
        b.visit(names_b.append)
        assert sorted(names_a) == sorted(names_b)
        for name in names_a:
            if isinstance(a[name], h5py.Dataset):
                x, y = a[name][()], b[name][()]
                if a[name].dtype.kind == "O":
                    assert len(x) == len(y)
                    for u, v in zip(x, y, strict=True):
                        np.testing.assert_array_equal(u, v)
                else:
                    np.testing.assert_array_equal(x, y)


def _interrupted_at_second(fn, calls: list, key):
    """``fn`` that records ``key(job)`` of every call and raises KeyboardInterrupt (a Ctrl-C) on the second."""

    def wrapped(job):
        calls.append(key(job))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fn(job)

    return wrapped


def test_interrupted_export_and_import_resume(tmp_path, monkeypatch):
    """convert keeps an interrupted run's finished chunks in OUT.partial and the same command finishes from
    there, with the same contents as an uninterrupted run (export: phylaw -> phyworld; import: the reverse)."""
    from phylaw.datasets import phyworld

    # 128²: x264 is byte-deterministic at real sizes (see the worker test above), so the MP4 bytes can be compared
    src = generate("uniform_motion", "eval", tmp_path / "u.h5", resolution=128, limit=7, procedural=True,
                   progress=False)  # fmt: skip
    monkeypatch.setattr(phyworld, "CHUNK", 3)  # 7 videos -> chunks of 3, 3, 1
    full = convert(src, "phyworld", tmp_path / "full.hdf5", progress=False)
    real, calls = phyworld._export_chunk, []
    monkeypatch.setattr(phyworld, "_export_chunk", _interrupted_at_second(real, calls, lambda job: job.a))
    out = tmp_path / "pw.hdf5"
    with pytest.raises(KeyboardInterrupt):
        convert(src, "phyworld", out, progress=False)
    assert not out.exists()
    assert (tmp_path / "pw.hdf5.partial").is_file()
    convert(src, "phyworld", out, progress=False)
    assert calls == [0, 3, 3, 6]  # the second run redid only the unfinished chunks
    _assert_same_h5(full, out)
    # a partial file from another input is started over, not mixed in
    other = generate("uniform_motion", "eval", tmp_path / "v.h5", resolution=16, limit=5, procedural=True, seed=1,
                     progress=False)  # fmt: skip
    monkeypatch.setattr(phyworld, "_export_chunk", real)
    (tmp_path / "x.hdf5.partial").write_bytes((tmp_path / "pw.hdf5").read_bytes())
    with h5py.File(convert(other, "phyworld", tmp_path / "x.hdf5", progress=False), "r") as f:
        assert sum(f["init_streams"][c].shape[0] for c in f["init_streams"]) == 5

    released = released_style_file(tmp_path / "collision_eval.hdf5")
    whole = open_dataset(convert(released, "phylaw", tmp_path / "whole.h5", progress=False))
    seen: list[str] = []
    monkeypatch.setattr(
        phyworld, "_import_chunk", _interrupted_at_second(phyworld._import_chunk, seen, lambda j: j.name)
    )
    with pytest.raises(KeyboardInterrupt):
        convert(released, "phylaw", tmp_path / "imp.h5", progress=False)
    assert not (tmp_path / "imp.h5").exists()
    resumed = open_dataset(convert(released, "phylaw", tmp_path / "imp.h5", progress=False))
    assert seen == ["00000", "00001", "00001"]
    np.testing.assert_array_equal(resumed.read("states/position"), whole.read("states/position"))
    for i in range(len(whole)):
        np.testing.assert_array_equal(resumed.frames(i), whole.frames(i))
