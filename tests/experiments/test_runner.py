"""The runner: stage markers, skip/resume after interrupts, failed cells recorded, shared datasets."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests.experiments.conftest import cell_dir

from phylaw.errors import PhylawError
from phylaw.experiments.experiment import run_experiment
from phylaw.experiments.registry import get_plan

STAGES = ["train", "sample", "evaluate", "collect"]


def test_all_cells_run_once_and_rerun_skips_everything(tmp_path, plan, recorder):
    outcome = run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    assert [c.state for c in outcome.cells] == ["done"] * 4
    for spec in plan.cells:
        assert recorder.cell_calls(spec.run_id) == STAGES
        status = json.loads((cell_dir(tmp_path, spec.run_id) / "status.json").read_text())
        assert status["state"] == "done"
        assert status["stages_done"] == ["data", *STAGES]
    # datasets are shared: 2 training sets (two sizes) + 1 evaluation set, each built once
    assert sorted(k for k, _ in recorder.calls).count("data") == 3
    first = list(recorder.calls)
    outcome = run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    assert recorder.calls == first  # nothing ran again
    assert [c.state for c in outcome.cells] == ["skipped"] * 4
    results = pd.read_csv(tmp_path / "results.csv")
    assert set(results["run_id"]) == {c.run_id for c in plan.cells}


def test_interrupt_midway_then_rerun_finishes_without_redoing(tmp_path, plan, recorder):
    victim = plan.cells[1].run_id
    recorder.interrupt.add(("sample", victim))
    with pytest.raises(KeyboardInterrupt):
        run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    status = json.loads((cell_dir(tmp_path, victim) / "status.json").read_text())
    assert status["state"] == "interrupted"
    assert status["stages_done"] == ["data", "train"]
    assert (cell_dir(tmp_path, victim) / "sample.partial").exists()  # the stage's own partial output
    assert not (cell_dir(tmp_path, victim) / "sample.out").exists()
    before = list(recorder.calls)
    run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    again = recorder.calls[len(before) :]
    # cell 0 finished before the interrupt: not touched; the victim resumes at "sample"
    assert all(r != plan.cells[0].run_id for _, r in again)
    assert [s for s, r in again if r == victim] == ["sample", "evaluate", "collect"]
    for spec in plan.cells:
        assert json.loads((cell_dir(tmp_path, spec.run_id) / "status.json").read_text())["state"] == "done"
    assert (cell_dir(tmp_path, victim) / "sample.out").exists()


def test_failed_cell_is_recorded_and_others_complete(tmp_path, plan, recorder):
    bad = plan.cells[2].run_id
    recorder.fail.add(("evaluate", bad))
    outcome = run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    states = {c.run_id: c.state for c in outcome.cells}
    assert states[bad] == "failed"
    assert sum(s == "done" for s in states.values()) == 3
    status = json.loads((cell_dir(tmp_path, bad) / "status.json").read_text())
    assert status["state"] == "failed"
    assert status["error"] == "RuntimeError: boom in evaluate"
    assert "Traceback" in (cell_dir(tmp_path, bad) / "error.txt").read_text()
    summary = (tmp_path / "summary.md").read_text()
    assert "## Failed cells" in summary
    assert bad in summary
    assert "boom in evaluate" in summary
    table = pd.read_csv(tmp_path / "status.csv")
    assert table.set_index("run_id").loc[bad, "state"] == "failed"
    assert bad not in set(pd.read_csv(tmp_path / "results.csv")["run_id"])
    # fixed: the rerun retries only the failed cell, from the failed stage on
    recorder.fail.clear()
    before = len(recorder.calls)
    outcome = run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    assert recorder.calls[before:] == [("evaluate", bad), ("collect", bad)]
    assert "Failed cells" not in (tmp_path / "summary.md").read_text()


def test_only_selected_cells_run(tmp_path, plan, recorder):
    chosen = plan.cells[3].run_id
    run_experiment(plan, tmp_path, recorder.pipeline(), only=[chosen], progress=False)
    assert {r for _, r in recorder.calls if not r.startswith("uniform_motion-")} == set()
    assert {r for s, r in recorder.calls if s != "data"} == {chosen}
    with pytest.raises(PhylawError, match="no cell 'nope'"):
        run_experiment(plan, tmp_path, recorder.pipeline(), only=["nope"], progress=False)


def test_out_dir_of_another_experiment_is_refused(tmp_path, plan, recorder):
    run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    with pytest.raises(PhylawError, match="choose another --out"):
        run_experiment(get_plan("fig3", "tiny"), tmp_path, recorder.pipeline(), progress=False)


def test_gather_reads_cell_results_written_before_the_median_columns(tmp_path):
    """A cell collected by an older phylaw (no median columns) still gathers, with NaN medians."""
    from tests.experiments.conftest import fake_results, make_plan

    from phylaw.experiments.experiment import CELL_RESULTS, gather_results

    plan = make_plan()
    cell = tmp_path / "cells" / plan.cells[0].run_id
    cell.mkdir(parents=True)
    fake_results(plan.cells[0]).drop(columns=["median", "floor_median"]).to_csv(
        cell / CELL_RESULTS, index=False
    )
    res = gather_results(plan, tmp_path)
    assert len(res) == 5
    assert res["median"].isna().all()
    assert res["value"].notna().all()
