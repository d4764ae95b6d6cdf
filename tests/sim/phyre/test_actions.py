"""The red user ball (SPEC_COMBINATORIAL A.5): mapping, inside-scene test, occlusion, and the sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.seeding import child_rng
from phylaw.sim.phyre import actions as ac
from phylaw.sim.phyre import objects as ob
from phylaw.sim.phyre.templates import build_task


def _act(x: int, y: int, r: int) -> list[float]:
    """The action whose ball lands at integer (x, y) with integer radius r (robust to float rounding)."""
    return [(x + 0.5) / 511, (y + 0.5) / 511, (r - 2) / 62]


def _static_ball(x: float, y: float, r: float) -> ob.Body:
    return ob.Body("ball", False, ob.BLACK, (x, y), 0.0, (), r, 2 * r)


def test_mapping():
    ball = ac.action_to_ball([0.5, 0.5, 0.5])
    assert ball.position == (255.0, 255.0)  # 255.5 truncated
    assert ball.radius == 33.0
    assert ball.diameter == 66.0
    assert ball.kind == "ball"
    assert ball.dynamic
    assert ball.color == ob.RED
    # r = 2 + a2 62 rounded half to even: 17.5 -> 18, 48.5 -> 48
    assert ac.action_to_ball([0.5, 0.5, 0.25]).radius == 18.0
    assert ac.action_to_ball([0.5, 0.5, 0.75]).radius == 48.0
    assert ac.action_to_ball([0.5, 0.5, 1.0]).radius == 64.0
    assert ac.action_to_ball([0.5, 0.5, 0.0]).radius == 2.0


def test_inside_scene_test_uses_unquantised_values():
    # x = 510.5, r = 2: outside (510.5 > 512 - 2) although int(510.5) = 510 would fit
    with pytest.raises(ac.InvalidAction, match="outside the scene"):
        ac.action_to_ball([510.5 / 511, 0.5, 0.0])
    # x = 2.2, r = 2.4 (rounds to 2): outside although (2, 2) would fit
    with pytest.raises(ac.InvalidAction, match="outside the scene"):
        ac.action_to_ball([2.2 / 511, 0.5, 0.4 / 62])
    # x = 2.5 >= r = 2 -> inside; the ball at x = 2 touches the left wall, which is allowed
    assert ac.check_action([], [2.5 / 511, 0.5, 0.0]).position == (2.0, 255.0)
    with pytest.raises(ac.InvalidAction):
        ac.action_to_ball([1.0, 0.5, 0.0])  # x = 511 > 510


@pytest.mark.parametrize(
    "action", [[-0.01, 0.5, 0.5], [0.5, 1.01, 0.5], [0.5, 0.5, 1.5], [np.nan, 0.5, 0.5], [0.5, 0.5]]
)
def test_actions_outside_the_unit_cube(action):
    with pytest.raises(PhylawError):
        ac.check_action([], action)
    with pytest.raises(ac.InvalidAction):
        ac.action_to_ball(action)


def test_walls_occlude_after_truncation():
    # x = 17.7 >= r = 17.5 passes the inside test, but the ball becomes x = 17, r = 18: it overlaps the
    # left wall by 1 unit
    action = [17.7 / 511, 0.5, 0.25]
    assert ac.action_to_ball(action).position[0] == 17.0
    with pytest.raises(ac.InvalidAction, match="over a body"):
        ac.check_action([], action)


def test_polygon_occlusion_touching_allowed():
    bar = ob.make_bar(0.4, False).placed(center_x=256, bottom=100)  # y in [100, 110.24], x in [153.6, 358.4]
    bodies = [bar]
    with pytest.raises(ac.InvalidAction):  # centre inside the bar
        ac.check_action(bodies, _act(256, 105, 2))
    # above the bar: the distance to the top edge 110.24 vs r
    assert ac.is_valid_action(bodies, _act(256, 131, 20))  # distance 20.76 > 20
    assert not ac.is_valid_action(bodies, _act(256, 130, 20))  # 19.76 < 20
    # beside the bar's corner: distance to the corner point (358.4, 110.24)
    assert ac.is_valid_action(bodies, _act(370, 122, 16))  # hypot(11.6, 11.76) = 16.52 > 16
    assert not ac.is_valid_action(bodies, _act(368, 120, 16))  # hypot(9.6, 9.76) = 13.7 < 16
    # exactly touching (distance == r) is allowed: an axis-aligned edge at an integer coordinate
    square = ob.Body("bar", False, ob.BLACK, (100.0, 100.0), 0.0, (ob._rect(40, 40),), 0.0, 56.6)
    assert ac.is_valid_action([square], _act(100, 130, 10))  # top edge y = 120, distance 10
    assert not ac.is_valid_action([square], _act(100, 129, 10))
    # a rotated body: the occlusion test uses the rotated polygon
    tilted = ob.make_bar(0.4, False).placed(center_x=256, center_y=256, angle=90)  # vertical now
    assert not ac.is_valid_action([tilted], _act(256, 330, 10))
    assert ac.is_valid_action([bar.placed(center_x=256, center_y=256)], _act(256, 330, 10))


def test_circle_occlusion_touching_allowed():
    bodies = [_static_ball(100, 100, 10)]
    assert ac.is_valid_action(bodies, _act(100, 130, 20))  # centre distance 30 == 10 + 20: touching
    assert not ac.is_valid_action(bodies, _act(100, 129, 20))
    assert ac.is_valid_action(bodies, _act(118, 124, 20))  # hypot(18, 24) = 30
    assert not ac.is_valid_action(bodies, _act(118, 123, 20))
    with pytest.raises(ac.InvalidAction, match="over a body"):
        ac.check_action(bodies, _act(100, 100, 2))


def test_jar_occlusion_inside_the_opening_is_free():
    jar = ob.make_jar(0.3, False).placed(bottom=0, center_x=256)
    _, _, bottom, top = jar.aabb()
    # a small ball in the jar's open interior does not occlude; one on a wall does
    assert ac.is_valid_action([jar], _act(256, int(bottom + 40), 5))
    left = jar.aabb()[0]
    assert not ac.is_valid_action([jar], _act(int(left + 3), int(top - 2), 3))


def _scene_for_bar_ignoring(angle: float) -> list[ob.Body]:
    bar = ob.make_bar(0.15, False).placed(center_x=80, center_y=150)
    bar = ob.Body(bar.kind, bar.dynamic, bar.color, bar.position, angle, bar.polygons, 0.0, bar.diameter)
    return [bar, _static_ball(430, 150, 10.5)]


def test_sampler_ignores_bars_with_small_wrapped_angle():
    def xs(angle: float) -> np.ndarray:
        bodies = _scene_for_bar_ignoring(angle)
        return np.array([ac.sample_action(bodies, child_rng(0, "t", i))[0] for i in range(60)])

    # angle feature 0.0016 < 0.05: the bar is ignored, every sample is around the ball at x = 0.84
    assert (xs(0.01) > 0.6).all()
    # angle -0.01 wraps to a feature of 0.998 >= 0.05: the bar is picked too
    assert (xs(-0.01) < 0.4).any()
    assert (xs(-0.01) > 0.6).any()


def test_sampler_radius_range():
    f = ac.sampler_features([])
    assert ac.sampler_radius_range(f) == (0.02, 0.2)
    big = ob.make_ball(0.12, True).placed(center_x=256, center_y=256)  # r 30.5
    assert ac.sampler_radius_range(ac.sampler_features([big])) == (pytest.approx(30.5 / 512 / 2), 0.2)
    small = _static_ball(100, 100, 10.5)
    assert ac.sampler_radius_range(ac.sampler_features([small])) == (0.02, pytest.approx(4 * 10.5 / 512))


def test_sampler_features_put_jars_at_their_centre_of_mass():
    jar = ob.make_jar(0.3, True).placed(angle=30, center_x=256, bottom=100)
    f = ac.sampler_features([jar])
    d = jar.center_of_mass_local()[1]
    assert d > 0
    assert f["x"][0] == pytest.approx((jar.position[0] - d * math.sin(jar.angle)) / 512)
    assert f["y"][0] == pytest.approx((jar.position[1] + d * math.cos(jar.angle)) / 512)
    assert f["angle"][0] == pytest.approx(30 / 360)


def test_sample_action_valid_seeded_and_in_range():
    bodies = build_task(10016, 0, seed=3)
    occ_free = []
    for j in range(15):
        a = ac.sample_action(bodies, child_rng(3, "phyre-trial", 10016, 0, j))
        assert a.shape == (3,)
        assert a.dtype == np.float64
        assert ((a >= 0) & (a <= 1)).all()
        assert 0.1 - 1e-12 <= a[2] <= 1.0 + 1e-12  # 5 x [0.02, 0.2]
        ac.check_action(bodies, a)
        occ_free.append(a)
        again = ac.sample_action(bodies, child_rng(3, "phyre-trial", 10016, 0, j))
        assert again.tobytes() == a.tobytes()
    assert len({a.tobytes() for a in occ_free}) == 15


def test_sample_action_fallback_on_an_empty_scene():
    a = ac.sample_action([], child_rng(0, "empty"))
    assert ac.is_valid_action([], a)
    assert 0.1 <= a[2] <= 1.0
