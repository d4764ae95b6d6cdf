"""The idempotent experiment runner: datasets, then cells, each a sequence of resumable stages.

Layout under the output directory ``OUT``::

    OUT/plan.json                      the experiment plan (every cell's resolved spec)
    OUT/data/<data_id>/                one directory per dataset, shared by every cell that uses it
    OUT/cells/<run_id>/cell.json       the cell's spec
    OUT/cells/<run_id>/status.json     state ("pending" | "running" | "done" | "failed" | "interrupted"),
                                       finished stages, the error of a failed stage
    OUT/cells/<run_id>/.done/<stage>.json   completion marker of each stage (written last, atomically)
    OUT/cells/<run_id>/runtime.json    how this machine trained it (ranks, device, CPU bf16): not its identity
    OUT/results.csv, OUT/summary.md    tidy results of all finished cells, and a summary with failures

A stage is skipped when its marker exists. A stage that is interrupted (KeyboardInterrupt, a killed process)
leaves no marker and is run again, resuming from whatever its own files hold (training checkpoints, partially
written sample files). A stage that raises any other exception marks its cell ``failed`` with the error and
the runner goes on with the next cell; running the same command again retries failed cells.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phylaw.experiments.spec import DataSpec, RunSpec
from phylaw.io import read_json, write_json, write_text

log = logging.getLogger(__name__)

MARKER_DIR = ".done"


@dataclass(frozen=True)
class CellContext:
    """Everything a cell stage needs: the spec, its directory, the dataset directories and options."""

    spec: RunSpec
    cell_dir: Path
    train_data_dir: Path
    eval_data_dir: Path
    progress: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        return self.cell_dir.joinpath(*parts)


@dataclass(frozen=True)
class DataContext:
    spec: DataSpec
    data_dir: Path
    progress: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """A named step. ``fn`` does the work and may return a JSON-able dict that is stored in the marker."""

    name: str
    fn: Callable[[Any], dict[str, Any] | None]


@dataclass(frozen=True)
class Pipeline:
    """How to build a dataset and which stages make up a cell; ``check`` validates a cell before anything
    runs (one-line PhylawError, e.g. an unknown training-config key)."""

    data: Stage
    cell: tuple[Stage, ...]
    check: Callable[[RunSpec], None] | None = None


@dataclass(frozen=True)
class CellOutcome:
    run_id: str
    state: str  # "done" | "failed" | "skipped" (all stages were already done)
    error: str | None = None
    ran: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunOutcome:
    out: Path
    cells: tuple[CellOutcome, ...]

    @property
    def failed(self) -> tuple[CellOutcome, ...]:
        return tuple(c for c in self.cells if c.state == "failed")


def marker_path(directory: Path, stage: str) -> Path:
    return directory / MARKER_DIR / f"{stage}.json"


def is_done(directory: Path, stage: str) -> bool:
    return marker_path(directory, stage).is_file()


def run_stage(directory: Path, stage: Stage, ctx: Any) -> bool:
    """Run one stage unless its marker exists. Returns True when it ran."""
    if is_done(directory, stage.name):
        log.info("  %s: done already, skipped", stage.name)
        return False
    log.info("  %s: running", stage.name)
    t0 = time.perf_counter()
    info = stage.fn(ctx) or {}
    info = {"stage": stage.name, "seconds": round(time.perf_counter() - t0, 3), **info}
    write_json(marker_path(directory, stage.name), info)
    return True


def ensure_data(out: Path, spec: DataSpec, stage: Stage, *, progress: bool, options: dict[str, Any]) -> Path:
    """The dataset directory for ``spec``, built once and shared by every cell that uses it."""
    data_dir = out / "data" / spec.data_id
    data_dir.mkdir(parents=True, exist_ok=True)
    spec_path = data_dir / "data_spec.json"
    if not spec_path.exists():
        from dataclasses import asdict

        write_json(spec_path, {"data_id": spec.data_id, **asdict(spec)})
    run_stage(data_dir, stage, DataContext(spec, data_dir, progress, options))
    return data_dir


def _status(cell_dir: Path, stages: Sequence[Stage], state: str, error: str | None = None) -> dict[str, Any]:
    done = [s.name for s in stages if is_done(cell_dir, s.name)]
    status = {"state": state, "stages_done": done, "stages": [s.name for s in stages], "error": error}
    status["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_json(cell_dir / "status.json", status)
    return status


def run_cell(
    out: Path,
    spec: RunSpec,
    pipeline: Pipeline,
    *,
    progress: bool = False,
    options: dict[str, Any] | None = None,
) -> CellOutcome:
    """Run the stages of one cell (datasets first), recording the outcome in ``status.json``."""
    options = dict(options or {})
    cell_dir = out / "cells" / spec.run_id
    cell_dir.mkdir(parents=True, exist_ok=True)
    if not (cell_dir / "cell.json").exists():
        write_json(cell_dir / "cell.json", spec.to_json())
    stages = (Stage("data", pipeline.data.fn), *pipeline.cell)
    if all(is_done(cell_dir, s.name) for s in stages):
        _status(cell_dir, stages, "done")
        return CellOutcome(spec.run_id, "skipped")
    _status(cell_dir, stages, "running")
    ran: list[str] = []
    try:
        train_dir = ensure_data(out, spec.train_data, pipeline.data, progress=progress, options=options)
        eval_dir = ensure_data(out, spec.eval_data, pipeline.data, progress=progress, options=options)
        if not is_done(cell_dir, "data"):
            write_json(
                marker_path(cell_dir, "data"),
                {"stage": "data", "train": str(train_dir), "eval": str(eval_dir)},
            )
        ctx = CellContext(spec, cell_dir, train_dir, eval_dir, progress, options)
        for stage in pipeline.cell:
            if run_stage(cell_dir, stage, ctx):
                ran.append(stage.name)
    except KeyboardInterrupt:
        _status(cell_dir, stages, "interrupted")
        raise
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        write_text(cell_dir / "error.txt", traceback.format_exc())
        _status(cell_dir, stages, "failed", message)
        log.error("cell %s failed: %s", spec.run_id, message)
        return CellOutcome(spec.run_id, "failed", message, tuple(ran))
    _status(cell_dir, stages, "done")
    return CellOutcome(spec.run_id, "done", None, tuple(ran))


def cell_status(cell_dir: Path) -> dict[str, Any]:
    path = cell_dir / "status.json"
    if not path.is_file():
        return {"state": "pending", "stages_done": [], "error": None}
    return read_json(path)
