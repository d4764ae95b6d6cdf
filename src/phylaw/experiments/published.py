"""The paper's published numbers that phylaw's results are drawn beside (one table, with sources).

Only the values the paper states in its text are here: Fig. 3's remaining points exist only as plotted
markers (SPEC E.1: "exact per-cell values: UNKNOWN"), so they are not invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

PAPER = "Kang et al., arXiv 2411.02385v2"


@dataclass(frozen=True)
class PublishedValue:
    experiment: str
    scenario: str
    split: str  # "id" | "ood" | "gt" (parser on ground-truth frames)
    model: str | None  # None for the ground-truth floor
    data_size: int | None
    metric: str
    value: float
    source: str


# velocity error in world units per second (the paper's Fig. 3 y axis)
PUBLISHED: tuple[PublishedValue, ...] = (
    PublishedValue("fig3", "uniform_motion", "id", "DiT-S", 30_000, "velocity_error", 0.022, f"{PAPER} §3.2"),
    PublishedValue(
        "fig3", "uniform_motion", "id", "DiT-L", 3_000_000, "velocity_error", 0.012, f"{PAPER} §3.2"
    ),
    PublishedValue(
        "fig3", "uniform_motion", "ood", "DiT-L", 3_000_000, "velocity_error", 0.427, f"{PAPER} §3.2"
    ),
    PublishedValue(
        "fig3", "uniform_motion", "ood", "DiT-B", 30_000, "velocity_error", 0.433, f"{PAPER} §3.2"
    ),
    PublishedValue(
        "fig3", "uniform_motion", "ood", "DiT-B", 300_000, "velocity_error", 0.328, f"{PAPER} §3.2"
    ),
    PublishedValue(
        "fig3", "uniform_motion", "ood", "DiT-B", 3_000_000, "velocity_error", 0.358, f"{PAPER} §3.2"
    ),
    PublishedValue("fig3", "uniform_motion", "gt", None, None, "velocity_error", 0.0099, f"{PAPER} Table 3"),
    PublishedValue("fig3", "collision", "gt", None, None, "velocity_error", 0.0117, f"{PAPER} Table 3"),
    PublishedValue("fig3", "parabola", "gt", None, None, "velocity_error", 0.0210, f"{PAPER} Table 3"),
)


def published_frame(experiment: str = "fig3") -> pd.DataFrame:
    """The published values of one experiment as a DataFrame (columns = PublishedValue fields)."""
    rows = [v.__dict__ for v in PUBLISHED if v.experiment == experiment]
    return pd.DataFrame(rows)


def published_for(experiment: str) -> pd.DataFrame:
    """The published values to draw beside an experiment: its own, else Fig. 3's (the demo and the scaled-down
    grids are all the Fig. 3 ID/OOD study)."""
    own = published_frame(experiment)
    return own if len(own) else published_frame("fig3")
