"""The old home of the states type: ``Trajectories`` is ``sim.states.States`` (v2), kept importable here."""

from __future__ import annotations

from phylaw.sim.states import (
    FRAME_DT,
    SHAPE_BOX,
    SHAPE_DISC,
    SHAPE_POLYGON,
    SHAPE_RING,
    SHAPE_SQUARE,
    WORLD_SIZE,
    States,
    Trajectories,
)

__all__ = [
    "FRAME_DT",
    "SHAPE_BOX",
    "SHAPE_DISC",
    "SHAPE_POLYGON",
    "SHAPE_RING",
    "SHAPE_SQUARE",
    "WORLD_SIZE",
    "States",
    "Trajectories",
]
