"""The red user ball from an action (x, y, r) in [0, 1]^3, PHYRE's occlusion rule, and the release's sampler.

Facts: SPEC_COMBINATORIAL A.5 (mapping, inside-scene test, occlusion) and SPEC B.5 "Action sampler" with the
SC A.5 note. Every random draw comes from the Generator passed in (trial j of task (T, k) uses
``child_rng(seed, "phyre-trial", T, k, j)``, engine.simulate_rows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from phylaw.errors import PhylawError
from phylaw.sim.phyre.objects import RED, SCENE, Body, walls

MAX_RADIUS = int(SCENE) // 8  # 64 = max(W, H) // 8
MIN_RADIUS = 2
OCCLUSION_EPS = 1e-5
RADIUS_SCALE = 5.0  # the sampler's radius variable (scene-width units) x 5 = a2 (SC A.5 note)
SAMPLER_TRIES = 100  # heuristic attempts before the fallback (SPEC B.5)
FALLBACK_TRIES = 100_000


class InvalidAction(PhylawError):
    """The action is outside [0, 1]^3, puts the ball outside the scene, or occludes a body (SC A.5)."""


def action_to_ball(action: Sequence[float] | np.ndarray) -> Body:
    """The red dynamic ball of an action, before the occlusion test (InvalidAction if outside [0, 1]^3 or
    the ball is not inside the scene). Pixels: x = a0 511, y = a1 511, r = 2 + a2 62; the inside-scene test
    uses these floats, then x and y are truncated to integers and r is rounded half to even."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape != (3,):
        raise InvalidAction(f"a PHYRE action is 3 numbers (x, y, r) in [0, 1], got shape {a.shape}")
    if not (np.isfinite(a).all() and (a >= 0).all() and (a <= 1).all()):
        raise InvalidAction(f"PHYRE action {a.tolist()} is outside [0, 1]^3")
    x = float(a[0]) * (SCENE - 1)
    y = float(a[1]) * (SCENE - 1)
    r = MIN_RADIUS + float(a[2]) * (MAX_RADIUS - MIN_RADIUS)
    if not (r <= x <= SCENE - r and r <= y <= SCENE - r):
        raise InvalidAction(f"PHYRE action {a.tolist()} puts the ball (r {r:.2f}) partly outside the scene")
    radius = float(round(r))
    return Body("ball", True, RED, (float(int(x)), float(int(y))), 0.0, (), radius, 2.0 * radius)


class Occluder:
    """The t = 0 geometry of a scene (its bodies and the walls) for repeated occlusion tests."""

    def __init__(self, bodies: Sequence[Body]) -> None:
        starts, ends, ids, centres, radii = [], [], [], [], []
        n_poly = 0
        for b in (*walls(), *bodies):
            if b.kind == "ball":
                centres.append(b.position)
                radii.append(b.radius)
                continue
            c, s = math.cos(b.angle), math.sin(b.angle)
            rot = np.array([[c, s], [-s, c]])
            for poly in b.polygons:
                v = poly @ rot + np.asarray(b.position)
                starts.append(v)
                ends.append(np.roll(v, -1, axis=0))
                ids.append(np.full(len(v), n_poly))
                n_poly += 1
        self.a = np.concatenate(starts)
        self.d = np.concatenate(ends) - self.a
        self.len2 = (self.d**2).sum(axis=1)
        self.poly_start = np.flatnonzero(np.r_[True, np.diff(np.concatenate(ids)) != 0])
        self.centres = np.asarray(centres, np.float64).reshape(-1, 2)
        self.radii = np.asarray(radii, np.float64)

    def occludes(self, x: float, y: float, r: float) -> bool:
        """A ball at (x, y) of radius r occludes a polygon if its centre is strictly inside it or its distance
        to the polygon's boundary + 1e-5 < r; a circle if the centre distance + 1e-5 < r + r_other."""
        if len(self.radii):
            dist = np.hypot(self.centres[:, 0] - x, self.centres[:, 1] - y)
            if (dist + OCCLUSION_EPS < r + self.radii).any():
                return True
        px, py = x - self.a[:, 0], y - self.a[:, 1]
        cross = self.d[:, 0] * py - self.d[:, 1] * px  # > 0: the point is left of the (CCW) edge
        if (np.minimum.reduceat(cross, self.poly_start) > 0).any():
            return True
        t = np.clip((px * self.d[:, 0] + py * self.d[:, 1]) / self.len2, 0.0, 1.0)
        seg = np.hypot(px - t * self.d[:, 0], py - t * self.d[:, 1])
        return bool((seg + OCCLUSION_EPS < r).any())


def check_action(bodies: Sequence[Body], action: Sequence[float] | np.ndarray) -> Body:
    """The user ball of ``action`` in the scene ``bodies`` (walls are added), or InvalidAction."""
    ball = action_to_ball(action)
    if Occluder(bodies).occludes(ball.position[0], ball.position[1], ball.radius):
        raise InvalidAction(
            f"PHYRE action {np.asarray(action, np.float64).tolist()} puts the ball (centre {ball.position}, "
            f"r {ball.radius:g}) over a body"
        )
    return ball


def _valid(occ: Occluder, action: np.ndarray) -> bool:
    try:
        ball = action_to_ball(action)
    except InvalidAction:
        return False
    return not occ.occludes(ball.position[0], ball.position[1], ball.radius)


def is_valid_action(bodies: Sequence[Body], action: Sequence[float] | np.ndarray) -> bool:
    return _valid(Occluder(bodies), np.asarray(action, np.float64))


def sampler_features(bodies: Sequence[Body]) -> dict[str, np.ndarray]:
    """What the sampler reads of PHYRE's initial features (SC A.7): x, y (scene fractions; jars at their
    centre of mass), the angle feature in [0, 1), diameter / W, is-ball, is-bar."""
    x, y, ang, diam = [], [], [], []
    for b in bodies:
        px, py = b.position
        if b.kind == "jar":
            d = float(b.center_of_mass_local()[1])
            px, py = px - d * math.sin(b.angle), py + d * math.cos(b.angle)
        x.append(px / SCENE)
        y.append(py / SCENE)
        ang.append((b.angle % (2 * math.pi)) / (2 * math.pi))
        diam.append(b.diameter / SCENE)
    kinds = [b.kind for b in bodies]
    return {
        "x": np.array(x),
        "y": np.array(y),
        "angle": np.array(ang),
        "diameter": np.array(diam),
        "ball": np.array([k == "ball" for k in kinds], bool),
        "bar": np.array([k == "bar" for k in kinds], bool),
    }


def sampler_radius_range(f: dict[str, np.ndarray]) -> tuple[float, float]:
    """(min_r, max_r) in scene-width units: half the smallest ball radius and 4x the largest, clamped to
    [0.02, 0.2]; [0.02, 0.2] without balls (SPEC B.5)."""
    lo, hi = 0.1 / RADIUS_SCALE, 1.0 / RADIUS_SCALE
    radii = f["diameter"][f["ball"]] / 2
    if not len(radii):
        return lo, hi
    return max(float(radii.min()) / 2, lo), min(float(radii.max()) * 4.0, hi)


def sample_action(bodies: Sequence[Body], rng: np.random.Generator) -> np.ndarray:
    """(3,) float64 a valid action for the scene, drawn as the release's "positioning" sampler does.

    Up to 100 tries: pick a body (ignoring bars whose angle feature < 0.05), m ~ U(min_r, max_r),
    dx ~ U(-0.8, 0.8) (obj_r + m), then with probability 0.5 y ~ U(obj_y + 0.9 dx, 1 - obj_r - 0.05) (above),
    else y ~ U(obj_r + 0.05, obj_y - 0.9 dx) (below); action (obj_x + dx, y, 5 m); keep the first valid one.
    Then the fallback: a uniform random position with a2 = 5 U(min_r, max_r), until valid."""
    occ = Occluder(bodies)
    f = sampler_features(bodies)
    min_r, max_r = sampler_radius_range(f)
    keep = np.flatnonzero(~(f["bar"] & (f["angle"] < 0.05)))
    if not len(keep):
        keep = np.arange(len(bodies))
    if len(keep):
        for _ in range(SAMPLER_TRIES):
            i = int(keep[rng.integers(len(keep))])
            obj_r = f["diameter"][i] / 2
            m = rng.uniform(min_r, max_r)
            dx = rng.uniform(-0.8 * (obj_r + m), 0.8 * (obj_r + m))
            if rng.random() < 0.5:
                lo, hi = f["y"][i] + 0.9 * dx, 1.0 - obj_r - 0.05
            else:
                lo, hi = obj_r + 0.05, f["y"][i] - 0.9 * dx
            # lo may exceed hi (the release's np.random.uniform allows it): draw lo + (hi - lo) U
            action = np.array([f["x"][i] + dx, lo + (hi - lo) * rng.random(), m * RADIUS_SCALE])
            if _valid(occ, action):
                return action
    for _ in range(FALLBACK_TRIES):
        action = np.array([rng.random(), rng.random(), rng.uniform(min_r, max_r) * RADIUS_SCALE])
        if _valid(occ, action):
            return action
    raise PhylawError(f"no valid PHYRE action found for a scene of {len(bodies)} bodies")
