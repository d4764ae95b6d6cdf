"""PHYRE geometry and object builders against SPEC_COMBINATORIAL A.2/A.3/B.3 and SPEC B.5."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.sim.phyre import objects as ob

W = 512.0


def _rng(i: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(1000 + i))


def _edge_dir_deg(p0: np.ndarray, p1: np.ndarray) -> float:
    d = p1 - p0
    return math.degrees(math.atan2(d[1], d[0]))


def _dist_point_line(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    return abs(d[0] * (p[1] - a[1]) - d[1] * (p[0] - a[0])) / math.hypot(*d)


@pytest.mark.parametrize("scale", [0.04, 0.06, 0.0999, 0.1, 0.12, 0.0625])
def test_ball_radius_truncates_then_adds_half(scale):
    b = ob.make_ball(scale, True)
    assert b.radius == int(scale * W / 2) + 0.5
    assert b.diameter == 2 * b.radius
    assert b.area == pytest.approx(math.pi * b.radius**2)
    assert b.polygons == ()


def test_ball_radii_of_the_builders():
    radii = {b.radius for i in range(300) for b in ob.build_dynamic_ball(_rng(i))}
    assert radii <= {r + 0.5 for r in range(15, 31)}
    assert len(radii) >= 14  # U(0.06, 0.12) reaches (almost) every radius 15.5 ... 30.5
    assert {b.radius for b in ob.build_static_balls(_rng())} == {10.5}
    amb = ob.ambiguity_layout(20000, 0)
    assert amb[1].radius == 25.5


@pytest.mark.parametrize("scale", [0.15, 0.2, 0.37, 0.5, 1.0])
def test_bar_geometry(scale):
    b = ob.make_bar(scale, False)
    (p,) = b.polygons
    length = scale * W
    assert p[0].tolist() == [length / 2, 5.12]  # counter-clockwise from the top-right corner
    assert p.tolist() == [[length / 2, 5.12], [-length / 2, 5.12], [-length / 2, -5.12], [length / 2, -5.12]]
    assert ob.polygon_area(p) == pytest.approx(length * W / 50)
    assert b.diameter == pytest.approx(math.hypot(length, 10.24))
    assert b.color == ob.BLACK
    assert not b.dynamic
    assert ob.make_bar(scale, True).color == ob.GRAY


@pytest.mark.parametrize("scale", [0.08, 0.15, 0.2583, 0.3])
def test_jar_geometry(scale):
    jar = ob.make_jar(scale, True)
    base, left, right = jar.polygons
    h = scale * W
    w = h / 1.2
    b = 0.8 * w
    t = math.log(h) / math.log(0.3 * W) * W / 50
    # base slab: centred on the origin, b wide, t thick
    assert base[:, 0].min() == pytest.approx(-b / 2)
    assert base[:, 0].max() == pytest.approx(b / 2)
    assert base[:, 1].min() == pytest.approx(-t / 2)
    assert base[:, 1].max() == pytest.approx(t / 2)
    # walls: from the base's outer corners up to the rim (+-w/2, h - t/2): open at the top, flaring outward
    for wall, sign in ((left, -1), (right, 1)):
        assert wall[:, 1].max() == pytest.approx(h - t / 2)
        assert wall[:, 1].min() == pytest.approx(-t / 2)
        assert (sign * wall[:, 0]).max() == pytest.approx(w / 2)
        assert any(np.allclose(v, (sign * b / 2, -t / 2)) for v in wall)
        # the inner edge is parallel to the outer one, at perpendicular distance t
        is_outer = np.isclose(sign * wall[:, 0], b / 2) | np.isclose(sign * wall[:, 0], w / 2)
        outer, inner = wall[is_outer], wall[~is_outer]
        assert len(outer) == 2
        assert len(inner) == 2
        for v in inner:
            assert _dist_point_line(v, outer[0], outer[1]) == pytest.approx(t)
        outer_len = math.hypot(h, (w - b) / 2)
        inner_len = math.dist(inner[0], inner[1])
        assert ob.polygon_area(wall) == pytest.approx(t * (outer_len + inner_len) / 2)
    assert jar.area == pytest.approx(b * t + ob.polygon_area(left) + ob.polygon_area(right))
    assert jar.diameter == pytest.approx(math.hypot((w - b) / 2 + b, h))
    for p in jar.polygons:
        assert ob.polygon_area(p) > 0  # counter-clockwise (Box2D and the occlusion test need it)


def test_jar_thickness_at_scale_03_and_the_release_example():
    assert ob.jar_sizes(0.3)[3] == pytest.approx(W / 50)
    # SC A.2, task 10000:000: t = 9.936, b = 88.18, rim at y = 127.30
    h = 127.30 + 9.936 / 2
    _, _, b, t = ob.jar_sizes(h / W)
    assert t == pytest.approx(9.936, abs=2e-3)
    assert b == pytest.approx(88.18, abs=2e-2)
    assert ob.jar_sizes(0.08)[3] == pytest.approx(7.6, abs=0.05)


@pytest.mark.parametrize("scale", [0.3, 0.45, 0.6])
def test_sticks_geometry(scale):
    s = ob.make_sticks(scale, True)
    length = scale * W
    assert len(s.polygons) == 2
    for p, deg in zip(s.polygons, (-77.5, 77.5), strict=True):
        assert ob.polygon_area(p) == pytest.approx((2 * length / 3) * (2 * 10.24 / 3))
        assert p.mean(axis=0) == pytest.approx([0, 0], abs=1e-9)  # the sticks cross at their midpoints
        # long edge direction (top edge, from vertex 1 to vertex 0) = the stick's angle
        assert _edge_dir_deg(p[1], p[0]) == pytest.approx(deg)
        assert math.dist(p[0], p[1]) == pytest.approx(2 * length / 3)
        assert math.dist(p[1], p[2]) == pytest.approx(2 * 10.24 / 3)
    assert s.diameter == pytest.approx(math.hypot(length, 10.24))


def test_placement_applies_keywords_in_phyre_order():
    jar = ob.make_jar(0.2, True)
    placed = jar.placed(center_x=300, bottom=100, angle=30)  # angle first, then bottom, then center_x
    left, right, bottom, _ = placed.aabb()
    assert placed.angle == pytest.approx(math.radians(30))
    assert bottom == pytest.approx(100)
    assert (left + right) / 2 == pytest.approx(300)
    # rotating after placing would move the AABB bottom
    late = jar.placed(center_x=300, bottom=100).with_angle_deg(30)
    assert late.aabb()[2] != pytest.approx(100)


def test_dynamic_and_static_bars_rotate_about_their_centre_after_placing():
    for i in range(40):
        (bar,) = ob.build_dynamic_bar(_rng(i))
        x, y = bar.position
        assert 0.3 * W <= x <= 0.6 * W
        assert 0.2 * W <= y - 5.12 <= 0.8 * W  # centre = (x W, y H + 5.12)
        assert abs(bar.angle) <= math.pi / 2
        assert 0.15 * W <= 2 * bar.polygons[0][0, 0] <= 0.5 * W
        (sbar,) = ob.build_static_bar(_rng(i))
        length = 2 * sbar.polygons[0][0, 0]
        assert 0.3 * W <= sbar.position[0] + length / 2 <= 0.4 * W  # right edge before the rotation
        assert 0.1 * W <= sbar.position[1] - 5.12 <= 0.5 * W
        assert abs(sbar.angle) <= math.radians(60)
        assert not sbar.dynamic
        assert bar.dynamic


def test_static_ball_group_always_has_the_walk_start_and_3_to_7_balls():
    counts = set()
    for i in range(150):
        balls = ob.build_static_balls(_rng(i))
        counts.add(len(balls))
        assert balls[0].position == pytest.approx((204.8, 281.6))
        assert all(b.position[1] < 0.5 * W for b in balls[1:])
        assert all(not b.dynamic and b.color == ob.BLACK for b in balls)
        assert all(0 <= b.position[0] <= W for b in balls)
    assert counts == {3, 4, 5, 6, 7}


def test_standing_bars():
    sizes = set()
    for i in range(60):
        bars = ob.build_dynamic_standing_bars(_rng(i))
        sizes.add(len(bars))
        for j, b in enumerate(bars):
            assert b.angle == pytest.approx(math.pi / 2)
            assert b.aabb()[2] == pytest.approx(0, abs=1e-9)  # on the floor
            assert 2 * b.polygons[0][0, 0] == pytest.approx((0.2 + 0.05 * j) * W)
        lefts = np.array([b.aabb()[0] for b in bars]) / W
        if len(bars) > 1:
            assert np.abs(np.diff(lefts)) == pytest.approx(0.15)
        # bar i's left edge is offset + m idx, idx in range(-n//2, -n//2 + n); offset U(0.45, 0.6) with
        # m = 0.15, or mirrored: 1 - offset with m = -0.15
        first = (-len(bars)) // 2
        signs = [np.sign(lefts[1] - lefts[0])] if len(bars) > 1 else [1.0, -1.0]
        ok = []
        for m in (0.15 * sg for sg in signs):
            offset = lefts[0] - m * first
            ok.append(0.45 - 1e-9 <= offset <= 0.6 + 1e-9 if m > 0 else 0.4 - 1e-9 <= offset <= 0.55 + 1e-9)
        assert any(ok), (len(bars), lefts)
    assert sizes == {1, 2, 3, 4}


def test_jar_and_sticks_branches():
    on_floor = {"jar": 0, "sticks": 0}
    for i in range(200):
        (jar,) = ob.build_dynamic_jar(_rng(i))
        (st,) = ob.build_dynamic_sticks(_rng(i))
        for name, b, max_deg, lo, hi in (("jar", jar, 45, 0.2, 0.8), ("sticks", st, 90, 0.2, 0.5)):
            left, right, bottom, _ = b.aabb()
            assert 0.3 * W <= (left + right) / 2 <= 0.6 * W
            if b.angle == 0 and bottom == pytest.approx(0, abs=1e-9):
                on_floor[name] += 1
            else:
                assert abs(b.angle) <= math.radians(max_deg)
                assert lo * W <= bottom <= hi * W
    assert 30 <= on_floor["jar"] <= 90
    assert 30 <= on_floor["sticks"] <= 90


def test_builders_use_only_the_generator_they_get():
    # the legacy global RNGs (numpy and random) are seeded on purpose: the builders must not read or advance them
    np.random.seed(5)  # noqa: NPY002
    random.seed(5)
    before_np, before_py = np.random.get_state()[1].copy(), random.getstate()  # noqa: NPY002
    a = [b for name in ob.OBJECT_BUILDERS for b in ob.build_object(name, _rng(7))]
    np.random.seed(99)  # noqa: NPY002
    random.seed(99)
    b = [b for name in ob.OBJECT_BUILDERS for b in ob.build_object(name, _rng(7))]
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.position == y.position
        assert x.angle == y.angle
        assert x.radius == y.radius
        assert all(np.array_equal(p, q) for p, q in zip(x.polygons, y.polygons, strict=True))
    np.random.seed(5)  # noqa: NPY002
    random.seed(5)
    [ob.build_object(name, _rng(7)) for name in ob.OBJECT_BUILDERS]
    assert np.array_equal(np.random.get_state()[1], before_np)  # noqa: NPY002
    assert random.getstate() == before_py


def test_unknown_object_type():
    with pytest.raises(PhylawError, match="unknown PHYRE object type 'dball3'"):
        ob.build_object("dball3", _rng())


def test_walls():
    bottom, left, top, right = ob.walls()
    assert bottom.aabb() == pytest.approx((0, 512, -5, 0))
    assert left.aabb() == pytest.approx((-5, 0, 0, 512))
    assert top.aabb() == pytest.approx((0, 512, 512, 517))
    assert right.aabb() == pytest.approx((512, 517, 0, 512))
    assert bottom.position == (256, -2.5)
    assert all(not w.dynamic for w in ob.walls())


def test_ambiguity_layouts():
    floor, ball, *blocks = ob.ambiguity_layout(20000, 0)
    assert floor.kind == "bar"
    assert not floor.dynamic
    assert floor.color == ob.PURPLE
    assert floor.position == pytest.approx((256, 5.12))
    assert floor.aabb() == pytest.approx((0, 512, 0, 10.24))
    assert ball.kind == "ball"
    assert ball.dynamic
    assert ball.color == ob.GREEN
    assert ball.position == pytest.approx((35.74, 35.74))
    assert np.array([b.position for b in blocks]) == pytest.approx(np.array([[204.8, 153.6], [256.0, 153.6]]))
    assert all(b.radius == 10.5 and b.color == ob.BLACK and not b.dynamic for b in blocks)
    assert len(ob.ambiguity_layout(20001, 0)) == 3
    # 20002 task 000 uses seed 27 (SC B.3)
    _, _, lb, rb = ob.ambiguity_layout(20002, 27)
    assert (lb.position[0], rb.position[0]) == pytest.approx((228.608, 283.392))
    (blk,) = ob.ambiguity_layout(20003, 0)[2:]
    assert blk.position[0] == pytest.approx(204.8 + 0.0512 * (0 - 50))
    with pytest.raises(PhylawError, match="unknown ambiguity template"):
        ob.ambiguity_layout(20004, 0)


def test_ambiguity_actions():
    a0 = ob.ambiguity_actions(20000)
    assert a0.shape == (101, 3)
    assert a0.dtype == np.float64
    radii = [round(2 + r * 62) for r in a0[:, 2]]
    assert {r: radii.count(r) for r in set(radii)} == {14: 4, 15: 32, 16: 32, 17: 32, 18: 1}
    a1 = ob.ambiguity_actions(20001)
    assert sorted({int(x * 511) for x in a1[:, 0]}) == list(range(199, 210))
    assert ob.ambiguity_actions(20002).tolist() == [[0.5, 0.5, 0.4]]
    assert ob.ambiguity_actions(20003).tolist() == [[0.4, 0.5, 0.4]]
    with pytest.raises(PhylawError):
        ob.ambiguity_actions(10000)
