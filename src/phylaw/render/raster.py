"""Batch rasteriser: soft-edged discs (SPEC B.0), hard squares and soft rings on a white background.

Geometry (docs/formats.md): square images of ``resolution`` pixels for the 10 x 10 world, pixel column j
has centre x = (j + 0.5)·10/W, row i has centre y = 10 − (i + 0.5)·10/H (row 0 is the top, world y up).

Masks, evaluated at pixel centres, with d the distance to the object's centre:
- disc:   m = clip((r² − d²) / (0.03·r²), 0, 1)  (B.0's soft edge: a band of 3 % of r² inside the rim)
- square: m = 1 where |x − cx| <= r and |y − cy| <= r (side 2r, hard edge, as B.0), else 0
- ring:   annulus of outer radius r and inner radius 0.6·r: m = m_disc(r) · (1 − m_disc(0.6 r)),
          i.e. the same 3 % soft band on both rims
Compositing, object by object in order (later objects on top): value = rint(c + m·(colour − c)) with c the
current pixel value, computed in float32 and rounded half to even (np.rint); on the white background this is
B.0's (1 − m)·255 + m·colour. Only a padded per-object bounding box (the same size across the batch, shifted
to lie inside the image) is evaluated, never a full-frame pass per object.
"""

from __future__ import annotations

import numpy as np

from phylaw.errors import PhylawError
from phylaw.render.palette import BACKGROUND, rgb_table
from phylaw.sim.trajectory import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE, WORLD_SIZE, Trajectories

EDGE_BAND = 0.03  # soft edge width as a fraction of r²
RING_INNER = 0.6  # inner radius of a ring, as a fraction of its outer radius
MIN_RESOLUTION = 8
_CHUNK_PIXELS = 1 << 21  # mask elements evaluated at once (bounds temporary memory to ~30 MB)


def _check_resolution(resolution: int) -> int:
    if int(resolution) != resolution or resolution < MIN_RESOLUTION:
        raise PhylawError(f"resolution must be an integer >= {MIN_RESOLUTION}, got {resolution}")
    return int(resolution)


def _soft_disc(d2: np.ndarray, rp: np.ndarray) -> np.ndarray:
    """Soft disc mask. d2 (c, B, B) squared pixel distances, rp (c,) radii in pixels -> (c, B, B) float32."""
    r2 = (rp * rp)[:, None, None]  # (c, 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(r2 > 0, 1.0 / (EDGE_BAND * r2), 0.0).astype(np.float32)
    return np.clip((r2 - d2) * inv, 0.0, 1.0)


def _mask(dx: np.ndarray, dy: np.ndarray, rp: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(c, B, B) float32 mask. dx, dy: (c, B) pixel offsets of column/row centres from the object centre."""
    d2 = dx[:, None, :] ** 2 + dy[:, :, None] ** 2  # (c, B, B)
    if (shape == SHAPE_DISC).all():
        return _soft_disc(d2, rp)
    m = np.zeros(d2.shape, dtype=np.float32)
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
            raise PhylawError(f"unknown shape id {int(sid)}; known: disc 0, square 1, ring 2")
    return m


def _draw(flat: np.ndarray, res: int, cx, cy, rp, rgb, shape) -> None:
    """Composite one object per frame onto ``flat`` = canvas (F, H, W, 3) viewed as (F*H*W, 3).

    cx, cy: (F,) centre in pixel units (column / row coordinates, pixel j spans [j, j+1)); rp (F,) radius
    in pixels; rgb (F, 3) float32 colour; shape (F,) shape ids.
    """
    box = int(min(res, np.floor(2.0 * float(rp.max(initial=0.0))) + 2))  # B: pixels per box side
    ar = np.arange(box, dtype=np.float64) + 0.5  # (B,)
    # top-left pixel of each box, shifted inside the image (pixels outside the object get m = 0)
    j0 = np.clip(np.floor(cx - rp - 0.5), 0, res - box).astype(np.int64)  # (F,)
    i0 = np.clip(np.floor(cy - rp - 0.5), 0, res - box).astype(np.int64)
    step = max(1, _CHUNK_PIXELS // (box * box))
    pix = np.arange(box, dtype=np.int64)
    for a in range(0, cx.shape[0], step):
        s = slice(a, a + step)
        dx = (j0[s, None] + ar - cx[s, None]).astype(np.float32)  # (c, B)
        dy = (i0[s, None] + ar - cy[s, None]).astype(np.float32)  # (c, B)
        m = _mask(dx, dy, rp[s].astype(np.float32), shape[s])[..., None]  # (c, B, B, 1)
        frame = np.arange(a, a + dx.shape[0], dtype=np.int64)[:, None, None]  # (c, 1, 1)
        idx = (frame * res + (i0[s, None] + pix)[:, :, None]) * res + (j0[s, None] + pix)[
            :, None, :
        ]  # (c, B, B)
        cur = flat[idx].astype(np.float32)  # (c, B, B, 3)
        new = cur + m * (rgb[s, None, None, :] - cur)
        flat[idx] = np.rint(new).astype(np.uint8)


def render(
    trajectories: Trajectories,
    resolution: int,
    indices: np.ndarray | list[int] | slice | None = None,
    frames: np.ndarray | list[int] | slice | None = None,
) -> np.ndarray:
    """Frames of the selected videos: uint8 (n, T, H, W, 3) with H = W = resolution.

    indices selects videos (default all), frames selects frame indices (default all).
    """
    res = _check_resolution(resolution)
    vid = slice(None) if indices is None else indices
    fr = slice(None) if frames is None else frames
    pos = np.asarray(trajectories.position[vid])[:, fr]  # (n, T, K, 2)
    radius = np.asarray(trajectories.radius[vid], dtype=np.float64)  # (n, K)
    color = np.asarray(trajectories.color[vid])  # (n, K)
    shape = np.asarray(trajectories.shape[vid])  # (n, K)
    n, t, k, _ = pos.shape
    table = rgb_table()
    if not np.isfinite(radius).all() or (radius < 0).any():
        raise PhylawError("object radii must be finite and >= 0")
    if color.size and color.max() >= len(table):
        raise PhylawError(f"unknown palette id {int(color.max())}; ids are 0..{len(table) - 1}")
    canvas = np.empty((n * t, res, res, 3), dtype=np.uint8)
    canvas[...] = table[BACKGROUND]
    flat = canvas.reshape(-1, 3)
    scale = res / WORLD_SIZE  # pixels per world unit
    for obj in range(k):
        p = pos[:, :, obj].reshape(n * t, 2)  # (F, 2)
        rp = np.repeat(radius[:, obj] * scale, t)  # (F,)
        rgb = np.repeat(table[color[:, obj]].astype(np.float32), t, axis=0)  # (F, 3)
        _draw(
            flat, res, p[:, 0] * scale, (WORLD_SIZE - p[:, 1]) * scale, rp, rgb, np.repeat(shape[:, obj], t)
        )
    return canvas.reshape(n, t, res, res, 3)


def render_video(trajectories: Trajectories, i: int, resolution: int) -> np.ndarray:
    """Frames of video i: uint8 (T, H, W, 3)."""
    if not -len(trajectories) <= i < len(trajectories):
        raise PhylawError(f"video index {i} is outside the batch of {len(trajectories)} videos")
    return render(trajectories, resolution, indices=[i])[0]
