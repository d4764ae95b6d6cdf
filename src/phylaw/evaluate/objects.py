"""Multi-object parser for PHYRE-style frames: palette classes -> connected components -> tracked objects.

Why: the kinematic parser (``evaluate.parse``) follows one object per colour; PHYRE scenes show up to 14
bodies in six colours, several of one colour (gray dynamic bodies, black static ones), often touching. The
judge (``evaluate.judge``) and the trajectory metrics (``evaluate.tracks_metrics``) need every body's track.

Stages (docs/video_metrics.md "Multi-object parser"):

1. ``classify``: each pixel -> class id by the nearest reference colour (module constants below).
2. Components: 8-connected pixels of one class in one frame (never across frames), found row by row as runs
   joined by union-find in a compiled kernel, with their raw moments up to third order.
3. Per component: area, centroid, principal-axis angle and elongation (second moments), and a rotation-,
   translation- and scale-invariant shape descriptor (Hu's first four invariants, see ``descriptor``).
4. Tracking per class (``parse_objects``), then ``match_truth`` to the simulator's slots.

World coordinates: pixel (i, j) of an H x W frame covers [j, j + 1)·S/W in x and its centre is at
x = (j + 0.5)·S/W, y = S − (i + 0.5)·S/H (y up; S = ``world_size``, 512 PHYRE scene units), as in
``evaluate.parse``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numba
import numpy as np

from phylaw.errors import PhylawError

PHYRE_CLASSES = ("red", "green", "blue", "purple", "gray", "black")  # class ids 1..6; 0 = white background
BACKGROUND = 0
CLASS_IDS = {name: i + 1 for i, name in enumerate(PHYRE_CLASSES)}
RED, GREEN, BLUE, PURPLE, GRAY, BLACK = range(1, 7)
# palette id (render.palette) of each class: phyre-red 8, phyre-green 9, phyre-blue 10, phyre-purple 11,
# phyre-gray 12, black 6 (States.color holds these)
CLASS_OF_PALETTE = {8: RED, 9: GREEN, 10: BLUE, 11: PURPLE, 12: GRAY, 6: BLACK}

# Reference colours (SPEC_COMBINATORIAL A.6 WAD_COLORS) and the class each one stands for. White and PHYRE's
# light red (never drawn by the templates, SC A.6) are background.
REFERENCE_RGB = np.array(
    [
        (255, 255, 255),  # white -> background
        (252, 223, 227),  # light red -> background
        (243, 79, 70),  # red
        (107, 206, 187),  # green
        (24, 119, 242),  # blue
        (75, 74, 164),  # purple
        (185, 202, 210),  # gray
        (0, 0, 0),  # black
    ],
    dtype=np.int32,
)
REFERENCE_CLASS = np.array([0, 0, RED, GREEN, BLUE, PURPLE, GRAY, BLACK], dtype=np.uint8)
# A pixel takes the class of the nearest reference colour (Euclidean RGB distance) when that distance is
# below CLASS_TOLERANCE; farther from every reference colour it is unknown and counted as background (0).
# 40 is under half the closest pair of class colours (green-gray 81.4; white-gray 98.7), so a pixel within
# the tolerance of one colour is never within it of another, and blends half-way between two colours (the
# edges of MP4-compressed frames) are unknown rather than a third colour. Compression noise of the release's
# 256-px videos stays well inside it in flat regions (typically < 10 per channel).
CLASS_TOLERANCE = 40.0


def _check_frames(frames: np.ndarray) -> np.ndarray:
    """(n, T, H, W, 3) uint8 (a (T, H, W, 3) video is one batch of 1), PhylawError otherwise."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise PhylawError(f"frames must be a uint8 numpy array, got {getattr(frames, 'dtype', type(frames))}")
    if frames.ndim == 4:
        frames = frames[None]
    if frames.ndim != 5 or frames.shape[-1] != 3:
        raise PhylawError(f"frames must have shape (n, T, H, W, 3) or (T, H, W, 3), got {frames.shape}")
    if 0 in frames.shape[1:]:
        raise PhylawError(f"empty frames: shape {frames.shape}")
    return frames


@numba.njit(cache=True, nogil=True, inline="always")
def _nearest(r, g, b, ref, ref_class, tol2):  # pragma: no cover - compiled
    """Class id of one pixel: the nearest reference colour's class within tol2 (squared distance), else 0."""
    best = tol2
    cls = 0
    for k in range(ref.shape[0]):
        dr = r - ref[k, 0]
        dg = g - ref[k, 1]
        db = b - ref[k, 2]
        d = dr * dr + dg * dg + db * db
        if d < best:
            best = d
            cls = ref_class[k]
    return cls


@numba.njit(cache=True, nogil=True)
def _classify_rows(rows, ref, ref_class, tol2, out):  # pragma: no cover - compiled
    """rows (P, 3) uint8 pixels -> out (P,) class ids; a pixel equal to the previous one reuses its class."""
    pr, pg, pb = -1, -1, -1
    cls = 0
    for p in range(rows.shape[0]):
        r, g, b = np.int32(rows[p, 0]), np.int32(rows[p, 1]), np.int32(rows[p, 2])
        if r != pr or g != pg or b != pb:
            cls = _nearest(r, g, b, ref, ref_class, tol2)
            pr, pg, pb = r, g, b
        out[p] = cls


def classify(frames: np.ndarray, tolerance: float = CLASS_TOLERANCE) -> np.ndarray:
    """Class ids (0 background/unknown, 1..6 = PHYRE_CLASSES) of every pixel: (n, T, H, W, 3) uint8 ->
    (n, T, H, W) uint8 ((T, H, W, 3) -> (1, T, H, W)). Nearest reference colour within ``tolerance``."""
    frames = _check_frames(frames)
    px = np.ascontiguousarray(frames).reshape(-1, 3)
    out = np.empty(px.shape[0], dtype=np.uint8)
    _classify_rows(px, REFERENCE_RGB, REFERENCE_CLASS, np.int32(_tol2(tolerance)), out)
    return out.reshape(frames.shape[:4])


def _tol2(tolerance: float) -> int:
    """Squared tolerance as the kernel's strict integer bound: d² < tol2 <=> distance < tolerance."""
    if not np.isfinite(tolerance) or tolerance <= 0:
        raise PhylawError(f"colour tolerance must be a positive number, got {tolerance}")
    return int(np.ceil(float(tolerance) ** 2))


@dataclass(frozen=True, eq=False)
class ObjectTracks:
    """Tracked objects of n videos, T frames, M track slots (padded), in world units, y up.

    Listed fields (docs/video_metrics.md):
      cls         (n, M)       int8     class id (1..6, PHYRE_CLASSES), 0 = padding slot
      present     (n, T, M)    bool     the track has pixels in that frame: its own component, or a component
                                        it shares with other tracks of its class (``merged``)
      merged      (n, T, M)    bool     it shares its component with another track of its class
      centroid    (n, T, M, 2) float64  world units, y up; own component's centroid, or for a merged track the
                                        estimate described in ``parse_objects``; NaN where not present
      area        (n, T, M)    float64  world units²: own component's area; merged: the component's area shared
                                        in proportion to the members' last own areas; NaN where not present
      angle       (n, T, M)    float64  principal-axis orientation of the own component, radians in [0, π),
                                        counter-clockwise from +x (y up); NaN where not present or merged
      elongation  (n, T, M)    float64  sqrt(λmax/λmin) of the own component's second moments (pixels as unit
                                        squares, so a one-pixel line is finite), 1 = disc; NaN as angle
      descriptor  (n, T, M, D) float64  shape descriptor of the own component (``descriptor``); NaN as angle
      truth_slot  (n, M)       int64    matched States slot, -1 none (set by ``match_truth``)
    Added:
      born        (n, M)       int64    first frame with an own component (0: seen in the first frame), -1 pad
      split_from  (n, M)       int64    slot of the track this one separated from (it is then present and
                                        merged from that track's first frame on: a blob of touching bodies
                                        that came apart), -1 otherwise
      group       (n, T, M)    int64    tracks with equal values in a frame share one component (the smallest
                                        slot among them); the own slot when not merged; -1 where not present
      pixels      (n, T, M)    int64    pixel count of the component the track is in (0 where not present)
      bbox        (n, T, M, 4) float64  that component's box (x_min, y_min, x_max, y_max) in world units
                                        (outer pixel edges); NaN where not present
    resolution: (H, W) of the parsed frames.
    """

    world_size: float
    dt: float
    cls: np.ndarray
    present: np.ndarray
    merged: np.ndarray
    centroid: np.ndarray
    area: np.ndarray
    angle: np.ndarray
    elongation: np.ndarray
    descriptor: np.ndarray
    truth_slot: np.ndarray
    born: np.ndarray
    split_from: np.ndarray
    group: np.ndarray
    pixels: np.ndarray
    bbox: np.ndarray
    resolution: tuple[int, int] = field(default=(0, 0))

    def __len__(self) -> int:
        return int(self.cls.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.present.shape[1])

    @property
    def n_slots(self) -> int:
        return int(self.cls.shape[1])

    @property
    def pixel_size(self) -> float:
        """World units per pixel (x)."""
        return float(self.world_size) / max(1, self.resolution[1])

    def class_name(self, video: int, slot: int) -> str:
        """Name of a track's class ("padding" for an empty slot)."""
        c = int(self.cls[video, slot])
        return PHYRE_CLASSES[c - 1] if c > 0 else "padding"

    def velocity(self) -> np.ndarray:
        """(n, T, M, 2) centroid velocity in world units per second by central differences (one-sided at the
        ends and next to frames where the track is not present); NaN where undefined."""
        c = self.centroid
        v = np.full_like(c, np.nan)
        if self.n_frames < 2:
            return v
        fwd = (c[:, 1:] - c[:, :-1]) / self.dt  # (n, T-1, M, 2)
        v[:, 1:-1] = 0.5 * (fwd[:, 1:] + fwd[:, :-1])
        v[:, 0] = fwd[:, 0]
        v[:, -1] = fwd[:, -1]
        bad = ~np.isfinite(v)
        v[:, :-1] = np.where(bad[:, :-1], fwd, v[:, :-1])
        bad = ~np.isfinite(v)
        v[:, 1:] = np.where(bad[:, 1:], fwd, v[:, 1:])
        return v

    def subset(self, indices: np.ndarray | slice) -> ObjectTracks:
        """The tracks of the selected videos."""
        kw = {
            f: getattr(self, f)[indices]
            for f in ("cls", "present", "merged", "centroid", "area", "angle", "elongation", "descriptor")
        }
        kw.update(
            {f: getattr(self, f)[indices] for f in ("truth_slot", "born", "split_from", "group", "pixels")}
        )
        kw["bbox"] = self.bbox[indices]
        return replace(self, **kw)
