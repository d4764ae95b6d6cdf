"""Side-by-side GIFs: ground truth | generated, upscaled, with the parsed trajectories drawn over them.

The GIFs are written by the ``gallery`` stage of a cell (which reads the dataset and sample files and the
evaluator's parser); the report only embeds the finished files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from phylaw.io import atomic_path
from phylaw.sim.trajectory import WORLD_SIZE

GT_TRACK = (0, 160, 0)  # parsed from ground-truth frames
GEN_TRACK = (0, 0, 0)  # parsed from generated frames
TRUE_TRACK = (255, 170, 0)  # simulator truth
TEXT_PX = 6  # widest character of PIL's default font, in pixels (for wrapping titles)


def world_to_px(xy: np.ndarray, size: int) -> np.ndarray:
    """World (x, y), y up -> pixel (col, row) coordinates of an image of ``size`` px (docs/formats.md)."""
    xy = np.asarray(xy, dtype=float)  # (..., 2)
    col = xy[..., 0] / WORLD_SIZE * size
    row = (WORLD_SIZE - xy[..., 1]) / WORLD_SIZE * size
    return np.stack([col, row], axis=-1)


def _draw_track(
    draw: ImageDraw.ImageDraw, pts: np.ndarray, upto: int, color: tuple, offset: int, size: int
) -> None:
    """Polyline of the parsed centres of frames 0..upto (NaN = not detected: the line breaks there)."""
    px = world_to_px(pts[: upto + 1], size)  # (t, 2)
    seg: list[tuple[float, float]] = []
    for p in px:
        if not np.all(np.isfinite(p)):
            if len(seg) > 1:
                draw.line(seg, fill=color, width=2)
            seg = []
            continue
        seg.append((float(p[0]) + offset, float(p[1])))
    if len(seg) > 1:
        draw.line(seg, fill=color, width=2)
    if seg:
        x, y = seg[-1]
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=color, width=2)


def side_by_side_frames(
    gt: np.ndarray,
    gen: np.ndarray,
    gt_parsed: np.ndarray,
    gen_parsed: np.ndarray,
    truth: np.ndarray | None = None,
    *,
    cond_frames: int = 3,
    size: int = 160,
    title: str = "",
) -> list[Image.Image]:
    """Frames of the GIF.

    gt, gen:              (T, H, W, 3) uint8 (any resolutions; both are resized to ``size``)
    gt_parsed, gen_parsed: (T, K, 2) parsed centres in world units (NaN where nothing was found)
    truth:                (T, K, 2) simulator positions, optional
    """
    n = min(len(gt), len(gen))
    pad, line = 4, 12
    # the title gets its own lines across both panels, wrapped so that a long one is never cut off
    title_lines = textwrap.wrap(title, width=max(8, (2 * size + pad - 4) // TEXT_PX)) if title else []
    head = line * (1 + len(title_lines)) + 2
    out = []
    for t in range(n):
        canvas = Image.new("RGB", (2 * size + pad, size + head), (235, 235, 235))
        canvas.paste(Image.fromarray(gt[t]).resize((size, size), Image.NEAREST), (0, head))
        canvas.paste(Image.fromarray(gen[t]).resize((size, size), Image.NEAREST), (size + pad, head))
        draw = ImageDraw.Draw(canvas)
        label = "condition" if t < cond_frames else "generated"
        draw.text((2, 1), f"ground truth  t={t:02d}", fill=(0, 0, 0))
        draw.text((size + pad + 2, 1), label, fill=(0, 0, 0))
        for i, text in enumerate(title_lines):
            draw.text((2, 1 + line * (i + 1)), text, fill=(0, 0, 0))
        sub = Image.new("RGB", (2 * size + pad, size), (0, 0, 0))
        sub.paste(canvas.crop((0, head, 2 * size + pad, size + head)))
        sdraw = ImageDraw.Draw(sub)
        n_obj = truth.shape[1] if truth is not None else gt_parsed.shape[1]
        for k in range(min(n_obj, gt_parsed.shape[1])):
            if truth is not None:
                _draw_track(sdraw, truth[:, k], t, TRUE_TRACK, 0, size)
            _draw_track(sdraw, gt_parsed[:, k], t, GT_TRACK, 0, size)
            _draw_track(sdraw, gen_parsed[:, k], t, GEN_TRACK, size + pad, size)
            if truth is not None:
                _draw_track(sdraw, truth[:, k], t, TRUE_TRACK, size + pad, size)
        canvas.paste(sub, (0, head))
        out.append(canvas)
    return out


def write_gif(frames: list[Image.Image], path: Path, *, frame_ms: int = 120) -> Path:
    """An endlessly looping GIF, written atomically (``phylaw.io.atomic_path``)."""
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0,
                       optimize=False)  # fmt: skip
    return path


def pick_examples(
    levels: np.ndarray, splits: np.ndarray, per_split: int, rng: np.random.Generator
) -> list[int]:
    """Row indices of a few examples per split ("id", "ood"), OOD spread over its levels."""
    chosen: list[int] = []
    for split in ("id", "ood"):
        rows = np.flatnonzero(splits == split)
        if not len(rows):
            continue
        by_level = [rows[levels[rows] == lv] for lv in sorted(set(levels[rows].tolist()))]
        picked: list[int] = []
        i = 0
        while len(picked) < min(per_split, len(rows)):
            group = by_level[i % len(by_level)]
            rest = [r for r in group.tolist() if r not in picked]
            if rest:
                picked.append(int(rng.choice(rest)))
            i += 1
        chosen += sorted(picked)
    return chosen
