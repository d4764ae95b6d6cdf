"""``phylaw migrate``: a directory written under the old ids (every field and the machine's choices hashed) is
renamed so that the current plan finds its cells finished; bad cells are refused before anything is written."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from tests.experiments.conftest import make_plan

from phylaw.cli.main import main
from phylaw.errors import PhylawError
from phylaw.experiments.experiment import CELL_RESULTS, run_experiment
from phylaw.experiments.migrate import legacy_data_id, legacy_run_id, migrate
from phylaw.experiments.runner import Pipeline

MACHINE = (("runtime.threads", 1),)  # what a 2-rank CPU machine put into the old ids


def _old_layout(tmp_path, plan, recorder):
    """Run ``plan`` with the fake stages, then rename everything to the ids the old phylaw gave it."""
    out = tmp_path / "old"
    assert not run_experiment(plan, out, recorder.pipeline(), progress=False).failed
    for spec in plan.cells:
        old = legacy_run_id(spec, MACHINE)
        (out / "cells" / spec.run_id).rename(out / "cells" / old)
        df = pd.read_csv(out / "cells" / old / CELL_RESULTS)
        (out / "cells" / old / CELL_RESULTS).write_text(df.assign(run_id=old).to_csv(index=False))
    for d in {s.train_data for s in plan.cells} | {s.eval_data for s in plan.cells}:
        (out / "data" / d.data_id).rename(out / "data" / legacy_data_id(d))
    (out / "results.csv").unlink()
    return out


def test_migrate_renames_old_cells_so_the_plan_finds_them_finished(tmp_path, plan, recorder):
    out = _old_layout(tmp_path, plan, recorder)
    old_ids = {legacy_run_id(s, MACHINE) for s in plan.cells}
    assert old_ids.isdisjoint(s.run_id for s in plan.cells)  # the ids did change
    recorder.calls.clear()
    with pytest.raises(PhylawError, match=r"older phylaw; run `phylaw migrate .*` first"):
        run_experiment(plan, out, recorder.pipeline(), progress=False)  # not silently trained again
    assert recorder.calls == []
    done = migrate(out, plan)
    assert {new for _, new in done.cells} == {s.run_id for s in plan.cells}
    assert {old for old, _ in done.cells} == old_ids
    assert len(done.data) == 3  # two training grids and the shared evaluation set
    spec = plan.cells[0]
    assert json.loads((out / "cells" / spec.run_id / "runtime.json").read_text())["overrides"] == dict(
        MACHINE
    )
    results = pd.read_csv(out / "results.csv")
    assert set(results["run_id"]) == {s.run_id for s in plan.cells}
    assert migrate(out, plan) == type(done)((), (), ())  # idempotent
    recorder.calls.clear()
    outcome = run_experiment(plan, out, recorder.pipeline(), progress=False)
    assert recorder.calls == []  # no stage runs again, no dataset is rebuilt
    assert {c.state for c in outcome.cells} == {"skipped"}


def test_the_frozen_formula_gives_the_id_the_old_phylaw_gave_the_demo():
    """/tmp/base-demo (phylaw 428c397, the default demo on 2 CPU ranks without native bf16) holds this cell."""
    from phylaw.experiments.demo import DEMO, demo_plan

    (spec,) = demo_plan(DEMO).cells
    assert legacy_run_id(spec, MACHINE) == "uniform_motion-DiTtiny-1024-64478c7d"
    assert legacy_data_id(spec.train_data) == "uniform_motion-demotrain-64px-ce251f5d"
    assert legacy_data_id(spec.eval_data) == "uniform_motion-eval-64px-d6076935"


def test_migrate_command_on_a_demo_directory_and_bad_input(tmp_path, capsys, monkeypatch):
    from phylaw.experiments import demo as demo_mod
    from phylaw.experiments.demo import SMOKE, config_json, demo_plan

    monkeypatch.setattr(demo_mod, "train_procs", lambda cfg: 2)  # the old id held runtime.threads=1
    (spec,) = demo_plan(SMOKE).cells
    out = tmp_path / "demo"
    (out / "cells" / legacy_run_id(spec, MACHINE) / ".done").mkdir(parents=True)
    (out / "demo_config.json").write_text(json.dumps(config_json(SMOKE)))
    before = sorted(p.name for p in out.rglob("*"))
    assert main(["demo", "--out", str(out), "--smoke", "--no-progress"]) == 2
    assert "run `phylaw migrate" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == before  # nothing written
    assert main(["migrate", str(out)]) == 0
    assert f"cell: {legacy_run_id(spec, MACHINE)} -> {spec.run_id}" in capsys.readouterr().out
    assert (out / "cells" / spec.run_id / ".done").is_dir()
    assert main(["migrate", str(out)]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
    assert main(["migrate", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ")
    assert "not a phylaw demo or reproduction directory" in err
    assert "\n" not in err


def test_a_cell_with_an_unknown_factor_or_override_key_is_refused_before_anything_runs(tmp_path, recorder):
    from phylaw.experiments.stages import check_cell

    base = make_plan()
    bad_factor = dataclasses.replace(base.cells[0], factors=(("scenario", "x"), ("model", "m"), ("gap", 1)))
    plan = dataclasses.replace(base, cells=(bad_factor, *base.cells[1:]))
    with pytest.raises(PhylawError, match="unknown factor 'gap'") as exc:
        run_experiment(plan, tmp_path / "a", recorder.pipeline(), progress=False)
    assert "\n" not in str(exc.value)
    cell = base.cells[1]
    bad_key = dataclasses.replace(
        cell, train=dataclasses.replace(cell.train, overrides=(("optim.lrr", 1e-3),))
    )
    plan = dataclasses.replace(base, cells=(*base.cells[:1], bad_key))
    pipeline = Pipeline(recorder.pipeline().data, recorder.pipeline().cell, check=check_cell)
    with pytest.raises(PhylawError, match=r"unknown config key 'optim\.lrr'"):
        run_experiment(plan, tmp_path / "b", pipeline, progress=False)
    assert recorder.calls == []
    assert not (tmp_path / "a").exists()  # nothing written
    assert not (tmp_path / "b").exists()
