"""The PHYRE world on pybox2d (SPEC_COMBINATORIAL A.4) and its recording into States (docs/phyre.md).

One Box2D body per scene body, created walls first, then the scene bodies, then the red user ball; lengths
divided by 6 (metres); gravity (0, -9.8); density 0.25 on dynamic bodies only, friction 0.5 and restitution 0.2
on every fixture, angular damping 0.01, linear damping 0, sleeping allowed; ``Step(1/60, 15, 20)``. Frame k is
the state after 20k + 1 steps (stepped first, then recorded), so only 20 (n_frames - 1) + 1 steps run.

Events: the first Box2D begin-contact of each pair of featurised bodies (walls excluded), at t = s / 60 where
s (1-based) is the step whose ``Step`` call reported it; ``event_frame`` = the first k with (20k + 1) / 60 >= t.
At most 32 per video (the earliest). Static bodies are recorded at their creation pose on every frame.

Physics overrides (``Overrides``, default None: the world above, unchanged) change one body's restitution,
friction or gravity scale, disable collisions between chosen pairs, or scale the velocity change a body gets
in the first steps of a contact; the labelled violation suite (evaluate/violations.py) uses them to make
physically wrong videos by re-simulation.

Box2D is imported here only (``import phylaw.sim.phyre`` does not load it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import Box2D
import numpy as np

from phylaw.errors import PhylawError
from phylaw.render.palette import WAD_TO_PALETTE
from phylaw.seeding import child_rng
from phylaw.sim.phyre.actions import check_action, sample_action
from phylaw.sim.phyre.objects import AMBIGUITY_TEMPLATES, SCENE, Body, ambiguity_actions, walls
from phylaw.sim.phyre.templates import build_task, check_rows, check_template
from phylaw.sim.states import SHAPE_BOX, SHAPE_DISC, SHAPE_JAR, SHAPE_STICKS, States

SCENARIO = "phyre"
PIXELS_PER_METER = 6.0
GRAVITY = -9.8
TIME_STEP = 1.0 / 60.0
VELOCITY_ITERATIONS = 15
POSITION_ITERATIONS = 20
STRIDE = 20
MAX_FRAMES = 50  # the release simulates 1000 steps: frames 0..49
FRAME_DT = STRIDE * TIME_STEP  # 1/3 s between frames
DENSITY = 0.25
FRICTION = 0.5
RESTITUTION = 0.2
ANGULAR_DAMPING = 0.01
N_SLOTS = 14  # the most featurised bodies a template has, user ball included (SC A.7)
N_VERTEX_ROWS = 14  # jar: 3 x 4 vertices + 2 NaN separators
N_EVENT_SLOTS = 32
SHAPE_OF_KIND = {"ball": SHAPE_DISC, "bar": SHAPE_BOX, "jar": SHAPE_JAR, "sticks": SHAPE_STICKS}


def steps_for(n_frames: int) -> int:
    """Box2D steps needed to record ``n_frames`` frames: 20 (n_frames - 1) + 1."""
    return STRIDE * (n_frames - 1) + 1


def frame_time(k: int | np.ndarray) -> float | np.ndarray:
    """Time in seconds of frame k: (20k + 1) / 60."""
    return (STRIDE * np.asarray(k) + 1) * TIME_STEP


def _check_frames(n_frames: int) -> int:
    n = int(n_frames)
    if n != n_frames or not 1 <= n <= MAX_FRAMES:
        raise PhylawError(f"phyre videos have 1-{MAX_FRAMES} frames, got n_frames={n_frames!r}")
    return n


class _FirstContacts(Box2D.b2ContactListener):
    """The step of the first begin-contact of every pair of featurised bodies (body userData = slot)."""

    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.first: dict[tuple[int, int], int] = {}

    def BeginContact(self, contact: Box2D.b2Contact) -> None:
        a = contact.fixtureA.body.userData
        b = contact.fixtureB.body.userData
        if a is None or b is None:  # a wall
            return
        key = (a, b) if a < b else (b, a)
        if key not in self.first:
            self.first[key] = self.step


@dataclass(frozen=True)
class Overrides:
    """Changed physics for a re-simulation (every field empty = PHYRE's world). Slots are featurised slots.

    restitution    {slot: value} instead of 0.2 on that body's fixtures
    friction       {slot: value} instead of 0.5 on that body's fixtures
    gravity_scale  {slot: factor} Box2D's per-body gravity scale (1 = normal, 0 = floats, -1 = falls up)
    no_collide     pairs (a, b) of slots that pass through each other; b = -1: ``a`` collides with nothing
                   (walls included)
    impulse        (a, b, factor): in the IMPULSE_STEPS steps from the first contact of a and b, b's velocity
                   change in each step is multiplied by ``factor`` (0: b does not react, > 1: launched)
    """

    restitution: tuple[tuple[int, float], ...] = ()
    friction: tuple[tuple[int, float], ...] = ()
    gravity_scale: tuple[tuple[int, float], ...] = ()
    no_collide: tuple[tuple[int, int], ...] = ()
    impulse: tuple[int, int, float] | None = None


IMPULSE_STEPS = 3  # Box2D resolves an impact over a few 1/60 s steps; the override scales each of them


class _FilteredContacts(_FirstContacts):
    """_FirstContacts that also disables the contacts of ``no_collide`` pairs before each solve."""

    def __init__(self, no_collide: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.pairs = {(min(a, b), max(a, b)) for a, b in no_collide if b >= 0}
        self.alone = {a for a, b in no_collide if b < 0}

    def _blocked(self, contact: Box2D.b2Contact) -> bool:
        a = contact.fixtureA.body.userData
        b = contact.fixtureB.body.userData
        if a in self.alone or b in self.alone:
            return True
        return a is not None and b is not None and (min(a, b), max(a, b)) in self.pairs

    def BeginContact(self, contact: Box2D.b2Contact) -> None:
        if not self._blocked(contact):
            super().BeginContact(contact)

    def PreSolve(self, contact: Box2D.b2Contact, _old_manifold: Box2D.b2Manifold) -> None:
        if self._blocked(contact):
            contact.enabled = False


def _apply_overrides(b2bodies: list[Box2D.b2Body], ov: Overrides) -> None:
    for slot, value in ov.restitution:
        for f in b2bodies[slot].fixtures:
            f.restitution = float(value)
    for slot, value in ov.friction:
        for f in b2bodies[slot].fixtures:
            f.friction = float(value)
    for slot, value in ov.gravity_scale:
        b2bodies[slot].gravityScale = float(value)


def _add_body(world: Box2D.b2World, body: Body, slot: int | None) -> Box2D.b2Body:
    pos = (body.position[0] / PIXELS_PER_METER, body.position[1] / PIXELS_PER_METER)
    create = world.CreateDynamicBody if body.dynamic else world.CreateStaticBody
    b2 = create(
        position=pos, angle=body.angle, angularDamping=ANGULAR_DAMPING, linearDamping=0.0, userData=slot
    )
    density = DENSITY if body.dynamic else 0.0
    if body.kind == "ball":
        b2.CreateCircleFixture(
            radius=body.radius / PIXELS_PER_METER, density=density, friction=FRICTION, restitution=RESTITUTION
        )
    else:
        for poly in body.polygons:
            verts = [(float(x), float(y)) for x, y in poly / PIXELS_PER_METER]
            b2.CreatePolygonFixture(
                vertices=verts, density=density, friction=FRICTION, restitution=RESTITUTION
            )
    return b2


def build_world(
    bodies: Sequence[Body], ball: Body | None, overrides: Overrides | None = None
) -> tuple[Box2D.b2World, list[Box2D.b2Body], _FirstContacts]:
    """The Box2D world of a scene: walls, then ``bodies``, then ``ball`` (if any); the featurised bodies in
    slot order, and the contact listener (kept referenced with the world). ``overrides``: changed physics."""
    world = Box2D.b2World(gravity=(0.0, GRAVITY), doSleep=True)
    listener = _FirstContacts() if overrides is None else _FilteredContacts(overrides.no_collide)
    world.contactListener = listener
    for wall in walls():
        _add_body(world, wall, None)
    scene = [*bodies, ball] if ball is not None else list(bodies)
    b2bodies = [_add_body(world, b, i) for i, b in enumerate(scene)]
    if overrides is not None:
        _apply_overrides(b2bodies, overrides)
    return world, b2bodies, listener


def step_only(bodies: Sequence[Body], ball: Body | None, n_steps: int) -> np.ndarray:
    """Bare stepping of the same world (no recording): build it and step ``n_steps`` times. Returns the final
    body origins (K, 2) in scene units (the benchmark's physical limit)."""
    world, b2bodies, _ = build_world(bodies, ball)
    step = world.Step
    for _ in range(int(n_steps)):
        step(TIME_STEP, VELOCITY_ITERATIONS, POSITION_ITERATIONS)
    return np.array([tuple(b.position) for b in b2bodies]).reshape(-1, 2) * PIXELS_PER_METER


def _vertex_rows(body: Body) -> np.ndarray:
    """(V_body, 2) the body's polygons one after another, separated by one NaN row (empty for balls)."""
    rows: list[np.ndarray] = []
    for i, poly in enumerate(body.polygons):
        if i:
            rows.append(np.full((1, 2), np.nan))
        rows.append(poly)
    return np.concatenate(rows) if rows else np.zeros((0, 2))


def simulate_scene(
    bodies: Sequence[Body], ball: Body | None, n_frames: int, overrides: Overrides | None = None
) -> States:
    """One video (N = 1) of a scene: the bodies in slot order, the user ball last; K = 14, V = 14, E = 32.
    ``overrides`` (default None: PHYRE's physics) re-simulates with changed physics."""
    n_frames = _check_frames(n_frames)
    scene = [*bodies, ball] if ball is not None else list(bodies)
    n = len(scene)
    if n > N_SLOTS:
        raise PhylawError(f"a phyre scene has at most {N_SLOTS} featurised bodies, got {n}")
    world, b2bodies, listener = build_world(bodies, ball, overrides)
    impulse = None if overrides is None else overrides.impulse

    # record: (T, n, 5) x, y, angle, vx, vy in Box2D units. Static bodies are read once, at creation: they
    # never move (Box2D's TOI sweep interpolation can shift one by a float32 ulp; phylaw holds them fixed)
    rec = np.empty((n_frames, n, 5))
    for i, b in enumerate(b2bodies):
        p = b.position
        rec[:, i] = (p[0], p[1], b.angle, 0.0, 0.0)
    dyn = [(i, b) for i, b in enumerate(b2bodies) if scene[i].dynamic]
    # A body asleep at two consecutive records did not move in between: waking resets its sleep timer and it
    # needs 0.5 s (30 steps) at rest to sleep again, more than the 20 steps between records. So its pose is
    # read only while awake and once more on the first record that finds it asleep.
    step = world.Step
    awake_before = [True] * len(dyn)
    s = 0
    for k in range(n_frames):
        for _ in range(1 if k == 0 else STRIDE):
            s += 1
            listener.step = s
            if impulse is None:
                step(TIME_STEP, VELOCITY_ITERATIONS, POSITION_ITERATIONS)
            else:
                _impulse_step(world, b2bodies, listener, impulse, s)
        row = rec[k]
        for j, (i, b) in enumerate(dyn):
            awake = b.awake
            if awake or awake_before[j]:
                p, v = b.position, b.linearVelocity
                row[i] = (p[0], p[1], b.angle, v[0], v[1])
            else:  # asleep since the last record: same pose, zero velocity (Box2D zeroes it on sleep)
                row[i] = rec[k - 1, i]
            awake_before[j] = awake

    k_slots = N_SLOTS
    position = np.full((1, n_frames, k_slots, 2), np.nan)
    velocity = np.full((1, n_frames, k_slots, 2), np.nan)
    angle = np.full((1, n_frames, k_slots), np.nan)
    position[0, :, :n] = rec[:, :, :2] * PIXELS_PER_METER
    velocity[0, :, :n] = rec[:, :, 3:] * PIXELS_PER_METER
    angle[0, :, :n] = rec[:, :, 2]
    in_view = np.zeros((1, n_frames, k_slots), bool)
    present = np.zeros((1, k_slots), bool)
    present[0, :n] = True
    shape = np.zeros((1, k_slots), np.uint8)
    radius = np.full((1, k_slots), np.nan)
    half_size = np.full((1, k_slots, 2), np.nan)
    vertices = np.full((1, k_slots, N_VERTEX_ROWS, 2), np.nan)
    static = np.zeros((1, k_slots), bool)
    color = np.zeros((1, k_slots), np.uint8)
    for i, body in enumerate(scene):
        shape[0, i] = SHAPE_OF_KIND[body.kind]
        radius[0, i] = body.diameter / 2.0
        static[0, i] = not body.dynamic
        color[0, i] = WAD_TO_PALETTE[body.color]
        pos, ang = position[0, :, i], angle[0, :, i]
        if body.kind == "ball":
            half_size[0, i] = body.radius
            r = body.radius
            lo, hi = pos - r, pos + r
        else:
            rows = _vertex_rows(body)
            vertices[0, i, : len(rows)] = rows
            if body.kind == "bar":
                p = body.polygons[0]
                half_size[0, i] = (p[:, 0].max(), p[:, 1].max())
            else:
                half_size[0, i] = body.diameter / 2.0
            pts = np.concatenate(body.polygons)  # (V, 2) body frame
            c, s_ = np.cos(ang)[:, None], np.sin(ang)[:, None]
            wx = pos[:, :1] + c * pts[:, 0] - s_ * pts[:, 1]
            wy = pos[:, 1:] + s_ * pts[:, 0] + c * pts[:, 1]
            lo = np.stack([wx.min(axis=1), wy.min(axis=1)], axis=1)
            hi = np.stack([wx.max(axis=1), wy.max(axis=1)], axis=1)
        in_view[0, :, i] = (lo >= 0).all(axis=1) & (hi <= SCENE).all(axis=1)

    event_time = np.full((1, N_EVENT_SLOTS), np.nan)
    event_frame = np.full((1, N_EVENT_SLOTS), -1, np.int32)
    event_a = np.full((1, N_EVENT_SLOTS), -1, np.int16)
    event_b = np.full((1, N_EVENT_SLOTS), -1, np.int16)
    events = sorted(listener.first.items(), key=lambda kv: (kv[1], kv[0]))[:N_EVENT_SLOTS]
    for e, ((a, b), st) in enumerate(events):
        event_time[0, e] = st * TIME_STEP
        event_frame[0, e] = math.ceil((st - 1) / STRIDE)  # first k with 20k + 1 >= step
        event_a[0, e], event_b[0, e] = a, b
    return States(
        SCENARIO,
        position,
        velocity,
        radius,
        color,
        shape,
        in_view,
        dt=FRAME_DT,
        angle=angle,
        present=present,
        half_size=half_size,
        vertices=vertices,
        static=static,
        event_time=event_time,
        event_frame=event_frame,
        event_a=event_a,
        event_b=event_b,
    )


def _impulse_step(world, b2bodies, listener, impulse: tuple[int, int, float], s: int) -> None:
    """One step in which body b's velocity change is scaled by ``factor`` during the IMPULSE_STEPS steps that
    follow the first contact of (a, b) (Overrides.impulse)."""
    a, b, factor = impulse
    key = (min(a, b), max(a, b))
    body = b2bodies[b]
    v0, w0 = tuple(body.linearVelocity), body.angularVelocity
    world.Step(TIME_STEP, VELOCITY_ITERATIONS, POSITION_ITERATIONS)
    first = listener.first.get(key)
    if first is not None and s - first < IMPULSE_STEPS:
        v1 = body.linearVelocity
        body.linearVelocity = (v0[0] + factor * (v1[0] - v0[0]), v0[1] + factor * (v1[1] - v0[1]))
        body.angularVelocity = w0 + factor * (body.angularVelocity - w0)
        body.awake = True


def trial_action(template: int, task: int, trial: int, seed: int, bodies: Sequence[Body]) -> np.ndarray:
    """(3,) the action of a trial: the fixed list of an ambiguity template, else the release's sampler driven
    by ``child_rng(seed, "phyre-trial", template, task, trial)``."""
    if template in AMBIGUITY_TEMPLATES:
        return ambiguity_actions(template)[trial]
    return sample_action(bodies, child_rng(seed, "phyre-trial", template, task, trial))


def simulate_task(
    template: int, task: int, action: Sequence[float] | np.ndarray, seed: int = 0, n_frames: int = 32
) -> States:
    """One video of task ``task`` of ``template`` (layout from ``seed``) with an explicit action
    (PhylawError / InvalidAction if it is outside [0, 1]^3 or occludes a body)."""
    check_template(template)
    bodies = build_task(template, task, seed)
    return simulate_scene(bodies, check_action(bodies, action), n_frames)


def simulate_rows(params: np.ndarray, seed: int, n_frames: int) -> tuple[States, dict[str, np.ndarray]]:
    """Videos of (n, 3) (template, task, trial) rows: (States with K = 14, V = 14, E = 32, {"action": (n, 3)})."""
    p = np.asarray(params, dtype=np.float64)
    bad = check_rows(p)
    if bad is not None:
        i, what = bad
        raise PhylawError(f"phyre parameter row {i} {what}")
    n_frames = _check_frames(n_frames)
    layouts: dict[tuple[int, int], list[Body]] = {}
    parts, actions = [], np.zeros((len(p), 3))
    for r, (tpl, task, trial) in enumerate(p.astype(np.int64).tolist()):
        bodies = layouts.get((tpl, task))
        if bodies is None:
            bodies = layouts[(tpl, task)] = build_task(tpl, task, seed)
        action = trial_action(tpl, task, trial, seed, bodies)
        actions[r] = action
        parts.append(simulate_scene(bodies, check_action(bodies, action), n_frames))
    if not parts:
        return _empty(n_frames), {"action": actions}
    return States.concatenate(parts), {"action": actions}


def _empty(n_frames: int) -> States:
    s = simulate_scene([], None, n_frames)
    return s.subset(slice(0, 0))
