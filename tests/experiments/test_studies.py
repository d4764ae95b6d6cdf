"""The mechanism-study experiments fig5 / fig6 / fig7: their cells at every scale, a cell run end to end with
a fake model (ground-truth frames as its samples) and rerun idempotently, and the study CLI's bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.experiments.conftest import (
    assert_lists_cells_and_writes_nothing,
    assert_rerun_skips_everything,
    fake_pipeline,
    listed_plan,
    write_samples,
)

from phylaw.cli.main import main
from phylaw.errors import PhylawError
from phylaw.experiments import study as study_mod
from phylaw.experiments.experiment import ExperimentPlan, run_experiment
from phylaw.experiments.registry import get_plan
from phylaw.experiments.runner import Pipeline
from phylaw.sim import get_split

CELLS = {"fig5": {"tiny": 3, "small": 6, "paper": 6}, "fig6": {"tiny": 2, "small": 8, "paper": 8},
         "fig7": {"tiny": 2, "small": 2, "paper": 2}}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("scale", ["tiny", "small", "paper"])
def test_each_study_experiment_lists_its_cells(name, scale):
    plan = listed_plan(name, scale, CELLS[name][scale])
    assert plan.factors == study_mod.FACTORS
    for c in plan.cells:
        f = c.factor_values
        assert set(f) == set(study_mod.FACTORS)
        assert f["data_size"] == len(get_split(c.scenario, c.train_data.split)) == c.data_size
        study_mod.check(c)  # the training config resolves; the training split is a study split
        assert c.eval_data.split.startswith(("gap-", "hole-", "memo-eval"))
    sizes = {c.data_size for c in plan.cells}
    if name == "fig5":  # equal training-set sizes at a scale (the paper's "200K each")
        assert sizes == {{"tiny": 2_000, "small": 20_000, "paper": 200_000}[scale]}
    if scale == "paper":
        assert all(
            c.train.model == "DiT-B" and c.distributed and c.train_data.resolution == 128 for c in plan.cells
        )
    if scale == "tiny":
        assert all(
            c.train_data.resolution == 64 and c.train.steps == 3000 and not c.distributed for c in plan.cells
        )


def test_set1_and_set2_differ_only_in_flips():
    for scale in ("tiny", "small", "paper"):
        set1, set2 = get_plan("fig7", scale).cells
        assert (set1.factor_values["setting"], set2.factor_values["setting"]) == ("set1", "set2")
        assert (set1.train.flip, set2.train.flip) == (False, True)
        assert set1.train_data == set2.train_data  # one dataset (and, at tiny scale, one VAE) for both
        assert set1.eval_data == set2.eval_data  # the same low-speed conditions
        assert dataclasses.replace(set1.train, flip=True) == set2.train


def test_list_cells_writes_nothing(tmp_path, capsys):
    assert_lists_cells_and_writes_nothing(tmp_path, capsys, {n: c["tiny"] for n, c in CELLS.items()})


# ----------------------------------------------------------------------------------------------- one cell run
def _fake_pipeline(calls: list[str]) -> Pipeline:
    return fake_pipeline(study_mod.pipeline(), calls)


def _shrunk(name: str, n_train: int, n_eval: int) -> ExperimentPlan:
    plan = get_plan(name, "tiny")
    c = plan.cells[0]
    small = {"resolution": 32, "n_frames": 10}
    cell = dataclasses.replace(c, train_data=dataclasses.replace(c.train_data, limit=n_train, **small),
                               eval_data=dataclasses.replace(c.eval_data, limit=n_eval, **small))  # fmt: skip
    return dataclasses.replace(plan, cells=(cell,))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "n_train", "n_eval"), [("fig5", 300, 60), ("fig6", None, 80)])
def test_a_study_cell_runs_and_reruns_nothing(tmp_path, name, n_train, n_eval):
    """~15-25 s each on 2 loaded cores. A hole study needs its whole training set (a subset has a smaller hull,
    which the analysis refuses as evaluation data of another training set)."""
    plan = _shrunk(name, n_train, n_eval)
    calls: list[str] = []
    out = tmp_path / "out"
    outcome = run_experiment(plan, out, _fake_pipeline(calls), progress=False)
    assert not outcome.failed, outcome.failed
    assert calls == ["train", "sample", "evaluate", "gallery", "study", "collect", "report"]
    results = pd.read_csv(out / "results.csv", dtype={"split": str, "level": str})
    assert {"setting", "study"} <= set(results.columns)
    by = results.set_index(["split", "level", "metric"])["value"]
    if name == "fig5":  # the law follower lands in the gap and follows the law, not its cases
        assert by[("ood", "gap", "gap_landing_gap")] >= 0.9
        assert by[("ood", "pooled", "case_index_frames")] <= 0.1
    else:  # its error is the floor's everywhere: no gap between inside and outside the hull
        assert {"seen", "in_hull", "out_of_hull"} <= set(results["level"])
        assert abs(by[("ood", "out_of_hull-in_hull", "velocity_error_out_minus_in_hull")]) < 0.2
    report = out / "study_report"
    assert (report / "report.html").is_file()
    assert "Case-based retrieval" in (report / "report.md").read_text()
    assert len(list(report.glob("*.png"))) == 2  # the study's figure and the case-vs-law figure
    assert len(list((out / "index").glob("*.npz"))) == 2  # frames and params indexes, cached
    assert_rerun_skips_everything(plan, out, _fake_pipeline)


# ----------------------------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory) -> dict[str, Path]:
    from phylaw.datasets import open_dataset
    from phylaw.datasets.build import generate

    root = tmp_path_factory.mktemp("study_cli")
    kw = {"n_frames": 10, "progress": False}
    files = {
        "train": generate(
            "uniform_motion", "gap-2.0-3.0-tiny", root / "train.h5", resolution=32, limit=200, **kw
        ),
        "train64": generate(
            "uniform_motion", "gap-2.0-3.0-tiny", root / "train64.h5", resolution=64, limit=50, **kw
        ),
        "collision": generate("collision", "hole-half-tiny", root / "col.h5", resolution=32, limit=50, **kw),
        "eval": generate(
            "uniform_motion", "gap-2.0-3.0-eval-small", root / "eval.h5", resolution=32, limit=30, **kw
        ),
    }
    with open_dataset(files["eval"]) as ds:
        frames = np.stack([ds.frames(i) for i in range(len(ds))])
    files["samples"] = write_samples(root / "s.h5", files["eval"], np.arange(len(frames)), frames)
    return files


def _analyse(f: dict, out: Path, *extra: str, train: str = "train") -> int:
    return main(["study", "analyse", "--train", str(f[train]), "--data", str(f["eval"]), "--samples",
                 str(f["samples"]), "--out", str(out), *extra])  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "train", "message"),
    [
        (("--removed", "0.5:4.5"), "train", "removes the whole range"),
        (("--removed", "1.5:2.5", "--removed", "2.0:3.0"), "train", "overlap"),
        (("--removed", "3.0:2.0"), "train", "reversed"),
        (("--removed", "2-3",), "train", "--removed must look like"),
        (("--setting", "gap-9"), "train", "unknown study setting 'gap-9'"),
        (("--setting", "hole-half", "--study", "gap"), "train", "unknown gap setting 'hole-half'"),
        ((), "collision", "holds collision videos"),
        ((), "train64", "are 32 px but the training set"),
    ],
)  # fmt: skip
def test_study_cli_bad_input_is_one_line_and_writes_nothing(
    cli_files, tmp_path, capsys, extra, train, message
):
    out = tmp_path / "out"
    assert _analyse(cli_files, out, *extra, train=train) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ")
    assert message in err
    assert "\n" not in err
    assert not out.exists()


def test_study_cli_analyses_a_cell(cli_files, tmp_path, capsys):
    out = tmp_path / "ok"
    assert _analyse(cli_files, out, "--index-cache", str(tmp_path / "idx")) == 0
    assert "gap_landing_gap" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {
        "rows.csv",
        "videos.csv",
        "study.json",
        "study.png",
        "case.png",
    }
    rows = pd.read_csv(out / "rows.csv")
    assert rows.loc[rows["metric"] == "gap_landing_gap", "value"].iloc[0] >= 0.9
    from phylaw.experiments.study_report import build_study_report

    with pytest.raises(PhylawError, match="not an experiment directory"):
        build_study_report(tmp_path / "nothing", tmp_path / "r")
