"""Static vertical walls, perfectly elastic bounces and an event-driven closed form (SPEC B.6.5, Figs. 11, 17).

**The solver** (``solve_events``): objects move at constant velocity between events; an event is the first
contact of the batch row among

* object–wall: a dynamic object's x extent (disc radius / square half side) touches a wall's face. The wall's
  normal is x, so the bounce reflects the x velocity (``vx -> -vx``) and keeps the tangential y velocity:
  speed is conserved exactly (restitution 1, the paper's "perfectly elastic" walls);
* ball–ball: two objects on one horizontal line (``line``: same y, no vertical velocity) touch; the 1-D
  perfectly elastic impact of ``kinematics.elastic_velocities`` (masses ∝ r², as the collision scene).

Between events the state is advanced exactly (``x + v (t - t_event)``), so any sequence of ball–ball and
ball–wall events (a collision, the struck ball's bounce, a second collision on its way back) is exact to
round-off. The loop runs over events, vectorised over the batch: every row's next event is found at once.

**Geometry** (chosen: SPEC B.6.5 says the wall geometry and restitution are UNKNOWN): one wall, ``WALL``, a
gray bar flush with the right edge of the 10 x 10 world, x in [9.5, 10], full height. It is 3.2 px wide at
64 px and 6.4 px at 128 px (always visible, never a sub-pixel line); at the edge it leaves the balls the
most room (9.5 units of travel) and never has a ball behind it. Restitution 1: the paper's temporal test
asks for a rebound "with unchanged speed". Walls are drawn in gray (palette ``WALL``), a colour only walls
use and that neither of the parser's red / blue rules matches.

**Scenes** (registered in ``sim.registry``):

* ``wall_bounce`` (spatial composition): slot 0 a red ball (radius r) in the lower half moving +x at v
  toward the wall (v = 0: at rest), slot 1 a blue square (half side s) in the upper half moving -x at w
  (w = 0: at rest), slot 2 the wall. The ball's wall contact falls in the collision scene's contact window
  (frames 8-24 of 32, ``kinematics.contact_window``); the moving square stays in view for 24 frames (16-frame
  videos: all of them) where the world allows.
* ``wall_collision`` (temporal composition): slot 0 a red ball (radius r1, x velocity u1; r1 = 0: no red ball),
  slot 1 a blue ball (r2, u2; r2 = 0: none), slot 2 the wall when ``wall`` = 1. Two balls without a wall are
  the collision scene (its placement, contact in the window); one ball with the wall bounces off it (contact
  in the window); two balls with the wall are the test scene: the red ball strikes the blue one at rest
  (u2 = 0) so that the blue ball reaches the wall after the contact, both events in the window, at least
  ``MIN_GAP_FRAMES`` frames apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phylaw.errors import PhylawError
from phylaw.render.palette import BLUE, RED, WALL_COLOR
from phylaw.sim import kinematics as km
from phylaw.sim.states import FRAME_DT, SHAPE_BOX, SHAPE_DISC, SHAPE_SQUARE, WORLD_SIZE, States

MAX_EVENTS = 16  # events per video the solver follows within the video's time span
MIN_GAP_FRAMES = 3  # wall_collision test: frames between the collision and the blue ball's bounce
LOWER_ROW = (0.5, 4.75)  # wall_bounce: y band of the ball (centre +- r inside it)
UPPER_ROW = (5.25, 9.5)  # wall_bounce: y band of the square


@dataclass(frozen=True)
class Wall:
    """A static axis-aligned bar x in [x_lo, x_hi], y in [y_lo, y_hi] (world units), inside the world."""

    x_lo: float
    x_hi: float
    y_lo: float = 0.0
    y_hi: float = WORLD_SIZE

    def __post_init__(self) -> None:
        vals = (self.x_lo, self.x_hi, self.y_lo, self.y_hi)
        if not all(np.isfinite(vals)):
            raise PhylawError(f"wall {vals} is not finite")
        if not (self.x_lo < self.x_hi and self.y_lo < self.y_hi):
            raise PhylawError(f"wall x [{self.x_lo}, {self.x_hi}] x y [{self.y_lo}, {self.y_hi}] is empty")
        if min(vals) < 0.0 or max(vals) > WORLD_SIZE:
            raise PhylawError(
                f"wall x [{self.x_lo:g}, {self.x_hi:g}] x y [{self.y_lo:g}, {self.y_hi:g}] lies outside the "
                f"[0, {WORLD_SIZE:g}]^2 world"
            )

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x_lo + self.x_hi) / 2, (self.y_lo + self.y_hi) / 2

    @property
    def half_size(self) -> tuple[float, float]:
        return (self.x_hi - self.x_lo) / 2, (self.y_hi - self.y_lo) / 2


WALL = Wall(9.5, WORLD_SIZE)


# ----------------------------------------------------------------------------------------------- solver
@dataclass(frozen=True)
class Motion:
    """Solved motion of N videos, T frames, K dynamic objects, up to E events."""

    position: np.ndarray  # (N, T, K, 2)
    velocity: np.ndarray  # (N, T, K, 2)
    event_time: np.ndarray  # (N, E) NaN padded
    event_a: np.ndarray  # (N, E) object slot, -1 padded
    event_b: np.ndarray  # (N, E) object slot or K + wall index, -1 padded


def _wall_times(x, v, half, walls: tuple[Wall, ...]) -> np.ndarray:
    """(n, K, 2W) time from now to each object's contact with each wall face (inf: none)."""
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for w in walls:
            left = np.where(
                (v[..., 0] > 0) & (x[..., 0] < w.x_lo), (w.x_lo - half - x[..., 0]) / v[..., 0], np.inf
            )
            right = np.where(
                (v[..., 0] < 0) & (x[..., 0] > w.x_hi), (w.x_hi + half - x[..., 0]) / v[..., 0], np.inf
            )
            for t in (left, right):
                y = x[..., 1] + v[..., 1] * np.maximum(t, 0.0)  # height at contact: the face must be there
                hit = np.isfinite(t) & (y + half >= w.y_lo) & (y - half <= w.y_hi)
                out.append(np.where(hit, np.maximum(t, 0.0), np.inf))
    return np.stack(out, axis=-1) if out else np.full((*x.shape[:2], 0), np.inf)


def _pair_times(x, v, half, line, pairs) -> np.ndarray:
    """(n, P) time from now to each pair's 1-D contact (inf: apart, separating, or not both on the line)."""
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, j in pairs:
            dx = x[:, j, 0] - x[:, i, 0]
            closing = np.sign(dx) * (v[:, i, 0] - v[:, j, 0])  # > 0: the gap shrinks
            gap = np.abs(dx) - half[:, i] - half[:, j]
            t = np.where((closing > 0) & line[:, i] & line[:, j], np.maximum(gap, 0.0) / closing, np.inf)
            out.append(t)
    return np.stack(out, axis=-1) if out else np.full((x.shape[0], 0), np.inf)


def solve_events(
    x0: np.ndarray,
    v0: np.ndarray,
    half: np.ndarray,
    mass: np.ndarray,
    active: np.ndarray,
    line: np.ndarray,
    walls: tuple[Wall, ...],
    times: np.ndarray,
    wall_on: np.ndarray | None = None,
) -> Motion:
    """Exact piecewise-linear motion (module docstring). x0, v0 (N, K, 2) at t = 0; half (N, K) x extent;
    mass (N, K); active (N, K): the object exists (inactive slots are NaN and never collide); line (N, K): the
    object takes part in 1-D ball–ball contacts; walls: static; times (T,) frame times, increasing;
    wall_on (N, W): the wall stands in that video (default: every wall in every video)."""
    for w in walls:
        if not isinstance(w, Wall):
            raise PhylawError(f"walls must be Wall objects, got {type(w).__name__}")
    n, k, _ = x0.shape
    x = np.where(active[..., None], x0, np.nan).astype(np.float64)
    v = np.where(active[..., None], v0, 0.0).astype(np.float64)
    on_line = line & active
    if (np.abs(np.where(on_line, v[..., 1], 0.0)) > 0).any():
        raise PhylawError("objects on the collision line must move horizontally (vy = 0)")
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    ys = np.where(on_line, x[..., 1], np.nan)
    for i, j in pairs:
        both = on_line[:, i] & on_line[:, j]
        if (both & (ys[:, i] != ys[:, j])).any():
            raise PhylawError(f"objects {i} and {j} are on the collision line but at different heights")
    t_cur = np.zeros(n)
    t_end = float(times[-1])
    pos = np.full((n, len(times), k, 2), np.nan)
    vel = np.full((n, len(times), k, 2), np.nan)
    ev_t = np.full((n, MAX_EVENTS), np.nan)
    ev_a = np.full((n, MAX_EVENTS), -1, np.int16)
    ev_b = np.full((n, MAX_EVENTS), -1, np.int16)
    n_walls = len(walls)
    on = np.ones((n, n_walls), bool) if wall_on is None else np.asarray(wall_on, bool).reshape(n, n_walls)
    faces_on = np.repeat(on, 2, axis=1)[:, None, :]  # (n, 1, 2W)
    for e in range(MAX_EVENTS + 1):
        xw = np.where(active[..., None], x, 0.0)
        tw = np.where(active[:, :, None] & faces_on, _wall_times(xw, v, half, walls), np.inf)  # (n, K, 2W)
        tp = _pair_times(xw, v, half, on_line, pairs)  # (n, P)
        cand = np.concatenate([tw.reshape(n, -1), tp], axis=1)  # (n, K*2W + P)
        best = cand.argmin(axis=1) if cand.shape[1] else np.zeros(n, np.int64)
        dt_next = cand[np.arange(n), best] if cand.shape[1] else np.full(n, np.inf)
        t_next = t_cur + dt_next
        happens = t_next <= t_end
        seg = (times[None, :] >= t_cur[:, None]) & ((times[None, :] < t_next[:, None]) | ~happens[:, None])
        step = times[None, :, None, None] - t_cur[:, None, None, None]  # (n, T, 1, 1)
        pos = np.where(seg[..., None, None], x[:, None] + v[:, None] * step, pos)
        vel = np.where(seg[..., None, None], v[:, None], vel)
        if not happens.any():
            break
        if e == MAX_EVENTS:
            i = int(np.flatnonzero(happens)[0])
            raise PhylawError(f"video {i} has more than {MAX_EVENTS} contact events; the solver stops there")
        rows = np.flatnonzero(happens)
        x[rows] = x[rows] + v[rows] * dt_next[rows, None, None]
        t_cur[rows] = t_next[rows]
        ev_t[rows, e] = t_next[rows]
        b = best[rows]
        is_wall = b < k * 2 * n_walls
        for r, bb, wall in zip(rows, b, is_wall, strict=True):
            if wall:
                obj, face = divmod(int(bb), 2 * n_walls)
                v[r, obj, 0] = -v[r, obj, 0]  # reflect the normal component, keep the tangential one
                ev_a[r, e], ev_b[r, e] = obj, k + face // 2
            else:
                i, j = pairs[int(bb) - k * 2 * n_walls]
                v[r, i, 0], v[r, j, 0] = km.elastic_velocities(mass[r, i], mass[r, j], v[r, i, 0], v[r, j, 0])
                ev_a[r, e], ev_b[r, e] = i, j
    used = int(np.isfinite(ev_t).any(axis=0).sum())
    return Motion(pos, vel, ev_t[:, :used], ev_a[:, :used], ev_b[:, :used])


# ----------------------------------------------------------------------------------------------- states
def _in_view(position: np.ndarray, half: np.ndarray) -> np.ndarray:
    """(N, T, K) the object's square extent lies inside the world."""
    h = half[:, None, :, None]
    return ((position - h >= 0.0) & (position + h <= WORLD_SIZE)).all(axis=-1)


def build_states(scenario: str, motion: Motion, half, color, shape, active, times, wall_present) -> States:
    """States with the dynamic objects of ``motion`` then one slot for ``WALL`` (static, present where
    ``wall_present`` (N,))."""
    n, t, k, _ = motion.position.shape
    wc, wh = np.array(WALL.centre), np.array(WALL.half_size)
    wall_pos = np.where(wall_present[:, None, None, None], wc, np.nan) * np.ones((n, t, 1, 2))
    position = np.concatenate([motion.position, wall_pos], axis=2)  # (N, T, K+1, 2)
    velocity = np.concatenate([motion.velocity, np.where(wall_present[:, None, None, None], 0.0, np.nan)
                               * np.ones((n, t, 1, 2))], axis=2)  # fmt: skip
    present = np.concatenate([active, wall_present[:, None]], axis=1)
    radius = np.concatenate(
        [np.where(active, half, np.nan), np.where(wall_present, np.hypot(*wh), np.nan)[:, None]], 1
    )
    half_size = np.concatenate(
        [np.repeat(radius[:, :k, None], 2, -1), np.where(wall_present[:, None, None], wh, np.nan)], 1
    )
    in_view = np.concatenate([_in_view(motion.position, np.where(active, half, 0.0)) & active[:, None],
                              np.broadcast_to(wall_present[:, None, None], (n, t, 1))], axis=2)  # fmt: skip
    frame = np.where(np.isfinite(motion.event_time), np.searchsorted(times, motion.event_time, "left"), -1)
    return States(
        scenario=scenario, position=position, velocity=velocity, radius=radius,
        color=np.concatenate([color, np.full((n, 1), WALL_COLOR)], 1).astype(np.uint8),
        shape=np.concatenate([shape, np.full((n, 1), SHAPE_BOX)], 1).astype(np.uint8), in_view=in_view,
        dt=FRAME_DT, present=present, half_size=half_size,
        static=np.concatenate([np.zeros((n, k), bool), wall_present[:, None]], 1),
        event_time=motion.event_time, event_frame=frame.astype(np.int32),
        event_a=motion.event_a, event_b=motion.event_b,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------- placement
def _window(n_frames: int) -> tuple[float, float]:
    first, last = km.contact_window(n_frames)
    return first * FRAME_DT, last * FRAME_DT


def bounce_start(r, v, u, n_frames: int) -> np.ndarray:
    """Start x of a ball moving +x at v > 0 whose wall contact time is drawn in the contact window (u (n,)),
    shortened so the ball starts in view; a ball at rest (v = 0) anywhere left of the wall."""
    t_lo, t_hi = _window(n_frames)
    room = WALL.x_lo - 2 * r  # travel before contact with the ball starting fully in view
    with np.errstate(divide="ignore", invalid="ignore"):
        hi = np.minimum(t_hi, np.where(v > 0, room / v, np.inf))
    t_w = t_lo + (hi - t_lo) * u
    rest = r + (room - EDGE) * u
    return np.where(v > 0, WALL.x_lo - r - v * t_w, rest)


EDGE = km.EDGE_MARGIN


def _row(lo_hi: tuple[float, float], half, u) -> np.ndarray:
    lo, hi = lo_hi
    return lo + half + (hi - lo - 2 * half) * u


def wall_bounce(params: np.ndarray, u: np.ndarray, n_frames: int = 32) -> States:
    """Spatial composition scene (module docstring). params (n, 4) = [r, v, s, w]; u (n, 4) uniforms."""
    r, v, s, w = (params[:, i] for i in range(4))
    n = len(r)
    times = km.frame_times(n_frames)
    view = min(km.MIN_VIEW_FRAMES, n_frames - 1) * FRAME_DT
    sq_lo = np.where(w > 0, s + w * view, s)
    sq_hi = WALL.x_lo - s - np.where(w > 0, 0.0, EDGE)
    x_sq = np.where(sq_lo <= sq_hi, sq_lo + (sq_hi - sq_lo) * u[:, 2], sq_hi)
    x0 = np.stack(
        [
            np.stack([bounce_start(r, v, u[:, 0], n_frames), _row(LOWER_ROW, r, u[:, 1])], -1),
            np.stack([x_sq, _row(UPPER_ROW, s, u[:, 3])], -1),
        ],
        axis=1,
    )  # fmt: skip  (n, 2, 2)
    v0 = np.zeros((n, 2, 2))
    v0[:, 0, 0], v0[:, 1, 0] = v, -w
    half = np.stack([r, s], 1)
    active = np.ones((n, 2), bool)
    motion = solve_events(x0, v0, half, half**2, active, np.zeros((n, 2), bool), (WALL,), times)
    color = np.tile(np.array([RED, BLUE], np.uint8), (n, 1))
    shape = np.tile(np.array([SHAPE_DISC, SHAPE_SQUARE], np.uint8), (n, 1))
    return build_states("wall_bounce", motion, half, color, shape, active, times, np.ones(n, bool))


def _test_start(r1, r2, u1, u, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """wall_collision test placement: (x1, x2) with the red ball striking the resting blue one at t_c and
    the blue one reaching the wall dt later, both drawn in the contact window (u (n, 2))."""
    t_lo, t_hi = _window(n_frames)
    gap = MIN_GAP_FRAMES * FRAME_DT
    m1, m2 = r1**2, r2**2
    w2 = km.elastic_velocities(m1, m2, u1, np.zeros_like(u1))[1]  # the blue ball's speed after the strike
    room = WALL.x_lo - 2 * r1 - 2 * r2  # red travel + blue travel with the red ball starting in view
    tc_hi = np.minimum(t_hi - gap, (room - w2 * gap) / u1)
    t_c = t_lo + (tc_hi - t_lo) * u[:, 0]
    d_hi = np.minimum(t_hi - t_c, (room - u1 * t_c) / w2)
    d = gap + (d_hi - gap) * u[:, 1]
    x2 = WALL.x_lo - r2 - w2 * d
    return x2 - r1 - r2 - u1 * t_c, x2


def wall_collision_problem(params: np.ndarray, n_frames: int) -> tuple[int, str] | None:
    """(row, problem) of the first wall_collision row that cannot be placed (None: all can)."""
    r1, r2, u1, u2, wall = (params[:, i] for i in range(5))
    t_lo, t_hi = _window(n_frames)
    gap = MIN_GAP_FRAMES * FRAME_DT
    both, one = (r1 > 0) & (r2 > 0), (r1 > 0) ^ (r2 > 0)
    rr = np.where(r1 > 0, r1, r2)
    uu = np.where(r1 > 0, u1, u2)
    with np.errstate(divide="ignore", invalid="ignore"):  # rows without two balls: NaN, not used
        w2 = km.elastic_velocities(r1**2, r2**2, u1, np.zeros_like(u1))[1]
        test_fit = np.minimum(t_hi - gap, (WALL.x_lo - 2 * r1 - 2 * r2 - w2 * gap) / u1) >= t_lo
    checks = [
        ((r1 < 0) | (r2 < 0), "has a negative radius (0 means: no such ball)"),
        (~(both | one), "has no ball (r1 = r2 = 0)"),
        ((wall != 0) & (wall != 1), "has a wall flag that is not 0 or 1"),
        (np.maximum(r1, r2) > WORLD_SIZE / 2 - EDGE, "has a radius too big for the 10x10 world (> 4.5)"),
        (one & (wall == 0), "has one ball and no wall: nothing happens (no such subset)"),
        (one & (wall == 1) & (uu <= 0), "has one ball that does not move toward the wall (speed must be > 0)"),
        (one & (wall == 1) & (WALL.x_lo - 2 * rr < uu * t_lo), "has a ball too fast to start in view and reach the wall in the contact window"),
        (both & ((u1 <= 0) | (u2 > 0)), "has two balls that do not close in (u1 > 0 and u2 <= 0)"),
        (both & (wall == 1) & (u2 != 0), "has two balls and the wall but a moving blue ball (the test scene strikes it at rest)"),
        (both & (wall == 1) & ~test_fit, "has a test scene whose collision and bounce cannot both fit in the contact window"),
    ]  # fmt: skip
    for bad, what in checks:
        if bad.any():
            return int(np.flatnonzero(bad)[0]), what
    return None


def wall_collision(params: np.ndarray, u: np.ndarray, n_frames: int = 32) -> States:
    """Temporal composition scene (module docstring). params (n, 5) = [r1, r2, u1, u2, wall]; u (n, 3)."""
    bad = wall_collision_problem(params, n_frames)
    if bad is not None:
        raise PhylawError(f"wall_collision parameter row {bad[0]} {tuple(params[bad[0]].tolist())} {bad[1]}")
    r1, r2, u1, u2, wall = (params[:, i] for i in range(5))
    n = len(r1)
    times = km.frame_times(n_frames)
    active = np.stack([r1 > 0, r2 > 0], 1)
    both, has_wall = active.all(1), wall == 1
    x1, x2 = np.full(n, np.nan), np.full(n, np.nan)
    y = np.full(n, np.nan)
    pair = both & ~has_wall
    if pair.any():  # the collision scene's own placement (and its contact-window check)
        st = km.collision(np.stack([r1, r2, u1, -u2], 1)[pair], u[pair], n_frames)
        x1[pair], x2[pair], y[pair] = (
            st.position[:, 0, 0, 0],
            st.position[:, 0, 1, 0],
            st.position[:, 0, 0, 1],
        )
    test = both & has_wall
    if test.any():
        x1[test], x2[test] = _test_start(r1[test], r2[test], u1[test], u[test], n_frames)
    single = ~both
    rr = np.where(r1 > 0, r1, r2)
    xs = bounce_start(rr, np.where(r1 > 0, u1, u2), u[:, 0], n_frames)
    x1, x2 = np.where(single & (r1 > 0), xs, x1), np.where(single & (r2 > 0), xs, x2)
    rmax = np.maximum(r1, r2)
    y = np.where(pair, y, rmax + EDGE + (WORLD_SIZE - 2 * EDGE - 2 * rmax) * u[:, 2])
    x0 = np.stack([np.stack([x1, y], -1), np.stack([x2, y], -1)], 1)  # (n, 2, 2)
    v0 = np.zeros((n, 2, 2))
    v0[:, 0, 0], v0[:, 1, 0] = u1, u2
    half = np.stack([r1, r2], 1)
    motion = solve_events(x0, v0, half, half**2, active, active, (WALL,), times, has_wall[:, None])
    color = np.tile(np.array([RED, BLUE], np.uint8), (n, 1))
    shape = np.full((n, 2), SHAPE_DISC, np.uint8)
    return build_states("wall_collision", motion, half, color, shape, active, times, has_wall)


def check_wall_bounce(params: np.ndarray) -> tuple[int, str] | None:
    """(row, problem) of the first bad wall_bounce row [r, v, s, w] (None: all good)."""
    r, v, s, w = (params[:, i] for i in range(4))
    t_lo, _ = _window(32)
    checks = [
        ((r <= 0) | (s <= 0), "has a size <= 0"),
        ((v < 0) | (w < 0), "has a negative speed (speeds are magnitudes; directions are fixed)"),
        (2 * r > LOWER_ROW[1] - LOWER_ROW[0], "has a ball too big for the lower half of the world"),
        (2 * s > UPPER_ROW[1] - UPPER_ROW[0], "has a square too big for the upper half of the world"),
        (WALL.x_lo - 2 * r < v * t_lo, "has a ball too fast to start in view and reach the wall in the contact window"),
    ]  # fmt: skip
    for bad, what in checks:
        if bad.any():
            return int(np.flatnonzero(bad)[0]), what
    return None


def check_wall_collision(params: np.ndarray) -> tuple[int, str] | None:
    """Registry check of wall_collision rows at the paper's 32 frames (shorter videos are checked again when
    simulated: their contact window is shorter)."""
    return wall_collision_problem(params, 32)
