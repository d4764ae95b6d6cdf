"""The mechanism studies' datasets (SPEC B.6.1–B.6.3): velocity gaps, (v1, v2) and mass holes, memorisation.

Named, versioned splits registered per scenario (``study_splits``; ``sim.splits.get_split`` finds them):

* uniform motion, **gaps** (B.6.1, Fig. 5): training speeds only in the seen bands of a setting
  (``GAP_SETTINGS``: the removed bands [1.25, 3.75], [1.5, 3.5], [1.75, 3.25], [2.0, 3.0] and the
  reintroduced-range sets n = 3, n = 4). Every setting has the *same size* at each scale, as the paper says
  ("200K videos" each): ``GAP-NAME`` 200 r x 1,000 v = 200,000, ``-small`` 20,000, ``-tiny`` 2,000, the speeds
  spread over the seen bands in proportion to their widths. ``-release`` is the released generator's filter
  of the 300 r x 1,000 v grid instead (50,400 to 199,800 videos, B.6.1). Evaluation ``-eval`` (36 r x 120 v) and
  ``-eval-small`` (4 x 30) cover v in [1, 4], each video labelled ``seen`` (split "id") or ``gap`` ("ood").
* collision, **holes** (B.6.2, Fig. 6): the 1.6M base grid (61 v x 21 r per ball, B.6.2) without the removed
  boxes of a setting (``HOLE_SETTINGS``: centred squares, the L-shaped ``half`` set, three rectangles, the
  mass hole); ``-small`` (31 v x 6 r) and ``-tiny`` (13 v x 3 r) grids with the same holes. Evaluation grids
  (``-eval``, ``-eval-small``) label every video by where its point lies in the hole's plane: ``seen`` (in the
  training region), ``in_hull`` (not trained on, inside the convex hull of the training points) or
  ``out_of_hull``.
* uniform motion, **memorisation** (B.6.3, Fig. 7): ``memo-train`` v in [2.5, 4.0] (300 r x 1,000 v, the
  release's "baseline2" grid; ``-small``, ``-tiny``); Set-1 and Set-2 train on the same file, without and with
  horizontal flips (a training option). ``memo-eval``: ``low`` v in [1.0, 2.5) ("ood") and ``seen`` v in
  [2.5, 4.0] ("id").

Evaluation radii sit at interval midpoints, never on a training grid (checked by the tests), so no evaluation
parameter vector is a training vector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from phylaw.errors import PhylawError
from phylaw.sim import ranges as rg
from phylaw.sim.registry import PARAM_NAMES, check_scenario
from phylaw.sim.splits import Part, SplitDef, grid_minus_box

STUDY_VERSION = "1"
SEEN, GAP, IN_HULL, OUT_OF_HULL, LOW = "seen", "gap", "in_hull", "out_of_hull", "low"
HULL_EPS = 1e-9  # a point this close outside a hull facet (in plane units) counts as inside
EDGE_TOL = 1e-9  # an interval end, in parameter units: grid values within it are on the end


@dataclass(frozen=True)
class Interval:
    """A speed or radius interval [lo, hi]; ``lo_open`` / ``hi_open`` exclude an end."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            raise PhylawError(f"interval ({self.lo}, {self.hi}) is not finite")
        if not self.lo < self.hi:
            raise PhylawError(f"interval [{self.lo}, {self.hi}] is reversed or empty (needs lo < hi)")

    def contains(self, x: np.ndarray) -> np.ndarray:
        """Membership with a tolerance of ``EDGE_TOL`` at each end (linspace values such as 1.2000000000000002
        sit on the end they were meant to hit): a closed end takes values within it, an open end refuses them."""
        lo, hi = self.closed()
        x = np.asarray(x, np.float64)
        return (x >= lo) & (x <= hi)

    def closed(self) -> tuple[float, float]:
        """The closed interval of the values ``contains`` accepts (ends moved by ``EDGE_TOL``)."""
        lo = self.lo + EDGE_TOL if self.lo_open else self.lo - EDGE_TOL
        hi = self.hi - EDGE_TOL if self.hi_open else self.hi + EDGE_TOL
        return float(lo), float(hi)

    def values(self, n: int) -> np.ndarray:
        """n evenly spaced values in the interval (an open end is left out of the spacing)."""
        grid = np.linspace(self.lo, self.hi, n + int(self.lo_open) + int(self.hi_open))
        return grid[int(self.lo_open) : len(grid) - int(self.hi_open)]

    @property
    def width(self) -> float:
        return float(self.hi - self.lo)

    def text(self) -> str:
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


# ----------------------------------------------------------------------------------------------- gaps
@dataclass(frozen=True)
class GapSetting:
    """Uniform-motion training speeds only in ``bands`` (sorted, disjoint, inside ``v_range``)."""

    name: str
    bands: tuple[Interval, ...]
    v_range: tuple[float, float] = (1.0, 4.0)

    def __post_init__(self) -> None:
        lo, hi = self.v_range
        if not self.bands:
            raise PhylawError(
                f"gap setting {self.name!r}: no training band is left (the gap removes the whole range)"
            )
        for b in self.bands:
            if b.lo < lo or b.hi > hi:
                raise PhylawError(
                    f"gap setting {self.name!r}: band {b.text()} lies outside the range [{lo:g}, {hi:g}]"
                )
        for a, b in pairwise(self.bands):
            if b.lo < a.hi or (b.lo == a.hi and not (a.hi_open or b.lo_open)):
                raise PhylawError(
                    f"gap setting {self.name!r}: bands {a.text()} and {b.text()} overlap or are out of order"
                )

    def removed(self) -> tuple[Interval, ...]:
        """The speeds of ``v_range`` in no band (the gaps), as intervals."""
        out, start, start_open = [], self.v_range[0], False
        for b in self.bands:
            if b.lo > start:
                out.append(Interval(start, b.lo, start_open, not b.lo_open))
            start, start_open = b.hi, not b.hi_open
        if start < self.v_range[1]:
            out.append(Interval(start, self.v_range[1], start_open, False))
        return tuple(out)

    def label(self, v: np.ndarray) -> np.ndarray:
        """(n,) "seen" (in a band), "gap" (in the range, in no band) or "outside" (outside ``v_range``)."""
        v = np.asarray(v, np.float64)
        seen = np.zeros(v.shape, bool)
        for b in self.bands:
            seen |= b.contains(v)
        inside = (v >= self.v_range[0]) & (v <= self.v_range[1])
        return np.where(seen, SEEN, np.where(inside, GAP, "outside"))


def gap_setting(
    name: str, removed: list[tuple[float, float]], v_range: tuple[float, float] = (1.0, 4.0)
) -> GapSetting:
    """The setting whose training speeds are ``v_range`` without the closed intervals ``removed``.

    One-line PhylawError for a reversed or empty interval, overlapping intervals, an interval outside the range,
    or intervals that leave no training speed."""
    lo, hi = v_range
    for a, b in removed:
        if not float(a) < float(b):
            raise PhylawError(
                f"gap setting {name!r}: the gap [{a:g}, {b:g}] is reversed or empty (needs lo < hi)"
            )
    cuts = sorted((Interval(float(a), float(b)) for a, b in removed), key=lambda c: (c.lo, c.hi))
    for c in cuts:
        if c.hi < lo or c.lo > hi:
            raise PhylawError(
                f"gap setting {name!r}: the gap {c.text()} lies outside the range [{lo:g}, {hi:g}]"
            )
    for a, b in pairwise(cuts):
        if b.lo <= a.hi:
            raise PhylawError(f"gap setting {name!r}: gaps {a.text()} and {b.text()} overlap")
    bands, start, start_open = [], lo, False
    for c in cuts:
        if c.lo > start:
            bands.append(Interval(start, c.lo, start_open, True))
        start, start_open = max(start, c.hi), True
    if start < hi:
        bands.append(Interval(start, hi, start_open, False))
    return GapSetting(name, tuple(bands), v_range)


def _bands(name: str, *pairs: tuple[float, float]) -> GapSetting:
    return GapSetting(name, tuple(Interval(a, b) for a, b in pairs))


GAP_SETTINGS: dict[str, GapSetting] = {
    g.name: g
    for g in (
        gap_setting("gap-1.25-3.75", [(1.25, 3.75)]),
        gap_setting("gap-1.5-3.5", [(1.5, 3.5)]),
        gap_setting("gap-1.75-3.25", [(1.75, 3.25)]),
        gap_setting("gap-2.0-3.0", [(2.0, 3.0)]),
        _bands("gap-n3", (1.0, 1.25), (2.375, 2.625), (3.75, 4.0)),
        _bands("gap-n4", (1.0, 1.25), (1.875, 2.125), (2.875, 3.125), (3.75, 4.0)),
    )
}
# (radii, speeds) of the equal-size training sets; the paper's "200K videos" per setting at paper scale
GAP_SIZES: dict[str, tuple[int, int]] = {"": (200, 1000), "-small": (50, 400), "-tiny": (20, 100)}
RELEASE_GRID = (300, 1000)  # the released generator's 300K grid (B.6.1), filtered by the bands
GAP_EVAL: dict[str, tuple[int, int]] = {"-eval": (36, 120), "-eval-small": (4, 30)}


def split_counts(n: int, widths: list[float], minimum: int = 2) -> list[int]:
    """``n`` values dealt to intervals in proportion to their widths (largest remainders); PhylawError when an
    interval would get fewer than ``minimum``."""
    w = np.asarray(widths, np.float64)
    share = n * w / w.sum()
    counts = np.floor(share).astype(int)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    if counts.min() < minimum:
        raise PhylawError(f"{n} values give a band of width {w[counts.argmin()]:g} fewer than {minimum}")
    return counts.tolist()


def gap_train_speeds(setting: GapSetting, n_v: int) -> np.ndarray:
    """The training speeds of a gap setting: ``n_v`` values over its bands, in proportion to their widths."""
    counts = split_counts(n_v, [b.width for b in setting.bands])
    return np.concatenate([b.values(k) for b, k in zip(setting.bands, counts, strict=True)])


def _make(scenario: str, name: str, ranges: str, parts: list[Part], n_frames: int) -> SplitDef:
    return SplitDef(
        scenario, name, STUDY_VERSION, ranges, PARAM_NAMES[scenario], tuple(parts), n_frames=n_frames
    )


def gap_train(setting: GapSetting, size: str, ranges: str, n_frames: int) -> SplitDef:
    """A gap setting's training split: ``size`` "" / "-small" / "-tiny" (equal sizes) or "-release"."""
    r_id = rg.get_ranges(ranges, "uniform_motion").r_id
    if size == "-release":
        n_r, n_v = RELEASE_GRID
        v = np.linspace(*setting.v_range, n_v)
        v = v[setting.label(v) == SEEN]
    else:
        n_r, n_v = GAP_SIZES[size]
        v = gap_train_speeds(setting, n_v)
    part = Part("train", "train", (np.linspace(*r_id, n_r), v))
    return _make("uniform_motion", f"{setting.name}{size}", ranges, [part], n_frames)


def gap_eval(setting: GapSetting, size: str, ranges: str, n_frames: int) -> SplitDef:
    """Evaluation over v in the setting's range: "seen" (id) and "gap" (ood) videos."""
    n_r, n_v = GAP_EVAL[size]
    r = rg.id_midpoints(*rg.get_ranges(ranges, "uniform_motion").r_id, n_r)
    v = rg.id_midpoints(*setting.v_range, n_v)
    labels = setting.label(v)
    parts = [
        Part(split, lv, (r, v[labels == lv]))
        for split, lv in (("id", SEEN), ("ood", GAP))
        if (labels == lv).any()
    ]
    return _make("uniform_motion", f"{setting.name}{size}", ranges, parts, n_frames)


# ----------------------------------------------------------------------------------------------- memorisation
MEMO_TRAIN_V = (2.5, 4.0)
MEMO_TEST_V = (1.0, 2.5)
MEMO_SIZES: dict[str, tuple[int, int]] = {"": (300, 1000), "-small": (50, 400), "-tiny": (20, 100)}
MEMO_EVAL: dict[str, tuple[int, int, int]] = {"": (20, 40, 20), "-small": (4, 20, 10)}  # r, low v, seen v


def memo_train(size: str, ranges: str, n_frames: int) -> SplitDef:
    """Set-1 / Set-2 training videos: v in [2.5, 4.0] (flips are a training option, not data)."""
    n_r, n_v = MEMO_SIZES[size]
    r = np.linspace(*rg.get_ranges(ranges, "uniform_motion").r_id, n_r)
    part = Part("train", "train", (r, np.linspace(*MEMO_TRAIN_V, n_v)))
    return _make("uniform_motion", f"memo-train{size}", ranges, [part], n_frames)


def memo_eval(size: str, ranges: str, n_frames: int) -> SplitDef:
    """Low-speed tests v in [1.0, 2.5) ("low", ood) beside speeds of the training range ("seen", id)."""
    n_r, n_low, n_seen = MEMO_EVAL[size]
    r = rg.id_midpoints(*rg.get_ranges(ranges, "uniform_motion").r_id, n_r)
    parts = [Part("id", SEEN, (r, rg.id_midpoints(*MEMO_TRAIN_V, n_seen))),
             Part("ood", LOW, (r, rg.id_midpoints(*MEMO_TEST_V, n_low)))]  # fmt: skip
    return _make("uniform_motion", f"memo-eval{size}", ranges, parts, n_frames)


# ----------------------------------------------------------------------------------------------- holes
@dataclass(frozen=True)
class HoleSetting:
    """Collision training points without the ``boxes`` of the (a, b) ``plane`` (each box: an interval on a and
    one on b; points inside any box are removed)."""

    name: str
    plane: tuple[str, str]
    boxes: tuple[tuple[Interval, Interval], ...]

    def __post_init__(self) -> None:
        names = PARAM_NAMES["collision"]
        if len(self.plane) != 2 or not set(self.plane) <= set(names) or self.plane[0] == self.plane[1]:
            raise PhylawError(
                f"hole setting {self.name!r}: the plane must be two of {names}, got {self.plane}"
            )
        if not self.boxes:
            raise PhylawError(f"hole setting {self.name!r} removes nothing (no box)")

    def removed(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(n,) True where (a, b) lies in a removed box."""
        out = np.zeros(np.shape(a), bool)
        for ia, ib in self.boxes:
            out |= ia.contains(a) & ib.contains(b)
        return out


def _square(lo: float, hi: float) -> HoleSetting:
    return HoleSetting(f"hole-{lo}-{hi}", ("v1", "v2"), ((Interval(lo, hi), Interval(lo, hi)),))


_ABOVE = Interval(1.25, 4.0, lo_open=True)  # the half set keeps v1 <= 1.25 or v2 <= 1.25 (B.6.2)
HOLE_SETTINGS: dict[str, HoleSetting] = {
    h.name: h
    for h in (
        *(_square(lo, hi) for lo, hi in ((2.0, 3.0), (1.75, 3.25), (1.5, 3.5), (1.25, 3.75), (1.1, 3.9))),
        HoleSetting("hole-half", ("v1", "v2"), ((_ABOVE, _ABOVE),)),
        HoleSetting(
            "hole-three",
            ("v1", "v2"),
            (
                (Interval(1.2, 2.2), Interval(2.7, 3.7)),
                (Interval(2.7, 3.7), Interval(1.2, 2.2)),
                (Interval(2.9, 3.5), Interval(3.3, 3.9)),
            ),
        ),
        HoleSetting("hole-mass", ("r1", "r2"), ((Interval(0.8, 1.2), Interval(0.8, 1.2)),)),
    )
}
HOLE_GRIDS: dict[str, tuple[int, int]] = {
    "": (21, 61),
    "-small": (6, 31),
    "-tiny": (3, 13),
}  # (r, v) per ball


def hole_base(size: str, ranges: str) -> dict[str, np.ndarray]:
    """The base grid's value list of every collision parameter (r1, r2, v1, v2)."""
    n_r, n_v = HOLE_GRIDS[size]
    rset = rg.get_ranges(ranges, "collision")
    r, v = np.linspace(*rset.r_id, n_r), np.linspace(*rset.v_id, n_v)
    return {"r1": r, "r2": r, "v1": v, "v2": v}


def check_holes(setting: HoleSetting, base: dict[str, np.ndarray]) -> None:
    """One-line PhylawError when a box misses the base grid's extent or the boxes remove every grid point."""
    a, b = (base[n] for n in setting.plane)
    for ia, ib in setting.boxes:
        if ia.hi < a.min() or ia.lo > a.max() or ib.hi < b.min() or ib.lo > b.max():
            raise PhylawError(
                f"hole setting {setting.name!r}: the hole {setting.plane[0]} {ia.text()} x {setting.plane[1]} "
                f"{ib.text()} lies outside the grid [{a.min():g}, {a.max():g}] x [{b.min():g}, {b.max():g}]"
            )
    aa, bb = np.meshgrid(a, b, indexing="ij")
    if setting.removed(aa, bb).all():
        raise PhylawError(f"hole setting {setting.name!r} removes every point of the grid")


def train_plane_points(setting: HoleSetting, base: dict[str, np.ndarray]) -> np.ndarray:
    """(m, 2) the distinct (a, b) plane points of the training set."""
    aa, bb = np.meshgrid(base[setting.plane[0]], base[setting.plane[1]], indexing="ij")
    keep = ~setting.removed(aa, bb)
    return np.stack([aa[keep], bb[keep]], axis=1)


def hole_train(setting: HoleSetting, size: str, ranges: str, n_frames: int) -> SplitDef:
    """The base grid without the setting's boxes, as disjoint product-grid parts."""
    base = hole_base(size, ranges)
    check_holes(setting, base)
    parts: list[Part] = [Part("train", "train", tuple(base.values()), {}, tuple(base))]
    for ia, ib in setting.boxes:
        box = dict(zip(setting.plane, (ia.closed(), ib.closed()), strict=True))
        cut: list[Part] = []
        for p in parts:
            cut += grid_minus_box("train", "train", dict(zip(p.names, p.values, strict=True)), box)
        parts = cut
    return _make("collision", f"{setting.name}{size}", ranges, parts, n_frames)


# ----------------------------------------------------------------------------------------------- convex hull
@dataclass(frozen=True)
class Hull:
    """The convex hull of 2-D points: ``vertices`` (m, 2) counter-clockwise, ``equations`` (f, 3) with
    normal . x + offset <= 0 inside (scipy.spatial.ConvexHull)."""

    vertices: np.ndarray
    equations: np.ndarray

    def contains(self, points: np.ndarray, eps: float = HULL_EPS) -> np.ndarray:
        """(n,) True for points inside or on the hull (within ``eps``)."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        return (p @ self.equations[:, :2].T + self.equations[:, 2] <= eps).all(axis=1)


def convex_hull(points: np.ndarray) -> Hull:
    """The convex hull of (n, 2) points (PhylawError when they span no area: fewer than 3, or collinear)."""
    from scipy.spatial import ConvexHull, QhullError

    p = np.unique(np.asarray(points, np.float64).reshape(-1, 2), axis=0)
    if len(p) < 3:
        raise PhylawError(f"a convex hull needs 3 points that span an area, got {len(p)} distinct points")
    try:
        hull = ConvexHull(p)
    except QhullError:
        raise PhylawError("the training points are collinear: their convex hull has no area") from None
    return Hull(p[hull.vertices], hull.equations.copy())


def hull_labels(points: np.ndarray, train_points: np.ndarray) -> np.ndarray:
    """(n,) "seen" for a training plane point, "in_hull" inside the training hull, "out_of_hull" else."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    inside = convex_hull(train_points).contains(points)
    seen = (points[:, None, :] == np.asarray(train_points)[None, :, :]).all(-1).any(1)
    return np.where(seen, SEEN, np.where(inside, IN_HULL, OUT_OF_HULL))


def hole_labels(setting: HoleSetting, points: np.ndarray, base: dict[str, np.ndarray]) -> np.ndarray:
    """(n,) plane labels of evaluation points: "seen" inside the training grid's box and outside every hole
    (on the grid or between grid points), else "in_hull" / "out_of_hull" by the training points' hull."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    a, b = (base[n] for n in setting.plane)
    in_box = (
        (points[:, 0] >= a.min())
        & (points[:, 0] <= a.max())
        & (points[:, 1] >= b.min())
        & (points[:, 1] <= b.max())
    )
    seen = in_box & ~setting.removed(points[:, 0], points[:, 1])
    inside = convex_hull(train_plane_points(setting, base)).contains(points)
    return np.where(seen, SEEN, np.where(inside, IN_HULL, OUT_OF_HULL))


# evaluation grids: velocity holes (B.6.2: v1 in [0, 4.5], v2 in [1, 4]; radii at midpoints of the ID range),
# the mass hole (r1 in [0.5, 2.0], r2 in [0.5, 1.5]; speeds between the training grid's speeds)
HOLE_EVAL: dict[str, dict[str, tuple]] = {
    "-eval": {"v1": (0.0, 4.5, 21), "v2": (1.0, 4.0, 13), "r": 4},
    "-eval-small": {"v1": (0.0, 4.5, 10), "v2": (1.0, 4.0, 7), "r": 2},
}
MASS_EVAL: dict[str, dict[str, tuple]] = {
    "-eval": {"r1": (0.5, 2.0, 7), "r2": (0.5, 1.5, 5), "v": (12, None)},
    "-eval-small": {"r1": (0.5, 2.0, 7), "r2": (0.5, 1.5, 5), "v": (4, (1, 2))},  # 2 of 4 midpoints
}


def _eval_values(setting: HoleSetting, size: str, ranges: str) -> dict[str, np.ndarray]:
    rset = rg.get_ranges(ranges, "collision")
    if setting.plane == ("r1", "r2"):
        spec = MASS_EVAL[size]
        n, pick = spec["v"]
        v = rg.id_midpoints(*rset.v_id, n)
        v = v[list(pick)] if pick else v
        return {"r1": np.linspace(*spec["r1"]), "r2": np.linspace(*spec["r2"]), "v1": v, "v2": v}
    spec = HOLE_EVAL[size]
    r = rg.id_midpoints(*rset.r_id, spec["r"])
    return {"r1": r, "r2": r, "v1": np.linspace(*spec["v1"]), "v2": np.linspace(*spec["v2"])}


def hole_eval(setting: HoleSetting, size: str, ranges: str, n_frames: int, train_size: str = "") -> SplitDef:
    """The evaluation grid of a hole setting, one part per (plane value a, label): labels from the holes and
    the hull of the ``train_size`` training grid's plane points (the same hull at every training size)."""
    base = hole_base(train_size, ranges)
    check_holes(setting, base)
    values = _eval_values(setting, size, ranges)
    names = PARAM_NAMES["collision"]
    ia, ib = (names.index(n) for n in setting.plane)
    parts = []
    for a in values[setting.plane[0]]:
        b = values[setting.plane[1]]
        labels = hole_labels(setting, np.stack([np.full(len(b), a), b], axis=1), base)
        for label in (SEEN, IN_HULL, OUT_OF_HULL):
            sel = labels == label
            if sel.any():
                vals = [values[n] for n in names]
                vals[ia], vals[ib] = np.array([a]), b[sel]
                parts.append(Part("id" if label == SEEN else "ood", label, tuple(vals)))
    return _make("collision", f"{setting.name}{size}", ranges, parts, n_frames)


# ----------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class StudySplit:
    """What a registered study split is: its study ("gap" / "hole" / "memo"), setting name, role ("train" /
    "eval") and size suffix."""

    name: str
    scenario: str
    study: str
    setting: str
    role: str
    size: str
    build: Callable[[str, int], SplitDef]


def _registry() -> dict[str, StudySplit]:
    out: dict[str, StudySplit] = {}

    def add(name, scenario, study, setting, role, size, build):
        out[name] = StudySplit(name, scenario, study, setting, role, size, build)

    for g in GAP_SETTINGS.values():
        for size in (*GAP_SIZES, "-release"):
            add(f"{g.name}{size}", "uniform_motion", "gap", g.name, "train", size,
                lambda r, n, g=g, s=size: gap_train(g, s, r, n))  # fmt: skip
        for size in GAP_EVAL:
            add(f"{g.name}{size}", "uniform_motion", "gap", g.name, "eval", size,
                lambda r, n, g=g, s=size: gap_eval(g, s, r, n))  # fmt: skip
    for size in MEMO_SIZES:
        add(f"memo-train{size}", "uniform_motion", "memo", "memo", "train", size,
            lambda r, n, s=size: memo_train(s, r, n))  # fmt: skip
    for size in MEMO_EVAL:
        add(f"memo-eval{size}", "uniform_motion", "memo", "memo", "eval", size,
            lambda r, n, s=size: memo_eval(s, r, n))  # fmt: skip
    for h in HOLE_SETTINGS.values():
        for size in HOLE_GRIDS:
            add(f"{h.name}{size}", "collision", "hole", h.name, "train", size,
                lambda r, n, h=h, s=size: hole_train(h, s, r, n))  # fmt: skip
        for size in HOLE_EVAL:
            add(f"{h.name}{size}", "collision", "hole", h.name, "eval", size,
                lambda r, n, h=h, s=size: hole_eval(h, s, r, n))  # fmt: skip
    return out


STUDY_SPLITS: dict[str, StudySplit] = _registry()


def study_splits(scenario: str) -> dict[str, Callable[[str, int], SplitDef]]:
    """name -> constructor(ranges, n_frames) of the study splits of ``scenario`` (none for the others)."""
    check_scenario(scenario)
    return {s.name: s.build for s in STUDY_SPLITS.values() if s.scenario == scenario}


def study_split(name: str) -> StudySplit:
    """The registry entry of a study split (PhylawError naming the study splits otherwise)."""
    if name not in STUDY_SPLITS:
        raise PhylawError(f"{name!r} is not a study split; study splits: {', '.join(STUDY_SPLITS)}")
    return STUDY_SPLITS[name]
