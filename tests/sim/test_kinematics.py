"""Analytic physics and placement guarantees of the three kinematic scenarios."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.sim import get_split, simulate
from phylaw.sim.kinematics import FRAME_DT, GRAVITY, elastic_velocities, frame_times

T = frame_times(32)


def _uniform_params(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.stack([rng.uniform(0.3, 2.0, n), rng.uniform(0.0, 6.0, n)], axis=1)


def test_uniform_motion_is_exactly_linear(rng):
    params = _uniform_params(rng, 500)
    tr = simulate("uniform_motion", params, rng)
    x0, y0 = tr.position[:, 0, 0, 0], tr.position[:, 0, 0, 1]
    np.testing.assert_array_equal(tr.position[:, :, 0, 0], x0[:, None] + params[:, 1:2] * T[None, :])
    np.testing.assert_array_equal(tr.position[:, :, 0, 1], np.broadcast_to(y0[:, None], (500, 32)))
    np.testing.assert_array_equal(tr.velocity[:, :, 0, 0], np.broadcast_to(params[:, 1:2], (500, 32)))
    assert (tr.velocity[:, :, 0, 1] == 0).all()
    np.testing.assert_array_equal(tr.radius[:, 0], params[:, 0])
    assert (tr.color[:, 0] == 1).all()
    assert np.isnan(tr.contact_time).all()
    assert (tr.contact_frame == -1).all()


def test_uniform_placement_rule(rng):
    params = _uniform_params(rng, 2000)
    tr = simulate("uniform_motion", params, rng)
    r, v = params[:, 0], params[:, 1]
    x0, y0 = tr.position[:, 0, 0, 0], tr.position[:, 0, 0, 1]
    assert (y0 >= r + 0.5).all()
    assert (y0 <= 9.5 - r).all()
    assert (x0 >= r).all()
    roomy = 2.4 * v + 2 * r <= 10  # room for 24 frames of travel: stays fully in view frames 0..24
    assert roomy.any()
    assert (~roomy).any()
    assert tr.in_view[roomy, :25, 0].all()
    assert (x0[~roomy] <= r[~roomy] + 0.5).all()  # fast balls start at the left edge (B.1)


def test_uniform_id_videos_stay_in_view_about_24_frames():
    split = get_split("uniform_motion", "eval")
    b = split.generate(0, len(split), seed=3)
    ids = b.labels.split == "id"
    r, v = b.params[ids, 0], b.params[ids, 1]
    frames_in_view = b.trajectories.in_view[ids, :, 0].sum(axis=1)
    assert b.trajectories.in_view[ids, 0, 0].all()
    roomy = 2.4 * v + 2 * r <= 10
    assert (frames_in_view[roomy] >= 24).all()
    # the rest are the fastest/largest balls, starting within 0.5 of the left edge
    expected = np.floor((10 - 2 * r[~roomy] - 0.5) / v[~roomy] / FRAME_DT)
    assert (frames_in_view[~roomy] >= expected).all()


def test_parabola_closed_form(rng):
    params = _uniform_params(rng, 500)
    tr = simulate("parabola", params, rng)
    x0, y0 = tr.position[:, 0, 0, 0], tr.position[:, 0, 0, 1]
    r = params[:, 0]
    np.testing.assert_allclose(tr.position[:, :, 0, 0], x0[:, None] + params[:, 1:2] * T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        tr.position[:, :, 0, 1], y0[:, None] - 0.5 * GRAVITY * T**2, rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(tr.velocity[:, :, 0, 1], np.broadcast_to(-GRAVITY * T, (500, 32)), atol=1e-12)
    np.testing.assert_array_equal(tr.velocity[:, :, 0, 0], np.broadcast_to(params[:, 1:2], (500, 32)))
    assert (y0 >= 8.5 - r).all()
    assert (y0 <= 9.5 - r).all()
    # velocity is the derivative of position: central differences of a quadratic are exact
    fd = (tr.position[:, 2:, 0, 1] - tr.position[:, :-2, 0, 1]) / (2 * FRAME_DT)
    np.testing.assert_allclose(fd, tr.velocity[:, 1:-1, 0, 1], atol=1e-9)


def _collision_params(rng: np.random.Generator, n: int, r=(0.7, 1.5), v=(1.0, 4.0)) -> np.ndarray:
    return np.stack([rng.uniform(*r, n), rng.uniform(*r, n), rng.uniform(*v, n), rng.uniform(*v, n)], axis=1)


def test_collision_conserves_momentum_and_energy(rng):
    params = _collision_params(rng, 2000, r=(0.3, 2.0), v=(0.0, 6.0))
    tr = simulate("collision", params, rng)
    m = params[:, :2] ** 2  # (n, 2)
    vx = tr.velocity[..., 0]  # (n, T, 2)
    p = (m[:, None, :] * vx).sum(-1)  # (n, T)
    e = 0.5 * (m[:, None, :] * vx**2).sum(-1)
    np.testing.assert_allclose(p, np.broadcast_to(p[:, :1], p.shape), rtol=0, atol=1e-9)
    np.testing.assert_allclose(e, np.broadcast_to(e[:, :1], e.shape), rtol=0, atol=1e-9)
    # initial velocities as given, 1-D elastic formula afterwards
    np.testing.assert_array_equal(vx[:, 0, 0], params[:, 2])
    np.testing.assert_array_equal(vx[:, 0, 1], -params[:, 3])
    m1, m2, u1, u2 = m[:, 0], m[:, 1], params[:, 2], -params[:, 3]
    hit = tr.contact_frame >= 0
    assert hit.mean() > 0.9
    w1 = ((m1 - m2) * u1 + 2 * m2 * u2) / (m1 + m2)
    w2 = ((m2 - m1) * u2 + 2 * m1 * u1) / (m1 + m2)
    np.testing.assert_allclose(vx[hit, -1, 0], w1[hit], atol=1e-12)
    np.testing.assert_allclose(vx[hit, -1, 1], w2[hit], atol=1e-12)
    assert ((tr.velocity[..., 1]) == 0).all()


def test_elastic_velocities_equal_masses_swap():
    w1, w2 = elastic_velocities(np.array([2.0]), np.array([2.0]), np.array([3.0]), np.array([-1.0]))
    np.testing.assert_allclose([w1[0], w2[0]], [-1.0, 3.0])


def test_collision_contact_is_exact(rng):
    params = _collision_params(rng, 1000)
    tr = simulate("collision", params, rng)
    x1, x2 = tr.position[:, 0, 0, 0], tr.position[:, 0, 1, 0]
    tc = tr.contact_time
    rsum = params[:, 0] + params[:, 1]
    # at the contact time the balls touch exactly (positions extrapolated from frame 0)
    gap_at_contact = (x2 - params[:, 3] * tc) - (x1 + params[:, 2] * tc) - rsum
    np.testing.assert_allclose(gap_at_contact, 0.0, atol=1e-9)
    k = tr.contact_frame
    assert (T[k] >= tc).all()
    assert (T[k - 1] < tc).all()
    # the balls never overlap at any frame
    sep = tr.position[:, :, 1, 0] - tr.position[:, :, 0, 0] - rsum[:, None]
    assert (sep >= -1e-9).all()
    # same height, constant
    assert (tr.position[:, :, 0, 1] == tr.position[:, :, 1, 1]).all()


def test_collision_id_eval_frames_before_and_after_contact():
    split = get_split("collision", "eval")
    b = split.generate(0, len(split), seed=5)
    ids = b.labels.split == "id"
    k = b.trajectories.contact_frame[ids]
    assert (k >= 8).all()  # >= 8 frames before contact
    assert (32 - k >= 8).all()  # >= 8 frames from contact on
    # the first frame of every ID video has both balls fully in view where that is possible at all
    p = b.params[ids]
    feasible = 0.8 * (p[:, 2] + p[:, 3]) + 2 * (p[:, 0] + p[:, 1]) <= 10
    assert feasible.mean() > 0.5
    assert b.trajectories.in_view[ids][feasible, 0].all()


def test_collision_training_grid_guarantees():
    b = get_split("collision", "train-30k").generate(0, 5000, seed=0)
    k = b.trajectories.contact_frame
    assert (k >= 8).all()
    assert (k <= 24).all()


def test_collision_without_closing_speed_never_touches(rng):
    params = np.array([[1.0, 1.2, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    tr = simulate("collision", params, rng)
    assert np.isnan(tr.contact_time).all()
    assert (tr.contact_frame == -1).all()
    assert (tr.position[:, :, :, 0] == tr.position[:, :1, :, 0]).all()
    assert tr.in_view.all()


def test_lopsided_radii_start_at_the_far_edge(rng):
    big2 = simulate("collision", np.tile([[0.4, 1.5, 2.0, 2.0]], (200, 1)), rng)
    assert (big2.position[:, 0, 1, 0] + 1.5 >= 10 - 0.5 - 1e-9).all()  # ball 2 near the right edge
    big1 = simulate("collision", np.tile([[1.5, 0.4, 2.0, 2.0]], (200, 1)), rng)
    assert (big1.position[:, 0, 0, 0] - 1.5 <= 0.5 + 1e-9).all()  # ball 1 near the left edge
    for tr in (big1, big2):
        assert (tr.contact_frame >= 8).all()
        assert (tr.contact_frame <= 24).all()
        assert tr.in_view[:, 0].all()


@pytest.mark.parametrize("scenario", ["uniform_motion", "collision", "parabola"])
def test_in_view_flag_matches_geometry(scenario, rng):
    n_params = 4 if scenario == "collision" else 2
    params = rng.uniform(0.3, 2.0, (300, n_params))
    tr = simulate(scenario, params, rng)
    lo = tr.position - tr.radius[:, None, :, None]
    hi = tr.position + tr.radius[:, None, :, None]
    expected = (lo >= 0).all(-1) & (hi <= 10).all(-1)
    np.testing.assert_array_equal(tr.in_view, expected)
    assert tr.in_view.any()
    assert not tr.in_view.all()
