"""The attribute-priority datasets (SPEC B.6.4, §5.3, App. E.2, E.3; Figs. 8, 9, 14–16) and the attribute-
composition datasets (issue 16 item 4), as named, versioned splits of scenario ``attribute_motion``.

**Pairs.** For a pair of attributes of {colour, shape, size, velocity}, each takes two disjoint value sets;
two of the four combinations are the training set, the other two the test set, so every test video asks the
model to keep one attribute of its condition and break the training's association with the other. The
training combinations (SPEC B.6.4 table):

    color-shape     red discs + blue squares (the v2 text; Fig. 8's caption says blue balls + red squares: the
                    paper is inconsistent, phylaw takes the text). Test: blue discs, red squares.
    size-shape      red discs r in [0.7, 1.05] + red squares r in (1.05, 1.4]; v in [1, 4]
    velocity-shape  red discs v in [1, 2.5] + red squares v in (2.5, 4]; r in [0.7, 1.4]
    color-size      red small discs + blue large discs; v in [1, 4]
    color-velocity  red slow discs + blue fast discs; r in [0.7, 1.4]
    size-velocity   red small slow discs + red large fast discs
    ring-ball       (App. E.3) red discs + blue rings; test red rings, blue discs. The paper's "ring (red) vs
                    ball (blue)" leaves the training pairing open; its result ("a red ring becomes either a red
                    ball or a blue ring") needs red balls and blue rings in training, so phylaw trains those.

The half ranges meet at 1.05 and 2.5; the upper set excludes its lower end, so the sets are disjoint (a value
on the boundary belongs to the lower set). Attributes outside the pair: red, disc, r in [0.7, 1.4], v in
[1, 4] (size-shape etc. as listed).

**Versions.** ``-bin``: the main text's binary version (§5.3): size and velocity take only their extremes,
r in {0.7, 1.4} and v in {1.0, 4.0}; ``-cont``: the released generators' continuous half ranges (App. E.2,
Fig. 14). Colour–shape and ring–ball have no size or velocity in the pair, so they have one version (no
suffix). A fixed size or speed takes more values of the free attribute instead (same number of videos); when
both are fixed (size-velocity-bin) the same parameter vector repeats with other placements.

**Red-only control** (Fig. 15): ``control-size`` and ``control-velocity`` are color-size-cont and
color-velocity-cont with every object red: the same sizes / speeds without an attribute in conflict; every
evaluation video is a training combination ("id"), labelled by its size / speed set.

**Composition** (issue 16 item 4): ``compose-velocity-size``: speed and size each in three bins (thirds of
[1, 4] and [0.7, 1.4]), the six off-diagonal combinations trained, the three diagonal ones held out (every
speed bin and every size bin is seen, with other partners); ``compose-color-size``: red / blue x three size
bins, (red, large) and (blue, small) held out.

**Autoencoder frames**: ``attr-all[-small|-tiny]``, every colour x shape over the whole ranges (no test
combination is new to an autoencoder trained on them): the shared VideoVAE of the attribute cells.

Names and sizes: ``attr-<pair>[-bin|-cont]`` (training: 150 x 1,000 per combination, 300,000 videos, the
release's level 1), ``-small`` (50 x 200: 20,000), ``-tiny`` (20 x 50: 2,000); evaluation ``-eval`` (the
release's eval grids, SPEC B.6.4; binary: 101 values of the free attribute per combination, the paper's 202
test cases) and ``-eval-small`` (4 x 8 midpoints per combination, or 32 of the free attribute). Composition:
``compose-<pair>`` (50,000 per combination), ``-small``, ``-tiny``, ``-eval``, ``-eval-small``. Every
evaluation video is labelled: split "id" (a training combination) or "ood" (a test / held-out combination),
level = the combination, e.g. ``blue-small``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product

import numpy as np

from phylaw.errors import PhylawError
from phylaw.sim import ranges as rg
from phylaw.sim.attributes import ATTRIBUTE_COLORS, ATTRIBUTE_SHAPES, SCENARIO
from phylaw.sim.registry import PARAM_NAMES
from phylaw.sim.splits import Part, SplitDef

ATTRIBUTE_VERSION = "1"
ATTRIBUTES = ("color", "shape", "size", "velocity")
CATEGORICAL = {"color": ATTRIBUTE_COLORS, "shape": ATTRIBUTE_SHAPES}
R_RANGE, V_RANGE = (0.7, 1.4), (1.0, 4.0)
R_SPLIT, V_SPLIT = 1.05, 2.5  # where the continuous halves meet
EDGE_TOL = 1e-9


@dataclass(frozen=True)
class ValueSet:
    """One value set of an attribute: a colour or shape (one id), one size / speed (``lo == hi``) or an
    interval [lo, hi] (``lo_open``: lo excluded)."""

    attribute: str
    name: str
    lo: float
    hi: float
    lo_open: bool = False

    def __post_init__(self) -> None:
        if self.attribute not in ATTRIBUTES:
            raise PhylawError(f"unknown attribute {self.attribute!r}; attributes are {', '.join(ATTRIBUTES)}")
        if not self.lo <= self.hi or (self.lo_open and self.lo == self.hi):
            raise PhylawError(f"value set {self.name!r} of {self.attribute}: [{self.lo}, {self.hi}] is empty")

    @property
    def point(self) -> bool:
        return self.lo == self.hi

    def values(self, n: int) -> np.ndarray:
        """n evenly spaced values (an open lo left out of the spacing); a point set: its one value."""
        if self.point:
            return np.array([self.lo])
        grid = np.linspace(self.lo, self.hi, n + int(self.lo_open))
        return grid[int(self.lo_open) :]

    def midpoints(self, n: int) -> np.ndarray:
        """n interval midpoints (never on a training linspace of an odd step count); a point: its value."""
        return np.array([self.lo]) if self.point else rg.id_midpoints(self.lo, self.hi, n)

    def contains(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        lo = self.lo + EDGE_TOL if self.lo_open else self.lo - EDGE_TOL
        return (x >= lo) & (x <= self.hi + EDGE_TOL)

    def overlaps(self, other: ValueSet) -> bool:
        lo, hi = max(self.lo, other.lo), min(self.hi, other.hi)
        if lo < hi:
            return True
        if lo > hi:
            return False
        ends_closed = [
            not (s.lo_open and s.lo == lo) and (s.lo <= lo <= s.hi) for s in (self, other)
        ]  # the shared end belongs to both
        return all(ends_closed)


def categorical(attribute: str, name: str) -> ValueSet:
    """The value set of one colour or shape by name (one-line error for an unknown one)."""
    table = CATEGORICAL[attribute]
    if name not in table:
        raise PhylawError(f"unknown {attribute} {name!r}; choose one of {', '.join(table)}")
    return ValueSet(attribute, name, float(table[name]), float(table[name]))


def _iv(attribute: str, name: str, lo: float, hi: float, lo_open: bool = False) -> ValueSet:
    return ValueSet(attribute, name, lo, hi, lo_open)


DEFAULTS: dict[str, ValueSet] = {
    "color": categorical("color", "red"),
    "shape": categorical("shape", "disc"),
    "size": _iv("size", "all", *R_RANGE),
    "velocity": _iv("velocity", "all", *V_RANGE),
}
HALVES: dict[str, tuple[ValueSet, ValueSet]] = {
    "size": (_iv("size", "small", R_RANGE[0], R_SPLIT), _iv("size", "large", R_SPLIT, R_RANGE[1], True)),
    "velocity": (_iv("velocity", "slow", V_RANGE[0], V_SPLIT), _iv("velocity", "fast", V_SPLIT, V_RANGE[1], True)),
}  # fmt: skip
EXTREMES: dict[str, tuple[ValueSet, ValueSet]] = {
    "size": (_iv("size", "small", 0.7, 0.7), _iv("size", "large", 1.4, 1.4)),
    "velocity": (_iv("velocity", "slow", 1.0, 1.0), _iv("velocity", "fast", 4.0, 4.0)),
}


@dataclass(frozen=True)
class AttributeSetting:
    """A pair (or composition) of attributes: each attribute's value sets, the trained combinations (value-set
    names, in ``attributes`` order) and the look / range of the attributes outside the pair."""

    name: str
    attributes: tuple[str, str]
    sets: tuple[tuple[ValueSet, ...], tuple[ValueSet, ...]]
    train: tuple[tuple[str, str], ...]
    fixed: dict[str, ValueSet] = field(default_factory=dict)
    kind: str = "pair"  # "pair" (conflict), "control" (no conflict) or "compose" (held-out combinations)
    eval_grid: tuple[int, int] = (11, 31)  # "-eval": values per interval (r, v) per combination

    def __post_init__(self) -> None:
        a, b = self.attributes
        for x in (a, b):
            if x not in ATTRIBUTES:
                raise PhylawError(
                    f"setting {self.name!r}: unknown attribute {x!r}; attributes are {ATTRIBUTES}"
                )
        if a == b:
            raise PhylawError(f"setting {self.name!r}: a pair needs two different attributes, got {a} twice")
        for attr, sets in zip(self.attributes, self.sets, strict=True):
            if len(sets) < 2 and self.kind != "control":
                raise PhylawError(f"setting {self.name!r}: {attr} needs at least two value sets")
            for i, s in enumerate(sets):
                if s.attribute != attr:
                    raise PhylawError(f"setting {self.name!r}: value set {s.name!r} is a {s.attribute} set")
                for t in sets[i + 1 :]:
                    if s.name == t.name or s.overlaps(t):
                        raise PhylawError(
                            f"setting {self.name!r}: the {attr} value sets {s.name!r} [{s.lo:g}, {s.hi:g}] and "
                            f"{t.name!r} [{t.lo:g}, {t.hi:g}] overlap"
                        )
        names = [tuple(s.name for s in sets) for sets in self.sets]
        for combo in self.train:
            if len(combo) != 2 or combo[0] not in names[0] or combo[1] not in names[1]:
                raise PhylawError(
                    f"setting {self.name!r}: training combination {combo} is not one of the sets"
                )
        if len(set(self.train)) != len(self.train) or (not self.test_combos() and self.kind != "control"):
            raise PhylawError(f"setting {self.name!r}: the training combinations leave no test combination")

    def combos(self) -> list[tuple[ValueSet, ValueSet]]:
        return list(product(*self.sets))

    def is_train(self, combo: tuple[ValueSet, ValueSet]) -> bool:
        return (combo[0].name, combo[1].name) in self.train

    def test_combos(self) -> list[tuple[ValueSet, ValueSet]]:
        return [c for c in self.combos() if not self.is_train(c)]

    def look(self, combo: tuple[ValueSet, ValueSet]) -> dict[str, ValueSet]:
        """The value set of every attribute for one combination."""
        out = {**DEFAULTS, **self.fixed}
        out.update(dict(zip(self.attributes, combo, strict=True)))
        return out


def level_name(combo: tuple[ValueSet, ValueSet]) -> str:
    return f"{combo[0].name}-{combo[1].name}"


def attribute_pair(
    name: str,
    a: str,
    b: str,
    sets_a: tuple[ValueSet, ...],
    sets_b: tuple[ValueSet, ...],
    train: tuple[tuple[str, str], ...],
    **kw,
) -> AttributeSetting:
    """A setting from its parts (one-line errors: an unknown attribute, one attribute twice, overlapping value
    sets, a training combination that is not one of the sets, no test combination left)."""
    return AttributeSetting(name, (a, b), (tuple(sets_a), tuple(sets_b)), tuple(train), **kw)


def _cat(attribute: str, *names: str) -> tuple[ValueSet, ...]:
    return tuple(categorical(attribute, n) for n in names)


def _pair_settings() -> dict[str, AttributeSetting]:
    out = {}

    def add(s: AttributeSetting) -> None:
        out[s.name] = s

    color, disc_square = _cat("color", "red", "blue"), _cat("shape", "disc", "square")
    add(attribute_pair("color-shape", "color", "shape", color, disc_square, (("red", "disc"), ("blue", "square")),
                       eval_grid=(20, 35)))  # fmt: skip
    add(attribute_pair("ring-ball", "color", "shape", color, _cat("shape", "disc", "ring"),
                       (("red", "disc"), ("blue", "ring")), eval_grid=(20, 35)))  # fmt: skip
    for version, table in (("bin", EXTREMES), ("cont", HALVES)):
        size, vel = table["size"], table["velocity"]
        add(attribute_pair(f"size-shape-{version}", "size", "shape", size, disc_square,
                           (("small", "disc"), ("large", "square")), eval_grid=(5, 31)))  # fmt: skip
        add(attribute_pair(f"velocity-shape-{version}", "velocity", "shape", vel, disc_square,
                           (("slow", "disc"), ("fast", "square")), eval_grid=(11, 16)))  # fmt: skip
        add(attribute_pair(f"color-size-{version}", "color", "size", color, size,
                           (("red", "small"), ("blue", "large")), eval_grid=(11, 31)))  # fmt: skip
        add(attribute_pair(f"color-velocity-{version}", "color", "velocity", color, vel,
                           (("red", "slow"), ("blue", "fast")), eval_grid=(36, 11)))  # fmt: skip
        add(attribute_pair(f"size-velocity-{version}", "size", "velocity", size, vel,
                           (("small", "slow"), ("large", "fast")), eval_grid=(20, 20)))  # fmt: skip
    red = _cat("color", "red")
    add(attribute_pair("control-size", "color", "size", red, HALVES["size"], (("red", "small"), ("red", "large")),
                       kind="control", eval_grid=(11, 31)))  # fmt: skip
    add(attribute_pair("control-velocity", "color", "velocity", red, HALVES["velocity"],
                       (("red", "slow"), ("red", "fast")), kind="control", eval_grid=(36, 11)))  # fmt: skip
    return out


def _thirds(attribute: str, lo: float, hi: float, names: tuple[str, str, str]) -> tuple[ValueSet, ...]:
    edges = np.linspace(lo, hi, 4)
    return tuple(_iv(attribute, n, float(edges[i]), float(edges[i + 1]), i > 0) for i, n in enumerate(names))


def _compose_settings() -> dict[str, AttributeSetting]:
    vel = _thirds("velocity", *V_RANGE, ("slow", "medium", "fast"))
    size = _thirds("size", *R_RANGE, ("small", "medium", "large"))
    vs = [(a.name, b.name) for a, b in product(vel, size)]
    cs = [(a, b.name) for a, b in product(("red", "blue"), size)]
    return {
        "compose-velocity-size": attribute_pair(
            "compose-velocity-size",
            "velocity",
            "size",
            vel,
            size,
            tuple(c for i, c in enumerate(vs) if i % 4 != 0),
            kind="compose",
            eval_grid=(10, 20),
        ),
        "compose-color-size": attribute_pair(
            "compose-color-size",
            "color",
            "size",
            _cat("color", "red", "blue"),
            size,
            tuple(c for c in cs if c not in (("red", "large"), ("blue", "small"))),
            kind="compose",
            eval_grid=(10, 20),
        ),
    }


PAIR_SETTINGS: dict[str, AttributeSetting] = _pair_settings()
COMPOSE_SETTINGS: dict[str, AttributeSetting] = _compose_settings()
SETTINGS: dict[str, AttributeSetting] = {**PAIR_SETTINGS, **COMPOSE_SETTINGS}

# training (values per interval of r, of v) per combination; composition per combination
TRAIN_SIZES: dict[str, tuple[int, int]] = {"": (150, 1000), "-small": (50, 200), "-tiny": (20, 50)}
COMPOSE_SIZES: dict[str, tuple[int, int]] = {"": (100, 500), "-small": (20, 170), "-tiny": (10, 34)}
EVAL_SMALL = (4, 8)  # "-eval-small": midpoints per interval (r, v) per combination
BINARY_EVAL = {"-eval": 101, "-eval-small": 32}  # values of the free attribute when the other is fixed


def get_setting(name: str) -> AttributeSetting:
    """A registered pair / composition setting (one-line error naming the known ones otherwise)."""
    if name not in SETTINGS:
        raise PhylawError(f"unknown attribute pair {name!r}; known: {', '.join(SETTINGS)}")
    return SETTINGS[name]


def _axes(look: dict[str, ValueSet], n_r: int, n_v: int, take: str) -> tuple[np.ndarray, np.ndarray]:
    """The r and v value lists of one combination (``take``: "values" (linspace) or "midpoints"); a fixed r
    or v hands its count to the other, both fixed repeat the vector n_r * n_v times."""
    size, vel = look["size"], look["velocity"]
    pick = lambda s, n: getattr(s, take)(n)  # noqa: E731
    if size.point and vel.point:
        return np.full(n_r * n_v, size.lo), np.array([vel.lo])
    if size.point:
        return np.array([size.lo]), pick(vel, n_r * n_v)
    if vel.point:
        return pick(size, n_r * n_v), np.array([vel.lo])
    return pick(size, n_r), pick(vel, n_v)


def _part(setting: AttributeSetting, combo, split: str, n_r: int, n_v: int, take: str) -> Part:
    look = setting.look(combo)
    r, v = _axes(look, n_r, n_v, take)
    return Part(split, level_name(combo), (r, v, np.array([look["color"].lo]), np.array([look["shape"].lo])))


def _split(name: str, ranges: str, parts: list[Part], n_frames: int) -> SplitDef:
    return SplitDef(SCENARIO, name, ATTRIBUTE_VERSION, ranges, PARAM_NAMES[SCENARIO], tuple(parts),
                    n_frames=n_frames)  # fmt: skip


def attribute_train(setting: AttributeSetting, size: str, ranges: str, n_frames: int) -> SplitDef:
    """The training combinations of ``setting`` at size "" / "-small" / "-tiny"."""
    n_r, n_v = (COMPOSE_SIZES if setting.kind == "compose" else TRAIN_SIZES)[size]
    parts = [_part(setting, c, "train", n_r, n_v, "values") for c in setting.combos() if setting.is_train(c)]
    return _split(f"{_prefix(setting)}{size}", ranges, parts, n_frames)


def attribute_eval(setting: AttributeSetting, size: str, ranges: str, n_frames: int) -> SplitDef:
    """Every combination of ``setting``: trained ones "id", test / held-out ones "ood" (level: the combo)."""
    parts = []
    for c in setting.combos():
        look = setting.look(c)
        fixed = look["size"].point or look["velocity"].point
        if size == "-eval":
            n_r, n_v = (BINARY_EVAL[size], 1) if fixed else setting.eval_grid
            take = "values"
        else:
            n_r, n_v = (BINARY_EVAL[size], 1) if fixed else EVAL_SMALL
            take = "midpoints"
        parts.append(_part(setting, c, "id" if setting.is_train(c) else "ood", n_r, n_v, take))
    return _split(f"{_prefix(setting)}{size}", ranges, parts, n_frames)


ALL_PREFIX = "attr-all"


def attribute_all(size: str, ranges: str, n_frames: int) -> SplitDef:
    """``attr-all[-small|-tiny]``: every colour x every shape over the whole size and speed ranges (the
    composition sizes per combination: 6 x 340 = 2,040 videos at ``-tiny``). No cell trains its DiT on it: it
    is the frames of the autoencoder shared by every attribute cell of a scale, which has seen every
    combination, as the paper's pretrained VAE had (a VAE fitted to a cell's two training combinations
    re-colours and re-shapes the test combinations by itself). Level: ``<colour>-<shape>``."""
    n_r, n_v = COMPOSE_SIZES[size]
    r, v = DEFAULTS["size"].values(n_r), DEFAULTS["velocity"].values(n_v)
    parts = [Part("train", f"{color}-{shape}", (r, v, np.array([float(c)]), np.array([float(k)])))
             for color, c in ATTRIBUTE_COLORS.items() for shape, k in ATTRIBUTE_SHAPES.items()]  # fmt: skip
    return _split(f"{ALL_PREFIX}{size}", ranges, parts, n_frames)


def _prefix(setting: AttributeSetting) -> str:
    return setting.name if setting.kind == "compose" else f"attr-{setting.name}"


# ----------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class AttributeSplit:
    """A registered attribute split: its setting, role ("train" / "eval") and size suffix."""

    name: str
    setting: str  # "" for attr-all (every combination, no setting)
    role: str  # "train", "eval" or "autoencoder" (attr-all)
    size: str
    build: Callable[[str, int], SplitDef]


def _registry() -> dict[str, AttributeSplit]:
    out: dict[str, AttributeSplit] = {}
    for s in SETTINGS.values():
        sizes = COMPOSE_SIZES if s.kind == "compose" else TRAIN_SIZES
        for size in sizes:
            name = f"{_prefix(s)}{size}"
            out[name] = AttributeSplit(name, s.name, "train", size,
                                       lambda r, n, s=s, z=size: attribute_train(s, z, r, n))  # fmt: skip
        for size in ("-eval", "-eval-small"):
            name = f"{_prefix(s)}{size}"
            out[name] = AttributeSplit(name, s.name, "eval", size,
                                       lambda r, n, s=s, z=size: attribute_eval(s, z, r, n))  # fmt: skip
    for size in COMPOSE_SIZES:
        name = f"{ALL_PREFIX}{size}"
        out[name] = AttributeSplit(name, "", "autoencoder", size, lambda r, n, z=size: attribute_all(z, r, n))
    return out


ATTRIBUTE_SPLITS: dict[str, AttributeSplit] = _registry()


def attribute_splits(scenario: str) -> dict[str, Callable[[str, int], SplitDef]]:
    """name -> constructor(ranges, n_frames) of the attribute splits (only scenario attribute_motion has them)."""
    if scenario != SCENARIO:
        return {}
    return {s.name: s.build for s in ATTRIBUTE_SPLITS.values()}


def attribute_split(name: str) -> AttributeSplit:
    """The registry entry of an attribute split (one-line error otherwise)."""
    if name not in ATTRIBUTE_SPLITS:
        raise PhylawError(
            f"{name!r} is not an attribute split; e.g. {', '.join(list(ATTRIBUTE_SPLITS)[:6])}, ..."
        )
    return ATTRIBUTE_SPLITS[name]


def combo_of(params: np.ndarray, setting: AttributeSetting) -> list[str]:
    """The combination (level name) of each parameter row (n, 4) = [r, v, color, shape] under ``setting``;
    "" for a row in no combination."""
    p = np.asarray(params, np.float64)
    col = {"size": p[:, 0], "velocity": p[:, 1], "color": p[:, 2], "shape": p[:, 3]}
    out = np.full(len(p), "", dtype=object)
    for combo in setting.combos():
        hit = np.ones(len(p), bool)
        for attr, vs in zip(setting.attributes, combo, strict=True):
            hit &= vs.contains(col[attr])
        out[hit & (out == "")] = level_name(combo)
    return out.tolist()
