"""Attribute read-out (SPEC §5.3, E.5; Figs. 8, 9, 14–16): which attribute of the conditioning object a
generated video kept and which it changed, the counts per pair, the priority matrix and the order it implies.

**Read-out of one video** (``read_attributes``), from the parsed frames after the c conditioning frames
(``evaluate.parse``: one mask per palette colour, red and blue). A frame is *usable* when the object is
detected whole: its dominant colour's mask has >= ``MIN_PIXELS`` pixels and >= ``WHOLE_FRACTION`` x the video's
median area, and its half extent (from the mask area and the frame's shape class, as the size below) plus
``EDGE_PIXELS`` lies inside the image on every side (an object cut by the frame edge changes its area and fill). Over the usable frames:

* colour: the palette colour whose mask is largest, by majority over the frames;
* shape: the parser's descriptor of that mask (fill >= 0.9: square; a hole at the centroid: ring; else disc),
  by majority;
* size: the median radius / half side, from the mask area and the voted shape (disc: sqrt(A / pi); square:
  sqrt(A) / 2; ring: sqrt(A / (pi (1 - 0.6^2)))), in world units;
* velocity: the least-squares slope of the centre's x over the usable frames (signed: < 0 reverses), >= 3
  frames.

A video with no usable frame (or < 3 for the velocity) has no value for that attribute ("lost").

**Decisions** (``classify``): each read value is put in the nearest value set of the attribute in the pair's
setting (``sim.attribute_studies``: colours and shapes by id; a size or speed to the set whose interval or
point is nearest). An attribute is *kept* when that set is the conditioning object's, *changed* otherwise.
Every decision has a floor: the same read-out of the ground-truth frames of the same videos, whose error rate
(ground truth read into another set) is reported beside every count.

**Counts and priority** (``pair_rows``, ``priority_matrix``, ``priority_order``): per test combination, how
many videos kept both attributes, changed only the first, only the second, both, or lost the object; the
*win rate* of attribute A over B = (A kept, B changed) / (videos that changed exactly one), with a Wilson 95 %
interval. The order: A above B when A's win rate over B exceeds 1/2 (``strict``: its Wilson interval lies above
1/2); a cycle among the pairs is reported as a cycle, undecided pairs as undecided.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.evaluate.studies import finished_rows, frame_blocks, result_row, wilson_ci
from phylaw.sim.states import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE

MIN_PIXELS = 3
WHOLE_FRACTION = 0.8
EDGE_PIXELS = 1.0  # a usable frame has the whole object at least this far inside the image
MIN_FIT_FRAMES = 3
ATTRS = ("color", "shape", "size", "velocity")
OUTCOMES = ("kept_both", "changed_first", "changed_second", "changed_both", "lost")


def _area_factor() -> dict[int, float]:
    from phylaw.render.raster import RING_INNER

    # size = equivalent radius * sqrt(pi / factor): area = factor * size^2
    return {SHAPE_DISC: np.pi, SHAPE_SQUARE: 4.0, SHAPE_RING: np.pi * (1.0 - RING_INNER**2)}


@dataclass(frozen=True)
class ReadOut:
    """Attributes read from n videos: palette id / shape id (-1: lost), size and signed x speed (NaN: lost)."""

    color: np.ndarray  # (n,) int
    shape: np.ndarray  # (n,) int
    size: np.ndarray  # (n,) float64
    velocity: np.ndarray  # (n,) float64
    frames: np.ndarray  # (n,) int: usable frames

    def table(self, prefix: str) -> pd.DataFrame:
        return pd.DataFrame({f"{prefix}_{a}": getattr(self, a) for a in (*ATTRS, "frames")})


def _vote(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(n,) the most frequent value of values (n, T) over ok (n, T) (the smallest on a tie); -1 with none."""
    out = np.full(values.shape[0], -1, np.int64)
    for i in range(values.shape[0]):
        v = values[i][ok[i]]
        if len(v):
            u, c = np.unique(v, return_counts=True)
            out[i] = int(u[np.argmax(c)])
    return out


def read_attributes(parsed, cond_frames: int, dt: float) -> ReadOut:
    """The read-out of every video of ``parsed`` (``evaluate.parse.ParsedStates``; module docstring)."""
    area = np.asarray(parsed.area, np.float64)  # (n, T, K)
    n, t, _ = area.shape
    if cond_frames >= t:
        raise PhylawError(f"the videos have {t} frames, none after the {cond_frames} conditioning frames")
    dom = area.argmax(axis=2)  # (n, T) dominant colour slot
    take = lambda a: np.take_along_axis(a, dom[..., None], axis=2)[..., 0]  # noqa: E731
    a_dom = take(area)  # (n, T)
    radius = take(np.asarray(parsed.radius, np.float64))
    shape = take(np.asarray(parsed.shape, np.int64))
    centre = np.take_along_axis(np.asarray(parsed.center), dom[..., None, None], axis=2)[:, :, 0]  # (n, T, 2)
    gen = (np.arange(t) >= cond_frames)[None, :]
    ok = gen & (a_dom >= MIN_PIXELS) & np.isfinite(radius)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # videos with no detection
        med = np.nanmedian(np.where(ok, a_dom, np.nan), axis=1, keepdims=True)  # (n, 1)
    ok &= a_dom >= WHOLE_FRACTION * np.where(np.isfinite(med), med, np.inf)
    world = float(parsed.world_size)
    factors = _area_factor()
    frame_fac = np.vectorize(lambda sid: factors.get(int(sid), np.pi))(shape)  # (n, T) by each frame's shape
    extent = np.where(np.isfinite(radius), radius, np.inf) * np.sqrt(np.pi / frame_fac)  # half extent
    margin = extent + EDGE_PIXELS * world / parsed.width  # (n, T)
    inside = np.all((centre - margin[..., None] > 0) & (centre + margin[..., None] < world), axis=-1)
    ok &= inside
    color_ids = np.asarray(parsed.color_ids, np.int64)
    slot = _vote(dom, ok)  # (n,) the colour slot of the most frames, -1: none usable
    color = np.where(slot >= 0, color_ids[np.maximum(slot, 0)], -1)
    voted_shape = _vote(shape, ok & (shape >= 0))
    fac = np.array([factors.get(int(s), np.pi) for s in voted_shape])  # (n,)
    size = np.full(n, np.nan)
    vel = np.full(n, np.nan)
    tt = np.arange(t) * dt
    for i in range(n):
        sel = ok[i]
        if sel.any():
            size[i] = float(np.median(radius[i][sel])) * np.sqrt(np.pi / fac[i])
        if sel.sum() >= MIN_FIT_FRAMES:
            vel[i] = float(np.polyfit(tt[sel], centre[i, sel, 0], 1)[0])
    return ReadOut(color.astype(np.int64), voted_shape, size, vel, ok.sum(axis=1).astype(np.int64))


# ----------------------------------------------------------------------------------------------- decisions
def _column(attribute: str) -> str:
    return {"color": "color", "shape": "shape", "size": "r", "velocity": "v"}[attribute]


def classify(values: np.ndarray, sets) -> np.ndarray:
    """(n,) the value set of each value: a colour / shape by its id ("other" for an id in no set), a size or
    speed by the nearest set (distance 0 inside it); "" where not read (NaN, or id -1)."""
    x = np.asarray(values, np.float64)
    names = np.array([vs.name for vs in sets], dtype=object)
    if sets[0].attribute in ("color", "shape"):
        out = np.full(len(x), "other", dtype=object)
        for vs in sets:
            out[x == vs.lo] = vs.name
        return np.where(~np.isfinite(x) | (x < 0), "", out)
    dist = np.stack([np.where(vs.contains(x), 0.0, np.minimum(np.abs(x - vs.lo), np.abs(x - vs.hi)))
                     for vs in sets], axis=1)  # fmt: skip
    out = names[np.argmin(np.where(np.isfinite(dist), dist, np.inf), axis=1)]
    return np.where(np.isfinite(x), out, "")


def decisions(videos: pd.DataFrame, setting, which: str) -> pd.DataFrame:
    """Per video and attribute of ``setting``: the condition's set, the read set of ``which`` ("gen" /
    "floor") and kept (True / False; NaN when lost)."""
    out = pd.DataFrame(index=videos.index)
    for attr, sets in zip(setting.attributes, setting.sets, strict=True):
        cond = classify(videos[_column(attr)].to_numpy(np.float64), sets)
        got = classify(videos[f"{which}_{attr}"].to_numpy(np.float64), sets)
        out[f"{attr}_cond"], out[f"{attr}_read"] = cond, got
        out[f"{attr}_kept"] = np.where(got == "", np.nan, (got == cond).astype(np.float64))
    return out


def outcomes(dec: pd.DataFrame, setting) -> np.ndarray:
    """(n,) one of ``OUTCOMES`` per video."""
    a, b = (dec[f"{x}_kept"].to_numpy() for x in setting.attributes)
    lost = np.isnan(a) | np.isnan(b)
    out = np.where(a == 1, np.where(b == 1, "kept_both", "changed_second"),
                   np.where(b == 1, "changed_first", "changed_both"))  # fmt: skip
    return np.where(lost, "lost", out)


def pair_rows(videos: pd.DataFrame, setting) -> list[dict]:
    """Tidy rows of one cell: per level (combination) and attribute the changed rate with its floor (the
    ground truth's error rate); per level the share of each outcome; per test level and pooled over the test
    levels the first attribute's win rate (Wilson CIs)."""
    gen, floor = decisions(videos, setting, "gen"), decisions(videos, setting, "floor")
    go, fo = outcomes(gen, setting), outcomes(floor, setting)
    rows = []
    first, second = setting.attributes
    groups = [(str(videos["split"][m].iloc[0]), lv, m.to_numpy())
              for lv, m in ((lv, videos["level"] == lv) for lv in sorted(videos["level"].unique()))]  # fmt: skip
    test = (videos["split"] == "ood").to_numpy()
    if test.any():
        groups.append(("ood", "pooled", test))
    for split, level, m in groups:
        n = int(m.sum())
        for attr in setting.attributes:
            g, f = gen[f"{attr}_kept"].to_numpy()[m], floor[f"{attr}_kept"].to_numpy()[m]
            ok = ~np.isnan(g)
            p, lo, hi = wilson_ci(int((g[ok] == 0).sum()), int(ok.sum()))
            fok = ~np.isnan(f)
            fp, flo, fhi = wilson_ci(int((f[fok] == 0).sum()), int(fok.sum()))
            row = result_row(split, level, f"{attr}_changed", p, lo, hi, int(ok.sum()), fp, flo, fhi)
            rows.append({**row, "n_videos": n, "floor_n": int(fok.sum())})  # each over its own read videos
        for o in OUTCOMES:
            p, lo, hi = wilson_ci(int((go[m] == o).sum()), n)
            fp, flo, fhi = wilson_ci(int((fo[m] == o).sum()), n)
            rows.append(result_row(split, level, f"outcome_{o}", p, lo, hi, n, fp, flo, fhi))
        if setting.kind == "pair" and split == "ood":
            k1, k2 = int((go[m] == "changed_second").sum()), int((go[m] == "changed_first").sum())
            fk1, fk2 = int((fo[m] == "changed_second").sum()), int((fo[m] == "changed_first").sum())
            p, lo, hi = wilson_ci(k1, k1 + k2)
            fp, flo, fhi = wilson_ci(fk1, fk1 + fk2)
            row = result_row(split, level, f"win_{first}_over_{second}", p, lo, hi, k1 + k2, fp, flo, fhi)
            rows.append({**row, "n_videos": n, "floor_n": fk1 + fk2})
    return rows


# ----------------------------------------------------------------------------------------------- priority
@dataclass(frozen=True)
class Win:
    """Attribute ``a`` kept and ``b`` changed in ``k`` of the ``n`` videos that changed exactly one."""

    a: str
    b: str
    k: int
    n: int

    @property
    def rate(self) -> tuple[float, float, float]:
        return wilson_ci(self.k, self.n)


def priority_matrix(wins: list[Win], attributes: tuple[str, ...] = ATTRS) -> pd.DataFrame:
    """The priority matrix: row A, column B = A's win rate over B "p [lo, hi] (k/n)"; the two directions of a
    pair are complementary (wins of b over a count as losses of a). Pairs measured twice (e.g. binary and
    continuous) are pooled."""
    k, n = pooled_counts(wins)
    cells = {}
    for a in attributes:
        cells[a] = {}
        for b in attributes:
            if a == b or (a, b) not in n:
                cells[a][b] = "–" if a != b else ""
                continue
            if not n[(a, b)]:
                cells[a][b] = "no decision (0/0)"
                continue
            p, lo, hi = wilson_ci(k[(a, b)], n[(a, b)])
            cells[a][b] = f"{p:.2f} [{lo:.2f}, {hi:.2f}] ({k[(a, b)]}/{n[(a, b)]})"
    return pd.DataFrame(cells).T.reindex(index=list(attributes), columns=list(attributes))


def pooled_counts(wins: list[Win]) -> tuple[dict, dict]:
    """(k, n) per ordered pair (a, b): a's pooled wins over b and the decisive videos; each win counts for
    both directions (b's wins over a are a's losses). One-line error for a win over itself or k outside
    [0, n]."""
    k: dict[tuple[str, str], int] = {}
    n: dict[tuple[str, str], int] = {}
    for w in wins:
        if w.a == w.b:
            raise PhylawError(f"a win of {w.a!r} over itself")
        if not 0 <= w.k <= w.n:
            raise PhylawError(f"win {w.a} over {w.b}: k = {w.k} is not in [0, n = {w.n}]")
        for (x, y), kx in (((w.a, w.b), w.k), ((w.b, w.a), w.n - w.k)):
            k[(x, y)] = k.get((x, y), 0) + kx
            n[(x, y)] = n.get((x, y), 0) + w.n
    return k, n


@dataclass(frozen=True)
class PriorityOrder:
    """The order a matrix implies. When the decided pairs form no cycle: ``order`` (highest priority first) and
    ``tiers``, its Kahn layers (no attribute of a layer beats another of it); ``total`` when every pair is
    decided and every layer holds one attribute. Otherwise ``cycle`` (a, b, ..., a: a beats b beats ... beats
    a) and an empty order. ``undecided``: the pairs with no videos, a rate of exactly 1/2, or (strict) a
    Wilson interval that contains 1/2."""

    order: tuple[str, ...]
    total: bool
    cycle: tuple[str, ...]
    undecided: tuple[tuple[str, str], ...]
    tiers: tuple[tuple[str, ...], ...] = ()  # Kahn's layers of ``order``; "~" joins a layer in ``text``

    def text(self) -> str:
        if self.cycle:
            return "cycle: " + " > ".join(self.cycle)
        if self.total:
            return " > ".join(self.order)
        pairs = ", ".join(f"{a}–{b}" for a, b in self.undecided)
        layers = " > ".join(" ~ ".join(t) for t in self.tiers)
        return layers + (f" (undecided: {pairs})" if pairs else "")


def priority_order(
    wins: list[Win], attributes: tuple[str, ...] | None = None, strict: bool = False
) -> PriorityOrder:
    """The order implied by the wins (class docstring)."""
    k, n = pooled_counts(wins)
    attrs = tuple(attributes or sorted({a for a, _ in n}))
    beats: dict[str, set[str]] = {a: set() for a in attrs}
    undecided = []
    for a, b in combinations(attrs, 2):
        if n.get((a, b), 0) == 0:
            undecided.append((a, b))
            continue
        p, lo, hi = wilson_ci(k[(a, b)], n[(a, b)])
        if (lo > 0.5) if strict else (p > 0.5):
            beats[a].add(b)
        elif (hi < 0.5) if strict else (p < 0.5):
            beats[b].add(a)
        else:
            undecided.append((a, b))
    cycle = _find_cycle(beats)
    if cycle:
        return PriorityOrder((), False, cycle, tuple(undecided))
    tiers, left = [], set(attrs)
    while left:  # Kahn's layers: the attributes nothing left beats (mutually undecided within a layer)
        sources = tuple(a for a in attrs if a in left and not any(a in beats[b] for b in left))
        tiers.append(sources)
        left -= set(sources)
    order = tuple(a for t in tiers for a in t)
    total = all(len(t) == 1 for t in tiers) and not undecided
    return PriorityOrder(order, total, (), tuple(undecided), tuple(tiers))


def _find_cycle(beats: dict[str, set[str]]) -> tuple[str, ...]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(a: str) -> tuple[str, ...]:
        state[a] = 1
        stack.append(a)
        for b in sorted(beats[a]):
            if state.get(b) == 1:
                return (*stack[stack.index(b) :], b)
            if b not in state:
                found = visit(b)
                if found:
                    return found
        stack.pop()
        state[a] = 2
        return ()

    for a in sorted(beats):
        if a not in state:
            found = visit(a)
            if found:
                return found
    return ()


def wins_of(rows: pd.DataFrame) -> list[Win]:
    """The pooled-test win rows of result rows (``pair_rows``) as ``Win``s."""
    out = []
    sel = rows[(rows["level"] == "pooled") & rows["metric"].astype(str).str.startswith("win_")]
    for _, r in sel.iterrows():
        a, b = str(r["metric"])[4:].split("_over_")
        n = int(r["n"]) if np.isfinite(r["n"]) else 0
        out.append(Win(a, b, round(float(r["value"]) * n) if n else 0, n))
    return out


# ----------------------------------------------------------------------------------------------- loading
def observe_attributes(data, samples, *, block: int = 64) -> pd.DataFrame:
    """Per generated video of sample file ``samples``: its dataset row, labels, parameters (r, v, color,
    shape) and the read-out of the generated (``gen_*``) and ground-truth (``floor_*``) frames."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples
    from phylaw.evaluate.parse import parse

    with open_dataset(data) as ds, open_samples(samples) as sf:
        if ds.scenario != "attribute_motion":
            raise PhylawError(
                f"the attribute read-out needs attribute_motion videos, {data} holds {ds.scenario}"
            )
        rows = finished_rows(ds, sf, samples)
        c, dt = int(sf.attrs.get("cond_frames", 3)), float(ds.config.dt)
        tables = []
        for idx, gen, gt in frame_blocks(ds, sf, rows, block, "attributes"):
            g, f = read_attributes(parse(gen), c, dt), read_attributes(parse(gt), c, dt)
            tables.append(pd.concat([pd.DataFrame({"index": idx}), g.table("gen"), f.table("floor")], axis=1))
        out = pd.concat(tables, ignore_index=True)
        index = out["index"].to_numpy()
        labels = ds.labels
        params = np.asarray(ds.params)[index]
    out.insert(1, "split", np.asarray(labels.split)[index].astype(str))
    out.insert(2, "level", np.asarray(labels.level)[index].astype(str))
    for j, name in enumerate(("r", "v", "color", "shape")):
        out.insert(3 + j, name, params[:, j])
    return out
