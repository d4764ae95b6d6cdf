"""``phylaw merge``: the shards of one dataset → one file with the same rows (frames copied compressed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from phylaw.datasets.reader import PhylawDataset, open_dataset
from phylaw.datasets.store import STATE_FIELDS, DatasetWriter, RowBlock
from phylaw.errors import PhylawError
from phylaw.sim.states import States

MERGE_BLOCK_ROWS = 4096


def merge(inputs: str | Path | list[str | Path], out: str | Path, *, progress: bool = True) -> Path:
    """Read ``inputs`` (files / directory / glob) as one dataset and write it to ``out`` as a single file."""
    out = Path(out)
    ds = open_dataset(inputs)
    if out.resolve() in {p.resolve() for p in ds.paths}:
        raise PhylawError(f"--out {out} is one of the inputs")
    if out.exists():
        with open_dataset(out) as done:
            if done.fingerprint == ds.fingerprint and len(done) == len(ds):
                return out
        raise PhylawError(f"{out} exists and holds another dataset; remove it or choose another --out")
    writer = DatasetWriter(out, ds.config, n_events=ds.n_events, n_vertices=ds.n_vertices)
    try:
        with tqdm(
            total=len(ds), initial=writer.rows_written, unit="video", desc="merge", disable=not progress
        ) as bar:
            for a in range(writer.rows_written, len(ds), MERGE_BLOCK_ROWS):
                b = min(len(ds), a + MERGE_BLOCK_ROWS)
                writer.write(_block(ds, a, b))
                bar.update(b - a)
        return writer.finalize()
    finally:
        writer.close()
        ds.close()


def _block(ds: PhylawDataset, a: int, b: int) -> RowBlock:
    traj = States(
        scenario=ds.scenario, dt=ds.config.dt, **{n: ds.read(f"states/{n}", a, b) for n in STATE_FIELDS}
    )
    labels = ds.labels_slice(a, b)
    chunks = None
    if ds.frames_stored:
        chunks = tuple(_raw_chunk(ds, i) for i in range(a, b))
    extras = {name: ds.read(f"extras/{name}", a, b) for name in ds.extra_names}
    return RowBlock(
        a, b, ds.read("params", a, b), traj, labels.split, labels.level, labels.index, chunks, extras
    )


def _raw_chunk(ds: PhylawDataset, i: int) -> bytes:
    """The compressed chunk of video i, as stored (no decompress/recompress)."""
    part = int(np.searchsorted(ds._starts, i, side="right")) - 1
    dset = ds._file(part)["frames"]
    mask, data = dset.id.read_direct_chunk((i - int(ds._starts[part]), 0, 0, 0, 0))
    if mask != 0:
        raise PhylawError(f"{ds.paths[part]}: frames chunk {i} has unexpected filters")
    return bytes(data)
