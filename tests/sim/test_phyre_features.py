"""PHYRE's 14-feature vector (SPEC_COMBINATORIAL A.7) and its inverse: values worked out by hand for a ball, a
rotated bar, a jar (centre-of-mass shift) and sticks; the inverse rebuilds the SC A.2 geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.render.palette import COLOR_NAMES
from phylaw.sim.phyre import features as F
from phylaw.sim.states import SHAPE_BOX, SHAPE_DISC, SHAPE_JAR, SHAPE_STICKS, States

W = 512.0
GRAY, BLACK, RED = COLOR_NAMES["phyre-gray"], COLOR_NAMES["black"], COLOR_NAMES["phyre-red"]


def phyre_states(bodies: list[dict], t: int = 3, k: int = 14) -> States:
    """One phyre video by hand: each body gives shape, radius, color, pos (T, 2), angle (T,)."""
    pos = np.full((1, t, k, 2), np.nan)
    ang = np.full((1, t, k), np.nan)
    shape = np.zeros((1, k), np.uint8)
    radius = np.full((1, k), np.nan)
    color = np.zeros((1, k), np.uint8)
    present = np.zeros((1, k), bool)
    half = np.full((1, k, 2), np.nan)
    verts = np.full((1, k, 14, 2), np.nan)
    for j, b in enumerate(bodies):
        pos[0, :, j] = b["pos"]
        ang[0, :, j] = b["angle"]
        shape[0, j], radius[0, j], color[0, j], present[0, j] = b["shape"], b["radius"], b["color"], True
        hs, polys = F.body_geometry(b["shape"], 2 * b["radius"])
        half[0, j] = hs
        if polys:
            verts[0, j] = F.pack_polygons(polys)
    return States(
        scenario="phyre", position=pos, velocity=np.zeros_like(pos), radius=radius, color=color, shape=shape,
        in_view=np.ones((1, t, k), bool), dt=F.FRAME_DT, angle=ang, present=present, half_size=half,
        vertices=verts, static=(color == BLACK) & present,
    )  # fmt: skip


def still(x: float, y: float, t: int = 3) -> np.ndarray:
    return np.tile([x, y], (t, 1)).astype(float)


H_JAR = 132.27  # the jar of task 10000:000 (SC A.2: t = 9.936, b = 88.18, rim at y = 127.30)


def jar_com_by_triangles(h: float) -> float:
    """The jar's area-weighted centre (local y), worked out independently of the module: each part is split
    into two triangles (area from the cross product, centroid = vertex mean)."""
    w, b, t = h / 1.2, 0.8 * h / 1.2, math.log(h) / math.log(153.6) * 10.24
    alpha = math.atan2(h, (w - b) / 2)
    right = [(b / 2, -t / 2), (w / 2, h - t / 2), (w / 2 - t / math.sin(alpha), h - t / 2),
             (b / 2 - t * math.sin(alpha), -t / 2 + t * math.cos(alpha))]  # fmt: skip
    base = [(-b / 2, -t / 2), (b / 2, -t / 2), (b / 2, t / 2), (-b / 2, t / 2)]
    mass = moment = 0.0
    for quad in (base, right, [(-x, y) for x, y in right]):
        for tri in ((quad[0], quad[1], quad[2]), (quad[0], quad[2], quad[3])):
            (ax, ay), (bx, by), (cx, cy) = tri
            area = abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) / 2
            mass += area
            moment += area * (ay + by + cy) / 3
    return moment / mass


def test_ball_features_by_hand():
    s = phyre_states([{"shape": SHAPE_DISC, "radius": 20.5, "color": GRAY, "pos": still(100, 200),
                       "angle": [0.3, 0.3, 0.3]}])  # fmt: skip
    f = F.features(s)
    assert f.shape == (1, 3, 14, 14)
    assert f.dtype == np.float32
    want = [100 / W, 200 / W, 0.3 / (2 * math.pi), 41 / W, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(f[0, 0, 0], want, rtol=1e-6)
    assert np.isnan(f[0, :, 1:]).all()  # absent slots are NaN in every column


def test_rotated_bar_and_its_wrapped_angle():
    length = 150.0
    s = phyre_states([{"shape": SHAPE_BOX, "radius": math.hypot(length, 10.24) / 2, "color": BLACK,
                       "pos": still(300, 50), "angle": [-math.pi / 6, 2 * math.pi + 0.1, 0.0]}])  # fmt: skip
    f = F.features(s)[0, :, 0]
    np.testing.assert_allclose(f[:, 2], [11 / 12, 0.1 / (2 * math.pi), 0.0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(f[0, 3], math.sqrt(150**2 + 10.24**2) / W, rtol=1e-6)  # 150.349 / 512
    np.testing.assert_array_equal(f[0, 4:8], [0, 1, 0, 0])
    np.testing.assert_array_equal(f[0, 8:], [0, 0, 0, 0, 0, 1])  # black
    np.testing.assert_allclose(f[0, :2], [300 / W, 50 / W], rtol=1e-6)  # bars: the origin itself


def test_angle_just_below_zero_wraps_into_unit_interval():
    s = phyre_states([{"shape": SHAPE_DISC, "radius": 10.5, "color": BLACK, "pos": still(100, 100),
                       "angle": [-1e-12, -2 * math.pi, 4 * math.pi - 1e-13]}])  # fmt: skip
    a = F.features(s)[0, :, 0, 2]
    assert ((a >= 0) & (a < 1)).all(), a


def test_jar_centre_of_mass_shift():
    d = jar_com_by_triangles(H_JAR)
    assert F.jar_com_offset(H_JAR) == pytest.approx(d, rel=1e-9)  # the engine's jar, weighted by area
    assert 40 < d < 50  # the heavy walls lift the centre well above the base slab
    theta = 0.4
    diameter = 1.25 * H_JAR  # √((0.75 h)² + h²)
    s = phyre_states([{"shape": SHAPE_JAR, "radius": diameter / 2, "color": GRAY, "pos": still(250, 120),
                       "angle": [theta] * 3}])  # fmt: skip
    f = F.features(s)[0, 0, 0]
    # moved along the rotated local +y axis (−sin θ, cos θ), both components divided by W
    np.testing.assert_allclose(f[:2], [(250 - d * math.sin(theta)) / W, (120 + d * math.cos(theta)) / W],
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(f[3], diameter / W, rtol=1e-6)
    np.testing.assert_array_equal(f[4:8], [0, 0, 1, 0])
    np.testing.assert_array_equal(f[8:], [0, 0, 0, 0, 1, 0])


def test_sticks_and_red_ball_colour_columns():
    length = 200.0
    s = phyre_states([
        {"shape": SHAPE_STICKS, "radius": math.hypot(length, 10.24) / 2, "color": GRAY, "pos": still(256, 80),
         "angle": [0.0] * 3},
        {"shape": SHAPE_DISC, "radius": 30.0, "color": RED, "pos": still(400, 400), "angle": [0.0] * 3},
    ])  # fmt: skip
    f = F.features(s)[0, 0]
    np.testing.assert_array_equal(f[0, 4:8], [0, 0, 0, 1])
    np.testing.assert_allclose(f[0, 3], math.sqrt(200**2 + 10.24**2) / W, rtol=1e-6)
    np.testing.assert_allclose(f[0, :2], [0.5, 80 / W], rtol=1e-6)  # sticks: no centre-of-mass shift
    np.testing.assert_array_equal(f[1, 8:], [1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(f[1, 3], 60 / W, rtol=1e-6)


def test_unencodable_shape_is_refused():
    s = phyre_states([{"shape": SHAPE_DISC, "radius": 10.5, "color": BLACK, "pos": still(100, 100),
                       "angle": [0.0] * 3}])  # fmt: skip
    from dataclasses import replace

    bad = replace(s, shape=np.where(s.present, 1, 0).astype(np.uint8))  # squares have no feature column
    with pytest.raises(PhylawError, match="shape id 1"):
        F.features(bad)


# ----------------------------------------------------------------------------------------------- geometry
def rebuilt(shape: int, diameter: float, color: int = GRAY) -> States:
    """The inverse's body for one feature row of ``shape`` and ``diameter`` at (256, 256), angle 0."""
    row = np.zeros(14, np.float32)
    row[:4] = [0.5, 0.5, 0.0, diameter / W]
    row[4 + (SHAPE_DISC, SHAPE_BOX, SHAPE_JAR, SHAPE_STICKS).index(shape)] = 1
    row[8 + F.FEATURE_PALETTE.index(color)] = 1
    return F.states_from_features(row[None, None])


def test_inverse_jar_has_the_compiled_task_geometry():
    # task 10000:000's jar (SC A.2): wall thickness t = 9.936, base width b = 88.18, rim at y = 127.30
    s = rebuilt(SHAPE_JAR, 1.25 * H_JAR)
    v = s.vertices[0, 0]
    assert np.isnan(v[[4, 9]]).all()  # three parts of four vertices, one NaN row between two
    parts = [v[0:4], v[5:9], v[10:14]]
    origin = s.position[0, 0, 0]
    rim = max(p[:, 1].max() for p in parts)
    assert rim == pytest.approx(127.30, abs=1e-2)
    base = next(p for p in parts if np.allclose(p[:, 1].max(), -p[:, 1].min()))  # centred on the origin
    assert base[:, 0].max() - base[:, 0].min() == pytest.approx(88.18, abs=1e-2)
    assert base[:, 1].max() - base[:, 1].min() == pytest.approx(9.936, abs=1e-3)
    # the origin is the base slab's centre: the COM shift was undone along local y
    np.testing.assert_allclose(origin, [256, 256 - jar_com_by_triangles(H_JAR)], atol=1e-3)
    np.testing.assert_allclose(s.half_size[0, 0], [1.25 * H_JAR / 2] * 2, rtol=1e-6)


def test_inverse_sticks_and_bar_geometry():
    length = 240.0
    s = rebuilt(SHAPE_STICKS, math.hypot(length, 10.24))
    v = s.vertices[0, 0]
    assert np.isnan(v[4]).all()
    assert np.isnan(v[9:]).all()
    for poly in (v[0:4], v[5:9]):
        sides = sorted(np.linalg.norm(np.roll(poly, -1, axis=0) - poly, axis=1))
        np.testing.assert_allclose(sides, [2 * 10.24 / 3] * 2 + [2 * length / 3] * 2, rtol=1e-5)
        long_side = max((poly[(k + 1) % 4] - poly[k] for k in range(4)), key=np.linalg.norm)
        tilt = math.degrees(math.atan2(abs(long_side[0]), abs(long_side[1])))
        assert tilt == pytest.approx(12.5, abs=1e-4)  # ±77.5° from the horizontal rectangle
        np.testing.assert_allclose(poly.mean(axis=0), [0, 0], atol=1e-4)
    bar = rebuilt(SHAPE_BOX, math.hypot(160.0, 10.24), BLACK)
    np.testing.assert_allclose(np.abs(bar.vertices[0, 0, :4]), np.tile([80, 5.12], (4, 1)), rtol=1e-5)
    np.testing.assert_allclose(bar.half_size[0, 0], [80, 5.12], rtol=1e-5)
    assert bar.static[0, 0]
    assert rebuilt(SHAPE_BOX, 512.1, COLOR_NAMES["phyre-purple"]).static[0, 0]  # the ambiguity floor bar
    assert not rebuilt(SHAPE_BOX, 100.0, COLOR_NAMES["phyre-blue"]).static[0, 0]
    ball = rebuilt(SHAPE_DISC, 41.0)
    assert ball.radius[0, 0] == pytest.approx(20.5, rel=1e-6)
    assert np.isnan(ball.vertices[0, 0]).all()


def test_lengths_from_diameters():
    assert F.bar_length(math.hypot(76.8, 10.24)) == pytest.approx(76.8)
    assert F.jar_height(1.25 * H_JAR) == pytest.approx(H_JAR)
    with pytest.raises(PhylawError, match="thickness"):
        F.bar_length(10.0)
    with pytest.raises(PhylawError, match="too small"):
        F.jar_height(1.0)


# ----------------------------------------------------------------------------------------------- inverse
def scene(t: int = 4) -> tuple[States, list[tuple[int, float]]]:
    times = np.arange(t)[:, None] * F.FRAME_DT
    bodies = [
        {"shape": SHAPE_DISC, "radius": 20.5, "color": GRAY, "pos": [150, 300] + [12, -3] * times - [0, 29.4] * times**2,
         "angle": 0.2 + 0.5 * times[:, 0]},
        {"shape": SHAPE_BOX, "radius": math.hypot(160, 10.24) / 2, "color": BLACK, "pos": still(300, 100, t),
         "angle": [-0.5] * t},
        {"shape": SHAPE_JAR, "radius": 1.25 * 90 / 2, "color": GRAY, "pos": [260, 200] + [-6, 0] * times,
         "angle": -0.3 + 0.1 * times[:, 0]},
        {"shape": SHAPE_STICKS, "radius": math.hypot(220, 10.24) / 2, "color": GRAY, "pos": still(380, 60, t),
         "angle": [6.2 + 0.1 * k for k in range(t)]},  # crosses 2π: the rebuilt angle is unwrapped
        {"shape": SHAPE_DISC, "radius": 27.0, "color": RED, "pos": still(60, 450, t), "angle": [0.0] * t},
    ]  # fmt: skip
    return phyre_states(bodies, t), []


def test_inverse_rebuilds_states():
    s, _ = scene()
    f = F.features(s)[0][:, :5]  # (T, 5, 14): the release's object_streams of one trial
    back = F.states_from_features(f)
    assert (len(back), back.n_frames, back.n_objects, back.n_vertices, back.n_events) == (1, 4, 14, 14, 0)
    assert back.dt == pytest.approx(20 / 60)
    np.testing.assert_array_equal(back.present, s.present)
    np.testing.assert_array_equal(back.shape[s.present], s.shape[s.present])
    np.testing.assert_array_equal(back.color, s.color)
    np.testing.assert_array_equal(back.static, s.static)
    p = s.present[0]
    # float32 features: positions to ~1e-4 scene units, the jar's origin recovered from its centre of mass
    np.testing.assert_allclose(back.position[0][:, p], s.position[0][:, p], atol=1e-3)
    np.testing.assert_allclose(back.radius[0, p], s.radius[0, p], rtol=1e-6)
    np.testing.assert_allclose(back.half_size[0, p], s.half_size[0, p], rtol=1e-5)
    np.testing.assert_allclose(back.vertices[0, p], s.vertices[0, p], rtol=1e-5, atol=1e-4)
    # angles: in (−π, π] at frame 0, then unwrapped (the sticks start at 6.2 = 2π − 0.083 and keep turning)
    want = s.angle[0][:, p].copy()
    want[:, 3] -= 2 * math.pi
    np.testing.assert_allclose(back.angle[0][:, p], want, atol=1e-5)
    assert np.isnan(back.position[0][:, ~p]).all()
    # and the features of the rebuilt states are the same numbers
    np.testing.assert_allclose(F.features(back)[0][:, :5], f, atol=2e-7)


def test_inverse_velocity_by_finite_differences():
    s, _ = scene(t=5)
    back = F.states_from_features(F.features(s)[0][:, :5])
    dt = 20 / 60
    # the ball falls on a parabola: central differences are exact inside, one-sided at the ends
    pos = s.position[0, :, 0]
    want = np.stack([[12.0, -3 - 2 * 29.4 * k * dt] for k in range(5)])
    np.testing.assert_allclose(back.velocity[0, 1:-1, 0], want[1:-1], atol=2e-3)
    np.testing.assert_allclose(back.velocity[0, 0, 0], (pos[1] - pos[0]) / dt, atol=2e-3)
    np.testing.assert_allclose(back.velocity[0, :, 2], np.tile([-6.0, 0.0], (5, 1)), atol=2e-3)  # the jar
    np.testing.assert_allclose(back.velocity[0, :, 1], 0, atol=1e-9)  # the static bar


def test_inverse_geometry_from_type_and_diameter():
    s, _ = scene()
    back = F.states_from_features(F.features(s)[0][:, :5])
    v = back.vertices[0]
    # ball: radius d/2, no polygon
    assert back.radius[0, 0] == pytest.approx(20.5, rel=1e-6)
    assert np.isnan(v[0]).all()
    # bar: L = √(d² − 10.24²) = 160, the 4 corners ±(80, 5.12)
    np.testing.assert_allclose(back.half_size[0, 1], [80, 5.12], rtol=1e-5)
    np.testing.assert_allclose(np.abs(v[1, :4]), np.tile([80, 5.12], (4, 1)), rtol=1e-5)
    assert np.isnan(v[1, 4:]).all()
    # jar: h = d / 1.25 = 90; three parts of 4 vertices, NaN between them
    assert np.isnan(v[2, [4, 9]]).all()
    assert np.isfinite(v[2, [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13]]).all()
    t = math.log(90.0) / math.log(153.6) * 10.24
    assert np.nanmax(v[2, :, 1]) == pytest.approx(90 - t / 2, rel=1e-5)
    # sticks: two parts, each 2L/3 = 146.67 long
    assert np.isnan(v[3, 4]).all()
    assert np.linalg.norm(v[3, 1] - v[3, 0]) == pytest.approx(2 * 220 / 3, rel=1e-5)
    assert np.isnan(v[3, 9:]).all()


def test_inverse_in_view_and_several_videos():
    t = 2
    ball = {
        "shape": SHAPE_DISC,
        "radius": 20.0,
        "color": GRAY,
        "pos": [[30, 100], [19, 100]],
        "angle": [0, 0],
    }
    bar = {"shape": SHAPE_BOX, "radius": math.hypot(100, 10.24) / 2, "color": BLACK,
           "pos": [[60, 200], [40, 200]], "angle": [0.0, 0.0]}  # fmt: skip
    s = phyre_states([ball, bar], t)
    f = F.features(s)[0][:, :2]
    back = F.states_from_features(np.stack([f, f]))  # (V, T, N, 14)
    assert len(back) == 2
    np.testing.assert_array_equal(back.in_view[0, :, :2], [[True, True], [False, False]])
    assert not back.in_view[:, :, 2:].any()


def test_inverse_absent_rows_and_bad_features():
    s, _ = scene()
    f = F.features(s)[0][:, :6]  # slot 5 absent: all NaN
    back = F.states_from_features(f)
    assert back.present[0].tolist() == [True] * 5 + [False] * 9
    two_hot = f.copy()
    two_hot[:, 0, 5] = 1  # ball and bar
    with pytest.raises(PhylawError, match="object 0: the shape columns"):
        F.states_from_features(two_hot)
    no_shape = f.copy()
    no_shape[:, 1, 4:8] = 0
    with pytest.raises(PhylawError, match="object 1"):
        F.states_from_features(no_shape)
    short_bar = f.copy()
    short_bar[:, 1, 3] = 8 / W
    with pytest.raises(PhylawError, match=r"object 1.*thickness"):
        F.states_from_features(short_bar)
    with pytest.raises(PhylawError, match="slots"):
        F.states_from_features(np.zeros((3, 15, 14), np.float32))
    with pytest.raises(PhylawError, match="shape"):
        F.states_from_features(np.zeros((3, 5, 13), np.float32))


def test_inverse_reproduces_the_engine_states():
    pytest.importorskip("Box2D")
    from phylaw.sim.phyre.engine import simulate_rows

    # templates with every shape: balls, bars (dynamic, standing, static), jars, sticks, static balls
    params = np.array([[10000, 0, 0], [10002, 3, 5], [10016, 1, 2], [10065, 4, 0], [20000, 0, 4]], float)
    s, _ = simulate_rows(params, 0, 6)
    assert {SHAPE_DISC, SHAPE_BOX, SHAPE_JAR, SHAPE_STICKS} <= set(s.shape[s.present].tolist())
    f = F.features(s)
    for i in range(len(s)):
        p = s.present[i]
        back = F.states_from_features(f[i][:, p])
        np.testing.assert_array_equal(back.present[0], p)
        for name in ("shape", "color", "static"):
            np.testing.assert_array_equal(getattr(back, name)[0][p], getattr(s, name)[i][p], err_msg=name)
        np.testing.assert_allclose(back.position[0][:, p], s.position[i][:, p], atol=1e-3)
        np.testing.assert_allclose(back.angle[0][:, p], s.angle[i][:, p], atol=1e-5)
        np.testing.assert_allclose(back.radius[0][p], s.radius[i][p], rtol=1e-6)
        np.testing.assert_allclose(back.half_size[0][p], s.half_size[i][p], rtol=1e-5)
        np.testing.assert_allclose(back.vertices[0][p], s.vertices[i][p], atol=1e-4)  # same order, same NaNs
        np.testing.assert_array_equal(back.in_view[0][:, p], s.in_view[i][:, p])
