"""Experiment plans and running a whole grid: every cell, failures recorded, results gathered into one CSV."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from phylaw.errors import PhylawError
from phylaw.evaluate.registry import HEADLINE
from phylaw.experiments.runner import CellOutcome, Pipeline, RunOutcome, cell_status, run_cell
from phylaw.experiments.spec import RunSpec
from phylaw.io import read_json, write_csv, write_json, write_text

log = logging.getLogger(__name__)

# The tidy result table every cell writes (``cell_results.csv``) and the experiment gathers (``results.csv``):
# id columns, the experiment's factor columns (any names: scenario, model, data_size, gap, ...), then one row
# per (split, level, metric) with the metric columns. ``floor*`` = the same metric of the parser on
# ground-truth frames (over the same videos where the evaluator says so: ``floor_n``).
ID_COLUMNS = ("experiment", "scale", "run_id")
KEY_COLUMNS = ("split", "level", "metric")
METRIC_COLUMNS = (
    "value", "ci_low", "ci_high", "n", "floor", "floor_ci_low", "floor_ci_high", "parse_fail_rate", "median",
    "floor_median", "n_videos", "floor_n", "kind",
)  # fmt: skip
FIG3_FACTORS = ("scenario", "model", "data_size")  # also the factors of a results.csv without factor columns
# metric columns added after the first results were written: an older results.csv without them reads as NaN
OPTIONAL_RESULT_COLUMNS = ("median", "floor_median", "n_videos", "floor_n", "kind")
CELL_RESULTS = "cell_results.csv"


def result_columns(factors: Sequence[str] = FIG3_FACTORS) -> tuple[str, ...]:
    """The columns of a results table whose cells are told apart by ``factors``."""
    return (*ID_COLUMNS, *factors, *KEY_COLUMNS, *METRIC_COLUMNS)


RESULT_COLUMNS = result_columns()  # the layout of Fig. 3 and the demo


def factor_columns(df: pd.DataFrame) -> tuple[str, ...]:
    """The factor columns of a results table: every column that is not an id, key or metric column."""
    known = {*ID_COLUMNS, *KEY_COLUMNS, *METRIC_COLUMNS}
    return tuple(c for c in df.columns if c not in known)


@dataclass(frozen=True)
class ExperimentPlan:
    """The cells of one experiment at one scale; ``factors`` names the result columns that tell cells apart
    (every cell gives a value for each, :attr:`RunSpec.factor_values`)."""

    name: str
    scale: str
    cells: tuple[RunSpec, ...]
    description: str = ""
    factors: tuple[str, ...] = FIG3_FACTORS

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
            "factors": list(self.factors),
            "cells": [c.to_json() for c in self.cells],
        }


@dataclass(frozen=True)
class ReportSection:
    """What an experiment's report shows: a table of ``metric`` by its factors (ID/OOD, floor, n per level)
    and the figures named here (``phylaw.experiments.plots.FIGURES``)."""

    title: str = "Velocity error"
    metric: str = HEADLINE
    figures: tuple[str, ...] = ("scaling", "training_curves", "error_distribution")


@dataclass(frozen=True)
class Experiment:
    """A declared experiment: its factors, its cells at a scale, its stages and its report section.

    plan:     scale -> :class:`ExperimentPlan` (cells with a value for every factor)
    pipeline: ``LaunchOptions`` -> the :class:`Pipeline` of its stages
    """

    name: str
    factors: tuple[str, ...]
    plan: Callable[[str], ExperimentPlan]
    pipeline: Callable[[Any], Pipeline]
    report: ReportSection = ReportSection()


def check_plan(plan: ExperimentPlan, check: Callable[[RunSpec], None] | None = None) -> None:
    """One-line PhylawError before anything runs: duplicate ids, a cell whose factors are not the plan's,
    or a cell ``check`` rejects (the pipeline's: e.g. an unknown training-config key)."""
    ids = [c.run_id for c in plan.cells]
    if len(set(ids)) != len(ids):
        raise PhylawError(f"experiment {plan.name} has duplicate cell ids")
    for c in plan.cells:
        names = tuple(c.factor_values)
        if set(names) != set(plan.factors):
            extra = sorted(set(names) - set(plan.factors))
            what = (
                f"unknown factor {extra[0]!r}"
                if extra
                else f"no value for factor {sorted(set(plan.factors) - set(names))[0]!r}"
            )
            raise PhylawError(f"cell {c.run_id} of {plan.name}: {what} (factors: {', '.join(plan.factors)})")
        if check is not None:
            check(c)


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
    from phylaw.experiments.migrate import check_not_legacy

    check_plan(plan, pipeline.check)
    out = Path(out)
    check_not_legacy(out, plan)
    plan_path = out / "plan.json"
    if plan_path.exists():
        old = read_json(plan_path)
        if (old.get("experiment"), old.get("scale")) != (plan.name, plan.scale):
            raise PhylawError(
                f"{out} holds experiment {old.get('experiment')} at scale {old.get('scale')}, "
                f"not {plan.name} at scale {plan.scale}; choose another --out"
            )
    write_json(plan_path, plan.to_json())
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
        return pd.DataFrame(columns=list(result_columns(plan.factors)))
    return with_result_columns(pd.concat(frames, ignore_index=True), plan.factors)


def with_result_columns(df: pd.DataFrame, factors: Sequence[str] | None = None) -> pd.DataFrame:
    """``df`` with exactly the result columns of ``factors`` (default: its own factor columns), in order:
    results written before an optional column existed get it as NaN."""
    return df.reindex(columns=list(result_columns(factor_columns(df) if factors is None else factors)))


def status_table(plan: ExperimentPlan, out: Path) -> pd.DataFrame:
    rows = []
    for spec in plan.cells:
        st = cell_status(out / "cells" / spec.run_id)
        rows.append(
            {
                "run_id": spec.run_id,
                **spec.factor_values,
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
    write_csv(out / "results.csv", results, float_format=None)
    status = status_table(plan, out)
    write_csv(out / "status.csv", status, float_format=None)
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
        lines += ["## Velocity error", "", markdown_table(headline_table(results, factors=plan.factors)), ""]
    lines += ["## Cells", "", markdown_table(status), ""]
    return write_text(out / "summary.md", "\n".join(lines))
