"""Outcome types of generated PHYRE videos (the phyworld project page's three kinds, SPEC_COMBINATORIAL D.1).

Type 3 = abnormal (the judge, ``evaluate.judge``, flags it); else Type 1 = matches the ground truth (every
dynamic object's final state within the tolerance of ``evaluate.tracks_metrics.final_state_match``); else
Type 2 = differs from the simulator but physical. The abnormal ratio of a set is the Type 3 share, with a 95 %
**Wilson** score interval (binomial; it stays inside [0, 1] and is sensible at 0 or n flagged, where
``report.mean_ci``'s Student-t interval collapses to a point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TYPE_MATCH, TYPE_PHYSICAL, TYPE_ABNORMAL = 1, 2, 3
Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_ci(k: int, n: int, z: float = Z_95) -> tuple[float, float, float]:
    """(k / n, lo, hi): the Wilson score interval of a binomial proportion (NaN for n = 0)."""
    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return p, max(0.0, centre - half), min(1.0, centre + half)


def outcome_types(abnormal: np.ndarray, final_match: np.ndarray) -> np.ndarray:
    """(n,) int8 outcome type 1..3 from the judge's ``abnormal`` and the per-video final-state match."""
    ab = np.asarray(abnormal, bool)
    fm = np.asarray(final_match, bool)
    return np.where(ab, TYPE_ABNORMAL, np.where(fm, TYPE_MATCH, TYPE_PHYSICAL)).astype(np.int8)


@dataclass(frozen=True)
class AbnormalRatio:
    n: int
    abnormal: int
    ratio: float
    lo: float
    hi: float

    def as_dict(self) -> dict:
        return {"n": self.n, "abnormal": self.abnormal, "ratio": self.ratio, "lo": self.lo, "hi": self.hi}


def abnormal_ratio(abnormal: np.ndarray) -> AbnormalRatio:
    """The Type 3 share of a set with its 95 % Wilson interval."""
    ab = np.asarray(abnormal, bool)
    k, n = int(ab.sum()), int(ab.size)
    p, lo, hi = wilson_ci(k, n)
    return AbnormalRatio(n, k, p, lo, hi)


@dataclass(frozen=True)
class Outcomes:
    """Per video: abnormal (0/1 int8), outcome_type (1..3 int8), final_match (bool), reasons (the judge's)."""

    abnormal: np.ndarray
    outcome_type: np.ndarray
    final_match: np.ndarray
    reasons: list[list[str]]


def outcomes(tracks, states, cond_frames: int = 1, config=None, verdict=None) -> Outcomes:
    """Judge the videos (or use ``verdict``) and type them against the simulator's ``states``.

    The final-state match is ``evaluate.tracks_metrics.final_state_match(tracks, states)`` (per video, bool:
    every dynamic object within that module's stated tolerance)."""
    from phylaw.evaluate.judge import JudgeConfig, judge
    from phylaw.evaluate.tracks_metrics import final_state_match

    if verdict is None:
        verdict = judge(tracks, cond_frames, config or JudgeConfig())
    match = np.asarray(final_state_match(tracks, states), bool)
    types = outcome_types(verdict.abnormal, match)
    return Outcomes(verdict.abnormal.astype(np.int8), types, match, verdict.reasons)
