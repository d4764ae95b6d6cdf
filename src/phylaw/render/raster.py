"""Batch rasteriser: soft-edged discs (SPEC B.0), hard squares and soft rings on a white background.

``render`` dispatches on the scenario's renderer (``sim.registry.Scenario.renderer``): states of a scenario
whose renderer is "phyre" are drawn by ``render.phyre_raster`` (PHYRE's hard-edged polygons and discs,
SPEC_COMBINATORIAL A.6); every other scenario (and a name the registry does not know) by the soft rasteriser
described here. Absent (padded) object slots draw nothing; boxes and polygons (sim.states SHAPE_BOX /
SHAPE_POLYGON) are not drawn by this rasteriser (a PhylawError says so).

Geometry (docs/formats.md): square images of ``resolution`` pixels for the 10 x 10 world, pixel column j
has centre x = (j + 0.5)·10/W, row i has centre y = 10 − (i + 0.5)·10/H (row 0 is the top, world y up).

Masks, evaluated at pixel centres in float64 and in pixel units (r and d multiplied by W/10; the pixel
offsets are dx = j + 0.5 − x·W/10, dy = i + 0.5 − (10 − y)·H/10, d² = dx² + dy²):
- disc:   m = clip((r² − d²) / (0.03·r²), 0, 1)  (B.0's soft edge: a band of 3 % of r² inside the rim)
- square: m = 1 where |x − cx| <= r and |y − cy| <= r (side 2r, hard edge, as B.0), else 0
- ring:   annulus of outer radius r and inner radius 0.6·r: m = m_disc(r) · (1 − m_disc(0.6 r)),
          i.e. the same 3 % soft band on both rims
Compositing, object by object in order (later objects on top): value = rint(c + m·(colour − c)) with c the
current pixel value, computed in float64 and rounded half to even (np.rint); on the white background this
is B.0's (1 − m)·255 + m·colour. Only a padded per-object bounding box (the same size across the batch, shifted
to lie inside the image) is evaluated, never a full-frame pass per object.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from phylaw.errors import PhylawError
from phylaw.render.palette import BACKGROUND, rgb_table
from phylaw.render.phyre_raster import render_phyre
from phylaw.sim.states import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE, WORLD_SIZE, States

EDGE_BAND = 0.03  # soft edge width as a fraction of r²
RING_INNER = 0.6  # inner radius of a ring, as a fraction of its outer radius
MIN_RESOLUTION = 8
_CHUNK_PIXELS = 1 << 21  # mask elements evaluated at once (bounds temporary memory to ~30 MB)


def _check_resolution(resolution: int) -> int:
    if int(resolution) != resolution or resolution < MIN_RESOLUTION:
        raise PhylawError(f"resolution must be an integer >= {MIN_RESOLUTION}, got {resolution}")
    return int(resolution)


def _soft_disc(d2: np.ndarray, rp: np.ndarray) -> np.ndarray:
    """Soft disc mask. d2 (c, B, B) squared pixel distances, rp (c,) radii in pixels -> (c, B, B) float64."""
    r2 = (rp * rp)[:, None, None]  # (c, 1, 1)
    band = np.where(r2 > 0, EDGE_BAND * r2, np.inf)  # a zero radius draws nothing
    return np.clip((r2 - d2) / band, 0.0, 1.0)


def _mask(dx: np.ndarray, dy: np.ndarray, rp: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(c, B, B) float64 mask. dx, dy: (c, B) pixel offsets of column/row centres from the object centre."""
    d2 = dx[:, None, :] ** 2 + dy[:, :, None] ** 2  # (c, B, B)
    if (shape == SHAPE_DISC).all():
        return _soft_disc(d2, rp)
    m = np.zeros(d2.shape, dtype=np.float64)
    for sid in np.unique(shape):
        sel = shape == sid
        if sid == SHAPE_DISC:
            m[sel] = _soft_disc(d2[sel], rp[sel])
        elif sid == SHAPE_SQUARE:
            r = rp[sel][:, None]  # (s, 1)
            m[sel] = (np.abs(dx[sel]) <= r)[:, None, :] & (np.abs(dy[sel]) <= r)[:, :, None]
        elif sid == SHAPE_RING:
            m[sel] = _soft_disc(d2[sel], rp[sel]) * (1.0 - _soft_disc(d2[sel], RING_INNER * rp[sel]))
        else:
            raise PhylawError(f"the rasteriser draws shape ids disc 0, square 1, ring 2, not {int(sid)}")
    return m


def _draw(canvas: np.ndarray, cx, cy, rp, rgb, shape, on_background: np.ndarray | None) -> None:
    """Composite one object per frame onto ``canvas`` (F, H, W, 3) uint8, in place.

    cx, cy: (F,) centre in pixel units (column / row coordinates, pixel j spans [j, j+1)); rp (F,) radius
    in pixels; rgb (F, 3) float64 colour; shape (F,) shape ids. on_background: the (3,) background colour
    when nothing has been drawn yet (skips reading the canvas back), else None.
    """
    n_frames, res = canvas.shape[0], canvas.shape[1]
    box = int(min(res, np.floor(2.0 * float(rp.max(initial=0.0))) + 2))  # B: pixels per box side
    ar = np.arange(box, dtype=np.float64) + 0.5  # (B,)
    # top-left pixel of each box, shifted inside the image (pixels outside the object get m = 0)
    j0 = np.clip(np.floor(cx - rp - 0.5), 0, res - box).astype(np.int64)  # (F,)
    i0 = np.clip(np.floor(cy - rp - 0.5), 0, res - box).astype(np.int64)
    # every image row as W*3 bytes; a box row is one window of B*3 contiguous bytes of it
    rows = canvas.reshape(n_frames * res, res * 3)
    windows = sliding_window_view(rows, 3 * box, axis=1, writeable=True)  # (F*H, 3(W-B)+1, 3B) view
    step = max(1, _CHUNK_PIXELS // (box * box))
    pix = np.arange(box, dtype=np.int64)
    for a in range(0, n_frames, step):
        s = slice(a, a + step)
        dx = j0[s, None] + ar - cx[s, None]  # (c, B)
        dy = i0[s, None] + ar - cy[s, None]  # (c, B)
        m = _mask(dx, dy, rp[s], shape[s])  # (c, B, B)
        c = dx.shape[0]
        row = (np.arange(a, a + c, dtype=np.int64)[:, None] * res + i0[s, None] + pix).reshape(-1)  # (c*B,)
        col = np.repeat(3 * j0[s], box)  # (c*B,)
        cur = None if on_background is not None else windows[row, col].reshape(c, box, box, 3)
        new = np.empty((c, box, box, 3), dtype=np.uint8)
        for ch in range(3):  # channel by channel: contiguous inner loops (a trailing axis of 3 is slow)
            base = float(on_background[ch]) if cur is None else cur[..., ch].astype(np.float64)  # (c, B, B)
            v = m * (rgb[s, ch, None, None] - base)  # (c, B, B)
            v += base
            new[..., ch] = np.rint(v, out=v)
        windows[row, col] = new.reshape(c * box, 3 * box)


def renderer_of(scenario: str) -> str:
    """The renderer of a scenario: its registry entry's ``renderer``; "soft" for a name not registered."""
    from phylaw.sim.registry import SCENARIOS  # at call time: sim.registry imports the palette (this package)

    sc = SCENARIOS.get(scenario)
    return "soft" if sc is None else sc.renderer


def render(
    trajectories: States,
    resolution: int,
    indices: np.ndarray | list[int] | slice | None = None,
    frames: np.ndarray | list[int] | slice | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Frames of the selected videos: uint8 (n, T, H, W, 3) with H = W = resolution.

    indices selects videos (default all), frames selects frame indices (default all). ``out``: an optional
    C-contiguous uint8 array of that shape to draw into (reusing a buffer avoids page-faulting fresh memory).
    A scenario whose renderer is "phyre" is drawn by ``phyre_raster.render_phyre`` (same arguments).
    """
    if renderer_of(trajectories.scenario) == "phyre":
        return render_phyre(trajectories, resolution, indices=indices, frames=frames, out=out)
    res = _check_resolution(resolution)
    vid = slice(None) if indices is None else indices
    fr = slice(None) if frames is None else frames
    present = np.asarray(trajectories.present[vid])  # (n, K)
    pos = np.asarray(trajectories.position[vid])[:, fr]  # (n, T, K, 2)
    radius = np.asarray(trajectories.radius[vid], dtype=np.float64)  # (n, K)
    if not present.all():  # padded slots draw nothing (radius 0 at the origin)
        pos = np.where(present[:, None, :, None], pos, 0.0)
        radius = np.where(present, radius, 0.0)
    color = np.asarray(trajectories.color[vid])  # (n, K)
    shape = np.asarray(trajectories.shape[vid])  # (n, K)
    n, t, k, _ = pos.shape
    table = rgb_table()
    if not np.isfinite(radius).all() or (radius < 0).any():
        raise PhylawError("object radii must be finite and >= 0")
    if color.size and color.max() >= len(table):
        raise PhylawError(f"unknown palette id {int(color.max())}; ids are 0..{len(table) - 1}")
    if out is None:
        out = np.empty((n, t, res, res, 3), dtype=np.uint8)
    elif out.shape != (n, t, res, res, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise PhylawError(f"out must be a C-contiguous uint8 array of shape {(n, t, res, res, 3)}")
    canvas = out.reshape(n * t, res, res, 3)
    bg = table[BACKGROUND]
    if (bg == bg[0]).all():
        canvas.fill(bg[0])
    else:
        canvas[...] = bg
    scale = res / WORLD_SIZE  # pixels per world unit
    for obj in range(k):
        p = pos[:, :, obj].reshape(n * t, 2)  # (F, 2)
        cx, cy = p[:, 0] * scale, (WORLD_SIZE - p[:, 1]) * scale  # (F,) pixel column / row coordinates
        rp = np.repeat(radius[:, obj] * scale, t)  # (F,)
        rgb = np.repeat(table[color[:, obj]].astype(np.float64), t, axis=0)  # (F, 3)
        _draw(canvas, cx, cy, rp, rgb, np.repeat(shape[:, obj], t), bg if obj == 0 else None)
    return out


def render_video(trajectories: States, i: int, resolution: int) -> np.ndarray:
    """Frames of video i: uint8 (T, H, W, 3)."""
    if not -len(trajectories) <= i < len(trajectories):
        raise PhylawError(f"video index {i} is outside the batch of {len(trajectories)} videos")
    return render(trajectories, resolution, indices=[i])[0]
