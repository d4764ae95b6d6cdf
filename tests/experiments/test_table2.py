"""Table 2 (issue 14): its cells at every scale, bad input, the evaluation rows, the report on synthetic cell
results, and the smallest cell run end to end at a few steps (resumed without redoing finished stages)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phylaw.cli.main import main
from phylaw.errors import PhylawError
from phylaw.experiments import table2 as t2
from phylaw.experiments import table2_stages as st2
from phylaw.experiments.experiment import ExperimentPlan, run_experiment
from phylaw.experiments.registry import get_plan
from phylaw.experiments.runner import Pipeline, Stage
from phylaw.sim import get_split
from phylaw.sim.phyre import templates as tp


def rows(split: str) -> set[tuple[int, int, int]]:
    out = set()
    for part in get_split("phyre", split).parts:
        for t in part.values[0]:
            for k in part.values[1]:
                out.update((int(t), int(k), int(j)) for j in part.values[2])
    return out


EXPECTED = {
    "tiny": ([("DiT-tiny", 6), ("DiT-tiny", 30), ("DiT-tiny", 60)], (240, 1200, 2400), (60, 100)),
    "small": ([("DiT-S", 6), ("DiT-S", 30), ("DiT-S", 60)], (600, 3000, 6000), (600, 500)),
    "paper": ([("DiT-XL", 6), ("DiT-XL", 30), ("DiT-XL", 60), ("DiT-B", 60)], (594_000, 2_970_000, 5_940_000,
              5_940_000), (600, 500)),
}  # fmt: skip


@pytest.mark.parametrize("scale", ["tiny", "small", "paper"])
def test_cells_at_every_scale(scale):
    plan = get_plan("table2", scale)
    models, sizes, (n_in, n_out) = EXPECTED[scale]
    assert [(c.model, c.factor_values["templates"]) for c in plan.cells] == models
    assert tuple(c.data_size for c in plan.cells) == sizes
    assert len({c.run_id for c in plan.cells}) == len(plan.cells)
    for c in plan.cells:
        templates = c.factor_values["templates"]
        subset = set(tp.SUBSETS[t2.TEMPLATE_SUBSETS[templates]])
        train = rows(c.train_data.split) if scale != "paper" else None
        ev = get_split("phyre", c.eval_data.split)
        assert dict(c.eval_data.per_split) == {"id": n_in, "ood": n_out}
        in_t = {r for p in ev.parts if p.split == "id" for r in _part_rows(p)}
        out_t = {r for p in ev.parts if p.split == "ood" for r in _part_rows(p)}
        assert {t for t, _, _ in in_t} == subset  # in-template = the cell's own training templates
        assert {t for t, _, _ in out_t} == set(tp.SUBSETS["held-out"])
        assert len(out_t) >= n_out
        assert len(in_t) >= n_in
        assert c.train.flip
        assert ("data.cond_frames", 1) in c.train.overrides
        if train is not None:
            assert {t for t, _, _ in train} == subset
            assert not train & (in_t | out_t)  # no evaluation video was trained on
            assert not {t for t, _, _ in train} & set(
                tp.SUBSETS["held-out"]
            )  # held-out templates never trained
    assert len({c.eval_data.per_split for c in plan.cells}) == 1  # the same counts in every cell
    if scale == "paper":
        assert all(c.distributed for c in plan.cells)
        assert {c.train.steps for c in plan.cells} == {1_000_000}
        assert {c.train.batch_size for c in plan.cells} == {256}
        assert {c.train_data.resolution for c in plan.cells} == {256}


def _part_rows(part):
    return {(int(t), int(k), int(j)) for t in part.values[0] for k in part.values[1] for j in part.values[2]}


def test_tiny_holds_videos_per_template_fixed():
    plan = get_plan("table2", "tiny")
    per_template = {c.data_size / c.factor_values["templates"] for c in plan.cells}
    assert per_template == {40.0}
    assert len({(c.train.steps, c.train.batch_size) for c in plan.cells}) == 1  # one training budget


def test_tiny_keeps_the_demos_128_tokens_whatever_the_vae_factor():
    from phylaw.experiments.stages import train_config

    for c in get_plan("table2", "tiny").cells:
        cfg = train_config(c, Path("d.h5"))
        side = cfg.data.resolution // cfg.autoencoder.spatial_factor // cfg.model.patch_size
        assert cfg.autoencoder.spatial_factor == t2.settings("tiny").vae_factor
        assert side**2 * (cfg.data.n_frames // cfg.model.patch_t) == 128


def test_one_vae_for_every_cell(tmp_path):
    plan = get_plan("table2", "tiny")
    from phylaw.experiments import stages as st

    dirs = {st.vae_dir_of(tmp_path, c) for c in plan.cells}
    assert len(dirs) == 1
    assert {c.vae_data.split for c in plan.cells} == {"train60-tiny"}


def test_bad_input_is_one_line(capsys, tmp_path):
    with pytest.raises(PhylawError, match="no template subset of 12 templates"):
        t2.cell("tiny", "DiT-tiny", 12)
    with pytest.raises(PhylawError, match="unknown scale 'huge'"):
        t2.table2("huge")
    assert main(["reproduce", "table2", "--scale", "huge", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown scale 'huge'" in err[0]
    assert not (tmp_path / "x").exists()
    bad = dataclasses.replace(get_plan("table2", "tiny").cells[0], factors=(("scenario", "phyre"),
                              ("model", "DiT-tiny"), ("templates", 12)))  # fmt: skip
    with pytest.raises(PhylawError, match="no template subset of 12"):
        t2.check(bad)


def test_list_cells_writes_nothing(tmp_path, capsys):
    assert main(["reproduce", "table2", "--scale", "tiny", "--out", str(tmp_path / "o"), "--list-cells"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert not any(tmp_path.iterdir())


def test_even_indices_are_evenly_spread_and_fixed():
    params = np.array([[t, k, 0] for t in (3, 1, 2) for k in range(10)], dtype=float)  # not sorted
    split = np.array(["id"] * 20 + ["ood"] * 10)
    idx = st2.even_indices(params, split, (("id", 4), ("ood", 20)))
    chosen = params[idx]
    assert (split[idx] == "ood").sum() == 10  # fewer rows than asked: all of them
    ids = chosen[split[idx] == "id"]
    assert sorted(map(tuple, ids[:, :2])) == [
        (1, 0),
        (1, 5),
        (3, 0),
        (3, 5),
    ]  # every 5th of 20 in (t, k) order
    assert np.array_equal(idx, st2.even_indices(params, split, (("id", 4), ("ood", 20))))
    with pytest.raises(PhylawError, match="no 'x' videos"):
        st2.even_indices(params, split, (("x", 1),))


# ----------------------------------------------------------------------------------------------- the report
def _synthetic_cell(out: Path, templates: int, ab_out: float, ssim_in: float) -> None:
    """A finished cell's files as collect writes them, with chosen values."""
    spec = t2.cell("tiny", "DiT-tiny", templates)
    d = out / "cells" / spec.run_id
    d.mkdir(parents=True)
    (d / "cell.json").write_text(json.dumps(spec.to_json()))
    ids = {"experiment": "table2", "scale": "tiny", "run_id": spec.run_id, **spec.factor_values}
    res = []
    for split, ab, ss in (("id", 0.05, ssim_in), ("ood", ab_out, 0.9)):
        for metric, v, fl in (("ssim", ss, 1.0), ("psnr", 30.0, 100.0), ("abnormal_ratio", ab, 0.04),
                              ("recon_ssim", 0.99, 1.0), ("recon_abnormal_ratio", 0.06, 0.04),
                              ("type1_share", 0.5, 1.0), ("type2_share", 0.5 - ab, 0.0), ("type3_share", ab, 0.0)):  # fmt: skip
            res.append({**ids, "split": split, "level": "x", "metric": metric, "value": v, "ci_low": v - 0.01,
                        "ci_high": v + 0.01, "n": 60, "floor": fl})  # fmt: skip
    pd.DataFrame(res).to_csv(d / "cell_results.csv", index=False)
    pd.DataFrame([{"run_id": spec.run_id, **spec.factor_values, "split": "ood", "template": 10060 + i, "n": 10,
                   "abnormal": 5, "rate": 0.5, "ci_low": 0.2, "ci_high": 0.8, "gt_rate": 0.0}
                  for i in range(10)]).to_csv(d / "per_template.csv", index=False)  # fmt: skip
    pd.DataFrame({"step": [10, 20], "loss": [1.0, 0.5]}).to_csv(d / "train_metrics.csv", index=False)


def test_report_on_synthetic_cells(tmp_path):
    from phylaw.experiments.table2_report import build_table2_report

    out = tmp_path / "out"
    for t, ab, ss in ((6, 0.6, 0.97), (30, 0.3, 0.96), (60, 0.1, 0.95)):
        _synthetic_cell(out, t, ab, ss)
    suite = tmp_path / "suite"
    suite.mkdir()
    pd.DataFrame([{"part": "evaluation", "violation": "teleport", "strength": "moderate", "n": 20, "recall": 0.7},
                  {"part": "evaluation", "violation": "hovering", "strength": "moderate", "n": 20, "recall": 0.8}]
                 ).to_csv(suite / "recall.csv", index=False)  # fmt: skip
    pd.DataFrame([{"part": "evaluation", "control": "gt", "n": 20, "flagged": 2, "fpr": 0.1, "ci95_lo": 0.03,
                   "ci95_hi": 0.3}]).to_csv(suite / "controls.csv", index=False)  # fmt: skip
    md = build_table2_report(out, tmp_path / "rep", judge_suite=suite).read_text()
    table = pd.read_csv(tmp_path / "rep" / "table2.csv")
    ab = table[(table.metric == "abnormal_ratio") & (table.split == "ood")].set_index("templates")
    assert ab.loc[6, "value"] == 0.6
    assert ab.loc[60, "value"] == 0.1
    assert ab.loc[6, "paper"] == 0.67
    assert ab.loc[30, "paper"] == 0.18
    assert ab.loc[6, "recon_floor"] == 0.06
    assert ab.loc[6, "gt_floor"] == 0.04
    assert table[(table.metric == "fvd")]["value"].isna().all()  # FVD absent -> "not computed"
    assert "not computed" in md
    assert "| 60 [59, 61] % (n 60) | 6 (GT 4) | 67 |" in md
    assert "2/20 = 10 %" in md
    assert "median 75 %" in md
    assert "| DiT-tiny / 6 | out-of-template | 0.990 [0.980, 1.000] |" in md  # the VAE alone (Table 3 check)
    assert (tmp_path / "rep" / "abnormal_vs_templates.png").is_file()
    assert (tmp_path / "rep" / "per_template_abnormal.png").is_file()
    assert (tmp_path / "rep" / "training_curves.png").is_file()
    no_suite = build_table2_report(out, tmp_path / "rep2").read_text()
    assert "was not measured for this run" in no_suite


# ----------------------------------------------------------------------------------------------- end to end
def _shrunk() -> ExperimentPlan:
    plan = get_plan("table2", "tiny")
    c = plan.cells[0]  # 6 templates
    small = {"resolution": 64, "n_frames": 6}
    train = dataclasses.replace(c.train_data, limit=12, **small)
    evald = dataclasses.replace(c.eval_data, per_split=(("id", 3), ("ood", 3)), **small)
    ts = dataclasses.replace(c.train, steps=3, batch_size=4, vae_steps=2, vae_batch_size=2, warmup=1,
                             overrides=(("data.cond_frames", 1), ("optim.micro_batch_size", 4)))  # fmt: skip
    vae = dataclasses.replace(c.vae_data, limit=12, **small)  # the shared VAE's 60-template frames, cut alike
    cell = dataclasses.replace(
        c, train_data=train, eval_data=evald, train=ts, sample_steps=2, sample_batch_size=6, vae_data=vae
    )
    return dataclasses.replace(plan, cells=(cell,))


def _counting(calls: list[str], interrupt: set[str]) -> Pipeline:
    real = t2.pipeline()

    def wrap(stage: Stage) -> Stage:
        def fn(ctx):
            calls.append(stage.name)
            if stage.name in interrupt:
                interrupt.discard(stage.name)
                raise KeyboardInterrupt
            return stage.fn(ctx)

        return Stage(stage.name, fn)

    return Pipeline(real.data, tuple(wrap(s) for s in real.cell), check=real.check)


def _fake_suite(runs: list[tuple]):
    """A stand-in for ``judge_suite.run_suite`` (the real one needs >= 12 frames and minutes): writes what the
    report and the evaluator read, with the rule factors of ``factor``."""
    from phylaw.evaluate.judge import JudgeConfig

    def run_suite(split, videos, resolution, frames, seed, out, progress=True):
        runs.append((split, videos, resolution, frames, seed))
        out.mkdir(parents=True)
        (out / "judge_config.json").write_text(json.dumps(JudgeConfig().to_dict()))
        pd.DataFrame([{"part": "evaluation", "violation": "teleport", "strength": "moderate", "n": 4,
                       "recall": 0.75}]).to_csv(out / "recall.csv", index=False)  # fmt: skip
        pd.DataFrame([{"part": "evaluation", "control": "gt", "n": 4, "flagged": 1, "fpr": 0.25, "ci95_lo": 0.05,
                       "ci95_hi": 0.7}]).to_csv(out / "controls.csv", index=False)  # fmt: skip
        (out / "summary.md").write_text("# judge suite\n")

    return run_suite


def test_smallest_cell_runs_end_to_end_and_resumes(tmp_path, monkeypatch):
    """~20 s on 2 loaded cores. The 6-template cell at 64 px, 6 frames, 12 training videos, 3 VAE / 3 DiT steps, 3 + 3 videos: every real
    stage (the judge suite faked). Interrupted at ``recon``, the rerun does only recon onwards; a third run
    does nothing. The suite runs once, at the cells' evaluation size, before the samples are scored."""
    from phylaw.evaluate import judge_suite

    suites: list[tuple] = []
    monkeypatch.setattr(judge_suite, "run_suite", _fake_suite(suites))
    plan, out = _shrunk(), tmp_path / "out"
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_experiment(plan, out, _counting(calls, {"recon"}), progress=False)
    assert calls == ["train", "sample", "judge", "evaluate", "recon"]
    assert suites == [("eval-out-of-template-small", 20, 64, 6, 0)]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("judge_suite")) == ["judge_suite"]
    calls.clear()
    outcome = run_experiment(plan, out, _counting(calls, set()), progress=False)
    assert not outcome.failed, outcome.failed
    assert calls == ["recon", "collect", "report"]
    cell = out / "cells" / plan.cells[0].run_id
    res = pd.read_csv(cell / "cell_results.csv", dtype={"split": str, "level": str})
    names = set(res.metric)
    assert {"ssim", "psnr", "abnormal_ratio", "type1_share", "recon_ssim", "recon_abnormal_ratio"} <= names
    assert set(res.split) == {"id", "ood"}
    assert (res[res.metric == "abnormal_ratio"]["n"] == 3).all()
    nc = json.loads((cell / "eval" / "not_computed.json").read_text())
    assert {"lpips", "fvd"} <= set(nc) or {"lpips", "fvd"} <= names  # weights absent here: not computed
    assert len(list((out / "vae").glob("*/vae.pt"))) == 1
    report = (out / "table2_report" / "report.md").read_text()
    assert "1/4 = 25 %" in report  # the suite's accuracy, printed beside the abnormal ratios
    assert suites == [("eval-out-of-template-small", 20, 64, 6, 0)]  # not rerun
    first = (out / "results.csv").read_bytes()
    calls.clear()
    again = run_experiment(plan, out, _counting(calls, set()), progress=False)
    assert calls == []
    assert [c.state for c in again.cells] == ["skipped"]
    assert (out / "results.csv").read_bytes() == first


def test_a_failing_cell_is_reported_while_the_others_complete(tmp_path, recorder):
    """The runner on Table 2's cells with recorded stages: one cell's training fails, the others finish, the
    summary names the failure, and a rerun retries only the failed cell."""
    plan = get_plan("table2", "tiny")
    bad = plan.cells[1].run_id
    recorder.fail.add(("train", bad))
    outcome = run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    assert [c.state for c in outcome.cells] == ["done", "failed", "done"]
    assert "boom in train" in (tmp_path / "summary.md").read_text()
    recorder.fail.clear()
    recorder.calls.clear()
    again = run_experiment(plan, tmp_path, recorder.pipeline(), progress=False)
    assert [c.state for c in again.cells] == ["skipped", "done", "skipped"]
    assert {r for _, r in recorder.calls if r in {c.run_id for c in plan.cells}} == {bad}


def _metrics_frame() -> pd.DataFrame:
    """eval/metrics.csv rows of 10 in-template and 4 out-of-template videos (abnormal, outcome_type)."""
    rows = []
    for i in range(14):
        split = "id" if i < 10 else "ood"
        ab = 1.0 if i in (0, 1, 10, 11, 12) else 0.0
        ty = 3.0 if ab else (1.0 if i % 2 else 2.0)
        for metric, v, fl in (("abnormal", ab, 1.0 if i == 3 else 0.0), ("outcome_type", ty, 1.0)):
            rows.append({"index": i, "split": split, "level": "x", "template": 10000 + i % 3, "status": "ok",
                         "included": True, "metric": metric, "value": v, "floor": fl})  # fmt: skip
    return pd.DataFrame(rows)


def test_share_rows_and_per_template_rates():
    from phylaw.evaluate.outcome import wilson_ci

    spec = get_plan("table2", "tiny").cells[0]
    rows = st2.share_rows(_metrics_frame(), spec).set_index(["split", "metric"])
    assert rows.loc[("id", "abnormal_ratio"), "value"] == pytest.approx(0.2)
    assert rows.loc[("ood", "abnormal_ratio"), "value"] == pytest.approx(0.75)
    _, lo, hi = wilson_ci(2, 10)
    assert rows.loc[("id", "abnormal_ratio"), ["ci_low", "ci_high"]].tolist() == pytest.approx([lo, hi])
    assert rows.loc[("id", "abnormal_ratio"), "floor"] == pytest.approx(0.1)  # the judge on ground truth
    shares = [rows.loc[("id", f"type{k}_share"), "value"] for k in (1, 2, 3)]
    assert shares == pytest.approx([0.4, 0.4, 0.2])
    assert rows.loc[("ood", "type1_share"), "n"] == 4
    per = st2.per_template(_metrics_frame(), spec).set_index(["split", "template"])
    assert per.loc[("id", 10000), "abnormal"] == 1  # videos 0, 3, 6, 9: only 0 flagged
    assert per.loc[("id", 10000), "n"] == 4
    assert per.loc[("id", 10000), "gt_rate"] == pytest.approx(0.25)
