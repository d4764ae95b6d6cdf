"""End to end: evaluate() and the CLI on real datasets, video folders, sample files; bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from phylaw.cli.main import main
from phylaw.datasets.reader import open_dataset
from phylaw.errors import PhylawError
from phylaw.evaluate import EvalOptions, Palette, evaluate
from phylaw.evaluate import registry as reg
from phylaw.evaluate.report import mean_ci


def _summary_row(summary, metric, split, level):
    s = summary[(summary.metric == metric) & (summary.split == split) & (summary.level == level)]
    assert len(s) == 1
    return s.iloc[0]


def test_floor_uniform_128_is_small(datasets, tmp_path):
    """GT frames score the floor; at 128² it is of the order of the paper's 0.0099 (see docs/evaluation.md)."""
    data = datasets("uniform_motion", 128, 12)
    res = evaluate(data, None, tmp_path / "floor", metrics=["velocity_error", "mean_velocity_error"])
    row = _summary_row(res.summary, "velocity_error", "id", "id")
    assert 0.02 < row["mean"] < 0.07  # measured 0.044 (12 videos), 0.048 (306); digitisation noise, see docs
    assert row["floor_mean"] == row["mean"]  # the dataset's own frames are the floor
    assert _summary_row(res.summary, "mean_velocity_error", "id", "id")["mean"] < 0.0099
    assert all(p.exists() and p.read_bytes()[:4] == b"\x89PNG" for p in res.plots)
    assert len(res.plots) == 2


def test_csv_and_summary_agree(uniform64, tmp_path):
    res = evaluate(uniform64, None, tmp_path / "o")
    rows = pd.read_csv(res.metrics_csv)
    summary = pd.read_csv(res.summary_csv)
    chosen = reg.select_metrics(None, "uniform_motion")
    assert len(rows) == 12 * sum(m.kind == "video" for m in chosen)  # set metrics: set_stats.csv
    assert set(summary.kind) == {"video", "set"}
    assert {"r", "v", "split", "level", "label_index", "index", "value", "floor", "unit"} <= set(rows.columns)
    for s in summary[summary.kind == "video"].itertuples():
        g = rows[(rows.metric == s.metric) & (rows.split == s.split)]
        if s.level != "pooled":
            g = g[g.level == s.level]
        n, mean, lo, hi = mean_ci(g["value"].to_numpy())
        assert (n, s.n_videos) == (s.n, len(g))
        np.testing.assert_allclose([s.mean, s.ci95_lo, s.ci95_hi], [mean, lo, hi], rtol=1e-8, equal_nan=True)
        finite = g["value"].to_numpy()[np.isfinite(g["value"].to_numpy())]
        np.testing.assert_allclose(s.median, np.median(finite) if finite.size else np.nan, equal_nan=True)
        floors = g["floor"].to_numpy()[np.isfinite(g["floor"].to_numpy())]
        np.testing.assert_allclose(
            s.floor_median, np.median(floors) if floors.size else np.nan, equal_nan=True
        )
    assert "velocity_error (world/s)" in res.summary_md.read_text()


def _write_videos(folder, ds, indices, fn=None, ext=".npy", name="{i}", gif_ms=None):
    folder.mkdir(parents=True, exist_ok=True)
    import imageio.v3 as iio

    for i in indices:
        frames = ds.frames(int(i))
        frames = fn(frames) if fn else frames
        path = folder / (name.format(i=i) + ext)
        if ext == ".npy":
            np.save(path, frames)
        elif ext == ".mp4":
            iio.imwrite(path, frames, plugin="pyav", codec="libx264", fps=10)
        elif gif_ms:  # GIF with a frame duration: merged frames can be restored
            iio.imwrite(path, frames, loop=0, duration=gif_ms)
        else:
            iio.imwrite(path, frames, loop=0)


def test_folder_of_doctored_videos(uniform64, tmp_path):
    """Ball removed from frames 10..13 of every video: failures reported, positions not invented."""
    ds = open_dataset(uniform64)

    def remove(frames):
        frames = frames.copy()
        frames[10:14] = 255
        return frames

    _write_videos(tmp_path / "v", ds, range(6), remove, name="vid_{i:05d}")
    res = evaluate(
        uniform64, tmp_path / "v", tmp_path / "o", metrics=["parse_failure_rate", "velocity_error"]
    )
    rows = pd.read_csv(res.metrics_csv)
    assert sorted(rows["index"].unique()) == list(range(6))
    fail = rows[rows.metric == "parse_failure_rate"].set_index("index")
    traj = ds.trajectories(np.arange(6))
    for i in range(6):
        view = traj.in_view[i, 3:, 0]
        lost = view[7:11].sum()  # frames 10..13 among generated frames 3..31
        np.testing.assert_allclose(fail.loc[i, "value"], lost / view.sum())
        assert fail.loc[i, "floor"] == 0.0


def test_formats_layouts_and_short_videos(uniform64, tmp_path):
    ds = open_dataset(uniform64)
    v = tmp_path / "v"
    _write_videos(v, ds, [0], ext=".gif")  # no frame durations
    _write_videos(v, ds, [1], ext=".gif", gif_ms=100)
    _write_videos(v, ds, [2], fn=lambda f: f[:20], name="{i:05d}")  # shorter than the ground truth
    np.savez(v / "sample_3.npz", frames=ds.frames(3))
    # released 3-panel layout: [GT | recon | generated], {meta:05d}-{local:05d}.mp4 -> meta*1000 + local
    _write_videos(
        v, ds, [4], fn=lambda f: np.concatenate([f, f, f], axis=2), ext=".mp4", name="00000-0000{i}"
    )
    res = evaluate(uniform64, v, tmp_path / "o", metrics=["velocity_error", "position_error"])
    rows = pd.read_csv(res.metrics_csv)
    assert sorted(rows["index"].unique()) == [0, 1, 2, 3, 4]
    assert (rows.status == "ok").all()
    vel = rows[rows.metric == "velocity_error"].set_index("index")
    assert vel.loc[2, "n_frames_scored"] == 20
    assert vel.loc[3, "n_frames_scored"] == 32
    import imageio.v3 as iio

    # GIF writers merge identical consecutive frames (here: after the ball has left the view), summing their
    # durations; with durations the reader restores them, without any the decoded length is what is scored
    assert len(iio.imread(v / "1.gif", index=None)) < 32
    assert vel.loc[1, "n_frames_scored"] == 32
    assert vel.loc[1, "value"] == vel.loc[1, "floor"]  # restored frame for frame: scores exactly the floor
    assert vel.loc[0, "n_frames_scored"] == len(iio.imread(v / "0.gif", index=None))
    for i in (2, 3):  # lossless copies of the GT score exactly the floor
        assert vel.loc[i, "value"] == vel.loc[i, "floor"]
    assert vel.loc[4, "resolution"] == 64
    assert abs(vel.loc[4, "value"] - vel.loc[4, "floor"]) < 0.05  # lossy mp4 stays near the floor
    assert "shorter than the ground truth" in res.summary_md.read_text()


def test_other_resolution_gets_floor_at_that_resolution(uniform64, tmp_path):
    ds = open_dataset(uniform64)
    (tmp_path / "v").mkdir()
    for i in (0, 1):
        np.save(tmp_path / "v" / f"{i}.npy", ds.frames(i, resolution=32))
    rows = pd.read_csv(
        evaluate(uniform64, tmp_path / "v", tmp_path / "o", metrics=["velocity_error"]).metrics_csv
    )
    assert (rows.resolution == 32).all()
    assert (rows.value == rows.floor).all()  # the floor is the GT rendered at 32², not at the dataset's 64²


def _sample_file(path, ds, rows, fingerprint=None, done=None, cond_frames=3):
    with h5py.File(path, "w") as f:
        f.attrs.update(format="phylaw-samples", format_version=1, complete=done is None, cond_frames=cond_frames,
                       dataset_fingerprint=fingerprint or ds.fingerprint)  # fmt: skip
        f["index"] = np.array(rows, dtype=np.int64)
        f["frames"] = np.stack([ds.frames(i) for i in rows])
        f["done"] = np.ones(len(rows), bool) if done is None else np.array(done)


def test_sample_file(uniform64, tmp_path):
    ds = open_dataset(uniform64)
    _sample_file(tmp_path / "s.h5", ds, [5, 2, 7], done=[True, True, False])
    res = evaluate(uniform64, tmp_path / "s.h5", tmp_path / "o", metrics=["velocity_error"])
    rows = pd.read_csv(res.metrics_csv)
    assert rows["index"].tolist() == [2, 5]  # unfinished row 7 is not scored
    assert (rows.value == rows.floor).all()
    assert "c = 3" in res.summary_md.read_text()
    _sample_file(tmp_path / "s5.h5", ds, [2], cond_frames=5)  # c is taken from the file
    res5 = evaluate(uniform64, tmp_path / "s5.h5", tmp_path / "o5", metrics=["velocity_error"])
    assert "c = 5" in res5.summary_md.read_text()
    _sample_file(tmp_path / "bad.h5", ds, [1], fingerprint="0" * 32)
    with pytest.raises(PhylawError, match="fingerprint"):
        evaluate(uniform64, tmp_path / "bad.h5", tmp_path / "o2")
    with h5py.File(tmp_path / "bad.h5", "a") as f:
        del f["done"]
        f["done"] = np.ones(3, bool)
        f.attrs["dataset_fingerprint"] = ds.fingerprint
    with pytest.raises(PhylawError, match="row counts differ"):
        evaluate(uniform64, tmp_path / "bad.h5", tmp_path / "o2")


def test_bad_folders(uniform64, tmp_path):
    ds = open_dataset(uniform64)
    cases = {
        "range": ([99], "out of range"),
        "noindex": (None, "no dataset index"),
        "dup": ([1], "both claim"),
        "empty": ([], "no video files"),
    }
    for name, (idx, msg) in cases.items():
        d = tmp_path / name
        d.mkdir()
        if name == "noindex":
            np.save(d / "video.npy", ds.frames(0))
        elif name == "dup":
            np.save(d / "1.npy", ds.frames(1))
            np.save(d / "vid_0001.npy", ds.frames(1))
        elif idx:
            np.save(d / f"{idx[0]}.npy", ds.frames(0))
        with pytest.raises(PhylawError, match=msg):
            evaluate(uniform64, d, tmp_path / f"o_{name}")
        assert not (tmp_path / f"o_{name}" / "metrics.csv").exists()


def test_per_video_failure_rows(uniform64, tmp_path):
    """Unreadable file, empty video, non-square frames: failure rows, the other videos are scored."""
    ds = open_dataset(uniform64)
    v = tmp_path / "v"
    _write_videos(v, ds, [0])
    (v / "1.mp4").write_bytes(b"not a video at all")
    np.save(v / "2.npy", np.zeros((0, 64, 64, 3), np.uint8))
    np.save(v / "3.npy", ds.frames(3)[:, :, :40])
    np.save(v / "4.npy", ds.frames(4).astype(np.float32))
    res = evaluate(uniform64, v, tmp_path / "o", metrics=["velocity_error"])
    rows = pd.read_csv(res.metrics_csv).set_index("index")
    assert rows.loc[0, "status"] == "ok"
    for i, msg in ((1, "unreadable"), (2, "empty"), (3, "not square"), (4, "uint8")):
        assert msg in rows.loc[i, "status"], rows.loc[i, "status"]
        assert np.isnan(rows.loc[i, "value"])
    assert _summary_row(res.summary, "velocity_error", "id", "id")["n_failed_videos"] >= 1


def test_palette_that_finds_nothing(uniform64, tmp_path):
    ds = open_dataset(uniform64)
    _write_videos(tmp_path / "v", ds, [0, 1], fn=lambda f: np.full_like(f, 255))
    with pytest.raises(
        PhylawError, match="found no object in any frame of 2 videos although it finds them in"
    ):
        evaluate(uniform64, tmp_path / "v", tmp_path / "o")
    assert not (tmp_path / "o" / "metrics.csv").exists()
    green = EvalOptions(palette=Palette.from_string("g1:1:0-126,128-255,0-126;g2:2:0-126,129-255,0-126"))
    with pytest.raises(PhylawError, match="nor in the ground-truth frames"):
        evaluate(uniform64, None, tmp_path / "o2", options=green)
    assert not (tmp_path / "o2" / "metrics.csv").exists()


def test_crash_leaves_no_csv_and_resume(uniform64, tmp_path, monkeypatch):
    calls = []
    real = reg.METRICS["velocity_error"]

    def flaky(ctx):
        calls.append(ctx.pos.shape[0])
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real.fn(ctx)

    monkeypatch.setitem(reg.METRICS, "velocity_error", reg.Metric("velocity_error", "world/s", False, flaky))
    opt = EvalOptions(metrics=("velocity_error",), block=4, floor=False)
    evaluate(
        uniform64, None, tmp_path / "o", options=EvalOptions(metrics=("position_error",))
    )  # an earlier run
    assert (tmp_path / "o" / "metrics.csv").exists()
    with pytest.raises(RuntimeError, match="simulated"):
        evaluate(uniform64, None, tmp_path / "o", options=opt)
    assert not (tmp_path / "o" / "metrics.csv").exists()  # neither a partial nor the earlier run's CSV
    assert not (tmp_path / "o" / "summary.md").exists()
    assert len(list((tmp_path / "o" / ".parts").glob("block_*.csv"))) == 1
    res = evaluate(uniform64, None, tmp_path / "o", options=opt)  # resumes: block 0 is not recomputed
    assert len(calls) == 4  # 1 (done) + 1 (crash) + 2 remaining blocks
    assert len(pd.read_csv(res.metrics_csv)) == 12
    assert not (tmp_path / "o" / ".parts").exists()


def test_collision_end_to_end_and_released_filter(collision64, tmp_path):
    opt = EvalOptions(released_radius_filter=True)
    res = evaluate(collision64, None, tmp_path / "o", options=opt)
    rows = pd.read_csv(res.metrics_csv)
    assert {"momentum_error", "velocity_error_pre", "kinetic_energy_error"} <= set(rows.metric)
    small = (rows[["r1", "r2"]] <= 0.5).any(axis=1)
    assert (rows.included == ~small).all()
    names = [p.name for p in res.plots]
    assert "error_plane.png" in names
    assert not res.summary.duplicated(["metric", "split", "level"]).any()  # collision has a level named "all"


def test_deterministic_bytes(uniform64, tmp_path):
    a = evaluate(uniform64, None, tmp_path / "a", metrics=["velocity_error"])
    b = evaluate(uniform64, None, tmp_path / "b", metrics=["velocity_error"])
    assert a.metrics_csv.read_bytes() == b.metrics_csv.read_bytes()
    assert a.summary_csv.read_bytes() == b.summary_csv.read_bytes()


def test_cli(uniform64, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["evaluate", "--data", str(uniform64), "--out", str(out), "--limit", "4", "--quiet",
               "--metrics", "velocity_error,position_error"])  # fmt: skip
    assert rc == 0
    assert "velocity_error" in capsys.readouterr().out
    assert pd.read_csv(out / "metrics.csv")["index"].nunique() == 4
    assert main(["evaluate", "--data", str(uniform64), "--out", str(tmp_path / "b"), "--limit", "2", "--quiet",
                 "--largest-blob", "--released-radius-filter", "--no-floor"]) == 0  # fmt: skip
    assert "largest connected component" in (tmp_path / "b" / "summary.md").read_text()
    assert main(["evaluate", "--data", str(uniform64), "--out", str(out), "--metrics", "nope"]) == 2
    assert "unknown metric" in capsys.readouterr().err
    assert main(["evaluate", "--data", str(uniform64), "--out", str(out), "--palette", "red:1:1-2"]) == 2
    assert main(["evaluate", "--data", str(tmp_path / "missing.h5"), "--out", str(out)]) == 2


def test_cond_frames_that_leave_nothing_to_score(uniform64, tmp_path):
    """c >= T - 1 leaves no velocity interval: one clear error, not a run of all-NaN rows."""
    T = open_dataset(uniform64).n_frames
    for c in (T - 1, T + 8):
        with pytest.raises(PhylawError, match="no frame interval"):
            evaluate(uniform64, None, tmp_path / f"o{c}", options=EvalOptions(cond_frames=c, limit=2))
        assert not (tmp_path / f"o{c}" / "metrics.csv").exists()
    res = evaluate(uniform64, None, tmp_path / "ok", metrics=["velocity_error"],
                   options=EvalOptions(cond_frames=T - 2, limit=2))  # fmt: skip
    assert pd.read_csv(res.metrics_csv)["index"].nunique() == 2  # the last interval alone is allowed


def test_floor_of_procedural_phyworld_import_uses_phylaw_pixel_centres(datasets, tmp_path):
    """A procedural import of phyworld data is rendered by phylaw's renderer (pixel centres): its own floor
    must be parsed with that convention, not the released "linspace" one (which biased the floor)."""
    from phylaw.datasets.phyworld import convert

    src = datasets("uniform_motion", 256, 4)
    exported = convert(src, "phyworld", tmp_path / "exp.hdf5", progress=False)
    raw = tmp_path / "uniform_motion_eval.hdf5"  # as released: no phylaw attributes
    with h5py.File(exported) as f, h5py.File(raw, "w") as g:
        for name in ("position_streams", "init_streams", "video_streams"):
            f.copy(name, g)
    imported = convert(raw, "phylaw", tmp_path / "imp.h5", procedural=True, progress=False)
    ds = open_dataset(imported)
    assert (ds.config.pixel_convention, ds.frames_stored, ds.resolution) == ("linspace", False, 256)
    metrics = ["position_error", "velocity_error"]
    a = pd.read_csv(evaluate(src, None, tmp_path / "a", metrics=metrics).metrics_csv)
    b = pd.read_csv(evaluate(imported, None, tmp_path / "b", metrics=metrics).metrics_csv)
    np.testing.assert_array_equal(a["value"].to_numpy(), b["value"].to_numpy())  # same frames, same parse


def _rows(values, floors, level="id", status=None):
    n = len(values)
    return pd.DataFrame({
        "split": "id", "level": level, "metric": "velocity_error", "unit": "world/s", "higher_is_better": False,
        "value": values, "floor": floors, "status": status or ["ok"] * n, "included": True,
    })  # fmt: skip


def test_summary_floor_over_the_videos_with_a_model_value():
    """A video whose ball is never detected has no model value: the floor beside the mean must leave it out
    too (it used to average every video), and n_videos, n, n_nan say how many were counted."""
    from phylaw.evaluate.report import summarize

    s = summarize(_rows([0.5, np.nan, 0.7, 0.9], [0.1, 0.2, 0.3, np.nan])).iloc[0]
    # video 1: no model value; video 3: no floor -> both rows drop out, the pair (0, 2) is counted
    assert (s.n_videos, s.n, s.n_nan, s.floor_n) == (4, 2, 2, 2)
    np.testing.assert_allclose([s["mean"], s.floor_mean, s["median"], s.floor_median], [0.6, 0.2, 0.6, 0.2])
    nofloor = summarize(_rows([0.5, 0.7], [np.nan, np.nan]), floor=False).iloc[0]
    assert (nofloor.n, nofloor.floor_n) == (2, 0)
    assert np.isnan(nofloor.floor_mean)


def test_undetected_ball_end_to_end(uniform64, tmp_path):
    """A generated video without the ball: velocity_error leaves it out of model and floor alike (floor_n == n),
    velocity_error_capped counts it at the cap."""
    ds = open_dataset(uniform64)
    ids = [i for i in range(len(ds)) if ds.labels.split[i] == "id"][:4]
    v = tmp_path / "v"
    _write_videos(v, ds, ids[1:])
    _write_videos(v, ds, ids[:1], fn=lambda f: np.full_like(f, 255))
    res = evaluate(uniform64, v, tmp_path / "o", metrics=["velocity_error", "velocity_error_capped"])
    s = res.summary[res.summary.split == "id"].set_index("metric")
    assert (s.loc["velocity_error", "n"], s.loc["velocity_error", "floor_n"]) == (3, 3)
    assert (s.loc["velocity_error_capped", "n"], s.loc["velocity_error_capped", "floor_n"]) == (4, 4)
    rows = pd.read_csv(res.metrics_csv)
    vel = rows[rows.metric == "velocity_error"].set_index("index")
    np.testing.assert_allclose(s.loc["velocity_error", "floor_mean"], vel.loc[ids[1:], "floor"].mean())
    cap = rows[rows.metric == "velocity_error_capped"].set_index("index")
    assert cap.loc[ids[0], "value"] == 6.0
    assert s.loc["velocity_error_capped", "mean"] > s.loc["velocity_error", "mean"]


def test_mean_ci_is_the_student_t_95_interval():
    """Hand-computed: x = 1..5, mean 3, s = √2.5, t_{0.975,4} = 2.776445 -> 3 ± 1.963243 (a 90 % interval,
    t_{0.95,4} = 2.131847, would be 3 ± 1.507443)."""
    n, mean, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan]))
    assert n == 5
    np.testing.assert_allclose([mean, lo, hi], [3.0, 3.0 - 1.963243, 3.0 + 1.963243], atol=2e-6)
    assert mean_ci(np.array([2.0]))[1] == 2.0
    assert np.isnan(mean_ci(np.array([2.0]))[2])
