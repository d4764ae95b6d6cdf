"""fig11 (composition): cells per scale, one cell end to end with a law-following fake model and rerun, the
smallest cell with real training, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from tests.experiments.conftest import (
    assert_lists_cells_and_writes_nothing,
    assert_rerun_skips_everything,
    fake_pipeline,
    ground_truth_samples,
    smallest_cell,
    write_samples,
)

from phylaw.errors import PhylawError
from phylaw.experiments import fig11
from phylaw.experiments import study as study_mod
from phylaw.experiments.experiment import run_experiment
from phylaw.experiments.registry import EXPERIMENTS, get_plan
from phylaw.experiments.runner import Pipeline
from phylaw.sim import get_split


@pytest.mark.parametrize("scale", ["tiny", "small", "paper"])
def test_fig11_lists_its_cells(scale):
    plan = get_plan("fig11", scale)
    assert "fig11" in EXPERIMENTS
    extra = () if scale == "tiny" else fig11.ATTRIBUTE_SETTINGS
    assert [c.factor_values["setting"] for c in plan.cells] == [*fig11.STUDIES, *extra]
    assert plan.factors == study_mod.FACTORS
    for c in plan.cells:
        fig11.check(c)
        assert c.data_size == len(get_split(c.scenario, c.train_data.split))
        assert c.factor_values["study"] == (
            "attribute" if c.scenario == "attribute_motion" else "composition"
        )
    want = {"tiny": [2400] * 3, "small": [20_000, 15_400, 15_400], "paper": [200_000, 237_300, 237_300]}
    assert [c.data_size for c in plan.cells[:3]] == want[scale]
    if scale == "tiny":
        assert all(c.train_data.resolution == 64 and c.train_data.n_frames == 16 for c in plan.cells)


@pytest.mark.parametrize("scale", ["tiny", "paper"])
def test_the_scene_cells_of_a_scale_share_one_vae_per_scenario(scale, tmp_path):
    """Where the scene cells train on a VideoVAE (tiny, paper), it is fitted to the scenario's -all frames
    (every subset and the test layout) at the cells' resolution and length, never to a cell's own two
    training subsets; temporal and temporal-nored (one scenario) share it; small trains in pixel space."""
    from phylaw.experiments import stages
    from phylaw.sim.composition_studies import composition_split

    cells = {c.factor_values["setting"]: c for c in get_plan("fig11", scale).cells if c.scenario != "attribute_motion"}
    suffix = "-tiny" if scale == "tiny" else ""
    for study, c in cells.items():
        assert c.vae_data is not None
        assert c.vae_data.split == fig11.VAE_PREFIX[study] + suffix
        assert composition_split(c.vae_data.split).role == "autoencoder"
        assert c.vae_data.scenario == c.scenario
        assert (c.vae_data.resolution, c.vae_data.n_frames) == (c.train_data.resolution, c.train_data.n_frames)
    dirs = {k: stages.vae_dir_of(tmp_path, c) for k, c in cells.items()}
    assert dirs["temporal"] == dirs["temporal-nored"] != dirs["spatial"]
    if scale == "tiny":
        assert {c.train.vae_steps for c in cells.values()} == {1200}
    assert all(c.vae_data is None for c in get_plan("fig11", "small").cells if c.scenario != "attribute_motion")


def test_list_cells_writes_nothing(tmp_path, capsys):
    assert_lists_cells_and_writes_nothing(tmp_path, capsys, {"fig11": 3})


@pytest.mark.parametrize(
    ("cell", "evald"),
    [
        (0, "compose-spatial-tiny"),  # a training split as evaluation data
        (
            2,
            "compose-temporal-eval-small",
        ),  # the failure variant on the other study's controls (same scenario)
        (1, "compose-temporal-nored-eval-small"),
    ],
)
def test_a_mismatched_cell_is_refused(cell, evald):
    c = get_plan("fig11", "tiny").cells[cell]
    bad = dataclasses.replace(c, eval_data=dataclasses.replace(c.eval_data, split=evald))
    with pytest.raises(PhylawError, match="not a training and evaluation pair"):
        fig11.check(bad)


def test_report_of_a_directory_without_a_plan(tmp_path):
    with pytest.raises(PhylawError, match=r"no plan\.json"):
        fig11.build_composition_report(tmp_path, tmp_path / "r")


def _fake_pipeline(calls: list[str], sample=ground_truth_samples) -> Pipeline:
    return fake_pipeline(fig11.pipeline(), calls, sample)


def test_a_composition_cell_runs_and_reruns_nothing(tmp_path):
    plan = get_plan("fig11", "tiny")
    c = plan.cells[1]  # temporal
    cell = dataclasses.replace(c, train_data=dataclasses.replace(c.train_data, limit=60))
    plan = dataclasses.replace(plan, cells=(cell,))
    calls: list[str] = []
    out = tmp_path / "out"
    outcome = run_experiment(plan, out, _fake_pipeline(calls), progress=False)
    assert not outcome.failed, outcome.failed
    assert calls == ["train", "sample", "evaluate", "composition", "collect", "report"]
    res = pd.read_csv(out / "results.csv", dtype={"split": str, "level": str})
    composed = res[res["metric"] == "composed"].set_index("level")
    assert set(composed.index) == {"collision_bounce", "collision", "bounce"}  # the cell's own subsets
    assert (composed["value"] == 1.0).all()  # the law follower composes every video
    assert (composed["floor"] == 1.0).all()
    ev = get_split("wall_collision", c.eval_data.split)
    assert composed.loc["collision_bounce", "n"] == (ev.labels().level == "collision_bounce").sum() == 16
    assert (res.loc[res["metric"].str.startswith("vanish_rate"), "value"] == 0).all()
    report = out / fig11.REPORT_DIR
    assert (report / "report.html").is_file()
    assert (report / "composition.png").is_file()
    md = (report / "report.md").read_text()
    assert "Composition success" in md
    assert "collision_bounce" in md
    assert len(list((report / "media").glob("*.gif"))) == 3  # one composed video per level, none failed
    assert_rerun_skips_everything(plan, out, _fake_pipeline)


def _vanishing_sample(ctx) -> dict:
    """A 'model' that loses the red ball at the first contact of every video (Fig. 17's failure)."""
    from phylaw.datasets import open_dataset
    from phylaw.evaluate.parse import DEFAULT_PALETTE
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    data = ctx.eval_data_dir / DATA_FILE
    rule = DEFAULT_PALETTE.rules[0]  # red
    with open_dataset(data) as ds:
        idx = np.arange(len(ds))
        frames = np.stack([ds.frames(i) for i in idx])
        first = ds.trajectories(idx).event_frame[:, 0]
    for v, f in enumerate(first):
        after = frames[v, f:]
        after[np.all((after >= rule.lo) & (after <= rule.hi), axis=-1)] = 255
    write_samples(ctx.path(SAMPLES_FILE), data, idx, frames)
    return {}


def test_a_red_ball_that_vanishes_is_reported(tmp_path):
    plan = get_plan("fig11", "tiny")
    c = plan.cells[2]  # the failure variant
    cell = dataclasses.replace(c, train_data=dataclasses.replace(c.train_data, limit=40))
    pipe = _fake_pipeline([], _vanishing_sample)
    out = tmp_path / "out"
    outcome = run_experiment(dataclasses.replace(plan, cells=(cell,)), out, pipe, progress=False)
    assert not outcome.failed, outcome.failed
    res = pd.read_csv(out / "results.csv", dtype={"split": str, "level": str}).set_index(["level", "metric"])
    assert res.loc[("collision_bounce", "composed"), "value"] == 0.0
    assert res.loc[("collision_bounce", "composed"), "floor"] == 1.0
    assert res.loc[("collision_bounce", "vanish_rate_red"), "value"] == 1.0
    assert res.loc[("collision_bounce", "vanish_rate_blue"), "value"] == 0.0
    gifs = [p.name for p in (out / fig11.REPORT_DIR / "media").glob("*.gif")]
    assert any("collision_bounce_red-vanished" in g for g in gifs)
    assert "| red | vanished | 16 / 16 |" in (out / fig11.REPORT_DIR / "report.md").read_text()


def test_an_attribute_composition_cell_runs_through_the_same_pipeline(tmp_path):
    plan = get_plan("fig11", "small")
    c = next(c for c in plan.cells if c.factor_values["setting"] == "compose-color-size")
    small = {"resolution": 32, "n_frames": 8}
    cell = dataclasses.replace(c, train_data=dataclasses.replace(c.train_data, limit=40, **small),
                               eval_data=dataclasses.replace(c.eval_data, limit=48, **small))  # fmt: skip
    calls: list[str] = []
    out = tmp_path / "out"
    outcome = run_experiment(
        dataclasses.replace(plan, cells=(cell,)), out, _fake_pipeline(calls), progress=False
    )
    assert not outcome.failed, outcome.failed
    assert calls == ["train", "sample", "evaluate", "composition", "collect", "report"]
    res = pd.read_csv(out / "results.csv", dtype={"split": str, "level": str})
    kept = res[(res["metric"] == "outcome_kept_both") & (res["split"] == "ood")]
    assert len(kept)
    # the law follower's samples are the ground-truth frames: its share is the floor's (the read-out's own
    # errors at 32 px / 8 frames keep both below 1)
    assert (kept["value"] == kept["floor"]).all()
    assert (kept["value"] >= 0.8).all()
    assert "velocity_error" in set(res["metric"])  # the standard evaluator ran on the attribute cell
    md = (out / fig11.REPORT_DIR / "report.md").read_text()
    assert "Attribute composition (held-out combinations)" in md


@pytest.mark.slow
def test_the_smallest_fig11_cell_trains_samples_and_reports(tmp_path):
    """The real pipeline (VideoVAE, DiT, sampler, composition check, report) on the temporal cell with a few
    steps, 32 px, 12 frames, 40 training and 16 evaluation videos."""
    plan = get_plan("fig11", "tiny")
    c = plan.cells[1]
    cell = smallest_cell(c, 32, 12)
    out = tmp_path / "out"
    outcome = run_experiment(dataclasses.replace(plan, cells=(cell,)), out, fig11.pipeline(), progress=False)
    assert not outcome.failed, outcome.failed
    videos = pd.read_csv(out / "cells" / cell.run_id / fig11.COMP_DIR / "videos.csv", dtype={"level": str})
    assert len(videos) == 16
    assert set(videos["reason"]) <= {
        "ok",
        *(f"{o}: {r}" for o in ("red", "blue") for r in ("vanished", "no_rebound", "velocity")),
    }
    res = pd.read_csv(out / "results.csv", dtype={"split": str, "level": str})
    assert {"composed", "velocity_error_red", "velocity_error_blue", "vanish_rate_red"} <= set(res["metric"])
    assert (out / fig11.REPORT_DIR / "report.html").is_file()
    # the VAE floor: the same law check on the cell's autoencoder reconstructions of the same 16 videos
    vae = pd.read_csv(out / "cells" / cell.run_id / fig11.COMP_DIR / "vae_videos.csv", dtype={"level": str})
    assert vae["index"].tolist() == videos["index"].tolist()
    assert "vae_composed" in set(res["metric"])
    succ = pd.read_csv(out / fig11.REPORT_DIR / "success.csv", dtype={"split": str, "level": str})
    denominators = succ["VAE recon composed"].str.split("/").str[1].astype(int)
    assert (denominators == succ["n"]).all()
    assert not succ["level"].str.startswith("vae_").any()
    # ... through the scenario's shared autoencoder, trained on its -all frames
    from phylaw.experiments.stages import vae_dir_of

    assert cell.vae_data.split == "compose-temporal-all-tiny"
    assert (vae_dir_of(out, cell) / "vae.pt").is_file()
    assert vae_dir_of(out, cell).name.startswith(cell.vae_data.data_id)
