"""``evaluate``: score videos against a dataset's ground truth and write the CSVs, summary and plots.

Work is done in blocks of videos; each finished block is saved under ``OUT/.parts`` (``.partial`` then
renamed) together with a key of everything that determines the result, so an interrupted run resumes where it
stopped. Final files (metrics.csv, summary.csv, summary.md, plots) are written ``.partial`` then renamed: a
crash never leaves a complete-looking CSV.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from phylaw.config import DataConfig
from phylaw.errors import PhylawError
from phylaw.evaluate import flagged, report
from phylaw.evaluate import plots as plotting
from phylaw.evaluate.metrics import build_context
from phylaw.evaluate.parse import DEFAULT_PALETTE, Palette, parse
from phylaw.evaluate.registry import (
    DEFAULT_METRIC_SET,
    GT_RENDERS,
    Metric,
    MetricSet,
    default_metric_set,
    get_metric_set,
    select_metrics,
)
from phylaw.evaluate.sources import PHYWORLD_CHUNK, DatasetSource, VideoRef, check_refs, open_source
from phylaw.io import write_csv, write_text
from phylaw.sim.registry import get_scenario

log = logging.getLogger(__name__)
DEFAULT_COND_FRAMES = DataConfig.cond_frames  # c of the kinematic scenes (SPEC I.2), one definition
FINAL_FILES = (
    "metrics.csv",
    "set_stats.csv",
    "summary.csv",
    "summary.md",
    "error_by_level.png",
    "error_plane.png",
    "frame_metrics.csv",
    "frame_curves.png",
)
FLAGGED_METRIC = "abnormal"  # videos it flags get a GIF and their reasons in summary.md (evaluate.flagged)
STAT_PREFIXES = ("gen", "ref", "floor_gen", "floor_ref")  # set_stats.csv: PREFIX_0 .. PREFIX_{d-1} per video


@dataclass(frozen=True)
class EvalOptions:
    metrics: tuple[str, ...] | None = None  # None: every metric that applies to the scenario
    palette: Palette = DEFAULT_PALETTE
    cond_frames: int | None = None  # c (velocity intervals start at frame c); None: the sample file's, else 3
    min_area: int = 1  # pixels; a smaller mask is a parse failure (1: every matching pixel counts, SPEC I.4)
    layout: str = "auto"  # folder videos: "auto" | "single" | "panels3"
    chunk: int = PHYWORLD_CHUNK  # phyworld {meta}-{local} names: index = meta * chunk + local
    limit: int | None = None  # score only the first N videos (by dataset index)
    released_radius_filter: bool = False  # the released evaluator's small-radius exclusion
    largest_blob: bool = (
        False  # parse only each colour's largest connected component (not the paper's parser)
    )
    floor: bool = True  # also score the ground-truth frames at each video's resolution
    block: int = 64  # videos per block (memory and resume granularity)
    metric_set: str | None = None  # "phylaw" (SPEC I.4) | "release" | "phyre"; None: the scenario's default
    gt_render: str | None = None  # ground-truth frames: "dataset" | "release"; None: the metric set's default
    weights: tuple[tuple[str, str], ...] = ()  # (weights name, local path) overrides (evaluate.weights)
    # phyre: the judge's settings, a judge_config.json (a judge-suite's tuned thresholds); "": the defaults
    judge_config: str = ""


@dataclass(frozen=True)
class EvalResult:
    metrics_csv: Path
    summary_csv: Path
    summary_md: Path
    plots: tuple[Path, ...]
    summary: pd.DataFrame
    set_stats_csv: Path | None = None  # per-video statistics of the set metrics (None: no set metric chosen)
    frame_metrics_csv: Path | None = None  # per-frame curves of the per-frame metrics (None: none chosen)
    not_computed: dict[str, str] = field(default_factory=dict)  # metric -> why (its weights are missing)


def _check_release_size(resolution: int) -> None:
    from phylaw.render.raster import RELEASE_RESOLUTION

    if RELEASE_RESOLUTION % resolution:
        raise PhylawError(
            f"release ground-truth frames are area-averaged from {RELEASE_RESOLUTION}²: resolution {resolution} "
            f"does not divide {RELEASE_RESOLUTION} (use --gt-render dataset)"
        )


def release_gt_frames(dataset, indices: list[int], resolution: int) -> np.ndarray:
    """Ground-truth frames (n, T, res, res, 3) as the paper's pipeline saw them: the release's own stored
    frames (an imported phyworld dataset, pixel convention "linspace"), area-averaged to ``resolution``, or
    else the release's raster at 256² area-averaged to it (``render.raster.render_release``)."""
    from phylaw.render.raster import area_downsample, render_release

    _check_release_size(resolution)
    cfg = getattr(dataset, "config", None)
    stored = getattr(dataset, "frames_stored", False) and getattr(cfg, "pixel_convention", "") == "linspace"
    if stored and dataset.resolution % resolution == 0:
        return np.stack([area_downsample(dataset.frames(i), resolution) for i in indices])
    return render_release(dataset.trajectories(np.asarray(indices)), resolution)


class ReleaseGTSource(DatasetSource):
    """The dataset's ground truth drawn as the release drew it (``release_gt_frames``): a floor-only run of
    a metric set whose ground truth is release-rendered."""

    kind = "dataset-release"

    def read(self, ref: VideoRef) -> np.ndarray:
        res = self.resolution or self.dataset.resolution
        return release_gt_frames(self.dataset, [ref.index], res)[0]


def _released_filter(scenario: str, radius: np.ndarray) -> np.ndarray:
    """(n,) True where the released evaluator keeps the video (it drops r < 0.6, or r_i <= 0.5 in collision)."""
    if scenario == "collision":
        return ~(radius <= 0.5).any(axis=1)
    return ~(radius < 0.6).any(axis=1)


def _score(
    frames: np.ndarray,
    gt_frames: np.ndarray | None,
    truth,
    metrics: list[Metric],
    opt: EvalOptions,
    convention: str,
) -> tuple[dict, np.ndarray]:
    """Per-video results of a stack of same-shape videos (n, T, H, W, 3): name -> (n,) values of a video
    metric, (n, T) per-frame values of a per-frame one or (n, 2, d) statistics of a set metric (plus
    ``NAME:detail`` -> per-video texts where a metric has them), and the found-anything flag (n,). Each metric
    gets only the inputs it declares (``MetricInputs.only``); a metric set with its own inputs builder
    (``MetricSet.inputs``) replaces the kinematic per-colour parse."""
    mset = get_metric_set(opt.metric_set)
    if mset.inputs is not None:
        ctx = mset.inputs(frames, gt_frames, truth, opt.cond_frames, dict(opt.weights), opt.judge_config)
        found = None
    else:
        parsed = parse(
            frames,
            opt.palette,
            opt.min_area,
            convention=convention,
            largest_blob=opt.largest_blob,
            scenario=truth.scenario,
        )
        ctx = build_context(parsed, truth, opt.cond_frames, frames=frames, gt_frames=gt_frames)
        found = parsed.visible.any(axis=(1, 2))
    out: dict = {}
    for m in metrics:
        v = np.asarray(m.fn(ctx.only(m.needs)), dtype=np.float64)
        ndim = 3 if m.kind == "set" else (2 if m.per_frame else 1)
        if v.ndim != ndim or len(v) != len(frames) or (ndim == 3 and v.shape[1] != 2):
            raise PhylawError(f"metric {m.name} ({m.kind}) returned shape {v.shape} for {len(frames)} videos")
        out[m.name] = v
        if m.detail is not None:
            out[f"{m.name}:detail"] = list(m.detail(ctx))
    if found is None:  # the set's own parse, where a metric used it: anything tracked in any frame
        found = getattr(ctx, "found_any", lambda: None)()
        found = np.ones(len(frames), dtype=bool) if found is None else found
    return out, found


class _Evaluator:
    def __init__(self, dataset, source, metrics: list[Metric], opt: EvalOptions) -> None:
        self.ds, self.source, self.metrics, self.opt = dataset, source, metrics, opt
        labels = dataset.labels
        self.split, self.level, self.label_index = labels.split, labels.level, labels.index
        self.params = np.asarray(dataset.params)
        self.mset = get_metric_set(opt.metric_set)
        self.bucketed = self.mset.buckets is not None
        if self.bucketed:  # the set's own groups (the release's buckets); the labels are kept beside them
            self.label_split, self.label_level = self.split, self.level
            self.split, self.level = self.mset.buckets(
                dataset.scenario, self.params, tuple(dataset.param_names)
            )
        self.same_as_floor = isinstance(source, DatasetSource)
        self.release_gt = opt.gt_render == "release"
        # the dataset's pixel convention ("linspace" for imported phyworld data) applies to its own frames and
        # to videos of a model trained on them
        self.convention = getattr(getattr(dataset, "config", None), "pixel_convention", "centre")

    def read_pair(self, index: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(video, its ground truth at the video's size), (T, H, W, 3) each, for pictures of one video."""
        ref = next(r for r in self.source.refs if r.index == index and r.name == name)
        video = self.source.read(ref)
        res = video.shape[1]
        if self.release_gt:
            gt = release_gt_frames(self.ds, [index], res)[0]
        else:
            gt = self.ds.frames(index, resolution=res)
        return video, gt

    def block_rows(self, refs: list[VideoRef]) -> list[dict]:
        videos: dict[int, np.ndarray] = {}
        errors: dict[int, str] = {}
        for r in refs:
            try:
                frames = self.source.read(r)
                if frames.shape[1] != frames.shape[2]:
                    raise PhylawError(
                        f"{r.name}: frame size {frames.shape[1]}x{frames.shape[2]} is not square"
                    )
                videos[r.index] = frames
            except PhylawError as exc:
                log.warning("skipping %s", exc)
                errors[r.index] = str(exc)
        groups: dict[tuple, list[int]] = {}
        for i, v in videos.items():
            groups.setdefault(v.shape, []).append(i)
        results: dict[int, dict] = {}
        for shape, idx in groups.items():
            results.update(self._group(shape, idx, videos))
        return [row for r in refs for row in self._rows(r, results.get(r.index), errors.get(r.index))]

    def _group(self, shape: tuple, idx: list[int], videos: dict[int, np.ndarray]) -> dict[int, dict]:
        t_vid, res = shape[0], shape[1]
        truth = self.ds.trajectories(np.array(idx))
        stored = getattr(self.ds, "frames_stored", True) and res == self.ds.resolution
        gt_convention = self.convention if stored else "centre"  # phylaw's renderer draws pixel centres
        if self.release_gt:
            gt_convention = "linspace"  # the release's raster (or its own stored frames)
        convention = gt_convention if self.same_as_floor else self.convention
        gen = np.stack([videos[i] for i in idx])  # (n, T, H, W, 3)
        need_gt = any("gt_frames" in m.needs for m in self.metrics)
        gt = None
        if self.same_as_floor:
            gt = gen
        elif (self.opt.floor or need_gt) and self.release_gt:
            gt = release_gt_frames(self.ds, idx, res)[:, :t_vid]
        elif self.opt.floor or need_gt:
            gt = np.stack([self.ds.frames(i, resolution=res)[:t_vid] for i in idx])  # (n, T, H, W, 3)
        gt_in = gt if need_gt else None
        values, found = _score(gen, gt_in, truth, self.metrics, self.opt, convention)
        if self.opt.floor and not self.same_as_floor:
            floor, floor_found = _score(gt, gt_in, truth, self.metrics, self.opt, gt_convention)
        else:
            floor, floor_found = values, found
        keep = _released_filter(truth.scenario, truth.radius) if self.opt.released_radius_filter else None
        out = {}
        for j, i in enumerate(idx):
            out[i] = {
                "values": {m: v[j] for m, v in values.items()},  # a float, or (2, d) set statistics
                "floor": {m: v[j] for m, v in floor.items()} if self.opt.floor else {},
                "found": bool(found[j]), "floor_found": bool(floor_found[j]), "resolution": res, "n_frames_video": t_vid,
                "n_frames_scored": min(t_vid, truth.n_frames), "included": True if keep is None else bool(keep[j]),
            }  # fmt: skip
        return out

    def _rows(self, ref: VideoRef, res: dict | None, error: str | None) -> list[dict]:
        i = ref.index
        base = {
            "index": i, "source": ref.name, "split": self.split[i], "level": self.level[i],
            "label_index": int(self.label_index[i]),
            **{n: float(p) for n, p in zip(self.ds.param_names, self.params[i], strict=True)},
            "resolution": res["resolution"] if res else -1, "n_frames_gt": int(self.ds.n_frames),
            "n_frames_video": res["n_frames_video"] if res else 0, "n_frames_scored": res["n_frames_scored"] if res else 0,
            "status": "ok" if res else f"error: {error}", "found_any": res["found"] if res else False,
            "floor_found_any": res["floor_found"] if res else False,
            "included": res["included"] if res else True,
        }  # fmt: skip
        if self.bucketed:  # the dataset's own labels, beside the metric set's buckets in split / level
            base.update(label_split=self.label_split[i], label_level=self.label_level[i])
        rows = []
        for m in self.metrics:
            row = {**base, "metric": m.name, "unit": m.unit, "higher_is_better": m.higher_is_better}
            if m.kind == "video" and m.per_frame:  # the mean over frames, the curve kept beside it
                row.update(_per_frame_cells(res["values"].get(m.name) if res else None, "value"))
                row.update(_per_frame_cells(res["floor"].get(m.name) if res else None, "floor"))
            elif m.kind == "video":
                row["value"] = float(res["values"][m.name]) if res else float("nan")
                row["floor"] = float(res["floor"].get(m.name, float("nan"))) if res else float("nan")
            else:  # set metric: its per-video statistics (set_stats.csv)
                row["value"] = row["floor"] = float("nan")
                if res:
                    st = res["values"][m.name]  # (2, d)
                    fl = res["floor"].get(m.name, np.full_like(st, np.nan))
                    row["stat_dim"] = st.shape[1]
                    for prefix, a in zip(STAT_PREFIXES, (st[0], st[1], fl[0], fl[1]), strict=True):
                        row.update({f"{prefix}_{k}": float(x) for k, x in enumerate(a)})
            if m.detail is not None:
                row["detail"] = str(res["values"].get(f"{m.name}:detail", "")) if res else ""
            rows.append(row)
        return rows


def _per_frame_cells(curve: np.ndarray | None, column: str) -> dict:
    """``column`` = the mean of a per-frame curve over its frames, ``column_frames`` = the curve itself
    (space-separated, NaN where undefined); NaN / "" without one."""
    if curve is None or not np.isfinite(curve).any():
        return {column: float("nan"), f"{column}_frames": ""}
    c = np.asarray(curve, dtype=np.float64)
    return {column: float(np.nanmean(c)), f"{column}_frames": " ".join(f"{x:.8g}" for x in c)}


def _run_key(dataset, source, metrics: list[Metric], opt: EvalOptions) -> str:
    spec = {
        "dataset": dataset.fingerprint, "source": source.describe(), "metrics": [m.name for m in metrics],
        "palette": [[r.name, r.color_id, r.lo, r.hi] for r in opt.palette.rules], "cond_frames": opt.cond_frames,
        "min_area": opt.min_area, "filter": opt.released_radius_filter, "floor": opt.floor, "block": opt.block,
        "largest_blob": opt.largest_blob, "metric_set": opt.metric_set, "gt_render": opt.gt_render,
        **({"weights": [list(w) for w in opt.weights]} if opt.weights else {}),
        **({"judge": _judge_key(opt.judge_config)} if opt.judge_config else {}),
    }  # fmt: skip
    return hashlib.blake2b(json.dumps(spec, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


def _judge_key(path: str) -> dict:
    """What a judge config file means (its settings, not its path) for the resume key."""
    from phylaw.evaluate.judge import load_judge_config

    return load_judge_config(path).to_dict()


def _parts_dir(out: Path, key: str) -> Path:
    parts = out / ".parts"
    key_file = parts / "key.txt"
    if parts.exists() and (not key_file.exists() or key_file.read_text() != key):
        log.info("discarding partial results of a different evaluation in %s", parts)
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    write_text(key_file, key)
    return parts


def _open_inputs(data, videos, opt: EvalOptions):
    if isinstance(data, str | Path):
        from phylaw.datasets.reader import open_dataset

        data = open_dataset(data)
    if videos is None:
        source = DatasetSource(data, np.arange(len(data)))
    else:
        source = open_source(videos, opt.layout, opt.chunk)
        getattr(source, "bind", lambda _d: None)(data)  # file names by scene parameters -> dataset indices
        fp = getattr(source, "attrs", {}).get("dataset_fingerprint")
        if fp is not None and fp != data.fingerprint:
            raise PhylawError(
                f"{videos}: sample file was generated from another dataset (fingerprint mismatch)"
            )
        if getattr(source, "complete", True) is False:
            log.warning("%s is incomplete: scoring its %d finished rows", videos, len(source.refs))
    return data, source


def evaluate(
    data: str | Path | object,
    videos: str | Path | None = None,
    out: str | Path = "eval",
    metrics: list[str] | tuple[str, ...] | None = None,
    options: EvalOptions | None = None,
    progress: bool = False,
) -> EvalResult:
    """Score ``videos`` (sample file or folder; None: the dataset's own frames) against dataset ``data``
    (a path for ``open_dataset``, or an opened dataset object)."""
    opt = options or EvalOptions()
    if metrics is not None:
        opt = replace(opt, metrics=tuple(metrics))
    if opt.metric_set is not None:
        get_metric_set(opt.metric_set)  # one-line errors before any file is opened
    if opt.gt_render is not None and opt.gt_render not in GT_RENDERS:
        raise PhylawError(
            f"unknown ground-truth render {opt.gt_render!r}; choose one of {', '.join(GT_RENDERS)}"
        )
    if opt.judge_config:
        _judge_key(opt.judge_config)  # a missing or bad judge config: one line before any file is opened
    dataset, source = _open_inputs(data, videos, opt)
    try:
        mset = get_metric_set(opt.metric_set or default_metric_set(dataset.scenario))
        opt = replace(opt, metric_set=mset.name, gt_render=opt.gt_render or mset.gt_render)
        if opt.judge_config and mset.inputs is None:
            raise PhylawError(f"--judge-config is for the phyre metric set (the judge); {mset.name} has no judge")
        if videos is None and opt.gt_render == "release":  # the floor drawn as the release drew it
            source = ReleaseGTSource(dataset, np.arange(len(dataset)))
        return _evaluate(dataset, source, videos, Path(out), opt, progress)
    finally:
        if dataset is not data:  # opened here
            dataset.close()


def _evaluate(dataset, source, videos, out: Path, opt: EvalOptions, progress: bool) -> EvalResult:
    if opt.cond_frames is None:  # the sample file's c, else the scenario's (kinematic 3, phyre 1)
        c = getattr(source, "attrs", {}).get("cond_frames", get_scenario(dataset.scenario).cond_frames)
        opt = replace(opt, cond_frames=int(c))
    if opt.cond_frames > dataset.n_frames - 2:  # velocities need frames t, t+1 with t >= c
        raise PhylawError(
            f"conditioning frames c = {opt.cond_frames} leave no frame interval to score "
            f"(the dataset's videos have {dataset.n_frames} frames)"
        )
    chosen = select_metrics(list(opt.metrics) if opt.metrics else None, dataset.scenario, opt.metric_set)
    chosen, not_computed = _with_weights(chosen, opt)
    if isinstance(source, ReleaseGTSource):
        _check_release_size(dataset.resolution)
    refs = sorted(source.refs, key=lambda r: r.index)[: opt.limit]
    check_refs(refs, len(dataset), str(videos or "dataset"))
    out.mkdir(parents=True, exist_ok=True)
    parts = _parts_dir(out, _run_key(dataset, source, chosen, opt))
    for name in FINAL_FILES:  # outputs of an earlier run must not survive a crash of this one looking current
        (out / name).unlink(missing_ok=True)
    ev = _Evaluator(dataset, source, chosen, opt)
    frames = []
    bar = tqdm(total=len(refs), desc="evaluate", unit="video", disable=not progress)
    try:
        for b, start in enumerate(range(0, len(refs), opt.block)):
            part = parts / f"block_{b:06d}_{start}.csv"
            if not part.exists():
                write_csv(part, pd.DataFrame(ev.block_rows(refs[start : start + opt.block])))
            frames.append(pd.read_csv(part, dtype={"split": str, "level": str, "source": str, "status": str}))
            bar.update(len(refs[start : start + opt.block]))
        rows = pd.concat(frames, ignore_index=True)
        section: list[str] = []
        if any(m.name == FLAGGED_METRIC for m in chosen):  # GIFs of flagged videos and the judge's reasons
            section = flagged.write_flagged(rows, FLAGGED_METRIC, ev.read_pair, out, opt.cond_frames)
    finally:
        bar.close()
        getattr(source, "close", lambda: None)()
    return _finish(rows, out, parts, dataset.scenario, opt, chosen, not_computed, section)


def _with_weights(chosen: list[Metric], opt: EvalOptions) -> tuple[list[Metric], dict[str, str]]:
    """The metrics whose pretrained weights are on this machine, and name -> why not for the others (one
    line each: which file, where to put it, which option names it). A weight file that exists but is not the
    network raises PhylawError here, before any video is scored."""
    from phylaw.evaluate import weights

    overrides = dict(opt.weights)
    keep, missing = [], {}
    for m in chosen:
        try:
            for r in m.requires:
                weights.load(r, overrides)  # checks the file now (cached for the metric)
        except weights.WeightsMissing as exc:
            missing[m.name] = str(exc)
            log.warning("%s: not computed: %s", m.name, exc)
            continue
        keep.append(m)
    if not keep:
        raise PhylawError("no metric can be computed: " + "; ".join(f"{k}: {v}" for k, v in missing.items()))
    return keep, missing


def _notes(rows: pd.DataFrame, opt: EvalOptions) -> list[str]:
    videos = rows.drop_duplicates("index")
    notes = [
        f"{len(videos)} videos, conditioning frames c = {opt.cond_frames}; 95 % CI of per-video metrics: "
        "Student-t interval"
    ]
    short = videos[(videos["status"] == "ok") & (videos["n_frames_video"] < videos["n_frames_gt"])]
    if len(short):
        notes.append(
            f"{len(short)} videos are shorter than the ground truth ({sorted(set(short['n_frames_video']))} < "
            f"{int(videos['n_frames_gt'].max())} frames): their common frames were scored"
        )
    failed = videos[videos["status"] != "ok"]
    if len(failed):
        notes.append(f"{len(failed)} videos could not be scored (see the status column of metrics.csv)")
    if opt.largest_blob:
        notes.append("parser: largest connected component of each colour only (--largest-blob)")
    if opt.released_radius_filter:
        notes.append(f"released small-radius filter on: {int((~videos['included']).sum())} videos excluded")
    notes += _set_notes(get_metric_set(opt.metric_set), opt)
    return notes


def _set_notes(mset: MetricSet, opt: EvalOptions) -> list[str]:
    """What the summary reader must know about a metric set other than phylaw's own."""
    if mset.name == DEFAULT_METRIC_SET:
        return [] if opt.gt_render == "dataset" else [f"ground-truth frames: {opt.gt_render} render"]
    out = [f"metric set {mset.name!r}: {mset.description}"]
    if mset.buckets is not None:
        out.append(
            "split/level are the set's buckets from each video's parameters (release: id/in, ood/r_out, v_out, "
            "rv_out, zero; ood/pooled = the release's 'out'); the dataset's labels are in label_split/label_level"
        )
    if opt.gt_render == "release":
        out.append(
            "ground truth drawn as the release drew it (pixel j at j/(W-1) of the world at 256², area-averaged to "
            "the video size): its floor carries the release's pixel-scale bias v/256; videos of a model trained "
            "on phylaw's frames do not (--gt-render dataset gives the floor on the dataset's own frames)"
        )
    if mset.name == "release":
        out.append(
            "undetected objects are scored at the release's stand-in x (10, or 0 for collision ball 1): "
            "release_stand_in_rate counts them"
        )
    return out


def _check_found(ok: pd.DataFrame, opt: EvalOptions) -> None:
    """A palette that finds nothing in any scored video is an error (nothing would be measured)."""
    if not len(ok) or ok["found_any"].astype(bool).any():
        return
    where = f"any frame of {ok['index'].nunique()} videos"
    if opt.floor:
        gt = ok["floor_found_any"].astype(bool).any()
        where += (
            " although it finds them in the ground-truth frames" if gt else " nor in the ground-truth frames"
        )
    raise PhylawError(
        f"the palette ({', '.join(opt.palette.names)}) found no object in {where}: "
        "wrong colours, channel order (BGR?) or panel layout?"
    )


def _finish(
    rows: pd.DataFrame,
    out: Path,
    parts: Path,
    scenario: str,
    opt: EvalOptions,
    chosen: list[Metric],
    not_computed: dict[str, str] | None = None,
    section: list[str] | None = None,
) -> EvalResult:
    _check_found(rows[rows["status"] == "ok"], opt)
    notes = _notes(rows, opt) + [f"{k}: not computed ({v})" for k, v in (not_computed or {}).items()]
    for n in notes[1:]:
        log.info(n)
    sets = {m.name: m.compute for m in chosen if m.kind == "set"}
    reps = {m.name: m.resamples for m in chosen if m.kind == "set" and m.resamples}
    is_set = rows["metric"].isin(list(sets))
    stat_cols = ["stat_dim"] + [c for p in STAT_PREFIXES for c in report.stat_columns(rows, p)]
    video = rows[~is_set].drop(columns=[c for c in stat_cols if c in rows.columns])
    video, frame_rows = _split_frames(video)
    set_rows = rows[is_set].drop(columns=["value", "floor"]) if sets else None
    if sets:
        notes.append(
            f"set metrics ({', '.join(sets)}): one value per split/level, 95 % percentile bootstrap CI over videos "
            f"({', '.join(f'{k} {reps.get(k, report.BOOTSTRAP_RESAMPLES)}' for k in sets)} resamples, "
            f"seed {report.BOOTSTRAP_SEED})"
        )
    summary = report.summarize(video, floor=opt.floor, set_rows=set_rows, computes=sets, resamples=reps)
    mset = get_metric_set(opt.metric_set)
    notes += mset.notes(video) if mset.notes is not None else []
    metrics_csv = write_csv(out / "metrics.csv", video)
    set_csv = write_csv(out / "set_stats.csv", set_rows) if sets else None
    frame_csv = write_csv(out / "frame_metrics.csv", frame_rows) if frame_rows is not None else None
    summary_csv = write_csv(out / "summary.csv", summary)
    md = report.to_markdown(summary, notes) + ("\n" + "\n".join(section) + "\n" if section else "")
    summary_md = write_text(out / "summary.md", md)
    plots: tuple[Path, ...] = ()
    if len(video):
        want = mset.headline(scenario)
        headline = want if want in set(video["metric"]) else str(video["metric"].iloc[0])
        plots = plotting.write_plots(video, summary, out, headline, scenario)
        if frame_rows is not None:
            curve = plotting.plot_frame_curves(frame_rows, out / "frame_curves.png")
            plots += (curve,) if curve is not None else ()
    shutil.rmtree(parts)
    return EvalResult(
        metrics_csv, summary_csv, summary_md, plots, summary, set_csv, frame_csv, dict(not_computed or {})
    )


def _split_frames(video: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Per-video rows without their per-frame curves, and the curves as long rows (index, split, level,
    metric, frame, value, floor): frame_metrics.csv."""
    cols = [c for c in ("value_frames", "floor_frames") if c in video.columns]
    if not cols:
        return video, None
    has = video[video["value_frames"].fillna("").astype(str) != ""]
    long = []
    for r in has.to_dict("records"):
        vals = np.array(str(r["value_frames"]).split(), dtype=np.float64)
        fl_text = r.get("floor_frames", "")
        fl = None if pd.isna(fl_text) or fl_text == "" else np.array(str(fl_text).split(), dtype=np.float64)
        for t, v in enumerate(vals):
            long.append({
                "index": r["index"], "split": r["split"], "level": r["level"], "metric": r["metric"], "frame": t,
                "value": v, "floor": float(fl[t]) if fl is not None and t < len(fl) else float("nan"),
            })  # fmt: skip
    frame_rows = pd.DataFrame(long, columns=["index", "split", "level", "metric", "frame", "value", "floor"])
    return video.drop(columns=cols), frame_rows
