"""The sample file (docs/formats.md, "phylaw-samples" v1): generated videos aligned with dataset indices.

One module holds the format: :class:`SampleWriter` (used by ``phylaw sample``) and :func:`open_samples`
(used by the evaluator and the experiment gallery).

Writing is resumable: rows are written in place into ``NAME.partial`` and each gets a ``done`` flag; a rerun
with the same settings (:data:`RESUME_KEYS` and the index) skips done rows, a rerun with other settings is
refused. Under torchrun each rank writes its rows ``rank::world`` into ``NAME.rank{r}-of-{world}.partial``;
:func:`finish` (rank 0) merges them into ``NAME.partial``, marks it complete and renames it to ``NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from phylaw.errors import PhylawError
from phylaw.io import partial_path

FORMAT, FORMAT_VERSION = "phylaw-samples", 1
# attributes that must agree for a partial file to be resumed or a finished one to be reused
RESUME_KEYS = ("dataset_fingerprint", "checkpoint", "steps", "seed", "n_frames", "resolution", "cond_frames")
# optional attributes added after the first version, with the value a file without them means
OPTIONAL_ATTRS = {"condition": "free"}


def _attr(attrs: Any, key: str) -> str:
    return str(attrs.get(key, OPTIONAL_ATTRS.get(key)))


def _same(f: h5py.File, attrs: dict, index: np.ndarray) -> bool:
    keys = (*RESUME_KEYS, *(k for k in OPTIONAL_ATTRS if k in attrs))
    return all(_attr(f.attrs, k) == _attr(attrs, k) for k in keys) and np.array_equal(f["index"][:], index)


def part_path(out: Path, rank: int, world: int) -> Path:
    """Where rank ``rank`` of ``world`` writes its rows (``NAME.partial`` when not distributed)."""
    return partial_path(out) if world == 1 else out.with_name(f"{out.name}.rank{rank}-of-{world}.partial")


def is_finished(out: Path, attrs: dict, index: np.ndarray) -> bool:
    """True when ``out`` exists and was made with these settings; PhylawError when it exists with others."""
    if not out.exists():
        return False
    with h5py.File(out, "r") as f:
        if _same(f, attrs, index):
            return True
    raise PhylawError(f"{out} exists and was made with other settings; choose another --out or delete it")


class SampleWriter:
    """Open (resume) or create the sample (part) file ``path`` for dataset rows ``index``.

    ``attrs``: the root attributes (without ``complete``, which starts False). Videos are (T, res, res, 3).
    """

    def __init__(self, path: Path, attrs: dict, index: np.ndarray, n_frames: int, resolution: int) -> None:
        self.path = path
        if path.exists():
            self.file = h5py.File(path, "r+")
            if not _same(self.file, attrs, index):
                self.file.close()
                raise PhylawError(
                    f"{path} was started with other settings (checkpoint/steps/seed/indices); delete it"
                )
            return
        f = self.file = h5py.File(path, "w")
        f.attrs.update({**attrs, "complete": False})
        f.create_dataset("index", data=index.astype(np.int64))
        n, t, res = len(index), n_frames, resolution  # a rank may get no rows (fewer videos than ranks)
        chunks = (1, t, res, res, 3) if n else None
        f.create_dataset("frames", (n, t, res, res, 3), "uint8", chunks=chunks, compression="gzip")
        f.create_dataset("done", data=np.zeros(n, dtype=bool))

    def todo(self) -> np.ndarray:
        """Row positions not yet written, in order."""
        return np.flatnonzero(~self.file["done"][:])

    def write(self, rows: np.ndarray, videos: np.ndarray) -> None:
        """Store ``videos`` (B, T, H, W, 3) uint8 at row positions ``rows``, mark them done, flush."""
        for j, video in zip(np.asarray(rows).tolist(), videos, strict=True):
            self.file["frames"][j] = video
        done = self.file["done"][:]
        done[rows] = True
        self.file["done"][:] = done
        self.file.flush()

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> SampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def finish(out: Path, attrs: dict, index: np.ndarray, world: int, n_frames: int, resolution: int) -> Path:
    """Rank 0, after every rank wrote its part: merge the parts (row order = ``index``) into ``NAME.partial``,
    delete them, mark the file complete and rename it to ``out``."""
    partial = partial_path(out)
    if world > 1:
        with SampleWriter(partial, attrs, index, n_frames, resolution) as w:
            for r in range(world):
                with h5py.File(part_path(out, r, world), "r") as p:
                    rows = np.arange(r, len(index), world)
                    for k, row in enumerate(rows.tolist()):
                        w.file["frames"][row] = p["frames"][k]
                    done = w.file["done"][:]
                    done[rows] = p["done"][:]
                    w.file["done"][:] = done
        for r in range(world):
            part_path(out, r, world).unlink()
    with h5py.File(partial, "r+") as f:
        f.attrs["complete"] = True
    partial.replace(out)
    return out


# ----------------------------------------------------------------------------------------------- reader
@dataclass
class SampleFile:
    """An open sample file: ``attrs`` (Python scalars), ``index`` (M,) dataset index per row, ``done`` (M,)
    rows written, ``complete`` (sampling finished). :meth:`frames` reads one row (T, H, W, 3) uint8."""

    path: Path
    attrs: dict
    index: np.ndarray
    done: np.ndarray
    complete: bool
    _file: h5py.File | None = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return len(self.index)

    @property
    def condition(self) -> str:
        """How the sampler treated the conditioning positions (``free`` for files written before 2026-12)."""
        return str(self.attrs.get("condition", OPTIONAL_ATTRS["condition"]))

    def frames(self, row: int) -> np.ndarray:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        try:
            return self._file["frames"][int(row)]
        except (OSError, KeyError) as exc:
            first = (str(exc).splitlines() or [""])[0]
            raise PhylawError(f"{self.path.name}[{row}]: unreadable row ({first})") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> SampleFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_samples(path: str | Path) -> SampleFile:
    """Check and open a sample file (PhylawError naming the problem if it is not one phylaw can read)."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise PhylawError(f"{path}: not a phylaw sample file (format {f.attrs.get('format')!r})")
            if int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
                raise PhylawError(
                    f"{path}: unsupported sample format_version {f.attrs.get('format_version')}"
                )
            for name in ("index", "frames", "done"):
                if name not in f:
                    raise PhylawError(f"{path}: sample file has no /{name}")
            index, done = f["index"][:], f["done"][:].astype(bool)
            if not (len(index) == len(done) == f["frames"].shape[0]):
                raise PhylawError(
                    f"{path}: /index ({len(index)}), /done ({len(done)}) and /frames ({f['frames'].shape[0]}) "
                    "row counts differ"
                )
            attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except OSError as exc:
        raise PhylawError(f"{path}: not a readable HDF5 file: {(str(exc).splitlines() or [''])[0]}") from None
    return SampleFile(path, attrs, index, done, bool(attrs.get("complete", False)))
