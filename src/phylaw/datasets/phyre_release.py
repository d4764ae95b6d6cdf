"""Interop with the release's combinatorial (PHYRE) HDF5 layout (SPEC_COMBINATORIAL B.1, SPEC B.5 "Storage").

The release stores one file per task, ``<task>.hdf5`` (the colon kept, e.g. ``10000:000.hdf5``), with three
datasets, and merges them into one file with three groups holding one dataset per task named like
``"10000:000"``, tasks in the order of the integer made of their digits:

- ``action_streams``  (trials, 3) float64: the red ball's action (x, y, r) in [0, 1]³;
- ``object_streams``  (trials, T, N_task, 14) float32: PHYRE's features (``sim.phyre.features``) of the task's
  N_task featurised bodies, scene bodies in creation order then the red ball;
- ``video_streams``   (trials,) variable-length uint8: one MP4 per trial (H.264, yuv420p, 10 fps).

Export (:func:`export_release`) writes a ``phyre`` dataset in that layout, merged or as a directory of per-task
files, trials of a task in trial order, MP4s made by ``phylaw.io.encode_mp4`` at the dataset's resolution or
another (rendered from the states). It adds what the release's tools ignore: root attributes ``phylaw_*`` and
a group ``phylaw/<task>`` (per-task file: ``phylaw/``) with each trial's trial number and labels, so phylaw
data read back keeps its trial numbers. Import (:func:`import_release`) builds a ``phylaw-dataset`` v2 file
(scenario ``phyre``, source ``phyre-release``): params (template, task, trial), states rebuilt from the
features (``states_from_features``), frames decoded from the MP4s (resized by area averaging when another
resolution is asked for), the actions as ``extras/action``. A release file has no trial numbers: trial j of a
task is its j-th stored trial; labels follow the release's pools (trials 0-989 train, 990-999 the in-template
evaluation pool, held-out templates out-of-template, 20000-20003 ambiguity).

Both directions write atomically (``NAME.partial`` renamed when complete) and resume an interrupted run; bad
input is one PhylawError line naming the problem, found before anything is written where the layout allows.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm.auto import tqdm

from phylaw.datasets.build import ordered_map, resolve_workers
from phylaw.datasets.phyworld import finished_export_entries
from phylaw.datasets.reader import _open_h5, open_dataset
from phylaw.datasets.store import DatasetConfig, DatasetWriter, RowBlock, compress_video
from phylaw.errors import PhylawError
from phylaw.io import decode_mp4, encode_mp4, fsync_dir, partial_path
from phylaw.sim.phyre import features as feat
from phylaw.sim.phyre.objects import AMBIGUITY_TEMPLATES
from phylaw.sim.phyre.splits import N_TRAIN_TRIALS, N_TRIALS, PARAM_NAMES
from phylaw.sim.phyre.templates import SUBSETS, TEMPLATES, n_fixed_actions, n_tasks

log = logging.getLogger(__name__)

GROUPS = ("action_streams", "object_streams", "video_streams")
LAYOUT = "phyre-release"
SOURCE = "phyre-release"
META = (
    "phylaw"  # the group of per-trial trial numbers and labels phylaw adds (ignored by the release's tools)
)
TASK_NAME = re.compile(r"^(\d{5}):(\d{3})$")
N_EVENTS = 32  # event slots of a phyre video (docs/phyre.md); imported videos have none, padded
RELEASE_CRF = 25  # imageio quality 5 = x264 crf 25, at 10 fps (SPEC_COMBINATORIAL B.1)
IMPORT_CHUNK = 64  # trials per block written by the importer (bounds memory at 512², 50 frames)
FRAME_DT = feat.FRAME_DT
TIME_OFFSET = 1 / 60  # frame k is the state after 20k + 1 steps of 1/60 s (SC A.4)


def task_name(template: int, task: int) -> str:
    """``(10000, 7)`` → ``"10000:007"``."""
    return f"{int(template):05d}:{int(task):03d}"


def parse_task_name(name: str, where: str = "") -> tuple[int, int]:
    """``"10000:007"`` → (10000, 7); PhylawError naming ``name`` if it is not ``TTTTT:kkk``."""
    m = TASK_NAME.match(name)
    if m is None:
        raise PhylawError(f"{where}task name {name!r} is not TTTTT:kkk (e.g. 10000:000)")
    return int(m.group(1)), int(m.group(2))


def _sort_key(name: str) -> int:
    return int(name.replace(":", ""))


def check_task(template: int, task: int, n_trials: int, where: str = "") -> None:
    """PhylawError unless (template, task) exists and has room for ``n_trials`` trials: templates 10000-10069
    with tasks 0-99 and up to 1000 trials, ambiguity templates 20000-20003 with their task and action counts."""
    name = task_name(template, task)
    if template not in TEMPLATES and template not in AMBIGUITY_TEMPLATES:
        raise PhylawError(
            f"{where}task {name}: template id {template} out of range (10000-10069, ambiguity 20000-20003)"
        )
    tasks, trials = n_tasks(template), n_fixed_actions(template) or N_TRIALS
    if task >= tasks:
        raise PhylawError(f"{where}task {name}: template {template} has tasks 0-{tasks - 1}")
    if n_trials > trials:
        raise PhylawError(f"{where}task {name}: {n_trials} trials, template {template} has at most {trials}")


def labels_of(template: int, trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(split, level) labels of trials of one template, as the phyre splits label them: held-out templates
    ("ood", "out-of-template"), ambiguity ("ood", "ambiguity-T"), trials 990-999 ("id", "in-template"),
    the rest ("train", "train")."""
    n = len(trials)
    if template in AMBIGUITY_TEMPLATES:
        return np.full(n, "ood"), np.full(n, f"ambiguity-{template}")
    if template in SUBSETS["held-out"]:
        return np.full(n, "ood"), np.full(n, "out-of-template")
    pool = np.asarray(trials) >= N_TRAIN_TRIALS
    return np.where(pool, "id", "train"), np.where(pool, "in-template", "train")


# ---------------------------------------------------------------------------------------------- export


@dataclass(frozen=True)
class _ExportTask:
    paths: tuple[str, ...]
    name: str
    rows: tuple[int, ...]  # dataset rows of the task's trials, in trial order
    resolution: int


@dataclass(frozen=True)
class _TaskData:
    actions: np.ndarray  # (n, 3) float64
    objects: np.ndarray  # (n, T, N_task, 14) float32
    videos: list[bytes]
    trial: np.ndarray  # (n,) int64
    split: np.ndarray
    level: np.ndarray
    index: np.ndarray


def _export_task(job: _ExportTask) -> _TaskData:
    """One task's streams (pure; runs in a worker)."""
    rows = np.asarray(job.rows, np.int64)
    with open_dataset(list(job.paths)) as ds:
        order = np.argsort(rows, kind="stable")  # h5py point reads go in increasing row order
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        states = ds.trajectories(rows)
        actions = ds.take("extras/action", rows[order])[inverse].astype(np.float64)
        params = ds.take("params", rows[order])[inverse]
        split = ds.take("labels/split", rows[order])[inverse].astype(str)
        level = ds.take("labels/level", rows[order])[inverse].astype(str)
        index = ds.take("labels/index", rows[order])[inverse]
        present = states.present.astype(bool)
        if not (present == present[:1]).all():
            raise PhylawError(f"task {job.name}: its trials have different objects (present slots differ)")
        objects = np.ascontiguousarray(feat.features(states)[:, :, present[0]])  # (n, T, N_task, 14)
        videos = [encode_mp4(ds.frames(int(i), job.resolution), fps=10, crf=RELEASE_CRF) for i in rows]
    return _TaskData(actions, objects, videos, params[:, 2].astype(np.int64), split, level, index)


def _task_rows(ds: Any) -> dict[str, np.ndarray]:
    """Task name → the dataset rows of its trials in trial order; tasks in the release's order."""
    params = ds.read("params")
    if params.shape[1] != 3 or ds.param_names != PARAM_NAMES:
        raise PhylawError(f"{ds.paths[0]}: parameters {ds.param_names}, a phyre dataset has {PARAM_NAMES}")
    ids = params.astype(np.int64)
    order = np.lexsort((ids[:, 2], ids[:, 1], ids[:, 0]))
    sorted_ids = ids[order]
    same = (sorted_ids[1:] == sorted_ids[:-1]).all(axis=1)
    if same.any():
        t, k, j = sorted_ids[1:][same][0]
        raise PhylawError(f"{ds.paths[0]}: task {task_name(t, k)} holds trial {j} more than once")
    bounds = np.flatnonzero((sorted_ids[1:, :2] != sorted_ids[:-1, :2]).any(axis=1)) + 1
    out: dict[str, np.ndarray] = {}
    for chunk in np.split(order, bounds) if len(order) else []:
        out[task_name(*ids[chunk[0], :2])] = chunk
    return out


def export_release(
    path: str | Path,
    out: str | Path,
    *,
    per_task: bool = False,
    resolution: int | None = None,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Write a phylaw ``phyre`` dataset in the release layout: one merged file ``out`` (groups
    action_streams / object_streams / video_streams), or with ``per_task`` a directory ``out`` of
    ``<task>.hdf5`` files. ``resolution``: MP4 frame size (default: the dataset's; another size is rendered
    from the states). ``workers`` processes, one task each. Resumable (``OUT.partial``)."""
    out = Path(out)
    if out.exists():
        raise PhylawError(f"{out} exists; remove it or choose another --out")
    with open_dataset(path) as ds:
        if ds.scenario != "phyre":
            raise PhylawError(f"{path}: a {ds.scenario} dataset; the phyre release layout holds phyre videos")
        if "action" not in ds.extra_names:
            raise PhylawError(
                f"{path}: has no extras/action (the red ball's actions), needed for action_streams"
            )
        res = ds.resolution if resolution is None else int(resolution)
        if res < 8 or res % 2:
            raise PhylawError(f"--resolution must be even and >= 8 (H.264), got {res}")
        tasks = _task_rows(ds)
        paths = tuple(str(p) for p in ds.paths)
        attrs = {
            "phylaw_scenario": "phyre", "phylaw_layout": LAYOUT,
            "phylaw_config_json": json.dumps({**ds.config.to_dict(), "resolution": res}, sort_keys=True),
            "phylaw_export_source": json.dumps({"fingerprint": ds.fingerprint, "rows": len(ds),
                                                "resolution": res}),
        }  # fmt: skip
        n = len(ds)
    tmp = partial_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _finished_tasks(tmp, attrs, per_task)
    jobs = [_ExportTask(paths, name, tuple(int(r) for r in rows), res) for name, rows in tasks.items()
            if name not in done]  # fmt: skip
    initial = n - sum(len(j.rows) for j in jobs)
    bar = tqdm(total=n, initial=initial, unit="video", desc="export", disable=not progress)
    try:
        if per_task:
            tmp.mkdir(exist_ok=True)
            for job, data in zip(
                jobs, ordered_map(_export_task, jobs, resolve_workers(workers)), strict=True
            ):
                final = tmp / f"{job.name}.hdf5"
                part = partial_path(final)
                with h5py.File(part, "w") as f:
                    f.attrs.update(attrs)
                    _write_task(f, data, "")
                part.replace(final)
                bar.update(len(job.rows))
        else:
            with h5py.File(tmp, "a" if done else "w") as f:
                f.attrs.update(attrs)
                for g in (*GROUPS, META):
                    f.require_group(g)
                for job, data in zip(
                    jobs, ordered_map(_export_task, jobs, resolve_workers(workers)), strict=True
                ):
                    _write_task(f, data, job.name)
                    f.flush()
                    bar.update(len(job.rows))
    finally:
        bar.close()
    if tmp.is_file():
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
    tmp.replace(out)
    fsync_dir(out.parent)
    return out


def _write_task(f: h5py.File, data: _TaskData, name: str) -> None:
    """The task's three streams, then its ``phylaw`` record (last: it marks the task finished)."""
    key = (lambda g: f"{g}/{name}") if name else (lambda g: g)
    f.create_dataset(key("action_streams"), data=data.actions, dtype="float64")
    f.create_dataset(key("object_streams"), data=data.objects, dtype="float32")
    videos = f.create_dataset(key("video_streams"), (len(data.videos),), h5py.vlen_dtype(np.uint8))
    for i, mp4 in enumerate(data.videos):
        videos[i] = np.frombuffer(mp4, dtype=np.uint8)
    g = f.create_group(key(META))
    g["trial"] = data.trial
    g["split"], g["level"] = data.split.astype("S"), data.level.astype("S")
    g["index"] = np.asarray(data.index, np.int64)


def _finished_tasks(tmp: Path, attrs: dict[str, Any], per_task: bool) -> set[str]:
    """Tasks an interrupted export of the same input finished in ``tmp`` (what it left half written is
    removed); a partial output from another input, or an unreadable one, is deleted (start over)."""
    if per_task:
        if tmp.is_file():
            tmp.unlink()
        if not tmp.is_dir():
            return set()
        done = set()
        for p in sorted(tmp.iterdir()):
            try:
                with h5py.File(p, "r") as f:
                    ok = (
                        p.suffix == ".hdf5"
                        and f.attrs.get("phylaw_export_source") == attrs["phylaw_export_source"]
                        and META in f
                    )
            except OSError:
                ok = False
            if ok:
                done.add(p.stem)
            else:
                p.unlink()
        return done
    if tmp.is_dir():
        shutil.rmtree(tmp)
    return finished_export_entries(tmp, attrs, GROUPS, META, "task")


# ---------------------------------------------------------------------------------------------- import


@dataclass(frozen=True)
class _Task:
    """One task of a release file: where its datasets are and what they hold."""

    file: str
    prefix: str  # "" for a per-task file (datasets at the root), else the task name (merged file)
    name: str
    template: int
    task: int
    n_trials: int

    def key(self, group: str) -> str:
        return f"{group}/{self.prefix}" if self.prefix else group


def is_release_file(path: str | Path) -> bool:
    """True for a directory, or an HDF5 file with the release's ``action_streams`` or ``object_streams``, or
    with ``video_streams`` but none of phyworld's own groups (``position_streams``, ``init_streams``, which
    share ``video_streams``). An unreadable file: False (the caller's own open names the problem)."""
    p = Path(path)
    if p.is_dir():
        return True
    try:
        with h5py.File(p, "r") as f:
            if "action_streams" in f or "object_streams" in f:
                return True
            return "video_streams" in f and "position_streams" not in f and "init_streams" not in f
    except OSError:
        return False


def _scan(path: Path, procedural: bool) -> tuple[list[_Task], dict[str, Any], int, int | None]:
    """Validate the layout; return the tasks (release order), phylaw's config if the file came from phylaw,
    the number of frames T and the first video's frame size (None without videos)."""
    need = GROUPS[:2] if procedural else GROUPS
    tasks: list[_Task] = []
    origin: dict[str, Any] = {}
    lengths: dict[int, str] = {}  # number of frames -> the first task with that many
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".hdf5", ".h5") and p.is_file())
        if not files:
            raise PhylawError(f"{path}: directory holds no <task>.hdf5 files")
        for p in files:
            template, task = parse_task_name(p.stem, f"{p.name}: ")
            with _open_h5(p) as f:
                missing = [g for g in need if g not in f or not isinstance(f[g], h5py.Dataset)]
                if missing:
                    raise PhylawError(
                        f"{p}: not a release task file: missing dataset(s) {', '.join(missing)}"
                    )
                if not origin and "phylaw_config_json" in f.attrs:
                    origin = json.loads(f.attrs["phylaw_config_json"])
                n, t = _trials(f, need, "", p.stem, p)
                tasks.append(_Task(str(p), "", p.stem, template, task, n))
                lengths.setdefault(t, p.stem)
    else:
        with _open_h5(path) as f:
            missing = [g for g in need if g not in f or not isinstance(f[g], h5py.Group)]
            if missing:
                raise PhylawError(f"{path}: not a release file: missing group(s) {', '.join(missing)}")
            names = [set(f[g].keys()) for g in need]
            for g, ns in zip(need, names, strict=True):
                odd = sorted(ns ^ names[0])
                if odd:
                    raise PhylawError(
                        f"{path}: task names differ between {need[0]} and {g} (e.g. {odd[0]!r} in only one)"
                    )
            if "phylaw_config_json" in f.attrs:
                origin = json.loads(f.attrs["phylaw_config_json"])
            for name in names[0]:
                template, task = parse_task_name(name, f"{path}: ")
                n, t = _trials(f, need, name, name, path)
                tasks.append(_Task(str(path), name, name, template, task, n))
                lengths.setdefault(t, name)
    if not tasks:
        raise PhylawError(f"{path}: release file holds no tasks")
    tasks.sort(key=lambda t: _sort_key(t.name))
    for t in tasks:
        check_task(t.template, t.task, t.n_trials, f"{path}: ")
    if len(lengths) > 1:
        shown = ", ".join(f"{n} frames in {name}" for n, name in sorted(lengths.items()))
        raise PhylawError(f"{path}: tasks have different video lengths ({shown})")
    first = tasks[0]
    res = None
    with _open_h5(Path(first.file)) as f:
        if first.key("video_streams") in f:
            video = f[first.key("video_streams")][0]
            res = int(decode_mp4(video, f"{path}: task {first.name} trial 0").shape[1])
    return tasks, origin, next(iter(lengths)), res


def _trials(f: h5py.File, need: tuple[str, ...], prefix: str, name: str, path: Path) -> tuple[int, int]:
    """The task's number of trials (checked the same in every group) and frames, with the streams' shapes."""
    key = (lambda g: f"{g}/{prefix}") if prefix else (lambda g: g)
    sizes = {}
    for g in need:
        obj = f[key(g)]
        if not isinstance(obj, h5py.Dataset):
            raise PhylawError(f"{path}: {key(g)} is not a dataset")
        sizes[g] = obj.shape[0] if obj.ndim else -1
    if len(set(sizes.values())) != 1:
        said = ", ".join(f"{g} {n}" for g, n in sizes.items())
        raise PhylawError(f"{path}: task {name}: trial counts disagree ({said})")
    act, obj = f[key("action_streams")], f[key("object_streams")]
    if act.ndim != 2 or act.shape[1] != 3:
        raise PhylawError(f"{path}: task {name}: action_streams has shape {act.shape}, not (trials, 3)")
    if obj.ndim != 4 or obj.shape[3] != feat.N_FEATURES or not 1 <= obj.shape[2] <= feat.N_SLOTS:
        raise PhylawError(
            f"{path}: task {name}: object_streams has shape {obj.shape}, not (trials, T, N <= 14, 14)"
        )
    if "video_streams" in need and f[key("video_streams")].ndim != 1:
        raise PhylawError(f"{path}: task {name}: video_streams must be one MP4 per trial")
    if sizes["action_streams"] == 0:
        raise PhylawError(f"{path}: task {name} holds no trials")
    return int(sizes["action_streams"]), int(obj.shape[1])


def resize_frames(frames: np.ndarray, resolution: int) -> np.ndarray:
    """(T, H, W, 3) uint8 → (T, resolution, resolution, 3) by area averaging (Pillow's BOX filter)."""
    from PIL import Image

    if frames.shape[1:3] == (resolution, resolution):
        return frames
    return np.stack(
        [
            np.asarray(Image.fromarray(fr).resize((resolution, resolution), Image.Resampling.BOX))
            for fr in frames
        ]
    )


@dataclass(frozen=True)
class _ImportJob:
    task: _Task
    lo: int  # trials [lo, hi) of the task
    hi: int
    row: int  # the first trial's row in the output file
    config: DatasetConfig


def _import_job(job: _ImportJob) -> RowBlock:
    """Trials [lo, hi) of one task → rows of the phylaw file (pure; runs in a worker)."""
    t, c = job.task, job.config
    where = f"{t.file}: task {t.name}"
    with _open_h5(Path(t.file)) as f:
        actions = np.asarray(f[t.key("action_streams")][job.lo : job.hi], np.float64)
        objects = np.asarray(f[t.key("object_streams")][job.lo : job.hi], np.float32)
        meta = f.get(t.key(META), None)
        if meta is not None:
            trial = np.asarray(meta["trial"][job.lo : job.hi], np.int64)
            split = meta["split"][job.lo : job.hi].astype(str)
            level = meta["level"][job.lo : job.hi].astype(str)
            index = np.asarray(meta["index"][job.lo : job.hi], np.int64)
        else:
            trial = np.arange(job.lo, job.hi, dtype=np.int64)
            split, level = labels_of(t.template, trial)
            index = np.arange(job.row, job.row + len(trial), dtype=np.int64)
        chunks = None
        if c.frames_stored:
            out = []
            for i, data in enumerate(f[t.key("video_streams")][job.lo : job.hi]):
                frames = decode_mp4(data, f"{where} trial {job.lo + i}")
                if frames.shape[0] != c.n_frames:
                    raise PhylawError(
                        f"{where} trial {job.lo + i}: video has {frames.shape[0]} frames, object_streams "
                        f"{c.n_frames}"
                    )
                out.append(compress_video(resize_frames(frames, c.resolution)))
            chunks = tuple(out)
    bad = ~((actions >= 0) & (actions <= 1)).all(axis=1)
    if bad.any():
        raise PhylawError(f"{where} trial {job.lo + int(np.flatnonzero(bad)[0])}: action outside [0, 1]^3")
    try:
        states = feat.states_from_features(objects)
    except PhylawError as exc:
        raise PhylawError(f"{where}: {exc}") from None
    params = np.stack([np.full(len(trial), t.template), np.full(len(trial), t.task), trial], axis=1)
    return RowBlock(
        job.row, job.row + len(trial), params.astype(np.float64), states, split, level, index, chunks,
        {"action": actions},
    )  # fmt: skip


def import_release(
    path: str | Path,
    out: str | Path,
    *,
    resolution: int | None = None,
    procedural: bool = False,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Build a ``phylaw-dataset`` v2 file from a release file (merged) or a directory of per-task files.

    ``resolution``: frame size of the stored frames (default: the MP4s'; another size is resized by area
    averaging); ``procedural``: states only (no MP4 decoding; frames are rendered from the states on read).
    ``workers`` processes decode the MP4s. Resumable (``OUT.partial``)."""
    path, out = Path(path), Path(out)
    if out.exists():
        raise PhylawError(f"{out} exists; remove it or choose another --out")
    if not path.exists():
        raise PhylawError(f"{path}: no such file or directory")
    if resolution is not None and resolution < 8:
        raise PhylawError(f"--resolution must be >= 8 pixels, got {resolution}")
    tasks, origin, n_frames, video_res = _scan(path, procedural)
    res = resolution or video_res or int(origin.get("resolution", feat.SCENE))
    n = sum(t.n_trials for t in tasks)
    config = DatasetConfig(
        scenario="phyre", split=str(origin.get("split", "release")),
        split_version=str(origin.get("split_version", LAYOUT)), ranges="paper", n_videos=n, n_frames=n_frames,
        n_objects=feat.N_SLOTS, resolution=int(res), seed=int(origin.get("seed", 0)), param_names=PARAM_NAMES,
        frames_stored=not procedural, dt=FRAME_DT, source=SOURCE,
        time_offset=float(origin.get("time_offset", TIME_OFFSET)), extra={"imported_from": path.name},
    )  # fmt: skip
    jobs: list[_ImportJob] = []
    row = 0
    for t in tasks:
        for lo in range(0, t.n_trials, IMPORT_CHUNK):
            hi = min(t.n_trials, lo + IMPORT_CHUNK)
            jobs.append(_ImportJob(t, lo, hi, row, config))
            row += hi - lo
    writer = DatasetWriter(out, config, n_events=N_EVENTS, n_vertices=feat.N_VERTICES)
    try:
        todo = [j for j in jobs if j.row >= writer.rows_written]  # blocks an interrupted run wrote are kept
        with tqdm(
            total=n, initial=writer.rows_written, unit="video", desc="import", disable=not progress
        ) as bar:
            for block in ordered_map(_import_job, todo, resolve_workers(workers)):
                writer.write(block)
                bar.update(block.stop - block.start)
        return writer.finalize()
    except PhylawError:  # bad content found part-way: nothing to resume
        writer.close()
        writer.partial.unlink(missing_ok=True)
        raise
    finally:
        writer.close()


# ---------------------------------------------------------------------------------------------- inspect


def summary_lines(path: str | Path | list[str]) -> list[str]:
    """What ``phylaw inspect`` adds for a phyre dataset: videos per template, per template subset
    (train6 / train30 / train60 / held-out, and the ambiguity templates) and per pool (train trials 0-989,
    in-template evaluation trials 990-999, out-of-template = the held-out templates, ambiguity)."""
    per_template: Counter[int] = Counter()
    pools: Counter[str] = Counter()
    with open_dataset(path) as ds:
        for a in range(0, len(ds), 1 << 18):
            p = ds.read("params", a, min(len(ds), a + (1 << 18))).astype(np.int64)
            tmpl, trial = p[:, 0], p[:, 2]
            per_template.update(tmpl.tolist())
            held = np.isin(tmpl, list(SUBSETS["held-out"]))
            amb = np.isin(tmpl, list(AMBIGUITY_TEMPLATES))
            main = ~held & ~amb
            pools["train"] += int((main & (trial < N_TRAIN_TRIALS)).sum())
            pools["in-template"] += int((main & (trial >= N_TRAIN_TRIALS)).sum())
            pools["out-of-template"] += int(held.sum())
            pools["ambiguity"] += int(amb.sum())
    items = [f"{t}: {n}" for t, n in sorted(per_template.items())]
    lines = [f"templates   {len(per_template)}:"]
    lines += ["    " + "   ".join(items[i : i + 8]) for i in range(0, len(items), 8)]
    subsets = {**{s: tuple(SUBSETS[s]) for s in ("train6", "train30", "train60", "held-out")},
               "ambiguity": tuple(AMBIGUITY_TEMPLATES)}  # fmt: skip
    parts = []
    for s, ids in subsets.items():
        have = [t for t in ids if per_template[t]]
        parts.append(f"{s}: {sum(per_template[t] for t in ids)} ({len(have)} of {len(ids)} templates)")
    lines.append("subsets     " + "   ".join(parts))
    lines.append(
        "pools       " + f"train (trials 0-{N_TRAIN_TRIALS - 1}): {pools['train']}   "
        f"in-template (trials {N_TRAIN_TRIALS}-{N_TRIALS - 1}): {pools['in-template']}   "
        f"out-of-template: {pools['out-of-template']}   ambiguity: {pools['ambiguity']}"
    )
    return lines
