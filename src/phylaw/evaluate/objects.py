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
from phylaw.evaluate.parse import as_batch

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
    frames = as_batch(frames)
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
                                        centroid of the component's pixels given to it (``parse_objects``);
                                        NaN where not present
      area        (n, T, M)    float64  world units²: own component's area; merged: the area of the pixels
                                        given to it (members' areas sum to the component's); NaN where not
                                        present
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


# ---------------------------------------------------------------------------------------------- components

# columns of the kernel's per-component table; moments are of pixel centres relative to the image centre
# (x = j + 0.5 − W/2 right, y = i + 0.5 − H/2 down), which keeps third-order sums well-conditioned
(C_FRAME, C_CLASS, C_M00, C_X, C_Y, C_XX, C_XY, C_YY, C_XXX, C_XXY, C_XYY, C_YYY, C_IMIN, C_IMAX, C_JMIN,
 C_JMAX) = range(16)  # fmt: skip
N_COLS = 16
MIN_AREA = 4  # pixels: smaller components are noise (isolated pixels of compressed edges)
# pixels: a component thinner than this (sqrt(12·λmin) of its second moments, the width of a rectangle with
# that spread; a one-pixel line has 1) is an edge artefact. PHYRE's thinnest body, a bar of 10.24 units, is
# 2.56 px thick at 128 px and 1.28 px at 64 px: frames below 128 px need a smaller min_width (e.g. 1)
MIN_WIDTH = 1.5


@numba.njit(cache=True, nogil=True, inline="always")
def _find(parent, a):  # pragma: no cover - compiled
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@numba.njit(cache=True, nogil=True)
def _label_frames(frames, ref, ref_class, tol2, min_area, min_width, labels, out, n_out):  # pragma: no cover
    """Components of every frame: frames (F, H, W, 3) uint8 -> labels (F, H, W) int32 (row of ``out`` of the
    pixel's component, -1 background or a dropped component) and rows n_out.. of out (cap, N_COLS) float64.
    Returns (out, n) (out is reallocated, doubled, when full)."""
    n_frames, height, width = frames.shape[0], frames.shape[1], frames.shape[2]
    cap_runs = height * width
    r_start = np.empty(cap_runs, np.int32)
    r_end = np.empty(cap_runs, np.int32)
    r_cls = np.empty(cap_runs, np.uint8)
    r_row = np.empty(cap_runs, np.int32)
    parent = np.empty(cap_runs, np.int32)
    comp = np.empty(cap_runs, np.int32)
    acc = np.zeros((cap_runs, N_COLS), np.float64)
    row_cls = np.empty(width, np.uint8)
    hx, hy = 0.5 - width / 2.0, 0.5 - height / 2.0
    for f in range(n_frames):
        n_runs = 0
        prev_a, prev_b = 0, 0
        for i in range(height):
            pr, pg, pb = -1, -1, -1
            cls = 0
            for j in range(width):
                r, g, b = (
                    np.int32(frames[f, i, j, 0]),
                    np.int32(frames[f, i, j, 1]),
                    np.int32(frames[f, i, j, 2]),
                )
                if r != pr or g != pg or b != pb:
                    cls = _nearest(r, g, b, ref, ref_class, tol2)
                    pr, pg, pb = r, g, b
                row_cls[j] = cls
            cur_a = n_runs
            j = 0
            while j < width:
                c = row_cls[j]
                if c == 0:
                    j += 1
                    continue
                s = j
                while j < width and row_cls[j] == c:
                    j += 1
                r_start[n_runs], r_end[n_runs], r_cls[n_runs], r_row[n_runs] = s, j, c, i
                parent[n_runs] = n_runs
                n_runs += 1
            q0 = prev_a  # 8-connectivity with the previous row's runs: columns within one of each other
            for rr in range(cur_a, n_runs):
                s, e = r_start[rr], r_end[rr]
                while q0 < prev_b and r_end[q0] < s:
                    q0 += 1
                q = q0
                while q < prev_b and r_start[q] <= e:
                    if r_cls[q] == r_cls[rr]:
                        a, b2 = _find(parent, q), _find(parent, rr)
                        if a != b2:
                            if a < b2:
                                parent[b2] = a
                            else:
                                parent[a] = b2
                    q += 1
            prev_a, prev_b = cur_a, n_runs
        # moments per root
        n_comp = 0
        for rr in range(n_runs):
            root = _find(parent, rr)
            if root == rr:
                comp[rr] = n_comp
                a = acc[n_comp]
                a[:] = 0.0
                a[C_IMIN] = height
                a[C_JMIN] = width
                a[C_IMAX] = -1
                a[C_JMAX] = -1
                a[C_CLASS] = r_cls[rr]
                n_comp += 1
            k = comp[root]
            comp[rr] = k
            a = acc[k]
            y = r_row[rr] + hy
            p0 = p1 = p2 = p3 = 0.0
            for jj in range(r_start[rr], r_end[rr]):
                x = jj + hx
                p0 += 1.0
                p1 += x
                p2 += x * x
                p3 += x * x * x
            a[C_M00] += p0
            a[C_X] += p1
            a[C_Y] += y * p0
            a[C_XX] += p2
            a[C_XY] += y * p1
            a[C_YY] += y * y * p0
            a[C_XXX] += p3
            a[C_XXY] += y * p2
            a[C_XYY] += y * y * p1
            a[C_YYY] += y * y * y * p0
            a[C_IMIN] = min(a[C_IMIN], r_row[rr])
            a[C_IMAX] = max(a[C_IMAX], r_row[rr])
            a[C_JMIN] = min(a[C_JMIN], r_start[rr])
            a[C_JMAX] = max(a[C_JMAX], r_end[rr] - 1)
        keep = np.full(n_comp, -1, np.int32)
        for k in range(n_comp):
            a = acc[k]
            m = a[C_M00]
            if m < min_area:
                continue
            mx, my = a[C_X] / m, a[C_Y] / m
            vxx = a[C_XX] / m - mx * mx + 1.0 / 12.0
            vyy = a[C_YY] / m - my * my + 1.0 / 12.0
            vxy = a[C_XY] / m - mx * my
            lam_min = 0.5 * (vxx + vyy) - np.sqrt(0.25 * (vxx - vyy) ** 2 + vxy * vxy)
            if np.sqrt(12.0 * max(lam_min, 0.0)) < min_width:
                continue
            if n_out >= out.shape[0]:
                bigger = np.empty((2 * out.shape[0] + 16, N_COLS), np.float64)
                bigger[:n_out] = out[:n_out]
                out = bigger
            out[n_out] = a
            out[n_out, C_FRAME] = f
            keep[k] = n_out
            n_out += 1
        lab = labels[f]
        lab[:] = -1
        for rr in range(n_runs):
            k = keep[comp[rr]]
            if k >= 0:
                for jj in range(r_start[rr], r_end[rr]):
                    lab[r_row[rr], jj] = k
    return out, n_out


def descriptor(mu: dict[str, np.ndarray]) -> np.ndarray:
    """(..., 4) shape descriptor from central moments ``mu`` (keys "00", "20", "11", "02", "30", "21", "12",
    "03", in any consistent units): Hu's first four invariants of the normalised moments
    η_pq = μ_pq / μ00^(1 + (p + q)/2), as (φ1, √φ2, √φ3, √φ4) so that every entry is of first order in η.
    Invariant to translation, rotation, scale and mirroring. A disc gives (1/2π, 0, 0, 0); a w x h
    rectangle (w/h + h/w)/12 then |w/h − h/w|/12, 0, 0."""
    m00 = mu["00"]
    e = {k: mu[k] / m00 ** (1.0 + (int(k[0]) + int(k[1])) / 2.0) for k in mu if k != "00"}
    phi1 = e["20"] + e["02"]
    phi2 = (e["20"] - e["02"]) ** 2 + 4.0 * e["11"] ** 2
    phi3 = (e["30"] - 3.0 * e["12"]) ** 2 + (3.0 * e["21"] - e["03"]) ** 2
    phi4 = (e["30"] + e["12"]) ** 2 + (e["21"] + e["03"]) ** 2
    return np.stack([phi1, np.sqrt(phi2), np.sqrt(phi3), np.sqrt(phi4)], axis=-1)


@dataclass(frozen=True)
class _Components:
    """Components of one video (rows sorted by frame), image pixel units: x right from the left edge,
    y down from the top edge (a pixel's centre at (j + 0.5, i + 0.5))."""

    frame: np.ndarray  # (C,) int
    cls: np.ndarray  # (C,) int
    x: np.ndarray  # (C,) centroid
    y: np.ndarray
    area: np.ndarray  # (C,) pixels
    angle: np.ndarray  # (C,) radians in [0, π), counter-clockwise with y up
    elongation: np.ndarray  # (C,)
    desc: np.ndarray  # (C, 4)
    box: np.ndarray  # (C, 4) i_min, i_max, j_min, j_max (inclusive pixel indices)
    start: np.ndarray  # (T + 1,) rows of frame t: start[t]:start[t + 1]
    key: np.ndarray  # (C, 4) exact (cls, area, sum x, sum y): equal rows in consecutive frames = no change


def _components(table: np.ndarray, n_frames: int, height: int, width: int) -> _Components:
    """Per-component features from the kernel's table (C, N_COLS)."""
    m = table[:, C_M00]
    mx, my = table[:, C_X] / m, table[:, C_Y] / m
    mu = {
        "00": m,
        "20": table[:, C_XX] - m * mx * mx + m / 12.0,  # + pixel squares' own spread
        "02": table[:, C_YY] - m * my * my + m / 12.0,
        "11": table[:, C_XY] - m * mx * my,
        "30": table[:, C_XXX] - 3 * mx * table[:, C_XX] + 2 * m * mx**3,
        "03": table[:, C_YYY] - 3 * my * table[:, C_YY] + 2 * m * my**3,
        "21": table[:, C_XXY] - 2 * mx * table[:, C_XY] - my * table[:, C_XX] + 2 * m * mx * mx * my,
        "12": table[:, C_XYY] - 2 * my * table[:, C_XY] - mx * table[:, C_YY] + 2 * m * mx * my * my,
    }
    a, c, b = mu["20"] / m, mu["02"] / m, mu["11"] / m
    root = np.sqrt(0.25 * (a - c) ** 2 + b * b)
    lam_max, lam_min = 0.5 * (a + c) + root, 0.5 * (a + c) - root
    angle = np.mod(0.5 * np.arctan2(-2.0 * b, a - c), np.pi)  # image y is down: μ11 changes sign for y up
    frame = table[:, C_FRAME].astype(np.int64)
    return _Components(
        frame=frame,
        cls=table[:, C_CLASS].astype(np.int64),
        x=mx + width / 2.0,
        y=my + height / 2.0,
        area=m,
        angle=angle,
        elongation=np.sqrt(lam_max / np.maximum(lam_min, 1e-12)),
        desc=descriptor(mu),
        box=table[:, [C_IMIN, C_IMAX, C_JMIN, C_JMAX]].astype(np.int64),
        start=np.searchsorted(frame, np.arange(n_frames + 1)),
        key=table[:, [C_CLASS, C_M00, C_X, C_Y]],
    )


@numba.njit(cache=True, nogil=True)
def _overlap(prev, cur, p0, n_prev, c0, n_cur):  # pragma: no cover - compiled
    """(n_prev, n_cur) pixel counts of label prev == p0 + a and cur == c0 + b (two frames' label images)."""
    counts = np.zeros((n_prev, n_cur), np.int64)
    for i in range(prev.shape[0]):
        for j in range(prev.shape[1]):
            a, b = prev[i, j] - p0, cur[i, j] - c0
            if a >= 0 and b >= 0 and a < n_prev and b < n_cur:
                counts[a, b] += 1
    return counts


# ------------------------------------------------------------------------------------------------ tracking

GATE = 128.0  # world units: the farthest a component may be from a track's prediction to continue it
AREA_WEIGHT = 0.5  # assignment cost = distance / gate + AREA_WEIGHT·|ln(area ratio)|
# the cost of leaving a track without a component in the assignment (it may still join a merge): above every
# gated match of a body of its own size (<= 1), below a swap's two mismatched areas (ln 2 each, halved, plus
# distances)
UNMATCHED_COST = 3.0
# a track left without a component joins a held one under it when that one's area is at least this fraction of
# the last own areas of its holders and the track together (touching bodies; 0.6 leaves room for occlusion
# and for bodies of a blob that separate in the same frame as others join: GT videos lose far fewer frames)
MERGE_AREA_FRACTION = 0.6
SPLIT_AREA_RATIO = 1.25  # pieces are a split of one component when their areas sum to it within this factor
# a body found at a split is carried back in its parent's blob (frame by frame, t − 1 first) while the blob's
# area exceeds its other members' sizes by at least this fraction of the body's area: where the blob is no
# larger than its members, the body was not in it (it came from elsewhere, e.g. from behind an occluder)
SPLIT_BACK_FRACTION = 0.5
# a merged body's mask is moved by its predicted move or the blob's move only where that covers more of the
# blob than staying put by this fraction of the mask: touching bodies mostly stop, and a body whose
# prediction carries it over its neighbour would otherwise take the neighbour's pixels (a tie)
MOVE_MARGIN = 0.05
_INFEASIBLE = 1e9


class _Tracker:
    """Tracks of one video, built frame by frame in image pixel units (see ``parse_objects``)."""

    def __init__(self, comps: _Components, labels: np.ndarray, gate_px: float) -> None:
        self.c, self.labels, self.gate = comps, labels, gate_px
        self.n_frames = labels.shape[0]
        self.cap = 16
        self.comp = np.full((self.n_frames, self.cap), -1, np.int64)  # component row of each track, frame
        self.merged = np.zeros((self.n_frames, self.cap), bool)
        self.pos = np.full((self.n_frames, self.cap, 2), np.nan)
        self.share = np.full((self.n_frames, self.cap), np.nan)  # pixels attributed to the track
        self.cls: list[int] = []
        self.born: list[int] = []
        self.split_from: list[int] = []
        self.ref_area: list[float] = []  # last own area (pixels)
        self.seen: list[list[int]] = []  # frames where the track was present (newest last)
        # (t, track) -> (i0, j0, bool mask) of the pixels a merged track was given in frame t (``_divide``);
        # own components' masks are read from the label images
        self.masks: dict[tuple[int, int], tuple[int, int, np.ndarray]] = {}

    # -------------------------------------------------------------- bookkeeping
    def _new(self, t: int, k: int, parent: int = -1) -> int:
        m = len(self.cls)
        if m == self.cap:
            grow = self.cap
            self.comp = np.concatenate([self.comp, np.full((self.n_frames, grow), -1, np.int64)], axis=1)
            self.merged = np.concatenate([self.merged, np.zeros((self.n_frames, grow), bool)], axis=1)
            self.pos = np.concatenate([self.pos, np.full((self.n_frames, grow, 2), np.nan)], axis=1)
            self.share = np.concatenate([self.share, np.full((self.n_frames, grow), np.nan)], axis=1)
            self.cap += grow
        self.cls.append(int(self.c.cls[k]))
        self.born.append(t)
        self.split_from.append(parent)
        self.ref_area.append(float(self.c.area[k]))
        self.seen.append([])
        return m

    def _write(self, t: int, k: int, members: list[int]) -> None:
        """Component k of frame t holds ``members``: one = its own; several = merged, the component's pixels
        divided among them (``_divide``) from their masks in their last frames moved by their predicted
        displacement."""
        c = self.c
        if len(members) == 1:
            m = members[0]
            ck = np.array([c.x[k], c.y[k]])
            self.comp[t, m], self.merged[t, m], self.pos[t, m], self.share[t, m] = k, False, ck, c.area[k]
            self.masks.pop((t, m), None)
            self.ref_area[m] = float(c.area[k])
            self.seen[m].append(t)
            return
        src = {}
        for m in members:
            s = self.seen[m][-1]
            src[m] = (s, self._predict(m, t)[0] - self.pos[s, m], [])
        self._divide(t, k, members, src)
        for m in members:
            self.seen[m].append(t)

    def _mask(self, t: int, m: int) -> tuple[int, int, np.ndarray] | None:
        """(i0, j0, bool mask) of track m's pixels in frame t: its own component's, or those ``_divide`` gave
        it in a merge; None where it has none."""
        if self.merged[t, m]:
            return self.masks.get((t, m))
        k = self.comp[t, m]
        if k < 0:
            return None
        i0, i1, j0, j1 = self.c.box[k]
        return int(i0), int(j0), self.labels[t, i0 : i1 + 1, j0 : j1 + 1] == k

    def _divide(self, t: int, k: int, members: list[int], src: dict) -> None:
        """Divide the pixels of component k of frame t among ``members`` (all then present and merged there),
        each with its measured centroid, pixel count (its share) and mask. ``src[m]`` = (frame s, (dx, dy)
        pixels, further candidate moves): m's mask in frame s moved by (dx, dy), by a further candidate, by
        nothing, or by the move of the centroid of the
        component it was in at s to k's when that held the same tracks (bodies carried together), whichever covers most of component k
        (staying put unless a move covers MOVE_MARGIN of the mask more), is where m is expected (moves
        rounded to whole pixels).
        Pixels inside exactly one expected mask go to it; inside several, to the nearest of their expected
        centroids; inside none, to the member of the nearest pixel already given (Euclidean distance
        transform), or with none given at all, to the nearest expected centroid. So the bodies' own outlines,
        seen before they touched (or after they came apart, for ``_split``'s backward pass), draw the
        boundary that the merged pixels do not show. A member left with no pixel keeps its expected centroid
        and a zero share."""
        c = self.c
        i0, i1, j0, j1 = (int(x) for x in c.box[k])
        blob = self.labels[t, i0 : i1 + 1, j0 : j1 + 1] == k
        h, w = blob.shape
        n = len(members)
        cover = np.zeros((n, h, w), bool)
        expect = np.zeros((n, 2))  # expected centroids, box pixel coordinates (x, y) of pixel centres
        for q, m in enumerate(members):
            s, d, extra = src[m]
            got = self._mask(s, m)
            expect[q] = self.pos[s, m] + d - [j0, i0]
            if got is None:
                continue
            mi, mj, a = got
            best = -1
            ks = self.comp[s, m]  # the component m was in at s: its move to k is the third candidate when it
            # held the same tracks (a blob that gained or lost a body moves its centroid, not its bodies)
            same = ks >= 0 and set(np.flatnonzero(self.comp[s, : len(self.cls)] == ks)) == set(members)
            moved = np.array([c.x[k] - c.x[ks], c.y[k] - c.y[ks]]) if same else d
            for dd in (np.zeros(2), d, moved, *extra):  # the one covering most of the blob, by a margin
                di, dj = mi + int(np.rint(dd[1])) - i0, mj + int(np.rint(dd[0])) - j0
                r0, r1 = max(di, 0), min(di + a.shape[0], h)
                q0, q1 = max(dj, 0), min(dj + a.shape[1], w)
                if r0 >= r1 or q0 >= q1:
                    continue
                here = np.zeros((h, w), bool)
                here[r0:r1, q0:q1] = a[r0 - di : r1 - di, q0 - dj : q1 - dj]
                here &= blob
                if here.sum() > best + MOVE_MARGIN * a.sum():
                    best, cover[q] = int(here.sum()), here
                    expect[q] = self.pos[s, m] + dd - [j0, i0]
        cover &= blob
        cnt = cover.sum(axis=0)
        lab = np.where(cnt == 1, np.argmax(cover, axis=0), -1)
        ii, jj = np.nonzero(blob & (cnt != 1) if (cnt == 1).any() else blob)
        if len(ii):
            d2 = (jj[None] + 0.5 - expect[:, 0, None]) ** 2 + (ii[None] + 0.5 - expect[:, 1, None]) ** 2
            several = cnt[ii, jj] > 1
            d2 = np.where(several[None] & ~cover[:, ii, jj], np.inf, d2)
            if (lab >= 0).any():  # uncovered pixels: the member of the nearest given pixel
                from scipy.ndimage import distance_transform_edt

                near = distance_transform_edt(lab < 0, return_distances=False, return_indices=True)
                lab_near = lab[near[0], near[1]]
                lab[ii, jj] = np.where(several, np.argmin(d2, axis=0), lab_near[ii, jj])
            else:
                lab[ii, jj] = np.argmin(d2, axis=0)
        lab = np.where(blob, lab, -1)
        ys, xs = np.nonzero(lab >= 0)
        owner = lab[ys, xs]
        count = np.bincount(owner, minlength=n)
        sx = np.bincount(owner, weights=xs + 0.5, minlength=n)
        sy = np.bincount(owner, weights=ys + 0.5, minlength=n)
        for q, m in enumerate(members):
            self.comp[t, m], self.merged[t, m] = k, True
            if count[q]:
                self.pos[t, m] = [sx[q] / count[q] + j0, sy[q] / count[q] + i0]
                self.masks[(t, m)] = (i0, j0, lab == q)
            else:
                self.pos[t, m] = expect[q] + [j0, i0]
                self.masks.pop((t, m), None)
            self.share[t, m] = float(count[q])

    def _predict(self, m: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(prediction at t, last position) of track m: constant velocity from its last two frames."""
        s = self.seen[m]
        last = self.pos[s[-1], m]
        if len(s) < 2:
            return last, last
        v = (last - self.pos[s[-2], m]) / (s[-1] - s[-2])
        return last + v * min(t - s[-1], 2), last

    def _label(self, t: int, p: np.ndarray) -> int:
        """The component under pixel position p (col, row) of frame t; -1 outside the frame or where p is
        unknown (NaN: a track with no position yet, e.g. a body carried back into a blob)."""
        if not np.isfinite(p).all():
            return -1
        h, w = self.labels.shape[1:]
        i, j = int(np.floor(p[1])), int(np.floor(p[0]))
        if 0 <= i < h and 0 <= j < w:
            return int(self.labels[t, i, j])
        return -1

    # -------------------------------------------------------------- frames
    def first(self) -> None:
        for k in range(self.c.start[0], self.c.start[1]):
            self._write(0, k, [self._new(0, k)])

    def step(self, t: int) -> None:
        c = self.c
        a0, a1, b0, b1 = c.start[t - 1], c.start[t], c.start[t], c.start[t + 1]
        if a1 - a0 == b1 - b0 and np.array_equal(c.key[a0:a1], c.key[b0:b1]):  # nothing changed
            prev = self.comp[t - 1]
            for m in np.flatnonzero(prev >= 0):
                self.comp[t, m] = prev[m] + (b0 - a0)
                self.merged[t, m], self.pos[t, m], self.share[t, m] = (
                    self.merged[t - 1, m], self.pos[t - 1, m], self.share[t - 1, m])  # fmt: skip
                if (t - 1, m) in self.masks:
                    self.masks[(t, m)] = self.masks[(t - 1, m)]
                self.seen[m].append(t)
            return
        tracks = list(range(len(self.cls)))
        pred = {m: self._predict(m, t) for m in tracks}
        members: dict[int, list[int]] = {}
        self._assign(tracks, list(range(b0, b1)), pred, members)
        held = {m for ms in members.values() for m in ms}
        over = _overlap(self.labels[t - 1], self.labels[t], a0, a1 - a0, b0, b1 - b0)  # (prev, cur)
        for m in tracks:  # a track left without a component, inside a held one about as large as all: merged
            if m not in held:
                k = self._container(t, m, pred[m], members, over, a0, b0)
                if k >= 0:
                    members[k].append(m)
        for k, ms in members.items():
            self._write(t, k, ms)
        self._splits_and_births(t, [k for k in range(b0, b1) if k not in members], over, a0, b0)

    def _assign(
        self, free_t: list[int], free_k: list[int], pred: dict, members: dict[int, list[int]]
    ) -> None:
        """Hungarian assignment of the free tracks to the free components of their class, gated."""
        if not free_t or not free_k:
            return
        from scipy.optimize import linear_sum_assignment

        c = self.c
        p = np.array([pred[m][0] for m in free_t])  # (A, 2)
        last = np.array([pred[m][1] for m in free_t])
        ks = np.array(free_k)
        # distance to the constant-velocity prediction; where that is beyond the gate, to the last position: a
        # body that bounces or is stopped by a contact ends between the two (a ball bouncing off the floor at
        # 90 units/frame is ~190 units from its prediction). Only as a fallback: the nearer of the two
        # everywhere let a track take a neighbour's component near its last position (identity swaps on
        # in-template ground truth)
        d_pred = np.hypot(p[:, None, 0] - c.x[ks][None], p[:, None, 1] - c.y[ks][None])
        d_last = np.hypot(last[:, None, 0] - c.x[ks][None], last[:, None, 1] - c.y[ks][None])
        d = np.where(d_pred <= self.gate, d_pred, d_last)  # (A, B)
        ref = np.array([self.ref_area[m] for m in free_t])
        cost = d / self.gate + AREA_WEIGHT * np.abs(np.log(c.area[ks][None] / ref[:, None]))
        ok = (d <= self.gate) & (c.cls[ks][None] == np.array([self.cls[m] for m in free_t])[:, None])
        cost = np.where(ok, cost, _INFEASIBLE)
        # each track may also stay unassigned (then merged or lost, as below) at UNMATCHED_COST: without that
        # option the assignment swaps two tracks' identities rather than leave one of them without a component
        a = len(free_t)
        pad = np.full((a, a), _INFEASIBLE)
        np.fill_diagonal(pad, UNMATCHED_COST)
        rows, cols = linear_sum_assignment(np.concatenate([cost, pad], axis=1))
        for r, q in zip(rows, cols, strict=True):
            if q < len(ks) and ok[r, q]:
                members[int(ks[q])] = [free_t[r]]

    def _container(self, t, m, pred, members, over, a0, b0) -> int:
        """The held component of m's class that m joins, else -1: candidates are the components of frame t
        that overlap m's component of frame t − 1 (most overlap first), then those under m's prediction or
        last position; the first whose area is at least MERGE_AREA_FRACTION of its holders' and m's last own
        areas together is taken."""
        c = self.c
        cands = []
        kp = self.comp[t - 1, m]
        if kp >= 0:
            row = over[kp - a0]
            cands = [int(q) + b0 for q in np.argsort(-row, kind="stable") if row[q] > 0]
        cands += [self._label(t, p) for p in pred]
        for k in cands:
            if k < 0 or k not in members or c.cls[k] != self.cls[m]:
                continue
            if c.area[k] >= MERGE_AREA_FRACTION * sum(self._size(q, t - 1) for q in [*members[k], m]):
                return k
        return -1

    def _size(self, m: int, t: int) -> float:
        """Track m's size (pixels) in frame t: its share there (own component or pixels of a merge), else
        its last own area."""
        if self.comp[t, m] >= 0 and self.share[t, m] > 0:
            return float(self.share[t, m])
        return self.ref_area[m]

    def _splits_and_births(self, t: int, free: list[int], over: np.ndarray, a0: int, b0: int) -> None:
        """Components no track continues: pieces of a component of frame t − 1 (the one they overlap most, else
        the one under or around their centroid) whose pieces' areas sum to it (a blob of touching bodies
        coming apart: a track present, merged, from its parent's first frame), else new tracks (appearances)."""
        c = self.c
        source: dict[int, list[int]] = {}
        for k in free:
            col = over[:, k - b0]
            kp = int(np.argmax(col)) + a0 if col.size and col.max() > 0 else -1
            if kp < 0 or c.cls[kp] != c.cls[k]:
                kp = self._label(t - 1, np.array([c.x[k], c.y[k]]))
            if kp < 0 or c.cls[kp] != c.cls[k]:
                kp = self._boxed(t - 1, k)
            source.setdefault(kp, []).append(k)
        for kp, pieces in source.items():
            parents = np.flatnonzero(self.comp[t - 1] == kp) if kp >= 0 else np.array([], np.int64)
            held = [int(q) for q in np.unique(self.comp[t, parents]) if q >= 0] if len(parents) else []
            total = c.area[held].sum() + c.area[pieces].sum()
            if len(parents) and 1 / SPLIT_AREA_RATIO <= total / c.area[kp] <= SPLIT_AREA_RATIO:
                self._split(t, [int(p) for p in parents], pieces)
            else:
                for k in pieces:
                    self._write(t, k, [self._new(t, k)])

    def _under(self, s: int, m: int) -> int:
        """The component of frame s of m's class that most of m's pixels of frame s + 1 lie on, else -1."""
        got = self._mask(s + 1, m)
        if got is None:
            return -1
        i0, j0, a = got
        lab = self.labels[s, i0 : i0 + a.shape[0], j0 : j0 + a.shape[1]][a]
        lab = lab[lab >= 0]
        if not len(lab):
            return -1
        ks, n = np.unique(lab, return_counts=True)
        ks, n = ks[self.c.cls[ks] == self.cls[m]], n[self.c.cls[ks] == self.cls[m]]
        return int(ks[np.argmax(n)]) if len(ks) else -1

    def _boxed(self, t: int, k: int) -> int:
        """The largest component of frame t of k's class whose box (grown by 2 pixels) contains k's centroid."""
        c = self.c
        best, area = -1, 0.0
        for q in range(c.start[t], c.start[t + 1]):
            i0, i1, j0, j1 = c.box[q]
            inside = j0 - 2 <= c.x[k] <= j1 + 3 and i0 - 2 <= c.y[k] <= i1 + 3
            if c.cls[q] == c.cls[k] and inside and c.area[q] > area:
                best, area = q, c.area[q]
        return best

    def _split(self, t: int, parents: list[int], pieces: list[int]) -> None:
        """Each piece becomes a track of the nearest parent (by their positions at t − 1), carried back
        from t − 1 in the blob of its class that its pixels of the frame after lie on most (else the
        parent's) while that blob has room for it (its area exceeds its other members'
        sizes at t by SPLIT_BACK_FRACTION of the piece's area): in each such frame, back to front, the blob's
        pixels are divided again among its members and the piece (``_divide``, each from its mask of the
        frame after, moved by its last displacement reversed), so all of them get measured centroids and
        areas there."""
        c = self.c
        for k in pieces:
            last = np.array([self.pos[t - 1, p] for p in parents])
            p = parents[int(np.argmin(np.hypot(*(last - [c.x[k], c.y[k]]).T)))]
            m = self._new(t, k, parent=p)
            self._write(t, k, [m])
            back = []
            s = t - 1
            while s >= 0:
                kb = self._under(s, m)  # the blob the piece's mask of s + 1 lies on most, else the parent's
                kb = kb if kb >= 0 else int(self.comp[s, p])
                if kb < 0:
                    break
                holders = [q for q in range(len(self.cls)) if q != m and self.comp[s, q] == kb]
                room = c.area[kb] - sum(self._size(q, t) for q in holders)  # sizes at t: not eroded
                if room < SPLIT_BACK_FRACTION * c.area[k]:
                    break
                group = [*holders, m]
                w = np.array([self.share[s + 1, q] if self.comp[s + 1, q] >= 0 else 0.0 for q in group])
                w = np.where(np.isfinite(w), w, 0.0)
                if w.sum() > 0:  # the blob's move from s + 1 (its members' weighted mean there) to s
                    mean = (w[:, None] * np.nan_to_num(self.pos[s + 1, group])).sum(axis=0) / w.sum()
                    blob_move = [np.array([c.x[kb], c.y[kb]]) - mean]
                else:
                    blob_move = []
                src = {}
                for q in group:
                    ok = s + 2 < self.n_frames and self.comp[s + 1, q] >= 0 and self.comp[s + 2, q] >= 0
                    d = self.pos[s + 1, q] - self.pos[s + 2, q] if ok else np.zeros(2)
                    src[q] = (s + 1, d, blob_move)
                self._divide(s, kb, [*holders, m], src)
                back.append(s)
                s -= 1
            self.seen[m] = [*back[::-1], *self.seen[m]]


# ---------------------------------------------------------------------------------------------- public API


def parse_objects(
    frames: np.ndarray,
    world_size: float = 512.0,
    dt: float = 1.0 / 3.0,
    min_area: int = MIN_AREA,
    min_width: float = MIN_WIDTH,
    gate: float = GATE,
    tolerance: float = CLASS_TOLERANCE,
) -> ObjectTracks:
    """Objects of PHYRE-style frames (n, T, H, W, 3) uint8 (or (T, H, W, 3)), tracked over the frames.

    Components are 8-connected pixels of one class in one frame with at least ``min_area`` pixels and a
    width (``MIN_WIDTH``) of at least ``min_width`` pixels. Tracking, per class:

    - frame 0: every component starts a track (``born`` 0).
    - frame t: if every component equals its predecessor (same class, area and moments), the tracks carry
      over. Otherwise the tracks (present at t − 1 or lost earlier) are assigned to the components of their
      class by the Hungarian method (scipy ``linear_sum_assignment``) on distance / ``gate`` +
      ``AREA_WEIGHT``·|ln(area ratio)|, pairs farther than ``gate`` (world units) from the prediction
      excluded. The prediction continues the track's last displacement per frame (constant velocity) from its
      last two frames; a lost track is looked for at its last position.
    - merge: a track present at t − 1 left without a component, whose prediction or last position lies on
      a held component of its class (or inside its box grown by 2 pixels) that is at least
      ``MERGE_AREA_FRACTION`` of the holders' and its own sizes at t − 1 (their shares there), shares it:
      all holders are ``present`` and ``merged``. The component's pixels are divided among its members
      (``_Tracker._divide``): each member's mask of its last frame (own pixels, or those it was given in
      the merge), moved to where the member is expected, claims the pixels it covers; so a merged track's
      centroid and area are measured from its pixels every frame (its shares sum to the component's area);
      angle, elongation and descriptor stay NaN (not its own component).
    - split: a component left over that lies on (or in the grown box of) a component of frame t − 1 whose
      area it and the pieces held by that component's tracks sum to within ``SPLIT_AREA_RATIO`` is a body
      that was hidden in a blob of touching bodies of one colour (very common in PHYRE's first frames): a
      new track with ``split_from`` = the nearest of the blob's tracks, carried back in that track's blob
      frame by frame from t − 1 while the blob has room for it (``SPLIT_BACK_FRACTION``), each such frame's
      blob divided again among its members and the new track (masks of the frame after); before that it
      is not present (it came from elsewhere), and the blob's members are not marked merged there.
    - any other component left over is an appearance: a new track born at t. A track with nothing at t is
      not ``present`` there.

    Occlusion: bodies are drawn in slot order and the red ball last, so a body under another shows only its
    visible pixels: its area drops and its centroid moves away from the occluder by the hidden part's
    moment; a body cut in two by an occluder gives two components (the second becomes a split track when
    the pieces add up to the previous frame's component). A blob of touching bodies that never comes apart
    is one track (``match_truth`` adds member tracks for the further bodies it covers).
    """
    frames = as_batch(frames)
    if int(min_area) != min_area or min_area < 1:
        raise PhylawError(f"min_area must be a positive integer (pixels), got {min_area}")
    if not (gate > 0 and world_size > 0 and dt > 0):
        raise PhylawError(f"gate, world_size and dt must be positive, got {gate}, {world_size}, {dt}")
    n, n_frames, height, width, _ = frames.shape
    labels = np.empty((n_frames, height, width), np.int32)
    table = np.empty((256, N_COLS), np.float64)
    tol2 = np.int32(_tol2(tolerance))
    gate_px = float(gate) * width / float(world_size)
    per_video = []
    for v in range(n):
        video = np.ascontiguousarray(frames[v])
        table, count = _label_frames(
            video, REFERENCE_RGB, REFERENCE_CLASS, tol2, float(min_area), float(min_width), labels, table, 0
        )
        comps = _components(table[:count], n_frames, height, width)
        tracker = _Tracker(comps, labels, gate_px)
        tracker.first()
        for t in range(1, n_frames):
            tracker.step(t)
        per_video.append((comps, tracker))
    return _assemble(per_video, n_frames, height, width, float(world_size), float(dt))


def _assemble(per_video, n_frames, height, width, world_size, dt) -> ObjectTracks:
    """Padded (n, T, M, ...) arrays in world units from the per-video trackers."""
    n = len(per_video)
    m_max = max([len(tr.cls) for _, tr in per_video], default=0)
    sx, sy = world_size / width, world_size / height
    out = {
        "cls": np.zeros((n, m_max), np.int8),
        "present": np.zeros((n, n_frames, m_max), bool),
        "merged": np.zeros((n, n_frames, m_max), bool),
        "centroid": np.full((n, n_frames, m_max, 2), np.nan),
        "area": np.full((n, n_frames, m_max), np.nan),
        "angle": np.full((n, n_frames, m_max), np.nan),
        "elongation": np.full((n, n_frames, m_max), np.nan),
        "descriptor": np.full((n, n_frames, m_max, 4), np.nan),
        "truth_slot": np.full((n, m_max), -1, np.int64),
        "born": np.full((n, m_max), -1, np.int64),
        "split_from": np.full((n, m_max), -1, np.int64),
        "group": np.full((n, n_frames, m_max), -1, np.int64),
        "pixels": np.zeros((n, n_frames, m_max), np.int64),
        "bbox": np.full((n, n_frames, m_max, 4), np.nan),
    }
    for v, (c, tr) in enumerate(per_video):
        m = len(tr.cls)
        if m == 0:
            continue
        comp, merged = tr.comp[:, :m], tr.merged[:, :m]
        present = comp >= 0
        own = present & ~merged
        out["cls"][v, :m] = tr.cls
        out["born"][v, :m] = tr.born
        out["split_from"][v, :m] = tr.split_from
        out["present"][v, :, :m] = present
        out["merged"][v, :, :m] = merged
        pos = tr.pos[:, :m]
        out["centroid"][v, :, :m] = np.stack([pos[..., 0] * sx, world_size - pos[..., 1] * sy], axis=-1)
        out["area"][v, :, :m] = tr.share[:, :m] * sx * sy
        k = np.where(present, comp, 0)
        if len(c.area):
            out["angle"][v, :, :m] = np.where(own, c.angle[k], np.nan)
            out["elongation"][v, :, :m] = np.where(own, c.elongation[k], np.nan)
            out["descriptor"][v, :, :m] = np.where(own[..., None], c.desc[k], np.nan)
            out["pixels"][v, :, :m] = np.where(present, c.area[k], 0).astype(np.int64)
            box = c.box[k]  # i_min, i_max, j_min, j_max
            world_box = np.stack(
                [box[..., 2] * sx, world_size - (box[..., 1] + 1) * sy, (box[..., 3] + 1) * sx,
                 world_size - box[..., 0] * sy], axis=-1)  # fmt: skip
            out["bbox"][v, :, :m] = np.where(present[..., None], world_box, np.nan)
            first = np.full(len(c.area), m, np.int64)  # smallest slot in each component
            slots = np.broadcast_to(np.arange(m), comp.shape)
            np.minimum.at(first, comp[present], slots[present])
            out["group"][v, :, :m] = np.where(present, first[k], -1)
    return ObjectTracks(world_size=world_size, dt=dt, resolution=(height, width), **out)


def true_centroids(states, resolution: int | None = None) -> np.ndarray:
    """(n, T, K, 2) world centroid of each body's drawn outline (NaN for absent slots and undrawn frames):
    discs at the body origin shifted by −0.5 scene units in x and y (the rasteriser's centre shift,
    docs/phyre.md "Rendering"), polygon bodies at the area-weighted centroid of their convex parts rotated
    and translated with the body. Known limit: a jar's walls overlap its base, counted twice here, which
    moves a jar's centroid by up to about 4 scene units from its drawn union (1.04 px at 128²); sticks' two
    bars are both centred on the origin, so their overlap does not move it.
    The outline does not depend on the resolution; ``resolution`` is accepted for the contract (a pixel
    centroid differs from it by the sampling, well under a pixel for bodies that are not clipped)."""
    from phylaw.render.phyre_raster import CENTRE_SHIFT, body_parts
    from phylaw.sim.states import SHAPE_DISC

    del resolution
    pos = np.asarray(states.position, np.float64)  # (n, T, K, 2)
    ang = np.asarray(states.angle, np.float64)  # (n, T, K)
    verts = np.asarray(states.vertices, np.float64)  # (n, K, V, 2)
    half = np.asarray(states.half_size, np.float64)
    no_verts = ~np.isfinite(verts).all(axis=-1).any(axis=-1)  # (n, K): boxes given by half_size only
    if no_verts.any():
        rect = np.stack([half * [1, 1], half * [-1, 1], half * [-1, -1], half * [1, -1]], axis=-2)
        verts = np.concatenate([verts, np.full((*verts.shape[:2], 4, 2), np.nan)], axis=2)
        verts[no_verts] = np.nan
        verts[no_verts, :4] = rect[no_verts]
    parts, count = body_parts(verts)  # (n, K, P, Mv, 2), (n, K, P)
    x, y = parts[..., 0], np.roll(parts, -1, axis=-2)  # shoelace over each padded part
    cross = x * y[..., 1] - parts[..., 1] * y[..., 0]  # (n, K, P, Mv)
    a = 0.5 * cross.sum(axis=-1)  # (n, K, P) signed area
    cx = ((x + y[..., 0]) * cross).sum(axis=-1) / 6.0
    cy = ((parts[..., 1] + y[..., 1]) * cross).sum(axis=-1) / 6.0
    sign = np.where(count >= 3, np.sign(a), 0.0)  # parts of either winding count with their own area
    tot = (sign * a).sum(axis=-1)  # (n, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        local = np.stack([(sign * cx).sum(-1), (sign * cy).sum(-1)], -1) / tot[..., None]  # (n, K, 2)
    c, s_ = np.cos(ang), np.sin(ang)
    lx, ly = local[:, None, :, 0], local[:, None, :, 1]
    poly = np.stack([pos[..., 0] + c * lx - s_ * ly, pos[..., 1] + s_ * lx + c * ly], axis=-1)
    disc = (np.asarray(states.shape) == SHAPE_DISC)[:, None, :, None]
    out = np.where(disc, pos - CENTRE_SHIFT, poly)
    drawn = np.asarray(states.present, bool) & (np.asarray(states.color) != 0)
    return np.where(drawn[:, None, :, None], out, np.nan)


MATCH_GATE = (
    64.0  # world units: a frame-0 track farther than this from every true body of its class is unmatched
)


def match_truth(tracks: ObjectTracks, states) -> ObjectTracks:
    """Tracks with ``truth_slot`` set: per video and class, the tracks present in frame 0 are assigned to the
    States slots of that class (palette id -> class by CLASS_OF_PALETTE) by the Hungarian method on the
    distance between the track's frame-0 centroid and the body's drawn centroid (``true_centroids``), pairs
    farther than MATCH_GATE excluded; then split tracks (``split_from`` >= 0) first present after frame 0
    (found in a blob only part of the way back) take the bodies left, by the distance at their first present
    frame; tracks born later without a parent (appearances) stay -1.

    A blob of touching bodies that never comes apart is one track: each further true body whose frame-0
    drawn centroid lies in the box of a matched track's frame-0 component gets a new slot (``split_from`` =
    that track), present and merged wherever the blob's track is present, at the blob's centroid plus the
    body's frame-0 offset from it; the blob's own track moves by its body's offset and is marked merged too.
    So every visible body has a track, and on ground truth the estimates follow a blob that translates."""
    if len(states) != len(tracks):
        raise PhylawError(f"match_truth: {len(tracks)} parsed videos but {len(states)} ground-truth videos")
    from scipy.optimize import linear_sum_assignment

    tc = true_centroids(states)[:, 0]  # (n, K, 2) frame 0
    color = np.asarray(states.color)
    tcls = np.vectorize(lambda p: CLASS_OF_PALETTE.get(int(p), 0), otypes=[np.int64])(color)  # (n, K)
    tcls = np.where(np.asarray(states.present, bool), tcls, 0)
    slots: list[list[int]] = [[] for _ in range(len(tracks))]
    extra: list[list[tuple[int, int]]] = [[] for _ in range(len(tracks))]  # (parent track, truth slot)
    for v in range(len(tracks)):
        row = np.full(tracks.n_slots, -1, np.int64)
        for c in np.unique(tcls[v][tcls[v] > 0]):
            ms = np.flatnonzero((tracks.cls[v] == c) & tracks.present[v, 0])
            ks = np.flatnonzero(tcls[v] == c)
            if len(ms) and len(ks):
                d = np.hypot(*(tracks.centroid[v, 0, ms][:, None] - tc[v, ks][None]).transpose(2, 0, 1))
                d = np.where(np.isfinite(d), d, np.inf)
                r, q = linear_sum_assignment(np.where(d <= MATCH_GATE, d, 1e9))
                ok = d[r, q] <= MATCH_GATE
                row[ms[r[ok]]] = ks[q[ok]]
            # split tracks first present after frame 0 (carried back only part of the way): matched to the
            # bodies left, by their distance at the track's first present frame
            late = np.flatnonzero(
                (tracks.cls[v] == c) & ~tracks.present[v, 0] & (tracks.split_from[v] >= 0) & (row < 0)
            )
            left = ks[~np.isin(ks, row)]
            if len(late) and len(left):
                first = np.argmax(tracks.present[v][:, late], axis=0)  # (L,)
                tf = true_centroids(states)[v, first][:, left]  # (L, K', 2) at each track's first frame
                d = np.hypot(*(tracks.centroid[v, first, late][:, None] - tf).transpose(2, 0, 1))
                d = np.where(np.isfinite(d), d, np.inf)
                r, q = linear_sum_assignment(np.where(d <= MATCH_GATE, d, 1e9))
                ok = d[r, q] <= MATCH_GATE
                row[late[r[ok]]] = left[q[ok]]
            for k in ks[~np.isin(ks, row)]:
                box = tracks.bbox[v, 0, ms] if len(ms) else np.zeros((0, 4))
                p = tc[v, k]
                inside = (box[:, 0] <= p[0]) & (p[0] <= box[:, 2]) & (box[:, 1] <= p[1]) & (p[1] <= box[:, 3])
                cand = ms[inside & (row[ms] >= 0) & ~tracks.merged[v, 0, ms]]
                if len(cand):
                    size = (tracks.bbox[v, 0, cand, 2] - tracks.bbox[v, 0, cand, 0]) * (
                        tracks.bbox[v, 0, cand, 3] - tracks.bbox[v, 0, cand, 1])  # fmt: skip
                    extra[v].append((int(cand[np.argmin(size)]), int(k)))
        slots[v] = row.tolist()
    return _with_members(tracks, np.array(slots, np.int64).reshape(len(tracks), -1), extra, tc)


def _with_members(tracks: ObjectTracks, truth: np.ndarray, extra, tc: np.ndarray) -> ObjectTracks:
    """Add the member slots of ``match_truth`` (blob track, truth slot) pairs."""
    n_add = max([len(e) for e in extra], default=0)
    if n_add == 0:
        return replace(tracks, truth_slot=truth)
    m0 = tracks.n_slots
    pad = {}
    for f in ("cls", "present", "merged", "centroid", "area", "angle", "elongation", "descriptor", "born",
              "split_from", "group", "pixels", "bbox"):  # fmt: skip
        a = getattr(tracks, f)
        axis = 1 if a.ndim == 2 else 2
        fill = {"b": False, "i": -1, "f": np.nan}[a.dtype.kind]
        fill = 0 if f in ("cls", "pixels") else fill
        widths = [(0, 0)] * a.ndim
        widths[axis] = (0, n_add)
        pad[f] = np.pad(a, widths, constant_values=fill)
    truth = np.pad(truth, ((0, 0), (0, n_add)), constant_values=-1)
    for v, pairs in enumerate(extra):
        blob0 = {}
        for i, (j, k) in enumerate(pairs):
            m = m0 + i
            here = pad["present"][v, :, j]
            blob0.setdefault(j, pad["centroid"][v, 0, j].copy())
            for f in ("cls", "born"):
                pad[f][v, m] = pad[f][v, j]
            pad["split_from"][v, m], truth[v, m] = j, k
            pad["present"][v, :, m], pad["merged"][v, :, m] = here, here
            pad["centroid"][v, :, m] = pad["centroid"][v, :, j] + (tc[v, k] - blob0[j])
            pad["group"][v, :, m], pad["pixels"][v, :, m] = pad["group"][v, :, j], pad["pixels"][v, :, j]
            pad["bbox"][v, :, m] = pad["bbox"][v, :, j]
        for j, c0 in blob0.items():
            here = pad["present"][v, :, j]
            members = [j] + [m0 + i for i, (jj, _) in enumerate(pairs) if jj == j]
            share = pad["area"][v, :, j] / len(members)
            pad["centroid"][v, :, j] += tc[v, truth[v, j]] - c0
            for m in members:
                pad["merged"][v, :, m] = here
                pad["area"][v, :, m] = share
                for f in ("angle", "elongation"):
                    pad[f][v, :, m] = np.nan
                pad["descriptor"][v, :, m] = np.nan
    return replace(tracks, truth_slot=truth, **pad)
