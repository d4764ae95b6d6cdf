"""Experiment plans and running a whole grid: every cell, failures recorded, results gathered into one CSV."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from phylaw.errors import PhylawError
from phylaw.experiments.runner import (
    CellOutcome,
    Pipeline,
    RunOutcome,
    cell_status,
    run_cell,
    write_json_atomic,
)
from phylaw.experiments.spec import RunSpec

log = logging.getLogger(__name__)

# The tidy result table every cell writes (``cell_results.csv``) and the experiment gathers (``results.csv``).
# One row per (cell, split, level, metric). ``floor*`` = the same metric of the parser on ground-truth frames.
RESULT_COLUMNS = (
    "experiment",
    "scale",
    "run_id",
    "scenario",
    "model",
    "data_size",
    "split",
    "level",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "floor",
    "floor_ci_low",
    "floor_ci_high",
    "parse_fail_rate",
    "median",
    "floor_median",
)
# columns added after the first results were written: a results.csv without them reads as NaN
OPTIONAL_RESULT_COLUMNS = ("median", "floor_median")
CELL_RESULTS = "cell_results.csv"


@dataclass(frozen=True)
class ExperimentPlan:
    """The cells of one experiment at one scale."""

    name: str
    scale: str
    cells: tuple[RunSpec, ...]
    description: str = ""

    def cell(self, run_id: str) -> RunSpec:
        for c in self.cells:
            if c.run_id == run_id:
                return c
        known = ", ".join(c.run_id for c in self.cells)
        raise PhylawError(f"no cell {run_id!r} in {self.name} at scale {self.scale}; cells: {known}")

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.name,
            "scale": self.scale,
            "description": self.description,
            "cells": [c.to_json() for c in self.cells],
        }


def check_plan(plan: ExperimentPlan) -> None:
    ids = [c.run_id for c in plan.cells]
    if len(set(ids)) != len(ids):
        raise PhylawError(f"experiment {plan.name} has duplicate cell ids")


def run_experiment(
    plan: ExperimentPlan,
    out: Path,
    pipeline: Pipeline,
    *,
    only: Sequence[str] = (),
    progress: bool = True,
    options: dict[str, Any] | None = None,
) -> RunOutcome:
    """Run every cell of ``plan`` (or only the cells named in ``only``) and write the summary files."""
    check_plan(plan)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan_path = out / "plan.json"
    if plan_path.exists():
        from phylaw.experiments.runner import read_json

        old = read_json(plan_path)
        if (old.get("experiment"), old.get("scale")) != (plan.name, plan.scale):
            raise PhylawError(
                f"{out} holds experiment {old.get('experiment')} at scale {old.get('scale')}, "
                f"not {plan.name} at scale {plan.scale}; choose another --out"
            )
    write_json_atomic(plan_path, plan.to_json())
    cells = [plan.cell(i) for i in only] if only else list(plan.cells)
    outcomes: list[CellOutcome] = []
    bar = tqdm(cells, desc=f"{plan.name}/{plan.scale} cells", unit="cell", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(spec.run_id)
        log.info("cell %s", spec.run_id)
        outcomes.append(run_cell(out, spec, pipeline, progress=progress, options=options))
    write_summary(plan, out)
    return RunOutcome(out, tuple(outcomes))


def gather_results(plan: ExperimentPlan, out: Path) -> pd.DataFrame:
    """Concatenate the ``cell_results.csv`` of every finished cell (missing ones are simply absent)."""
    frames = []
    for spec in plan.cells:
        path = out / "cells" / spec.run_id / CELL_RESULTS
        if path.is_file():
            frames.append(pd.read_csv(path))
    if not frames:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    return with_result_columns(pd.concat(frames, ignore_index=True))


def with_result_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with exactly RESULT_COLUMNS, in order: results written before an optional column existed get it
    as NaN."""
    return df.reindex(columns=list(RESULT_COLUMNS))


def status_table(plan: ExperimentPlan, out: Path) -> pd.DataFrame:
    rows = []
    for spec in plan.cells:
        st = cell_status(out / "cells" / spec.run_id)
        rows.append(
            {
                "run_id": spec.run_id,
                "scenario": spec.scenario,
                "model": spec.model,
                "data_size": spec.data_size,
                "state": st.get("state", "pending"),
                "stages_done": " ".join(st.get("stages_done", [])),
                "error": st.get("error") or "",
            }
        )
    return pd.DataFrame(rows)


def write_summary(plan: ExperimentPlan, out: Path) -> Path:
    """Write ``results.csv``, ``status.csv`` and ``summary.md`` (cell states, errors, headline numbers)."""
    from phylaw.experiments.tables import headline_table, markdown_table

    results = gather_results(plan, out)
    _write_csv(results, out / "results.csv")
    status = status_table(plan, out)
    _write_csv(status, out / "status.csv")
    lines = [f"# {plan.name} ({plan.scale} scale)", ""]
    if plan.description:
        lines += [plan.description, ""]
    counts = status["state"].value_counts().to_dict() if len(status) else {}
    lines += ["Cells: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), ""]
    failed = status[status["state"] == "failed"]
    if len(failed):
        lines += ["## Failed cells", ""]
        lines += [f"- `{r.run_id}`: {r.error}" for r in failed.itertuples()]
        lines += ["", "Run the same command again to retry them (finished stages are kept).", ""]
    if len(results):
        lines += ["## Velocity error", "", markdown_table(headline_table(results)), ""]
    lines += ["## Cells", "", markdown_table(status), ""]
    path = out / "summary.md"
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".partial")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
