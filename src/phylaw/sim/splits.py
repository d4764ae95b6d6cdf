"""Named, versioned split definitions: which parameter vectors a dataset holds, in which order, with labels.

A split is a list of product grids ("parts"), each with a split label ("train" / "id" / "ood") and a level
name. Row i of a split is part-row ``perm(i)`` of the concatenated parts, where ``perm`` is a keyed
pseudo-random bijection of [0, N) (a Feistel network with cycle walking): any prefix is a representative
subset, and any slice of rows is computed in O(slice) without materialising a 3M-row permutation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product

import numpy as np

from phylaw.errors import PhylawError
from phylaw.seeding import child_rng, derive_seed
from phylaw.sim import ranges as rg
from phylaw.sim.kinematics import frame_times
from phylaw.sim.registry import (
    N_UNIFORMS,
    PARAM_NAMES,
    check_scenario,
    get_scenario,
    simulate_uniforms,
    validate_params,
)
from phylaw.sim.states import States

SPLIT_VERSION = "1"
BLOCK = 4096  # generate(): placement randomness is drawn per block of this many row indices
SPLIT_LABELS = ("train", "id", "ood")


@dataclass(frozen=True)
class Labels:
    """Per-video labels: split ("train" / "id" / "ood"), level (e.g. "train", "id", "v_ood") and row index."""

    split: np.ndarray  # (n,) str
    level: np.ndarray  # (n,) str
    index: np.ndarray  # (n,) int64


@dataclass(frozen=True)
class Batch:
    """Rows [start, stop) of a split: parameters, states (``trajectories``, the old name) and labels.

    ``extras``: per-video arrays a seeded simulator returns beside the states (phyre: ``"action"`` (n, 3)),
    stored by the dataset file as ``extras/<name>``.
    """

    params: np.ndarray  # (n, P) float64
    param_names: tuple[str, ...]
    trajectories: States
    labels: Labels
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def states(self) -> States:
        return self.trajectories


APPEARANCE = ("color", "shape")  # the attributes a part may set (States.with_appearance)


@dataclass(frozen=True, eq=False)
class Part:
    """One product grid of a split: every combination of the per-parameter value lists (C order).

    ``attributes``: appearance of the part's videos, ``{"color": ids, "shape": ids}`` with one palette id /
    shape id (or name: "blue", "square") per object slot, or one for every slot; applied in
    ``SplitDef.generate`` through ``States.with_appearance``. ``names``: the parameter name of each value list
    when they are not in the scenario's order (``union_split`` reorders them); None means the scenario's order.
    """

    split: str
    level: str
    values: tuple[np.ndarray, ...]  # one 1-D float64 array per parameter
    attributes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "values", tuple(np.atleast_1d(np.asarray(v, np.float64)) for v in self.values)
        )
        for v in self.values:
            if v.ndim != 1:
                raise PhylawError(f"level {self.level!r}: value lists must be 1-D, got shape {v.shape}")
        if self.names is not None and len(self.names) != len(self.values):
            raise PhylawError(
                f"level {self.level!r}: {len(self.names)} names for {len(self.values)} value lists"
            )
        object.__setattr__(self, "attributes", _appearance(self.level, self.attributes))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.values)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _appearance(level: str, attributes: dict | None) -> dict[str, tuple[int, ...]]:
    """``attributes`` with names turned into ids (PhylawError for unknown keys, names or ids)."""
    from phylaw.render.palette import COLORS, color_id
    from phylaw.sim.states import SHAPE_IDS

    out = {}
    for key, value in dict(attributes or {}).items():
        if key not in APPEARANCE:
            raise PhylawError(
                f"level {level!r}: unknown attribute {key!r}; a part may set {', '.join(APPEARANCE)}"
            )
        items = (value,) if isinstance(value, str | int | np.integer) else tuple(value)
        ids = []
        for item in items:
            if isinstance(item, str):
                if key == "color":
                    ids.append(color_id(item))
                elif item in SHAPE_IDS:
                    ids.append(SHAPE_IDS[item])
                else:
                    raise PhylawError(
                        f"level {level!r}: unknown shape {item!r}; choose one of {', '.join(SHAPE_IDS)}"
                    )
            else:
                known = COLORS if key == "color" else set(SHAPE_IDS.values())
                if int(item) not in known:
                    raise PhylawError(f"level {level!r}: unknown {key} id {item}; ids are {sorted(known)}")
                ids.append(int(item))
        if not ids:
            raise PhylawError(f"level {level!r}: attribute {key!r} has no value")
        out[key] = tuple(ids)
    return out


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def permute(index: np.ndarray, n: int, key: int) -> np.ndarray:
    """A keyed pseudo-random bijection of [0, n), applied elementwise to ``index`` (int64 array)."""
    half = max(1, (max(n - 1, 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half) - 1)
    keys = [np.uint64(derive_seed(key, r)) for r in range(4)]

    def feistel(x: np.ndarray) -> np.ndarray:
        left, right = x >> np.uint64(half), x & mask
        for k in keys:
            left, right = right, left ^ (_mix64(right ^ k) & mask)
        return (left << np.uint64(half)) | right

    y = feistel(np.asarray(index, dtype=np.uint64))
    out = y >= np.uint64(n)
    while out.any():  # cycle walking: the domain 4^half is < 4n, so a few rounds at most
        y[out] = feistel(y[out])
        out = y >= np.uint64(n)
    return y.astype(np.int64)


@dataclass(frozen=True, eq=False)
class SplitDef:
    """A named, versioned set of parameter vectors for one scenario (see module docstring)."""

    scenario: str
    name: str
    version: str
    ranges: str
    param_names: tuple[str, ...]
    parts: tuple[Part, ...] = field(repr=False)
    shuffle: bool = True
    n_frames: int = 32

    def __post_init__(self) -> None:
        sc = get_scenario(self.scenario)
        frame_times(self.n_frames)  # PhylawError unless >= 1
        if sc.max_frames is not None and self.n_frames > sc.max_frames:
            raise PhylawError(
                f"{self.scenario} videos have at most {sc.max_frames} frames, got {self.n_frames}"
            )
        if tuple(self.param_names) != PARAM_NAMES[self.scenario]:
            raise PhylawError(
                f"{self.scenario} parameters are {PARAM_NAMES[self.scenario]}, got {self.param_names}"
            )
        n_objects = get_scenario(self.scenario).n_objects
        for part in self.parts:
            if len(part.values) != len(self.param_names) or part.names not in (None, self.param_names):
                raise PhylawError(
                    f"split {self.name!r} level {part.level!r}: needs one value list per parameter, in the order "
                    f"{self.param_names} (union_split reorders named parts)"
                )
            for key, ids in part.attributes.items():
                if len(ids) not in (1, n_objects):
                    raise PhylawError(
                        f"split {self.name!r} level {part.level!r}: attribute {key!r} needs 1 or {n_objects} ids "
                        f"(one per object), got {len(ids)}"
                    )
            if part.split not in SPLIT_LABELS:
                raise PhylawError(f"split label {part.split!r} is not one of {SPLIT_LABELS}")
            if part.size == 0:
                raise PhylawError(f"split {self.name!r} level {part.level!r} is empty")
            # every kinematic check is monotone per coordinate, so the grid's corners cover it; a scenario
            # with its own rule (phyre: known templates, per-template task and trial counts) gets every value
            # of its short axes and the ends of its long ones
            corners = np.array(list(product(*[
                v if sc.check_params is not None and len(v) <= 128 else (np.min(v), np.max(v))
                for v in part.values
            ])))  # fmt: skip
            try:
                validate_params(self.scenario, corners)
            except PhylawError as exc:
                raise PhylawError(f"split {self.name!r} level {part.level!r}: {exc}") from None

    def __len__(self) -> int:
        return int(sum(p.size for p in self.parts))

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(p.level for p in self.parts)

    def _bounds(self, start: int, stop: int | None) -> tuple[int, int]:
        n = len(self)
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise PhylawError(f"rows [{start}, {stop}) are outside split {self.name!r} of {n} videos")
        return int(start), int(stop)

    def _locate(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Part number and row inside the part of rows [start, stop). Both (n,) int64."""
        rows = np.arange(start, stop, dtype=np.int64)
        if self.shuffle:
            key = derive_seed(0, "split-order", self.scenario, self.name, self.version, self.ranges)
            rows = permute(rows, len(self), key)
        offsets = np.cumsum([0] + [p.size for p in self.parts])
        part = np.searchsorted(offsets, rows, side="right") - 1
        return part, rows - offsets[part]

    def params(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(n, P) float64 parameters of rows [start, stop), columns in ``param_names`` order."""
        start, stop = self._bounds(start, stop)
        part, local = self._locate(start, stop)
        out = np.empty((stop - start, len(self.param_names)), dtype=np.float64)
        for j, p in enumerate(self.parts):
            sel = part == j
            if sel.any():
                idx = np.unravel_index(local[sel], p.shape)
                out[sel] = np.stack([vals[i] for vals, i in zip(p.values, idx, strict=True)], axis=1)
        return out

    def labels(self, start: int = 0, stop: int | None = None) -> Labels:
        start, stop = self._bounds(start, stop)
        part, _ = self._locate(start, stop)
        split = np.array([p.split for p in self.parts])[part]
        level = np.array([p.level for p in self.parts])[part]
        return Labels(split=split, level=level, index=np.arange(start, stop, dtype=np.int64))

    def uniforms(self, start: int, stop: int, seed: int) -> np.ndarray:
        """(n, U) placement draws of rows [start, stop): block b of BLOCK rows uses its own child rng."""
        start, stop = self._bounds(start, stop)
        n_u = N_UNIFORMS[self.scenario]
        out = np.empty((stop - start, n_u), dtype=np.float64)
        if n_u == 0:
            return out
        for b in range(start // BLOCK, -(-stop // BLOCK)):
            rng = child_rng(seed, self.scenario, self.name, self.version, self.ranges, b)
            block = rng.random((BLOCK, n_u))  # (BLOCK, U)
            lo, hi = max(start, b * BLOCK), min(stop, (b + 1) * BLOCK)
            out[lo - start : hi - start] = block[lo - b * BLOCK : hi - b * BLOCK]
        return out

    def generate(self, start: int, stop: int, seed: int) -> Batch:
        """Parameters, trajectories and labels of rows [start, stop).

        Identical to the same rows of ``generate(0, len(self), seed)`` for any start/stop. A seeded scenario
        (phyre) derives each row's randomness from ``seed`` and the row's parameters alone, not from the split,
        so the same (template, task) has the same layout in every split.
        """
        params = self.params(start, stop)
        sc = get_scenario(self.scenario)
        extras: dict[str, np.ndarray] = {}
        if sc.simulate_seeded is not None:
            traj, extras = sc.simulate_seeded(
                validate_params(self.scenario, params), int(seed), self.n_frames
            )
        else:
            traj = simulate_uniforms(self.scenario, params, self.uniforms(start, stop, seed), self.n_frames)
        if any(p.attributes for p in self.parts):
            part, _ = self._locate(*self._bounds(start, stop))
            looks = {"color": traj.color.copy(), "shape": traj.shape.copy()}
            for j, p in enumerate(self.parts):
                for key, ids in p.attributes.items():
                    looks[key][part == j] = np.asarray(ids, np.uint8)
            traj = traj.with_appearance(**looks)
        return Batch(
            params=params,
            param_names=self.param_names,
            trajectories=traj,
            labels=self.labels(start, stop),
            extras=dict(extras),
        )

    def config(self) -> dict:
        """A JSON-able description (stored as resolved config beside generated data)."""
        return {
            "scenario": self.scenario,
            "split": self.name,
            "split_version": self.version,
            "ranges": self.ranges,
            "param_names": list(self.param_names),
            "n_videos": len(self),
            "n_frames": self.n_frames,
            "shuffle": self.shuffle,
            "parts": [
                {
                    "split": p.split,
                    "level": p.level,
                    "values": {n: v.tolist() for n, v in zip(self.param_names, p.values, strict=True)},
                    # only when set: the description (and split_hash) of a plain split stays as it was
                    **({"attributes": {k: list(v) for k, v in p.attributes.items()}} if p.attributes else {}),
                }
                for p in self.parts
            ],
        }


def _make(
    scenario: str, name: str, ranges: str, parts: list[tuple[str, str, dict[str, np.ndarray]]], n_frames: int
) -> SplitDef:
    names = PARAM_NAMES[scenario]
    built = tuple(
        Part(s, lvl, tuple(np.asarray(vals[n], dtype=np.float64) for n in names)) for s, lvl, vals in parts
    )
    return SplitDef(scenario, name, SPLIT_VERSION, ranges, names, built, n_frames=n_frames)


def _train(name: str) -> Callable[[str, str, int], SplitDef]:
    def build(scenario: str, ranges: str, n_frames: int) -> SplitDef:
        values = rg.train_values(scenario, name, rg.get_ranges(ranges, scenario))
        return _make(scenario, name, ranges, [("train", "train", values)], n_frames)

    return build


def _eval(name: str, small: bool, values=rg.eval_values) -> Callable[[str, str, int], SplitDef]:
    def build(scenario: str, ranges: str, n_frames: int) -> SplitDef:
        rset = rg.get_ranges(ranges, scenario)
        parts = [
            ("id" if level == "id" else "ood", level, values(rset, spec, scenario))
            for level, spec in rg.eval_levels(scenario, small).items()
        ]
        return _make(scenario, name, ranges, parts, n_frames)

    return build


# the closed set of split names: name -> constructor(scenario, ranges, n_frames)
SPLITS: dict[str, Callable[[str, str, int], SplitDef]] = {
    "train-30k": _train("train-30k"),
    "train-300k": _train("train-300k"),
    "train-3m": _train("train-3m"),
    "eval": _eval("eval", small=False),
    "train-3k": _train("train-3k"),  # demo size
    "eval-small": _eval("eval-small", small=True),  # demo size, every level present
    # tuning: the levels and sizes of eval / eval-small at other values (disjoint from eval and every
    # training grid); reported numbers come from eval
    "val": _eval("val", small=False, values=rg.val_values),
    "val-small": _eval("val-small", small=True, values=rg.val_values),
}
EVAL_SPLITS: tuple[str, ...] = ("eval", "eval-small")
VAL_SPLITS: tuple[str, ...] = ("val", "val-small")
PAPER_SPLITS: tuple[str, ...] = ("train-30k", "train-300k", "train-3m", "eval")
TRAIN_SPLITS: tuple[str, ...] = ("train-3k", "train-30k", "train-300k", "train-3m")


def _scenario_splits(scenario: str) -> dict[str, Callable]:
    """name -> constructor(ranges, n_frames) of a scenario's splits: the kinematic scenes share SPLITS, and each
    also has its own mechanism-study splits (``sim.studies``)."""
    if get_scenario(scenario).engine == "box2d":
        from phylaw.sim.phyre.splits import SPLITS as PHYRE_SPLITS

        return dict(PHYRE_SPLITS)
    from phylaw.sim.composition_studies import COMPOSITION_SCENARIOS, composition_splits

    if scenario in COMPOSITION_SCENARIOS:  # the wall scenes (sim.walls) have their composition splits only
        return composition_splits(scenario)
    from phylaw.sim.attribute_studies import attribute_splits  # attribute_motion's pairs and compositions
    from phylaw.sim.studies import study_splits  # the mechanism studies' splits, registered per scenario

    shared = {name: (lambda r, n, make=make: make(scenario, r, n)) for name, make in SPLITS.items()}
    if scenario not in rg.TRAIN_GRIDS:  # attribute_motion has no plain training grids
        shared = {}
    return {**shared, **study_splits(scenario), **attribute_splits(scenario)}


def list_splits(scenario: str | None = None) -> list[str]:
    """Names of the registered splits of ``scenario`` (default: those of the kinematic scenarios)."""
    if scenario is not None:
        return list(_scenario_splits(check_scenario(scenario)))
    return list(SPLITS)


def get_split(scenario: str, split: str, ranges: str = "paper", n_frames: int = 32) -> SplitDef:
    """The named split of ``scenario`` in range set ``ranges`` (PhylawError on unknown names).

    ``n_frames`` (default 32, the paper's) sets the video length; uniform motion and parabola videos of any
    length are prefixes of the 32-frame ones (same seed), collisions shorter than 32 frames get a
    proportionally earlier contact window (``kinematics.contact_window``).
    """
    splits = _scenario_splits(check_scenario(scenario))
    if split not in splits:
        raise PhylawError(f"unknown split {split!r} for {scenario}; choose one of {', '.join(splits)}")
    if get_scenario(scenario).engine == "box2d":
        from phylaw.sim.phyre.splits import get_split as phyre_split

        return phyre_split(split, ranges, n_frames)
    rg.get_ranges(ranges, scenario)
    return splits[split](ranges, int(n_frames))


def grid_split(
    scenario: str,
    name: str,
    *,
    ranges: str = "paper",
    split: str = "train",
    level: str | None = None,
    version: str = SPLIT_VERSION,
    shuffle: bool = True,
    n_frames: int = 32,
    **value_lists: object,
) -> SplitDef:
    """A custom product-grid split, e.g. ``grid_split("uniform_motion", "demo", r=[...], v=[...])``.

    ``ranges`` is recorded as metadata (which range set the values were taken from); ``split`` and
    ``level`` label every row ("train"/"id"/"ood"; level defaults to the split label).
    """
    check_scenario(scenario)
    rg.get_ranges(ranges, scenario)
    names = PARAM_NAMES[scenario]
    if set(value_lists) != set(names):
        raise PhylawError(f"{scenario} grid needs value lists for exactly {names}, got {tuple(value_lists)}")
    values = {}
    for n in names:
        arr = np.atleast_1d(np.asarray(value_lists[n], dtype=np.float64))
        if arr.ndim != 1:
            raise PhylawError(f"value list {n!r} must be 1-D, got shape {arr.shape}")
        values[n] = arr
    part = Part(split, level or split, tuple(values[n] for n in names))
    return SplitDef(scenario, name, version, ranges, names, (part,), shuffle=shuffle, n_frames=n_frames)


def grid_minus_box(
    split: str,
    level: str,
    values: dict[str, object],
    box: dict[str, tuple[float, float]],
    attributes: dict | None = None,
) -> tuple[Part, ...]:
    """The product grid of ``values`` (parameter name -> value list) without the points inside ``box``
    (parameter name -> closed interval (lo, hi); parameters not named are unconstrained), as disjoint
    product-grid parts: part j takes the values outside the box on the j-th boxed axis, inside it on the
    boxed axes before, and every value on the others. A box on one axis is a gap; on several, a hole.
    Parts that would be empty are left out; every part is labelled ``split`` / ``level`` / ``attributes``.
    """
    names = tuple(values)
    unknown = [n for n in box if n not in values]
    if unknown:
        raise PhylawError(f"level {level!r}: the box names {unknown}, which are not grid parameters {names}")
    axes = {n: np.atleast_1d(np.asarray(values[n], np.float64)) for n in names}
    inside = {}
    for n, (lo, hi) in box.items():
        if not lo <= hi:
            raise PhylawError(f"level {level!r}: box interval {n} = ({lo}, {hi}) has lo > hi")
        inside[n] = (axes[n] >= lo) & (axes[n] <= hi)
    parts = []
    boxed = [n for n in names if n in box]
    for j, cut in enumerate(boxed):
        sel = {n: axes[n] for n in names}
        for before in boxed[:j]:
            sel[before] = axes[before][inside[before]]
        sel[cut] = axes[cut][~inside[cut]]
        if all(len(v) for v in sel.values()):
            parts.append(Part(split, level, tuple(sel[n] for n in names), dict(attributes or {}), names))
    return tuple(parts)


def union_split(
    scenario: str,
    name: str,
    parts: list[Part | tuple[Part, ...] | list[Part]],
    *,
    ranges: str = "paper",
    version: str = SPLIT_VERSION,
    shuffle: bool = True,
    n_frames: int = 32,
    allow_overlap: bool = False,
) -> SplitDef:
    """A split that is the union of ``parts`` (``Part`` objects, or the tuples ``grid_minus_box`` returns):
    grids, gapped or holed grids, attribute-labelled sets. Rows are shuffled over all parts (as the named
    splits); each row keeps its part's split / level labels and attributes.

    Named parts (``Part.names``) are put in the scenario's parameter order. Two parts with the same
    attributes that share a parameter vector are refused unless ``allow_overlap`` (the same motion with
    other attributes is a different video and always allowed).
    """
    check_scenario(scenario)
    rg.get_ranges(ranges, scenario)
    order = PARAM_NAMES[scenario]
    flat: list[Part] = []
    for item in parts:
        flat.extend(item if isinstance(item, tuple | list) else (item,))
    built = []
    for p in flat:
        if not isinstance(p, Part):
            raise PhylawError(f"split {name!r}: parts must be Part objects, got {type(p).__name__}")
        if p.names is not None and p.names != order:
            if sorted(p.names) != sorted(order):
                raise PhylawError(
                    f"split {name!r} level {p.level!r}: parameters {p.names}, {scenario} has {order}"
                )
            by_name = dict(zip(p.names, p.values, strict=True))
            p = Part(p.split, p.level, tuple(by_name[n] for n in order), p.attributes, order)
        built.append(p)
    if not built:
        raise PhylawError(f"split {name!r} has no parts")
    if not allow_overlap:
        for i, a in enumerate(built):
            for b in built[i + 1 :]:
                if a.attributes == b.attributes and len(a.values) == len(b.values):
                    common = [np.intersect1d(u, w) for u, w in zip(a.values, b.values, strict=True)]
                    if all(len(c) for c in common):
                        point = dict(zip(order, (float(c[0]) for c in common), strict=False))
                        raise PhylawError(
                            f"split {name!r}: levels {a.level!r} and {b.level!r} share parameter vectors "
                            f"(e.g. {point}); pass allow_overlap=True if that is intended"
                        )
    return SplitDef(scenario, name, version, ranges, order, tuple(built), shuffle=shuffle, n_frames=n_frames)
