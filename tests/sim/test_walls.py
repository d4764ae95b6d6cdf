"""Walls (sim.walls): exact elastic bounces, event sequences against brute-force integration, the wall scenes,
their rendering and parsing, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.render.palette import COLORS, WALL_COLOR
from phylaw.render.raster import render
from phylaw.sim import kinematics as km
from phylaw.sim import simulate, simulate_uniforms
from phylaw.sim.registry import validate_params
from phylaw.sim.walls import WALL, Wall, solve_events

TIMES = km.frame_times(32)


def _one(x, v, r, walls=(WALL,)):
    """One object with 2-D velocity v, no ball-ball line."""
    x0 = np.array([[x]], float)
    v0 = np.array([[v]], float)
    half = np.array([[r]], float)
    return solve_events(x0, v0, half, half**2, np.ones((1, 1), bool), np.zeros((1, 1), bool), walls, TIMES)


def test_bounce_reflects_the_normal_component_and_keeps_speed_exactly():
    vx, vy = 2.7182818, -0.3141592
    m = _one((5.0, 6.0), (vx, vy), 0.8)
    t_hit = (WALL.x_lo - 0.8 - 5.0) / vx
    assert m.event_time[0, 0] == pytest.approx(t_hit, abs=1e-12)
    after = t_hit < TIMES
    v = m.velocity[0, :, 0]  # (T, 2)
    assert (v[after, 0] == -vx).all()
    assert (v[~after, 0] == vx).all()
    assert (v[:, 1] == vy).all()  # tangential component kept exactly
    assert (np.hypot(v[:, 0], v[:, 1]) == np.hypot(vx, vy)).all()
    # the ball touches the wall, never enters it
    assert (m.position[0, :, 0, 0] + 0.8 <= WALL.x_lo + 1e-12).all()


def test_bounce_from_the_right_face_of_an_inner_wall():
    inner = Wall(2.0, 2.5)
    m = _one((6.0, 5.0), (-3.0, 0.0), 0.5, walls=(inner,))
    assert m.event_time[0, 0] == pytest.approx((6.0 - 0.5 - 2.5) / 3.0)
    assert m.velocity[0, -1, 0, 0] == 3.0


def test_wall_scene_records_the_contact_with_the_wall_slot():
    st = simulate("wall_collision", np.array([[0.6, 0.0, 2.0, 0.0, 1.0]]), np.random.default_rng(0))
    assert st.n_objects == 3
    assert st.static[0].tolist() == [False, False, True]
    assert st.present[0].tolist() == [True, False, True]
    assert (st.event_a[0, 0], st.event_b[0, 0]) == (0, 2)
    first, last = km.contact_window(32)
    assert first <= st.event_frame[0, 0] <= last
    assert (st.color[0] == [1, 2, WALL_COLOR]).all()


def _brute_force(x, v, r, wall_on, h=5e-5):
    """Small-time-step integration of balls on one line with the wall: (n, T, K) x positions."""
    x, v = x.copy(), v.copy()
    m = r**2
    out = np.empty((len(x), len(TIMES), x.shape[1]))
    steps = round(TIMES[-1] / h)
    every = round(0.1 / h)
    for s in range(steps + 1):
        if s % every == 0:
            out[:, s // every] = x
        x = x + v * h
        hit = wall_on[:, None] & (x + r >= WALL.x_lo) & (v > 0)
        v = np.where(hit, -v, v)
        for i in range(x.shape[1]):
            for j in range(i + 1, x.shape[1]):
                close = (np.abs(x[:, j] - x[:, i]) <= r[:, i] + r[:, j]) & (
                    (v[:, i] - v[:, j]) * np.sign(x[:, j] - x[:, i]) > 0
                )
                a, b = km.elastic_velocities(m[:, i], m[:, j], v[:, i], v[:, j])
                v[:, i], v[:, j] = np.where(close, a, v[:, i]), np.where(close, b, v[:, j])
    return out


def test_event_sequences_match_brute_force_integration():
    rng = np.random.default_rng(3)
    params = np.array([
        [0.6, 0.6, 2.5, 0.0, 1.0],  # equal masses: strike, bounce, second strike
        [0.8, 0.5, 2.0, 0.0, 1.0],  # heavy red: both move on, the blue one comes back
        [0.5, 0.8, 2.9, 0.0, 1.0],  # light red bounces back off the heavy blue ball
        [0.7, 0.6, 1.5, -1.0, 0.0],  # a plain collision, no wall
        [0.0, 0.7, 0.0, 2.0, 1.0],  # the blue ball alone bounces
    ])  # fmt: skip
    st = simulate("wall_collision", params, rng)
    assert (np.isfinite(st.event_time).sum(axis=1) >= [2, 2, 2, 1, 1]).all()
    x = st.position[:, 0, :2, 0]
    v = st.velocity[:, 0, :2, 0]
    r = np.nan_to_num(st.radius[:, :2])
    present = st.present[:, :2]
    ref = _brute_force(np.where(present, x, -50.0), np.where(present, v, 0.0), r, params[:, 4] == 1)
    got = st.position[:, :, :2, 0]
    err = np.abs(np.where(present[:, None, :], got - ref, 0.0))
    assert err.max() < 2e-3, err.max()


def test_two_balls_without_a_wall_are_the_collision_scene():
    p = np.array([[0.6, 0.8, 2.0, -1.0, 0.0], [0.9, 0.4, 1.2, 0.0, 0.0], [0.5, 0.5, 3.0, -2.0, 0.0]])
    u = np.random.default_rng(1).random((3, 3))
    ours = simulate_uniforms("wall_collision", p, u)
    theirs = km.collision(np.stack([p[:, 0], p[:, 1], p[:, 2], -p[:, 3]], 1), u)
    np.testing.assert_allclose(ours.position[:, :, :2], theirs.position, atol=1e-12)
    np.testing.assert_allclose(ours.velocity[:, :, :2], theirs.velocity, atol=1e-12)
    assert (ours.event_frame[:, 0] == theirs.contact_frame).all()
    assert not ours.present[:, 2].any()


def test_blue_ball_rebounds_with_unchanged_speed_in_the_test_scene():
    p = np.array([[0.6, 0.6, 2.0, 0.0, 1.0], [0.8, 0.5, 2.4, 0.0, 1.0]])
    st = simulate("wall_collision", p, np.random.default_rng(2))
    for i in range(2):
        k = int(np.flatnonzero((st.event_a[i] == 1) & (st.event_b[i] == 2))[0])
        f = st.event_frame[i, k]
        before, after = st.velocity[i, f - 1, 1, 0], st.velocity[i, f, 1, 0]
        assert before > 0
        assert after == -before
        c = st.event_frame[i, 0]
        assert f - c >= 3
        assert f <= km.contact_window(32)[1]


def test_spatial_scene_subsets():
    p = np.array([[1.0, 0.0, 0.6, 2.0], [1.0, 2.5, 0.6, 0.0], [1.2, 3.0, 0.8, 1.5]])
    st = simulate("wall_bounce", p, np.random.default_rng(0))
    assert np.isnan(st.event_time[0]).all()  # the ball at rest never reaches the wall
    assert (st.velocity[0, :, 0] == 0).all()
    assert (st.velocity[0, :, 1, 0] == -2.0).all()
    assert (st.velocity[1, :, 1] == 0).all()
    assert st.event_b[1, 0] == 2
    assert st.velocity[2, -1, 0, 0] == -3.0
    assert (st.velocity[2, :, 1, 0] == -1.5).all()
    assert (st.in_view[:, :3, :2]).all()  # every object starts fully in view
    assert (st.position[:, :, 0, 1] < 5.0).all()
    assert (st.position[:, :, 1, 1] > 5.0).all()


def test_same_seed_same_bytes():
    p = np.array([[0.6, 0.6, 2.0, 0.0, 1.0], [0.0, 0.7, 0.0, 2.0, 1.0]])
    a = simulate("wall_collision", p, np.random.default_rng(9))
    b = simulate("wall_collision", p, np.random.default_rng(9))
    assert a.position.tobytes() == b.position.tobytes()
    assert a.event_time.tobytes() == b.event_time.tobytes()


def test_wall_is_drawn_gray_and_the_parser_ignores_it():
    from phylaw.evaluate.parse import parse

    st = simulate("wall_collision", np.array([[0.6, 0.6, 2.0, 0.0, 1.0]]), np.random.default_rng(0))
    frames = render(st, 64)  # (1, T, 64, 64, 3)
    cols = (np.arange(64) + 0.5) * 10 / 64 >= WALL.x_lo
    assert (frames[0, :, :, cols] == COLORS[WALL_COLOR]).all()
    assert not (frames[0, :, :, ~cols] == COLORS[WALL_COLOR]).all(-1).any()
    parsed = parse(frames)
    assert parsed.visible.all()  # red and blue found in every frame, nothing else
    err = np.abs(parsed.center[0] - st.position[0, :, :2])  # (T, 2, 2), palette order red, blue
    assert err.max() < 0.1


def test_rotated_box_is_refused():
    from dataclasses import replace

    st = simulate("wall_collision", np.array([[0.6, 0.6, 2.0, 0.0, 1.0]]), np.random.default_rng(0))
    with pytest.raises(PhylawError, match="axis-aligned"):
        render(replace(st, angle=np.full(st.angle.shape, 0.1)), 32)


@pytest.mark.parametrize(
    ("wall", "what"),
    [
        ((9.5, 10.5), "outside"),
        ((-1.0, 0.5), "outside"),
        ((3.0, 3.0), "empty"),
        ((2.0, 3.0, 5.0, 11.0), "outside"),
    ],
)
def test_wall_outside_the_world_is_one_line(wall, what):
    with pytest.raises(PhylawError, match=what) as exc:
        Wall(*wall)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("row", "what"),
    [
        ([0.6, 0.6, 2.0, 0.0, 2.0], "wall flag"),
        ([0.0, 0.0, 2.0, 0.0, 1.0], "no ball"),
        ([0.6, 0.0, 2.0, 0.0, 0.0], "one ball and no wall"),
        ([0.6, 0.0, -1.0, 0.0, 1.0], "toward the wall"),
        ([0.6, 0.6, 2.0, 1.0, 0.0], "close in"),
        ([0.6, 0.6, 2.0, -1.0, 1.0], "at rest"),
        ([1.5, 1.5, 4.0, 0.0, 1.0], "cannot both fit"),
        ([-0.5, 0.6, 2.0, 0.0, 1.0], "negative radius"),
    ],
)
def test_bad_wall_collision_rows(row, what):
    with pytest.raises(PhylawError, match=what) as exc:
        validate_params("wall_collision", np.array([row]))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("row", "what"),
    [([0.0, 1.0, 0.5, 1.0], "size"), ([1.0, -1.0, 0.5, 1.0], "negative"), ([2.5, 1.0, 0.5, 1.0], "too big"),
     ([1.0, 12.0, 0.5, 1.0], "too fast")],
)  # fmt: skip
def test_bad_wall_bounce_rows(row, what):
    with pytest.raises(PhylawError, match=what):
        validate_params("wall_bounce", np.array([row]))


def test_off_line_balls_are_refused():
    x0 = np.array([[[1.0, 2.0], [5.0, 3.0]]])
    with pytest.raises(PhylawError, match="different heights"):
        solve_events(x0, np.zeros((1, 2, 2)), np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2), bool),
                     np.ones((1, 2), bool), (WALL,), TIMES)  # fmt: skip
