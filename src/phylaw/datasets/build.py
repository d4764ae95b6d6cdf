"""Dataset generation at scale: chunked, multi-process, sharded, resumable (``phylaw generate``).

Rows are computed in blocks by pure workers (``compute_block``: split definition + row range + seed → states,
labels and gzip-compressed frames); the parent writes blocks in order, so the file's bytes do not depend on the
number of workers. ``shard=(i, n)`` writes only slice i of n into ``OUT.shard-0000i-of-0000n.h5``; the shards
of one dataset are read together (:func:`phylaw.datasets.open_dataset`) or merged (:func:`merge`) into the
same data as one run. Ray (optional extra) runs the per-shard jobs as Ray tasks.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm.auto import tqdm

from phylaw import sim
from phylaw.datasets.reader import _describe
from phylaw.datasets.store import DatasetConfig, DatasetWriter, RowBlock, compress_video, shard_path
from phylaw.errors import PhylawError
from phylaw.sim import SplitDef

FRAME_BYTES_PER_BLOCK = 256 << 20  # uncompressed frames a worker renders per block (bounds worker memory)
RENDER_GROUP_BYTES = 32 << 20  # uncompressed frames rendered at once inside a block
PROCEDURAL_BLOCK_ROWS = 16384
STATE_BYTES_PER_BLOCK = (
    96 << 20
)  # states of a procedural block (phyre: ~22 KB/video -> ~4.4K rows; < 1 GB peak)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BlockJob:
    """Rows [start, stop) of a split (global indices), written at ``start - row_offset`` in the file."""

    split_def: SplitDef
    seed: int
    resolution: int
    procedural: bool
    start: int
    stop: int
    row_offset: int


def get_split_checked(scenario: str, split: str, ranges: str, n_frames: int | None = None) -> SplitDef:
    """``phylaw.sim.get_split`` with the names checked first (one-line errors for unknown names)."""
    if scenario not in sim.SCENARIOS:
        raise PhylawError(f"unknown scenario {scenario!r}; choose from {', '.join(sim.SCENARIOS)}")
    if ranges not in sim.RANGE_SETS:
        raise PhylawError(f"unknown range set {ranges!r}; choose from {', '.join(sim.RANGE_SETS)}")
    if n_frames is None:
        n_frames = sim.get_scenario(scenario).default_frames
    names = sim.list_splits(scenario)
    if split not in names:
        raise PhylawError(f"unknown split {split!r} for {scenario}; choose from {', '.join(names)}")
    try:
        return sim.get_split(scenario, split, ranges=ranges, n_frames=n_frames)
    except (ValueError, KeyError) as exc:
        raise PhylawError(f"{scenario}/{split}: {exc}") from None


def resolve_split(
    scenario: str,
    split: str | SplitDef,
    ranges: str,
    n_frames: int | None,
    resolution: int,
    limit: int | None,
) -> SplitDef:
    """The split ``generate`` makes, with its arguments checked first (one-line errors, nothing written)."""
    if resolution < 8:
        raise PhylawError(f"--resolution must be >= 8 pixels, got {resolution}")
    if limit is not None and limit < 1:
        raise PhylawError(f"--limit must be >= 1, got {limit}")
    if not isinstance(split, SplitDef):
        split = get_split_checked(scenario, split, ranges, n_frames)
    elif n_frames is not None and n_frames != split.n_frames:
        raise PhylawError(f"split {split.name!r} has {split.n_frames} frames; n_frames={n_frames} disagrees")
    check = sim.get_scenario(split.scenario).check_resolution  # e.g. rings thinner than a pixel
    if check is not None:
        check(split, resolution)
    return split


def compute_block(job: BlockJob) -> RowBlock:
    """Pure: states, labels and (unless procedural) compressed frames of the job's rows."""
    batch = job.split_def.generate(job.start, job.stop, job.seed)
    traj = batch.trajectories
    chunks: tuple[bytes, ...] | None = None
    if not job.procedural:
        from phylaw.render import render

        per_video = traj.n_frames * job.resolution**2 * 3
        group = max(1, RENDER_GROUP_BYTES // per_video)
        out: list[bytes] = []
        for a in range(0, len(traj), group):
            frames = render(
                traj, job.resolution, indices=np.arange(a, min(len(traj), a + group))
            )  # (g,T,H,W,3)
            out.extend(compress_video(v) for v in frames)
        chunks = tuple(out)
    lab = batch.labels
    return RowBlock(
        start=job.start - job.row_offset,
        stop=job.stop - job.row_offset,
        params=np.asarray(batch.params, dtype=np.float64),
        trajectories=traj,
        split=np.asarray(lab.split),
        level=np.asarray(lab.level),
        index=np.asarray(lab.index, dtype=np.int64),
        frame_chunks=chunks,
        extras=dict(batch.extras),
    )


def block_rows(resolution: int, n_frames: int, procedural: bool, n_objects: int = 2) -> int:
    """Rows per block: fixed by the config alone (never by the number of workers), memory-bounded."""
    if procedural:  # position, velocity (2 + 2), angle: float64 per frame and object slot, plus in_view
        per_video = n_frames * n_objects * (5 * 8 + 1)
        return int(max(1, min(PROCEDURAL_BLOCK_ROWS, STATE_BYTES_PER_BLOCK // per_video)))
    return int(max(1, min(1024, FRAME_BYTES_PER_BLOCK // (n_frames * resolution**2 * 3))))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"3/8"`` → (3, 8); None stays None."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise PhylawError(f"--shard must look like I/N (e.g. 3/8), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise PhylawError(f"--shard {text}: need 0 <= I < N")
    return i, n


def resolve_workers(workers: int) -> int:
    if workers < 0:
        raise PhylawError(f"--workers must be >= 0 (0 = all local cores), got {workers}")
    if workers == 0:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return workers


def ordered_map(fn: Callable[[T], R], items: list[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` in order; with workers > 1 a process pool computes up to workers + 2 items ahead
    (so the parent holds a bounded number of finished blocks whatever the dataset size)."""
    if workers <= 1:
        yield from map(fn, items)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a parent that may hold torch/h5py state
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        pending: deque[cf.Future[R]] = deque()
        todo = iter(items)
        for item in todo:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers + 2:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(fn, nxt))
            yield result
    finally:  # on an error or interrupt, drop the queued items instead of computing them
        pool.shutdown(wait=True, cancel_futures=True)


def generate(
    scenario: str,
    split: str | SplitDef,
    out: str | Path,
    *,
    ranges: str = "paper",
    resolution: int = 128,
    procedural: bool = False,
    workers: int = 1,
    shard: tuple[int, int] | str | None = None,
    limit: int | None = None,
    seed: int = 0,
    n_frames: int | None = None,
    progress: bool = True,
) -> Path:
    """Generate the split into ``out`` (or its shard file); returns the finished file's path.

    Resumable: a finished file is returned as is (if its config matches), an interrupted ``.partial`` file
    continues from its last flushed block, and nothing has the final name until it is complete.
    ``n_frames``: video length of a named split (default: the scenario's, 32); a SplitDef brings its own.
    """
    if isinstance(shard, str):
        shard = parse_shard(shard)
    n_workers = resolve_workers(workers)  # checked before any file is created
    split_def = resolve_split(scenario, split, ranges, n_frames, resolution, limit)
    if split_def.scenario != scenario:
        raise PhylawError(f"split {split_def.name!r} is a {split_def.scenario} split, not {scenario}")
    n_total = len(split_def) if limit is None else min(limit, len(split_def))
    config = dataset_config(split_def, n_total, resolution, seed, not procedural)
    i, n_shards = shard or (0, 1)
    final = Path(out) if shard is None else shard_path(Path(out), i, n_shards)
    lo, hi = i * n_total // n_shards, (i + 1) * n_total // n_shards
    if final.exists():
        _check_existing(final, config)
        return final
    writer = DatasetWriter(final, config, shard=(i, n_shards), rows=(lo, hi))
    try:
        step = block_rows(resolution, config.n_frames, procedural, config.n_objects)
        start = lo + writer.rows_written
        jobs = [
            BlockJob(split_def, seed, resolution, procedural, a, min(hi, a + step), lo)
            for a in range(start, hi, step)
        ]
        desc = f"{scenario}/{split_def.name}" + (f" shard {i}/{n_shards}" if shard else "")
        with tqdm(total=hi - lo, initial=start - lo, unit="video", desc=desc, disable=not progress) as bar:
            for block in ordered_map(compute_block, jobs, n_workers):
                writer.write(block)
                bar.update(block.stop - block.start)
        return writer.finalize()
    finally:
        writer.close()


def dataset_config(
    split_def: SplitDef, n_videos: int, resolution: int, seed: int, frames_stored: bool
) -> DatasetConfig:
    probe = split_def.generate(0, 1, seed).trajectories
    described = split_def.config()
    custom = split_def.name not in sim.list_splits(split_def.scenario)
    if not custom:
        builtin = sim.get_split(split_def.scenario, split_def.name, ranges=split_def.ranges)
        custom = builtin.config() != described
    split_hash = hashlib.blake2b(json.dumps(described, sort_keys=True).encode(), digest_size=8).hexdigest()
    return DatasetConfig(
        scenario=split_def.scenario,
        split=split_def.name,
        split_version=str(split_def.version),
        ranges=split_def.ranges,
        n_videos=int(n_videos),
        n_frames=probe.n_frames,
        n_objects=probe.n_objects,
        resolution=int(resolution),
        seed=int(seed),
        param_names=tuple(split_def.param_names),
        frames_stored=frames_stored,
        dt=float(probe.dt),
        time_offset=sim.get_scenario(split_def.scenario).time_offset,
        extra={"split_hash": split_hash, **({"grid": described["parts"]} if custom else {})},
    )


def _check_existing(final: Path, config: DatasetConfig) -> None:
    _, config_json = _describe(final)  # this one file (a finished shard is checked without its siblings)
    existing = DatasetConfig.from_json(config_json)
    if existing.content() != config.content() or existing.frames_stored != config.frames_stored:
        raise PhylawError(f"{final} exists with a different configuration; remove it or choose another --out")


# default videos per Ray shard (one progress step; the most a lost task redoes). States only: 4096, below one
# 16384-row block, so a worker holds at most 4096 videos' states (phyre: 22 KB each; a full 16384-row phyre
# block peaks at about 950 MB, benchmarks/phyre_generate.py --rss-procedural 16384)
RAY_SHARD_ROWS = 2048
RAY_PROCEDURAL_SHARD_ROWS = 4096


def generate_ray(
    scenario: str,
    split: str | SplitDef,
    out: str | Path,
    *,
    n_shards: int | None = None,
    progress: bool = True,
    **kw,
) -> list[Path]:
    """Generate ``out`` as a shard set on Ray (``pip install phylaw[ray]``); returns every shard file, sorted.

    One Ray task per shard, each a one-process ``generate(..., shard=(i, n), workers=1)``: a worker holds one
    block at a time (bounded memory), writes its own shard file (shared storage on a cluster) and returns only
    the path. Shards: ``n_shards``; else the count of a shard set of ``out`` that already exists (finished or
    ``.partial``), so a resumed run keeps its sharding whatever the cluster size; else enough shards that each
    holds at most RAY_SHARD_ROWS videos (states only: RAY_PROCEDURAL_SHARD_ROWS) and there is one per cluster
    CPU. Resumable: finished shards (config checked) are skipped without a task, an interrupted shard continues
    from its ``.partial``. The progress bar counts videos: finished shards and flushed ``.partial`` rows from the
    start, each shard's remaining rows when its task returns. At most 2 tasks per cluster CPU are in flight.
    """
    if "workers" in kw or "shard" in kw:
        raise PhylawError("generate_ray makes its own shards, one process each; drop workers= / shard=")
    try:
        import ray
    except ImportError:
        raise PhylawError("--backend ray needs Ray: pip install 'phylaw[ray]'") from None
    split_def, n_total, config = _ray_plan(scenario, split, kw)
    if not ray.is_initialized():
        ray.init()
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    out = Path(out)
    existing = _existing_shardings(out)
    if n_shards is not None and n_shards < 1:
        raise PhylawError(f"n_shards must be >= 1, got {n_shards}")
    if n_shards is None and len(existing) == 1:
        n_shards = next(iter(existing))
    if existing - {n_shards}:
        found = ", ".join(map(str, sorted(existing)))
        raise PhylawError(
            f"{out}: shard files of N = {found} exist already; resume with that N or remove them"
        )
    if n_shards is None:
        per = RAY_PROCEDURAL_SHARD_ROWS if kw.get("procedural", False) else RAY_SHARD_ROWS
        n_shards = min(max(-(-n_total // per), cpus), n_total)
    n = int(n_shards)
    todo: list[tuple[int, int]] = []  # (shard, its rows not yet counted)
    done_rows = 0
    paths = []
    for i in range(n):
        rows = (i + 1) * n_total // n - i * n_total // n
        final = shard_path(out, i, n)
        paths.append(final)
        if final.exists():
            _check_existing(final, config)
            done_rows += rows
            continue
        flushed = _rows_flushed(final)
        done_rows += flushed
        todo.append((i, rows - flushed))
    task = ray.remote(_ray_shard)
    kw = {**kw, "workers": 1}
    desc = f"{scenario}/{split_def.name} on ray ({n} shards)"
    with tqdm(total=n_total, initial=done_rows, unit="video", desc=desc, disable=not progress) as bar:
        pending: dict = {}
        queue = iter(todo)
        for i, rows in queue:
            pending[task.remote(scenario, split, str(out), (i, n), kw)] = rows
            if len(pending) >= 2 * cpus:
                break
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                ray.get(ref)  # re-raises a task's error
                bar.update(pending.pop(ref))
                nxt = next(queue, None)
                if nxt is not None:
                    pending[task.remote(scenario, split, str(out), (nxt[0], n), kw)] = nxt[1]
    return paths


def _ray_plan(scenario: str, split: str | SplitDef, kw: dict) -> tuple[SplitDef, int, DatasetConfig]:
    """What ``generate`` would make of these arguments (checked in the driver, before any task starts):
    the split, its video count and the file config every shard must carry."""
    resolution = kw.get("resolution", 128)
    limit = kw.get("limit")
    split_def = resolve_split(
        scenario, split, kw.get("ranges", "paper"), kw.get("n_frames"), resolution, limit
    )
    if split_def.scenario != scenario:
        raise PhylawError(f"split {split_def.name!r} is a {split_def.scenario} split, not {scenario}")
    n_total = len(split_def) if limit is None else min(limit, len(split_def))
    config = dataset_config(
        split_def, n_total, resolution, kw.get("seed", 0), not kw.get("procedural", False)
    )
    return split_def, n_total, config


def _existing_shardings(out: Path) -> set[int]:
    """The N of every ``OUT.shard-I-of-N`` file (finished or ``.partial``) next to ``out``."""
    import glob
    import re

    suffix = out.suffix or ".h5"
    pattern = re.compile(rf"{re.escape(out.stem)}\.shard-\d+-of-(\d+){re.escape(suffix)}(\.partial)?")
    found = set()
    for p in out.parent.glob(f"{glob.escape(out.stem)}.shard-*-of-*"):
        m = pattern.fullmatch(p.name)
        if m:
            found.add(int(m.group(1)))
    return found


def _rows_flushed(final: Path) -> int:
    """Rows an interrupted shard's ``.partial`` holds (0 if none or unreadable; generate re-checks it)."""
    from phylaw.io import partial_path

    part = partial_path(final)
    if not part.exists():
        return 0
    try:
        import h5py

        with h5py.File(part, "r") as f:
            return int(f.attrs.get("rows_written", 0))
    except (OSError, ValueError):
        return 0


def _ray_shard(scenario: str, split: str | SplitDef, out: str, shard: tuple[int, int], kw: dict) -> str:
    return str(generate(scenario, split, out, shard=shard, progress=False, **kw))


def parse_values(items: list[str]) -> dict[str, np.ndarray]:
    """``["r=0.7:1.4:8", "v=1,2,4"]`` → value lists (``lo:hi:n`` is ``np.linspace(lo, hi, n)``)."""
    from phylaw.config import split_override

    out: dict[str, np.ndarray] = {}
    for item in items:
        try:
            name, spec = split_override(item)  # the one KEY=VALUE splitter of every --set (phylaw.config)
            if ":" in spec:
                lo, hi, n = spec.split(":")
                out[name] = np.linspace(float(lo), float(hi), int(n))
            else:
                out[name] = np.array([float(x) for x in spec.split(",")])
        except (ValueError, PhylawError):
            raise PhylawError(f"--values must look like r=0.7:1.4:8 or v=1,2,4, got {item!r}") from None
    return out


def custom_split(scenario: str, name: str, ranges: str, items: list[str]) -> SplitDef:
    """A product grid of the given value lists (``phylaw generate ... --values r=... --values v=...``)."""
    if name in sim.SPLITS:
        raise PhylawError(f"--split {name!r} is a built-in split; give a custom grid a new name")
    if scenario not in sim.SCENARIOS:
        raise PhylawError(f"unknown scenario {scenario!r}; choose from {', '.join(sim.SCENARIOS)}")
    return sim.grid_split(scenario, name, ranges=ranges, **parse_values(items))
