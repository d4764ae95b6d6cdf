"""Renderer: trajectories -> uint8 RGB frames (fixed palette). ``render`` draws soft discs, squares and rings
(render.raster), or PHYRE's hard-edged polygons and discs for the ``phyre`` scenario (render.phyre_raster)."""

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
from phylaw.render.phyre_raster import render_phyre, render_phyre_indices
from phylaw.render.raster import EDGE_BAND, MIN_RESOLUTION, RING_INNER, render, render_video, renderer_of

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
    "render_phyre",
    "render_phyre_indices",
    "render_video",
    "renderer_of",
    "rgb_table",
]
