"""PHYRE's rasteriser (SPEC_COMBINATORIAL A.6) for ``States`` of the ``phyre`` scenario, at any resolution.

Hard-edged convex polygons and discs, no anti-aliasing, filled by pixel-centre rules; palette ids
(render.palette) -> RGB through ``palette.rgb_table()``. Resolution 512 is PHYRE's own raster exactly; any other
resolution R >= 8 samples the same scene on an R x R grid.

Geometry. Scene units (SC A.1: 0..512, origin bottom-left, y up) map to pixel units by s = R / 512. PHYRE's
raster rows count from the bottom (row y covers [y, y + 1) in pixel units, y up); the output is flipped so
that image row i = R − 1 − y (row 0 is the top of the scene), as PHYRE's Python side does.

- Polygon (every convex part of ``vertices``, rotated by ``angle`` about the body origin and translated by
  ``position``, then scaled by s; boxes without vertices use the rectangle ±half_size): rows y with
  rint(minY) <= y < rint(maxY); in each, the span's left and right x are the polygon's edges at the row
  centre y + 0.5 (edges with |Δy| < 1e-3 pixel skipped) and columns rint(xLeft) <= x < rint(xRight) are
  filled. ``rint`` is np.rint, round half to even like PHYRE's C ``lrint``. The span is the smallest and the
  largest x of the edges that cross the row centre, so the vertex order (clockwise or not) does not matter.
- Disc (SHAPE_DISC, ``radius`` r): PHYRE shifts the centre by −0.5 px and fills pixel (x, y) when
  (x + 0.5 − c'x)² + (y + 0.5 − c'y)² <= r'² with c' the shifted centre, except that in a row whose chord
  is narrower than one pixel (r'² − (y + 0.5 − c'y)² < 1/4, only at the poles) only column ⌊c'x − 0.5⌋ is
  drawn (SC A.6's edge case: PHYRE scans from the poles from that column).
  **The −0.5 shift is in scene units**: c' = s·(c − 0.5) and r' = s·r in pixel units. At 512 that is
  PHYRE's −0.5 px; at 256 it is −0.25 px, so every resolution samples the same continuous disc (centred half
  a scene unit left of and below the body origin), as a 512² PHYRE frame resized to R would show it. The
  narrow-chord rule is a property of the scan and is applied in output pixels.

Drawing order (SC A.6): object slots in order (later bodies on top; the red user ball is the last slot),
the parts of a body in order. Padded slots (``present`` False), frames where a body's position or angle is
not finite, and bodies of colour 0 (white, which PHYRE skips) draw nothing; the background is palette id 0.

Speed: each part of a body is drawn for all selected frames at once inside its own bounding box (one box
size per part across the batch, each axis separately, shifted to lie inside the image), never a full-frame
pass per body; the RGB image is one table lookup of the index image at the end.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from phylaw.errors import PhylawError
from phylaw.render.palette import BACKGROUND, rgb_table
from phylaw.sim.states import POLYGON_SHAPES, SHAPE_BOX, SHAPE_DISC, States

SCENE_SIZE = 512.0  # PHYRE's scene side in scene units (SC A.1)
CENTRE_SHIFT = 0.5  # PHYRE shifts disc centres by -0.5 (scene units here; see the module docstring)
EDGE_MIN_DY = 1e-3  # polygon edges flatter than this (pixels) are skipped, as PHYRE does
MIN_RESOLUTION = 8
_CHUNK_PIXELS = 1 << 21  # box pixels evaluated at once (bounds temporary memory)
_RGB_CHUNK_PIXELS = 1 << 22  # palette-id pixels drawn before they are turned into RGB (render_phyre)

Selector = np.ndarray | list[int] | slice | None


def _check_resolution(resolution: int) -> int:
    if int(resolution) != resolution or resolution < MIN_RESOLUTION:
        raise PhylawError(f"resolution must be an integer >= {MIN_RESOLUTION}, got {resolution}")
    return int(resolution)


def body_parts(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split NaN-separated convex parts: vertices (..., V, 2) -> (parts (..., P, M, 2), count (..., P) int).

    A part is a maximal run of finite rows. Parts shorter than M are padded by repeating their last vertex
    (a zero-length edge, which the scanline skips), so the padded polygon has the same outline. Parts of
    fewer than 3 vertices have count < 3 and draw nothing."""
    v = np.asarray(vertices, dtype=np.float64)
    lead, nv = v.shape[:-2], v.shape[-2]
    finite = np.isfinite(v).all(axis=-1)  # (..., V)
    prev = np.concatenate([np.zeros((*lead, 1), bool), finite[..., :-1]], axis=-1)
    start = finite & ~prev
    part = np.cumsum(start, axis=-1) - 1  # (..., V) part index of each row (valid where finite)
    n_parts = int(start.sum(axis=-1).max(initial=0))
    if n_parts == 0:
        return np.zeros((*lead, 0, 0, 2)), np.zeros((*lead, 0), np.int64)
    row = np.arange(nv)
    first = np.where(start, row, 0)  # the start row of each run, carried forward over the run
    first = np.maximum.accumulate(first, axis=-1)
    within = row - first  # position of each row within its part
    count = np.zeros((*lead, n_parts), np.int64)
    flat_lead = int(np.prod(lead, dtype=np.int64))
    fin = finite.reshape(flat_lead, nv)
    li, ri = np.nonzero(fin)
    pi = part.reshape(flat_lead, nv)[li, ri]
    wi = within.reshape(flat_lead, nv)[li, ri]
    np.add.at(count.reshape(flat_lead, n_parts), (li, pi), 1)
    m = int(count.max(initial=0))
    parts = np.zeros((flat_lead, n_parts, m, 2))
    parts[li, pi, wi] = v.reshape(flat_lead, nv, 2)[li, ri]
    cnt = count.reshape(flat_lead, n_parts)
    pad = np.minimum(np.arange(m)[None, None, :], np.maximum(cnt, 1)[..., None] - 1)  # (L, P, M)
    parts = np.take_along_axis(parts, pad[..., None], axis=2)
    return parts.reshape(*lead, n_parts, m, 2), count


def _box_rectangle(half_size: np.ndarray) -> np.ndarray:
    """(..., 2) half sizes -> (..., 4, 2) counter-clockwise rectangle from the top-right corner (SC A.2)."""
    hx, hy = half_size[..., 0], half_size[..., 1]
    return np.stack([np.stack(c, axis=-1) for c in ((hx, hy), (-hx, hy), (-hx, -hy), (hx, -hy))], axis=-2)


def _windows(canvas: np.ndarray, bx: int) -> np.ndarray:
    """(F, H, W) canvas -> writeable (F*H, W − bx + 1, bx) view: window [r, j] is row r, columns j..j+bx."""
    f, h, w = canvas.shape
    return sliding_window_view(canvas.reshape(f * h, w), bx, axis=1, writeable=True)


def _paint(canvas, frames, i0, j0, by, bx, mask_fn, color) -> None:
    """Write ``color`` (F,) into ``canvas`` (F, H, W) where ``mask_fn(sel, i0, j0) -> (c, by, bx)`` bool holds.

    frames (F,) canvas frame of each entry; i0, j0 (F,) image row / column of each box's top-left pixel."""
    res = canvas.shape[1]
    windows = _windows(canvas, bx)
    step = max(1, _CHUNK_PIXELS // (by * bx))
    pix = np.arange(by, dtype=np.int64)
    for a in range(0, len(frames), step):
        s = slice(a, a + step)
        m = mask_fn(s, i0[s], j0[s])  # (c, by, bx)
        c = m.shape[0]
        row = (frames[s, None] * res + i0[s, None] + pix).reshape(-1)  # (c*by,)
        col = np.repeat(j0[s], by)
        cur = windows[row, col].reshape(c, by, bx)
        windows[row, col] = np.where(m, color[s, None, None], cur).reshape(c * by, bx)


def _placed(lo_x, lo_y, size_x, size_y, res) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Box of one primitive per frame from its lower-left pixel (lo_x, lo_y) (y up) and per-frame sizes ->
    (i0, j0, by, bx): top-left image row / column (shifted inside the image) and the batch's box size."""
    bx = int(min(res, max(1, int(size_x.max(initial=1)))))
    by = int(min(res, max(1, int(size_y.max(initial=1)))))
    j0 = np.clip(lo_x, 0, res - bx).astype(np.int64)
    i0 = np.clip(res - lo_y - by, 0, res - by).astype(np.int64)  # image row of the box's top (y up -> down)
    return i0, j0, by, bx


def _draw_discs(canvas, frames, cx, cy, rr, color) -> None:
    """Discs, one per entry: centre (cx, cy) already shifted, radius rr, all in pixel units (y up)."""
    res = canvas.shape[1]
    lo_x = np.floor(cx - rr - 0.5)
    lo_y = np.floor(cy - rr - 0.5)
    size = np.floor(2.0 * rr) + 2
    i0, j0, by, bx = _placed(lo_x, lo_y, size, size, res)
    ax, ay = np.arange(bx), np.arange(by)
    r2 = rr * rr

    def mask(s, i0s, j0s):
        x = j0s[:, None] + ax  # (c, bx) column
        y = res - 1 - (i0s[:, None] + ay)  # (c, by) raster row, y up
        dx = x + 0.5 - cx[s, None]
        dy = y + 0.5 - cy[s, None]
        dy2 = dy * dy
        m = dx[:, None, :] ** 2 + dy2[:, :, None] <= r2[s, None, None]  # (c, by, bx)
        narrow = (r2[s, None] - dy2) < 0.25  # (c, by): chord narrower than one pixel
        if narrow.any():
            keep = x == np.floor(cx[s, None] - 0.5)  # (c, bx): the scan's start column
            m &= ~narrow[:, :, None] | keep[:, None, :]
        return m

    _paint(canvas, frames, i0, j0, by, bx, mask, color)


def _draw_polygons(canvas, frames, px, py, color) -> None:
    """Convex polygons, one per entry: vertices px, py (F, M) in pixel units (y up)."""
    res = canvas.shape[1]
    min_x, max_x = px.min(axis=1), px.max(axis=1)
    min_y, max_y = py.min(axis=1), py.max(axis=1)
    lo_x, lo_y = np.floor(min_x), np.floor(min_y)
    i0, j0, by, bx = _placed(lo_x, lo_y, np.ceil(max_x) - lo_x, np.ceil(max_y) - lo_y, res)
    y_first, y_end = np.rint(min_y), np.rint(max_y)  # rows rint(minY) <= y < rint(maxY)
    x0, y0 = px, py
    x1, y1 = np.roll(px, -1, axis=1), np.roll(py, -1, axis=1)  # (F, M) edge i: vertex i -> i + 1
    dy = y1 - y0
    edge = np.abs(dy) >= EDGE_MIN_DY
    slope = np.where(edge, (x1 - x0) / np.where(edge, dy, 1.0), 0.0)
    e_lo, e_hi = np.minimum(y0, y1), np.maximum(y0, y1)
    ax, ay = np.arange(bx), np.arange(by)

    def mask(s, i0s, j0s):
        y = res - 1 - (i0s[:, None] + ay)  # (c, by) raster row, y up
        yc = (y + 0.5)[:, :, None]  # (c, by, 1) row centre
        cross = edge[s, None, :] & (yc >= e_lo[s, None, :]) & (yc <= e_hi[s, None, :])  # (c, by, M)
        xe = x0[s, None, :] + (yc - y0[s, None, :]) * slope[s, None, :]  # (c, by, M)
        left = np.rint(np.where(cross, xe, np.inf).min(axis=2))  # (c, by)
        right = np.rint(np.where(cross, xe, -np.inf).max(axis=2))
        rows = (y >= y_first[s, None]) & (y < y_end[s, None])
        left = np.where(rows, left, np.inf)
        x = (j0s[:, None] + ax)[:, None, :]  # (c, 1, bx)
        return (x >= left[:, :, None]) & (x < right[:, :, None])

    _paint(canvas, frames, i0, j0, by, bx, mask, color)


def render_phyre_indices(
    states: States,
    resolution: int,
    indices: Selector = None,
    frames: Selector = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Palette ids of the selected videos' frames: uint8 (n, T, H, W), H = W = resolution, row 0 the top.

    indices selects videos, frames selects frame indices (default all); ``out``: an optional C-contiguous
    uint8 array of that shape to draw into."""
    res = _check_resolution(resolution)
    vid = slice(None) if indices is None else indices
    fr = slice(None) if frames is None else frames
    present = np.asarray(states.present[vid], dtype=bool)  # (n, K)
    pos = np.asarray(states.position[vid], dtype=np.float64)[:, fr]  # (n, T, K, 2)
    angle = np.asarray(states.angle[vid], dtype=np.float64)[:, fr]  # (n, T, K)
    shape = np.asarray(states.shape[vid])  # (n, K)
    color = np.asarray(states.color[vid]).astype(np.uint8)  # (n, K)
    radius = np.asarray(states.radius[vid], dtype=np.float64)  # (n, K)
    half = np.asarray(states.half_size[vid], dtype=np.float64)  # (n, K, 2)
    n, t, k, _ = pos.shape
    n_colors = len(rgb_table())
    drawn = present & (color != BACKGROUND)  # PHYRE skips colour-0 bodies
    if (color[present] >= n_colors).any():
        raise PhylawError(f"unknown palette id {int(color[present].max())}; ids are 0..{n_colors - 1}")
    disc = drawn & (shape == SHAPE_DISC)
    if not np.isfinite(radius[disc]).all() or (radius[disc] < 0).any():
        raise PhylawError("disc radii must be finite and >= 0")
    poly = drawn & np.isin(shape, (SHAPE_BOX, *POLYGON_SHAPES))
    other = drawn & ~disc & ~poly
    if other.any():
        raise PhylawError(
            f"the PHYRE rasteriser draws discs, boxes, polygons, jars and sticks, not shape id "
            f"{int(shape[other][0])}"
        )
    if out is None:
        out = np.zeros((n, t, res, res), dtype=np.uint8)
    elif out.shape != (n, t, res, res) or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise PhylawError(f"out must be a C-contiguous uint8 array of shape {(n, t, res, res)}")
    else:
        out.fill(BACKGROUND)
    if n * t == 0 or not drawn.any():
        return out
    canvas = out.reshape(n * t, res, res)
    scale = res / SCENE_SIZE
    # body-frame outlines of every polygon body (boxes without vertices: their half_size rectangle)
    verts = np.asarray(states.vertices[vid], dtype=np.float64)  # (n, K, V, 2)
    has_verts = np.isfinite(verts).all(axis=-1).any(axis=-1)  # (n, K)
    use_rect = poly & (shape == SHAPE_BOX) & ~has_verts
    if use_rect.any():
        if verts.shape[2] < 4:
            verts = np.pad(verts, ((0, 0), (0, 0), (0, 4 - verts.shape[2]), (0, 0)), constant_values=np.nan)
        else:
            verts = verts.copy()
        verts[use_rect] = np.nan
        verts[use_rect, :4] = _box_rectangle(half[use_rect])
    parts, count = body_parts(np.where(poly[..., None, None], verts, np.nan))  # (n, K, P, M, 2), (n, K, P)
    frame_of = np.arange(n * t, dtype=np.int64).reshape(n, t)
    for obj in range(k):
        p = pos[:, :, obj]  # (n, T, 2)
        th = angle[:, :, obj]  # (n, T)
        ok = np.isfinite(p).all(axis=-1)  # (n, T)
        col = np.broadcast_to(color[:, obj, None], (n, t))
        dsel = disc[:, obj, None] & ok  # (n, T)
        if dsel.any():
            cx = scale * (p[..., 0][dsel] - CENTRE_SHIFT)
            cy = scale * (p[..., 1][dsel] - CENTRE_SHIFT)
            rr = scale * np.broadcast_to(radius[:, obj, None], (n, t))[dsel]
            _draw_discs(canvas, frame_of[dsel], cx, cy, rr, col[dsel])
        if not poly[:, obj].any():
            continue
        psel_body = poly[:, obj, None] & ok & np.isfinite(th)  # (n, T)
        for part in range(parts.shape[2]):
            psel = psel_body & (count[:, obj, part] >= 3)[:, None]
            if not psel.any():
                continue
            vid_of = np.broadcast_to(np.arange(n)[:, None], (n, t))[psel]  # (F,)
            local = parts[vid_of, obj, part]  # (F, M, 2)
            c, s = np.cos(th[psel])[:, None], np.sin(th[psel])[:, None]
            wx = c * local[..., 0] - s * local[..., 1] + p[..., 0][psel][:, None]  # (F, M) scene units
            wy = s * local[..., 0] + c * local[..., 1] + p[..., 1][psel][:, None]
            _draw_polygons(canvas, frame_of[psel], scale * wx, scale * wy, col[psel])
    return out


def render_phyre(
    states: States,
    resolution: int,
    indices: Selector = None,
    frames: Selector = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """RGB frames of the selected videos: uint8 (n, T, H, W, 3), H = W = resolution (``raster.render``'s
    signature; ``out``: an optional C-contiguous uint8 array of that shape to draw into).

    Videos are drawn a few at a time into one reused palette-id buffer (about ``_RGB_CHUNK_PIXELS`` pixels,
    cache-sized) and turned into RGB by one table lookup per chunk."""
    res = _check_resolution(resolution)
    vids = np.arange(len(states))[slice(None) if indices is None else indices]
    n_frames = len(np.arange(states.n_frames)[slice(None) if frames is None else frames])
    shape = (len(vids), n_frames, res, res, 3)
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    elif out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise PhylawError(f"out must be a C-contiguous uint8 array of shape {shape}")
    lut = np.zeros((256, 3), np.uint8)  # every uint8 id indexes it (ids are checked against the palette)
    table = rgb_table()
    lut[: len(table)] = table
    step = max(1, _RGB_CHUNK_PIXELS // max(1, n_frames * res * res))
    buf = np.empty((min(step, len(vids)), n_frames, res, res), np.uint8)
    for a in range(0, len(vids), step):
        part = vids[a : a + step]
        ids = render_phyre_indices(states, res, part, frames, out=buf[: len(part)])
        np.take(lut, ids, axis=0, out=out[a : a + len(part)])
    return out
