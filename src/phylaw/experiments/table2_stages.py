"""The stages of a Table 2 cell (``experiments/table2.py`` declares the cells; training is the core
``stages.train``: the scale's one VideoVAE, ``RunSpec.vae_data``, then the DiT): sampling the evenly chosen
evaluation rows, the ``phyre`` metric set on the samples and on the VAE's
reconstructions of the same ground truth (the floor), the tidy results with binomial shares and per-template
rates, and the report (``experiments.table2_report``). Fig. 10 reuses ``sample`` and ``evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.experiments.experiment import result_columns
from phylaw.experiments.runner import CellContext
from phylaw.experiments.spec import RunSpec
from phylaw.io import write_csv, write_json

RECON_DIR, EVAL_DIR, REPORT_DIR = "recon_eval", "eval", "table2_report"
RECON_FILE = "recon.h5"


# ----------------------------------------------------------------------------------------------- evaluation rows
def even_indices(params: np.ndarray, split: np.ndarray, per_split: tuple[tuple[str, int], ...]) -> np.ndarray:
    """Dataset rows to score: for each (label, count), ``count`` rows evenly spaced over the label's rows sorted
    by (template, task, trial) (the paper's "evenly subsampled" fixed counts). All of a label when it has fewer
    rows; sorted ascending."""
    chosen = []
    for label, count in per_split:
        rows = np.flatnonzero(split == label)
        if not len(rows):
            raise PhylawError(f"the evaluation set has no {label!r} videos")
        order = rows[np.lexsort(params[rows].T[::-1])]  # (template, task, trial) order
        k = min(int(count), len(order))
        pick = np.unique(np.floor(np.arange(k) * len(order) / k).astype(np.int64))
        chosen.append(order[pick])
    return np.sort(np.concatenate(chosen))


# ----------------------------------------------------------------------------------------------- stages
def _out(ctx: CellContext) -> Path:
    return ctx.cell_dir.parent.parent


def _eval_rows(ctx: CellContext) -> np.ndarray:
    from phylaw.datasets import open_dataset
    from phylaw.experiments.stages import DATA_FILE

    with open_dataset(ctx.eval_data_dir / DATA_FILE) as ds:
        return even_indices(np.asarray(ds.params), np.asarray(ds.labels.split), ctx.spec.eval_data.per_split)


def sample(ctx: CellContext) -> dict[str, Any]:
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE
    from phylaw.train import sample_dataset

    index = _eval_rows(ctx)
    write_json(ctx.path("eval_indices.json"), index.tolist())
    path = sample_dataset(
        ctx.path("train"), ctx.eval_data_dir / DATA_FILE, ctx.path(SAMPLES_FILE), steps=ctx.spec.sample_steps,
        seed=ctx.spec.seed, indices=index, batch_size=ctx.spec.sample_batch_size, progress=ctx.progress,
    )  # fmt: skip
    return {"samples": str(path), "n_videos": len(index)}


def _eval_options(ctx: CellContext):
    from phylaw.evaluate.run import EvalOptions

    weights = tuple(sorted(dict(ctx.options.get("weights", {})).items()))
    suite = ctx.options.get("judge_suite") or judge_suite_dir(_out(ctx))
    return EvalOptions(
        metric_set="phyre", weights=weights, judge_config=str(Path(suite) / "judge_config.json")
    )


def evaluate(ctx: CellContext) -> dict[str, Any]:
    """The ``phyre`` metric set on the cell's samples (LPIPS / FVD: not computed where their weights are
    missing, the rest runs; the evaluator records why)."""
    from phylaw.evaluate.run import evaluate as run_eval
    from phylaw.experiments.stages import DATA_FILE, SAMPLES_FILE

    result = run_eval(ctx.eval_data_dir / DATA_FILE, ctx.path(SAMPLES_FILE), out=ctx.path(EVAL_DIR),
                      options=_eval_options(ctx), progress=ctx.progress)  # fmt: skip
    write_json(ctx.path(EVAL_DIR, "not_computed.json"), result.not_computed)
    return {"summary": str(result.summary_csv), "not_computed": sorted(result.not_computed)}


def recon(ctx: CellContext) -> dict[str, Any]:
    """The shared VAE's reconstructions of the cell's evaluation videos, scored like the samples: the floor of
    SSIM / PSNR / LPIPS / FVD and of the abnormal ratio (SPEC E.2's check for Table 2)."""
    from phylaw.evaluate.run import evaluate as run_eval
    from phylaw.experiments.stages import DATA_FILE, reconstruct, vae_dir

    data = ctx.eval_data_dir / DATA_FILE
    index = np.asarray(json.loads(ctx.path("eval_indices.json").read_text()), dtype=np.int64)
    vae_run = vae_dir(ctx)  # the scale's one VAE (RunSpec.vae_data: the 60-template training frames)
    path = reconstruct(vae_run, data, index, ctx.path(RECON_FILE), n_frames=ctx.spec.eval_data.n_frames,
                       resolution=ctx.spec.eval_data.resolution, progress=ctx.progress)  # fmt: skip
    result = run_eval(data, path, out=ctx.path(RECON_DIR), options=_eval_options(ctx), progress=ctx.progress)
    return {"summary": str(result.summary_csv)}


def _metrics(ctx: CellContext, directory: str) -> pd.DataFrame:
    return pd.read_csv(ctx.path(directory, "metrics.csv"), dtype={"split": str, "level": str, "detail": str})


def share_rows(metrics: pd.DataFrame, spec: RunSpec, prefix: str = "") -> pd.DataFrame:
    """Binomial rows per split: the abnormal ratio and the Type 1 / 2 / 3 shares with 95 % Wilson intervals
    (metric names ``abnormal_ratio``, ``type1_share``, ...; ``prefix`` for the reconstruction's), the floor =
    the same share of the ground-truth frames (the judge on untouched truth)."""
    from phylaw.evaluate.outcome import wilson_ci

    ok = metrics[(metrics["status"] == "ok") & metrics["included"].astype(bool)]
    ids = {"experiment": spec.experiment, "scale": spec.scale, "run_id": spec.run_id, **spec.factor_values}
    rows = []
    for split, g in ok.groupby("split", sort=True):
        level = str(g["level"].iloc[0])
        ab = g[g["metric"] == "abnormal"]
        ty = g[g["metric"] == "outcome_type"]
        cases = [("abnormal_ratio", ab["value"] >= 1, ab["floor"] >= 1)]
        cases += [(f"type{k}_share", ty["value"] == k, ty["floor"] == k) for k in (1, 2, 3)]
        for name, hit, floor_hit in cases:
            n, k = int(hit.notna().sum()), int(hit.sum())
            fn, fk = int(floor_hit.notna().sum()), int(floor_hit.sum())
            if not n:
                continue
            _, lo, hi = wilson_ci(k, n)
            _, flo, fhi = wilson_ci(fk, fn)
            rows.append({**ids, "split": split, "level": level, "metric": prefix + name, "value": k / n,
                         "ci_low": lo, "ci_high": hi, "n": n, "floor": fk / fn if fn else np.nan,
                         "floor_ci_low": flo, "floor_ci_high": fhi, "n_videos": n, "floor_n": fn, "kind": "share"})  # fmt: skip
    return pd.DataFrame(rows, columns=list(result_columns(tuple(spec.factor_values))))


def collect(ctx: CellContext) -> dict[str, Any]:
    """eval/ and recon_eval/ summaries -> tidy ``cell_results.csv`` (reconstruction rows named ``recon_*``),
    the binomial shares, the per-template abnormal rate, and the training curve."""
    from phylaw.experiments.stages import tidy_results, write_cell_results

    parts = []
    for directory, prefix in ((EVAL_DIR, ""), (RECON_DIR, "recon_")):
        summary = pd.read_csv(ctx.path(directory, "summary.csv"), dtype={"split": str, "level": str})
        tidy = tidy_results(summary, ctx.spec)
        tidy = tidy[tidy["level"] != "pooled"] if "pooled" in set(tidy["level"]) else tidy
        tidy["metric"] = prefix + tidy["metric"].astype(str)
        parts += [tidy, share_rows(_metrics(ctx, directory), ctx.spec, prefix)]
    results = pd.concat([p for p in parts if len(p)], ignore_index=True)
    write_csv(ctx.path("per_template.csv"), per_template(_metrics(ctx, EVAL_DIR), ctx.spec))
    return write_cell_results(ctx, results)


def per_template(metrics: pd.DataFrame, spec: RunSpec) -> pd.DataFrame:
    """The abnormal rate per template (n, flagged, rate, Wilson CI; ground-truth rate beside it)."""
    from phylaw.evaluate.outcome import wilson_ci

    ab = metrics[(metrics["metric"] == "abnormal") & (metrics["status"] == "ok")]
    rows = []
    for (split, template), g in ab.groupby(["split", "template"], sort=True):
        n, k, fk = len(g), int((g["value"] >= 1).sum()), int((g["floor"] >= 1).sum())
        _, lo, hi = wilson_ci(k, n)
        rows.append({"run_id": spec.run_id, **spec.factor_values, "split": split, "template": int(template), "n": n,
                     "abnormal": k, "rate": k / n, "ci_low": lo, "ci_high": hi, "gt_rate": fk / n})  # fmt: skip
    return pd.DataFrame(rows)


JUDGE_DIR = "judge_suite"
JUDGE_SPLIT = (
    "eval-out-of-template-small"  # the suite's scenes: evaluation-part templates the models never see
)


def judge_suite_dir(out: Path) -> Path:
    return Path(out) / JUDGE_DIR


def judge(ctx: CellContext) -> dict[str, Any]:
    """The judge's own accuracy at this table's resolution and length: ``phylaw judge-suite`` (its labelled
    violation suite) once per output directory, into ``OUT/judge_suite`` (shared by every cell; the report prints
    it beside the abnormal ratios). Skipped when a suite directory was passed in the run options
    (``judge_suite``) or ``OUT/judge_suite`` is complete. Built in a sibling directory and renamed when done, so
    an interrupted suite is redone, never read half-written."""
    import os
    import shutil

    from phylaw.evaluate.judge_suite import is_complete, run_suite
    from phylaw.experiments.table2 import settings

    given = ctx.options.get("judge_suite")
    target = judge_suite_dir(_out(ctx))
    if given or is_complete(target):
        return {"judge_suite": str(given or target), "ran": False}
    videos, ev = settings(ctx.spec.scale).judge_videos, ctx.spec.eval_data  # the size the cells are scored at
    work = target.with_name(f"{JUDGE_DIR}.partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    run_suite(JUDGE_SPLIT, videos, ev.resolution, ev.n_frames, ctx.spec.seed, work, progress=ctx.progress)
    if is_complete(target):  # another process (a cluster cell) finished first
        shutil.rmtree(work, ignore_errors=True)
    else:
        shutil.rmtree(target, ignore_errors=True)  # an incomplete one left by a crash of an older version
        work.replace(target)
    return {"judge_suite": str(target), "ran": True}


def report(ctx: CellContext) -> dict[str, Any]:
    from phylaw.experiments.table2_report import build_table2_report

    out = _out(ctx)
    files = build_table2_report(out, out / REPORT_DIR, judge_suite=ctx.options.get("judge_suite"))
    return {"report": str(files)}
