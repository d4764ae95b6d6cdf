"""Closed-form trajectories of the three kinematic scenarios, with the placement rules of SPEC B.1–B.3.

Every function is vectorised over a batch of videos. Randomness enters only through a matrix of uniform
draws ``u`` of shape (n, N_UNIFORMS[scenario]) taken from an explicit ``np.random.Generator``: a fixed
number of draws per video whatever branch the placement takes, so row i of a batch depends only on
params[i] and u[i] (this is what lets ``SplitDef.generate`` slice blocks and still get identical rows).
"""

from __future__ import annotations

import numpy as np

from phylaw.errors import PhylawError
from phylaw.render.palette import BLUE, RED
from phylaw.sim.states import FRAME_DT, SHAPE_DISC, WORLD_SIZE, States

GRAVITY = 2.5  # world units / s^2, pointing down (parabola)
MIN_VIEW_FRAMES = 24  # uniform / parabola: the ball stays in view for ~24 frames (B.1)
EDGE_MARGIN = 0.5  # 0.05 * world size: vertical margin of the placement rules
MIN_PRE_FRAMES = 8  # collision: frames before contact (B.2)
MIN_POST_FRAMES = 8  # collision: frames from contact on (B.2)


def frame_times(n_frames: int) -> np.ndarray:
    """(T,) float64 times of the frames: t_k = dt * k."""
    if n_frames < 1:
        raise PhylawError(f"n_frames must be >= 1, got {n_frames}")
    return np.arange(n_frames, dtype=np.float64) * FRAME_DT


def fully_in_view(position: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """(N, T, K) bool: the object's disc/square lies inside [0, 10]^2. position (N,T,K,2), radius (N,K)."""
    r = radius[:, None, :, None]  # (N, 1, K, 1)
    return ((position - r >= 0.0) & (position + r <= WORLD_SIZE)).all(axis=-1)


def _start_x(r: np.ndarray, v: np.ndarray, u_max: np.ndarray, u_x: np.ndarray) -> np.ndarray:
    """B.1 initial x: stay in view ~24 frames; fast balls start within 0.5 of the left edge."""
    max_init = WORLD_SIZE - (MIN_VIEW_FRAMES * FRAME_DT * v + r)
    max_init = np.where(max_init < r, r + EDGE_MARGIN * u_max, max_init)
    return r + (max_init - r) * u_x


def _states(
    scenario: str, position, velocity, radius, color, contact_time=None, contact_frame=None
) -> States:
    """Closed-form states: discs, angle 0, all present and dynamic; one event (slots 0, 1) at the contact
    when ``contact_time`` is given (NaN / -1 for a pair that never meets), none otherwise."""
    n, _, k, _ = position.shape
    if contact_time is not None:
        has = np.isfinite(contact_time)[:, None]  # (n, 1)
        events = {
            "event_time": contact_time[:, None],
            "event_frame": contact_frame.astype(np.int32)[:, None],
            "event_a": np.where(has, 0, -1).astype(np.int16),
            "event_b": np.where(has, 1, -1).astype(np.int16),
        }
    else:
        events = {
            "event_time": np.full((n, 0), np.nan),
            "event_frame": np.full((n, 0), -1, np.int32),
            "event_a": np.full((n, 0), -1, np.int16),
            "event_b": np.full((n, 0), -1, np.int16),
        }
    return States(
        scenario=scenario,
        position=position,
        velocity=velocity,
        radius=radius,
        color=color,
        shape=np.full((n, k), SHAPE_DISC, dtype=np.uint8),
        in_view=fully_in_view(position, radius),
        **events,
    )


def _single_ball(scenario: str, r, x0, y0, vx, vy0, ay, t) -> States:
    """One red ball with constant acceleration (0, ay). r, x0, y0, vx, vy0: (N,); t: (T,)."""
    n = r.shape[0]
    tt = t[None, :]  # (1, T)
    x = x0[:, None] + vx[:, None] * tt  # (N, T)
    y = y0[:, None] + vy0[:, None] * tt + 0.5 * ay * tt**2  # (N, T)
    vy = np.broadcast_to(vy0[:, None] + ay * tt, x.shape)  # (N, T)
    position = np.stack([x, y], axis=-1)[:, :, None, :]  # (N, T, 1, 2)
    velocity = np.stack([np.broadcast_to(vx[:, None], x.shape), vy], axis=-1)[:, :, None, :]
    return _states(scenario, position, velocity, r[:, None].copy(), np.full((n, 1), RED, dtype=np.uint8))


def uniform_motion(params: np.ndarray, u: np.ndarray, n_frames: int = 32) -> States:
    """A red ball moving +x at v: x = x0 + v t exactly. params (n, 2) = [r, v]; u (n, 3) uniforms."""
    r, v = params[:, 0], params[:, 1]
    x0 = _start_x(r, v, u[:, 0], u[:, 1])
    y0 = (r + EDGE_MARGIN) + (WORLD_SIZE - EDGE_MARGIN - 2 * r - EDGE_MARGIN) * u[:, 2]  # U(r+.5, 9.5-r)
    zero = np.zeros_like(r)
    return _single_ball("uniform_motion", r, x0, y0, v, zero, 0.0, frame_times(n_frames))


def parabola(params: np.ndarray, u: np.ndarray, n_frames: int = 32) -> States:
    """A red ball thrown with velocity (+v, 0) under gravity 2.5 down. params (n, 2) = [r, v]."""
    r, v = params[:, 0], params[:, 1]
    x0 = _start_x(r, v, u[:, 0], u[:, 1])
    top = WORLD_SIZE - EDGE_MARGIN - r
    y0 = top - 1.0 + 1.0 * u[:, 2]  # U(9.5 - r - 1, 9.5 - r)
    zero = np.zeros_like(r)
    return _single_ball("parabola", r, x0, y0, v, zero, -GRAVITY, frame_times(n_frames))


def elastic_velocities(m1, m2, u1, u2) -> tuple[np.ndarray, np.ndarray]:
    """1-D perfectly elastic collision: velocities after impact (signed, +x to the right)."""
    total = m1 + m2
    return ((m1 - m2) * u1 + 2 * m2 * u2) / total, ((m2 - m1) * u2 + 2 * m1 * u1) / total


def contact_window(n_frames: int) -> tuple[int, int]:
    """(first, last) frame allowed for the contact: (8, 24) for 32 frames (B.2); shorter videos scale it
    down to (n // 4, n - n // 4) so that a quarter of the frames lie before and after the contact."""
    if n_frames < 4:
        raise PhylawError(
            f"collision videos need at least 4 frames (before, at and after contact), got {n_frames}"
        )
    pre = min(MIN_PRE_FRAMES, n_frames // 4)
    return pre, min(32 - MIN_POST_FRAMES, n_frames - max(pre, 1))


def _collision_placement(r1, r2, v1, v2, u, n_frames: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Initial centres x1 < x2 (B.2, intended logic). Returns (x1, x2), each (n,).

    The contact time t_c is drawn in [0.8 s, 2.4 s] (>= 8 frames before contact, >= 8 from contact on;
    see contact_window for other video lengths),
    shortened so both balls start fully in view. A big ball 2 (r2 > 2 r1) gets t_c <= 1.25 x the minimum
    gap and starts at the right edge; a big ball 1 (r1 > 2 r2) likewise from the left edge (the branch that
    F.2(a) made dead code). When even the minimum gap cannot fit in the world (fast, large balls), t_c is the
    minimum and the pair is centred, so both balls start partly outside the view (flagged by in_view).
    With v1 + v2 = 0 the balls never meet; they are placed with a random gap that fits in the world.
    """
    closing = v1 + v2
    rsum = r1 + r2
    first, last = contact_window(n_frames)
    t_min, t_max = first * FRAME_DT, last * FRAME_DT
    room = WORLD_SIZE - 2 * rsum  # largest gap with both balls fully in view
    min_gap = t_min * closing
    max_gap = np.minimum(t_max * closing, room)
    lopsided = (r2 > 2 * r1) | (r1 > 2 * r2)
    max_gap = np.where(lopsided, np.minimum(max_gap, 1.25 * (min_gap + rsum) - rsum), max_gap)
    max_gap = np.where(closing > 0, max_gap, room)
    min_gap = np.where(closing > 0, min_gap, 0.0)
    fits = min_gap <= room
    gap = np.where(fits, min_gap + (np.maximum(max_gap, min_gap) - min_gap) * u[:, 0], min_gap)
    dist = gap + rsum
    lo, hi = r1, WORLD_SIZE - r2 - dist  # x1 range with both balls in view (hi >= lo when fits)
    x1 = lo + (hi - lo) * u[:, 1]
    x1 = np.where(r2 > 2 * r1, np.maximum(hi - EDGE_MARGIN * u[:, 1], lo), x1)
    x1 = np.where(r1 > 2 * r2, np.minimum(lo + EDGE_MARGIN * u[:, 1], hi), x1)
    x1 = np.where(fits, x1, r1 + (hi - lo) / 2)  # centred overhang when it cannot fit
    return x1, x1 + dist


def collision(params: np.ndarray, u: np.ndarray, n_frames: int = 32) -> States:
    """Red ball 1 (left, +x at v1) meets blue ball 2 (right, -x at v2): exact 1-D elastic impact, m ∝ r².

    params (n, 4) = [r1, r2, v1, v2] with v2 stored positive; u (n, 3) uniforms.
    """
    r1, r2, v1, v2 = (params[:, i] for i in range(4))
    n = r1.shape[0]
    x1, x2 = _collision_placement(r1, r2, v1, v2, u, n_frames)
    rmax = np.maximum(r1, r2)
    y = (rmax + EDGE_MARGIN) + (WORLD_SIZE - 2 * EDGE_MARGIN - 2 * rmax) * u[:, 2]
    closing = v1 + v2
    with np.errstate(divide="ignore", invalid="ignore"):
        t_c = np.where(closing > 0, (x2 - x1 - r1 - r2) / closing, np.nan)  # (n,)
    w1, w2 = elastic_velocities(r1**2, r2**2, v1, -v2)  # post-impact signed velocities

    t = frame_times(n_frames)[None, :]  # (1, T)
    after = t >= t_c[:, None]  # (n, T); False everywhere when t_c is NaN
    tc = np.where(np.isnan(t_c), 0.0, t_c)[:, None]  # (n, 1)
    xa = np.where(
        after, x1[:, None] + v1[:, None] * tc + w1[:, None] * (t - tc), x1[:, None] + v1[:, None] * t
    )
    xb = np.where(
        after, x2[:, None] - v2[:, None] * tc + w2[:, None] * (t - tc), x2[:, None] - v2[:, None] * t
    )
    ua = np.where(after, w1[:, None], v1[:, None])  # (n, T)
    ub = np.where(after, w2[:, None], -v2[:, None])
    yy = np.broadcast_to(y[:, None], xa.shape)
    zero = np.zeros_like(xa)
    position = np.stack([np.stack([xa, yy], -1), np.stack([xb, yy], -1)], axis=2)  # (n, T, 2, 2)
    velocity = np.stack([np.stack([ua, zero], -1), np.stack([ub, zero], -1)], axis=2)  # (n, T, 2, 2)
    contact_frame = np.where(after.any(axis=1), after.argmax(axis=1), -1).astype(np.int32)
    first, last = contact_window(n_frames)
    bad = (closing > 0) & ((contact_frame < first) | (contact_frame > last))
    if bad.any():  # cannot happen by construction; never drop or keep such a sample silently
        i = int(np.flatnonzero(bad)[0])
        raise PhylawError(
            f"collision row {i} (r1, r2, v1, v2) = {tuple(params[i].tolist())} could not be placed with its "
            f"contact in frames [{first}, {last}] (contact frame {int(contact_frame[i])})"
        )
    color = np.empty((n, 2), dtype=np.uint8)
    color[:, 0], color[:, 1] = RED, BLUE
    return _states("collision", position, velocity, np.stack([r1, r2], axis=1), color, t_c, contact_frame)


# names that live in sim.registry now (the scenario table and the operations over it), importable from here
# as before; resolved on first use because the registry itself imports this module's simulators
_FROM_REGISTRY = {
    "SCENARIOS": "SCENARIO_NAMES",
    "PARAM_NAMES": "PARAM_NAMES",
    "N_UNIFORMS": "N_UNIFORMS",
    "check_scenario": "check_scenario",
    "validate_params": "validate_params",
    "simulate": "simulate",
    "simulate_uniforms": "simulate_uniforms",
}


def __getattr__(name: str):
    if name in _FROM_REGISTRY:
        from phylaw.sim import registry

        return getattr(registry, _FROM_REGISTRY[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
