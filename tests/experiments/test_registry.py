"""The experiment registry: every scale of fig3 enumerates the expected cells with unique, stable ids."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from phylaw.errors import PhylawError
from phylaw.experiments.fig3 import SCENARIOS
from phylaw.experiments.registry import EXPERIMENTS, get_plan
from phylaw.experiments.spec import size_label


def _grid(plan):
    return Counter((c.scenario, c.model, c.data_size) for c in plan.cells)


def test_fig3_paper_grid():
    plan = get_plan("fig3", "paper")
    expected = {
        (s, m, n)
        for s in SCENARIOS
        for m in ("DiT-S", "DiT-B", "DiT-L")
        for n in (30_000, 300_000, 3_000_000)
    }
    expected.add(("uniform_motion", "DiT-XL", 3_000_000))
    grid = _grid(plan)
    assert set(grid) == expected
    assert max(grid.values()) == 1
    assert len(plan.cells) == 28
    assert all(c.train.steps == 100_000 and c.train.batch_size == 256 for c in plan.cells)
    assert all(
        c.distributed and c.train_data.resolution == 128 and c.train_data.n_frames == 32 for c in plan.cells
    )
    assert {c.train_data.data_id for c in plan.cells}.__len__() == 9  # data shared across models
    assert {c.eval_data.data_id for c in plan.cells}.__len__() == 3


@pytest.mark.parametrize(("scale", "n_cells"), [("tiny", 12), ("small", 12), ("paper", 28)])
def test_every_scale_has_unique_readable_ids(scale, n_cells):
    plan = get_plan("fig3", scale)
    ids = [c.run_id for c in plan.cells]
    assert len(ids) == n_cells == len(set(ids))
    for c in plan.cells:
        assert c.run_id.startswith(f"{c.scenario}-")
        assert size_label(c.data_size) in c.run_id
    assert {c.scenario for c in plan.cells} == set(SCENARIOS)
    assert len({c.model for c in plan.cells}) >= 2
    assert len({c.data_size for c in plan.cells}) >= 2


def test_tiny_grids_have_their_nominal_sizes():
    for c in get_plan("fig3", "tiny").cells:
        assert c.train_data.size is not None
        assert 0.7 * c.data_size <= c.train_data.size <= 1.3 * c.data_size


def test_the_frozen_legacy_formula_gives_the_old_tiny_ids():
    """The README's tiny Fig. 3 table was measured in cells under these ids (every field hashed, before
    issue 11); ``phylaw migrate`` finds them with the frozen copy of that formula."""
    from phylaw.experiments.migrate import legacy_run_id

    assert sorted(legacy_run_id(c) for c in get_plan("fig3", "tiny").cells) == [
        "collision-DiTmicro-2K-bec30573",
        "collision-DiTmicro-500-09ab7640",
        "collision-DiTtiny-2K-f5aa03d6",
        "collision-DiTtiny-500-99cf86c6",
        "parabola-DiTmicro-2K-a5952615",
        "parabola-DiTmicro-500-a1537871",
        "parabola-DiTtiny-2K-b6c05858",
        "parabola-DiTtiny-500-fa2622f2",
        "uniform_motion-DiTmicro-2K-627ad744",
        "uniform_motion-DiTmicro-500-61e6273e",
        "uniform_motion-DiTtiny-2K-27775683",
        "uniform_motion-DiTtiny-500-47436a8b",
    ]


def test_run_id_is_a_content_hash():
    a = get_plan("fig3", "tiny").cells[0]
    assert a.run_id == get_plan("fig3", "tiny").cells[0].run_id  # stable across calls
    b = dataclasses.replace(a, train=dataclasses.replace(a.train, steps=a.train.steps + 1))
    assert b.run_id != a.run_id
    assert b.run_id.rsplit("-", 1)[0] == a.run_id.rsplit("-", 1)[0]
    assert dataclasses.replace(a, notes="x").run_id == a.run_id  # notes do not change the job


def test_a_field_added_with_its_default_renames_no_cell():
    """Ids hash only what differs from the defaults: a spec class that grows a field (here a subclass of
    each spec) keeps every id while the new field keeps its default, and changes it when it does not."""
    from phylaw.experiments.spec import DataSpec, RunSpec, TrainSpec

    @dataclasses.dataclass(frozen=True)
    class DataSpec2(DataSpec):
        holes: tuple = ()

    @dataclasses.dataclass(frozen=True)
    class TrainSpec2(TrainSpec):
        grad_noise: float = 0.0

    @dataclasses.dataclass(frozen=True)
    class RunSpec2(RunSpec):
        judge: str = ""

    for a in get_plan("fig3", "tiny").cells + get_plan("fig3", "paper").cells:
        fields = {f.name: getattr(a, f.name) for f in dataclasses.fields(a)}
        grown = RunSpec2(**{**fields, "train_data": DataSpec2(**dataclasses.asdict(a.train_data)),
                            "train": TrainSpec2(**{f.name: getattr(a.train, f.name) for f in dataclasses.fields(a.train)})})  # fmt: skip
        assert grown.run_id == a.run_id
        assert grown.train_data.data_id == a.train_data.data_id
        assert dataclasses.replace(grown, judge="vlm").run_id != a.run_id
        assert dataclasses.replace(grown.train_data, holes=((1, 2),)).data_id != a.train_data.data_id
        assert (
            dataclasses.replace(grown, train=dataclasses.replace(grown.train, grad_noise=0.1)).run_id
            != a.run_id
        )


def test_unknown_names_give_one_line_errors():
    with pytest.raises(PhylawError, match="unknown experiment 'fig99'; known: fig3") as exc:
        get_plan("fig99", "tiny")
    assert "\n" not in str(exc.value)
    with pytest.raises(PhylawError, match="unknown scale 'huge'"):
        get_plan("fig3", "huge")
    assert "fig3" in EXPERIMENTS


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["uniform_motion", "collision", "parabola"])
def test_small_scale_cells_run_end_to_end_when_shrunk(tmp_path, scenario):
    """The `small` grid's real data (stored 30K, procedural 300K at 64²), pixel-space autoencoder and stages, with
    the model, steps and evaluation set shrunk to CPU size: every stage runs for both data sizes (~1 min each)."""
    from phylaw.experiments.experiment import ExperimentPlan, run_experiment
    from phylaw.experiments.stages import default_pipeline
    from phylaw.train.launch import LaunchOptions

    cells = []
    for spec in get_plan("fig3", "small").cells:
        if spec.model == "DiT-S" and spec.scenario == scenario:
            train = dataclasses.replace(spec.train, model="DiT-micro", steps=3, batch_size=4, warmup=1)
            evald = dataclasses.replace(spec.eval_data, per_split=(("id", 3), ("ood", 3)))
            cells.append(
                dataclasses.replace(spec, train=train, eval_data=evald, sample_steps=2, sample_batch_size=4)
            )
    assert {c.data_size for c in cells} == {30_000, 300_000}
    plan = ExperimentPlan("fig3", "small", tuple(cells), "the small grid, shrunk")
    outcome = run_experiment(plan, tmp_path / "out", default_pipeline(LaunchOptions()), progress=False,
                             options={"launch": LaunchOptions()})  # fmt: skip
    assert not outcome.failed
    assert (tmp_path / "out" / "results.csv").is_file()


def test_training_overrides_reach_every_cell_and_change_ids(capsys):
    from phylaw.cli.main import main
    from phylaw.experiments.registry import with_train_overrides
    from phylaw.experiments.stages import train_config

    plan = get_plan("fig3", "paper")
    assert with_train_overrides(plan, []) is plan
    fast = with_train_overrides(plan, ["runtime.deterministic=false", "runtime.sample_batch_size=32"])
    assert len(fast.cells) == len(plan.cells)
    assert not {c.run_id for c in fast.cells} & {c.run_id for c in plan.cells}  # another config, other cells
    cfg = train_config(fast.cells[5], Path("x.h5"))
    assert (cfg.runtime.deterministic, cfg.runtime.sample_batch_size) == (False, 32)
    assert ("runtime.deterministic", False) in fast.cells[5].train.overrides  # typed, not the string "false"
    with pytest.raises(PhylawError, match=r"unknown config key 'runtime\.nope'"):
        with_train_overrides(plan, ["runtime.nope=1"])
    with pytest.raises(PhylawError, match="not of the form"):
        with_train_overrides(plan, ["runtime.deterministic"])
    assert main(["reproduce", "fig3", "--scale", "tiny", "--out", "/tmp/none", "--list-cells",
                 "--set", "runtime.deterministic=false"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12
    assert all("--set runtime.deterministic=false --cell " in line for line in lines)
