"""Published values are drawn and tabulated only beside phylaw's value of the same quantity (the release mode,
metric release_headline); phylaw's own metric is shown separately with its own floor."""

from __future__ import annotations

import pandas as pd
from tests.experiments.conftest import fake_results
from tests.experiments.test_report import make_run_dir

from phylaw.experiments.experiment import RESULT_COLUMNS
from phylaw.experiments.plots import scaling_figure
from phylaw.experiments.published import METRIC, PUBLISHED, REPRODUCED_FLOORS, published_for
from phylaw.experiments.report import build_report
from phylaw.experiments.spec import DataSpec, RunSpec, TrainSpec
from phylaw.experiments.stages import tidy_results
from phylaw.experiments.tables import headline_table, published_table


def _cell(model: str = "DiT-S", n: int = 30_000) -> RunSpec:
    evald = DataSpec("uniform_motion", "eval-small", resolution=16, n_frames=8)
    train = DataSpec(
        "uniform_motion", "x", resolution=16, n_frames=8, grid=(("r", 0.7, 1.5, 2), ("v", 1, 4, 2))
    )
    return RunSpec(
        "fig3", "tiny", "uniform_motion", n, train, evald, TrainSpec(model=model, steps=1, batch_size=1)
    )


def _with_release(spec: RunSpec, id_err: float = 0.015) -> pd.DataFrame:
    """phylaw's rows and release-mode rows (other values, floor 0.0099) of one cell."""
    ours = fake_results(spec)
    rel = fake_results(spec, id_err=id_err, ood_err=0.3).assign(metric=METRIC, floor=0.0099)
    return pd.concat([ours, rel], ignore_index=True)[list(RESULT_COLUMNS)]


def _paper_labels(fig) -> list[str]:
    return [lab for ax in fig.axes for lab in ax.get_legend_handles_labels()[1] if "paper" in lab]


def test_published_values_are_of_the_release_quantity_only():
    assert {v.metric for v in PUBLISHED} == {METRIC}
    assert len(published_for("fig3", "velocity_error")) == 0  # nothing published of phylaw's own metric
    assert len(published_for("demo", METRIC)) == len(PUBLISHED)  # the demo is drawn beside Fig. 3's values


def test_scaling_plot_draws_the_paper_only_beside_the_release_metric():
    results = _with_release(_cell())
    assert _paper_labels(scaling_figure(results, metric="velocity_error")) == []
    labels = _paper_labels(scaling_figure(results, metric=METRIC))
    assert "DiT-S (paper)" in labels
    assert "GT floor (paper, 256 px)" in labels


def test_headline_table_release_columns_and_published_table():
    spec = _cell()
    results = _with_release(spec)
    row = headline_table(results).iloc[0]
    assert row["ID error [95% CI]"].startswith(f"{0.02 * (1 + 1000 / 30_000):.4f}")  # phylaw's own metric
    assert row["ID release-mode [95% CI]"].startswith(f"{0.015 * (1 + 1000 / 30_000):.4f}")
    assert row["ID release-mode floor"] == "0.0099"
    assert "ID release-mode [95% CI]" not in headline_table(fake_results(spec)).columns  # none without rows
    other_metric = results.replace({"metric": {"velocity_error": "mean_velocity_error"}})
    assert "ID release-mode [95% CI]" not in headline_table(other_metric, "mean_velocity_error").columns
    pub = published_table(results, published_for("fig3"), REPRODUCED_FLOORS, 256)
    dits = pub[(pub.model == "DiT-S") & (pub.split == "ID")].iloc[0]
    assert (dits["paper"], dits["phylaw (release mode)"]) == ("0.022", f"{0.015 * (1 + 1000 / 30_000):.4f}")
    gt = pub[(pub.split == "GT floor") & (pub.scenario == "uniform_motion")].iloc[0]
    assert (gt["paper"], gt["phylaw (release mode)"], gt["phylaw floor at 256²"]) == (
        "0.0099",
        "0.0099",
        "0.0098",
    )
    other = pub[(pub.model == "DiT-L") & (pub.split == "OOD")].iloc[0]
    assert other["phylaw (release mode)"] == "–"  # no such cell: never phylaw's velocity_error instead
    no_release = published_table(fake_results(spec), published_for("fig3"))
    assert set(no_release["phylaw (release mode)"]) == {"–"}


def test_report_shows_release_mode_beside_the_paper(tmp_path):
    run, _ = make_run_dir(tmp_path, failed=False)
    res = pd.read_csv(run / "results.csv")
    rel = res.assign(metric=METRIC, value=res["value"] / 2, ci_low=res["ci_low"] / 2, ci_high=res["ci_high"] / 2,
                     floor=0.0099)  # fmt: skip
    pd.concat([res, rel]).to_csv(run / "results.csv", index=False)
    files = build_report([run], tmp_path / "rep")
    assert {p.name for p in files.pngs} >= {"scaling.png", "scaling_release.png"}
    page = files.html.read_text()
    assert "Release mode: the paper's quantity" in page
    assert "ID release-mode [95% CI]" in page
    assert "phylaw floor at 256²" in page
    assert "The paper published no value of this quantity" in page


def test_tidy_results_of_a_release_summary_pool_the_release_buckets():
    """The release summary's id split has one bucket (in): it becomes the pooled ID row; ood/pooled = 'out'."""
    rows = [("id", "in", 0.01), ("ood", "r_out", 0.2), ("ood", "zero", 0.1), ("ood", "pooled", 0.15)]
    summary = pd.DataFrame([{
        "split": s, "level": lv, "metric": METRIC, "mean": v, "ci95_lo": v, "ci95_hi": v, "n": 3, "floor_mean": 0.0099,
        "floor_ci95_lo": 0.0099, "floor_ci95_hi": 0.0099,
    } for s, lv, v in rows])  # fmt: skip
    tidy = tidy_results(summary, _cell())
    pooled = tidy[tidy.level == "pooled"].set_index("split")["value"]
    assert (pooled["id"], pooled["ood"]) == (0.01, 0.15)
    assert set(tidy[tidy.split == "ood"].level) == {"r_out", "zero", "pooled"}


def test_evaluate_stage_adds_release_mode_and_collect_merges_it(tmp_path):
    """The cell's evaluate stage scores the samples twice (eval/ and eval_release/); collect merges both."""
    import numpy as np

    from phylaw.datasets.build import generate
    from phylaw.datasets.reader import open_dataset
    from phylaw.datasets.samples import SampleWriter, finish, part_path
    from phylaw.experiments.runner import CellContext
    from phylaw.experiments.stages import DATA_FILE, RELEASE_EVAL, SAMPLES_FILE, collect, evaluate

    spec = _cell()
    data_dir, cell = tmp_path / "data", tmp_path / "cell"
    data_dir.mkdir()
    cell.mkdir()
    data = generate(
        "uniform_motion", "eval-small", data_dir / DATA_FILE, resolution=32, limit=6, progress=False
    )
    with open_dataset(data) as ds:
        frames, fp = np.stack([ds.frames(i) for i in range(6)]), ds.fingerprint
    attrs = {"format": "phylaw-samples", "format_version": 1, "dataset_fingerprint": fp, "cond_frames": 3,
             "n_frames": frames.shape[1], "resolution": 32, "checkpoint": "fake", "steps": 1, "seed": 0}  # fmt: skip
    index = np.arange(6)
    with SampleWriter(part_path(cell / SAMPLES_FILE, 0, 1), attrs, index, frames.shape[1], 32) as w:
        w.write(index, frames)
    finish(cell / SAMPLES_FILE, attrs, index, 1, frames.shape[1], 32)
    ctx = CellContext(spec, cell, data_dir, data_dir)
    out = evaluate(ctx)
    assert out["release_summary"] == str(cell / RELEASE_EVAL / "summary.csv")
    collect(ctx)
    tidy = pd.read_csv(cell / "cell_results.csv")
    assert {"velocity_error", METRIC} <= set(tidy.metric)
    rel = tidy[(tidy.metric == METRIC) & (tidy.level == "pooled")].set_index("split")
    assert (
        rel.loc["id", "floor"] != rel.loc["id", "value"]
    )  # release floor: the release's raster of the truth
