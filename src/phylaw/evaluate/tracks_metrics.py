"""Trajectory metrics of parsed PHYRE-style videos against the simulator (beyond the paper; issue 13 item 5).

Each metric is ``(tracks, states, cond_frames) -> (n,) float64`` (NaN = undefined) on ``evaluate.objects``
tracks, compared with the drawn centroids of the States bodies (``objects.true_centroids``), scene units.
Tracks without ``truth_slot`` are matched first (``objects.match_truth``). Why: the paper's pixel metrics do
not say whether a generated video's objects go where the simulator sends them; these do, per body.

An undetected body must not flatter a metric: where the body's track is not present (or no track matches
it) the distance counts at the cap, the scene diagonal (the largest error a detected body can have), and
every distance is capped there (a body hidden in a blob of touching bodies of its colour in the last frame
is judged by its blob, ``_final``); ``red_position_error_detected`` (detected frames only) and
``red_detection_rate`` are reported beside the capped mean.
"""

from __future__ import annotations

import numpy as np

from phylaw.errors import PhylawError
from phylaw.evaluate.objects import ObjectTracks, match_truth, true_centroids

# Final-state tolerance (scene units) of "Type 1 = matches the ground truth": 10.24 is a PHYRE bar's
# thickness and under the smallest ball's diameter (16), so a body that came to rest somewhere else (other
# side of an obstacle, fell off, did not fall) never matches; it is ten times the parser's error on ground
# truth for bodies on their own (< 1 unit at 256², tests/evaluate/test_objects.py) and above the spread that
# the engine itself shows between builds (median 0.4 px at 256² for every dynamic body, docs/phyre.md),
# leaving room for the estimate of bodies hidden in a blob of touching bodies of their colour.
FINAL_TOLERANCE = 10.24
RED_PALETTE_ID = 8  # phyre-red: the user ball (render.palette)


def _check(tracks: ObjectTracks, states, cond_frames: int) -> ObjectTracks:
    if len(tracks) != len(states) or tracks.n_frames != states.n_frames:
        raise PhylawError(
            f"tracks of {len(tracks)} videos x {tracks.n_frames} frames do not match ground truth of "
            f"{len(states)} videos x {states.n_frames} frames"
        )
    if int(cond_frames) != cond_frames or cond_frames < 0:
        raise PhylawError(f"cond_frames must be a non-negative integer, got {cond_frames}")
    if (tracks.truth_slot < 0).all():
        tracks = match_truth(tracks, states)
    return tracks


def body_errors(tracks: ObjectTracks, states) -> tuple[np.ndarray, np.ndarray]:
    """(distance (n, T, K) scene units, capped at the diagonal; detected (n, T, K) bool) of every States
    slot's matched track from its drawn centroid; undetected: the cap. Slots that are absent or not drawn
    in a frame are NaN."""
    cap = float(tracks.world_size) * np.sqrt(2.0)
    tc = true_centroids(states)  # (n, T, K, 2)
    n, t, k, _ = tc.shape
    parsed = np.full((n, t, k, 2), np.nan)
    vids, slots = np.nonzero(tracks.truth_slot >= 0)
    truth = tracks.truth_slot[vids, slots]
    parsed[vids, :, truth] = np.where(
        tracks.present[vids, :, slots][..., None], tracks.centroid[vids, :, slots], np.nan
    )
    d = np.hypot(*(parsed - tc).transpose(3, 0, 1, 2))
    detected = np.isfinite(d)
    d = np.where(detected, np.minimum(d, cap), cap)
    return np.where(np.isfinite(tc[..., 0]), d, np.nan), detected


def _red_slot(states) -> np.ndarray:
    """(n,) slot of the red user ball (the last present phyre-red slot), -1 where there is none."""
    red = np.asarray(states.present, bool) & (np.asarray(states.color) == RED_PALETTE_ID)
    last = red.shape[1] - 1 - np.argmax(red[:, ::-1], axis=1)
    return np.where(red.any(axis=1), last, -1)


def _red(tracks, states, cond_frames) -> tuple[np.ndarray, np.ndarray]:
    tracks = _check(tracks, states, cond_frames)
    d, det = body_errors(tracks, states)
    slot = _red_slot(states)
    rows = np.arange(len(states))
    dr = np.where(slot[:, None] >= 0, d[rows, :, np.maximum(slot, 0)], np.nan)[:, cond_frames:]
    return dr, np.where(slot[:, None] >= 0, det[rows, :, np.maximum(slot, 0)], False)[:, cond_frames:]


def red_position_error(tracks: ObjectTracks, states, cond_frames: int = 1) -> np.ndarray:
    """Mean over generated frames (t >= cond_frames) of the red ball's distance from the simulator's, scene
    units, undetected frames at the cap (the scene diagonal). NaN: no red ball or no generated frame."""
    d, _ = _red(tracks, states, cond_frames)
    with np.errstate(invalid="ignore"):
        return np.nanmean(d, axis=1) if d.shape[1] else np.full(len(d), np.nan)


def red_position_error_detected(tracks: ObjectTracks, states, cond_frames: int = 1) -> np.ndarray:
    """As ``red_position_error`` over the frames where the red ball is detected only (NaN if none)."""
    d, det = _red(tracks, states, cond_frames)
    d = np.where(det, d, np.nan)
    out = np.full(len(d), np.nan)
    ok = det.any(axis=1)
    out[ok] = np.nanmean(d[ok], axis=1)
    return out


def red_detection_rate(tracks: ObjectTracks, states, cond_frames: int = 1) -> np.ndarray:
    """Fraction of generated frames in which the red ball's track is present (NaN: no red ball / frames)."""
    d, det = _red(tracks, states, cond_frames)
    ok = np.isfinite(d).any(axis=1)
    return np.where(ok, det.mean(axis=1) if d.shape[1] else np.nan, np.nan)


def _final(tracks, states, cond_frames) -> np.ndarray:
    """(n, K) final-frame distance of every dynamic body (NaN for the others). A body whose track is merged
    in the last frame (hidden in a blob of touching bodies of its colour) cannot be located better than its
    blob: its distance is that of its true centroid from the blob's box (0 inside)."""
    tracks = _check(tracks, states, cond_frames)
    d, _ = body_errors(tracks, states)
    d = d[:, -1].copy()  # (n, K)
    tc = true_centroids(states)[:, -1]  # (n, K, 2)
    vids, slots = np.nonzero((tracks.truth_slot >= 0) & tracks.merged[:, -1])
    k = tracks.truth_slot[vids, slots]
    box = tracks.bbox[vids, -1, slots]  # (B, 4)
    p = tc[vids, k]
    gap = np.maximum(np.maximum(box[:, :2] - p, p - box[:, 2:]), 0.0)
    d[vids, k] = np.minimum(d[vids, k], np.hypot(gap[:, 0], gap[:, 1]))
    dynamic = np.asarray(states.present, bool) & ~np.asarray(states.static, bool)
    return np.where(dynamic, d, np.nan)


def final_position_error(tracks: ObjectTracks, states, cond_frames: int = 1) -> np.ndarray:
    """Mean over dynamic bodies of the final-frame distance parsed vs true (scene units, undetected at the
    cap). NaN: no dynamic body."""
    d = _final(tracks, states, cond_frames)
    with np.errstate(invalid="ignore"):
        return np.where(
            np.isfinite(d).any(axis=1), np.nanmean(np.where(np.isfinite(d), d, np.nan), 1), np.nan
        )


def final_state_agreement(tracks: ObjectTracks, states, cond_frames: int = 1) -> np.ndarray:
    """Fraction of dynamic bodies whose final centroid is within FINAL_TOLERANCE of the simulator's."""
    d = _final(tracks, states, cond_frames)
    ok = np.isfinite(d)
    n_ok = ok.sum(axis=1)
    return np.where(n_ok > 0, (ok & (d <= FINAL_TOLERANCE)).sum(axis=1) / np.maximum(n_ok, 1), np.nan)


def final_state_match(tracks: ObjectTracks, states, cond_frames: int = 1) -> np.ndarray:
    """1.0 where every dynamic body ends within FINAL_TOLERANCE of the simulator (outcome Type 1), else 0.0;
    NaN without dynamic bodies."""
    a = final_state_agreement(tracks, states, cond_frames)
    return np.where(np.isfinite(a), (a == 1.0).astype(np.float64), np.nan)
