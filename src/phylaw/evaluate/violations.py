"""Corruptions of ground-truth PHYRE videos: the labelled violations (SPEC_COMBINATORIAL D.2) and the controls.

Why: the judge (``evaluate.judge``) is only worth its accuracy, and that is measured on videos whose label is
known. Each violation of SC D.2 is injected into a ground-truth video at three strengths by one of:

- a corruption of the states, re-rendered with ``render.phyre_raster`` (velocity added to a resting body; a
  static body moved or rotated; an object deleted or cloned from frame k; rescaled over time; recoloured;
  offset for one frame; frozen after it landed);
- a re-simulation with changed physics (``sim.phyre.engine.Overrides``: gravity scale, collisions disabled,
  restitution, impulse scale);
- a corruption of the frames (a repeated or dropped frame, a reversed segment).

Negative controls (label ``none``): the untouched ground truth, and a re-simulation from the action moved by
one scene unit (a Type 2 video: different, physical). Every case records what it changed (slot, frame, a
note), so a judge's reason can be checked against it. A corruption returns None where the video has nothing
to corrupt (e.g. no resting body); the suite counts those as "not applicable".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from phylaw.render.phyre_raster import render_phyre
from phylaw.sim.phyre import engine as en
from phylaw.sim.phyre.actions import InvalidAction, check_action
from phylaw.sim.phyre.objects import SCENE
from phylaw.sim.states import States

STRENGTHS = ("weak", "moderate", "strong")
CONTROLS = ("gt", "perturbed")
EXTRA_FRAMES = 8  # simulated beyond the video, so dropped frames can be filled from the future
PER_FRAME = ("position", "velocity", "angle", "in_view")
BLACK_ID, RED_ID, GREEN_ID, BLUE_ID, PURPLE_ID, GRAY_ID = 6, 8, 9, 10, 11, 12  # render.palette ids
COLOR_IDS = (BLACK_ID, RED_ID, GREEN_ID, BLUE_ID, PURPLE_ID, GRAY_ID)
REST_SPEED = 0.3  # scene units/frame: a ground-truth body slower than this is at rest
ACTION_STEP = 1.0 / 511.0  # one scene unit of the action's x or y (x = a0 * 511, SC A.5)
MIN_CHANGE = 2.0  # scene units: a re-simulation must move some body by more than this to count

# strength -> parameter of each corruption (units in the comments)
SPEED = {"weak": 15.0, "moderate": 30.0, "strong": 60.0}  # spontaneous velocity, scene units/s
STATIC_SHIFT = {"weak": 6.0, "moderate": 15.0, "strong": 40.0}  # scene units
STATIC_TURN = {"weak": 0.05, "moderate": 0.15, "strong": 0.4}  # radians
GRAVITY_SCALE = {"weak": 0.5, "moderate": 0.0, "strong": -0.5}  # Box2D gravity scale of one body
FRAMES_GONE = {
    "weak": 1,
    "moderate": 4,
    "strong": 99,
}  # frames deleted / cloned / recoloured (99: to the end)
SCALE = {"weak": 1.15, "moderate": 1.35, "strong": 1.7}  # final size factor (or its inverse)
JUMP = {"weak": 12.0, "moderate": 25.0, "strong": 50.0}  # one-frame offset, scene units
N_FRAMES_BAD = {"weak": 1, "moderate": 2, "strong": 4}  # repeated / dropped frames
RESTITUTION = {"weak": 0.8, "moderate": 1.2, "strong": 2.0}  # of one body (PHYRE: 0.2)
IMPULSE = {"weak": 2.0, "moderate": 4.0, "strong": 8.0}  # velocity change factor of the struck body
# the amplified collision must move the struck body this far from its ground-truth path within RESPONSE_FRAMES
# of the contact (5 px at 256², a third of the smallest dynamic ball's diameter): the first version took the
# first contact, often a touch whose amplified response is invisible (moderate recall 24 % on such cases)
RESPONSE_VISIBLE = 10.0  # scene units
RESPONSE_FRAMES = 3
# a frozen body's sideways speed (units/s), in multiples of what friction can take from it in one frame,
# μ g dt = 0.5 × 58.8 / 3 = 9.8 units/s: a stop within one frame is physical up to 1× (the first version's
# weak 9 units/s was), and a rater sees a body "stop dead" when friction would have needed several frames
FRICTION_STOP = 0.5 * 58.8 / 3.0  # units/s
STOP_SPEED = {"weak": 2.0 * FRICTION_STOP, "moderate": 4.0 * FRICTION_STOP, "strong": 8.0 * FRICTION_STOP}
FREEZE_ROOM = 10.0  # scene units the body moves in the 3 frames after the freeze in ground truth (visibly)
LOOP = {"weak": 2, "moderate": 4, "strong": 8}  # frames played backwards


@dataclass(frozen=True)
class Corruption:
    """What a case changed: violation (judge.VIOLATIONS name, or "none" for a control), strength (STRENGTHS, or
    the control's name), variant (how), slot (States slot, -1: the whole video), frame (first changed
    frame, -1: none) and a note."""

    violation: str
    strength: str
    variant: str
    slot: int
    frame: int
    note: str


@dataclass(frozen=True)
class Scene:
    """One ground-truth video and what is needed to re-simulate it: bodies and ball (sim.phyre), the action,
    the states of n_frames + EXTRA_FRAMES frames (N = 1), the video length, the resolution."""

    bodies: tuple
    ball: object
    action: np.ndarray
    states: States
    n_frames: int
    resolution: int
    cond_frames: int = 1

    @property
    def gt(self) -> States:
        return frames_of(self.states, self.n_frames)

    @property
    def n_bodies(self) -> int:
        return len(self.bodies) + (self.ball is not None)


def frames_of(states: States, n: int, start: int = 0) -> States:
    """The states of frames [start, start + n)."""
    return replace(states, **{f: getattr(states, f)[:, start : start + n] for f in PER_FRAME})


def make_scene(bodies, action, n_frames: int, resolution: int, cond_frames: int = 1) -> Scene:
    ball = check_action(bodies, action)
    states = en.simulate_scene(bodies, ball, min(en.MAX_FRAMES, n_frames + EXTRA_FRAMES))
    return Scene(tuple(bodies), ball, np.asarray(action, float), states, n_frames, resolution, cond_frames)


def _render(states: States, res: int) -> np.ndarray:
    return render_phyre(states, res)[0]


def _resim(scene: Scene, ov: en.Overrides) -> States | None:
    s = frames_of(en.simulate_scene(list(scene.bodies), scene.ball, scene.n_frames, ov), scene.n_frames)
    diff = np.nanmax(np.abs(s.position - scene.gt.position)) if len(s) else 0.0
    return s if diff > MIN_CHANGE else None


def _gt_motion(gt: States) -> tuple[np.ndarray, np.ndarray]:
    """(T, K) speed (units/frame, into frame t; 0 at t = 0) and (K,) dynamic-and-present."""
    p = gt.position[0]
    sp = np.zeros(p.shape[:2])
    sp[1:] = np.linalg.norm(np.diff(p, axis=0), axis=-1)
    dyn = gt.present[0] & ~gt.static[0]
    return np.nan_to_num(sp), dyn


def _first(scene: Scene) -> int:
    return max(scene.cond_frames, 3)


def _gone_range(scene: Scene, rng: np.random.Generator, strength: str) -> tuple[int, int]:
    t = scene.n_frames
    length = min(FRAMES_GONE[strength], t - _first(scene) - 1)
    k = int(rng.integers(_first(scene) + 1, t - length + 1))
    return k, k + length


# ------------------------------------------------------------------------------------ state corruptions
def spontaneous_motion(scene, rng, strength):
    gt = scene.gt
    sp, dyn = _gt_motion(gt)
    t = scene.n_frames
    cands = [
        (m, k) for m in np.flatnonzero(dyn) for k in range(_first(scene) + 2, t - 3)
        if (sp[k - 2 : k + 3, m] < REST_SPEED).all()
    ]  # fmt: skip
    if not cands:
        return None
    m, k = cands[int(rng.integers(len(cands)))]
    ang = rng.uniform(0.0, np.pi)  # upper half plane: it does not push into its support
    vel = SPEED[strength] * np.array([np.cos(ang), np.sin(ang)])
    pos = gt.position.copy()
    steps = np.clip(np.arange(t) - k + 1, 0, None) * en.FRAME_DT  # moved already into frame k
    pos[0, :, m] += steps[:, None] * vel
    note = f"slot {m} at rest gets velocity ({vel[0]:.0f}, {vel[1]:.0f}) units/s from frame {k}"
    return _render(replace(gt, position=pos), scene.resolution), Corruption(
        "spontaneous_motion", strength, "velocity", int(m), int(k), note
    )


def static_moved(scene, rng, strength):
    gt = scene.gt
    static = np.flatnonzero(gt.present[0] & gt.static[0])
    if not len(static):
        return None
    m = int(static[rng.integers(len(static))])
    k = int(rng.integers(_first(scene) + 1, scene.n_frames - 2))
    ramp = np.clip((np.arange(scene.n_frames) - k + 1) / 2.0, 0.0, 1.0)  # over two frames
    if gt.shape[0, m] != 0 and rng.random() < 0.5:  # a bar, jar or sticks: rotate it
        ang = gt.angle.copy()
        turn = STATIC_TURN[strength] * rng.choice([-1.0, 1.0])
        ang[0, :, m] += ramp * turn
        states, variant = replace(gt, angle=ang), "rotate"
        note = f"static slot {m} rotates by {turn:.2f} rad from frame {k}"
    else:
        a = rng.uniform(0, 2 * np.pi)
        off = STATIC_SHIFT[strength] * np.array([np.cos(a), np.sin(a)])
        pos = gt.position.copy()
        pos[0, :, m] += ramp[:, None] * off
        states, variant = replace(gt, position=pos), "move"
        note = f"static slot {m} moves by ({off[0]:.0f}, {off[1]:.0f}) units from frame {k}"
    return _render(states, scene.resolution), Corruption("static_moved", strength, variant, m, k, note)


def disappearance(scene, rng, strength):
    gt = scene.gt
    slots = np.flatnonzero(gt.present[0])
    m = int(slots[rng.integers(len(slots))])
    k0, k1 = _gone_range(scene, rng, strength)
    pos = gt.position.copy()
    pos[0, k0:k1, m] = np.nan
    note = f"slot {m} deleted in frames {k0}-{k1 - 1}"
    return _render(replace(gt, position=pos), scene.resolution), Corruption(
        "disappearance", strength, "delete", m, k0, note
    )


def appearance(scene, rng, strength):
    gt = scene.gt
    slots = np.flatnonzero(gt.present[0])
    free = np.flatnonzero(~gt.present[0])
    if not len(free):
        return None
    m, new = int(slots[rng.integers(len(slots))]), int(free[0])
    k0, k1 = _gone_range(scene, rng, strength)
    arrays = {f: getattr(gt, f).copy() for f in ("position", "velocity", "angle", "present", "shape", "radius",
                                                 "half_size", "vertices", "static", "color", "in_view")}  # fmt: skip
    for f in ("present", "shape", "radius", "half_size", "vertices", "static", "color"):
        arrays[f][0, new] = arrays[f][0, m]
    a = rng.uniform(0, 2 * np.pi)
    dist = 2.0 * float(gt.radius[0, m]) + 10.0
    off = dist * np.array([np.cos(a), np.sin(a)])
    pos = gt.position[0, :, m] + off
    pos = np.clip(pos, 0.0, SCENE)
    arrays["position"][0, :, new] = np.nan
    arrays["position"][0, k0:k1, new] = pos[k0:k1]
    arrays["angle"][0, :, new] = gt.angle[0, :, m]
    note = f"slot {m} cloned (as slot {new}) {dist:.0f} units away in frames {k0}-{k1 - 1}"
    return _render(replace(gt, **arrays), scene.resolution), Corruption(
        "appearance", strength, "clone", m, k0, note
    )


def shape_change(scene, rng, strength):
    gt = scene.gt
    slots = np.flatnonzero(gt.present[0])
    m = int(slots[rng.integers(len(slots))])
    t = scene.n_frames
    k = int(rng.integers(_first(scene) + 1, t - 4))
    final = SCALE[strength] if rng.random() < 0.5 else 1.0 / SCALE[strength]
    out = np.empty((t, scene.resolution, scene.resolution, 3), np.uint8)
    for f in range(t):
        s = 1.0 + (final - 1.0) * np.clip((f - k + 1) / max(1, t - k), 0, 1)
        radius, half, verts = gt.radius.copy(), gt.half_size.copy(), gt.vertices.copy()
        radius[0, m] *= s
        half[0, m] *= s
        verts[0, m] *= s
        one = frames_of(replace(gt, radius=radius, half_size=half, vertices=verts), 1, f)
        out[f] = _render(one, scene.resolution)[0]
    note = f"slot {m} rescaled from frame {k} to x{final:.2f} at the end"
    return out, Corruption("shape_change", strength, "rescale", m, k, note)


def color_change(scene, rng, strength):
    gt = scene.gt
    slots = np.flatnonzero(gt.present[0])
    m = int(slots[rng.integers(len(slots))])
    k0, k1 = _gone_range(scene, rng, strength)
    others = [c for c in COLOR_IDS if c != int(gt.color[0, m])]
    new = int(others[rng.integers(len(others))])
    color = gt.color.copy()
    color[0, m] = new
    out = _render(gt, scene.resolution)
    out[k0:k1] = _render(replace(gt, color=color), scene.resolution)[k0:k1]
    note = f"slot {m} recoloured to palette id {new} in frames {k0}-{k1 - 1}"
    return out, Corruption("color_change", strength, "recolour", m, k0, note)


def teleport(scene, rng, strength, variant: str | None = None):
    """A dynamic body offset for one frame ("offset"), or frames repeated ("repeat") or dropped ("drop")."""
    gt = scene.gt
    sp, dyn = _gt_motion(gt)
    t, lo = scene.n_frames, _first(scene) + 1
    variant = variant or ("offset", "repeat", "drop")[int(rng.integers(3))]
    if variant == "offset":
        slots = np.flatnonzero(dyn)
        m = int(slots[rng.integers(len(slots))])
        k = int(rng.integers(lo, t - 1))
        a = rng.uniform(0, 2 * np.pi)
        off = JUMP[strength] * np.array([np.cos(a), np.sin(a)])
        pos = gt.position.copy()
        pos[0, k, m] += off
        note = f"slot {m} offset by ({off[0]:.0f}, {off[1]:.0f}) units in frame {k}"
        return _render(replace(gt, position=pos), scene.resolution), Corruption(
            "teleport", strength, variant, m, k, note
        )
    n = N_FRAMES_BAD[strength]
    total = sp.sum(axis=1)
    window = np.arange(lo, t - n - 2)
    if not len(window) or total[window].max() <= 0:
        return None
    k = int(window[int(total[window].argmax())])
    full = _render(scene.states, scene.resolution)  # n_frames + EXTRA_FRAMES frames
    if variant == "repeat":
        order = [*range(k + 1), *([k] * n), *range(k + 1, t)][:t]
        note = f"frame {k} repeated {n} times"
    else:
        order = [*range(k + 1), *range(k + 1 + n, t + n)][:t]
        note = f"frames {k + 1}-{k + n} dropped"
    return full[np.minimum(order, len(full) - 1)], Corruption("teleport", strength, variant, -1, k + 1, note)


def impossible_balance(scene, rng, strength):
    gt = scene.gt
    _, dyn = _gt_motion(gt)
    p = gt.position[0]
    t = scene.n_frames
    vx = np.zeros(p.shape[:2])
    vx[1:] = np.abs(np.diff(p[..., 0], axis=0)) / en.FRAME_DT
    touched = {}
    for a, b, f in zip(gt.event_a[0], gt.event_b[0], gt.event_frame[0], strict=True):
        for s in (int(a), int(b)):
            if s >= 0 and f >= 1:
                touched[s] = min(touched.get(s, t), int(f))
    cands = [
        (m, k) for m in np.flatnonzero(dyn) if m in touched
        for k in range(max(touched[m] + 1, _first(scene) + 1), t - 3)
        if vx[k, m] >= STOP_SPEED[strength] and np.linalg.norm(p[k + 3, m] - p[k, m]) > FREEZE_ROOM
    ]  # fmt: skip
    if not cands:
        return None
    m, k = cands[int(rng.integers(len(cands)))]
    pos, ang = gt.position.copy(), gt.angle.copy()
    pos[0, k:, m] = pos[0, k, m]
    ang[0, k:, m] = ang[0, k, m]
    note = f"slot {m} frozen from frame {k} (sideways {vx[k, m]:.0f} units/s, after a contact)"
    return _render(replace(gt, position=pos, angle=ang), scene.resolution), Corruption(
        "impossible_balance", strength, "freeze", int(m), int(k), note
    )


def time_reversal(scene, _rng, strength):
    gt = scene.gt
    sp, _ = _gt_motion(gt)
    t, n = scene.n_frames, LOOP[strength]
    total = sp.sum(axis=1)
    window = np.arange(_first(scene) + n + 1, t - 1)
    if not len(window) or total[window].max() <= 0:
        return None
    k = int(window[int(total[window].argmax())])
    order = [*range(k + 1), *range(k - 1, k - n - 1, -1), *range(k - n + 1, t)][:t]
    full = _render(gt, scene.resolution)
    note = f"frames {k - n}-{k - 1} played backwards after frame {k}, then forward again"
    return full[order], Corruption("time_reversal", strength, "loop", -1, k + 1, note)


# ------------------------------------------------------------------------------------ re-simulations
def _falling(gt: States) -> list[int]:
    """Dynamic slots in free fall at the start (down by at least 10 units by frame 3, at g)."""
    p = gt.position[0]
    out = []
    for m in np.flatnonzero(gt.present[0] & ~gt.static[0]):
        if p.shape[0] > 3 and p[0, m, 1] - p[3, m, 1] > 10.0:
            out.append(int(m))
    return out


def hovering(scene, rng, strength):
    cands = _falling(scene.gt)
    if not cands:
        return None
    m = cands[int(rng.integers(len(cands)))]
    s = _resim(scene, en.Overrides(gravity_scale=((m, GRAVITY_SCALE[strength]),)))
    if s is None:
        return None
    note = f"slot {m} re-simulated with gravity x{GRAVITY_SCALE[strength]}"
    return _render(s, scene.resolution), Corruption("hovering", strength, "gravity_scale", m, 0, note)


def _pairs(gt: States, both_dynamic: bool) -> list[tuple[int, int, int]]:
    dyn = gt.present[0] & ~gt.static[0]
    out = []
    for a, b, f in zip(gt.event_a[0], gt.event_b[0], gt.event_frame[0], strict=True):
        a, b, f = int(a), int(b), int(f)
        if a < 0 or f < 2 or f >= gt.n_frames:  # first frames: initial overlaps; events past the video
            continue
        if (dyn[a] and dyn[b]) if both_dynamic else (dyn[a] or dyn[b]):
            out.append((a, b, f))
    return out


def interpenetration(scene, rng, strength):
    if strength == "weak":
        return None  # no weaker form than one pair passing through (documented in the suite's summary)
    pairs = _pairs(scene.gt, both_dynamic=False)
    if not pairs:
        return None
    a, b, f = pairs[int(rng.integers(len(pairs)))]
    dyn = scene.gt.present[0] & ~scene.gt.static[0]
    if strength == "strong":
        m = a if dyn[a] else b
        ov, note = en.Overrides(no_collide=((m, -1),)), f"slot {m} collides with nothing"
        slot = m
    else:
        ov, note, slot = en.Overrides(no_collide=((a, b),)), f"slots {a} and {b} pass through each other", a
    s = _resim(scene, ov)
    if s is None:
        return None
    return _render(s, scene.resolution), Corruption("interpenetration", strength, "no_collide", slot, f, note)


def energy_gain(scene, _rng, strength):
    gt = scene.gt
    p = gt.position[0]
    dyn = np.flatnonzero(gt.present[0] & ~gt.static[0])
    if not len(dyn):
        return None
    drop = p[0, dyn, 1] - np.nanmin(p[:, dyn, 1], axis=0)
    m = int(dyn[int(np.argmax(drop))])
    s = _resim(scene, en.Overrides(restitution=((m, RESTITUTION[strength]),)))
    if s is None:
        return None
    note = f"slot {m} re-simulated with restitution {RESTITUTION[strength]}"
    return _render(s, scene.resolution), Corruption("energy_gain", strength, "restitution", m, 0, note)


def collision_response(scene, _rng, strength):
    """The first collision of two dynamic bodies whose amplified impulse moves the struck body visibly
    (RESPONSE_VISIBLE within RESPONSE_FRAMES of the contact): a gentle touch amplified stays invisible."""
    sp, _ = _gt_motion(scene.gt)
    for a, b, f in _pairs(scene.gt, both_dynamic=True):
        struck = b if sp[max(0, f - 1), b] <= sp[max(0, f - 1), a] else a
        other = a if struck == b else b
        s = _resim(scene, en.Overrides(impulse=(other, struck, IMPULSE[strength])))
        if s is None:
            continue
        w = slice(f, min(scene.n_frames, f + RESPONSE_FRAMES + 1))
        shift = np.nanmax(np.linalg.norm(s.position[0, w, struck] - scene.gt.position[0, w, struck], axis=-1))
        if shift >= RESPONSE_VISIBLE:
            break
    else:
        return None
    note = f"slot {struck} hit by slot {other} (frame {f}) gets x{IMPULSE[strength]} its velocity change"
    return _render(s, scene.resolution), Corruption(
        "collision_response", strength, "impulse", struck, f, note
    )


def controls(scene, rng) -> list[tuple[np.ndarray, Corruption]]:
    """The untouched ground truth and a re-simulation from the action moved by one scene unit."""
    out = [(_render(scene.gt, scene.resolution), Corruption("none", "gt", "gt", -1, -1, "untouched"))]
    for _ in range(8):
        axis, sign = int(rng.integers(2)), float(rng.choice([-1.0, 1.0]))
        act = scene.action.copy()
        act[axis] += sign * ACTION_STEP
        try:
            ball = check_action(list(scene.bodies), act)
        except InvalidAction:
            continue
        s = frames_of(en.simulate_scene(list(scene.bodies), ball, scene.n_frames), scene.n_frames)
        note = f"action {'xy'[axis]} {sign:+.0f} unit"
        out.append((_render(s, scene.resolution), Corruption("none", "perturbed", "action", -1, -1, note)))
        break
    return out


CORRUPTIONS = {
    "spontaneous_motion": spontaneous_motion,
    "static_moved": static_moved,
    "hovering": hovering,
    "interpenetration": interpenetration,
    "disappearance": disappearance,
    "appearance": appearance,
    "shape_change": shape_change,
    "color_change": color_change,
    "teleport": teleport,
    "energy_gain": energy_gain,
    "collision_response": collision_response,
    "impossible_balance": impossible_balance,
    "time_reversal": time_reversal,
}
