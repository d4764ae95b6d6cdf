"""Renderer: trajectories -> uint8 RGB frames (soft discs, squares, rings; fixed palette)."""

from __future__ import annotations

from phylaw.render.palette import (
    BACKGROUND,
    BLUE,
    COLOR_NAMES,
    COLORS,
    PARSE_RULES,
    RED,
    color_id,
    color_name,
    rgb_table,
)
from phylaw.render.raster import EDGE_BAND, MIN_RESOLUTION, RING_INNER, render, render_video

__all__ = [
    "BACKGROUND",
    "BLUE",
    "COLORS",
    "COLOR_NAMES",
    "EDGE_BAND",
    "MIN_RESOLUTION",
    "PARSE_RULES",
    "RED",
    "RING_INNER",
    "color_id",
    "color_name",
    "render",
    "render_video",
    "rgb_table",
]
