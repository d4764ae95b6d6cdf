"""The pybox2d PHYRE world (SPEC_COMBINATORIAL A.4) and its States (docs/phyre.md conventions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.render.palette import WAD_TO_PALETTE
from phylaw.sim.phyre import engine as en
from phylaw.sim.phyre import objects as ob
from phylaw.sim.phyre.actions import InvalidAction
from phylaw.sim.phyre.templates import build_task
from phylaw.sim.states import ARRAY_FIELDS, SHAPE_BOX, SHAPE_DISC, SHAPE_JAR, SHAPE_STICKS

G_PX = 9.8 * 6  # gravity in scene units / s^2
H = 1 / 60


def _ball(x: float, y: float, r: float, dynamic: bool = True) -> ob.Body:
    color = ob.GRAY if dynamic else ob.BLACK
    return ob.Body("ball", dynamic, color, (x, y), 0.0, (), r, 2 * r)


def test_free_fall_frame_times_gravity_and_units():
    s = en.simulate_scene([_ball(256, 480, 10.5)], None, 8)
    assert s.dt == pytest.approx(1 / 3)
    assert s.scenario == "phyre"
    assert s.position.shape == (1, 8, 14, 2)
    n = 20 * np.arange(8) + 1  # frame k = after 20k + 1 semi-implicit Euler steps
    y = 480 - G_PX * H**2 * n * (n + 1) / 2
    assert s.position[0, :, 0, 1] == pytest.approx(y, abs=2e-3)
    assert s.position[0, :, 0, 0] == pytest.approx(np.full(8, 256.0), abs=1e-4)
    assert s.velocity[0, :, 0, 1] == pytest.approx(-G_PX * H * n, abs=2e-3)
    assert s.in_view[0, :, 0].all()
    assert not s.present[0, 1:].any()
    assert np.isnan(s.position[0, :, 1:]).all()


def test_contact_event_time_and_frame():
    bar = ob.make_bar(0.5, False).placed(center_x=256, bottom=100)  # top at 110.24
    s = en.simulate_scene([bar, _ball(256, 400, 20)], None, 20)
    assert np.isfinite(s.event_time[0]).sum() == 1  # one pair, its first contact only
    t = s.event_time[0, 0]
    assert (s.event_a[0, 0], s.event_b[0, 0]) == (0, 1)
    # discrete free fall: the ball's bottom reaches the bar's top after n steps
    drop = 400 - 20 - 110.24
    n = next(n for n in range(1, 2000) if G_PX * H**2 * n * (n + 1) / 2 >= drop)
    assert abs(t - n * H) <= 2 * H
    k = s.event_frame[0, 0]
    assert (20 * k + 1) / 60 >= t - 1e-12
    assert (20 * (k - 1) + 1) / 60 < t
    assert s.position[0, k - 1, 1, 1] - 20 > 110.24  # still above the bar the frame before
    assert s.event_frame.dtype == np.int32
    assert s.event_a.dtype == np.int16
    assert (s.event_a[0, 1:] == -1).all()
    assert np.isnan(s.event_time[0, 1:]).all()


def test_box2d_bodies_materials_and_masses():
    """Density 0.25 on dynamic bodies only (mass = area / 36 x 0.25 in Box2D's metres), friction 0.5 and
    restitution 0.2 on every fixture (walls too), damping, one fixture per convex part, walls first."""
    bodies = build_task(10016, 0, seed=0)  # static balls, a bar, a jar, sticks
    ball = ob.Body("ball", True, ob.RED, (60.0, 470.0), 0.0, (), 12.0, 24.0)
    world, b2, _ = en.build_world(bodies, ball)
    assert len(world.bodies) == 4 + len(b2)
    assert [b.userData for b in world.bodies[:4]] == [None] * 4
    for body, b in zip([*bodies, ball], b2, strict=True):
        assert b.userData == b2.index(b)
        assert b.mass == pytest.approx(body.area / 36 * 0.25 if body.dynamic else 0.0, rel=1e-5)
        assert len(b.fixtures) == max(1, len(body.polygons))
        assert b.angularDamping == pytest.approx(0.01)
        assert b.linearDamping == 0
        assert tuple(b.position) == pytest.approx((body.position[0] / 6, body.position[1] / 6), rel=1e-6)
    for b in world.bodies:
        for f in b.fixtures:
            assert f.friction == pytest.approx(0.5)
            assert f.restitution == pytest.approx(0.2)
            assert f.density == pytest.approx(0.25 if b.type == 2 else 0.0)
    assert tuple(world.gravity) == pytest.approx((0, -9.8))


def test_in_view_uses_the_rotated_aabb():
    inside = ob.make_bar(0.3, False).placed(center_x=256, center_y=300, angle=45)
    poking = ob.make_bar(0.3, False).placed(center_x=40, center_y=300, angle=30)  # left end at x < 0
    assert poking.aabb()[0] < 0 < inside.aabb()[0]
    s = en.simulate_scene([inside, poking], None, 2)
    assert s.in_view[0, :, 0].all()
    assert not s.in_view[0, :, 1].any()


@pytest.fixture(scope="module")
def mixed():
    """Videos of templates holding every object type (jar, sticks, bars, static balls, dynamic balls)."""
    params = np.array([[10000, 0, 0], [10016, 1, 0], [10023, 2, 0], [10005, 0, 0]], float)
    return params, *en.simulate_rows(params, 7, 3)


def test_state_conventions(mixed):
    params, s, extras = mixed
    assert extras["action"].shape == (4, 3)
    assert extras["action"].dtype == np.float64
    assert (s.n_objects, s.n_vertices, s.n_events) == (14, 14, 32)
    assert set(ARRAY_FIELDS) <= set(s.arrays())
    for n, (tpl, task, _) in enumerate(params.astype(int)):
        bodies = build_task(tpl, task, 7)
        m = len(bodies) + 1
        assert s.present[n, :m].all()
        assert not s.present[n, m:].any()
        # the user ball is last: red, dynamic, a disc whose radius is the action's
        ball = m - 1
        assert s.shape[n, ball] == SHAPE_DISC
        assert s.color[n, ball] == WAD_TO_PALETTE[ob.RED] == 8
        assert not s.static[n, ball]
        assert s.radius[n, ball] == round(2 + extras["action"][n, 2] * 62)
        for i, b in enumerate(bodies):
            assert (
                s.shape[n, i]
                == {"ball": SHAPE_DISC, "bar": SHAPE_BOX, "jar": SHAPE_JAR, "sticks": SHAPE_STICKS}[b.kind]
            )
            assert s.radius[n, i] == pytest.approx(b.diameter / 2)
            assert s.static[n, i] == (not b.dynamic)
            assert s.color[n, i] == (12 if b.dynamic else 6)
            v = s.vertices[n, i]
            if b.kind == "ball":
                assert np.isnan(v).all()
                assert s.half_size[n, i] == pytest.approx([b.radius, b.radius])
                continue
            parts = [v[j : j + 4] for j in range(0, 5 * len(b.polygons), 5)]
            for part, poly in zip(parts, b.polygons, strict=True):
                assert np.array_equal(part, poly)
            for j in range(4, 5 * len(b.polygons) - 1, 5):
                assert np.isnan(v[j]).all()  # one NaN separator row between parts
            assert np.isnan(v[5 * len(b.polygons) - 1 :]).all()
            if b.kind == "bar":
                assert s.half_size[n, i] == pytest.approx([b.polygons[0][0, 0], 5.12])
        # static bodies never move; frame-0 poses follow the layout (1 step after t = 0)
        st = s.static[n] & s.present[n]
        assert (s.position[n, :, st] == s.position[n, :1, st]).all()
        # (dynamic bodies may be pushed out of an initial overlap in that step: SC A.3)
        err = np.abs(s.position[n, 0, : m - 1] - np.array([b.position for b in bodies])).max(axis=1)
        assert err[st[: m - 1]].max(initial=0) < 1e-3
        assert np.median(err) < 0.5
    kinds = {int(x) for x in s.shape[s.present]}
    assert kinds == {SHAPE_DISC, SHAPE_BOX, SHAPE_JAR, SHAPE_STICKS}


def test_recording_matches_plain_stepping_on_every_frame():
    """The recorder skips sleeping bodies and reads static ones once; an oracle that reads every body after
    every 20k + 1 steps agrees exactly on the dynamic bodies. Static bodies are held at their creation pose
    (Box2D's TOI sweep interpolation can move a static body by a float32 ulp; it never moves more)."""
    bodies = build_task(10003, 4, seed=0)
    ball = ob.Body("ball", True, ob.RED, (60.0, 470.0), 0.0, (), 12.0, 24.0)
    n_frames = 50
    s = en.simulate_scene(bodies, ball, n_frames)
    world, b2, _ = en.build_world(bodies, ball)
    ref = np.zeros((n_frames, len(b2), 5))
    done = 0
    for k in range(n_frames):
        while done < 20 * k + 1:
            world.Step(en.TIME_STEP, 15, 20)
            done += 1
        ref[k] = [
            (b.position[0], b.position[1], b.angle, b.linearVelocity[0], b.linearVelocity[1]) for b in b2
        ]
    m = len(b2)
    dyn = ~s.static[0, :m]
    assert dyn.sum() < m  # the scene has a static body too
    assert np.array_equal(s.position[0, :, :m][:, dyn], ref[:, dyn, :2] * 6)
    assert np.array_equal(s.angle[0, :, :m][:, dyn], ref[:, dyn, 2])
    assert np.array_equal(s.velocity[0, :, :m][:, dyn], ref[:, dyn, 3:] * 6)
    st = ~dyn
    assert (s.position[0, :, :m][:, st] == s.position[0, :1, :m][:, st]).all()
    assert (s.velocity[0, :, :m][:, st] == 0).all()
    assert np.abs(s.position[0, :, :m][:, st] - ref[:, st, :2] * 6).max() < 1e-3
    asleep = (s.velocity[0, 1:, :m] == 0).all(axis=-1) & dyn
    assert asleep.any()  # the sleeping shortcut was exercised
    final = en.step_only(bodies, ball, en.steps_for(n_frames))
    assert np.array_equal(final[dyn], s.position[0, -1, :m][dyn])


def test_determinism_and_shared_layouts():
    params = np.array([[10016, 3, 0], [10016, 3, 1], [10069, 0, 5]], float)
    a, ea = en.simulate_rows(params, 5, 2)
    b, eb = en.simulate_rows(params, 5, 2)
    for name in ARRAY_FIELDS:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert ea["action"].tobytes() == eb["action"].tobytes()
    # trials of one task: same layout (shapes, sizes, static poses), different actions
    m = int(a.present[0].sum()) - 1
    assert a.present[0].sum() == a.present[1].sum()
    assert np.array_equal(a.vertices[0, :m], a.vertices[1, :m], equal_nan=True)
    assert np.array_equal(a.radius[0, :m], a.radius[1, :m])
    st = a.static[0, :m]
    assert np.array_equal(a.position[0, :, :m][:, st], a.position[1, :, :m][:, st])
    assert not np.array_equal(ea["action"][0], ea["action"][1])
    # another seed: another layout and other actions
    c, ec = en.simulate_rows(params, 6, 2)
    assert not np.array_equal(a.position, c.position, equal_nan=True)
    assert not np.array_equal(ea["action"], ec["action"])


def test_ambiguity_rows_use_the_fixed_actions_and_colours():
    params = np.array([[20000, 0, 0], [20000, 0, 100], [20002, 5, 0]], float)
    s, extras = en.simulate_rows(params, 0, 2)
    assert np.array_equal(extras["action"][0], ob.ambiguity_actions(20000)[0])
    assert np.array_equal(extras["action"][1], ob.ambiguity_actions(20000)[100])
    assert np.array_equal(extras["action"][2], ob.ambiguity_actions(20002)[0])
    assert s.color[0, :5].tolist() == [11, 9, 6, 6, 8]  # purple floor, green ball, black balls, red ball
    assert s.radius[0, 4] == 14.0
    assert s.radius[1, 4] == 18.0


def test_empty_rows():
    s, extras = en.simulate_rows(np.zeros((0, 3)), 0, 3)
    assert len(s) == 0
    assert s.position.shape == (0, 3, 14, 2)
    assert extras["action"].shape == (0, 3)


# ---------------------------------------------------------------------- physics over 50 frames


@pytest.fixture(scope="module")
def long_videos():
    params = np.array([[t, 0, 0] for t in range(10000, 10070, 6)], float)
    s, _ = en.simulate_rows(params, 1, 50)
    return s


def test_no_dynamic_body_leaves_the_walled_scene(long_videos):
    s = long_videos
    dyn = s.present & ~s.static
    assert dyn.sum() > 30
    pos = s.position.transpose(0, 2, 1, 3)[dyn]  # (bodies, T, 2): body origins lie inside the body
    assert np.isfinite(pos).all()
    assert pos.min() > -1.0
    assert pos.max() < 513.0


def _mass_and_com(s, n: int, k: int) -> tuple[float, np.ndarray]:
    """Mass (area x density, Box2D's rule) and the body-frame centre of mass, from the stored geometry."""
    if s.shape[n, k] == SHAPE_DISC:
        return math.pi * s.radius[n, k] ** 2 * en.DENSITY, np.zeros(2)
    v = s.vertices[n, k]
    area, moment = 0.0, np.zeros(2)
    for part in np.split(v, np.flatnonzero(np.isnan(v[:, 0]))):
        p = part[~np.isnan(part[:, 0])]
        if len(p) < 3:
            continue
        x, y = p[:, 0], p[:, 1]
        xn, yn = np.roll(x, -1), np.roll(y, -1)
        cross = x * yn - xn * y
        a = cross.sum() / 2
        area += a
        moment += np.array([((x + xn) * cross).sum(), ((y + yn) * cross).sum()]) / 6
    return area * en.DENSITY, moment / area


def test_energy_never_grows_after_the_first_frames(long_videos):
    """Translational kinetic + potential energy of the dynamic bodies (the stored states have no angular
    velocity, so rotational energy is left out; it is small): after frame 3 (initial overlaps are pushed apart
    in the first steps) it never rises more than 3 % of the initial energy above its running minimum.
    With restitution 0.9 instead of 0.2 this fails (measured: rises up to 13 %)."""
    s = long_videos
    for n in range(len(s)):
        energy = np.zeros(s.n_frames)
        for k in np.flatnonzero(s.present[n] & ~s.static[n]):
            m, com = _mass_and_com(s, n, k)
            a = s.angle[n, :, k]
            y_com = s.position[n, :, k, 1] + np.sin(a) * com[0] + np.cos(a) * com[1]
            energy += m * (0.5 * (s.velocity[n, :, k] ** 2).sum(axis=1) + G_PX * y_com)
        rise = max(energy[k] - energy[3 : k + 1].min() for k in range(3, s.n_frames))
        assert rise <= 0.03 * energy[0], n
        assert energy[-1] < energy[0]


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("template", "task", "action", "match"),
    [
        (10070, 0, [0.5, 0.5, 0.1], "unknown PHYRE template 10070"),
        (99, 0, [0.5, 0.5, 0.1], "unknown PHYRE template 99"),
        (10000, 100, [0.5, 0.5, 0.1], "tasks 0-99"),
        (10000, 0, [0.5, 0.5, 1.1], r"outside \[0, 1\]\^3"),
        (10000, 0, [-0.5, 0.5, 0.1], r"outside \[0, 1\]\^3"),
    ],
)
def test_simulate_task_bad_input(template, task, action, match):
    with pytest.raises(PhylawError, match=match):
        en.simulate_task(template, task, action, seed=0, n_frames=2)


def test_simulate_task_occluding_action():
    floor = build_task(20000, 0, 0)[0]  # the purple floor bar, y in [0, 10.24]
    assert floor.kind == "bar"
    with pytest.raises(InvalidAction, match="over a body"):
        en.simulate_task(20000, 0, [0.5, 5 / 511, 0.0], n_frames=2)  # ball (255, 5) r 2 inside the bar
    ok = en.simulate_task(20000, 0, [0.5, 13.5 / 511, 0.0], n_frames=2)  # (255, 13) r 2: clear of 10.24
    assert ok.present[0].sum() == 5


@pytest.mark.parametrize("n_frames", [0, 51, 2.5])
def test_bad_frame_counts(n_frames):
    with pytest.raises(PhylawError, match="1-50 frames"):
        en.simulate_rows(np.array([[10000, 0, 0]], float), 0, n_frames)


@pytest.mark.parametrize(
    ("row", "match"),
    [([10070, 0, 0], "unknown template"), ([10000, 0, -1], "negative trial"), ([20000, 0, 101], "trial 101")],
)
def test_simulate_rows_bad_rows(row, match):
    with pytest.raises(PhylawError, match=match):
        en.simulate_rows(np.array([[10000, 0, 0], row], float), 0, 2)
