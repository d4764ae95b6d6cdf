"""Parse object states from frames by colour masks (SPEC I.4), vectorised over clips and batches.

A colour rule is an inclusive per-channel range; the default palette is the paper's: red = R > 127, G < 127,
B < 127 and blue = R < 127, G < 127, B > 127. For each frame and rule the parser computes the mask's area,
centroid and bounding box in one compiled pass (``_moments``); centre and radius are converted to world units
with the pixel-centre convention of docs/formats.md (x = (j + 0.5)·S/W, y = S − (i + 0.5)·S/H, y up),
radius = √(area/π)·S/W (imported phyworld data: ``convention="linspace"``, pixel j at j·S/(W − 1)), where S is
the scenario's world size (``sim.registry.Scenario.world_size``: 10 world units for the kinematic scenes, 512
PHYRE scene units for ``phyre``; ``parse(..., scenario=...)``, default 10).
A rule whose mask is smaller than ``min_area`` pixels in a frame (default 1: every matching pixel counts,
SPEC I.4) is *not detected* there: its centre and radius are NaN (a parse failure), never a made-up position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from phylaw.errors import PhylawError
from phylaw.evaluate import _moments as mom
from phylaw.render.palette import COLOR_NAMES, PARSE_RULES
from phylaw.sim.registry import get_scenario
from phylaw.sim.trajectory import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE, WORLD_SIZE

SHAPE_UNKNOWN = -1
SHAPE_NAMES = {SHAPE_UNKNOWN: "unknown", SHAPE_DISC: "disc", SHAPE_SQUARE: "square", SHAPE_RING: "ring"}
# fill ratio (area / bounding-box area): disc π/4 ≈ 0.785, square 1.0; a ring also has a hole at its centre
SQUARE_MIN_FILL = 0.9
PIXEL_CONVENTIONS = ("centre", "linspace")


@dataclass(frozen=True)
class ColorRule:
    """A pixel belongs to this object colour when lo[c] <= value[c] <= hi[c] for c in R, G, B (inclusive)."""

    name: str
    color_id: int  # palette id of the objects drawn in this colour (render.palette)
    lo: tuple[int, int, int]
    hi: tuple[int, int, int]

    def __post_init__(self) -> None:
        for a, b in zip(self.lo, self.hi, strict=True):
            if not (0 <= a <= b <= 255):
                raise PhylawError(
                    f"colour rule {self.name!r}: bad channel range {a}-{b} (need 0 <= lo <= hi <= 255)"
                )
        if min(self.hi) == 255:
            raise PhylawError(
                f"colour rule {self.name!r} matches white (all channels may be 255): it would find the background"
            )

    @staticmethod
    def from_string(text: str) -> ColorRule:
        """``NAME:ID:RLO-RHI,GLO-GHI,BLO-BHI``, e.g. ``red:1:128-255,0-126,0-126``."""
        m = re.fullmatch(r"\s*(\w+):(\d+):(\d+)-(\d+),(\d+)-(\d+),(\d+)-(\d+)\s*", text)
        if m is None:
            raise PhylawError(f"bad colour rule {text!r}: expected NAME:ID:RLO-RHI,GLO-GHI,BLO-BHI")
        v = [int(x) for x in m.groups()[1:]]
        return ColorRule(m.group(1), v[0], (v[1], v[3], v[5]), (v[2], v[4], v[6]))


@dataclass(frozen=True)
class Palette:
    rules: tuple[ColorRule, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise PhylawError("the palette has no colour rules")
        ids = [r.color_id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise PhylawError(f"palette colour ids are not unique: {ids}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)

    @property
    def color_ids(self) -> tuple[int, ...]:
        return tuple(r.color_id for r in self.rules)

    def index_of(self, color_id: int) -> int:
        for k, rule in enumerate(self.rules):
            if rule.color_id == color_id:
                return k
        raise PhylawError(
            f"the palette ({', '.join(self.names)}) has no rule for object colour id {color_id}"
        )

    @staticmethod
    def from_string(text: str) -> Palette:
        """Rules separated by ``;`` (see ``ColorRule.from_string``)."""
        return Palette(tuple(ColorRule.from_string(t) for t in text.split(";") if t.strip()))


# SPEC I.4 / D.1: R > 127, G < 127, B < 127 is red; R < 127, G < 127, B > 127 is blue
DEFAULT_PALETTE = Palette(tuple(ColorRule(n, COLOR_NAMES[n], lo, hi) for n, (lo, hi) in PARSE_RULES.items()))


@dataclass(frozen=True)
class ParsedStates:
    """Parsed states of n videos, T frames, K palette rules (one object per colour). World units, y up.

    center:   (n, T, K, 2) float64  mask centroid (x, y); NaN where not detected
    radius:   (n, T, K)    float64  √(area/π)·S/W (S = ``world_size``); NaN where not detected
    area:     (n, T, K)    int64    mask pixel count
    visible:  (n, T, K)    bool     area >= min_area
    fill:     (n, T, K)    float64  area / bounding-box area (NaN where not detected)
    shape:    (n, T, K)    int8     SHAPE_DISC / SHAPE_SQUARE / SHAPE_RING, SHAPE_UNKNOWN where not detected
    """

    names: tuple[str, ...]
    color_ids: tuple[int, ...]
    center: np.ndarray
    radius: np.ndarray
    area: np.ndarray
    visible: np.ndarray
    fill: np.ndarray
    shape: np.ndarray
    height: int
    width: int
    palette: Palette | None = (
        None  # how it was parsed (for splitting a colour into objects: ``object_stats``)
    )
    min_area: int = 1
    convention: str = "centre"
    world_size: float = WORLD_SIZE  # side of the world square the frames show, in world units

    @property
    def n_frames(self) -> int:
        return int(self.center.shape[1])


def as_batch(frames: np.ndarray) -> np.ndarray:
    """(n, T, H, W, 3) uint8 frames (a (T, H, W, 3) video is one batch of 1); PhylawError otherwise."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise PhylawError(f"frames must be a uint8 numpy array, got {getattr(frames, 'dtype', type(frames))}")
    if frames.ndim == 4:
        frames = frames[None]
    if frames.ndim != 5 or frames.shape[-1] != 3:
        raise PhylawError(f"frames must have shape (T, H, W, 3) or (n, T, H, W, 3), got {frames.shape}")
    if frames.shape[1] == 0 or frames.shape[2] == 0 or frames.shape[3] == 0:
        raise PhylawError(f"empty frames: shape {frames.shape}")
    return frames


def _pixel(
    height: int, width: int, convention: str, world_size: float = WORLD_SIZE
) -> tuple[float, float, float]:
    """(x pixel size, y pixel size, offset of a pixel's position within it) in world units."""
    s = float(world_size)
    if convention == "centre":  # docs/formats.md: pixel j covers [j, j + 1)·S/W
        return s / width, s / height, 0.5
    return s / (width - 1), s / (height - 1), 0.0  # "linspace": pixel j at j·S/(W − 1)


def _to_world(
    ci: np.ndarray, cj: np.ndarray, height: int, width: int, convention: str, world_size: float = WORLD_SIZE
) -> np.ndarray:
    """Mean row/column indices -> world (x, y), y up: (..., 2)."""
    px, py, off = _pixel(height, width, convention, world_size)
    return np.stack([(cj + off) * px, float(world_size) - (ci + off) * py], axis=-1)


def _states_from_moments(
    stats: np.ndarray, min_area: int, height: int, width: int, convention: str, world_size: float = WORLD_SIZE
):
    area = stats[..., mom.AREA]  # (F, K)
    visible = area >= min_area
    safe = np.where(visible, area, 1).astype(np.float64)
    cj = np.where(visible, stats[..., mom.SUM_J] / safe, np.nan)  # mean column index
    ci = np.where(visible, stats[..., mom.SUM_I] / safe, np.nan)  # mean row index
    center = _to_world(ci, cj, height, width, convention, world_size)  # (F, K, 2)
    radius = np.where(
        visible, np.sqrt(area / np.pi) * _pixel(height, width, convention, world_size)[0], np.nan
    )
    box = (stats[..., mom.J_MAX] - stats[..., mom.J_MIN] + 1) * (
        stats[..., mom.I_MAX] - stats[..., mom.I_MIN] + 1
    )
    fill = np.where(visible, area / np.maximum(box, 1), np.nan)
    shape = np.full(area.shape, SHAPE_UNKNOWN, dtype=np.int8)
    shape[visible] = SHAPE_DISC
    shape[visible & (fill >= SQUARE_MIN_FILL)] = SHAPE_SQUARE
    shape[visible & (stats[..., mom.HOLE] == 1)] = SHAPE_RING
    return center, radius, area, visible, fill, shape


def object_stats(
    frames: np.ndarray,
    rule: ColorRule,
    centres: np.ndarray,
    min_area: int,
    convention: str,
    world_size: float = WORLD_SIZE,
) -> np.ndarray:
    """Moments of several objects of one colour, one 8-connected component each: frames (T, H, W, 3) of one
    video, centres (T, m, 2) the m true objects' world centres (a world of side ``world_size``, the parsed
    states' ``world_size``) -> stats (T, m, N_STATS).

    In every frame the colour's mask is split into 8-connected components; those of at least ``min_area``
    pixels are matched to the true objects by a minimum-total-distance assignment between component centroid
    and true centre (``scipy.optimize.linear_sum_assignment``). An object left without a component (fewer
    components than objects, e.g. two touching discs that merge into one) has area 0: not detected; extra
    components (stray blobs) are ignored."""
    from scipy import ndimage
    from scipy.optimize import linear_sum_assignment

    n_frames, height, width, _ = frames.shape
    m = centres.shape[1]
    out = np.zeros((n_frames, m, mom.N_STATS), dtype=np.int64)
    out[..., mom.J_MIN], out[..., mom.I_MIN], out[..., mom.J_MAX], out[..., mom.I_MAX] = width, height, -1, -1
    lo, hi = np.array(rule.lo, np.int16), np.array(rule.hi, np.int16)
    eight = np.ones((3, 3), dtype=bool)
    for t in range(n_frames):
        mask = np.all((frames[t] >= lo) & (frames[t] <= hi), axis=-1)  # (H, W)
        labels, n = ndimage.label(mask, structure=eight)
        if n == 0:
            continue
        ii, jj = np.nonzero(labels)
        lab = labels[ii, jj] - 1  # component of each mask pixel
        area = np.bincount(lab, minlength=n)
        sum_i = np.bincount(lab, weights=ii, minlength=n)
        sum_j = np.bincount(lab, weights=jj, minlength=n)
        comps = np.nonzero(area >= min_area)[0]
        if not len(comps):
            continue
        world = _to_world(
            sum_i[comps] / area[comps], sum_j[comps] / area[comps], height, width, convention, world_size
        )
        cost = np.linalg.norm(world[:, None, :] - centres[t][None, :, :], axis=-1)  # (components, objects)
        cost = np.where(np.isfinite(cost), cost, 1e9)  # an object without a true centre is matched last
        boxes = ndimage.find_objects(labels)
        for c, k in zip(*linear_sum_assignment(cost), strict=True):
            comp = comps[c]
            rows, cols = boxes[comp]
            ci = int(np.floor(sum_i[comp] / area[comp] + 0.5))
            cj = int(np.floor(sum_j[comp] / area[comp] + 0.5))
            out[t, k] = [
                area[comp], round(sum_j[comp]), round(sum_i[comp]), cols.start, cols.stop - 1, rows.start,
                rows.stop - 1, int(labels[ci, cj] != comp + 1),
            ]  # fmt: skip
    return out


def object_states(stats: np.ndarray, parsed: ParsedStates) -> tuple[np.ndarray, ...]:
    """``object_stats`` output (T, m, N_STATS) -> center (T, m, 2), radius, area, visible, fill, shape."""
    return _states_from_moments(
        stats, parsed.min_area, parsed.height, parsed.width, parsed.convention, parsed.world_size
    )


def keep_largest_blob(frames: np.ndarray, stats: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Recompute the moments of every detected mask from its largest 8-connected component only.

    frames (F, H, W, 3), stats (F, K, N_STATS) -> new stats. Opt-in robustness for generated videos with
    stray blobs of an object's colour; a per-frame loop (scipy.ndimage.label on the mask's bounding box).
    """
    from scipy import ndimage

    out = stats.copy()
    eight = np.ones((3, 3), dtype=bool)
    for f, k in zip(*np.nonzero(stats[..., mom.AREA] > 0), strict=True):
        i0, i1, j0, j1 = (int(stats[f, k, c]) for c in (mom.I_MIN, mom.I_MAX, mom.J_MIN, mom.J_MAX))
        box = frames[f, i0 : i1 + 1, j0 : j1 + 1].astype(np.int16)  # (h, w, 3)
        mask = np.all((box >= lo[k]) & (box <= hi[k]), axis=-1)  # (h, w)
        labels, n = ndimage.label(mask, structure=eight)
        if n < 2:
            continue
        keep = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1  # (h, w)
        ii, jj = np.nonzero(keep)
        ci, cj = int(np.floor(ii.mean() + 0.5)), int(np.floor(jj.mean() + 0.5))
        out[f, k, : mom.HOLE + 1] = [
            len(ii), (jj + j0).sum(), (ii + i0).sum(), jj.min() + j0, jj.max() + j0, ii.min() + i0, ii.max() + i0,
            int(not keep[ci, cj]),
        ]  # fmt: skip
    return out


def parse(
    frames: np.ndarray,
    palette: Palette = DEFAULT_PALETTE,
    min_area: int = 1,
    chunk_frames: int = 4096,
    progress: bool = False,
    convention: str = "centre",
    largest_blob: bool = False,
    scenario: str | None = None,
) -> ParsedStates:
    """Parse (T, H, W, 3) or (n, T, H, W, 3) uint8 frames into per-colour object states (see ParsedStates).

    ``convention`` is the dataset's pixel convention: "centre" (phylaw) or "linspace" (imported phyworld data).
    ``largest_blob``: measure only the largest connected component of each colour (off: SPEC I.4's parser).
    ``scenario``: the frames show that scenario's world (its ``world_size``: 512 scene units for ``phyre``);
    None: the kinematic 10 x 10 world.
    """
    world_size = WORLD_SIZE if scenario is None else float(get_scenario(scenario).world_size)
    if convention not in PIXEL_CONVENTIONS:
        raise PhylawError(
            f"unknown pixel convention {convention!r}; choose one of {', '.join(PIXEL_CONVENTIONS)}"
        )
    frames = as_batch(frames)
    n, t, height, width, _ = frames.shape
    lo = np.array([r.lo for r in palette.rules], dtype=np.int16)  # (K, 3)
    hi = np.array([r.hi for r in palette.rules], dtype=np.int16)
    flat = frames.reshape(n * t, height, width, 3)  # (F, H, W, 3)
    stats = np.empty((n * t, len(palette.rules), mom.N_STATS), dtype=np.int64)
    starts = range(0, n * t, chunk_frames)
    for s in tqdm(starts, desc="parse", unit="chunk") if progress else starts:  # no bar object unless shown
        block = flat[s : s + chunk_frames]
        stats[s : s + len(block)] = mom.frame_moments(block, lo, hi)  # (f, K, N_STATS)
    if largest_blob:
        stats = keep_largest_blob(flat, stats, lo, hi)
    center, radius, area, visible, fill, shape = _states_from_moments(
        stats, min_area, height, width, convention, world_size
    )
    k = len(palette.rules)
    return ParsedStates(
        names=palette.names,
        color_ids=palette.color_ids,
        center=center.reshape(n, t, k, 2),
        radius=radius.reshape(n, t, k),
        area=area.reshape(n, t, k),
        visible=visible.reshape(n, t, k),
        fill=fill.reshape(n, t, k),
        shape=shape.reshape(n, t, k),
        height=height,
        width=width,
        palette=palette,
        min_area=min_area,
        convention=convention,
        world_size=world_size,
    )
