"""Fake plans and pipelines for the experiment runner tests (no training, no data generation), and the fake
models of the study / attribute / composition cell tests (``write_samples``, ``ground_truth_samples``,
``fake_pipeline``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phylaw.experiments.experiment import CELL_RESULTS, RESULT_COLUMNS, ExperimentPlan
from phylaw.experiments.runner import CellContext, DataContext, Pipeline, Stage
from phylaw.experiments.spec import DataSpec, RunSpec, TrainSpec


def make_plan(n_models: int = 2, sizes: tuple[int, ...] = (1000, 4000)) -> ExperimentPlan:
    cells = []
    evald = DataSpec("uniform_motion", "eval-small", resolution=16, n_frames=8)
    for m in range(n_models):
        for n in sizes:
            train = DataSpec(
                "uniform_motion",
                f"tiny-{n}",
                resolution=16,
                n_frames=8,
                grid=(("r", 0.7, 1.5, 2), ("v", 1.0, 4.0, n // 1000)),
            )
            ts = TrainSpec(model=f"M{m}", steps=10, batch_size=2)
            cells.append(RunSpec("fake", "tiny", "uniform_motion", n, train, evald, ts))
    return ExperimentPlan("fake", "tiny", tuple(cells))


class Recorder:
    """Stage functions that log their calls and can be told to fail or be interrupted."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail: set[tuple[str, str]] = set()  # (stage, run_id) -> RuntimeError
        self.interrupt: set[tuple[str, str]] = set()  # (stage, run_id) -> KeyboardInterrupt midway

    def data(self, ctx: DataContext) -> dict:
        self.calls.append(("data", ctx.spec.data_id))
        (ctx.data_dir / "data.h5").write_text("x")
        return {}

    def stage(self, name: str):
        def fn(ctx: CellContext) -> dict:
            key = (name, ctx.spec.run_id)
            self.calls.append(key)
            partial = ctx.path(f"{name}.partial")
            partial.write_text("half")  # work in progress, as a real stage would leave it
            if key in self.interrupt:
                self.interrupt.discard(key)
                raise KeyboardInterrupt
            if key in self.fail:
                raise RuntimeError(f"boom in {name}")
            partial.replace(ctx.path(f"{name}.out"))
            if name == "collect":
                fake_results(ctx.spec).to_csv(ctx.path(CELL_RESULTS), index=False)
            return {}

        return fn

    def pipeline(self) -> Pipeline:
        names = ("train", "sample", "evaluate", "collect")
        return Pipeline(Stage("data", self.data), tuple(Stage(n, self.stage(n)) for n in names))

    def cell_calls(self, run_id: str) -> list[str]:
        return [s for s, r in self.calls if r == run_id]


def fake_results(spec: RunSpec, id_err: float = 0.02, ood_err: float = 0.4) -> pd.DataFrame:
    rows = []
    scale = 1.0 + 1000.0 / spec.data_size
    for split, level, value in (("id", "id", id_err), ("id", "pooled", id_err), ("ood", "v_ood", ood_err),
                                ("ood", "r_ood", ood_err / 2), ("ood", "pooled", ood_err * 0.75)):  # fmt: skip
        v = value * scale
        rows.append({
            "experiment": spec.experiment, "scale": spec.scale, "run_id": spec.run_id, "scenario": spec.scenario,
            "model": spec.model, "data_size": spec.data_size, "split": split, "level": level,
            "metric": "velocity_error", "value": v, "ci_low": v * 0.9, "ci_high": v * 1.1, "n": 50,
            "floor": 0.01, "floor_ci_low": 0.009, "floor_ci_high": 0.011, "parse_fail_rate": 0.0,
            "median": v * (0.5 if split == "ood" else 1.0), "floor_median": 0.01,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def plan() -> ExperimentPlan:
    return make_plan()


def cell_dir(out: Path, run_id: str) -> Path:
    return out / "cells" / run_id


# ----------------------------------------------------------------------------------------------- fake models
def write_samples(path: Path, data: Path, index: np.ndarray, frames: np.ndarray) -> Path:
    """A phylaw sample file holding ``frames`` (n, T, H, W, 3) for dataset rows ``index`` (a fake model)."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import SampleWriter, finish, part_path

    with open_dataset(data) as ds:
        fp = ds.fingerprint
    t, res = frames.shape[1], frames.shape[2]
    attrs = {"format": "phylaw-samples", "format_version": 1, "dataset_fingerprint": fp, "cond_frames": 3,
             "n_frames": t, "resolution": res, "checkpoint": "fake", "steps": 1, "seed": 0, "condition": "reimpose"}  # fmt: skip
    with SampleWriter(part_path(path, 0, 1), attrs, index, t, res) as w:
        w.write(np.arange(len(index)), frames)
    return finish(path, attrs, index, 1, t, res)


def ground_truth_samples(ctx: CellContext) -> dict:
    """A sample stage of a 'model' that continues every condition exactly as the simulator does: its samples
    are the ground-truth frames of the evaluation rows."""
    from phylaw.datasets import open_dataset
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    data = ctx.eval_data_dir / DATA_FILE
    with open_dataset(data) as ds:
        idx = np.arange(len(ds))
        frames = np.stack([ds.frames(i) for i in idx])
    write_samples(ctx.path(SAMPLES_FILE), data, idx, frames)
    return {}


def fake_pipeline(
    real: Pipeline, calls: list[str], sample: Callable[[CellContext], dict] = ground_truth_samples
) -> Pipeline:
    """``real`` with no training and ``sample`` as its sample stage; every cell stage's name is appended to
    ``calls`` when it runs."""

    def counted(stage: Stage) -> Stage:
        def fn(ctx):
            calls.append(stage.name)
            return stage.fn(ctx)

        return Stage(stage.name, fn)

    stages = {s.name: s for s in real.cell}
    stages["train"] = Stage("train", lambda ctx: {})
    stages["sample"] = Stage("sample", sample)
    return Pipeline(real.data, tuple(counted(stages[s.name]) for s in real.cell), check=real.check)


def smallest_cell(c: RunSpec, resolution: int, n_frames: int, n_train: int = 40, n_eval: int = 8) -> RunSpec:
    """Cell ``c`` with real training cut to a few steps (3 DiT, 3 VAE), ``n_train`` training videos and
    ``n_eval`` evaluation videos per split (id, ood) at ``resolution`` px and ``n_frames`` frames; a shared
    VAE's data (``vae_data``) is cut like the training data."""
    small = {"resolution": resolution, "n_frames": n_frames}
    train = dataclasses.replace(c.train, steps=3, batch_size=4, vae_steps=3, vae_batch_size=2, warmup=0,
                                overrides=(("optim.micro_batch_size", 4),))  # fmt: skip
    return dataclasses.replace(
        c, train=train, sample_steps=2, sample_batch_size=16,
        train_data=dataclasses.replace(c.train_data, limit=n_train, **small),
        eval_data=dataclasses.replace(c.eval_data, per_split=(("id", n_eval), ("ood", n_eval)), **small),
        vae_data=dataclasses.replace(c.vae_data, limit=n_train, **small) if c.vae_data else None,
    )  # fmt: skip


def listed_plan(name: str, scale: str, n_cells: int) -> ExperimentPlan:
    """The registered plan of experiment ``name`` at ``scale``, checked to hold ``n_cells`` cells with
    distinct ids."""
    from phylaw.experiments.registry import EXPERIMENTS, get_plan

    assert name in EXPERIMENTS
    plan = get_plan(name, scale)
    assert len(plan.cells) == n_cells
    assert len({c.run_id for c in plan.cells}) == n_cells
    return plan


def assert_lists_cells_and_writes_nothing(tmp_path: Path, capsys, counts: dict[str, int]) -> None:
    """``phylaw reproduce NAME --scale tiny --list-cells`` prints one command per cell (``counts[NAME]``) and
    writes nothing."""
    from phylaw.cli.main import main

    for name, n in counts.items():
        assert (
            main(["reproduce", name, "--scale", "tiny", "--out", str(tmp_path / name), "--list-cells"]) == 0
        )
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == n
        assert all(line.startswith(f"phylaw reproduce {name} --scale tiny") for line in lines)
    assert not any(tmp_path.iterdir())


def assert_rerun_skips_everything(
    plan: ExperimentPlan, out: Path, pipeline: Callable[[list[str]], Pipeline]
) -> None:
    """A second run of a finished ``plan`` in ``out`` runs no stage and leaves ``results.csv`` byte-identical;
    ``pipeline(calls)`` builds the pipeline that records the stages it runs."""
    from phylaw.experiments.experiment import run_experiment

    first = (out / "results.csv").read_bytes()
    calls: list[str] = []
    again = run_experiment(plan, out, pipeline(calls), progress=False)
    assert calls == []
    assert [c.state for c in again.cells] == ["skipped"] * len(plan.cells)
    assert (out / "results.csv").read_bytes() == first
