"""Rule-based abnormal-video judge for PHYRE-style videos, on parsed object tracks only (no ground truth).

Why: the paper's "abnormal ratio" comes from human raters (SPEC_COMBINATORIAL D.2); phylaw replaces them by
rules whose accuracy is measured on a labelled violation suite (``evaluate.judge_suite``). The judge sees what
a rater sees: the video, through ``evaluate.objects.ObjectTracks`` (per track: class, centroid, area,
orientation, elongation, component box, merges), and the scene's rules: black bodies are static; every other
body is dynamic, released from rest at frame 0 and pulled down (−y) by g = 58.8 scene units/s²; frames are
dt = 1/3 s apart; restitution 0.2, friction 0.5; walls at the scene border. Type 2 videos (different from the
simulator but physical) must pass, so nothing here compares with the simulator.

Each rule gives a score per video, scaled so that >= 1 means flagged (``JudgeConfig.factors`` multiplies
them; an ROC sweeps a common factor) and, when flagged, a reason naming the class, track and frame.

What is detectable from pixels, and how (units: scene units, frames; ``px`` = one pixel in scene units):

- ``disappearance`` / ``appearance``: a track with no pixels after it was born / a track born after frame 0.
  A duplicate is an appearance (named "duplicate" when a track of its class and size is near).
- ``color_change``: a track that ends where a track of another class and a similar area starts (one event,
  reported instead of the disappearance + appearance it also is).
- ``static_moved``: a black track whose centroid or principal axis changes between frames in which it is fully
  visible (area near its largest), so occlusion by a body drawn over it is not motion.
- ``spontaneous_motion``: a dynamic track at rest for ``rest_frames`` frames that starts to move while no other
  moving track is near (an object that is hit, or whose support moves, is excused); the onset may be hidden in
  up to ``rest_gap_frames`` frames without a measured speed (merged with a touching body of its colour).
- ``hovering``: in frames where a dynamic track is isolated (its box, grown by ``contact_margin``, touches no
  other box and no wall), its centroid's second difference must be (0, −g·dt²) (exact for Box2D free flight):
  hovering, stopping mid-air, falling up/sideways or with a wrong g show as a residual acceleration for two
  consecutive frames. Also: a track at rest for ``hover_rest_frames`` frames with nothing that could hold it
  up (the floor, or a near box reaching below its centre).
- ``interpenetration``: a track (not merged) whose visible area drops below the least it showed before, while
  another box is near (the body drawn on top hides the overlap); or a class's visible area dropping below its
  start by ``class_shape_bands`` rasterisation bands (the overlap hidden, whatever the parser's identities). Initial overlaps shrink as Box2D pushes
  bodies apart, so they never increase this. Same-colour bodies passing through each other merge; that is not
  detected.
- ``shape_change``: a track's area range: the largest area it keeps for two frames against the smallest it
  keeps for two frames with no other box near (no occlusion possible) or its starting size, beyond
  ``shape_band_k`` rasterisation bands, gated by its class's area changing with it; or a class's visible area
  growing above its start by ``class_shape_bands`` bands (a body growing inside a merge of its colour).
  Elongation is not judged.
- ``teleport``: a velocity pulse: two consecutive residual accelerations in opposite directions (a position
  jump for one frame, a dropped frame, a repeated frame of moving objects), or a pause: a moving track stops
  for a few frames and resumes at a similar velocity in the same direction.
- ``energy_gain``: a track's mechanical energy per unit mass g·y + v²/2 rising above the least it had since a
  moving dynamic track was last near (nothing else can give it energy; restitution 0.2 only takes it).
- ``collision_response``: the scene's total mechanical energy (masses ∝ areas) rising above its earlier
  maximum (an impulse too large); a collision without reaction is not detected.
- ``impossible_balance``: a dynamic track stops dead and stays at rest for two frames: moving sideways faster
  than friction can stop it (μ g dt per frame) with no box ahead of it (a box only under it is its support, not
  an obstacle) and no wall, or moving down with no box under it and no floor. A tilted body resting on a
  point, or a ball resting on a slope that stopped slowly, is not detected (the support's slope is unknown).
- ``time_reversal``: a track whose velocity reverses at one frame with its speed kept (|out| ≈ |in|, a bounce
  keeps at most ~0.2 of the normal speed) and the positions mirrored around that frame.

What real ground truth shows and the rules tolerate: Box2D pushing initially overlapping bodies apart in the
first ``settle_frames`` frames (no kinematic, shape or occlusion rule reads them), resting-contact jitter
(``rest_speed``), merges of touching same-colour bodies (merged frames are skipped by the kinematic and shape
rules), occlusion by the red ball drawn on top (area-based validity), sleeping bodies (exactly still: rest).
Bodies never leave the view (PHYRE's walls close the scene, SC A.4), so leaving the view is a disappearance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

VIOLATIONS = (
    "spontaneous_motion",
    "static_moved",
    "hovering",
    "interpenetration",
    "disappearance",
    "appearance",
    "shape_change",
    "color_change",
    "teleport",
    "energy_gain",
    "collision_response",
    "impossible_balance",
    "time_reversal",
)
V_INDEX = {v: i for i, v in enumerate(VIOLATIONS)}
CLASS_NAMES = (
    "padding",
    "red",
    "green",
    "blue",
    "purple",
    "gray",
    "black",
)  # evaluate.objects class ids 0..6
BLACK = 6  # the static class
GRAVITY = 58.8  # scene units / s² (9.8 m/s² at 6 units per metre, SC E)
FRICTION = 0.5  # PHYRE's friction coefficient on every fixture (SC A.4)
# a track's disappearance, appearance, area change or occlusion counts only when the visible area of its
# whole class changes by at least this fraction of the same amount (else the parser moved pixels between
# tracks of one class, e.g. in a merge of touching bodies)
CLASS_GATE = 0.5


@dataclass(frozen=True)
class JudgeConfig:
    """Every threshold of the judge. ``px`` = one pixel in scene units (the tracks' pixel size), so the same
    config works at every resolution. Each rule's score is its measured quantity divided by its threshold."""

    gravity: float = GRAVITY  # scene units/s², pointing −y
    settle_frames: int = 3  # frames 0..settle_frames-1: Box2D may still push initial overlaps apart
    contact_margin_px: float = 3.0  # boxes closer than this (pixels) may be in contact
    # --- presence
    disappear_frames: int = 1  # frames without pixels (after the track was born) that flag a disappearance
    appear_frames: int = 1  # frames a track born after frame 0 must show to flag an appearance
    color_area_ratio: float = 2.0  # a recoloured body keeps its area within this factor
    # --- static bodies
    static_shift_px: float = 1.0  # centroid spread (pixels) of a black body over its fully visible frames
    static_rot: float = 0.05  # radians of principal-axis spread (bodies with elongation >= 2 only)
    full_view: float = 0.03  # a body is fully visible when its area is within this fraction of its largest
    static_class_px: float = (
        0.5  # centroid shift (pixels) of all black pixels over their fully visible frames
    )
    class_loss: float = 0.5  # fraction of a class's smallest body's area that, lost by the class, is one gone
    # --- motion
    rest_speed_px: float = 0.5  # pixels/frame: slower is at rest (contact jitter, sleeping bodies)
    rest_frames: int = 2  # frames at rest before an onset of motion counts as spontaneous
    rest_gap_frames: int = 6  # most frames without a measured speed (merged, occluded) an onset may hide in
    move_speed_px: float = 2.5  # pixels/frame over two frames: a spontaneous onset's speed that flags
    push_ratio: float = 0.5  # a near body excuses an onset when its fastest point moves this share of it
    hover_rest_frames: int = 2  # consecutive frames at rest with nothing under it that flag hovering
    round_elong: float = 1.3  # a track rounder than this (balls) at rest needs a support under its centre
    round_fill: float = 0.6  # ... and filling this share of its box (a disc: π/4)
    accel_tol_px: float = 1.0  # pixels/frame² of centroid noise in a second difference
    accel_tol_g: float = 0.3  # plus this fraction of g·dt² (free flight residual that flags)
    pulse_cos: float = 0.7  # two residual accelerations are opposite when their cosine is below −pulse_cos
    pulse_px: float = 4.0  # pixels/frame²: the smaller of two opposite residuals that flags a teleport
    pause_speed_px: float = 3.0  # pixels/frame: speed before and after a pause that flags it
    pause_frames: int = 4  # longest pause (frames at rest) considered
    energy_height: float = 12.0  # scene units: a single body's energy gain (in g·height) that flags
    scene_energy_height: float = 12.0  # scene units: the scene's mass-weighted energy gain that flags
    stop_speed_px: float = 3.0  # pixels/frame: sideways speed beyond friction's stop that flags a balance
    reverse_speed_px: float = 4.0  # pixels/frame: speed of a reversal that flags time reversal
    reverse_ratio: float = 0.7  # |out| / |in| of a reversal (a bounce keeps <= ~0.2 of the normal speed)
    reverse_cos: float = 0.9  # the reversal's cosine is below −reverse_cos
    mirror_tol: float = 0.25  # positions two frames either side agree within this fraction of the motion
    # --- shape
    area_tol: float = 0.10  # relative area change beyond the rasterisation band that flags a shape change
    area_band_k: float = 1.0  # rasterisation band: k × (perimeter × px / 2) / area
    shape_band_k: float = 0.5  # the shape rule's area range allows this many bands (measured range on
    # ground truth, validation part, 256²: <= 0.23 bands once gated by the class area)
    shape_early_frames: int = 3  # frames after settling whose largest area is the body's starting size
    class_shape_bands: float = 0.75  # a class's visible area away from its start by this many bands (sum of
    # its bodies' band × area, added in quadrature: independent rasterisation noise) flags; ground truth,
    # validation part, 256²: <= 0.63 bands (loss), <= 0.1 (growth)
    occlusion_tol: float = 0.10  # relative area loss (beyond the band) near another body: interpenetration
    factors: tuple[float, ...] = field(default=(1.0,) * len(VIOLATIONS))  # per-violation score multipliers

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["factors"] = dict(zip(VIOLATIONS, (float(x) for x in self.factors), strict=True))
        return d

    @staticmethod
    def from_dict(d: dict) -> JudgeConfig:
        d = dict(d)
        f = d.pop("factors", None)
        cfg = JudgeConfig(**d)
        if isinstance(f, dict):
            cfg = replace(cfg, factors=tuple(float(f.get(v, 1.0)) for v in VIOLATIONS))
        elif f is not None:
            cfg = replace(cfg, factors=tuple(float(x) for x in f))
        return cfg


def load_judge_config(path: str | Path) -> JudgeConfig:
    """A ``JudgeConfig`` from a JSON file (``JudgeConfig.to_dict``: what ``phylaw judge-suite`` writes as
    ``judge_config.json``, its thresholds tuned on the suite's validation part). One-line PhylawError for a
    missing file, bad JSON or a setting the judge does not have."""
    import json

    from phylaw.errors import PhylawError

    p = Path(path)
    if p.is_dir():
        p = p / "judge_config.json"
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise PhylawError(f"judge config {p} not found (a judge-suite output's judge_config.json)") from None
    except (OSError, ValueError) as exc:
        raise PhylawError(f"judge config {p} is not readable JSON: {exc}") from None
    names = {f.name for f in fields(JudgeConfig)}
    if not isinstance(d, dict) or set(d) - names:
        bad = sorted(set(d) - names) if isinstance(d, dict) else type(d).__name__
        raise PhylawError(f"judge config {p}: unknown judge settings {bad}")
    factors = d.get("factors")
    if isinstance(factors, dict) and set(factors) - set(VIOLATIONS):
        raise PhylawError(f"judge config {p}: unknown violations {sorted(set(factors) - set(VIOLATIONS))}")
    return JudgeConfig.from_dict(d)


@dataclass(frozen=True)
class Verdict:
    """scores (n, V): per violation (VIOLATIONS order), >= 1 flagged (factors applied); abnormal (n,) = any
    score >= 1; reasons: per video, one line per flagged violation (its strongest instance)."""

    scores: np.ndarray
    abnormal: np.ndarray
    reasons: list[list[str]]


# ---------------------------------------------------------------------------------------------- helpers
def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of the True runs of a 1-D bool array."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(d[::2].tolist(), d[1::2].tolist(), strict=True))


def _nanmedian(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else float("nan")


class _Video:
    """One video's tracks with the derived quantities the rules share."""

    def __init__(self, tr, i: int, cfg: JudgeConfig, px: float, cond_frames: int = 0) -> None:
        self.cfg, self.px = cfg, px
        self.cond = int(min(cond_frames, cfg.settle_frames))  # leading frames given to the model
        self.world = float(tr.world_size)
        self.gf = cfg.gravity * float(tr.dt) ** 2  # free-fall second difference, units/frame²
        self.dt = float(tr.dt)
        cls = np.asarray(tr.cls[i]).astype(int)
        self.slots = np.flatnonzero(cls > 0)
        self.cls = cls
        self.present = np.asarray(tr.present[i], bool)
        self.merged = np.asarray(tr.merged[i], bool)
        self.c = np.asarray(tr.centroid[i], float)
        self.area = np.asarray(tr.area[i], float)
        self.angle = np.asarray(tr.angle[i], float)
        self.elong = np.asarray(tr.elongation[i], float)
        self.bbox = np.asarray(tr.bbox[i], float)
        self.born = np.asarray(tr.born[i]).astype(int)
        self.T, self.M = self.present.shape
        own = self.present & ~self.merged
        late = np.arange(self.T)[:, None] >= cfg.settle_frames
        ref_mask = own & late
        self.a_ref = np.array(
            [
                _nanmedian(self.area[ref_mask[:, m] if ref_mask[:, m].any() else own[:, m], m])
                for m in range(self.M)
            ]
        )
        self.e_ref = np.array(
            [
                _nanmedian(self.elong[ref_mask[:, m] if ref_mask[:, m].any() else own[:, m], m])
                for m in range(self.M)
            ]
        )
        # rasterisation band of the relative area: half a pixel around the perimeter of the equivalent box
        e = np.clip(np.nan_to_num(self.e_ref, nan=1.0), 1.0, None)
        a = np.nan_to_num(self.a_ref, nan=1.0).clip(px * px)
        perim = 2.0 * (np.sqrt(a * e) + np.sqrt(a / e))
        self.band = cfg.area_band_k * 0.5 * perim * px / a
        rel = self.area / self.a_ref[None]
        self.valid = own & (np.abs(rel - 1.0) <= cfg.occlusion_tol + self.band[None])
        # box contacts: (T, M, M) boxes grown by the margin overlap; (T, M) near a wall
        g = cfg.contact_margin_px * px
        b = self.bbox
        lo, hi = b[..., :2] - g, b[..., 2:] + g  # (T, M, 2)
        ov = (lo[:, :, None] <= hi[:, None]) & (lo[:, None] <= hi[:, :, None])  # (T, M, M, 2)
        near = ov.all(-1)
        same = self.group_like(tr, i)
        near |= same
        near &= self.present[:, :, None] & self.present[:, None, :]
        idx = np.arange(self.M)
        near[:, idx, idx] = False
        self.near = near
        self.wall = (lo <= 0.0).any(-1) | (hi >= self.world).any(-1)  # (T, M)
        self.d = np.full((self.T, self.M, 2), np.nan)  # d[t] = c[t] - c[t-1] where both valid
        cv = np.where(self.valid[..., None], self.c, np.nan)
        self.d[1:] = cv[1:] - cv[:-1]
        self.speed = np.linalg.norm(self.d, axis=-1)
        # (T, 7) visible area of each class (merged shares sum to their component's area): immune to track
        # identity mistakes, it gates the presence, shape and occlusion findings
        tot = np.zeros((self.T, len(CLASS_NAMES)))
        a0 = np.where(self.present, np.nan_to_num(self.area), 0.0)
        for m in self.slots:
            tot[:, cls[m]] += a0[:, m]
        self.class_area = tot

    def class_change(self, m: int, k: int, ref: int) -> float:
        """Change of the visible area of track m's class from frame ``ref`` to frame k."""
        return float(self.class_area[k, self.cls[m]] - self.class_area[ref, self.cls[m]])

    @staticmethod
    def group_like(tr, i: int) -> np.ndarray:
        grp = np.asarray(tr.group[i])
        return (grp[:, :, None] == grp[:, None, :]) & (grp[:, :, None] >= 0)

    def name(self, m: int) -> str:
        return f"{CLASS_NAMES[self.cls[m]]} track {m}"

    def dynamic(self) -> np.ndarray:
        return self.slots[self.cls[self.slots] != BLACK]

    def moving(self, thr: float) -> np.ndarray:
        """(T, M) the track moved more than ``thr`` into or out of frame t."""
        s = np.nan_to_num(self.speed)
        mv = s > thr
        mv[:-1] |= s[1:] > thr
        return mv

    def swept_free(self) -> np.ndarray:
        """(T, M) the track touched nothing between frames t − 1 and t: the union of its two boxes, grown by
        the contact margin, meets no other track's union box of the same frames and no wall (a fast body can
        hit the floor between two frames and be off it again at both). False at t = 0 and where a box is
        unknown."""
        g = self.cfg.contact_margin_px * self.px
        b = self.bbox
        # a turning body's corners sweep beyond both boxes: grow by half its diagonal times its turn (not for
        # discs, whose box does not turn with them and whose principal axis is noise)
        size = np.hypot(b[..., 2] - b[..., 0], b[..., 3] - b[..., 1])  # (T, M)
        fill = self.area / np.maximum((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]), 1e-9)
        disc = (np.nan_to_num(self.e_ref, nan=np.inf) < self.cfg.round_elong)[None] & (
            np.nan_to_num(fill) >= self.cfg.round_fill
        )
        turn = np.abs((self.angle[1:] - self.angle[:-1] + np.pi / 2) % np.pi - np.pi / 2)
        turn = np.where(disc[1:] | disc[:-1], 0.0, np.nan_to_num(turn, nan=np.pi / 2))
        grow = g + 0.5 * np.fmax(size[1:], size[:-1]) * np.minimum(turn, np.pi / 2)
        lo = np.fmin(b[1:, :, :2], b[:-1, :, :2]) - grow[..., None]  # (T-1, M, 2)
        hi = np.fmax(b[1:, :, 2:], b[:-1, :, 2:]) + grow[..., None]
        ov = ((lo[:, :, None] <= hi[:, None]) & (lo[:, None] <= hi[:, :, None])).all(-1)  # (T-1, M, M)
        both = self.present[1:] & self.present[:-1]
        ov &= both[:, :, None] & both[:, None, :]
        idx = np.arange(self.M)
        ov[:, idx, idx] = False
        wall = (lo <= 0.0).any(-1) | (hi >= self.world).any(-1)
        out = np.zeros((self.T, self.M), bool)
        out[1:] = both & ~ov.any(-1) & ~wall & np.isfinite(lo).all(-1) & np.isfinite(hi).all(-1)
        return out

    def point_speed(self) -> np.ndarray:
        """(T, M) an upper bound of the speed of any point of the track into or out of frame t (units/frame):
        its centroid's speed plus, for an elongated track (elongation >= 2, whose principal axis is
        meaningful), its turn times its half length. A bar turning about its centre pushes with its ends."""
        s = np.nan_to_num(self.speed)
        turn = np.zeros_like(s)
        ang = np.where(self.valid, self.angle, np.nan)
        turn[1:] = np.abs((ang[1:] - ang[:-1] + np.pi / 2) % np.pi - np.pi / 2)
        half = 0.5 * np.sqrt(np.nan_to_num(self.a_ref * self.e_ref))
        long = np.nan_to_num(self.e_ref) >= 2.0
        s = s + np.where(long[None], np.nan_to_num(turn) * half[None], 0.0)
        out = s.copy()
        out[:-1] = np.maximum(s[:-1], s[1:])
        return out

    def accel(self) -> np.ndarray:
        """(T, M, 2) residual second difference a[t] = c[t+1] - 2c[t] + c[t-1] - (0, -g dt²) (valid only)."""
        a = np.full((self.T, self.M, 2), np.nan)
        cv = np.where(self.valid[..., None], self.c, np.nan)
        a[1:-1] = cv[2:] - 2 * cv[1:-1] + cv[:-2]
        a[..., 1] += self.gf
        return a


# ---------------------------------------------------------------------------------------------- rules
# Each rule returns (score, reason) for one video: the largest measured quantity over its threshold.
Finding = tuple[float, str]


def _presence(v: _Video) -> tuple[Finding, Finding, Finding]:
    """disappearance, appearance and color_change."""
    cfg, T = v.cfg, v.T
    first = np.array([int(np.argmax(v.present[:, m])) if v.present[:, m].any() else -1 for m in range(v.M)])
    last = np.array(
        [T - 1 - int(np.argmax(v.present[::-1, m])) if v.present[:, m].any() else -1 for m in range(v.M)]
    )
    recolour: dict[int, tuple[int, int, int]] = {}  # new track -> (old track, frame, frames shown)
    for q in v.slots:
        f = first[q]
        if f <= 0:
            continue
        for m in v.slots:
            if v.cls[m] == v.cls[q] or first[m] < 0 or first[m] >= f:
                continue
            gone = not v.present[f, m] and v.present[f - 1, m]
            if not gone or not (np.isfinite(v.a_ref[m]) and np.isfinite(v.area[f, q])):
                continue
            ratio = v.area[f, q] / v.a_ref[m]
            reach = np.linalg.norm(v.c[f, q] - v.c[f - 1, m])
            size = math.sqrt(max(v.a_ref[m], v.area[f, q]))
            if 1 / cfg.color_area_ratio <= ratio <= cfg.color_area_ratio and reach <= size:
                recolour[q] = (m, f, int(v.present[f:, q].sum()))
                break
    recoloured_old = {m for m, _, _ in recolour.values()}
    dis: Finding = (0.0, "")
    app: Finding = (0.0, "")
    col: Finding = (0.0, "")
    for q, (m, f, shown) in recolour.items():
        s = shown / max(cfg.appear_frames, 1)
        if s > col[0]:
            col = (s, f"color_change: {v.name(m)} becomes {CLASS_NAMES[v.cls[q]]} (track {q}) at frame {f}")
    for m in v.slots:
        if first[m] < 0:
            continue
        absent = ~v.present[first[m] :, m]
        gone_at = first[m] + int(np.argmax(absent)) if absent.any() else -1
        if gone_at > 0:  # count only frames where its class lost about its area (else: a tracking loss)
            lost = np.array([-v.class_change(m, t, gone_at - 1) for t in range(first[m], v.T)])
            absent &= lost >= CLASS_GATE * np.nan_to_num(v.a_ref[m])
        n_abs = int(absent.sum())
        if n_abs and m not in recoloured_old:
            s = n_abs / max(cfg.disappear_frames, 1)
            if s > dis[0]:
                k = first[m] + int(np.argmax(absent))
                dis = (s, f"disappearance: {v.name(m)} gone from frame {k} ({n_abs} frames)")
        if first[m] > 0 and m not in recolour:
            new = v.class_change(m, first[m], first[m] - 1) >= CLASS_GATE * np.nan_to_num(v.area[first[m], m])
            shown = int(v.present[first[m] :, m].sum()) if new else 0
            s = shown / max(cfg.appear_frames, 1)
            if s > app[0]:
                f = first[m]
                twin = [
                    j for j in v.slots
                    if j != m and v.cls[j] == v.cls[m] and first[j] < f and np.isfinite(v.a_ref[j])
                    and abs(v.area[f, m] / v.a_ref[j] - 1) < 0.25
                ]  # fmt: skip
                what = f"duplicate of track {twin[0]}" if twin else "new object"
                app = (s, f"appearance: {v.name(m)} from frame {f} ({what}, {shown} frames)")
    del last
    # a body deleted inside a group of touching same-colour bodies leaves no track without pixels: its class
    # losing about a body's area after the settling frames (bodies never overlap once apart), beyond the
    # rasterisation band of the class's bodies
    for c in sorted({int(x) for x in v.cls[v.slots]}):
        members = v.slots[v.cls[v.slots] == c]
        refs = v.a_ref[members]
        if cfg.settle_frames >= T or not np.isfinite(refs).any():
            continue
        tot = v.class_area[:, c]
        small = float(np.nanmin(refs))
        band = float(np.nansum(v.band[members] * refs))
        need = max(cfg.class_loss * small, 0.0 if c == BLACK else 2.0 * band)  # static: no band
        # the reference is read from the model's own frames: the given frames come from the simulator's
        # renderer, the rest from a decoder, and a class total compared across that boundary measures the
        # decoder's edges (a VAE that thins every black peg by a pixel loses 10-15 % of black), not a body;
        # a body missing from the first generated frame on is the per-track rule's above
        ref = float(np.max(tot[v.cond : cfg.settle_frames + 1]))
        lost = ref - tot[cfg.settle_frames :]
        n_lost = int((lost >= need).sum())
        if n_lost and float(lost.max()) / need > dis[0]:
            k = cfg.settle_frames + int(lost.argmax())
            dis = (max(float(lost.max()) / need, n_lost / max(cfg.disappear_frames, 1)),
                   f"disappearance: {lost.max():.0f} units² of {CLASS_NAMES[c]} gone at frame {k}")  # fmt: skip
    return dis, app, col


def _static_moved(v: _Video) -> Finding:
    cfg, px = v.cfg, v.px
    best: Finding = (0.0, "")
    for m in v.slots[v.cls[v.slots] == BLACK]:
        own = v.present[:, m] & ~v.merged[:, m]
        if own.sum() < 2:
            continue
        amax = np.nanmax(v.area[own, m])
        full = own & (v.area[:, m] >= (1 - cfg.full_view) * amax)
        if full.sum() < 2:
            continue
        c = v.c[full, m]
        ref = np.median(c, axis=0)
        shift = np.linalg.norm(c - ref, axis=1)
        s = float(shift.max()) / (cfg.static_shift_px * px)
        k = int(np.flatnonzero(full)[int(shift.argmax())])
        what = f"moved {shift.max():.1f} units"
        if np.nanmedian(v.elong[full, m]) >= 2.0:
            ang = v.angle[full, m]
            dev = np.abs((ang - np.median(ang) + np.pi / 2) % np.pi - np.pi / 2)
            r = float(dev.max()) / cfg.static_rot
            if r > s:
                s, k = r, int(np.flatnonzero(full)[int(dev.argmax())])
                what = f"rotated {math.degrees(dev.max()):.1f} degrees"
        if s > best[0]:
            best = (s, f"static_moved: {v.name(m)} (static) {what} at frame {k}")
    # the black pixels as a whole (touching static balls merge into one component, so a track may not show
    # its own motion): their centroid over the frames where they are (almost) all visible
    black = v.slots[v.cls[v.slots] == BLACK]
    if len(black):
        tot = v.class_area[:, BLACK]
        full = (tot >= tot.max() * (1 - cfg.full_view)) & (tot > 0)
        a = np.where(v.present[:, black], np.nan_to_num(v.area[:, black]), 0.0)
        c = np.nan_to_num(v.c[:, black])
        cen = (a[..., None] * c).sum(1) / np.maximum(a.sum(1), 1e-9)[:, None]  # (T, 2)
        if full.sum() >= 2:
            ref = np.median(cen[full], axis=0)
            shift = np.where(full, np.linalg.norm(cen - ref, axis=1), 0.0)
            sc = float(shift.max()) / (cfg.static_class_px * px)
            if sc > best[0]:
                k = int(shift.argmax())
                best = (
                    sc,
                    f"static_moved: the black (static) bodies shift by {shift.max():.1f} units at frame {k}",
                )
    return best


def _spontaneous(v: _Video) -> Finding:
    cfg, px = v.cfg, v.px
    rest, move = cfg.rest_speed_px * px, cfg.move_speed_px * px
    moving = v.moving(rest)
    push = v.point_speed()
    best: Finding = (0.0, "")
    for m in v.dynamic():
        s = v.speed[:, m]
        at_rest = np.isfinite(s) & (s <= rest)
        for a, b in _runs(at_rest):
            k = b  # first frame moving into
            if b - a < cfg.rest_frames or k + 1 >= v.T or a < 1:
                continue
            # the onset may be hidden by frames without a measured speed (merged with a touching body of its
            # colour, occluded): bridge up to rest_gap_frames of them to the first two measured speeds
            f = k
            while f < min(v.T - 1, k + cfg.rest_gap_frames) and not np.isfinite(s[f : f + 2]).all():
                f += 1
            if f + 1 >= v.T or not np.isfinite(s[f : f + 2]).all():
                continue
            onset = min(s[f], s[f + 1])
            lo = max(0, k - 2)
            # a push needs a pusher fast enough: restitution 0.2 gives the struck body at most 1.2 times the
            # speed of the point that hits it; ``push_ratio`` leaves room for the support sliding away
            fast = moving[lo : f + 1] & (push[lo : f + 1] >= cfg.push_ratio * onset)
            pushed = (v.near[lo : f + 1, m] & fast).any()
            if pushed:
                continue
            score = onset / move
            if score > best[0]:
                best = (score, f"spontaneous_motion: {v.name(m)} at rest from frame {a - 1} starts moving at "
                        f"frame {k} ({onset / v.dt:.0f} units/s) with nothing near")  # fmt: skip
    return best


def _hovering(v: _Video, acc: np.ndarray) -> Finding:
    cfg, px = v.cfg, v.px
    tol = cfg.accel_tol_px * px + cfg.accel_tol_g * v.gf
    iso = ~(v.near.any(-1) | v.wall)  # (T, M)
    free = v.swept_free()
    iso3 = np.zeros_like(iso)
    iso3[1:-1] = iso[:-2] & iso[1:-1] & iso[2:] & free[1:-1] & free[2:]
    best: Finding = (0.0, "")
    for m in v.dynamic():
        r = np.linalg.norm(acc[:, m], axis=-1)
        ok = iso3[:, m] & np.isfinite(r)
        ok[: max(1, cfg.settle_frames - 1)] = False
        pair = np.where(ok[:-1] & ok[1:], np.minimum(r[:-1], r[1:]), 0.0)
        if not pair.size or pair.max() <= 0:
            continue
        k = int(pair.argmax())
        score = float(pair[k]) / tol
        if score > best[0]:
            ay = (acc[k, m, 1] - v.gf) / v.dt**2
            ax = acc[k, m, 0] / v.dt**2
            best = (score, f"hovering: {v.name(m)} free in the air at frames {k}-{k + 1} accelerates "
                    f"({ax:.0f}, {ay:.0f}) units/s², not (0, {-cfg.gravity:.0f})")  # fmt: skip
    return best


def _supported(v: _Video, t: int, m: int) -> bool:
    """Something may hold track m up in frame t: the floor, or near boxes reaching below its centre while
    overlapping it horizontally (a floor, a slope, a body under it, a jar around it; a tilted bar resting on a
    small ball has the ball's bottom level with its own lowest point, so "below its bottom" would not do).
    A body at rest needs its weight carried under its centre of mass: one such box must reach across the
    track's centre (within the contact margin), or there must be one on either side of it (a ball between
    two pegs; a wall counts as a side). A single small box beside it (a ball leaning on the side of a peg)
    cannot hold a round body still: it would roll off. Only balls are held to that (elongation <
    ``round_elong`` and filling ``round_fill`` of their box, as a disc fills π/4: a V of two bars is round by
    its moments): a bar or a jar may lean on a contact above its centre that no box test sees."""
    g = v.cfg.contact_margin_px * v.px
    b = v.bbox[t, m]
    if b[1] <= 2 * g:
        return True
    cx, cy = 0.5 * (b[0] + b[2]), 0.5 * (b[1] + b[3])
    box_area = max((b[2] - b[0]) * (b[3] - b[1]), 1e-9)
    ball = np.nan_to_num(v.e_ref[m], nan=np.inf) < v.cfg.round_elong
    ball &= np.nan_to_num(v.area[t, m] / box_area) >= v.cfg.round_fill
    if not ball:
        return any(
            v.bbox[t, j, 1] < cy and v.bbox[t, j, 0] < b[2] + g and v.bbox[t, j, 2] > b[0] - g
            for j in np.flatnonzero(v.near[t, m])
        )
    left = b[0] <= 2 * g  # walls
    right = b[2] >= v.world - 2 * g
    for j in np.flatnonzero(v.near[t, m]):
        bj = v.bbox[t, j]
        if bj[1] < cy and bj[0] < b[2] + g and bj[2] > b[0] - g:
            if bj[0] - g <= cx <= bj[2] + g:
                return True
            if 0.5 * (bj[0] + bj[2]) < cx:
                left = True
            else:
                right = True
    return left and right


def _hovering_at_rest(v: _Video) -> Finding:
    """hovering: a dynamic track at rest (two measured speeds <= rest_speed) with nothing that could hold it up
    (``_supported``) for ``hover_rest_frames`` consecutive frames: it floats."""
    cfg = v.cfg
    rest = cfg.rest_speed_px * v.px
    best: Finding = (0.0, "")
    for m in v.dynamic():
        s = v.speed[:, m]
        still = np.zeros(v.T, bool)
        still[:-1] = np.isfinite(s[:-1]) & np.isfinite(s[1:]) & (s[:-1] <= rest) & (s[1:] <= rest)
        still[: cfg.settle_frames] = False
        up = np.array([still[t] and not _supported(v, t, m) for t in range(v.T)])
        for a, b in _runs(up):
            score = (b - a) / cfg.hover_rest_frames
            if score > best[0]:
                best = (score, f"hovering: {v.name(m)} at rest in the air with nothing under it at frames "
                        f"{a}-{b - 1}")  # fmt: skip
    return best


def _interpenetration(v: _Video) -> Finding:
    cfg = v.cfg
    best: Finding = (0.0, "")
    own = v.present & ~v.merged
    for m in v.slots:
        if not np.isfinite(v.a_ref[m]):
            continue
        occ = np.where(own[:, m], np.clip(1 - v.area[:, m] / v.a_ref[m], 0, None), np.nan)
        tol = cfg.occlusion_tol + v.band[m]
        for k in range(1, v.T):
            prev = occ[:k]
            if not np.isfinite(occ[k]) or not np.isfinite(prev).any():
                continue
            inc = occ[k] - np.nanmin(prev)
            if inc <= 0 or not v.near[k, m].any():
                continue
            ref = int(np.nanargmin(prev))
            if -v.class_change(m, k, ref) < CLASS_GATE * inc * v.a_ref[m]:
                continue
            score = inc / tol
            if score > best[0]:
                j = int(np.flatnonzero(v.near[k, m])[0])
                best = (score, f"interpenetration: {v.name(m)} loses {100 * inc:.0f}% of its area into "
                        f"{v.name(j)} at frame {k}")  # fmt: skip
    return best


def _class_change(v: _Video) -> tuple[Finding, Finding]:
    """(growth, loss) of a class's visible area against its starting size (largest over the first frames after
    settling), kept for two frames, in rasterisation bands of its bodies (sum of band × area). Immune to the
    parser's identities and merges (touching same-colour bodies). Rigid bodies that do not overlap keep it: a
    growth is a body growing; a loss is a body hidden inside another (interpenetration) or shrinking."""
    cfg = v.cfg
    e0 = cfg.settle_frames
    grow: Finding = (0.0, "")
    loss: Finding = (0.0, "")
    if v.T - e0 < 3:
        return grow, loss
    for c in sorted({int(x) for x in v.cls[v.slots]}):
        members = v.slots[v.cls[v.slots] == c]
        ca = v.class_area[:, c]
        ref = float(ca[e0 : e0 + cfg.shape_early_frames].max())
        bands = float(np.sqrt(np.nansum((v.band[members] * v.a_ref[members]) ** 2)))
        if ref <= 0 or bands <= 0:
            continue
        up = np.fmin(ca[e0:-1], ca[e0 + 1 :]) - ref
        down = ref - np.fmax(ca[e0:-1], ca[e0 + 1 :])
        su, sd = (
            float(up.max()) / (cfg.class_shape_bands * bands),
            float(down.max()) / (cfg.class_shape_bands * bands),
        )
        if su > grow[0]:
            k = e0 + int(up.argmax())
            grow = (su, f"shape_change: the {CLASS_NAMES[c]} bodies grow by {up.max():.0f} units² "
                    f"({100 * up.max() / ref:.0f}%) by frame {k}")  # fmt: skip
        if sd > loss[0]:
            k = e0 + int(down.argmax())
            loss = (sd, f"interpenetration: the {CLASS_NAMES[c]} bodies lose {down.max():.0f} units² "
                    f"({100 * down.max() / ref:.0f}%) of visible area by frame {k} (hidden or shrunk)")  # fmt: skip
    return grow, loss


def _shape_change(v: _Video) -> Finding:
    """A rigid body's area must stay within its rasterisation band between any two of its frames: the
    largest area it keeps for two frames against the smallest it keeps for two frames while nothing is near
    (no occlusion possible), gated by its class's area changing with it (else the parser moved pixels between
    tracks of one class). A range, not a deviation from the track's median: a gradual rescale moves the
    median with it. (Elongation is not judged: no injection tests it, and the parser's identity swaps between
    touching bodies made it flag ground truth.)"""
    cfg = v.cfg
    best: Finding = (0.0, "")
    own = v.present & ~v.merged
    late = np.arange(v.T) >= cfg.settle_frames
    lonely = ~v.near.any(-1)
    for m in v.slots:
        if not np.isfinite(v.a_ref[m]):
            continue
        a = v.area[:, m]
        cls_a = v.class_area[:, v.cls[m]]
        ok = own[:, m] & late
        pair = ok[:-1] & ok[1:]
        hi = np.where(pair, np.fmin(a[:-1], a[1:]), -np.inf)
        lone = pair & lonely[:-1, m] & lonely[1:, m]
        lo = np.where(lone, np.fmax(a[:-1], a[1:]), np.inf)
        # its size at the start (largest over the first frames after settling: occlusion only lowers it) is
        # both a size it showed and an upper bound of its true size then
        e0 = cfg.settle_frames
        early = ok[e0 : e0 + cfg.shape_early_frames]
        if early.any() and e0 < len(hi):
            k0 = e0 + int(np.nanargmax(np.where(early, a[e0 : e0 + cfg.shape_early_frames], -np.inf)))
            hi[min(k0, len(hi) - 1)] = max(hi[min(k0, len(hi) - 1)], a[k0])
            lo[min(k0, len(lo) - 1)] = min(lo[min(k0, len(lo) - 1)], a[k0])
        if np.isfinite(hi.max()) and np.isfinite(lo.min()) and lo.min() > 0:
            kh, kl = int(hi.argmax()), int(lo.argmin())
            rel = float(hi[kh] / lo[kl] - 1.0)
            # the class must gain (hi after lo) or lose (lo after hi) about the same area
            dc = cls_a[kh] - cls_a[kl]
            if rel > 0 and dc >= CLASS_GATE * (hi[kh] - lo[kl]):
                score = (rel - cfg.shape_band_k * v.band[m]) / cfg.area_tol
                if score > best[0]:
                    k = max(kh, kl)
                    grew = kh > kl
                    best = (score, f"shape_change: {v.name(m)} area {'grows' if grew else 'shrinks'} by "
                            f"{100 * (rel if grew else 1 - 1 / (1 + rel)):.0f}% (frames {min(kh, kl)}-{k})")  # fmt: skip
    return best


def _teleport(v: _Video, acc: np.ndarray) -> Finding:
    cfg, px = v.cfg, v.px
    best: Finding = (0.0, "")
    for m in v.dynamic():
        a = acc[:, m]
        r = np.linalg.norm(a, axis=-1)
        dot = (a[:-1] * a[1:]).sum(-1)
        opp = dot < -cfg.pulse_cos * r[:-1] * r[1:]
        pulse = np.where(opp & np.isfinite(dot), np.minimum(r[:-1], r[1:]), 0.0)
        if pulse.size and pulse.max() / (cfg.pulse_px * px) > best[0]:
            k = int(pulse.argmax()) + 1
            best = (float(pulse.max()) / (cfg.pulse_px * px),
                    f"teleport: {v.name(m)} jumps {pulse.max():.0f} units and back at frame {k}")  # fmt: skip
        s = v.speed[:, m]
        rest = np.isfinite(s) & (s <= cfg.rest_speed_px * px)
        for a0, b0 in _runs(rest):
            if a0 < 2 or b0 >= v.T or b0 - a0 > cfg.pause_frames:
                continue
            din, dout = v.d[a0 - 1, m], v.d[b0, m]
            if not (np.isfinite(din).all() and np.isfinite(dout).all()):
                continue
            nin, nout = np.linalg.norm(din), np.linalg.norm(dout)
            if min(nin, nout) <= 0 or din @ dout < 0.8 * nin * nout:
                continue
            score = min(nin, nout) / (cfg.pause_speed_px * px)
            if score > best[0]:
                best = (score, f"teleport: {v.name(m)} pauses at frames {a0}-{b0 - 1} and resumes its motion")
    return best


def _energies(v: _Video) -> np.ndarray:
    """(T, M) energy per unit mass g·y + |v|²/2 (units²/s²) at valid frames with both neighbours valid."""
    cv = np.where(v.valid[..., None], v.c, np.nan)
    vel = np.full_like(cv, np.nan)
    vel[1:-1] = (cv[2:] - cv[:-2]) / (2 * v.dt)
    return v.cfg.gravity * cv[..., 1] + 0.5 * (vel**2).sum(-1)


def _energy(v: _Video) -> tuple[Finding, Finding]:
    """energy_gain (one body, nothing moving near) and collision_response (the scene's total)."""
    cfg = v.cfg
    e = _energies(v)
    dyn = v.dynamic()
    start = cfg.settle_frames
    moving = v.moving(cfg.rest_speed_px * v.px)
    one: Finding = (0.0, "")
    # between pushes by moving dynamic bodies a body's energy per unit mass can only fall (static contacts,
    # restitution 0.2 and friction take it): its rise above the least it had since the last push is a gain.
    # Bounds that make the rise conservative: the reference with the faster, the later frame with the slower
    # of the two one-sided speeds (a central difference across a bounce underestimates the speed)
    cv = np.where(v.valid[..., None], v.c, np.nan)
    sp = v.speed / v.dt  # units/s into frame t
    fwd = np.full_like(sp, np.nan)
    fwd[:-1] = sp[1:]
    e_hi = cfg.gravity * cv[..., 1] + 0.5 * np.fmax(sp, fwd) ** 2
    e_lo = (
        cfg.gravity * cv[..., 1]
        + 0.5 * np.where(np.isfinite(sp) & np.isfinite(fwd), np.fmin(sp, fwd), np.nan) ** 2
    )
    # a push: a moving dynamic box near whose fastest point moves at least push_ratio of the track's own
    # speed out of that frame (a body jittering in a merge, or creeping, cannot throw a fast bounce higher)
    own = np.nan_to_num(v.speed)
    own_out = own.copy()
    own_out[:-1] = np.maximum(own[:-1], own[1:])
    push = v.point_speed()
    pushed = v.near & moving[:, None, :] & (push[:, None, :] >= cfg.push_ratio * own_out[:, :, None])
    pushed[:, :, v.cls == BLACK] = False
    pushed = pushed.any(-1)  # (T, M)
    for m in dyn:
        ref, since = np.inf, start
        for k in range(start, v.T):
            if pushed[max(0, k - 3) : k + 1, m].any():
                ref, since = np.inf, k + 1
                continue
            if np.isfinite(e_lo[k, m]) and k > since:
                gain = e_lo[k, m] - ref
                score = gain / (cfg.gravity * cfg.energy_height)
                if score > one[0]:
                    one = (score, f"energy_gain: {v.name(m)} gains {gain / cfg.gravity:.0f} units of height-energy "
                           f"by frame {k} with nothing pushing it")  # fmt: skip
            if np.isfinite(e_hi[k, m]):
                ref = min(ref, e_hi[k, m])
    scene: Finding = (0.0, "")
    if len(dyn):
        w = np.nan_to_num(v.a_ref[dyn])
        x = e[:, dyn]
        filled = x.copy()  # carry a track's last energy over frames where it is not measured
        for t in range(1, v.T):
            filled[t] = np.where(np.isfinite(filled[t]), filled[t], filled[t - 1])
        for t in range(v.T - 2, -1, -1):
            filled[t] = np.where(np.isfinite(filled[t]), filled[t], filled[t + 1])
        ok = np.isfinite(filled).all(0)
        if ok.any() and w[ok].sum() > 0:
            tot = (filled[:, ok] * w[ok]).sum(1) / w[ok].sum()
            run = np.maximum.accumulate(tot[start:])
            gain = tot[start + 1 :] - run[:-1]
            if gain.size and gain.max() > 0:
                k = int(gain.argmax()) + start + 1
                g = float(gain.max())
                scene = (g / (cfg.gravity * cfg.scene_energy_height),
                         f"collision_response: the scene gains {g / cfg.gravity:.0f} units of height-energy "
                         f"per unit mass by frame {k}")  # fmt: skip
    return one, scene


def _balance(v: _Video) -> Finding:
    """A dynamic track that moves into frame k-1 and is at rest in frames k and k+1 stopped dead: the velocity
    it lost needs a contact in its direction of motion. Sideways: a box ahead (not its support below) or a
    wall, else friction, which takes at most μ g dt per frame; downwards: a box under it or the floor, else
    nothing (it stopped in the air). The excess speed is the score's quantity."""
    cfg, px = v.cfg, v.px
    rest = cfg.rest_speed_px * px
    stop_dv = FRICTION * cfg.gravity * v.dt**2  # the most friction takes from a speed in one frame
    best: Finding = (0.0, "")
    g = cfg.contact_margin_px * px
    for m in v.dynamic():
        s = v.speed[:, m]
        for k in range(max(2, cfg.settle_frames), v.T - 1):
            din = v.d[k - 1, m]
            if not (np.isfinite(din).all() and np.isfinite(s[k]) and np.isfinite(s[k + 1])):
                continue
            if s[k] > rest or s[k + 1] > rest:
                continue
            b = v.bbox[k - 1, m]
            cx, cy = 0.5 * (b[0] + b[2]), 0.5 * (b[1] + b[3])
            dirx = np.sign(din[0])
            ahead = below = False
            for j in np.flatnonzero(v.near[k - 1, m] | v.near[k, m]):
                bj = v.bbox[k, j]
                # under it (a support): its top below the track's centre and overlapping it horizontally
                if bj[3] <= cy and bj[0] < b[2] + g and bj[2] > b[0] - g:
                    below = True
                if bj[3] <= b[1] + g:
                    continue
                # ahead: its near edge beyond the track's centre, or alongside up to the centre height (a jar's
                # wall, a body beside it); a box that only lies under the track (a floor, a slope) is not
                beyond = bj[0] >= cx if dirx > 0 else bj[2] <= cx
                alongside = bj[1] < cy and (
                    (dirx > 0 and bj[2] >= b[2] - g) or (dirx < 0 and bj[0] <= b[0] + g)
                )
                ahead |= beyond or alongside
                # a box containing the track's centre (a jar, a crossing bar) may stop it either way
                if bj[0] <= cx <= bj[2] and bj[1] <= cy <= bj[3]:
                    ahead = below = True
            if (dirx > 0 and b[2] >= v.world - 2 * g - abs(din[0])) or (
                dirx < 0 and b[0] <= 2 * g + abs(din[0])
            ):
                ahead = True
            below |= b[1] <= 2 * g + abs(din[1])  # the floor
            side = 0.0 if ahead else abs(din[0]) - stop_dv
            down = 0.0 if (below or din[1] >= 0) else -din[1]
            excess = max(side, down)
            if excess <= 0:
                continue
            score = excess / (cfg.stop_speed_px * px)
            if score > best[0]:
                what = "sideways" if side >= down else "downwards"
                speed = abs(din[0]) if side >= down else -din[1]
                best = (score, f"impossible_balance: {v.name(m)} moving {what} at {speed / v.dt:.0f} units/s "
                        f"stops dead at frame {k} with nothing {'ahead' if side >= down else 'under it'}")  # fmt: skip
    return best


def _reversal(v: _Video) -> Finding:
    cfg, px = v.cfg, v.px
    best: Finding = (0.0, "")
    for m in v.dynamic():
        for k in range(2, v.T - 2):
            din, dout = v.d[k, m], v.d[k + 1, m]
            if not (np.isfinite(din).all() and np.isfinite(dout).all()):
                continue
            nin, nout = np.linalg.norm(din), np.linalg.norm(dout)
            if nin <= 0 or nout < cfg.reverse_ratio * nin or nin < cfg.reverse_ratio * nout:
                continue
            if din @ dout > -cfg.reverse_cos * nin * nout:
                continue
            c = v.c[:, m]
            if not (np.isfinite(c[k - 2]).all() and np.isfinite(c[k + 2]).all()):
                continue
            span = np.linalg.norm(c[k] - c[k - 2])
            if np.linalg.norm(c[k + 2] - c[k - 2]) > cfg.mirror_tol * span + px:
                continue
            score = min(nin, nout) / (cfg.reverse_speed_px * px)
            if score > best[0]:
                best = (score, f"time_reversal: {v.name(m)} retraces its path backwards from frame {k}")
    return best


def _judge_video(v: _Video) -> list[Finding]:
    acc = v.accel()
    dis, app, col = _presence(v)
    eg, cr = _energy(v)
    cl_grow, cl_loss = _class_change(v)
    found = {
        "spontaneous_motion": _spontaneous(v),
        "static_moved": _static_moved(v),
        "hovering": max(_hovering(v, acc), _hovering_at_rest(v), key=lambda f: f[0]),
        "interpenetration": max(_interpenetration(v), cl_loss, key=lambda f: f[0]),
        "disappearance": dis,
        "appearance": app,
        "shape_change": max(_shape_change(v), cl_grow, key=lambda f: f[0]),
        "color_change": col,
        "teleport": _teleport(v, acc),
        "energy_gain": eg,
        "collision_response": cr,
        "impossible_balance": _balance(v),
        "time_reversal": _reversal(v),
    }
    return [found[name] for name in VIOLATIONS]


def judge(tracks, cond_frames: int = 1, config: JudgeConfig = JudgeConfig()) -> Verdict:
    """The verdict on every video of ``tracks`` (evaluate.objects.ObjectTracks).

    ``cond_frames``: frames given to the model (ground truth); a rule's evidence must involve a later frame.
    Frames before ``max(cond_frames, settle_frames)`` are never read as settling evidence either way."""
    cfg = config
    if cond_frames > cfg.settle_frames:
        cfg = replace(cfg, settle_frames=int(cond_frames))
    n = len(tracks)
    px = float(tracks.pixel_size)
    factors = np.asarray(cfg.factors, dtype=np.float64)
    scores = np.zeros((n, len(VIOLATIONS)))
    reasons: list[list[str]] = []
    for i in range(n):
        found = _judge_video(_Video(tracks, i, cfg, px, cond_frames))
        row = np.array([f[0] for f in found]) * factors
        scores[i] = row
        reasons.append([f"{found[j][1]} (score {row[j]:.2f})" for j in np.flatnonzero(row >= 1.0)])
    return Verdict(scores=scores, abnormal=(scores >= 1.0).any(axis=1), reasons=reasons)
