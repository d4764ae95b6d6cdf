"""Batch rasteriser: soft-edged discs (SPEC B.0), hard squares and soft rings on a white background.

``render`` dispatches on the scenario's renderer (``sim.registry.Scenario.renderer``): states of a scenario
whose renderer is "phyre" are drawn by ``render.phyre_raster`` (PHYRE's hard-edged polygons and discs,
SPEC_COMBINATORIAL A.6); every other scenario (and a name the registry does not know) by the soft rasteriser
described here. Absent (padded) object slots draw nothing; axis-aligned boxes (sim.states SHAPE_BOX at angle 0:
the composition scenes' walls, sim.walls) are drawn hard-edged (a pixel whose centre lies in the box takes the
box's colour); rotated boxes and polygons (SHAPE_POLYGON) are not drawn by this rasteriser (a PhylawError).

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

The release's raster, opt-in (``render(..., pixel_convention="linspace")``; the default "centre" above is
unchanged): the released generators evaluate the same masks on ``meshgrid(linspace(0, 1, W), linspace(0, 1, H))``
and flip the rows, i.e. pixel column j sits at x = j·10/(W − 1) and row i at y = 10 − i·10/(H − 1) (SPEC B.0,
F.12), and convert with ``astype(uint8)``: values are truncated (floor) instead of rounded. In pixel units
(r, d multiplied by (W − 1)/10) the mask formulas are the same. ``render_release`` adds the paper's training
path: the release's 256² frames area-averaged down to the resolution asked for (``area_downsample``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from phylaw.errors import PhylawError
from phylaw.render.palette import BACKGROUND, rgb_table
from phylaw.render.phyre_raster import render_phyre
from phylaw.sim.states import SHAPE_BOX, SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE, WORLD_SIZE, States

EDGE_BAND = 0.03  # soft edge width as a fraction of r²
RING_INNER = 0.6  # inner radius of a ring, as a fraction of its outer radius
MIN_RESOLUTION = 8
# render(pixel_convention=): phylaw's pixel centres / the release's j/(W - 1) grid
PIXEL_CONVENTIONS = ("centre", "linspace")
RELEASE_RESOLUTION = 256  # the released generators' frame size (SPEC B.0)
_RELEASE_CHUNK_PIXELS = 1 << 24  # render_release: frames pixels rendered at 256² before each downsampling
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


def _draw(
    canvas: np.ndarray, cx, cy, rp, rgb, shape, on_background: np.ndarray | None, truncate: bool = False
) -> None:
    """Composite one object per frame onto ``canvas`` (F, H, W, 3) uint8, in place.

    cx, cy: (F,) centre in pixel units (column / row coordinates, pixel j spans [j, j+1)); rp (F,) radius
    in pixels; rgb (F, 3) float64 colour; shape (F,) shape ids. on_background: the (3,) background colour
    when nothing has been drawn yet (skips reading the canvas back), else None. ``truncate``: floor the
    composited value (the release's ``astype(uint8)``) instead of rounding it half to even.
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
            new[..., ch] = np.floor(v, out=v) if truncate else np.rint(v, out=v)
        windows[row, col] = new.reshape(c * box, 3 * box)


def _draw_boxes(canvas, cx, cy, hx, hy, rgb, draw) -> None:
    """Hard-edged axis-aligned boxes onto ``canvas`` (F, H, W, 3) in place: cx, cy, hx, hy (F,) centre and half
    sizes in pixel units, rgb (F, 3), draw (F,) bool (frames whose object is a box)."""
    res = canvas.shape[1]
    centres = np.arange(res, dtype=np.float64) + 0.5  # (W,)
    for f in np.flatnonzero(draw):
        cols = np.abs(centres - cx[f]) <= hx[f]  # (W,)
        rows = np.abs(centres - cy[f]) <= hy[f]  # (H,)
        if cols.any() and rows.any():
            canvas[f, rows[:, None] & cols[None, :]] = rgb[f].astype(np.uint8)


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
    pixel_convention: str = "centre",
) -> np.ndarray:
    """Frames of the selected videos: uint8 (n, T, H, W, 3) with H = W = resolution.

    indices selects videos (default all), frames selects frame indices (default all). ``out``: an optional
    C-contiguous uint8 array of that shape to draw into (reusing a buffer avoids page-faulting fresh memory).
    A scenario whose renderer is "phyre" is drawn by ``phyre_raster.render_phyre`` (same arguments).
    ``pixel_convention``: "centre" (phylaw's, the default) or "linspace" (the release's raster: pixel j at
    j·10/(W − 1), truncated values; module docstring).
    """
    if pixel_convention not in PIXEL_CONVENTIONS:
        raise PhylawError(
            f"unknown pixel convention {pixel_convention!r}; choose one of {', '.join(PIXEL_CONVENTIONS)}"
        )
    if renderer_of(trajectories.scenario) == "phyre":
        if pixel_convention != "centre":
            raise PhylawError("the phyre renderer draws pixel centres only (pixel_convention='centre')")
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
    linspace = pixel_convention == "linspace"
    scale = (res - 1 if linspace else res) / WORLD_SIZE  # pixels per world unit
    shift = 0.5 if linspace else 0.0  # linspace: pixel j (centre j + 0.5 here) sits at j pixel pitches
    for obj in range(k):
        p = pos[:, :, obj].reshape(n * t, 2)  # (F, 2)
        cx, cy = p[:, 0] * scale, (WORLD_SIZE - p[:, 1]) * scale  # (F,) pixel column / row coordinates
        if linspace:
            cx, cy = cx + shift, cy + shift
        rp = np.repeat(radius[:, obj] * scale, t)  # (F,)
        rgb = np.repeat(table[color[:, obj]].astype(np.float64), t, axis=0)  # (F, 3)
        kinds = np.repeat(shape[:, obj], t)  # (F,)
        box = (kinds == SHAPE_BOX) & np.repeat(present[:, obj], t)
        if box.any():
            if np.abs(np.asarray(trajectories.angle[vid])[:, fr][:, :, obj]).max(initial=0.0) > 0:
                raise PhylawError(
                    "the rasteriser draws shape ids disc 0, square 1, ring 2 and axis-aligned boxes 3, not a rotated box"
                )
            hs = np.asarray(trajectories.half_size[vid])[:, obj] * scale  # (n, 2)
            _draw_boxes(canvas, cx, cy, np.repeat(hs[:, 0], t), np.repeat(hs[:, 1], t), rgb, box)
        rp = np.where(kinds == SHAPE_BOX, 0.0, rp)  # the soft pass draws nothing for boxes
        kinds = np.where(kinds == SHAPE_BOX, SHAPE_DISC, kinds)
        _draw(canvas, cx, cy, rp, rgb, kinds, bg if obj == 0 and not box.any() else None, linspace)
    return out


def area_downsample(frames: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 (..., H, W, 3) frames -> (..., resolution, resolution, 3): the mean of each f x f block of pixels
    (f = H / resolution, a whole number), rounded half to even. Area averaging (OpenCV's INTER_AREA, Pillow's
    BOX at an integer factor) is the resize the paper's 256² -> 128² training path is taken to use (the
    release does not include its data loader, SPEC B.0, H)."""
    h, w = frames.shape[-3], frames.shape[-2]
    res = _check_resolution(resolution)
    if h != w or h % res:
        raise PhylawError(f"area downsampling needs square frames whose side {h}x{w} is a multiple of {res}")
    f = h // res
    if f == 1:
        return frames
    total = np.zeros((*frames.shape[:-3], res, res, 3), dtype=np.uint16 if f <= 16 else np.uint32)
    for di in range(f):  # f² strided adds: much faster than a reduction over reshaped block axes
        for dj in range(f):
            total += frames[..., di::f, dj::f, :]
    q, rem = np.divmod(total, f * f)
    half = f * f // 2  # f² is even for f >= 2: a remainder of exactly half is a tie, rounded to the even q
    return (q + ((rem > half) | ((rem == half) & (q % 2 == 1)))).astype(np.uint8)


def render_release(
    trajectories: States,
    resolution: int,
    indices: np.ndarray | list[int] | slice | None = None,
    frames: np.ndarray | list[int] | slice | None = None,
    base: int = RELEASE_RESOLUTION,
) -> np.ndarray:
    """Frames as the paper's pipeline saw them: the release's raster (``pixel_convention="linspace"``) at
    ``base`` (256², its generators' size), area-averaged down to ``resolution`` (a divisor of ``base``: 256,
    128, 64, ...). uint8 (n, T, resolution, resolution, 3)."""
    res = _check_resolution(resolution)
    if base % res:
        raise PhylawError(f"the release's frames are {base}²; resolution {res} does not divide {base}")
    vid = np.arange(len(trajectories))[slice(None) if indices is None else indices]
    step = max(1, _RELEASE_CHUNK_PIXELS // (base * base * len(trajectories.position[0])))
    parts = [
        area_downsample(
            render(trajectories, base, indices=vid[a : a + step], frames=frames, pixel_convention="linspace"),
            res,
        )
        for a in range(0, len(vid), step)
    ]  # a few videos at a time: a 256² video is 6 MB
    if not parts:
        return render(trajectories, res, indices=vid, frames=frames, pixel_convention="linspace")
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def render_video(trajectories: States, i: int, resolution: int) -> np.ndarray:
    """Frames of video i: uint8 (T, H, W, 3)."""
    if not -len(trajectories) <= i < len(trajectories):
        raise PhylawError(f"video index {i} is outside the batch of {len(trajectories)} videos")
    return render(trajectories, resolution, indices=[i])[0]
