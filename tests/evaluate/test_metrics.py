"""Metrics: exact values on perfect and doctored states, and on rendered frames (parser included)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.evaluate.metrics import build_context
from phylaw.evaluate.parse import parse
from phylaw.evaluate.registry import METRICS, select_metrics
from phylaw.render import render
from phylaw.sim.kinematics import simulate

from .conftest import perfect_parse

C = 3


def _values(parsed, truth, names=None):
    ctx = build_context(parsed, truth, C)
    return {m.name: m.fn(ctx) for m in select_metrics(names, truth.scenario)}


@pytest.fixture
def uniform(rng):
    return simulate("uniform_motion", np.array([[1.0, 2.0], [0.8, 3.5], [1.3, 1.0]]), rng)


@pytest.fixture
def collision(rng):
    return simulate("collision", np.array([[0.8, 1.2, 2.0, 1.5], [1.0, 0.6, 3.0, 1.0]]), rng)


@pytest.fixture
def parabola(rng):
    return simulate("parabola", np.array([[1.0, 2.0], [0.8, 3.0]]), rng)


@pytest.mark.parametrize("name", ["uniform", "collision", "parabola"])
def test_perfect_parse_scores_zero(request, name):
    truth = request.getfixturevalue(name)
    v = _values(perfect_parse(truth), truth)
    for metric in ("velocity_error", "velocity_error_x", "mean_velocity_error", "position_error", "radius_error",
                   "radius_drift", "parse_failure_rate"):  # fmt: skip
        np.testing.assert_allclose(v[metric], 0.0, atol=1e-9, err_msg=metric)
    assert (v["color_consistency"] == 1).all()
    assert (v["shape_consistency"] == 1).all()
    if name == "collision":
        for metric in ("momentum_error", "kinetic_energy_error", "velocity_error_pre"):
            np.testing.assert_allclose(v[metric], 0.0, atol=1e-9, err_msg=metric)
    if name == "parabola":
        np.testing.assert_allclose(v["fitted_gravity"], 2.5, atol=1e-9)
        np.testing.assert_allclose(v["gravity_error"], 0.0, atol=1e-9)
    if name == "uniform":
        np.testing.assert_allclose(v["constant_velocity_residual"], 0.0, atol=1e-9)


def _valid_intervals(truth, i):
    t = np.arange(truth.n_frames - 1)
    return int(((t >= C) & truth.in_view[i, :-1, 0] & truth.in_view[i, 1:, 0]).sum())


def test_constant_offset_after_frame_c(uniform):
    """Ball shifted by a constant offset d from frame k0 > c on: one interval errs by |d|/dt, the rest 0."""
    k0, d = 6, np.array([0.3, -0.4])  # |d| = 0.5
    pos = uniform.position.copy()
    pos[:, k0:, 0] += d
    doctored = perfect_parse(replace(uniform, position=pos))
    v = _values(doctored, uniform)
    for i in range(len(uniform)):
        want = 0.5 / 0.1 / _valid_intervals(uniform, i)
        np.testing.assert_allclose(v["velocity_error"][i], want, rtol=1e-9)
        np.testing.assert_allclose(
            v["velocity_error_x"][i], 0.3 / 0.1 / _valid_intervals(uniform, i), rtol=1e-9
        )


def test_constant_velocity_offset_after_frame_c(uniform):
    """x̂_t = x_t + dv·(t − c)·dt for t >= c: every valid interval errs by exactly dv."""
    dv = np.array([0.12, 0.05])  # |dv| = 0.13
    t = np.arange(uniform.n_frames) * 0.1
    pos = uniform.position + np.clip(t - C * 0.1, 0, None)[None, :, None, None] * dv
    v = _values(perfect_parse(replace(uniform, position=pos)), uniform)
    np.testing.assert_allclose(v["velocity_error"], 0.13, rtol=1e-9)
    np.testing.assert_allclose(v["mean_velocity_error"], 0.13, rtol=1e-9)
    np.testing.assert_allclose(v["velocity_error_x"], 0.12, rtol=1e-9)
    np.testing.assert_allclose(v["constant_velocity_residual"], 0.0, atol=1e-9)  # still a constant velocity


def test_velocity_offset_on_rendered_frames(uniform):
    """Through renderer and parser: the doctored video scores dv on top of a small floor."""
    dv = 0.5
    t = np.arange(uniform.n_frames) * 0.1
    pos = uniform.position.copy()
    pos[..., 0] += np.clip(t - C * 0.1, 0, None)[None, :, None] * dv
    doctored = replace(uniform, position=pos, in_view=uniform.in_view)
    floor = _values(parse(render(uniform, 128)), uniform, ["velocity_error"])["velocity_error"]
    got = _values(parse(render(doctored, 128)), uniform, ["velocity_error"])["velocity_error"]
    assert (floor < 0.1).all()
    assert np.abs(got - dv).max() < 0.1


def test_removed_frames_are_failures_not_invented(uniform):
    frames = render(uniform, 64)
    frames[0, 8:12] = 255  # ball removed from 4 generated, in-view frames
    parsed = parse(frames)
    assert np.isnan(parsed.center[0, 8:12]).all()
    v = _values(parsed, uniform)
    n_view = int((uniform.in_view[0, C:, 0]).sum())
    np.testing.assert_allclose(v["parse_failure_rate"][0], 4 / n_view)
    assert v["parse_failure_rate"][1] == 0
    assert np.isfinite(v["velocity_error"][0])
    assert v["velocity_error"][0] < 0.2
    # every frame removed: undefined (NaN), never a made-up position
    frames[0] = 255
    v = _values(parse(frames), uniform)
    assert np.isnan(v["velocity_error"][0])
    assert v["parse_failure_rate"][0] == 1.0
    assert v["color_consistency"][0] == 0.0


def test_collision_post_and_pre(collision):
    """A doctored post-collision velocity of ball 2 shows in velocity_error and momentum, not pre-collision."""
    cf = collision.contact_frame
    assert (cf > C + 2).all()
    dv = 0.4
    pos = collision.position.copy()
    t = np.arange(collision.n_frames)
    for i in range(len(collision)):
        pos[i, :, 1, 0] += np.clip(t - cf[i], 0, None) * 0.1 * dv
    v = _values(perfect_parse(replace(collision, position=pos)), collision)
    np.testing.assert_allclose(v["velocity_error_pre"], 0.0, atol=1e-9)
    m2 = collision.radius[:, 1] ** 2
    np.testing.assert_allclose(v["momentum_error"], m2 * dv, rtol=1e-9)
    # ball 2 errs by dv on its valid post intervals, ball 1 by 0: velocity_error is dv times ball 2's share
    for i in range(len(collision)):
        tt = np.arange(collision.n_frames - 1)
        ok = (tt >= max(C, cf[i]))[:, None] & collision.in_view[i, :-1] & collision.in_view[i, 1:]
        np.testing.assert_allclose(v["velocity_error"][i], dv * ok[:, 1].sum() / ok.sum(), rtol=1e-9)


def test_collision_momentum_on_rendered_frames(collision):
    gt = _values(parse(render(collision, 128)), collision, ["momentum_error", "kinetic_energy_error"])
    mass = (collision.radius**2).sum(1)
    assert (gt["momentum_error"] < 0.1 * mass).all()  # parse noise ~0.04 world/s on each velocity
    assert (gt["kinetic_energy_error"] < 0.5 * mass).all()
    dv = 1.0
    pos = collision.position.copy()
    t = np.arange(collision.n_frames)
    for i in range(len(collision)):
        pos[i, :, 1, 0] += np.clip(t - collision.contact_frame[i], 0, None) * 0.1 * dv
    bad = _values(parse(render(replace(collision, position=pos), 128)), collision, ["momentum_error"])
    # mean of |noise + m2·dv| lies within m2·dv ± mean|noise| (the floor, up to the re-rendered noise)
    assert (
        np.abs(bad["momentum_error"] - collision.radius[:, 1] ** 2 * dv) <= 2 * gt["momentum_error"] + 0.01
    ).all()


def test_parabola_fitted_gravity(parabola):
    pos = parabola.position.copy()
    t = np.arange(parabola.n_frames) * 0.1
    pos[..., 1] -= 0.5 * 1.5 * t[None, :, None] ** 2  # g: 2.5 -> 4.0
    v = _values(perfect_parse(replace(parabola, position=pos)), parabola)
    np.testing.assert_allclose(v["fitted_gravity"], 4.0, atol=1e-9)
    np.testing.assert_allclose(v["gravity_error"], 1.5, atol=1e-9)
    got = _values(parse(render(parabola, 128)), parabola, ["fitted_gravity"])["fitted_gravity"]
    np.testing.assert_allclose(got, 2.5, atol=0.15)


def test_shorter_video_scores_common_frames(uniform):
    parsed = parse(render(uniform, 64)[:, :20])
    ctx = build_context(parsed, uniform, C)
    assert ctx.n_frames == 20
    assert np.isfinite(METRICS["velocity_error"].fn(ctx)).all()


def test_registry_and_bad_names(uniform):
    assert {"velocity_error", "momentum_error", "gravity_error"} <= set(METRICS)
    for m in METRICS.values():
        assert m.unit
        assert m.description
        assert m.higher_is_better in (True, False, None)
    with pytest.raises(PhylawError, match="unknown metric"):
        select_metrics(["velocity_eror"], "uniform_motion")
    with pytest.raises(PhylawError, match="do not apply"):
        select_metrics(["momentum_error"], "uniform_motion")
    parsed = parse(render(uniform, 32))
    with pytest.raises(PhylawError, match="no rule for object colour"):
        build_context(replace(parsed, color_ids=(7, 8)), uniform, C)


def test_shape_and_colour_changes_are_measured(uniform):
    """Attribute studies: a disc that turns into a square, a red ball that turns blue, from frame 10 on."""
    truth = uniform.subset(slice(0, 1))
    disc, square = render(truth, 128), render(replace(truth, shape=np.ones_like(truth.shape)), 128)
    blue = render(replace(truth, color=np.full_like(truth.color, 2)), 128)
    gen = np.arange(truth.n_frames) >= C
    seen = gen & truth.in_view[0, :, 0]
    after = seen & (np.arange(truth.n_frames) >= 10)
    frames = np.concatenate([disc[:, :10], square[:, 10:]], axis=1)
    v = _values(parse(frames), truth, ["shape_consistency", "color_consistency"])
    np.testing.assert_allclose(v["shape_consistency"], 1 - after.sum() / seen.sum())
    np.testing.assert_allclose(v["color_consistency"], 1.0)
    frames = np.concatenate([disc[:, :10], blue[:, 10:]], axis=1)
    v = _values(parse(frames), truth, ["color_consistency", "parse_failure_rate", "shape_consistency"])
    np.testing.assert_allclose(v["color_consistency"], 1 - after.sum() / seen.sum())
    np.testing.assert_allclose(v["parse_failure_rate"], after.sum() / seen.sum())  # the red ball is gone
    np.testing.assert_allclose(v["shape_consistency"], 1.0)


def test_capped_velocity_error_counts_undetected_intervals_at_the_cap(uniform):
    """velocity_error_capped: a valid interval with a parse failure in either frame scores VELOCITY_CAP; a video
    whose ball is never detected scores exactly the cap (velocity_error: undefined)."""
    from phylaw.evaluate.metrics import VELOCITY_CAP

    assert VELOCITY_CAP == 6.0  # the top of the OOD speed band (docs/evaluation.md)
    parsed = perfect_parse(uniform)
    center, visible = parsed.center.copy(), parsed.visible.copy()
    center[0, 8] = np.nan  # video 0: one frame lost -> the intervals 7→8 and 8→9 are not scored
    visible[0, 8] = False
    center[1] = np.nan  # video 1: never detected
    visible[1] = False
    v = _values(replace(parsed, center=center, visible=visible), uniform)
    n0 = _valid_intervals(uniform, 0)
    np.testing.assert_allclose(v["velocity_error_capped"][0], 2 * VELOCITY_CAP / n0, rtol=1e-12)
    assert v["velocity_error"][0] == pytest.approx(0.0, abs=1e-9)  # the headline ignores the lost frame
    assert np.isnan(v["velocity_error"][1])
    assert v["velocity_error_capped"][1] == VELOCITY_CAP
    np.testing.assert_allclose(v["velocity_error_capped"][2], 0.0, atol=1e-9)
    # scored errors above the cap count as the cap: an undetected ball is never better than a detected one
    pos = uniform.position.copy()
    pos[:, 10:, 0] += 5.0  # one interval errs by 50 world/s
    v = _values(perfect_parse(replace(uniform, position=pos)), uniform, ["velocity_error_capped"])
    for i in range(len(uniform)):
        np.testing.assert_allclose(v["velocity_error_capped"][i], VELOCITY_CAP / _valid_intervals(uniform, i))


def test_collision_without_contact_has_no_post_contact_intervals(rng):
    """v1 = v2 = 0: no contact. Post-contact metrics are undefined (NaN), pre-contact ones cover every generated
    interval; a collision video with a contact keeps its post-contact score."""
    truth = simulate("collision", np.array([[0.8, 1.2, 0.0, 0.0], [0.8, 1.2, 2.0, 1.5]]), rng)
    assert truth.contact_frame[0] == -1
    assert truth.contact_frame[1] > C
    dv = 0.25
    t = np.arange(truth.n_frames)
    pos = truth.position.copy()
    pos[0, :, 1, 0] += np.clip(t - C, 0, None) * 0.1 * dv  # ball 2 of video 0 drifts at dv from frame c on
    v = _values(perfect_parse(replace(truth, position=pos)), truth)
    for name in ("velocity_error", "velocity_error_x", "velocity_error_capped", "mean_velocity_error",
                 "momentum_error", "kinetic_energy_error"):  # fmt: skip
        assert np.isnan(v[name][0]), name
        assert np.isfinite(v[name][1]), name
    ok = (t[:-1] >= C)[:, None] & truth.in_view[0, :-1] & truth.in_view[0, 1:]  # every generated interval
    np.testing.assert_allclose(v["velocity_error_pre"][0], dv * ok[:, 1].sum() / ok.sum(), rtol=1e-9)
    np.testing.assert_allclose(v["position_error"][1], 0.0, atol=1e-9)
