"""Two processes under torchrun (gloo, CPU) match one process: training on the same global batch, sampling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from phylaw.config import load_config
from phylaw.train.checkpoint import load_checkpoint
from phylaw.train.logger import read_metrics
from phylaw.train.sampling import sample_dataset
from phylaw.train.trainer import train_dit

from .conftest import micro_overrides

WORKER = Path(__file__).with_name("ddp_worker.py")


def torchrun(*args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(WORKER),
        *args,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_process_torchrun_matches_single_process(tiny_data, tmp_path):
    sets = [*micro_overrides(tiny_data), "optim.micro_batch_size=2", "schedule.steps=4"]
    single = train_dit(load_config("cpu-tiny", sets), tmp_path / "single", progress=False)
    torchrun("train", str(tmp_path / "ddp"), *sets)
    a, b = read_metrics(single), read_metrics(tmp_path / "ddp")
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert abs(ra["loss"] - rb["loss"]) < 1e-5 * max(1.0, abs(ra["loss"]))
    sa, sb = load_checkpoint(single), load_checkpoint(tmp_path / "ddp")
    for name, tensor in sa["ema"].items():
        torch.testing.assert_close(sb["ema"][name], tensor, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("limit", [5, 1])  # 1: rank 1 gets no rows
def test_two_process_sampling_matches_single_process(tiny_data, tmp_path, limit):
    run = train_dit(
        load_config("cpu-tiny", [*micro_overrides(tiny_data), "schedule.steps=2"]),
        tmp_path / "run",
        progress=False,
    )
    single = sample_dataset(
        run, tiny_data, tmp_path / "one.h5", steps=2, limit=limit, batch_size=2, progress=False
    )
    torchrun("sample", str(run), str(tiny_data), str(tmp_path / "two.h5"), str(limit))
    assert sorted(p.name for p in tmp_path.glob("two.h5*")) == ["two.h5"]  # part files merged and removed
    with h5py.File(single, "r") as a, h5py.File(tmp_path / "two.h5", "r") as b:
        assert b.attrs["complete"]
        assert b["index"][:].tolist() == a["index"][:].tolist()
        assert b["done"][:].all()
        diff = np.abs(a["frames"][:].astype(int) - b["frames"][:].astype(int))
        assert diff.max() <= 1


def test_unknown_device_name_is_a_one_line_error():
    from phylaw.errors import PhylawError
    from phylaw.train.distributed import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(PhylawError, match="not a torch device"):  # was torch's RuntimeError (a traceback)
        resolve_device("foo")
