"""Render -> colour-mask centroid round trip (a tiny parser written here; evaluate.parse is the real one)."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.render import render
from phylaw.sim import get_split


def mask_centroid(frames: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """frames (n, T, H, W, 3) -> centre x, y (world units, y up) and radius sqrt(area/pi), each (n, T)."""
    r, g, b = frames[..., 0], frames[..., 1], frames[..., 2]
    mask = (r > 127) & (g < 127) & (b < 127) if rule == "red" else (b > 127) & (r < 127) & (g < 127)
    w = frames.shape[3]
    cols = (np.arange(w) + 0.5) * 10 / w
    rows = 10 - (np.arange(w) + 0.5) * 10 / w
    per_col = mask.sum(axis=2, dtype=np.int64)  # (n, T, W)
    per_row = mask.sum(axis=3, dtype=np.int64)  # (n, T, H)
    area = per_col.sum(axis=2)
    x = per_col @ cols / np.maximum(area, 1)
    y = per_row @ rows / np.maximum(area, 1)
    return x, y, np.sqrt(area / np.pi) * 10 / w


@pytest.mark.parametrize("res", [64, 128])
@pytest.mark.parametrize("scenario", ["uniform_motion", "collision", "parabola"])
def test_centroid_round_trip(scenario, res):
    b = get_split(scenario, "eval").generate(0, 30, seed=4)
    tr = b.trajectories
    frames = render(tr, res)
    pixel = 10 / res
    for obj, rule in enumerate(["red", "blue"][: tr.n_objects]):
        x, y, radius = mask_centroid(frames, rule)
        ok = tr.in_view[:, :, obj]
        if tr.n_objects == 2:  # the balls touch at contact: skip frames where the masks could merge
            gap = np.abs(tr.position[:, :, 1, 0] - tr.position[:, :, 0, 0]) - tr.radius.sum(1)[:, None]
            ok &= gap > 2 * pixel
        assert ok.sum() > 100
        dx = (x - tr.position[:, :, obj, 0])[ok] / pixel  # signed errors in pixels
        dy = (y - tr.position[:, :, obj, 1])[ok] / pixel
        dr = (radius - tr.radius[:, None, obj])[ok] / pixel
        # a thresholded mask quantises the disc: individual errors stay well under half a pixel...
        assert np.abs(dx).max() < 0.35, np.abs(dx).max()
        assert np.abs(dy).max() < 0.35, np.abs(dy).max()
        assert np.abs(dx).mean() < 0.1
        assert np.abs(dy).mean() < 0.1
        assert np.abs(dr).max() < 0.35
        # ...and the renderer/parser pixel convention is unbiased (a half-pixel shift would show here)
        assert abs(dx.mean()) < 0.03, dx.mean()
        assert abs(dy.mean()) < 0.03, dy.mean()
