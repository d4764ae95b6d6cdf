"""The sample-file module (datasets/samples.py): writer and reader agree, resume, parts merge, bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from phylaw.datasets.samples import SampleWriter, finish, is_finished, open_samples, part_path
from phylaw.errors import PhylawError

ATTRS = {
    "format": "phylaw-samples", "format_version": 1, "dataset_fingerprint": "fp", "checkpoint": "c.pt",
    "steps": 4, "seed": 0, "n_frames": 3, "resolution": 4, "cond_frames": 1, "condition": "reimpose",
}  # fmt: skip


def _videos(n: int, start: int = 0) -> np.ndarray:
    return (np.arange(start, start + n)[:, None, None, None, None] * np.ones((1, 3, 4, 4, 3))).astype(
        np.uint8
    )


def test_written_rows_read_back_and_resume_skips_done_rows(tmp_path):
    out, index = tmp_path / "s.h5", np.array([7, 2, 5])
    with SampleWriter(part_path(out, 0, 1), ATTRS, index, 3, 4) as w:
        w.write(np.array([0, 2]), _videos(2, 10))
    with SampleWriter(part_path(out, 0, 1), ATTRS, index, 3, 4) as w:  # resumed: row 1 left
        assert w.todo().tolist() == [1]
        w.write(w.todo(), _videos(1, 20))
    with pytest.raises(PhylawError, match="other settings"):
        SampleWriter(part_path(out, 0, 1), {**ATTRS, "condition": "free"}, index, 3, 4)
    finish(out, ATTRS, index, 1, 3, 4)
    assert not part_path(out, 0, 1).exists()
    assert is_finished(out, ATTRS, index)
    with pytest.raises(PhylawError, match="other settings"):
        is_finished(out, {**ATTRS, "steps": 5}, index)
    with open_samples(out) as s:
        assert s.complete
        assert s.condition == "reimpose"
        assert s.index.tolist() == [7, 2, 5]
        assert s.done.all()
        assert [int(s.frames(r)[0, 0, 0, 0]) for r in range(3)] == [10, 20, 11]


def test_rank_parts_merge_in_index_order(tmp_path):
    out, index, world = tmp_path / "s.h5", np.arange(5) * 10, 2
    for r in range(world):
        rows = np.arange(r, 5, world)
        with SampleWriter(part_path(out, r, world), ATTRS, index[rows], 3, 4) as w:
            w.write(np.arange(len(rows)), _videos(len(rows), 100 + 10 * r))
    finish(out, ATTRS, index, world, 3, 4)
    assert not list(tmp_path.glob("*.partial"))
    with open_samples(out) as s:
        assert [int(s.frames(r)[0, 0, 0, 0]) for r in range(5)] == [100, 110, 101, 111, 102]


def test_file_without_condition_attr_reads_as_free(tmp_path):
    out, index = tmp_path / "old.h5", np.array([0])
    old = {k: v for k, v in ATTRS.items() if k != "condition"}
    with SampleWriter(part_path(out, 0, 1), old, index, 3, 4) as w:
        w.write(np.array([0]), _videos(1))
    finish(out, old, index, 1, 3, 4)
    with open_samples(out) as s:
        assert "condition" not in s.attrs
        assert s.condition == "free"
    assert is_finished(out, {**ATTRS, "condition": "free"}, index)
    with pytest.raises(PhylawError, match="other settings"):
        is_finished(out, ATTRS, index)


def test_bad_sample_files_are_one_line_errors(tmp_path):
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(PhylawError, match="not a readable HDF5"):
        open_samples(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "phylaw-dataset"
    with pytest.raises(PhylawError, match="not a phylaw sample file"):
        open_samples(tmp_path / "other.h5")
    with h5py.File(tmp_path / "v2.h5", "w") as f:
        f.attrs.update({"format": "phylaw-samples", "format_version": 2})
    with pytest.raises(PhylawError, match="format_version 2"):
        open_samples(tmp_path / "v2.h5")
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        f.attrs.update({"format": "phylaw-samples", "format_version": 1})
        f["index"], f["done"] = np.arange(2), np.ones(3, bool)
        f["frames"] = np.zeros((2, 1, 2, 2, 3), np.uint8)
    with pytest.raises(PhylawError, match="row counts differ"):
        open_samples(tmp_path / "rows.h5")
