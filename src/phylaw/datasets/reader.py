"""Reading dataset files: one file, or the shards of one dataset read together (docs/formats.md).

Format v2 and v1 files both open; a v1 file (phylaw before format 2) is read as v2, its missing states filled
as the closed forms have them (angle 0, every slot present, nothing static, half_size = (r, r), no vertices,
and for a scenario with a contact phase one event between slots 0 and 1 from ``contact_time`` /
``contact_frame``). An unknown ``format_version``, or states that disagree with each other or with the frames,
is a one-line error naming the file and the fields.

Nothing large is loaded at open: parameters, states and frames are read in slices on demand, so a 3M-video
dataset opens instantly. h5py handles are opened lazily and per process, so a :class:`PhylawDataset` can be
pickled into DataLoader workers.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np

from phylaw.datasets.store import (
    FORMAT,
    PARTIAL_SUFFIX,
    READ_VERSIONS,
    STATE_FIELDS,
    V1_STATE_FIELDS,
    DatasetConfig,
)
from phylaw.errors import PhylawError
from phylaw.sim.splits import Labels
from phylaw.sim.states import FIELD_LAYOUT, States, check_shapes

_ROWS = ("params", "labels/split", "labels/level", "labels/index")
REQUIRED = (*_ROWS, *(f"states/{n}" for n in STATE_FIELDS))  # format v2
REQUIRED_V1 = (*_ROWS, *(f"states/{n}" for n in V1_STATE_FIELDS))
COMPAT_FIELDS = ("contact_time", "contact_frame")  # v1 fields, read from the first event of a v2 file
_LAYOUTS = {
    1: tuple((name, dtype, after) for name, (after, dtype) in V1_STATE_FIELDS.items()),
    2: FIELD_LAYOUT,
}
_FRAMES_LAYOUT = (("frames", "uint8", ("T", "H", "W", "3")),)


# Per-video labels are the testbed's own type: split ("train" | "id" | "ood"), level, index in the split.
DatasetLabels = Labels


@dataclass(frozen=True)
class _Part:
    path: Path
    shard: tuple[int, int]
    row_start: int
    n_rows: int
    version: int
    layout: tuple[int, int, int, int]  # (T, K, E, V) of the states as read (v2)


def _v1_events(scenario: str) -> int:
    """Event slots of a v1 file read as v2: one for a scenario with a contact phase, none otherwise."""
    from phylaw.sim.registry import SCENARIOS

    sc = SCENARIOS.get(scenario)
    return 1 if sc is None or sc.has_contact_phase else 0


def _open_h5(path: Path) -> h5py.File:
    if not Path(path).is_file():
        raise PhylawError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PhylawError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {first}") from None


def _describe(path: Path) -> tuple[_Part, str]:
    """Validate one file's header and layout; return its part and its config_json."""
    with _open_h5(path) as f:
        if f.attrs.get("format") != FORMAT:
            raise PhylawError(
                f"{path}: not a phylaw dataset file (format attribute {f.attrs.get('format')!r})"
            )
        raw_version = f.attrs.get("format_version", None)
        try:
            version = int(raw_version)
        except (TypeError, ValueError):
            version = -1
        if version not in READ_VERSIONS:
            shown = raw_version.item() if isinstance(raw_version, np.generic) else raw_version
            raise PhylawError(
                f"{path}: unknown format_version {shown!r} (this phylaw reads "
                f"{', '.join(map(str, READ_VERSIONS))}); a newer phylaw may read it"
            )
        required = REQUIRED if version == 2 else REQUIRED_V1
        missing = [k for k in required if k not in f]
        if missing:
            raise PhylawError(f"{path}: dataset file is missing {', '.join(missing)}")
        n = int(f.attrs["n_videos"])
        if int(f.attrs.get("rows_written", n)) != n:
            raise PhylawError(f"{path}: incomplete file ({f.attrs['rows_written']} of {n} rows)")
        bad = [k for k in required if f[k].shape[0] != n]
        frames_stored = bool(f.attrs["frames_stored"])
        if frames_stored and ("frames" not in f or f["frames"].shape[0] != n):
            bad.append("frames")
        if bad:
            raise PhylawError(f"{path}: {', '.join(bad)} do not have {n} rows")
        shapes = {k.split("/", 1)[1]: f[k].shape for k in required if k.startswith("states/")}
        if frames_stored:
            shapes["frames"] = f["frames"].shape
        check_shapes(shapes, _LAYOUTS[version] + _FRAMES_LAYOUT, what=f"{path}: states and frames")
        config_json = str(f.attrs["config_json"])
        config = DatasetConfig.from_json(config_json)
        _, t, k, _ = shapes["position"]
        if (t, k) != (config.n_frames, config.n_objects):
            raise PhylawError(
                f"{path}: states have {t} frames and {k} objects, the header says {config.n_frames} frames and "
                f"{config.n_objects} objects"
            )
        res = config.resolution
        if frames_stored and tuple(shapes["frames"][2:4]) != (res, res):
            raise PhylawError(
                f"{path}: frames are {shapes['frames'][2:4]} pixels, the header says {res}x{res}"
            )
        if version == 2:
            e, v = shapes["event_time"][1], shapes["vertices"][2]
        else:
            e, v = _v1_events(config.scenario), 0
        i, nsh = (int(x) for x in str(f.attrs.get("shard", "0/1")).split("/"))
        part = _Part(path, (i, nsh), int(f.attrs.get("row_start", 0)), n, version, (t, k, e, v))
        return part, config_json


def resolve_paths(path: str | Path | list[str | Path]) -> list[Path]:
    """A file, a directory of ``*.h5``, a glob, a list of those, or ``OUT`` whose shards exist → files."""
    if isinstance(path, list | tuple):
        found = [p for item in path for p in resolve_paths(item)]
        return sorted(set(found))
    p = Path(path)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.suffix in (".h5", ".hdf5") and q.is_file())
        if not files:
            raise PhylawError(f"{p}: directory holds no .h5 dataset files")
        return files
    if p.is_file():
        return [p]
    if any(ch in str(path) for ch in "*?["):
        pattern = Path(path)
        anchor = Path(pattern.anchor) if pattern.is_absolute() else Path()
        rel = str(pattern.relative_to(anchor)) if pattern.is_absolute() else str(pattern)
        files = sorted(q for q in anchor.glob(rel) if q.is_file() and not q.name.endswith(PARTIAL_SUFFIX))
        if not files:
            raise PhylawError(f"{path}: no files match")
        return files
    shards = sorted(p.parent.glob(f"{glob.escape(p.stem)}.shard-*-of-*{p.suffix or '.h5'}"))
    if shards:
        return shards
    raise PhylawError(f"{p}: no such dataset file, directory or shard set")


class PhylawDataset:
    """One dataset, stored in one file or in several shard files (checked complete and consistent)."""

    def __init__(self, files: list[Path]) -> None:
        described = [_describe(Path(p)) for p in files]
        configs = {cfg for _, cfg in described}
        if len(configs) != 1:
            raise PhylawError(f"{files[0].parent}: shard files belong to different datasets (configs differ)")
        parts = sorted((part for part, _ in described), key=lambda q: q.row_start)
        layouts = {q.layout for q in parts}
        if len(layouts) != 1:
            raise PhylawError(
                f"{files[0].parent}: shard files have different states layouts (T, K, E, V): "
                f"{', '.join(map(str, sorted(layouts)))}"
            )
        self.config = DatasetConfig.from_json(configs.pop())
        self._check_cover(parts)
        self.parts = tuple(parts)
        self._starts = np.array([q.row_start for q in parts] + [self.config.n_videos], dtype=np.int64)
        self._handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()
        with _open_h5(parts[0].path) as f:
            self.frames_stored = bool(f.attrs["frames_stored"])

    def _check_cover(self, parts: list[_Part]) -> None:
        n_shards = {q.shard[1] for q in parts}
        if len(n_shards) > 1:
            raise PhylawError(
                f"{parts[0].path.parent}: files of different shardings of one dataset "
                f"(N = {', '.join(map(str, sorted(n_shards)))}); pass one shard set or one merged file"
            )
        pos = 0
        for q in parts:
            if q.row_start != pos:
                what = "missing rows" if q.row_start > pos else "overlapping rows"
                raise PhylawError(
                    f"{q.path}: {what} before row {q.row_start} (a shard is missing or repeated)"
                )
            pos += q.n_rows
        if pos != self.config.n_videos or len(parts) != n_shards.pop():
            raise PhylawError(
                f"{parts[0].path.parent}: shards cover {pos} of {self.config.n_videos} videos "
                f"({len(parts)} files); a shard is missing"
            )

    # ----- handles (lazy, per process) -----
    def _file(self, part: int) -> h5py.File:
        if self._pid != os.getpid():  # forked into a DataLoader worker: never share h5py handles
            self._handles, self._pid = {}, os.getpid()
        if part not in self._handles:
            self._handles[part] = _open_h5(self.parts[part].path)
        return self._handles[part]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def close(self) -> None:
        for f in self._handles.values():
            f.close()
        self._handles = {}

    def __enter__(self) -> PhylawDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- metadata -----
    def __len__(self) -> int:
        return self.config.n_videos

    @property
    def scenario(self) -> str:
        return self.config.scenario

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def n_frames(self) -> int:
        return self.config.n_frames

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.config.param_names

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(q.path for q in self.parts)

    @property
    def n_objects(self) -> int:
        return self.parts[0].layout[1]

    @property
    def n_events(self) -> int:
        return self.parts[0].layout[2]

    @property
    def n_vertices(self) -> int:
        return self.parts[0].layout[3]

    @property
    def extra_names(self) -> tuple[str, ...]:
        """Names of the per-video arrays under ``extras/`` (phyre: "action"); read with ``read("extras/NAME")``."""
        f = self._file(0)
        return tuple(sorted(f["extras"])) if "extras" in f else ()

    @property
    def format_versions(self) -> tuple[int, ...]:
        """The format version of each file (shards written by different phylaw versions may differ)."""
        return tuple(q.version for q in self.parts)

    @cached_property
    def fingerprint(self) -> str:
        """blake2b of the content config (incl. seed) and the parameters of every row, in order."""
        h = hashlib.blake2b(digest_size=16)
        h.update(json.dumps(self.config.content(), sort_keys=True).encode())
        for start in range(0, len(self), 1 << 18):
            h.update(
                np.ascontiguousarray(self.read("params", start, min(len(self), start + (1 << 18)))).tobytes()
            )
        return h.hexdigest()

    # ----- rows -----
    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows [start, stop) of dataset ``name`` (e.g. "params", "states/position"), across shards."""
        stop = len(self) if stop is None else stop
        if not 0 <= start <= stop <= len(self):
            raise PhylawError(f"rows [{start}, {stop}) out of range for {len(self)} videos")
        out = []
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        for part in range(max(first, 0), len(self.parts)):
            a, b = max(start, self._starts[part]), min(stop, self._starts[part + 1])
            if a >= b:
                break
            out.append(self._read_part(part, name, slice(a - self._starts[part], b - self._starts[part])))
        if not out:
            return self._read_part(0, name, slice(0, 0))
        return out[0] if len(out) == 1 else np.concatenate(out)

    def _read_part(self, part: int, name: str, rows: slice | np.ndarray) -> np.ndarray:
        """Rows of ``name`` in one file, as format v2 (v1 files: the missing states filled, see module doc)."""
        field = name[len("states/") :] if name.startswith("states/") else None
        version = self.parts[part].version
        if field is not None and version == 1 and field not in V1_STATE_FIELDS:
            return self._v1_state(part, field, rows)
        if field in COMPAT_FIELDS and version >= 2:  # the first event
            kind = "time" if field == "contact_time" else "frame"
            events = self._raw(part, f"states/event_{kind}", rows)  # (n, E)
            if events.shape[1]:
                return events[:, 0]
            return (
                np.full(events.shape[0], np.nan) if kind == "time" else np.full(events.shape[0], -1, np.int32)
            )
        return self._raw(part, name, rows)

    def _v1_state(self, part: int, field: str, rows: slice | np.ndarray) -> np.ndarray:
        """A v2 state field of a v1 file, from the fields v1 stored."""
        if field not in STATE_FIELDS:
            raise PhylawError(f"{self.parts[part].path}: no states/{field} in a phylaw dataset")
        t, k, e, _ = self.parts[part].layout
        if field == "half_size":
            return np.repeat(self._raw(part, "states/radius", rows)[..., None], 2, axis=-1)
        contact = self._raw(part, "states/contact_time", rows)  # (n,): the row count, and the v1 events
        n = contact.shape[0]
        if field == "angle":
            return np.zeros((n, t, k))
        if field == "present":
            return np.ones((n, k), bool)
        if field == "static":
            return np.zeros((n, k), bool)
        if field == "vertices":
            return np.full((n, k, 0, 2), np.nan)
        has = np.isfinite(contact)[:, None]  # (n, 1)
        events = {
            "event_time": lambda: contact[:, None],
            "event_frame": lambda: self._raw(part, "states/contact_frame", rows).astype(np.int32)[:, None],
            "event_a": lambda: np.where(has, 0, -1).astype(np.int16),
            "event_b": lambda: np.where(has, 1, -1).astype(np.int16),
        }
        return events[field]()[:, :e]

    def _raw(self, part: int, name: str, rows: slice | np.ndarray) -> np.ndarray:
        try:
            dset = self._file(part)[name]
            if (
                0 in dset.shape[1:]
            ):  # an empty axis (no events / vertices): h5py cannot select every row of it
                n = len(range(*rows.indices(dset.shape[0]))) if isinstance(rows, slice) else len(rows)
                return np.empty((n, *dset.shape[1:]), dtype=dset.dtype)
            return dset[rows]
        except (OSError, KeyError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PhylawError(
                f"{self.parts[part].path}: cannot read {name} (corrupt file?): {first}"
            ) from None

    @property
    def params(self) -> np.ndarray:
        """(N, P) float64: all parameters (N·P·8 bytes; use ``read("params", a, b)`` for a slice)."""
        return self.read("params")

    @property
    def labels(self) -> DatasetLabels:
        return self.labels_slice(0, len(self))

    def labels_slice(self, start: int, stop: int) -> DatasetLabels:
        split = self.read("labels/split", start, stop).astype(str)
        level = self.read("labels/level", start, stop).astype(str)
        return DatasetLabels(split, level, self.read("labels/index", start, stop))

    def trajectories(self, indices: np.ndarray | slice | None = None) -> States:
        """States of the selected videos (all of them only when ``indices`` is None: mind the memory)."""
        if indices is None or isinstance(indices, slice):
            start, stop, step = (indices or slice(None)).indices(len(self))
            kw = {n: self.read(f"states/{n}", start, max(start, stop)) for n in STATE_FIELDS}
            if step != 1:
                kw = {n: v[::step] for n, v in kw.items()}
            return States(scenario=self.scenario, dt=self.config.dt, **kw)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise PhylawError(f"video index out of range 0..{len(self) - 1}: {idx.min()}..{idx.max()}")
        uniq, inverse = np.unique(idx, return_inverse=True)  # h5py reads increasing indices
        kw = {n: self.take(f"states/{n}", uniq)[inverse] for n in STATE_FIELDS}
        return States(scenario=self.scenario, dt=self.config.dt, **kw)

    def take(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (sorted, unique) of dataset ``name``, across shards (h5py point selection)."""
        part = np.searchsorted(self._starts, rows, side="right") - 1  # (n,)
        out = [self._read_part(0, name, slice(0, 0))]
        for p in np.unique(part):
            local = rows[part == p] - self._starts[p]
            out.append(self._read_part(int(p), name, local))
        return np.concatenate(out)

    def states(self, i: int) -> dict[str, np.ndarray]:
        """States of video i as numpy arrays: every v2 field (position (T, K, 2), radius (K,), event_time (E,),
        ...) and the v1 views contact_time (), contact_frame ()."""
        self._check_index(i)
        return {n: self.read(f"states/{n}", i, i + 1)[0] for n in (*STATE_FIELDS, *COMPAT_FIELDS)}

    def frames(self, i: int, resolution: int | None = None) -> np.ndarray:
        """Video i as uint8 (T, H, W, 3): stored bytes, or rendered from the states (identical bytes).

        A resolution other than the dataset's renders from the states at that resolution (exact, no resize).
        """
        self._check_index(i)
        res = self.resolution if resolution is None else int(resolution)
        if res < 8:
            raise PhylawError(f"resolution must be >= 8 pixels, got {res}")
        if self.frames_stored and res == self.resolution:
            return self.read("frames", i, i + 1)[0]
        from phylaw.render import render

        return render(self.trajectories(slice(i, i + 1)), res)[0]

    def _check_index(self, i: int) -> None:
        if not 0 <= int(i) < len(self):
            raise PhylawError(f"video index {i} out of range (dataset has {len(self)} videos)")


def open_dataset(path: str | Path | list[str | Path]) -> PhylawDataset:
    """Open a dataset file, a directory or glob of shard files, or ``OUT`` whose shards exist."""
    return PhylawDataset(resolve_paths(path))
