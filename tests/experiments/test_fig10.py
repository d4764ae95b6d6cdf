"""Fig. 10 (issue 14): its cell at every scale, the ambiguity geometry and outcomes on ground truth (the
simulator's outcome flips where the size / offset difference crosses 0), and a fake model that mirrors the
scene disagrees where the offset decides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.experiments.test_studies import write_samples

from phylaw.experiments import fig10
from phylaw.experiments.registry import get_plan
from phylaw.sim import get_split


@pytest.mark.parametrize("scale", ["tiny", "small", "paper"])
def test_one_cell_per_scale_trained_and_scored_on_disjoint_ambiguity_rows(scale):
    plan = get_plan("fig10", scale)
    assert len(plan.cells) == 1
    c = plan.cells[0]
    assert (c.train_data.split, c.eval_data.split) == ("ambiguity-train", "ambiguity-eval")
    rows = {s: {(int(t), int(k), int(j)) for p in get_split("phyre", s).parts for t in p.values[0]
                for k in p.values[1] for j in p.values[2]} for s in ("ambiguity-train", "ambiguity-eval")}  # fmt: skip
    assert not rows["ambiguity-train"] & rows["ambiguity-eval"]
    assert len(rows["ambiguity-train"] | rows["ambiguity-eval"]) == len(get_split("phyre", "ambiguity"))
    assert dict(c.eval_data.per_split) == {"ood": 200}
    assert ("data.cond_frames", 1) in c.train.overrides


@pytest.fixture(scope="module")
def amb(tmp_path_factory) -> dict[str, Path]:
    """ambiguity-eval at 64 px, 32 frames, its ground truth as a model's samples, and a mirrored 'model'."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.build import generate
    from phylaw.evaluate.run import EvalOptions, evaluate

    root = tmp_path_factory.mktemp("fig10")
    data = generate("phyre", "ambiguity-eval", root / "amb.h5", resolution=64, n_frames=32, progress=False)
    with open_dataset(data) as ds:
        frames = np.stack([ds.frames(i) for i in range(len(ds))])
    out = {"data": data}
    for name, video in (("gt", frames), ("mirror", frames[:, :, :, ::-1].copy())):
        s = write_samples(root / f"{name}.h5", data, np.arange(len(frames)), video)
        evaluate(data, s, out=root / name, metrics=["final_frame_agreement"],
                 options=EvalOptions(metric_set="phyre", floor=False))  # fmt: skip
        out[name] = s
        out[f"{name}_metrics"] = root / name / "metrics.csv"
    return out


def test_ground_truth_agrees_and_the_outcome_flips_at_zero_difference(amb):
    v = fig10.analyse(amb["data"], amb["gt"], amb["gt_metrics"])
    assert len(v) == 200
    assert v.agreement.eq(1).all()
    assert v.type1.eq(1).all()
    gap = v[v.template.isin(fig10.GAP_TEMPLATES)]
    assert (gap[gap.sim_outcome == "through"].difference < 0).all()  # the ball fits: it goes through
    assert (gap[gap.sim_outcome != "through"].difference > 0).all()
    off = v[v.template.isin(fig10.OFFSET_TEMPLATES)]
    assert (np.sign(off.difference) == np.where(off.sim_outcome == "right", 1, -1)).all()
    g20000 = v[v.template == 20000]
    assert g20000.difference.min() == pytest.approx(-2.2, abs=0.01)  # diameters 28-36 px vs the 30.2 px gap
    assert g20000.difference.max() == pytest.approx(3.8, abs=0.01)
    assert np.allclose(v.difference_px, v.difference * 64 / 512)
    bins = fig10.binned(v)
    assert set(bins.template) == {20000, 20001, 20002, 20003}
    assert (bins.groupby("template").n.sum() == v.groupby("template").size()).all()


def test_a_mirrored_model_disagrees_where_the_offset_decides(amb):
    v = fig10.analyse(amb["data"], amb["mirror"], amb["mirror_metrics"])
    off = v[v.template.isin(fig10.OFFSET_TEMPLATES)]
    assert off.agreement.mean() < 0.1  # the ball rolls off the other side of the (mirrored) peg
    by = v.groupby("template").agreement.mean()
    assert by[20002] > 0.5  # the gap is centred: mirroring keeps through / stuck mostly


def test_figure_and_rows(amb, tmp_path):
    from phylaw.experiments.spec import RunSpec

    v = fig10.analyse(amb["data"], amb["gt"], amb["gt_metrics"])
    path = fig10.plot(fig10.binned(v), tmp_path / "fig10.png")
    assert path.stat().st_size > 10_000
    spec: RunSpec = get_plan("fig10", "tiny").cells[0]
    rows = fig10.agreement_rows(v, spec)
    assert set(rows.metric) == {"ambiguity_agreement", "ambiguity_type1"}
    assert (rows.n == 50).all()
    assert isinstance(rows, pd.DataFrame)


@pytest.mark.slow
def test_the_cell_runs_end_to_end_at_a_few_steps(tmp_path):
    """92 s on 2 cores at load 8.5 (train 42 s, evaluate 18 s, sample 11 s): 64 px, 6 frames, 12 training videos, 2 VAE / 3 DiT steps, 8 evaluation videos, every real stage."""
    import dataclasses

    from phylaw.experiments.experiment import run_experiment

    plan = get_plan("fig10", "tiny")
    c = plan.cells[0]
    small = {"resolution": 64, "n_frames": 6}
    ts = dataclasses.replace(c.train, steps=3, batch_size=4, vae_steps=2, vae_batch_size=2, warmup=1,
                             overrides=(("data.cond_frames", 1), ("optim.micro_batch_size", 4)))  # fmt: skip
    cell = dataclasses.replace(c, train_data=dataclasses.replace(c.train_data, limit=12, **small),
                               eval_data=dataclasses.replace(c.eval_data, per_split=(("ood", 8),), **small),
                               train=ts, sample_steps=2, sample_batch_size=8)  # fmt: skip
    plan = dataclasses.replace(plan, cells=(cell,))
    outcome = run_experiment(plan, tmp_path, fig10.pipeline(), progress=False)
    assert not outcome.failed, outcome.failed
    videos = pd.read_csv(tmp_path / "cells" / cell.run_id / "ambiguity" / "videos.csv")
    assert len(videos) == 8
    assert set(videos.template) == {20000, 20001, 20002, 20003}  # evenly spread over the sorted rows
    assert (tmp_path / "fig10_report" / "fig10.png").is_file()
    res = pd.read_csv(tmp_path / "results.csv", dtype={"split": str, "level": str})
    assert {"ambiguity_agreement", "ambiguity_type1", "abnormal"} <= set(res.metric)
