"""Deterministic kinematic testbed: closed-form trajectories and named, versioned split definitions."""

from __future__ import annotations

from phylaw.sim.ranges import RANGE_SETS, get_ranges
from phylaw.sim.registry import (
    KINEMATIC_SCENARIOS,
    PARAM_NAMES,
    Param,
    Scenario,
    get_scenario,
    simulate,
    simulate_uniforms,
)
from phylaw.sim.registry import SCENARIO_NAMES as SCENARIOS
from phylaw.sim.splits import (
    PAPER_SPLITS,
    SPLITS,
    TRAIN_SPLITS,
    VAL_SPLITS,
    Batch,
    Labels,
    Part,
    SplitDef,
    get_split,
    grid_minus_box,
    grid_split,
    list_splits,
    union_split,
)
from phylaw.sim.states import States, Trajectories

__all__ = [
    "KINEMATIC_SCENARIOS",
    "PAPER_SPLITS",
    "PARAM_NAMES",
    "RANGE_SETS",
    "SCENARIOS",
    "SPLITS",
    "TRAIN_SPLITS",
    "VAL_SPLITS",
    "Batch",
    "Labels",
    "Param",
    "Part",
    "Scenario",
    "SplitDef",
    "States",
    "Trajectories",
    "get_ranges",
    "get_scenario",
    "get_split",
    "grid_minus_box",
    "grid_split",
    "list_splits",
    "simulate",
    "simulate_uniforms",
    "union_split",
]
