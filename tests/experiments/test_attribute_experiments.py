"""fig8 / fig9: their cells at every scale, a cell run end to end with a law-following fake model (ground-truth
frames as its samples) and with a model that paints every test object in the colour of its training partner,
the report's counts and order, and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from tests.experiments.conftest import (
    assert_lists_cells_and_writes_nothing,
    assert_rerun_skips_everything,
    fake_pipeline,
    listed_plan,
    smallest_cell,
    write_samples,
)

from phylaw.errors import PhylawError
from phylaw.experiments import attribute_study as a
from phylaw.experiments.experiment import ExperimentPlan, run_experiment
from phylaw.experiments.registry import get_plan
from phylaw.experiments.runner import Pipeline
from phylaw.sim import get_split

CELLS = {"fig8": {"tiny": 3, "small": 6, "paper": 6}, "fig9": {"tiny": 3, "small": 8, "paper": 8}}


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("scale", ["tiny", "small", "paper"])
def test_each_attribute_experiment_lists_its_cells(name, scale):
    plan = listed_plan(name, scale, CELLS[name][scale])
    for c in plan.cells:
        a.check(c)  # the config resolves, the split is an attribute split, rings are >= 1 px
        assert c.scenario == "attribute_motion"
        assert c.factor_values["data_size"] == len(get_split(c.scenario, c.train_data.split))
        assert c.eval_data.split.startswith("attr-")
        assert "eval" in c.eval_data.split
        shape_pair = "shape" in a.setting_of(c).attributes
        assert shape_pair == (name == "fig8")  # Fig. 8: the pairs with shape; Fig. 9: the others
    if scale == "tiny":
        assert all(c.train_data.resolution == 64 and c.train.steps == 3000 for c in plan.cells)
        assert {c.data_size for c in plan.cells} == {2000}


@pytest.mark.parametrize("scale", ["tiny", "paper"])
def test_every_attribute_cell_of_a_scale_trains_on_one_shared_vae(scale, tmp_path):
    """Where the cells train on a VideoVAE (tiny, paper), it is one autoencoder for Figs. 8 and 9 (and Fig. 11's
    attribute compositions), trained on attr-all at the cells' resolution and length, never on a cell's own
    restricted training set; small trains in pixel space, without one."""
    from phylaw.experiments import stages

    cells = [c for e in ("fig8", "fig9", "fig11") for c in get_plan(e, scale).cells
             if c.scenario == "attribute_motion"]  # fmt: skip
    assert len(cells) >= 6
    for c in cells:
        assert c.vae_data is not None
        assert c.vae_data.split == "attr-all" + ("-tiny" if scale == "tiny" else "")
        assert (c.vae_data.resolution, c.vae_data.n_frames) == (c.train_data.resolution, c.train_data.n_frames)
    assert len({stages.vae_dir_of(tmp_path, c) for c in cells}) == 1
    if scale == "tiny":
        assert {c.train.vae_steps for c in cells} == {1200}
    assert all(c.vae_data is None for c in get_plan("fig8", "small").cells)


def test_a_ring_thinner_than_a_pixel_is_refused_before_anything_runs():
    plan = get_plan("fig8", "small")
    ring = next(c for c in plan.cells if c.factor_values["setting"] == "ring-ball")
    thin = dataclasses.replace(ring, train_data=dataclasses.replace(ring.train_data, resolution=24))
    with pytest.raises(PhylawError, match="px thin at 24 px"):
        a.check(thin)


@pytest.mark.parametrize(
    ("train", "evald"),
    [
        ("attr-color-shape-tiny", "attr-size-shape-bin-eval-small"),  # another setting's test videos
        ("attr-color-shape-tiny", "attr-color-shape-small"),  # a training split as evaluation data
        ("attr-color-shape-eval-small", "attr-color-shape-eval-small"),  # evaluation data to train on
    ],
)
def test_a_mismatched_attribute_cell_is_refused(train, evald):
    c = next(c for c in get_plan("fig8", "tiny").cells if c.factor_values["setting"] == "color-shape")
    bad = dataclasses.replace(c, train_data=dataclasses.replace(c.train_data, split=train),
                              eval_data=dataclasses.replace(c.eval_data, split=evald))  # fmt: skip
    with pytest.raises(PhylawError, match="not a training and evaluation pair"):
        a.check(bad)


# ----------------------------------------------------------------------------------------------- one cell run
def _samples_stage(paint: bool):
    """A fake model: the ground-truth frames of the evaluation rows, or (``paint``) those frames with every
    test object drawn in the other colour (the colour its shape had in training)."""

    def run(ctx) -> dict:
        from phylaw.datasets import open_dataset
        from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE
        from phylaw.render import render

        data = ctx.eval_data_dir / DATA_FILE
        with open_dataset(data) as ds:
            idx = np.arange(len(ds))
            st = ds.trajectories(idx)
            if paint:
                test = np.asarray(ds.labels.split) == "ood"
                color = st.color.copy()
                color[test] = 3 - color[test]  # red 1 <-> blue 2
                st = st.with_appearance(color=color)
            frames = render(st, ds.resolution)
        write_samples(ctx.path(SAMPLES_FILE), data, idx, frames)
        return {}

    return run


def _pipeline(calls: list[str], paint: bool) -> Pipeline:
    return fake_pipeline(a.pipeline(), calls, _samples_stage(paint))


def _shrunk(name: str, setting: str, n_train: int) -> ExperimentPlan:
    plan = get_plan(name, "tiny")
    c = next(c for c in plan.cells if c.factor_values["setting"] == setting)
    small = {"resolution": 48, "n_frames": 12}
    cell = dataclasses.replace(c, train_data=dataclasses.replace(c.train_data, limit=n_train, **small),
                               eval_data=dataclasses.replace(c.eval_data, **small))  # fmt: skip
    return dataclasses.replace(plan, cells=(cell,))


@pytest.mark.parametrize("paint", [False, True])
def test_the_color_shape_cell_runs_and_its_report_names_the_changed_attribute(tmp_path, paint):
    plan = _shrunk("fig8", "color-shape", 40)
    calls: list[str] = []
    out = tmp_path / "out"
    outcome = run_experiment(plan, out, _pipeline(calls, paint), progress=False)
    assert not outcome.failed, outcome.failed
    assert calls == ["train", "sample", "evaluate", "gallery", "attributes", "collect", "report"]
    res = pd.read_csv(out / "results.csv", dtype={"split": str, "level": str})
    pooled = res[(res["split"] == "ood") & (res["level"] == "pooled")].set_index("metric")
    if paint:  # every test video changed its colour and kept its shape: shape wins over colour
        assert pooled.loc["color_changed", "value"] == 1.0
        assert pooled.loc["shape_changed", "value"] == 0.0
        assert pooled.loc["win_color_over_shape", "value"] == 0.0
        assert pooled.loc["win_color_over_shape", "n"] == 64
    else:  # the law follower keeps both: no decision, every outcome "kept both"
        assert pooled.loc["outcome_kept_both", "value"] == 1.0
        assert pooled.loc["win_color_over_shape", "n"] == 0
    assert pooled.loc["color_changed", "floor"] == 0.0  # the ground truth's read-out error
    report = out / "attribute_report"
    assert (report / "report.html").is_file()
    counts = pd.read_csv(report / "counts.csv")
    test = counts[counts["role"] == "test"]
    assert set(test["combination"]) == {"blue-disc", "red-square", "pooled"}
    assert (test["first"] == "color").all()
    assert (test["first changed only"] == (test["N"] if paint else 0)).all()
    assert (test["second changed only"] == 0).all()
    gifs = list((out / "cells").glob("*/attributes/media/*.gif"))
    assert gifs
    assert all(("changed_first" in g.name) == paint for g in gifs if "kept_both" not in g.name)
    assert_rerun_skips_everything(plan, out, lambda calls: _pipeline(calls, paint))


def test_list_cells_writes_nothing(tmp_path, capsys):
    assert_lists_cells_and_writes_nothing(tmp_path, capsys, {n: c["tiny"] for n, c in CELLS.items()})


@pytest.mark.slow
def test_the_smallest_fig8_cell_trains_samples_and_reports(tmp_path):
    """The real pipeline (VideoVAE, DiT, sampler, evaluator, read-out, report) on the colour-shape cell with a
    few steps, 48 px (the shared VAE's rings need >= 36), 8 frames, 40 training and 16 evaluation videos (21 s on 2 loaded cores)."""
    from phylaw.experiments import stages

    plan = get_plan("fig8", "tiny")
    c = next(c for c in plan.cells if c.factor_values["setting"] == "color-shape")
    cell = smallest_cell(c, 48, 8)
    out = tmp_path / "out"
    outcome = run_experiment(dataclasses.replace(plan, cells=(cell,)), out, a.pipeline(), progress=False)
    assert not outcome.failed, outcome.failed
    d = out / "cells" / cell.run_id / "attributes"
    videos = pd.read_csv(d / "videos.csv", dtype={"split": str, "level": str})
    assert len(videos) == 16
    assert set(videos.loc[videos["split"] == "ood", "level"]) <= {"blue-disc", "red-square"}
    assert (videos["floor_color"] == videos["color"]).all()  # the ground truth reads back at 48 px
    res = pd.read_csv(out / "results.csv", dtype={"split": str, "level": str})
    assert {"color_changed", "win_color_over_shape", "velocity_error"} <= set(res["metric"])
    assert (out / "attribute_report" / "report.html").is_file()
    # the autoencoder is the shared one, trained on attr-all (every colour x shape), not on the cell's set
    assert [p.name for p in (out / "vae").iterdir()] == [stages.vae_dir_of(out, cell).name]
    assert stages.vae_dir_of(out, cell).name.startswith(cell.vae_data.data_id)
    # the VAE floor: the cell's autoencoder reconstructions of the same 16 videos, read alike
    vae = pd.read_csv(d / "vae_videos.csv", dtype={"split": str, "level": str})
    assert vae["index"].tolist() == videos["index"].tolist()
    assert (vae["floor_color"] == videos["floor_color"]).all()  # the same ground truth beside it
    rows = pd.read_csv(d / "rows.csv", dtype={"split": str, "level": str})
    assert {"vae_outcome_kept_both", "vae_color_changed"} <= set(rows["metric"])
    counts = pd.read_csv(out / "attribute_report" / "counts.csv")
    denominators = counts["VAE recon kept both"].str.split("/").str[1].astype(int)
    assert (denominators == counts["N"]).all()  # over the same videos as each row's counts


def _pair_dir(root, experiment: str, wins: list[tuple[str, str, int, int]]):
    """An experiment directory whose pair cells hold only their pooled win rows (``(first, second, k, n)``)."""
    from phylaw.evaluate.studies import result_row
    from phylaw.io import write_csv, write_json

    cells = []
    for first, second, k, n in wins:
        run_id = f"{experiment}-{first}-{second}"
        cells.append({"run_id": run_id, "factors": [["setting", f"{first}-{second}"]]})
        d = root / "cells" / run_id / a.ATTR_DIR
        row = result_row("ood", "pooled", f"win_{first}_over_{second}", k / n, 0.0, 1.0, n)
        write_csv(d / "rows.csv", pd.DataFrame([row]))
        write_csv(d / "videos.csv", pd.DataFrame({"split": ["ood"], "level": ["pooled"]}))
        write_json(d / "attributes.json", {"setting": f"{first}-{second}", "kind": "pair",
                                           "attributes": [first, second]})  # fmt: skip
    write_json(root / "plan.json", {"experiment": experiment, "scale": "tiny", "cells": cells})
    return root


def test_priority_of_pools_both_figures_into_one_order(tmp_path):
    from phylaw.experiments.attribute_report import priority_of
    from phylaw.io import write_json

    fig8 = _pair_dir(tmp_path / "fig8", "fig8", [("color", "shape", 30, 40), ("size", "shape", 35, 40)])
    fig9 = _pair_dir(tmp_path / "fig9", "fig9", [("color", "size", 32, 40)])
    wins, order = priority_of([fig8, fig9])
    assert len(wins) == 3
    assert order == "color > size > shape"  # fig8 alone leaves color–size undecided
    assert priority_of([fig8])[1] == "color ~ size > shape (undecided: color–size)"
    empty = tmp_path / "none"
    write_json(empty / "plan.json", {"experiment": "fig8", "scale": "tiny", "cells": [{"run_id": "x"}]})
    with pytest.raises(PhylawError, match="no finished attribute pair cell"):
        priority_of([empty])


def test_study_priority_writes_the_pooled_matrix_and_order(tmp_path, capsys):
    from phylaw.cli.main import main
    from phylaw.io import write_json

    fig8 = _pair_dir(tmp_path / "fig8", "fig8", [("color", "shape", 30, 40), ("size", "shape", 35, 40)])
    fig9 = _pair_dir(tmp_path / "fig9", "fig9", [("color", "size", 32, 40)])
    dest = tmp_path / "pooled"
    assert main(["study", "priority", str(fig8), str(fig9), "--out", str(dest)]) == 0
    md = (dest / "priority.md").read_text()
    assert "Order (win rate > 1/2): **color > size > shape**" in md
    assert "color > size > velocity > shape — differs or undecided" not in md  # velocity not covered
    matrix = pd.read_csv(dest / "priority.csv").set_index("kept")
    assert set(matrix.index) == {"color", "size", "shape"}
    assert (dest / "priority_matrix.png").is_file()
    capsys.readouterr()
    empty = tmp_path / "none"
    write_json(empty / "plan.json", {"experiment": "fig8", "scale": "tiny", "cells": [{"run_id": "x"}]})
    assert main(["study", "priority", str(empty), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no finished attribute pair cell" in err[0]
    assert not (tmp_path / "x").exists()


def test_the_report_of_a_directory_without_a_plan_writes_nothing(tmp_path):
    from phylaw.experiments.attribute_report import build_attribute_report

    with pytest.raises(PhylawError, match=r"no plan\.json"):
        build_attribute_report(tmp_path / "nothing", tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_the_report_of_unfinished_cells_lists_them(tmp_path):
    from phylaw.experiments.attribute_report import build_attribute_report
    from phylaw.io import write_json

    write_json(tmp_path / "plan.json", {"experiment": "fig9", "scale": "tiny", "cells": [{"run_id": "c1"}]})
    files = build_attribute_report(tmp_path, tmp_path / "r")
    md = files.markdown.read_text()
    assert "## Cells without attribute results yet" in md
    assert "- `c1`" in md
    assert "<code>c1</code>" in files.html.read_text()
    assert "Priority matrix" not in md  # no pair measured: no matrix, no order
