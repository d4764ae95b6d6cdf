"""PHYRE's 14-feature vector per object and frame (SPEC_COMBINATORIAL A.7), and its inverse.

``features(states)`` is what the release stores in ``object_streams``; ``states_from_features(obj)`` rebuilds
``States`` (scenario ``phyre``, docs/phyre.md conventions) from it, the geometry of every body from its type
and diameter (SC A.2). Columns of the vector (W = H = 512 scene units):

====  ========================================================================================
0, 1  x / W, y / H of the body origin; for jars the area-weighted centre of mass instead, moved from the
      origin along the jar's rotated local +y axis by d: (x − d·sinθ) / W, y / H + d·cosθ / W (as PHYRE's
      ``finalize_featurized_objects`` does, with d rebuilt from the diameter)
2     angle wrapped to [0, 2π), divided by 2π
3     diameter / W (States store radius = diameter / 2 for every body, docs/phyre.md)
4-7   one-hot shape: ball (SHAPE_DISC), bar (SHAPE_BOX), jar (SHAPE_JAR), standing sticks (SHAPE_STICKS)
8-13  one-hot colour: red, green, blue, purple, gray, black (PHYRE's WAD colours 1-6, palette ids through
      ``render.palette.WAD_TO_PALETTE``); white and light red have no column (all six zero)
====  ========================================================================================

Absent slots (``present`` False) are NaN in every column. The inverse treats an object whose frame-0 row is
all NaN as absent. What the features cannot carry is rebuilt by convention: velocities by finite differences
over dt = 20/60 s (``np.gradient``: central inside, one-sided at the ends; zero for a one-frame video), the
angle as the wrapped angle moved to (−π, π] and unwrapped along time (equal to the engine's angle modulo 2π;
the same number for a body that starts in (−π, π] and turns less than π per frame), ``static`` = the
static colours of PHYRE's roles (black, and purple for the static goal object: the ambiguity floor bar), no
events, and ``in_view`` from the rebuilt outline.
"""

from __future__ import annotations

import math

import numpy as np

from phylaw.errors import PhylawError
from phylaw.render.palette import WAD_TO_PALETTE
from phylaw.sim.phyre import objects
from phylaw.sim.states import SHAPE_BOX, SHAPE_DISC, SHAPE_JAR, SHAPE_STICKS, States

SCENE = 512.0  # W = H, PHYRE scene units (SC A.1)
BAR_THICKNESS = SCENE / 50  # 10.24: bars, and (÷ 3 per half-extent) sticks (SC A.2)
FRAME_DT = 20 / 60  # seconds between stored frames (20 Box2D steps of 1/60 s, SC A.4)
N_FEATURES = 14
N_SLOTS = 14  # object slots of a phyre video (the most a template has, docs/phyre.md)
N_VERTICES = 14  # vertex rows of a phyre video: jar 3 x 4 + 2 NaN separators

X, Y, ANGLE, DIAMETER = 0, 1, 2, 3
SHAPE_COLUMNS = slice(4, 8)
COLOR_COLUMNS = slice(8, 14)
FEATURE_SHAPES: tuple[int, ...] = (SHAPE_DISC, SHAPE_BOX, SHAPE_JAR, SHAPE_STICKS)  # columns 4..7
FEATURE_WAD: tuple[int, ...] = (1, 2, 3, 4, 5, 6)  # WAD index of columns 8..13
FEATURE_PALETTE: tuple[int, ...] = tuple(WAD_TO_PALETTE[w] for w in FEATURE_WAD)
BLACK = WAD_TO_PALETTE[6]
# PHYRE's colour roles (SC A.6): static bodies are black, the static goal object purple (the ambiguity templates'
# floor bar, SC B.3); gray, blue, green and the red user ball are dynamic
STATIC_PALETTE: tuple[int, ...] = (BLACK, WAD_TO_PALETTE[4])
UNENCODED_COLOR = WAD_TO_PALETTE[0]  # the colour given to an object whose colour columns are all zero


# ----------------------------------------------------------------------------------------------- geometry
# The shapes themselves come from sim.phyre.objects (the engine's builders), so a rebuilt body has the same
# polygons, vertex order and half sizes as the engine's; this module only inverts the diameter formulas.


def bar_length(diameter: float) -> float:
    """Length L of a bar (or the L of standing sticks) whose diameter feature is √(L² + 10.24²)."""
    sq = float(diameter) ** 2 - BAR_THICKNESS**2
    if sq <= 0:
        raise PhylawError(
            f"a bar or sticks of diameter {diameter:.4g} is not longer than its thickness 10.24"
        )
    return math.sqrt(sq)


def jar_height(diameter: float) -> float:
    """Height h of a jar of diameter feature √(((w − b)/2 + b)² + h²) (SC A.2). w = h / 1.2 and b = 0.8·w are
    proportional to h, so the formula is D = h·√(0.75² + 1) = 1.25·h and h = D / 1.25 exactly."""
    h = float(diameter) / math.hypot(0.9 / 1.2, 1.0)
    if h <= 1:  # the wall thickness (ln h / ln(0.3·W))·W/50 needs ln h > 0
        raise PhylawError(f"a jar of diameter {diameter:.4g} (height {h:.4g}) is too small")
    return h


def _body(shape: int, diameter: float) -> objects.Body:
    """The engine's body (at the origin, unrotated) of a feature shape and diameter."""
    if shape == SHAPE_DISC:
        return objects.Body("ball", True, objects.GRAY, (0.0, 0.0), 0.0, (), diameter / 2, diameter)
    if shape == SHAPE_BOX:
        return objects.make_bar(bar_length(diameter) / SCENE, True)
    if shape == SHAPE_JAR:
        return objects.make_jar(jar_height(diameter) / SCENE, True)
    return objects.make_sticks(bar_length(diameter) / SCENE, True)


def jar_com_offset(h: float) -> float:
    """d: the jar's area-weighted centre of mass (its three parts' areas as weights) along its local +y axis
    from the body origin (the local x of the centre is 0 by symmetry)."""
    return float(objects.make_jar(h / SCENE, True).center_of_mass_local()[1])


def pack_polygons(
    polys: list[np.ndarray] | tuple[np.ndarray, ...], n_vertices: int = N_VERTICES
) -> np.ndarray:
    """(n_vertices, 2): the parts one after another, one NaN row between two parts, NaN-padded at the end."""
    rows: list[np.ndarray] = []
    for j, p in enumerate(polys):
        if j:
            rows.append(np.full((1, 2), np.nan))
        rows.append(np.asarray(p, np.float64))
    packed = np.concatenate(rows) if rows else np.zeros((0, 2))
    if len(packed) > n_vertices:
        raise PhylawError(f"{len(packed)} vertex rows do not fit {n_vertices}")
    return np.concatenate([packed, np.full((n_vertices - len(packed), 2), np.nan)])


def body_geometry(shape: int, diameter: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """half_size (2,) and the convex parts (body frame) of a body of one feature shape and diameter, as the
    engine stores them: balls (r, r) and no parts; bars (L/2, 5.12) and their rectangle; jars (three parts)
    and sticks (two) with half_size (d/2, d/2)."""
    if not np.isfinite(diameter) or diameter <= 0:
        raise PhylawError(f"diameter {diameter!r} must be a positive number")
    body = _body(shape, diameter)
    if shape == SHAPE_DISC:
        return np.array([body.radius, body.radius]), []
    if shape == SHAPE_BOX:
        p = body.polygons[0]
        return np.array([p[:, 0].max(), p[:, 1].max()]), [p]
    return np.array([diameter / 2, diameter / 2]), list(body.polygons)


# ----------------------------------------------------------------------------------------------- forward
def _jar_offsets(shape: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """(N, K) d of every jar slot (0 elsewhere)."""
    d = np.zeros(shape.shape)
    cache: dict[float, float] = {}  # the jars of a task's trials share one diameter
    for idx in zip(*np.nonzero(shape == SHAPE_JAR), strict=True):
        r = float(radius[idx])
        if r not in cache:
            cache[r] = jar_com_offset(jar_height(2 * r))
        d[idx] = cache[r]
    return d


def features(states: States) -> np.ndarray:
    """(N, T, K, 14) float32: PHYRE's feature vector of every slot and frame (module doc); absent slots NaN.

    PhylawError if a present slot has a shape with no feature column (only ball, bar, jar, sticks exist)."""
    n, t, k, _ = states.position.shape
    present = states.present.astype(bool)
    shape = states.shape.astype(int)
    known = np.isin(shape, FEATURE_SHAPES)
    if (present & ~known).any():
        i, j = (int(a[0]) for a in np.nonzero(present & ~known))
        raise PhylawError(
            f"video {i} slot {j} has shape id {shape[i, j]}, which PHYRE's features cannot encode "
            f"(ball, bar, jar, sticks: {FEATURE_SHAPES})"
        )
    out = np.zeros((n, t, k, N_FEATURES), np.float64)
    theta = states.angle.astype(np.float64)  # (N, T, K)
    d = _jar_offsets(np.where(present, shape, -1), states.radius)[:, None, :]  # (N, 1, K)
    out[..., X] = (states.position[..., 0] - d * np.sin(theta)) / SCENE
    out[..., Y] = states.position[..., 1] / SCENE + d * np.cos(theta) / SCENE
    out[..., ANGLE] = np.mod(theta, 2 * np.pi) / (2 * np.pi)
    out[..., DIAMETER] = (2 * states.radius / SCENE)[:, None, :]
    for c, s in enumerate(FEATURE_SHAPES):
        out[..., SHAPE_COLUMNS.start + c] = (shape == s)[:, None, :]
    for c, pid in enumerate(FEATURE_PALETTE):
        out[..., COLOR_COLUMNS.start + c] = (states.color.astype(int) == pid)[:, None, :]
    res = out.astype(np.float32)
    angle = res[..., ANGLE]
    angle[angle >= 1] = 0  # mod(-1e-12, 2π) / 2π rounds to 1: that angle is 0
    res[~np.broadcast_to(present[:, None, :], (n, t, k))] = np.nan
    return res


# ----------------------------------------------------------------------------------------------- inverse
def _one_hot(obj: np.ndarray, present: np.ndarray, cols: slice, what: str, allow_none: bool) -> np.ndarray:
    """(V, N) index of the hot column of every present object (-1: none, where allowed)."""
    block = obj[..., cols]  # (V, N, C)
    hot = block > 0.5
    counts = hot.sum(axis=-1)
    binary = np.isclose(block, 0, atol=1e-4) | np.isclose(block, 1, atol=1e-4)
    bad = present & ((counts > 1) | ((counts == 0) & (not allow_none)) | ~binary.all(axis=-1))
    if bad.any():
        v, j = (int(a[0]) for a in np.nonzero(bad))
        raise PhylawError(
            f"video {v} object {j}: the {what} columns {obj[v, j, cols].tolist()} are not one-hot"
        )
    return np.where(counts == 1, hot.argmax(axis=-1), -1)


def outline_in_view(
    position: np.ndarray, angle: np.ndarray, shape: np.ndarray, radius: np.ndarray, vertices: np.ndarray
) -> np.ndarray:
    """(N, T, K) bool: the body's rotated bounding box lies inside [0, W]² (docs/phyre.md); absent → False.

    position (N, T, K, 2), angle (N, T, K), shape/radius (N, K), vertices (N, K, V, 2) in the body frame."""
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]  # (N, T, K, 1)
    vx, vy = vertices[:, None, :, :, 0], vertices[:, None, :, :, 1]  # (N, 1, K, V)
    with np.errstate(invalid="ignore"):
        wx = position[..., 0:1] + c * vx - s * vy  # (N, T, K, V)
        wy = position[..., 1:2] + s * vx + c * vy
    has = np.isfinite(vertices[..., 0]).any(axis=-1)[:, None, :]  # (N, 1, K)
    disc = (shape == SHAPE_DISC)[:, None, :]
    r = radius[:, None, :]
    with np.errstate(invalid="ignore"):
        lo_x = np.where(disc, position[..., 0] - r, np.nanmin(np.where(has[..., None], wx, 0), axis=-1))
        hi_x = np.where(disc, position[..., 0] + r, np.nanmax(np.where(has[..., None], wx, 0), axis=-1))
        lo_y = np.where(disc, position[..., 1] - r, np.nanmin(np.where(has[..., None], wy, 0), axis=-1))
        hi_y = np.where(disc, position[..., 1] + r, np.nanmax(np.where(has[..., None], wy, 0), axis=-1))
        inside = (lo_x >= 0) & (hi_x <= SCENE) & (lo_y >= 0) & (hi_y <= SCENE)
    return inside & (disc | has)


def states_from_features(
    obj: np.ndarray,
    *,
    n_slots: int = N_SLOTS,
    n_vertices: int = N_VERTICES,
    dt: float = FRAME_DT,
) -> States:
    """States (scenario ``phyre``) of one video's features (T, N, 14) or of several (V, T, N, 14).

    Objects fill slots 0..N-1 in order (an all-NaN frame-0 row: an absent object), padded to ``n_slots``;
    geometry from shape + diameter (ball r = d/2; bar and sticks L = √(d² − 10.24²); jar h = d / 1.25);
    jar origins moved back from the centre of mass; static = black or purple; the rest as the module doc says. PhylawError (one line)
    for a wrong shape, a non-one-hot shape/colour, or a diameter that fits no body of its shape."""
    obj = np.asarray(obj, np.float64)
    if obj.ndim == 3:
        obj = obj[None]
    if obj.ndim != 4 or obj.shape[-1] != N_FEATURES:
        raise PhylawError(f"object features must have shape (T, N, 14) or (V, T, N, 14), got {obj.shape[1:]}")
    nv, t, n, _ = obj.shape
    if n > n_slots:
        raise PhylawError(f"{n} objects do not fit the {n_slots} object slots of a phyre video")
    if t < 1:
        raise PhylawError("object features hold no frames")
    first = obj[:, 0]  # (V, N, 14): type, size and colour do not change over time
    present = ~np.isnan(first).all(axis=-1)  # (V, N)
    vals = np.where(present[:, None, :, None], obj, 0.0)
    if not np.isfinite(vals).all():
        v, _, j = (int(a[0]) for a in np.nonzero(~np.isfinite(vals).all(axis=-1)))
        raise PhylawError(f"video {v} object {j}: features are not finite")
    f0 = vals[:, 0]
    shape_col = _one_hot(f0, present, SHAPE_COLUMNS, "shape", allow_none=False)
    shape_col = np.where(present, shape_col, 0)
    color_col = _one_hot(f0, present, COLOR_COLUMNS, "colour", allow_none=True)

    k, nvx = n_slots, n_vertices
    shape = np.zeros((nv, k), np.uint8)
    color = np.zeros((nv, k), np.uint8)
    radius = np.full((nv, k), np.nan)
    half = np.full((nv, k, 2), np.nan)
    verts = np.full((nv, k, nvx, 2), np.nan)
    offset = np.zeros((nv, k))
    pres = np.zeros((nv, k), bool)
    pres[:, :n] = present
    cache: dict[tuple[int, float], tuple[np.ndarray, np.ndarray, float]] = {}
    for v, j in zip(*np.nonzero(present), strict=True):
        s = FEATURE_SHAPES[int(shape_col[v, j])]
        diameter = float(f0[v, j, DIAMETER]) * SCENE
        key = (s, diameter)
        if key not in cache:
            try:
                hs, polys = body_geometry(s, diameter)
            except PhylawError as exc:
                raise PhylawError(f"video {v} object {j}: {exc}") from None
            d = jar_com_offset(jar_height(diameter)) if s == SHAPE_JAR else 0.0
            cache[key] = (hs, pack_polygons(polys, nvx) if polys else np.full((nvx, 2), np.nan), d)
        hs, packed, d = cache[key]
        shape[v, j], radius[v, j], half[v, j], verts[v, j], offset[v, j] = s, diameter / 2, hs, packed, d
        c = int(color_col[v, j])
        color[v, j] = FEATURE_PALETTE[c] if c >= 0 else UNENCODED_COLOR

    pad = ((0, 0), (0, 0), (0, k - n))
    turns = np.pad(vals[..., ANGLE], pad)  # (V, T, K) in [0, 1)
    turns = np.where(turns > 0.5, turns - 1, turns)  # (-π, π]: the range the templates draw angles from
    angle = np.unwrap(turns * 2 * np.pi, axis=1)
    d = offset[:, None, :]
    x = np.pad(vals[..., X], pad) * SCENE + d * np.sin(angle)
    y = np.pad(vals[..., Y], pad) * SCENE - d * np.cos(angle)
    position = np.stack([x, y], axis=-1)  # (V, T, K, 2)
    velocity = np.gradient(position, dt, axis=1) if t > 1 else np.zeros_like(position)
    absent = ~pres[:, None, :]
    for arr in (position, velocity, angle):
        arr[np.broadcast_to(absent, arr.shape[:3])] = np.nan
    in_view = outline_in_view(position, angle, shape, radius, verts)
    return States(
        scenario="phyre", position=position, velocity=velocity, radius=radius, color=color, shape=shape,
        in_view=in_view & ~absent, dt=dt, angle=angle, present=pres, half_size=half, vertices=verts,
        static=np.isin(color, STATIC_PALETTE) & pres, event_time=np.full((nv, 0), np.nan),
        event_frame=np.full((nv, 0), -1, np.int32), event_a=np.full((nv, 0), -1, np.int16),
        event_b=np.full((nv, 0), -1, np.int16),
    )  # fmt: skip
