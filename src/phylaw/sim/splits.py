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
    """Rows [start, stop) of a split: parameters, states (``trajectories``, the old name) and labels."""

    params: np.ndarray  # (n, P) float64
    param_names: tuple[str, ...]
    trajectories: States
    labels: Labels

    @property
    def states(self) -> States:
        return self.trajectories


@dataclass(frozen=True, eq=False)
class Part:
    """One product grid of a split: every combination of the per-parameter value lists (C order)."""

    split: str
    level: str
    values: tuple[np.ndarray, ...]  # one 1-D float64 array per parameter

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.values)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


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
        check_scenario(self.scenario)
        frame_times(self.n_frames)  # PhylawError unless >= 1
        if tuple(self.param_names) != PARAM_NAMES[self.scenario]:
            raise PhylawError(
                f"{self.scenario} parameters are {PARAM_NAMES[self.scenario]}, got {self.param_names}"
            )
        for part in self.parts:
            if part.split not in SPLIT_LABELS:
                raise PhylawError(f"split label {part.split!r} is not one of {SPLIT_LABELS}")
            if part.size == 0:
                raise PhylawError(f"split {self.name!r} level {part.level!r} is empty")
            # every check of validate_params is monotone per coordinate, so the grid's corners cover it
            corners = np.array(list(product(*[(np.min(v), np.max(v)) for v in part.values])))
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
        for b in range(start // BLOCK, -(-stop // BLOCK)):
            rng = child_rng(seed, self.scenario, self.name, self.version, self.ranges, b)
            block = rng.random((BLOCK, n_u))  # (BLOCK, U)
            lo, hi = max(start, b * BLOCK), min(stop, (b + 1) * BLOCK)
            out[lo - start : hi - start] = block[lo - b * BLOCK : hi - b * BLOCK]
        return out

    def generate(self, start: int, stop: int, seed: int) -> Batch:
        """Parameters, trajectories and labels of rows [start, stop).

        Identical to the same rows of ``generate(0, len(self), seed)`` for any start/stop.
        """
        params = self.params(start, stop)
        traj = simulate_uniforms(self.scenario, params, self.uniforms(start, stop, seed), self.n_frames)
        return Batch(
            params=params, param_names=self.param_names, trajectories=traj, labels=self.labels(start, stop)
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


def list_splits(scenario: str | None = None) -> list[str]:
    """Names of the registered splits (the same for every scenario)."""
    if scenario is not None:
        check_scenario(scenario)
    return list(SPLITS)


def get_split(scenario: str, split: str, ranges: str = "paper", n_frames: int = 32) -> SplitDef:
    """The named split of ``scenario`` in range set ``ranges`` (PhylawError on unknown names).

    ``n_frames`` (default 32, the paper's) sets the video length; uniform motion and parabola videos of any
    length are prefixes of the 32-frame ones (same seed), collisions shorter than 32 frames get a
    proportionally earlier contact window (``kinematics.contact_window``).
    """
    check_scenario(scenario)
    if split not in SPLITS:
        raise PhylawError(f"unknown split {split!r} for {scenario}; choose one of {', '.join(SPLITS)}")
    rg.get_ranges(ranges, scenario)
    return SPLITS[split](scenario, ranges, int(n_frames))


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
