"""PHYRE scene bodies: the Body record, PHYRE's shape geometry, the 8 object builders and the ambiguity layouts.

Facts: SPEC_COMBINATORIAL A.1-A.3 and B.3 (cited as SC), SPEC B.5 (object table) and B.6.6. Lengths are PHYRE
scene units (the 512-unit scene, y up, origin bottom-left); builders take sizes as PHYRE "scale" (a fraction of
the scene width) and positions as fractions of the scene. Every builder draws from the ``numpy.random.Generator``
it is given (the release used the unseeded global RNG; SC A.3), in the order the release's builder draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from phylaw.errors import PhylawError

SCENE = 512.0  # scene width = height (SC A.1)
W = H = SCENE
BAR_THICKNESS = SCENE / 50.0  # 10.24 for every bar scale (SC A.2)
WALL_THICKNESS = 5.0  # SC A.4
STICK_ANGLE_DEG = 77.5  # the two sticks are the base rectangle rotated by -77.5 and +77.5 degrees (SC A.2)

KINDS: tuple[str, ...] = ("ball", "bar", "jar", "sticks")  # PHYRE's featurised shapes, in feature order
WALL = "wall"  # the kind of the four boundary walls only (never featurised, never in a layout)

# PHYRE's WAD colour indices (SC A.6)
WHITE, RED, GREEN, BLUE, PURPLE, GRAY, BLACK, LIGHT_RED = range(8)
DYNAMIC_COLOR = GRAY
STATIC_COLOR = BLACK


@dataclass(frozen=True, eq=False)
class Body:
    """One rigid body of a PHYRE scene.

    kind       "ball", "bar", "jar" or "sticks" (and "wall" for the boundary walls only)
    dynamic    True for dynamic bodies, False for static ones
    color      PHYRE WAD colour index (0..7)
    position   (x, y) of the body origin in scene units (Box2D's body position, SC A.1)
    angle      radians, counter-clockwise
    polygons   convex polygons in the body frame, each a (V, 2) float64 array, counter-clockwise (none for balls)
    radius     the circle radius for balls (0 otherwise)
    diameter   PHYRE's "diameter" feature value (SC A.2)
    """

    kind: str
    dynamic: bool
    color: int
    position: tuple[float, float]
    angle: float
    polygons: tuple[np.ndarray, ...] = ()
    radius: float = 0.0
    diameter: float = 0.0

    # ------------------------------------------------------------------ geometry

    def world_vertices(self) -> np.ndarray:
        """(M, 2) every polygon vertex in scene coordinates (empty for balls)."""
        if not self.polygons:
            return np.zeros((0, 2))
        pts = np.concatenate(self.polygons)
        c, s = math.cos(self.angle), math.sin(self.angle)
        rot = np.array([[c, s], [-s, c]])  # row vectors: p @ rot = R p
        return pts @ rot + np.asarray(self.position, np.float64)

    def aabb(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) of the axis-aligned bounding box of the rotated shape (circles: +-r)."""
        x, y = self.position
        if self.kind == "ball":
            r = self.radius
            return x - r, x + r, y - r, y + r
        v = self.world_vertices()
        return float(v[:, 0].min()), float(v[:, 0].max()), float(v[:, 1].min()), float(v[:, 1].max())

    @property
    def area(self) -> float:
        """Area in scene units squared (the union of the convex parts; PHYRE's parts do not overlap)."""
        if self.kind == "ball":
            return math.pi * self.radius**2
        return float(sum(polygon_area(p) for p in self.polygons))

    def center_of_mass_local(self) -> np.ndarray:
        """(2,) the area-weighted centroid in the body frame (uniform density)."""
        if self.kind == "ball":
            return np.zeros(2)
        areas = np.array([polygon_area(p) for p in self.polygons])
        cents = np.array([polygon_centroid(p) for p in self.polygons])
        return (areas[:, None] * cents).sum(axis=0) / areas.sum()

    # ------------------------------------------------------------------ placement (SC A.3)

    def shifted(self, dx: float, dy: float) -> Body:
        return replace(self, position=(self.position[0] + dx, self.position[1] + dy))

    def with_angle_deg(self, degrees: float) -> Body:
        """PHYRE's ``set_angle``: degrees in, radians stored; rotation about the body origin."""
        return replace(self, angle=degrees / 180.0 * math.pi)

    def set_left(self, value: float) -> Body:
        return self.shifted(value - self.aabb()[0], 0.0)

    def set_right(self, value: float) -> Body:
        return self.shifted(value - self.aabb()[1], 0.0)

    def set_bottom(self, value: float) -> Body:
        return self.shifted(0.0, value - self.aabb()[2])

    def set_top(self, value: float) -> Body:
        return self.shifted(0.0, value - self.aabb()[3])

    def set_center_x(self, value: float) -> Body:
        left, right, _, _ = self.aabb()
        return self.set_left(value - (right - left) / 2.0)

    def set_center_y(self, value: float) -> Body:
        _, _, bottom, top = self.aabb()
        return self.set_bottom(value - (top - bottom) / 2.0)

    def placed(
        self,
        *,
        angle: float | None = None,
        left: float | None = None,
        right: float | None = None,
        top: float | None = None,
        bottom: float | None = None,
        center_x: float | None = None,
        center_y: float | None = None,
    ) -> Body:
        """PHYRE's ``add(..., **kw)``: the keywords are applied in the fixed order angle (degrees), left,
        right, top, bottom, center_x, center_y, each against the AABB of the (already rotated) shape."""
        b = self
        if angle is not None:
            b = b.with_angle_deg(angle)
        for value, setter in (
            (left, Body.set_left),
            (right, Body.set_right),
            (top, Body.set_top),
            (bottom, Body.set_bottom),
            (center_x, Body.set_center_x),
            (center_y, Body.set_center_y),
        ):
            if value is not None:
                b = setter(b, value)
        return b


def polygon_area(p: np.ndarray) -> float:
    """Signed shoelace area (positive for counter-clockwise vertices)."""
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def polygon_centroid(p: np.ndarray) -> np.ndarray:
    x, y = p[:, 0], p[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    a = cross.sum() / 2.0
    return np.array([((x + xn) * cross).sum(), ((y + yn) * cross).sum()]) / (6.0 * a)


# ---------------------------------------------------------------------- shapes at the origin (SC A.2)


def _rect(width: float, height: float) -> np.ndarray:
    """Centred rectangle, counter-clockwise from the top-right corner."""
    hw, hh = width / 2.0, height / 2.0
    return np.array([[hw, hh], [-hw, hh], [-hw, -hh], [hw, -hh]], np.float64)


def ball_radius(scale: float) -> float:
    """int(scale * W/2) + 0.5 (the 0.5 is PHYRE's rasterisation buffer)."""
    return int(scale * (W / 2.0)) + 0.5


def make_ball(scale: float, dynamic: bool, color: int | None = None) -> Body:
    r = ball_radius(scale)
    return Body("ball", dynamic, _color(dynamic, color), (0.0, 0.0), 0.0, (), r, 2.0 * r)


def make_bar(scale: float, dynamic: bool, color: int | None = None) -> Body:
    length = scale * W
    return Body(
        "bar", dynamic, _color(dynamic, color), (0.0, 0.0), 0.0, (_rect(length, BAR_THICKNESS),),
        0.0, math.hypot(length, BAR_THICKNESS),
    )  # fmt: skip


def jar_sizes(scale: float) -> tuple[float, float, float, float]:
    """(height h, top width w, base width b, wall thickness t) of a jar of ``scale`` (SC A.2)."""
    h = scale * W
    w = h / 1.2
    t = math.log(h) / math.log(0.3 * W) * W / 50.0
    return h, w, 0.8 * w, t


def jar_polygons(scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base slab (centred on the origin, b wide, t thick) and the two slanted walls, counter-clockwise."""
    h, w, b, t = jar_sizes(scale)
    base = _rect(b, t)
    run = (w - b) / 2.0
    hyp = math.hypot(h, run)
    cos_a, sin_a = run / hyp, h / hyp  # alpha: the wall's angle to the horizontal
    dx_bottom, dx_top, dy = t * sin_a, t / sin_a, t * cos_a
    rim, low = h - t / 2.0, -t / 2.0
    left = np.array(
        [[-w / 2, rim], [-b / 2, low], [-b / 2 + dx_bottom, dy + low], [-w / 2 + dx_top, rim]], np.float64
    )
    right = np.array(
        [[w / 2, rim], [w / 2 - dx_top, rim], [b / 2 - dx_bottom, dy + low], [b / 2, low]], np.float64
    )
    return base, left, right


def make_jar(scale: float, dynamic: bool, color: int | None = None) -> Body:
    h, w, b, _ = jar_sizes(scale)
    diameter = math.hypot((w - b) / 2.0 + b, h)
    return Body("jar", dynamic, _color(dynamic, color), (0.0, 0.0), 0.0, jar_polygons(scale), 0.0, diameter)


def sticks_polygons(scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A rectangle of half extents (L/3, 10.24/3) rotated by -77.5 and +77.5 degrees about the origin."""
    length = scale * W
    bar = _rect(2.0 * length / 3.0, 2.0 * BAR_THICKNESS / 3.0)
    out = []
    for deg in (-STICK_ANGLE_DEG, STICK_ANGLE_DEG):
        a = deg / 180.0 * math.pi
        c, s = math.cos(a), math.sin(a)
        out.append(bar @ np.array([[c, s], [-s, c]]))
    return out[0], out[1]


def make_sticks(scale: float, dynamic: bool, color: int | None = None) -> Body:
    length = scale * W
    return Body(
        "sticks", dynamic, _color(dynamic, color), (0.0, 0.0), 0.0, sticks_polygons(scale), 0.0,
        math.hypot(length, BAR_THICKNESS),
    )  # fmt: skip


def _color(dynamic: bool, color: int | None) -> int:
    return (DYNAMIC_COLOR if dynamic else STATIC_COLOR) if color is None else int(color)


def walls() -> tuple[Body, Body, Body, Body]:
    """The four static black boundary walls, 5 units thick, flush outside the scene (bottom, left, top, right;
    SC A.4). Corners are not closed."""
    t = WALL_THICKNESS

    def wall(width: float, height: float, x: float, y: float) -> Body:
        return Body(WALL, False, BLACK, (x, y), 0.0, (_rect(width, height),))

    return (
        wall(W, t, W / 2, -t / 2),
        wall(t, H, -t / 2, H / 2),
        wall(W, t, W / 2, H + t / 2),
        wall(t, H, W + t / 2, H / 2),
    )


# ---------------------------------------------------------------------- the 8 object builders (SPEC B.5, SC A.3)


def build_dynamic_ball(rng: np.random.Generator) -> list[Body]:
    """Gray ball: scale U(0.06, 0.12), center_x U(0.3, 0.6) W, bottom U(0.4, 0.85) H."""
    scale = rng.uniform(0.06, 0.12)
    x = rng.uniform(0.3, 0.6)
    height = rng.uniform(0.4, 0.85)
    return [make_ball(scale, True).placed(bottom=height * H, center_x=x * W)]


def static_ball_chain(rng: np.random.Generator) -> list[tuple[float, float]]:
    """The static-ball random walk (SPEC B.5 with the SC A.3 correction), in scene fractions.

    k = integer in [2, 6] further points are collected; the walk starts at (0.4, 0.55), which always
    becomes a ball. Each step: step length U(0.05, 0.2), heading += a per-segment turn U(0, 2pi/10) (initial
    heading U(0, 2pi)); from the third segment on, with probability 0.2 the walk instead restarts from a
    random earlier point with a new heading and turn. Only points with y < 0.5 are kept (a restart from such a
    point keeps it once more); the walk ends when k kept points lie strictly inside the unit square.
    """
    max_points = int(rng.integers(2, 7))
    angle = rng.random() * 2 * math.pi
    turn = rng.random() * 2 * math.pi / 10
    stars = [(0.4, 0.55)]
    line_length = 1
    n_valid = 0
    for _ in range(1_000_000):
        if n_valid >= max_points:
            return stars
        if line_length >= 3 and rng.random() < 0.2:
            x, y = stars[int(rng.integers(len(stars)))]
            line_length = 1
            angle = rng.random() * 2 * math.pi
            turn = rng.random() * 2 * math.pi / 10
        else:
            line_length += 1
            step = rng.uniform(0.05, 0.2)
            angle += turn
            x, y = stars[-1]
            x += step * math.cos(angle)
            y += step * math.sin(angle)
        if y >= 0.5:
            continue
        stars.append((x, y))
        if 0.0 < x < 1.0 and 0.0 < y < 1.0:
            n_valid += 1
    raise PhylawError("static-ball chain did not finish (a bug: the walk should end with probability 1)")


def build_static_balls(rng: np.random.Generator) -> list[Body]:
    """Group of 3..7 black balls of scale 0.04 at the chain's points inside the scene."""
    out = []
    for x, y in static_ball_chain(rng):
        if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0:
            out.append(make_ball(0.04, False).placed(center_x=W * x, center_y=H * y))
    return out


def build_dynamic_bar(rng: np.random.Generator) -> list[Body]:
    """Gray bar: scale U(0.15, 0.5), placed unrotated with center_x U(0.3, 0.6) W and bottom U(0.2, 0.8) H,
    then rotated by U(-90, 90) degrees about its centre (SC A.3)."""
    scale = rng.uniform(0.15, 0.5)
    x = rng.uniform(0.3, 0.6)
    y = rng.uniform(0.2, 0.8)
    angle = rng.uniform(-90, 90)
    return [make_bar(scale, True).set_center_x(x * W).set_bottom(y * H).with_angle_deg(angle)]


def build_dynamic_standing_bars(rng: np.random.Generator) -> list[Body]:
    """1..4 vertical gray bars on the floor, bar i of scale 0.2 + 0.05 i, left edge (offset + m idx) W."""
    offset = rng.uniform(0.45, 0.6)
    multiplier = 0.15
    if rng.random() < 0.5:
        multiplier, offset = -multiplier, 1.0 - offset
    n = int(rng.integers(1, 5))
    first = (-n) // 2
    return [
        make_bar(0.2 + 0.05 * i, True).placed(angle=90, bottom=0, left=(offset + multiplier * idx) * W)
        for i, idx in enumerate(range(first, first + n))
    ]


def build_static_bar(rng: np.random.Generator) -> list[Body]:
    """Black bar: scale U(0.2, 0.5), placed unrotated with bottom U(0.1, 0.5) H and right edge U(0.3, 0.4) W,
    then rotated by U(-60, 60) degrees about its centre (SC A.3)."""
    scale = rng.uniform(0.2, 0.5)
    y = rng.uniform(0.1, 0.5)
    angle = rng.uniform(-60, 60)
    x = rng.uniform(0.3, 0.4)
    return [make_bar(scale, False).set_right(x * W).set_bottom(y * H).with_angle_deg(angle)]


def build_dynamic_jar(rng: np.random.Generator) -> list[Body]:
    """Gray jar: scale U(0.08, 0.3), center_x U(0.3, 0.6) W; with probability 0.7 rotated U(-45, 45) degrees
    with its rotated AABB bottom at U(0.2, 0.8) H, otherwise upright on the floor."""
    scale = rng.uniform(0.08, 0.3)
    x = rng.uniform(0.3, 0.6)
    y = rng.uniform(0.2, 0.8)
    angle = rng.uniform(-45, 45)
    jar = make_jar(scale, True)
    if rng.random() < 0.7:
        return [jar.placed(angle=angle, bottom=y * H, center_x=x * W)]
    return [jar.placed(angle=0, bottom=0, center_x=x * W)]


def build_dynamic_sticks(rng: np.random.Generator) -> list[Body]:
    """Gray standing sticks: scale U(0.3, 0.6), center_x U(0.3, 0.6) W; with probability 0.3 upright on the
    floor, otherwise rotated U(-90, 90) degrees with its rotated AABB bottom at U(0.2, 0.5) H."""
    scale = rng.uniform(0.3, 0.6)
    x = rng.uniform(0.3, 0.6)
    y = rng.uniform(0.2, 0.5)
    angle = rng.uniform(-90, 90)
    sticks = make_sticks(scale, True)
    if rng.random() < 0.3:
        return [sticks.placed(bottom=0, center_x=x * W)]
    return [sticks.placed(angle=angle, bottom=y * H, center_x=x * W)]


# the 8 object types (SPEC B.5 short names) in the release's object_list order
OBJECT_BUILDERS = {
    "dball1": build_dynamic_ball,
    "dball2": build_dynamic_ball,  # the release's two ball builders are identical (ball_id is ignored)
    "sball": build_static_balls,
    "dbar": build_dynamic_bar,
    "dstandbars": build_dynamic_standing_bars,
    "sbar": build_static_bar,
    "djar": build_dynamic_jar,
    "dsticks": build_dynamic_sticks,
}


def build_object(name: str, rng: np.random.Generator) -> list[Body]:
    """The bodies of object type ``name`` (PhylawError naming the known types otherwise)."""
    if name not in OBJECT_BUILDERS:
        raise PhylawError(f"unknown PHYRE object type {name!r}; choose one of {', '.join(OBJECT_BUILDERS)}")
    return OBJECT_BUILDERS[name](rng)


# ---------------------------------------------------------------------- ambiguity layouts (SC B.3, SPEC B.6.6)

AMBIGUITY_TEMPLATES: tuple[int, ...] = (20000, 20001, 20002, 20003)


def ambiguity_layout(template: int, seed_value: int) -> list[Body]:
    """Layout of ambiguity template ``template`` for the release's seed value ``seed_value`` (20000/20001:
    0; 20002/20003: the MD5-ordered seed of the task, 0..99). Purple static floor bar, green dynamic ball of
    scale 0.1 resting on it with its left edge at 0.02 W, black static balls of scale 0.04 at y = 0.3 H."""
    s = int(seed_value)
    if template in (20000, 20001):
        xs = (0.4, 0.5) if template == 20000 else (0.4,)
    elif template == 20002:
        xs = (0.46 - s * 0.0005, 0.54 + s * 0.0005)
    elif template == 20003:
        xs = (0.4 + (s - 50) * 0.0001,)
    else:
        raise PhylawError(f"unknown ambiguity template {template}; choose one of {AMBIGUITY_TEMPLATES}")
    floor = make_bar(1.0, False, PURPLE).placed(left=0, bottom=0)
    ball = make_ball(0.1, True, GREEN).placed(left=0.02 * W, bottom=floor.aabb()[3])
    blocks = [make_ball(0.04, False).placed(center_x=W * x, center_y=H * 0.3) for x in xs]
    return [floor, ball, *blocks]


def ambiguity_actions(template: int) -> np.ndarray:
    """(n, 3) float64 the fixed action list of an ambiguity template (SPEC B.6.6): trial j = row j."""
    if template == 20000:
        r = np.linspace(0.20, 0.25, 101)
        return np.stack([np.full(101, 0.45), np.full(101, 0.46), r], axis=1)
    if template == 20001:
        x = np.linspace(0.39, 0.41, 101)
        return np.stack([x, np.full(101, 0.46), np.full(101, 0.2)], axis=1)
    if template == 20002:
        return np.array([[0.5, 0.5, 0.4]])
    if template == 20003:
        return np.array([[0.4, 0.5, 0.4]])
    raise PhylawError(f"unknown ambiguity template {template}; choose one of {AMBIGUITY_TEMPLATES}")
