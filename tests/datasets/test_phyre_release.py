"""The release's combinatorial (PHYRE) HDF5 layout: export -> import round trip, importing a hand-made
release file, per-task files, resume, inspect counts, generate --frames, and every bad input (exit 2, one
line, no file with the final name)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from phylaw.cli.main import main
from phylaw.datasets import open_dataset
from phylaw.datasets import phyre_release as pr
from phylaw.datasets.store import DatasetConfig, DatasetWriter, RowBlock, compress_video
from phylaw.errors import PhylawError
from phylaw.io import decode_mp4, encode_mp4
from phylaw.sim.phyre import features as F

pytest.importorskip("Box2D")

N_FRAMES = 6
RES = 64
# rows in a shuffled order: two tasks of template 10003 (train6) with in-template trials 990, a held-out task,
# an ambiguity trial
PARAMS = np.array(
    [[10003, 1, 990], [10060, 2, 0], [10003, 0, 1], [10003, 0, 0], [20000, 0, 3], [10003, 1, 2],
     [10003, 0, 990]], float,
)  # fmt: skip
TASKS = ["10003:000", "10003:001", "10060:002", "20000:000"]


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    for w in words:
        assert w in lines[0], lines[0]


def write_phyre(path, params=PARAMS, seed=0, n_frames=N_FRAMES, res=RES):
    """A phyre dataset with stored frames (engine states, PHYRE raster frames, actions in extras/action)."""
    from phylaw.render.phyre_raster import render_phyre
    from phylaw.sim.phyre.engine import simulate_rows

    states, extras = simulate_rows(params, seed, n_frames)
    split, level = zip(*[(s[0], lv[0]) for s, lv in (pr.labels_of(int(t), np.array([j])) for t, _, j in params)],
                       strict=True)  # fmt: skip
    n = len(params)
    config = DatasetConfig(
        scenario="phyre", split="hand", split_version="1", ranges="paper", n_videos=n, n_frames=n_frames,
        n_objects=14, resolution=res, seed=seed, param_names=("template", "task", "trial"), frames_stored=True,
        dt=20 / 60,
    )  # fmt: skip
    chunks = tuple(compress_video(v) for v in render_phyre(states, res))
    w = DatasetWriter(path, config)
    w.write(RowBlock(0, n, params, states, np.array(split), np.array(level), np.arange(n), chunks, extras))
    return w.finalize()


@pytest.fixture(scope="module")
def phyre_file(tmp_path_factory):
    return write_phyre(tmp_path_factory.mktemp("phyre") / "p.h5")


def row_of(params: np.ndarray) -> dict[tuple[int, int, int], int]:
    return {tuple(int(v) for v in p): i for i, p in enumerate(params)}


# ---------------------------------------------------------------------------------------------- export


def test_export_writes_the_release_layout(tmp_path, phyre_file):
    out = pr.export_release(phyre_file, tmp_path / "rel.hdf5", progress=False)
    with open_dataset(phyre_file) as ds:
        states = ds.trajectories()
        actions = ds.read("extras/action")
        frames = [ds.frames(i) for i in range(len(ds))]
    rows = row_of(PARAMS)
    feats = F.features(states)
    with h5py.File(out, "r") as f:
        for g in pr.GROUPS:
            assert list(f[g]) == TASKS  # one dataset per task, named TTTTT:kkk
        assert f["action_streams/10003:000"].dtype == np.float64
        assert f["object_streams/10003:000"].dtype == np.float32
        assert f["video_streams/10003:000"].dtype == h5py.vlen_dtype(np.uint8)
        for name, trials in (("10003:000", [0, 1, 990]), ("10003:001", [2, 990]), ("10060:002", [0]),
                             ("20000:000", [3])):  # fmt: skip
            t, k = pr.parse_task_name(name)
            idx = [rows[(t, k, j)] for j in trials]  # trials in trial order
            np.testing.assert_array_equal(f[f"action_streams/{name}"][:], actions[idx])
            present = states.present[idx[0]]
            obj = f[f"object_streams/{name}"][:]
            assert obj.shape == (len(trials), N_FRAMES, int(present.sum()), 14)  # N_task present objects
            np.testing.assert_array_equal(obj, feats[idx][:, :, present])
            np.testing.assert_array_equal(f[f"phylaw/{name}/trial"][:], trials)
            for j, i in enumerate(idx):
                video = decode_mp4(f[f"video_streams/{name}"][j])
                assert video.shape == (N_FRAMES, RES, RES, 3)
                assert np.abs(video.astype(int) - frames[i].astype(int)).mean() < 4  # lossy H.264
        assert f["object_streams/10003:000"].shape[2] != f["object_streams/20000:000"].shape[2]


def test_round_trip_keeps_states_features_actions_names_and_labels(tmp_path, phyre_file):
    rel = pr.export_release(phyre_file, tmp_path / "rel.hdf5", progress=False)
    back = open_dataset(pr.import_release(rel, tmp_path / "back.h5", progress=False))
    orig = open_dataset(phyre_file)
    assert (back.scenario, back.config.source, back.n_frames, back.resolution) == ("phyre", "phyre-release",
                                                                                   N_FRAMES, RES)  # fmt: skip
    assert back.config.dt == pytest.approx(20 / 60)
    assert (back.n_objects, back.n_vertices, back.n_events) == (14, 14, 32)
    assert back.extra_names == ("action",)
    # rows come in the release's order: tasks by their digits, trials in trial order
    bp = back.params.astype(int)
    np.testing.assert_array_equal(bp, sorted(PARAMS.astype(int).tolist()))
    idx = [row_of(orig.params)[tuple(p)] for p in bp.tolist()]
    np.testing.assert_array_equal(back.read("extras/action"), orig.read("extras/action")[idx])
    a, b = orig.trajectories(np.array(idx)), back.trajectories()
    np.testing.assert_array_equal(b.present, a.present)
    for name in ("shape", "color", "static"):
        np.testing.assert_array_equal(getattr(b, name)[b.present], getattr(a, name)[a.present], err_msg=name)
    p = np.broadcast_to(a.present[:, None], a.angle.shape)
    np.testing.assert_allclose(b.position[p], a.position[p], atol=1e-3)
    np.testing.assert_allclose(b.angle[p], a.angle[p], atol=1e-5)
    np.testing.assert_allclose(b.vertices[a.present], a.vertices[a.present], atol=1e-4)
    np.testing.assert_array_equal(b.in_view, a.in_view)
    np.testing.assert_allclose(F.features(b), F.features(a), atol=1e-6, equal_nan=True)
    # labels and the in-template trials survive (the release itself has no trial numbers)
    np.testing.assert_array_equal(back.labels.level, orig.labels.level[idx])
    assert sorted(set(back.labels.level)) == ["ambiguity-20000", "in-template", "out-of-template", "train"]
    assert back.config.split == "hand"
    for i, j in enumerate(idx):
        assert np.abs(back.frames(i).astype(int) - orig.frames(j).astype(int)).mean() < 4


def test_per_task_files_and_a_directory_import(tmp_path, phyre_file):
    merged = pr.export_release(phyre_file, tmp_path / "rel.hdf5", progress=False)
    out = pr.export_release(phyre_file, tmp_path / "tasks", per_task=True, workers=2, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [f"{t}.hdf5" for t in TASKS]
    with h5py.File(out / "10003:001.hdf5", "r") as f, h5py.File(merged, "r") as g:
        for name in pr.GROUPS[:2]:
            np.testing.assert_array_equal(f[name][:], g[f"{name}/10003:001"][:])
        assert f["video_streams"].shape == (2,)
    a = open_dataset(pr.import_release(out, tmp_path / "a.h5", progress=False))
    b = open_dataset(pr.import_release(merged, tmp_path / "b.h5", progress=False))
    for name in ("params", "extras/action", "states/position", "frames", "labels/level"):
        np.testing.assert_array_equal(a.read(name), b.read(name), err_msg=name)


def test_import_resizes_or_keeps_states_only(tmp_path, phyre_file):
    rel = pr.export_release(phyre_file, tmp_path / "rel.hdf5", progress=False)
    small = open_dataset(pr.import_release(rel, tmp_path / "s.h5", resolution=32, progress=False))
    assert small.resolution == 32
    assert small.frames(0).shape == (N_FRAMES, 32, 32, 3)
    proc = open_dataset(pr.import_release(rel, tmp_path / "p.h5", procedural=True, progress=False))
    assert not proc.frames_stored
    assert proc.resolution == RES  # the MP4s' size
    np.testing.assert_array_equal(proc.read("states/position"), small.read("states/position"))


def test_export_resumes_an_interrupted_run(tmp_path, phyre_file, monkeypatch):
    whole = pr.export_release(phyre_file, tmp_path / "whole.hdf5", progress=False)
    real = pr._export_task
    calls = []

    def flaky(job):
        calls.append(job.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(pr, "_export_task", flaky)
    with pytest.raises(KeyboardInterrupt):
        pr.export_release(phyre_file, tmp_path / "rel.hdf5", progress=False)
    assert not (tmp_path / "rel.hdf5").exists()
    monkeypatch.setattr(pr, "_export_task", lambda job: (calls.append(job.name), real(job))[1])
    calls.clear()
    out = pr.export_release(phyre_file, tmp_path / "rel.hdf5", progress=False)
    assert calls == TASKS[2:]  # the two finished tasks were kept
    with h5py.File(out, "r") as f, h5py.File(whole, "r") as g:
        for name in TASKS:
            np.testing.assert_array_equal(f[f"object_streams/{name}"][:], g[f"object_streams/{name}"][:])


# ---------------------------------------------------------------------------------------------- import


def hand_made(path, tasks=(("10000:000", 3), ("10061:005", 1), ("20001:000", 2)), n_frames=4, res=16):
    """A release-layout file written by hand (no phylaw attributes): features from engine states."""
    from phylaw.sim.phyre.engine import simulate_rows

    rng = np.random.Generator(np.random.PCG64(1))
    with h5py.File(path, "w") as f:
        for name, n in tasks:
            t, k = pr.parse_task_name(name)
            params = np.array([[t, k, j] for j in range(n)], float)
            states, _ = simulate_rows(params, 7, n_frames)
            present = states.present[0]
            f[f"action_streams/{name}"] = rng.random((n, 3))
            f[f"object_streams/{name}"] = F.features(states)[:, :, present]
            vids = f.create_dataset(f"video_streams/{name}", (n,), h5py.vlen_dtype(np.uint8))
            for j in range(n):
                frames = np.full((n_frames, res, res, 3), 255, np.uint8)
                frames[:, j : j + 4, 2:6] = (185, 202, 210)
                vids[j] = np.frombuffer(encode_mp4(frames), np.uint8)
    return path


def test_import_a_hand_made_release_file(tmp_path):
    src = hand_made(tmp_path / "combinatorial_out_of_template_eval.hdf5")
    ds = open_dataset(pr.import_release(src, tmp_path / "imp.h5", progress=False))
    assert (len(ds), ds.n_frames, ds.resolution, ds.config.source) == (6, 4, 16, "phyre-release")
    assert ds.config.time_offset == pytest.approx(1 / 60)
    np.testing.assert_array_equal(
        ds.params, [[10000, 0, 0], [10000, 0, 1], [10000, 0, 2], [10061, 5, 0], [20001, 0, 0], [20001, 0, 1]]
    )
    assert ds.labels.level.tolist() == ["train"] * 3 + ["out-of-template"] + ["ambiguity-20001"] * 2
    assert ds.labels.split.tolist() == ["train"] * 3 + ["ood"] * 3
    with h5py.File(src, "r") as f:
        np.testing.assert_array_equal(ds.read("extras/action")[:3], f["action_streams/10000:000"][:])
        obj = f["object_streams/10061:005"][:]
        states = ds.trajectories(slice(3, 4))
        n = obj.shape[2]
        np.testing.assert_allclose(F.features(states)[0][:, :n], obj[0], atol=1e-6)
        assert not states.present[0, n:].any()
        frames = decode_mp4(f["video_streams/20001:000"][1])
    np.testing.assert_array_equal(ds.frames(5), frames)


# ---------------------------------------------------------------------------------------------- bad input


def _rename(f, group, old, new):
    f[group].move(old, new)


def _bad(kind):
    def missing_group(f):
        del f["video_streams"]

    def bad_name(f):
        for g in pr.GROUPS:
            _rename(f, g, "10000:000", "10000-000")

    def mismatched(f):
        _rename(f, "object_streams", "10061:005", "10062:005")

    def counts(f):
        data = f["action_streams/10000:000"][:2]
        del f["action_streams/10000:000"]
        f["action_streams/10000:000"] = data

    def template(f):
        for g in pr.GROUPS:
            _rename(f, g, "10061:005", "10070:005")

    def task(f):
        for g in pr.GROUPS:
            _rename(f, g, "10061:005", "10061:100")

    def shape(f):
        data = f["object_streams/10061:005"][:, :, :, :13]
        del f["object_streams/10061:005"]
        f["object_streams/10061:005"] = data

    def one_hot(f):  # found while converting, in the second task: no partial file is left either
        data = f["object_streams/10061:005"][:]
        data[:, :, 0, 5] = 1
        del f["object_streams/10061:005"]
        f["object_streams/10061:005"] = data

    return {"missing_group": (missing_group, ("missing group(s) video_streams",)),
            "bad_name": (bad_name, ("task name '10000-000'", "TTTTT:kkk")),
            "mismatched": (mismatched, ("task names differ", "10061:005")),
            "counts": (counts, ("10000:000", "trial counts disagree", "action_streams 2", "object_streams 3")),
            "template": (template, ("10070:005", "template id 10070 out of range")),
            "task": (task, ("10061:100", "tasks 0-99")),
            "shape": (shape, ("object_streams has shape",)),
            "one_hot": (one_hot, ("10061:005", "not one-hot"))}[kind]  # fmt: skip


@pytest.mark.parametrize(
    "kind", ["missing_group", "bad_name", "mismatched", "counts", "template", "task", "shape", "one_hot"]
)
def test_bad_release_files_exit_2_with_one_line(tmp_path, capsys, kind):
    src = hand_made(tmp_path / "rel.hdf5")
    mutate, words = _bad(kind)
    with h5py.File(src, "a") as f:
        mutate(f)
    code, _, err = run(capsys, "convert", src, "--to", "phylaw", "--out", tmp_path / "o.h5", "--quiet")
    assert_error(code, err, "rel.hdf5", *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rel.hdf5"]  # no o.h5, no o.h5.partial


def test_bad_per_task_directories(tmp_path, capsys):
    d = tmp_path / "tasks"
    d.mkdir()
    src = hand_made(tmp_path / "m.hdf5")
    with h5py.File(src, "r") as f:
        for name in ("10000:000", "10061:005"):
            with h5py.File(d / f"{name}.hdf5", "w") as g:
                for grp in pr.GROUPS:
                    f.copy(f[f"{grp}/{name}"], g, grp)
    ok = open_dataset(pr.import_release(d, tmp_path / "ok.h5", progress=False))
    assert len(ok) == 4
    with h5py.File(d / "10061:005.hdf5", "a") as g:
        del g["action_streams"]
    code, _, err = run(capsys, "convert", d, "--to", "phylaw", "--out", tmp_path / "o.h5")
    assert_error(code, err, "10061:005.hdf5", "missing dataset(s) action_streams")
    (d / "10061:005.hdf5").rename(d / "extra.hdf5")
    code, _, err = run(capsys, "convert", d, "--to", "phylaw", "--out", tmp_path / "o.h5")
    assert_error(code, err, "task name 'extra'")
    assert not (tmp_path / "o.h5").exists()
    assert not (tmp_path / "o.h5.partial").exists()


def test_bad_exports_and_options(tmp_path, capsys, phyre_file, stored_collision):
    out = tmp_path / "x.hdf5"
    code, _, err = run(capsys, "convert", stored_collision, "--to", "phyre-release", "--out", out)
    assert_error(code, err, "collision", "phyre")
    code, _, err = run(
        capsys, "convert", phyre_file, "--to", "phyre-release", "--out", out, "--resolution", "33"
    )
    assert_error(code, err, "--resolution", "even")
    code, _, err = run(capsys, "convert", phyre_file, "--to", "phyworld", "--out", out, "--per-task")
    assert_error(code, err, "--per-task")
    code, _, err = run(
        capsys, "convert", stored_collision, "--to", "phyworld", "--out", out, "--resolution", "16"
    )
    assert_error(code, err, "--resolution")
    code, _, err = run(capsys, "convert", phyre_file, "--to", "phylaw", "--from", "other", "--out", out)
    assert_error(code, err, "--from")
    # a phylaw dataset without actions cannot fill action_streams
    no_action = tmp_path / "na.h5"
    with open_dataset(phyre_file) as ds:
        w = DatasetWriter(no_action, ds.config)
        w.write(RowBlock(0, len(ds), ds.params, ds.trajectories(), ds.labels.split, ds.labels.level,
                         ds.labels.index, tuple(compress_video(ds.frames(i)) for i in range(len(ds)))))  # fmt: skip
        w.finalize()
    code, _, err = run(capsys, "convert", no_action, "--to", "phyre-release", "--out", out)
    assert_error(code, err, "extras/action")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["na.h5"]
    with pytest.raises(PhylawError, match="TTTTT:kkk"):
        pr.parse_task_name("1000:000")


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_convert_both_directions_and_inspect(tmp_path, capsys, phyre_file):
    code, text, err = run(capsys, "convert", phyre_file, "--to", "phyre-release", "--out", tmp_path / "r.hdf5",
                          "--quiet")  # fmt: skip
    assert code == 0, err
    code, text, err = run(capsys, "convert", tmp_path / "r.hdf5", "--to", "phylaw", "--out", tmp_path / "b.h5",
                          "--resolution", "32", "--quiet")  # fmt: skip
    assert code == 0, err
    assert open_dataset(tmp_path / "b.h5").resolution == 32
    code, text, err = run(capsys, "inspect", tmp_path / "b.h5")
    assert code == 0, err
    assert "10003: 5   10060: 1   20000: 1" in text
    assert "train6: 5 (1 of 6 templates)" in text
    assert "train30: 0 (0 of 30 templates)" in text
    assert "train60: 5 (1 of 60 templates)" in text
    assert "held-out: 1 (1 of 10 templates)" in text
    assert "train (trials 0-989): 3" in text
    assert "in-template (trials 990-999): 2" in text
    assert "out-of-template: 1" in text
    assert "ambiguity: 1" in text


def test_generate_frames_option(tmp_path, capsys):
    code, _, err = run(capsys, "generate", "uniform_motion", "--split", "eval", "--out", tmp_path / "u.h5",
                       "--resolution", "16", "--limit", "3", "--frames", "5", "--quiet")  # fmt: skip
    assert code == 0, err
    assert open_dataset(tmp_path / "u.h5").n_frames == 5
    code, _, err = run(capsys, "generate", "uniform_motion", "--split", "g", "--values", "r=1", "--values", "v=1,2",
                       "--out", tmp_path / "g.h5", "--resolution", "16", "--frames", "7", "--quiet")  # fmt: skip
    assert code == 0, err
    assert open_dataset(tmp_path / "g.h5").n_frames == 7
    code, _, err = run(capsys, "generate", "phyre", "--split", "train6-small", "--out", tmp_path / "p.h5",
                       "--procedural", "--limit", "2", "--frames", "3", "--quiet")  # fmt: skip
    assert code == 0, err
    with open_dataset(tmp_path / "p.h5") as ds:
        assert ds.n_frames == 3
        assert ds.read("extras/action").shape == (2, 3)
    code, _, err = run(capsys, "generate", "phyre", "--split", "train6-small", "--out", tmp_path / "q.h5",
                       "--procedural", "--limit", "2", "--frames", "51")  # fmt: skip
    assert_error(code, err, "50")
    assert not list(tmp_path.glob("q.h5*"))


def test_layout_detection(tmp_path):
    from tests.datasets.test_phyworld import released_style_file

    assert not pr.is_release_file(released_style_file(tmp_path / "pw.hdf5"))  # phyworld has video_streams too
    with h5py.File(tmp_path / "v.hdf5", "w") as f:
        f.create_group("video_streams")
    assert pr.is_release_file(tmp_path / "v.hdf5")  # and its error names the release's missing groups
    with pytest.raises(PhylawError, match="missing group"):
        pr.import_release(tmp_path / "v.hdf5", tmp_path / "o.h5", progress=False)
    assert pr.is_release_file(tmp_path)
    assert not pr.is_release_file(tmp_path / "none.hdf5")


def test_generated_procedural_dataset_through_the_release_layout(tmp_path, capsys):
    code, _, err = run(capsys, "generate", "phyre", "--split", "eval-out-of-template-small", "--out",
                       tmp_path / "g.h5", "--procedural", "--resolution", "64", "--limit", "3", "--frames", "4",
                       "--quiet")  # fmt: skip
    assert code == 0, err
    code, _, err = run(capsys, "convert", tmp_path / "g.h5", "--to", "phyre-release", "--per-task", "--out",
                       tmp_path / "tasks", "--quiet")  # fmt: skip
    assert code == 0, err
    assert len(list((tmp_path / "tasks").iterdir())) == 3  # trial 0 of three held-out tasks
    code, _, err = run(capsys, "convert", tmp_path / "tasks", "--to", "phylaw", "--out", tmp_path / "b.h5",
                       "--quiet")  # fmt: skip
    assert code == 0, err
    with open_dataset(tmp_path / "g.h5") as g, open_dataset(tmp_path / "b.h5") as b:
        assert b.frames_stored
        assert not g.frames_stored
        idx = [row_of(g.params)[tuple(p)] for p in b.params.astype(int).tolist()]
        assert sorted(idx) == [0, 1, 2]
        assert set(b.labels.level) == {"out-of-template"}
        np.testing.assert_array_equal(b.read("extras/action"), g.read("extras/action")[idx])
        for i, j in enumerate(idx):  # the MP4 of the rendered frames, decoded: close to the render
            assert np.abs(b.frames(i).astype(int) - g.frames(j).astype(int)).mean() < 4
