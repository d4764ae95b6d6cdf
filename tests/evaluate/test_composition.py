"""Composition metrics (evaluate.composition): ground truth passes, corrupted videos fail with the right reason."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.evaluate import composition as cp
from phylaw.evaluate.parse import DEFAULT_PALETTE, parse
from phylaw.render.raster import render
from phylaw.sim import get_split

RES, C = 64, 3


@pytest.fixture(scope="module")
def temporal():
    split = get_split("wall_collision", "compose-temporal-eval-small", n_frames=32)
    return split.generate(0, len(split), seed=0)


def _judge(states, frames=None):
    p = parse(render(states, RES) if frames is None else frames)
    return cp.judge(states, p.center, p.visible, p.color_ids, C)


def test_ground_truth_composes(temporal):
    v = _judge(temporal.states)
    assert v.passed.all(), v.video_reason()[~v.passed]
    assert v.objects == (0, 1)
    assert v.names == ("red", "blue")
    assert (v.present == temporal.states.present[:, :2]).all()
    assert np.nanmax(v.segment_error) < 1.0
    assert np.nanmax(v.missing) == 0.0


def test_exact_centres_have_zero_velocity_error_and_an_offset_only_position_error(temporal):
    st = temporal.states
    centres = st.position[:, :, :2].copy()  # parsed colours red, blue = slots 0, 1
    visible = st.present[:, None, :2] & np.ones((1, st.n_frames, 1), bool)
    v = cp.judge(st, np.where(visible[..., None], centres, np.nan), visible, (1, 2), C)
    assert np.nanmax(v.velocity_error) == pytest.approx(0.0, abs=1e-9)
    assert v.passed.all()
    shifted = cp.judge(
        st, np.where(visible[..., None], centres + np.array([0.3, -0.4]), np.nan), visible, (1, 2), C
    )
    assert np.nanmax(shifted.velocity_error) == pytest.approx(0.0, abs=1e-9)
    assert np.nanmin(shifted.position_error) == pytest.approx(0.5)


def _blue_bounce(st, i):
    k = int(np.flatnonzero((st.event_a[i] == 1) & (st.event_b[i] == 2))[0])
    return int(st.event_frame[i, k])


def _test_row(temporal):
    """A test video whose blue ball moves >= 4 frames after its bounce before anything else happens."""
    st = temporal.states
    for i in np.flatnonzero(temporal.labels.level == "collision_bounce"):
        f = _blue_bounce(st, i)
        later = st.event_frame[i][(st.event_frame[i] > f)]
        if (later.min() if len(later) else st.n_frames) - f >= 4:
            return i
    raise AssertionError("no test video with a long enough rebound")


def test_blue_ball_that_does_not_rebound_fails_with_no_rebound(temporal):
    i = _test_row(temporal)
    st = temporal.states.subset([i])
    f = _blue_bounce(st, 0)
    pos = st.position.copy()
    pos[0, f:, 1] = pos[0, f - 1, 1]  # the blue ball stops at the wall instead of coming back
    v = _judge(replace(st, position=pos))
    assert not v.passed[0]
    assert v.reason[0, 1] == "no_rebound"
    assert v.reason[0, 0] == "ok"
    assert v.video_reason()[0] == "blue: no_rebound"


def test_ball_at_the_wrong_speed_fails_with_velocity(temporal):
    i = _test_row(temporal)
    st = temporal.states.subset([i])
    f = _blue_bounce(st, 0)
    pos = st.position.copy()
    back = pos[0, f:, 1, 0] - pos[0, f, 1, 0]
    pos[0, f:, 1, 0] = pos[0, f, 1, 0] + 0.4 * back  # rebounds at 40 % of its speed
    v = _judge(replace(st, position=pos))
    assert v.reason[0, 1] == "velocity"


def test_red_ball_that_vanishes_after_the_collision_fails_with_vanished(temporal):
    st = temporal.states
    test = np.flatnonzero(temporal.labels.level == "collision_bounce")
    frames = render(st.subset(test), RES)
    rule = DEFAULT_PALETTE.rules[0]  # red
    for n, i in enumerate(test):
        after = frames[n, st.event_frame[i, 0] :]
        red = np.all((after >= rule.lo) & (after <= rule.hi), axis=-1)
        after[red] = 255
    v = _judge(st.subset(test), frames)
    assert (v.reason[:, 0] == "vanished").all()
    assert (v.missing[:, 0] > cp.VANISH_FRACTION).all()
    rows = cp.composition_rows(
        v, _judge(st.subset(test)), temporal.labels.split[test], temporal.labels.level[test]
    )
    by = {r["metric"]: r for r in rows}
    assert by["vanish_rate_red"]["value"] == 1.0
    assert by["vanish_rate_red"]["floor"] == 0.0
    assert by["composed"]["value"] == 0.0
    assert by["composed"]["floor"] == 1.0
    assert by["composed"]["n"] == len(test)
    assert by["composed"]["ci_high"] < 0.5  # Wilson upper bound of 0 / n


def test_reason_counts_add_up(temporal):
    v = _judge(temporal.states)
    counts = cp.reason_counts(v, temporal.labels.level)
    for lv in set(temporal.labels.level.tolist()):
        for name in ("red", "blue"):
            rows = [c for c in counts if c["level"] == lv and c["object"] == name]
            assert sum(c["count"] for c in rows) == rows[0]["n"]


def test_spatial_ground_truth_composes():
    split = get_split("wall_bounce", "compose-spatial-eval-small", n_frames=16)
    b = split.generate(0, len(split), seed=0)
    v = _judge(b.states)
    assert v.passed.all()


def test_bad_input(temporal):
    st = temporal.states
    p = parse(render(st.subset([0, 1]), 32))
    with pytest.raises(PhylawError, match="do not match"):
        cp.judge(st, p.center, p.visible, p.color_ids, C)
    with pytest.raises(PhylawError, match="cond_frames"):
        cp.judge(st.subset([0, 1]), p.center, p.visible, p.color_ids, 40)
    with pytest.raises(PhylawError, match="no rule for colour"):
        cp.judge(st.subset([0, 1]), p.center, p.visible, (1, 7), C)


def test_ground_truth_check_passes_every_video_of_a_small_split():
    r = cp.ground_truth_check("wall_collision", "compose-temporal-nored-eval-small", 64, 16)
    assert r["n_videos"] == 56  # 16 test videos, 32 collisions, 8 blue bounces
    assert r["passed"] == 1.0
    assert 0 < r["max_segment_error"] < cp.TOL_ABS


def test_the_loaders_refuse_samples_of_another_dataset_and_the_wrong_scenario(tmp_path):
    """``analyse`` and ``observe_attributes`` share ``studies.finished_rows`` / ``frame_blocks``: ground truth as
    samples composes; samples written for another dataset, or a wall scene given to the attribute read-out,
    stop with one line."""
    from tests.experiments.conftest import write_samples

    from phylaw.datasets import open_dataset
    from phylaw.datasets.build import generate
    from phylaw.evaluate.attributes import observe_attributes

    kw = {"resolution": 32, "n_frames": 12, "progress": False}
    data = generate("wall_collision", "compose-temporal-eval-small", tmp_path / "a.h5", limit=6, **kw)
    other = generate("wall_collision", "compose-temporal-nored-eval-small", tmp_path / "b.h5", limit=6, **kw)
    with open_dataset(data) as ds:
        frames = np.stack([ds.frames(i) for i in range(len(ds))])
    samples = write_samples(tmp_path / "s.h5", data, np.arange(len(frames)), frames)
    result = cp.analyse(data, samples, block=4)  # two blocks
    assert len(result.videos) == 6
    assert all(v["composed"] and v["floor_composed"] for v in result.videos)
    with pytest.raises(PhylawError, match="another dataset"):
        cp.analyse(other, samples)
    with pytest.raises(PhylawError, match="needs attribute_motion videos"):
        observe_attributes(data, samples)
