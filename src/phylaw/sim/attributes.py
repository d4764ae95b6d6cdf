"""Scenario ``attribute_motion`` (SPEC B.6.4, §5.3): one object in uniform motion whose colour, shape, size and
speed are four independent parameters.

Motion and placement are uniform motion's (``kinematics.uniform_motion``: x = x0 + v t, the B.1 placement
rules, three uniforms per video), called as is; only the object's look changes. Parameters, one row per video:

    r      radius of a disc or ring, half side of a square (world units; a square of half side r has the
           extent of a disc of radius r, so the placement rules and ``in_view`` hold for every shape)
    v      speed (+x, world units/s)
    color  palette id: 1 red or 2 blue (``ATTRIBUTE_COLORS``: the two colours the parser's default rules read)
    shape  ``SHAPE_DISC`` 0, ``SHAPE_SQUARE`` 1 or ``SHAPE_RING`` 2 (``ATTRIBUTE_SHAPES``)

Ring geometry (App. E.3 does not state it): an annulus of outer radius r and inner radius
``RING_INNER`` · r = 0.6 r (render.raster), so the band is 0.4 r wide. A ring whose band is narrower than one
pixel at the resolution of a dataset (0.4 r · W / 10 < 1) cannot be told from a disc by the parser (its hole
closes), so ``check_ring_resolution`` refuses it before anything is written (r = 0.7 needs W >= 36).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from phylaw.errors import PhylawError
from phylaw.render.palette import BLUE, RED
from phylaw.sim import kinematics as km
from phylaw.sim.states import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE, WORLD_SIZE, States

SCENARIO = "attribute_motion"
ATTRIBUTE_COLORS: dict[str, int] = {"red": RED, "blue": BLUE}
ATTRIBUTE_SHAPES: dict[str, int] = {"disc": SHAPE_DISC, "square": SHAPE_SQUARE, "ring": SHAPE_RING}
RING_MIN_BAND_PX = 1.0  # the narrowest ring band (outer - inner radius) a dataset may draw, in pixels


def attribute_motion(params: np.ndarray, u: np.ndarray, n_frames: int = 32) -> States:
    """One object moving +x at v with the look of its row: params (n, 4) = [r, v, color, shape]; u (n, 3)."""
    p = np.asarray(params, np.float64)
    base = km.uniform_motion(p[:, :2], u, n_frames)
    color = p[:, 2:3].astype(np.uint8)  # (n, 1) palette ids (validated whole numbers)
    shape = p[:, 3:4].astype(np.uint8)  # (n, 1) shape ids
    return replace(base, scenario=SCENARIO).with_appearance(color=color, shape=shape)


def ring_band_px(radius: np.ndarray | float, resolution: int) -> np.ndarray:
    """Width in pixels of the band of a ring of outer radius ``radius`` at ``resolution`` pixels."""
    from phylaw.render.raster import RING_INNER

    return (1.0 - RING_INNER) * np.asarray(radius, np.float64) * resolution / WORLD_SIZE


def check_ring_resolution(split, resolution: int) -> None:
    """One-line PhylawError when a ring of ``split`` (a SplitDef of this scenario) would be drawn with a band
    narrower than ``RING_MIN_BAND_PX`` at ``resolution``. Reads the split's value lists (no simulation)."""
    from phylaw.render.raster import RING_INNER

    names = tuple(split.param_names)
    ir, ishape = names.index("r"), names.index("shape")
    for part in split.parts:
        if not (part.values[ishape] == SHAPE_RING).any():
            continue
        r_min = float(part.values[ir].min())
        band = float(ring_band_px(r_min, resolution))
        if band < RING_MIN_BAND_PX:
            need = int(np.ceil(RING_MIN_BAND_PX * WORLD_SIZE / ((1.0 - RING_INNER) * r_min)))
            raise PhylawError(
                f"split {split.name!r} level {part.level!r}: a ring of radius {r_min:g} is {band:.2f} px thin "
                f"at {resolution} px (inner radius {RING_INNER:g} r); use a resolution >= {need}"
            )
