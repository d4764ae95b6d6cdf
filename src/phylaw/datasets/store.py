"""The dataset file (docs/formats.md, format ``phylaw-dataset`` v2): a chunked, resumable writer.

v2 stores every ``sim.states.States`` field under ``states/`` (the reader also opens v1 files).

Writing goes to ``NAME.partial``; ``rows_written`` (a root attribute, flushed after every block) lets an
interrupted file resume, and :func:`finalize` fsyncs and renames it to ``NAME`` only once every row is there.
Frames are stored one chunk per video, gzip-compressed; the compression runs in the generating workers
(:func:`compress_video`) and the parent writes the compressed chunk as is (h5py ``write_direct_chunk``), so
any HDF5 reader decompresses it with the standard deflate filter.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from phylaw.errors import PhylawError
from phylaw.io import PARTIAL_SUFFIX as PARTIAL_SUFFIX  # re-exported: the one naming order
from phylaw.io import fsync_dir, partial_path
from phylaw.sim.states import ARRAY_FIELDS, FIELD_LAYOUT, FRAME_DT, States

FORMAT = "phylaw-dataset"
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)  # the versions datasets.reader opens
FRAME_GZIP_LEVEL = 1  # see benchmarks/generate.py and docs/datasets.md
STATE_CHUNK_ROWS = 4096
LABEL_STRLEN = 24

# v2: name -> (per-video shape after N in terms of T, K, V, E, dtype): every States field
STATE_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    name: (after, dtype) for name, dtype, after in FIELD_LAYOUT
}
# v1 (phylaw before format 2): the fields it stored
V1_STATE_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "position": (("T", "K", "2"), "float64"),
    "velocity": (("T", "K", "2"), "float64"),
    "radius": (("K",), "float64"),
    "color": (("K",), "uint8"),
    "shape": (("K",), "uint8"),
    "in_view": (("T", "K"), "bool"),
    "contact_time": ((), "float64"),
    "contact_frame": ((), "int32"),
}
# config keys that change the content (fingerprint); the rest (shard, compression, version) do not
CONTENT_KEYS = (
    "scenario", "split", "split_version", "ranges", "n_videos", "n_frames", "n_objects", "dt", "seed",
    "resolution", "param_names", "split_hash", "grid", "source", "time_offset", "pixel_convention",
)  # fmt: skip


@dataclass(frozen=True)
class DatasetConfig:
    """The resolved configuration of one dataset (written as root attributes and ``config_json``)."""

    scenario: str
    split: str
    split_version: str
    ranges: str
    n_videos: int
    n_frames: int
    n_objects: int
    resolution: int
    seed: int
    param_names: tuple[str, ...]
    frames_stored: bool
    dt: float = FRAME_DT
    source: str = "phylaw"  # or "phyworld" (imported)
    time_offset: float = 0.0  # time of frame 0 in seconds (0.01 in the released phyworld data)
    pixel_convention: str = "centre"  # "centre" (docs/formats.md) or "linspace" (phyworld, SPEC F.12)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        d["param_names"] = list(self.param_names)
        d.update(self.extra)
        return d

    def content(self) -> dict[str, Any]:
        d = self.to_dict()
        return {k: d[k] for k in CONTENT_KEYS if k in d}

    @staticmethod
    def from_json(text: str) -> DatasetConfig:
        d = json.loads(text)
        known = {k: d.pop(k) for k in list(d) if k in DatasetConfig.__dataclass_fields__ and k != "extra"}
        known["param_names"] = tuple(known["param_names"])
        return DatasetConfig(**known, extra=d)


@dataclass(frozen=True)
class RowBlock:
    """Rows [start, stop) of one file (local indices), ready to be written (what a generating worker returns)."""

    start: int
    stop: int
    params: np.ndarray  # (n, P) float64
    trajectories: States
    split: np.ndarray  # (n,) str
    level: np.ndarray  # (n,) str
    index: np.ndarray  # (n,) int64
    frame_chunks: tuple[bytes, ...] | None  # n gzip-compressed (T, H, W, 3) videos, or None (procedural)
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, ...) per-video arrays


def compress_video(frames: np.ndarray, level: int = FRAME_GZIP_LEVEL) -> bytes:
    """One video (T, H, W, 3) uint8 → the deflate-compressed chunk HDF5's gzip filter would store."""
    return zlib.compress(np.ascontiguousarray(frames, dtype=np.uint8).tobytes(), level)


def shard_path(out: Path, shard: int, n_shards: int) -> Path:
    """``data/u.h5`` → ``data/u.shard-00003-of-00008.h5`` (shard 3 of 8)."""
    out = Path(out)
    suffix = out.suffix or ".h5"
    return out.with_name(f"{out.stem}.shard-{shard:05d}-of-{n_shards:05d}{suffix}")


def _str_dtype() -> Any:
    return np.dtype(f"S{LABEL_STRLEN}")  # fixed-length ASCII: compact and fast for 3M rows


def _encode(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values).astype(str)
    if values.size and max(len(v) for v in np.unique(values)) > LABEL_STRLEN:
        raise PhylawError(f"label longer than {LABEL_STRLEN} characters in {np.unique(values)}")
    return np.char.encode(values, "ascii").astype(_str_dtype())


class DatasetWriter:
    """Writes one dataset file under ``NAME.partial`` block by block; resumable (``rows_written``).

    The states layout (object slots K = ``config.n_objects``, events E, polygon vertices V) is fixed by the
    first block written, or up front by ``n_events`` / ``n_vertices``; a later block with fewer events or
    vertices is padded (``States.padded``), one with more is an error.
    """

    def __init__(
        self,
        final: Path,
        config: DatasetConfig,
        shard: tuple[int, int] = (0, 1),
        rows: tuple[int, int] | None = None,
        *,
        n_events: int | None = None,
        n_vertices: int | None = None,
    ) -> None:
        self.final = Path(final)
        self.partial = partial_path(self.final)
        self.config = config
        self.shard = shard
        self._layout = None if n_events is None and n_vertices is None else (n_events or 0, n_vertices or 0)
        # this file holds rows [row_start, row_stop) of the whole dataset (all of it unless sharded)
        self.row_start, self.row_stop = rows if rows is not None else (0, config.n_videos)
        self.n_rows = self.row_stop - self.row_start
        self.file = self._open_or_create()

    @property
    def rows_written(self) -> int:
        return int(self.file.attrs["rows_written"])

    def _open_or_create(self) -> h5py.File:
        if self.partial.exists():
            try:
                f = h5py.File(self.partial, "r+")
                same = f.attrs.get("config_json") == json.dumps(self.config.to_dict(), sort_keys=True)
                same = same and int(f.attrs.get("format_version", -1)) == FORMAT_VERSION
                if same and "rows_written" in f.attrs:
                    return f
                f.close()
            except (OSError, KeyError):
                pass
            self.partial.unlink()  # interrupted beyond repair or a different config: redo from scratch
        self.final.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(self.partial, "w", libver=("earliest", "v110"), track_order=False)
        try:
            self._create_layout(f)
        except BaseException:
            f.close()
            self.partial.unlink(missing_ok=True)
            raise
        return f

    def _create_layout(self, f: h5py.File) -> None:
        c = self.config
        n, t, res = self.n_rows, c.n_frames, c.resolution
        from phylaw import __version__

        f.attrs.update(
            {"format": FORMAT, "format_version": FORMAT_VERSION, "phylaw_version": __version__,
             "scenario": c.scenario, "split": c.split, "split_version": c.split_version, "ranges": c.ranges,
             "resolution": res, "n_frames": t, "dt": c.dt, "seed": c.seed, "frames_stored": c.frames_stored,
             "n_videos": n, "shard": f"{self.shard[0]}/{self.shard[1]}", "row_start": self.row_start,
             "n_videos_total": c.n_videos, "source": c.source,
             "time_offset": c.time_offset, "pixel_convention": c.pixel_convention,
             "config_json": json.dumps(c.to_dict(), sort_keys=True), "rows_written": 0}
        )  # fmt: skip
        rows = max(1, min(n, STATE_CHUNK_ROWS))
        kw = {"compression": "gzip", "compression_opts": 1, "shuffle": True, "track_times": False}
        p = f.create_dataset(
            "params", (n, len(c.param_names)), "float64", chunks=(rows, len(c.param_names)), **kw
        )
        p.attrs["names"] = list(c.param_names)
        f.create_dataset("labels/split", (n,), _str_dtype(), chunks=(rows,), **kw)
        f.create_dataset("labels/level", (n,), _str_dtype(), chunks=(rows,), **kw)
        f.create_dataset("labels/index", (n,), "int64", chunks=(rows,), **kw)
        if c.frames_stored:
            f.create_dataset(
                "frames", (n, t, res, res, 3), "uint8", chunks=(1, t, res, res, 3),
                compression="gzip", compression_opts=FRAME_GZIP_LEVEL, track_times=False,
            )  # fmt: skip
        if self._layout is not None:
            self._create_states(f, *self._layout)

    def _create_states(self, f: h5py.File, n_events: int, n_vertices: int) -> None:
        """The ``states/`` datasets for K = config.n_objects, E events and V vertices (attributes too)."""
        c = self.config
        n = self.n_rows
        rows = max(1, min(n, STATE_CHUNK_ROWS))
        kw = {"compression": "gzip", "compression_opts": 1, "shuffle": True, "track_times": False}
        sizes = {"T": c.n_frames, "K": c.n_objects, "E": int(n_events), "V": int(n_vertices), "2": 2}
        for name, (shape, dtype) in STATE_FIELDS.items():
            full = (n, *(sizes[s] for s in shape))
            if 0 in full[1:]:  # an empty axis (no events, no polygons): nothing to chunk or compress
                f.create_dataset(f"states/{name}", full, dtype, track_times=False)
            else:
                f.create_dataset(f"states/{name}", full, dtype, chunks=(rows, *full[1:]), **kw)
        f.attrs.update({"n_objects": c.n_objects, "n_events": int(n_events), "n_vertices": int(n_vertices)})

    def _fit(self, states: States) -> States:
        """``states`` in this file's layout (created from the first block when not fixed yet)."""
        f = self.file
        if "states/position" not in f:
            self._create_states(f, states.n_events, states.n_vertices)
        k, e, v = (int(f.attrs[a]) for a in ("n_objects", "n_events", "n_vertices"))
        if states.n_frames != self.config.n_frames or states.n_objects != k:
            raise PhylawError(
                f"{self.final}: a block of {states.n_frames} frames and {states.n_objects} object slots does "
                f"not fit a file of {self.config.n_frames} frames and {k} slots"
            )
        if states.n_events > e or states.n_vertices > v:
            raise PhylawError(
                f"{self.final}: a block with {states.n_events} events and {states.n_vertices} vertices does "
                f"not fit a file laid out for {e} and {v}"
            )
        return states.padded(k, e, v)

    def _extra(self, name: str, value: np.ndarray) -> h5py.Dataset:
        """Dataset ``extras/<name>`` (N, ...) for per-video arrays like ``value``, created on first use."""
        key = f"extras/{name}"
        if key not in self.file:
            full = (self.n_rows, *value.shape[1:])
            rows = max(1, min(self.n_rows, STATE_CHUNK_ROWS))
            self.file.create_dataset(
                key, full, value.dtype, chunks=(rows, *full[1:]), compression="gzip", compression_opts=1,
                shuffle=True, track_times=False,
            )  # fmt: skip
        dset = self.file[key]
        if dset.shape[1:] != value.shape[1:] or dset.dtype != value.dtype:
            raise PhylawError(
                f"{self.final}: extras/{name} of shape {value.shape[1:]} {value.dtype} does not fit the file's "
                f"{dset.shape[1:]} {dset.dtype}"
            )
        return dset

    def write(self, block: RowBlock) -> None:
        """Write rows [block.start, block.stop) (blocks must come in order) and flush."""
        if block.start != self.rows_written:
            raise RuntimeError(f"block starts at {block.start}, expected {self.rows_written}")
        f, s = self.file, slice(block.start, block.stop)
        states = self._fit(block.trajectories)
        f["params"][s] = block.params
        for name in ARRAY_FIELDS:
            value = getattr(states, name)
            if value.size:
                f[f"states/{name}"][s] = value
        f["labels/split"][s] = _encode(block.split)
        f["labels/level"][s] = _encode(block.level)
        f["labels/index"][s] = np.asarray(block.index, dtype=np.int64)
        for name, value in sorted(block.extras.items()):
            self._extra(name, np.asarray(value))[s] = value
        if self.config.frames_stored:
            if block.frame_chunks is None or len(block.frame_chunks) != block.stop - block.start:
                raise RuntimeError("frames_stored file needs one compressed chunk per video")
            dset = f["frames"]
            for i, chunk in enumerate(block.frame_chunks):
                dset.id.write_direct_chunk((s.start + i, 0, 0, 0, 0), chunk)
        f.attrs["rows_written"] = block.stop
        f.flush()

    def finalize(self) -> Path:
        """Check completeness, fsync, and rename ``NAME.partial`` → ``NAME``."""
        if self.rows_written != self.n_rows:
            raise RuntimeError(f"{self.partial}: {self.rows_written} of {self.n_rows} rows written")
        if "states/position" not in self.file:  # no rows at all: an empty layout
            self._create_states(self.file, 0, 0)
        self.file.close()
        with self.partial.open("rb") as fh:
            os.fsync(fh.fileno())
        self.partial.replace(self.final)
        fsync_dir(self.final.parent)
        return self.final

    def close(self) -> None:
        """Close without finalizing (the ``.partial`` file stays, ready to resume)."""
        if self.file.id.valid:
            self.file.close()
