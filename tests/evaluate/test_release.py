"""The release metric set (evaluate.release, --metric-set release): the release's raster, parser mapping, frame
selection, headline numbers and buckets, checked against hand-computed values; bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from phylaw.cli.main import main
from phylaw.errors import PhylawError
from phylaw.evaluate import EvalOptions, evaluate
from phylaw.evaluate import release as rel
from phylaw.evaluate.metrics import build_context
from phylaw.evaluate.registry import METRIC_SETS, RELEASE_METRICS, get_metric_set, select_metrics
from phylaw.render.raster import area_downsample, render, render_release
from phylaw.sim.kinematics import simulate

from .conftest import perfect_parse

C = 3


def _release_reference(states, width: int) -> np.ndarray:
    """The release generators' raster written from its formula (SPEC B.0): masks on meshgrid(linspace(0, 1, W)),
    composited ball by ball in float, truncated to uint8 once, rows flipped."""
    xs = np.linspace(0, 1, width)
    gx, gy = np.meshgrid(xs, xs)
    colours = np.array([[255.0, 0, 0], [0, 0, 255.0]])
    out = []
    for v in range(len(states)):
        frames = np.full((states.n_frames, width, width, 3), 255.0)
        for k in range(states.position.shape[2]):
            c, r = states.position[v, :, k] / 10, states.radius[v, k] / 10
            d2 = (gx - c[:, 0, None, None]) ** 2 + (gy - c[:, 1, None, None]) ** 2
            m = np.clip((r**2 - d2) / (r**2 * 0.03), 0, 1)[..., None]
            frames = (1 - m) * frames + m * colours[k]
        out.append(frames.astype(np.uint8)[:, ::-1])
    return np.stack(out)


def _masks(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, g, b = (frames[..., i].astype(int) for i in range(3))
    return (r > 127) & (g < 127) & (b < 127), (r < 127) & (g < 127) & (b > 127)


def test_linspace_raster_is_the_releases(rng):
    truth = simulate("collision", np.array([[0.8, 1.2, 2.0, 3.0], [1.3, 0.6, 1.5, 2.5]]), rng)
    ours = render(truth, 64, pixel_convention="linspace")
    ref = _release_reference(truth, 64)
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1  # float round-off at the truncation only
    for a, b in zip(_masks(ours), _masks(ref), strict=True):
        np.testing.assert_array_equal(a, b)  # the parser sees exactly the release's masks
    assert (ours != render(truth, 64)).any()  # the opt-in convention draws something else than the default


def test_area_downsample_rounds_block_means_half_to_even():
    frames = np.zeros((1, 16, 16, 3), np.uint8)  # 2 x 2 blocks of the top-left corner checked
    frames[0, :2, :2, 0] = [[1, 2], [2, 2]]  # mean 1.75 -> 2
    frames[0, :2, 2:4, 0] = [[1, 1], [2, 2]]  # 1.5 -> 2 (even)
    frames[0, 2:4, :2, 0] = [[2, 2], [3, 3]]  # 2.5 -> 2 (even)
    frames[0, 2:4, 2:4, 0] = [[255, 255], [255, 254]]  # 254.75 -> 255
    frames[0, 4:6, 4:6, 1] = [[3, 4], [3, 4]]  # 3.5 -> 4 (even)
    small = area_downsample(frames, 8)
    np.testing.assert_array_equal(small[0, :2, :2, 0], [[2, 2], [2, 255]])
    assert small[0, 2, 2, 1] == 4
    assert small[0, 2:, 2:, 0].sum() == 0
    with pytest.raises(PhylawError, match="multiple"):
        area_downsample(np.zeros((1, 16, 16, 3), np.uint8), 12)


def test_render_release_is_256_linspace_area_averaged(rng):
    truth = simulate("uniform_motion", np.array([[1.0, 2.0], [0.8, 3.5]]), rng)
    full = render(truth, 256, pixel_convention="linspace", frames=slice(0, 4))
    np.testing.assert_array_equal(render_release(truth, 64, frames=slice(0, 4)), area_downsample(full, 64))
    with pytest.raises(PhylawError, match="does not divide"):
        render_release(truth, 96)


def test_release_positions_map_mean_pixels_as_the_release(rng):
    """A perfect centre-convention parse puts the mean column at x·W/10 − 0.5: the release reads it as
    j̄·10/W, i.e. x − 5/W (and y − 5/W), so velocities are exact and positions 5/W short."""
    truth = simulate("uniform_motion", np.array([[1.0, 2.0], [1.2, 3.0]]), rng)
    ctx = build_context(perfect_parse(truth), truth, C)
    pos = rel.release_positions(ctx)
    np.testing.assert_allclose(pos, truth.position - 5 / 64, atol=1e-12)
    lin = replace(perfect_parse(truth), convention="linspace")  # the same centres read as j̄·10/(W−1)
    pos = rel.release_positions(build_context(lin, truth, C))
    np.testing.assert_allclose(pos[..., 0], truth.position[..., 0] * 63 / 64, atol=1e-12)
    np.testing.assert_allclose(pos[..., 1], (truth.position[..., 1] - 10) * 63 / 64 + 630 / 64, atol=1e-12)


def test_frame_selection_drops_the_last_frame_and_out_of_view_frames(rng):
    truth = simulate("uniform_motion", np.array([[1.0, 4.0]]), rng)  # fast: leaves the view early
    ctx = build_context(perfect_parse(truth), truth, C)
    sel = rel.release_frames(ctx)[0]
    x, r = truth.position[0, :, 0, 0], 1.0
    want = (np.arange(32) >= C) & (np.arange(32) <= 30) & (x - r >= 0) & (x + r <= 10)
    np.testing.assert_array_equal(sel, want)
    assert sel.sum() < 28  # the ball left before frame 30
    slow = simulate("uniform_motion", np.array([[0.7, 1.0]]), rng)
    sel = rel.release_frames(build_context(perfect_parse(slow), slow, C))[0]
    assert sel[C:31].all()
    assert not sel[31]
    assert not sel[:C].any()


def test_vel_error_and_position_errors_by_hand(rng):
    truth = simulate("uniform_motion", np.array([[1.0, 2.0], [0.8, 1.5]]), rng)
    parsed = perfect_parse(truth)
    center = parsed.center.copy()
    center[0, :, 0, 0] = truth.position[0, :, 0, 0] * 1.1  # video 0 parsed 10 % fast
    ctx = build_context(replace(parsed, center=center), truth, C)
    sel = rel.release_frames(ctx)
    v = rel.vel_error(ctx)
    np.testing.assert_allclose(v, [0.2, 0.0], atol=1e-9)  # |mean 1.1·2 − 2|; video 1 exact
    np.testing.assert_allclose(rel.abs_x_vel_err_avg(ctx), [0.2, 0.0], atol=1e-9)
    x = truth.position[0, :, 0, 0][sel[0]]
    np.testing.assert_allclose(rel.abs_x_err_avg(ctx)[0], np.mean(np.abs(1.1 * x - 5 / 64 - x)), atol=1e-12)
    np.testing.assert_allclose(rel.abs_y_err_avg(ctx), [5 / 64, 5 / 64], atol=1e-12)
    assert select_metrics(["release_headline"], "uniform_motion", "release")[0].fn(ctx)[0] == v[0]


def test_undetected_frames_are_scored_at_the_release_stand_in(rng):
    truth = simulate("uniform_motion", np.array([[0.7, 1.0]]), rng)
    parsed = perfect_parse(truth)
    visible = parsed.visible.copy()
    visible[0, 10, 0] = False  # one missing frame in the middle of the track
    center = np.where(visible[..., None], parsed.center, np.nan)
    ctx = build_context(replace(parsed, visible=visible, center=center), truth, C)
    hat, pos, m = rel.release_selected(ctx)
    sel = rel.release_frames(ctx)[0]
    k = int(np.flatnonzero(np.flatnonzero(sel) == 10)[0])  # position of frame 10 among the selected frames
    assert hat[0, k, 0, 0] == 10.0  # the release's x stand-in
    assert hat[0, k, 0, 1] == hat[0, k - 1, 0, 1]  # y carried over from the previous selected frame
    x = pos[0, : m[0], 0, 0] - 5 / 64
    x[k] = 10.0
    want = abs(np.mean(np.diff(x) / 0.1) - 1.0)  # the mean telescopes: only the ends matter ...
    np.testing.assert_allclose(rel.vel_error(ctx)[0], want, atol=1e-9)
    true_v = np.diff(pos[0, : m[0], 0, 0]) / 0.1
    per_frame = np.mean(np.abs(np.diff(x) / 0.1 - true_v))  # ... the per-frame error sees both jumps
    np.testing.assert_allclose(rel.abs_x_vel_err_avg(ctx)[0], per_frame, atol=1e-9)
    assert per_frame > 1
    np.testing.assert_allclose(rel.stand_in_rate(ctx)[0], 1 / sel.sum())


def test_collision_index_post_and_pre_errors_by_hand(rng):
    truth = simulate("collision", np.array([[0.8, 1.2, 2.0, 1.5]]), rng)
    parsed = perfect_parse(truth)
    ctx = build_context(parsed, truth, C)
    _, v, valid = rel.release_track(ctx)
    pre, post = rel._phases(v, valid)
    sel = np.flatnonzero(rel.release_frames(ctx)[0])
    cf = int(truth.contact_frame[0])  # first frame at or after the contact
    # interval i joins selected frames i, i+1; the release's index k is the first interval whose true velocity
    # differs from the previous one (the one straddling the contact); post starts after it, pre ends before
    k = int(np.flatnonzero(sel[1:] >= cf)[0])
    np.testing.assert_array_equal(np.flatnonzero(pre[0]), np.arange(k))
    np.testing.assert_array_equal(np.flatnonzero(post[0]), np.arange(k + 1, valid[0].sum()))
    for f in (rel.post_vel_error, rel.pre_vel_error, rel.post_vel_err_avg):
        np.testing.assert_allclose(f(ctx), 0.0, atol=1e-9)
    center = parsed.center.copy()
    center[0, cf:, 1, 0] += 0.05 * np.arange(len(center[0]) - cf)  # ball 2 parsed 0.5 world/s fast after
    ctx = build_context(replace(parsed, center=center), truth, C)
    np.testing.assert_allclose(rel.post_vel_error(ctx), 0.25, atol=1e-9)  # mean over the two balls
    np.testing.assert_allclose(rel.post_vel_err_avg(ctx), 0.25, atol=1e-9)
    np.testing.assert_allclose(rel.pre_vel_error(ctx), 0.0, atol=1e-9)


def test_buckets_follow_the_releases_rules():
    names = ("r", "v")
    params = np.array([[0.7, 1.0], [1.4, 4.0], [1.5, 2.0], [1.0, 0.8], [0.3, 6.0], [0.3, 0.0], [1.0, 0.0]])
    split, level = rel.release_buckets("uniform_motion", params, names)
    assert list(level) == ["in", "in", "r_out", "v_out", "rv_out", "zero", "zero"]
    assert list(split) == ["id", "id", "ood", "ood", "ood", "ood", "ood"]
    cparams = np.array(
        [[0.5, 1.5, 1.0, 4.0], [0.5, 1.6, 2.0, 2.0], [1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 4.5, 2.0]]
    )
    _, level = rel.release_buckets("collision", cparams, ("r1", "r2", "v1", "v2"))
    assert list(level) == ["in", "r_out", "zero", "v_out"]


def test_registry_declares_the_release_set():
    ms = get_metric_set("release")
    assert ms is METRIC_SETS["release"]
    assert ms.gt_render == "release"
    assert ms.buckets is not None
    names = [m.name for m in select_metrics(None, "collision", "release")]
    assert "release_post_vel_error" in names
    assert "release_vel_error" not in names
    assert next(m.name for m in select_metrics(None, "parabola", "release")) == "release_headline"
    assert all(m.name.startswith("release_") for m in RELEASE_METRICS.values())
    assert "velocity_error" in [m.name for m in select_metrics(None, "uniform_motion")]  # phylaw: the default
    with pytest.raises(PhylawError, match="unknown metric set 'nope'; choose one of phylaw, release"):
        get_metric_set("nope")
    with pytest.raises(PhylawError, match="no recipe for scenario 'phyre'"):
        select_metrics(None, "phyre", "release")
    with pytest.raises(PhylawError, match="in metric set 'release'"):
        select_metrics(["velocity_error"], "uniform_motion", "release")


def test_evaluate_release_floor_and_buckets(uniform64, tmp_path):
    res = evaluate(uniform64, None, tmp_path / "o", options=EvalOptions(metric_set="release"))
    rows = pd.read_csv(res.metrics_csv)
    assert {"label_split", "label_level"} <= set(rows.columns)
    assert set(rows["level"]) <= set(rel.BUCKETS)
    params = rows.drop_duplicates("index")[["r", "v"]].to_numpy()
    _, level = rel.release_buckets("uniform_motion", params, ("r", "v"))
    np.testing.assert_array_equal(rows.drop_duplicates("index")["level"].to_numpy(), level)
    text = res.summary_md.read_text()
    assert "metric set 'release'" in text
    assert "stand-in" in text
    assert "v/256" in text
    assert res.plots
    assert "release_headline" in set(res.summary["metric"])
    # the floor frames are the release's raster: a dataset-render floor is another (smaller-bias) number
    other = evaluate(
        uniform64, None, tmp_path / "d", options=EvalOptions(metric_set="release", gt_render="dataset")
    )
    a = res.summary.set_index(["metric", "split", "level"])["mean"]
    b = other.summary.set_index(["metric", "split", "level"])["mean"]
    assert (a != b).any()


def test_release_mode_on_model_videos_uses_release_ground_truth(uniform64, tmp_path):
    """Videos scored against a dataset: their value from their own frames, the floor from the release's
    raster of the ground truth (the default of the release set)."""
    from phylaw.datasets.reader import open_dataset

    ds = open_dataset(uniform64)
    folder = tmp_path / "vids"
    folder.mkdir()
    for i in range(4):
        np.save(folder / f"{i}.npy", ds.frames(i))  # phylaw's own frames stand in for a model's
    res = evaluate(uniform64, folder, tmp_path / "o", options=EvalOptions(metric_set="release"))
    rows = pd.read_csv(res.metrics_csv)
    rows = rows[rows.metric == "release_vel_error"]
    floor_run = pd.read_csv(evaluate(uniform64, None, tmp_path / "f", options=EvalOptions(
        metric_set="release", limit=4)).metrics_csv)  # fmt: skip
    floor_run = floor_run[floor_run.metric == "release_vel_error"]
    np.testing.assert_allclose(rows["floor"].to_numpy(), floor_run["value"].to_numpy())
    assert (rows["value"] != rows["floor"]).any()


def test_cli_metric_set_and_bad_input(uniform64, tmp_path, capsys):
    from phylaw.datasets.build import generate

    out = tmp_path / "o"
    assert main(["evaluate", "--data", str(uniform64), "--out", str(out), "--metric-set", "release", "--limit",
                 "3", "--quiet", "--released-radius-filter"]) == 0  # fmt: skip
    assert "release_headline" in capsys.readouterr().out
    assert main(["evaluate", "--data", str(uniform64), "--out", str(out), "--metric-set", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown metric set 'nope'" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["evaluate", "--data", str(uniform64), "--out", str(out), "--gt-render", "nope"]) == 2
    assert "unknown ground-truth render" in capsys.readouterr().err
    phyre = generate("phyre", "train6-small", tmp_path / "phyre.h5", resolution=32, limit=1, progress=False)
    assert main(["evaluate", "--data", str(phyre), "--out", str(out), "--metric-set", "release"]) == 2
    err = capsys.readouterr().err
    assert "no recipe for scenario 'phyre'" in err
    assert len(err.strip().splitlines()) == 1
    odd = generate("uniform_motion", "eval-small", tmp_path / "u48.h5", resolution=48, limit=2, progress=False,
                   procedural=True)  # fmt: skip
    assert main(["evaluate", "--data", str(odd), "--out", str(out), "--metric-set", "release"]) == 2
    assert "does not divide 256" in capsys.readouterr().err
