"""Named parameter ranges (SPEC I.1, B.1–B.3) and the value lists of the named splits built from them.

Two range sets: ``paper`` (the paper's text, the default) and ``phyworld`` (the released code's ranges).
Everything here is a pure function of its arguments; the registry of split names lives in ``sim.splits``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phylaw.errors import PhylawError
from phylaw.seeding import child_rng
from phylaw.sim.registry import check_scenario, get_scenario

RANGE_SETS: tuple[str, ...] = ("paper", "phyworld")

Band = tuple[float, float, bool]  # (lo, hi, lo_open): an OOD interval; lo_open excludes lo itself


@dataclass(frozen=True)
class Ranges:
    """ID ranges (closed intervals) and OOD bands (low, high) of radius and speed for one scenario."""

    name: str
    r_id: tuple[float, float]
    v_id: tuple[float, float]
    r_ood: tuple[Band, Band]
    v_ood: tuple[Band, Band]

    def id_range(self, kind: str) -> tuple[float, float]:
        """The ID interval of a parameter kind ("radius" or "speed"; sim.registry.Param.kind)."""
        return {"radius": self.r_id, "speed": self.v_id}[_known(kind)]

    def ood_bands(self, kind: str) -> tuple[Band, Band]:
        """The (low, high) OOD bands of a parameter kind."""
        return {"radius": self.r_ood, "speed": self.v_ood}[_known(kind)]


def _known(kind: str) -> str:
    if kind not in ("radius", "speed"):
        raise PhylawError(f"the kinematic ranges know radius and speed parameters, not {kind!r}")
    return kind


_V_ID = (1.0, 4.0)
_V_OOD: tuple[Band, Band] = ((0.0, 0.8, False), (4.5, 6.0, False))


def get_ranges(ranges: str, scenario: str) -> Ranges:
    """The ranges of ``scenario`` in range set ``ranges`` (PhylawError on unknown names)."""
    check_scenario(scenario)
    if ranges == "paper":
        # r in [0.7, 1.5] for all scenarios; OOD radii strictly outside: [0.3, 0.6] and (1.5, 2.0]
        return Ranges("paper", (0.7, 1.5), _V_ID, ((0.3, 0.6, False), (1.5, 2.0, True)), _V_OOD)
    if ranges == "phyworld":
        if scenario == "collision":
            return Ranges("phyworld", (0.5, 1.5), _V_ID, ((0.3, 0.4, False), (1.7, 2.0, False)), _V_OOD)
        return Ranges("phyworld", (0.7, 1.4), _V_ID, ((0.3, 0.6, False), (1.5, 2.0, False)), _V_OOD)
    raise PhylawError(f"unknown range set {ranges!r}; choose one of {', '.join(RANGE_SETS)}")


def id_midpoints(lo: float, hi: float, n: int) -> np.ndarray:
    """n evaluation values inside [lo, hi]: midpoints (k + 1/2)/n of a regular grid.

    The training grids are linspace(lo, hi, m) with an odd number of steps m - 1 (radius; speed for
    uniform motion and parabola), and a midpoint (2k + 1)/(2n) can never equal j/(m - 1) then; the tests
    check every ID point against every training grid.
    """
    return lo + (hi - lo) * (np.arange(n, dtype=np.float64) + 0.5) / n


# validation split (``val``): every value sits at fraction (k + VAL_OFFSET) / n of its interval, never at the
# evaluation midpoints (k + 1/2) / n or the OOD band grids; the golden-ratio offset keeps those fractions away
# from every linspace grid j / (m - 1) in use (tests/sim/test_splits.py checks every vector against them)
VAL_OFFSET = (5**0.5 - 1) / 2


def val_fractions(n: int) -> np.ndarray:
    """n fractions (k + VAL_OFFSET) / n of an interval, all strictly inside (0, 1)."""
    return (np.arange(n, dtype=np.float64) + VAL_OFFSET) / n


def band_values(band: Band, n: int) -> np.ndarray:
    """n values spread over one OOD band (lo excluded when the band is open at lo)."""
    lo, hi, lo_open = band
    if lo_open:
        return lo + (hi - lo) * np.arange(1, n + 1, dtype=np.float64) / n
    return np.linspace(lo, hi, n)


def ood_values(bands: tuple[Band, Band], n: int) -> np.ndarray:
    """n OOD values: n // 2 in the low band and the rest in the high band."""
    return np.concatenate([band_values(bands[0], n // 2), band_values(bands[1], n - n // 2)])


# training grid sizes (number of radius values, number of speed values) per split name (B.1–B.3)
TRAIN_GRIDS: dict[str, dict[str, tuple[int, int]]] = {
    "uniform_motion": {
        "train-3k": (50, 60),
        "train-30k": (100, 300),
        "train-300k": (300, 1000),
        "train-3m": (1000, 3000),
    },
    "parabola": {
        "train-3k": (50, 60),
        "train-30k": (100, 300),
        "train-300k": (300, 1000),
        "train-3m": (1000, 3000),
    },
    # the code's 4-D grid levels: r1, r2 each n_r values, v1, v2 each n_v values
    "collision": {"train-3k": (6, 9), "train-30k": (8, 21), "train-300k": (14, 41), "train-3m": (26, 71)},
}


def train_values(scenario: str, name: str, rng_set: Ranges) -> dict[str, np.ndarray]:
    """Per-parameter value lists of a training grid (product grid of these lists)."""
    n_r, n_v = TRAIN_GRIDS[scenario][name]
    r = np.linspace(*rng_set.r_id, n_r)
    v = np.linspace(*rng_set.v_id, n_v)
    if scenario == "parabola" and rng_set.name == "phyworld":
        # the released parabola generator's quirk (F.2.4): sorted uniform-random values, not linspace
        r = np.sort(child_rng(42, "parabola", name, "r").uniform(*rng_set.r_id, n_r))
        v = np.sort(child_rng(42, "parabola", name, "v").uniform(*rng_set.v_id, n_v))
    by_kind = {"radius": r, "speed": v}
    return {p.name: by_kind[_known(p.kind)] for p in get_scenario(scenario).params}


# Evaluation levels: level -> split label and per-parameter (kind, count); kind "id" = ID midpoints,
# "ood" = half low band, half high band. Sizes follow the paper (B.1–B.3, I.1).
_SINGLE_EVAL = {
    "uniform_motion": {
        "id": {"r": ("id", 30), "v": ("id", 35)},  # 1,050
        "r_ood": {"r": ("ood", 20), "v": ("id", 40)},  # 800
        "v_ood": {"r": ("id", 40), "v": ("ood", 20)},  # 800
        "rv_ood": {"r": ("ood", 20), "v": ("ood", 40)},  # 800
    },
    "parabola": {
        "id": {"r": ("id", 30), "v": ("id", 37)},  # 1,110
        "r_ood": {"r": ("ood", 20), "v": ("id", 42)},  # 840
        "v_ood": {"r": ("id", 42), "v": ("ood", 20)},  # 840
        "rv_ood": {"r": ("ood", 20), "v": ("ood", 42)},  # 840
    },
}
_SINGLE_EVAL_SMALL = {
    "id": {"r": ("id", 10), "v": ("id", 10)},  # 100
    "r_ood": {"r": ("ood", 4), "v": ("id", 10)},  # 40
    "v_ood": {"r": ("id", 10), "v": ("ood", 4)},  # 40
    "rv_ood": {"r": ("ood", 4), "v": ("ood", 10)},  # 40
}
# collision: the six OOD levels of B.2 (only r1; only v1; r1 and r2; v1 and v2; r1 and v1; all four)
_COLLISION_EVAL = {
    "id": {"r1": ("id", 6), "r2": ("id", 6), "v1": ("id", 8), "v2": ("id", 8)},  # 2,304
    "r1": {"r1": ("ood", 10), "r2": ("id", 4), "v1": ("id", 5), "v2": ("id", 4)},  # 800
    "v1": {"r1": ("id", 4), "r2": ("id", 4), "v1": ("ood", 10), "v2": ("id", 5)},  # 800
    "r1_r2": {"r1": ("ood", 10), "r2": ("ood", 10), "v1": ("id", 4), "v2": ("id", 2)},  # 800
    "v1_v2": {"r1": ("id", 4), "r2": ("id", 2), "v1": ("ood", 10), "v2": ("ood", 10)},  # 800
    "r1_v1": {"r1": ("ood", 10), "r2": ("id", 4), "v1": ("ood", 10), "v2": ("id", 2)},  # 800
    "all": {"r1": ("ood", 6), "r2": ("ood", 6), "v1": ("ood", 6), "v2": ("ood", 4)},  # 864
}
_COLLISION_EVAL_SMALL = {
    "id": {"r1": ("id", 3), "r2": ("id", 3), "v1": ("id", 4), "v2": ("id", 4)},  # 144
    "r1": {"r1": ("ood", 4), "r2": ("id", 2), "v1": ("id", 2), "v2": ("id", 2)},  # 32
    "v1": {"r1": ("id", 2), "r2": ("id", 2), "v1": ("ood", 4), "v2": ("id", 2)},  # 32
    "r1_r2": {"r1": ("ood", 4), "r2": ("ood", 4), "v1": ("id", 2), "v2": ("id", 1)},  # 32
    "v1_v2": {"r1": ("id", 2), "r2": ("id", 1), "v1": ("ood", 4), "v2": ("ood", 4)},  # 32
    "r1_v1": {"r1": ("ood", 4), "r2": ("id", 2), "v1": ("ood", 4), "v2": ("id", 1)},  # 32
    "all": {"r1": ("ood", 2), "r2": ("ood", 2), "v1": ("ood", 4), "v2": ("ood", 2)},  # 32
}

EVAL_LEVELS: dict[str, tuple[str, ...]] = {
    "uniform_motion": ("id", "r_ood", "v_ood", "rv_ood"),
    "parabola": ("id", "r_ood", "v_ood", "rv_ood"),
    "collision": ("id", "r1", "v1", "r1_r2", "v1_v2", "r1_v1", "all"),
}


def eval_levels(scenario: str, small: bool) -> dict[str, dict[str, tuple[str, int]]]:
    if scenario == "collision":
        return _COLLISION_EVAL_SMALL if small else _COLLISION_EVAL
    return _SINGLE_EVAL_SMALL if small else _SINGLE_EVAL[scenario]


def eval_values(rng_set: Ranges, spec: dict[str, tuple[str, int]], scenario: str) -> dict[str, np.ndarray]:
    """Per-parameter value lists of one evaluation level."""
    sc = get_scenario(scenario)
    out = {}
    for name, (kind, n) in spec.items():
        pkind = sc.kind_of(name)
        if kind == "id":
            out[name] = id_midpoints(*rng_set.id_range(pkind), n)
        else:
            out[name] = ood_values(rng_set.ood_bands(pkind), n)
    return out


def val_values(rng_set: Ranges, spec: dict[str, tuple[str, int]], scenario: str) -> dict[str, np.ndarray]:
    """Per-parameter value lists of one validation level: the same counts and bands as ``eval_values``,
    at fractions ``val_fractions`` of the ID interval or of each OOD band (n // 2 low, the rest high)."""
    sc = get_scenario(scenario)
    out = {}
    for name, (kind, n) in spec.items():
        pkind = sc.kind_of(name)
        if kind == "id":
            lo, hi = rng_set.id_range(pkind)
            out[name] = lo + (hi - lo) * val_fractions(n)
        else:
            low, high = rng_set.ood_bands(pkind)
            out[name] = np.concatenate(
                [b[0] + (b[1] - b[0]) * val_fractions(m) for b, m in ((low, n // 2), (high, n - n // 2))]
            )
    return out
