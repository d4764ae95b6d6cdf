"""Compiled hot path of the parser: per-frame, per-colour-rule mask moments in one pass over the pixels.

The kernel reads every image row once. A row without a single byte <= ``thr`` cannot contain an object pixel
(every colour rule has a channel bounded above by ``thr``), so it is skipped after a vectorisable min-scan;
in the other rows only the span between the first and last dark byte is classified pixel by pixel.
Results are exact integer moments, identical to thresholding the whole frame with numpy.
"""

from __future__ import annotations

import numba
import numpy as np

# stats columns
AREA, SUM_J, SUM_I, J_MIN, J_MAX, I_MIN, I_MAX = range(7)
N_STATS = 7


@numba.njit(cache=True, nogil=True)
def _row_span(row: np.ndarray, thr: int) -> tuple[int, int]:  # pragma: no cover - compiled
    length = row.shape[0]
    lo = 0
    while lo < length and row[lo] > thr:
        lo += 1
    hi = length - 1
    while hi > lo and row[hi] > thr:
        hi -= 1
    return lo, hi


@numba.njit(cache=True, nogil=True)
def mask_moments(rows, height, lo, hi, thr, stats):  # pragma: no cover - compiled
    """rows (F*H, 3W) uint8; lo/hi (K, 3) uint8 inclusive channel ranges; stats (F, K, 7) int64 (filled).

    ``thr`` >= 255 disables the row skip (a rule without an upper bound below 255 exists).
    """
    n_rows, length = rows.shape
    width = length // 3
    n_rules = lo.shape[0]
    for f in range(stats.shape[0]):
        for k in range(n_rules):
            stats[f, k, AREA] = 0
            stats[f, k, SUM_J] = 0
            stats[f, k, SUM_I] = 0
            stats[f, k, J_MIN] = width
            stats[f, k, J_MAX] = -1
            stats[f, k, I_MIN] = height
            stats[f, k, I_MAX] = -1
    for rr in range(n_rows):
        f = rr // height
        i = rr - f * height
        row = rows[rr]
        j0 = 0
        j1 = width
        if thr < 255:
            m = 255
            for p in range(length):
                v = row[p]
                m = v if v < m else m
            if m > thr:
                continue
            b0, b1 = _row_span(row, thr)
            j0 = b0 // 3
            j1 = b1 // 3 + 1
        for j in range(j0, j1):
            r = row[3 * j]
            g = row[3 * j + 1]
            b = row[3 * j + 2]
            if thr < 255 and r > thr and g > thr and b > thr:
                continue
            for k in range(n_rules):
                if (
                    r >= lo[k, 0] and r <= hi[k, 0]
                    and g >= lo[k, 1] and g <= hi[k, 1]
                    and b >= lo[k, 2] and b <= hi[k, 2]
                ):
                    stats[f, k, AREA] += 1
                    stats[f, k, SUM_J] += j
                    stats[f, k, SUM_I] += i
                    if j < stats[f, k, J_MIN]:
                        stats[f, k, J_MIN] = j
                    if j > stats[f, k, J_MAX]:
                        stats[f, k, J_MAX] = j
                    if i < stats[f, k, I_MIN]:
                        stats[f, k, I_MIN] = i
                    stats[f, k, I_MAX] = i
    return stats


def frame_moments(frames: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integer mask moments of F frames (F, H, W, 3) uint8 for K rules -> (F, K, 7) int64."""
    n_frames, height, width, _ = frames.shape
    rows = np.ascontiguousarray(frames).reshape(n_frames * height, 3 * width)  # (F*H, 3W)
    # every rule must have a channel whose upper bound is <= thr for the row skip to be exact
    thr = int(hi.min(axis=1).max())
    stats = np.empty((n_frames, lo.shape[0], N_STATS), dtype=np.int64)
    mask_moments(rows, height, lo.astype(np.uint8), hi.astype(np.uint8), thr, stats)
    return stats
