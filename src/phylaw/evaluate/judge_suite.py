"""The labelled violation suite: the judge's recall per violation and strength, its false-positive rate on
the controls, ROC curves (``phylaw judge-suite``; docs/video_metrics.md "Violation suite").

Why: a rule-based judge is only as good as its measured accuracy. The suite takes ground-truth videos of a
split, injects every violation at every strength (``evaluate.violations``), adds the controls (untouched
ground truth; a re-simulation from the action moved by one scene unit), renders, parses with
``evaluate.objects.parse_objects`` (the whole pipeline is measured) and judges.

Validation / evaluation: videos are split by task (a template-task pair, so the two parts never share a
layout): tasks ordered by ``derive_seed(seed, "judge-suite-part", template, task)``, the first half is the
validation part. Tuning on validation (one simple procedure): start from the default JudgeConfig (factors 1);
while the validation controls' false-positive rate (any rule) exceeds TARGET_FPR, lower the factor of the rule
that flags the most validation controls until one fewer control crosses 1 (the factor only ever goes down:
rules get less sensitive, never more). The evaluation part reports the tuned judge.

Outputs (atomic writes, phylaw.io): ``verdicts.csv`` (one row per case: ids, part, label, what it changed,
every score, abnormal, reasons), ``recall.csv`` (per violation x strength and part: n, flagged, recall with a
95 % Wilson CI, right-reason share, not applicable), ``controls.csv`` (false positives per control),
``summary.md``, ``judge_config.json`` (tuned), ``roc_<violation>.png``. Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.evaluate import violations as vi
from phylaw.evaluate.judge import VIOLATIONS, JudgeConfig, judge
from phylaw.evaluate.outcome import wilson_ci
from phylaw.io import write_csv, write_json, write_text
from phylaw.seeding import child_rng, derive_seed

TARGET_FPR = 0.05  # the target: at most 5 % of controls flagged
TARGET_RECALL = 0.90  # at moderate strength, per violation
ALLOWED_RESOLUTIONS = (64, 128, 256, 512)
MIN_FRAMES = 12  # every corruption needs room after the settling frames
ROC_FACTORS = np.geomspace(1 / 64, 64, 97)  # common factors an ROC sweeps over the tuned scores


@dataclass(frozen=True)
class SuiteResult:
    out: Path
    verdicts: pd.DataFrame
    recall: pd.DataFrame
    controls: pd.DataFrame
    config: JudgeConfig


def check_args(split: str, videos: int, resolution: int, frames: int) -> None:
    from phylaw.sim.phyre.engine import MAX_FRAMES
    from phylaw.sim.phyre.splits import get_split

    get_split(split, n_frames=frames if 1 <= frames <= MAX_FRAMES else 32)  # PhylawError naming the splits
    if videos < 2:
        raise PhylawError(f"--videos must be >= 2 (one validation and one evaluation task), got {videos}")
    if resolution not in ALLOWED_RESOLUTIONS:
        raise PhylawError(
            f"--resolution must be one of {', '.join(map(str, ALLOWED_RESOLUTIONS))}, got {resolution}"
        )
    top = MAX_FRAMES - vi.EXTRA_FRAMES
    if not MIN_FRAMES <= frames <= top:
        raise PhylawError(
            f"--frames must be in {MIN_FRAMES}..{top} (the suite simulates {vi.EXTRA_FRAMES} more)"
        )


def _cases(scene: vi.Scene, seed: int, key: tuple) -> list[tuple[np.ndarray, vi.Corruption]]:
    out = list(vi.controls(scene, child_rng(seed, "judge-suite", *key, "controls")))
    for name in VIOLATIONS:
        for strength in vi.STRENGTHS:
            made = vi.CORRUPTIONS[name](scene, child_rng(seed, "judge-suite", *key, name, strength), strength)
            if made is None:
                note = "not applicable to this video"
                out.append((None, vi.Corruption(name, strength, "n/a", -1, -1, note)))
            else:
                out.append(made)
    return out


def build(split: str, videos: int, resolution: int, frames: int, seed: int, progress: bool = True):
    """(rows DataFrame, list of ObjectTracks per ground-truth video, index of each row into its tracks)."""
    from tqdm.auto import tqdm

    from phylaw.evaluate.objects import parse_objects
    from phylaw.sim.phyre.engine import FRAME_DT, trial_action
    from phylaw.sim.phyre.splits import get_split
    from phylaw.sim.phyre.templates import build_task

    sp = get_split(split, n_frames=frames)
    n = min(videos, len(sp))
    params = sp.params(0, n).astype(np.int64)
    rows: list[dict] = []
    tracks = []
    for v, (tpl, task, trial) in enumerate(tqdm(params.tolist(), desc="judge-suite", unit="video",
                                                disable=not progress)):  # fmt: skip
        bodies = build_task(tpl, task, seed)
        action = trial_action(tpl, task, trial, seed, bodies)
        scene = vi.make_scene(bodies, action, frames, resolution)
        cases = _cases(scene, seed, (tpl, task, trial))
        made = [c for c in cases if c[0] is not None]
        tr = parse_objects(np.stack([f for f, _ in made]), 512.0, FRAME_DT)
        tracks.append(tr)
        j = 0
        for f, c in cases:
            rows.append({"video": v, "template": tpl, "task": task, "trial": trial, "label": c.violation,
                         "strength": c.strength, "variant": c.variant, "slot": c.slot, "frame": c.frame,
                         "note": c.note, "track_index": j if f is not None else -1})  # fmt: skip
            j += f is not None
    df = pd.DataFrame(rows)
    # validation / evaluation by task
    keys = sorted({(int(a), int(b)) for a, b in params[:, :2].tolist()},
                  key=lambda k: derive_seed(seed, "judge-suite-part", *k))  # fmt: skip
    val = set(keys[: (len(keys) + 1) // 2])
    df["part"] = [
        "validation" if (a, b) in val else "evaluation" for a, b in zip(df.template, df.task, strict=True)
    ]
    return df, tracks


def _scores(df: pd.DataFrame, tracks, config: JudgeConfig) -> tuple[np.ndarray, list[str]]:
    scores = np.full((len(df), len(VIOLATIONS)), np.nan)
    reasons = [""] * len(df)
    for v, tr in enumerate(tracks):
        sel = np.flatnonzero((df.video == v).to_numpy() & (df.track_index >= 0).to_numpy())
        verdict = judge(tr, 1, config)
        idx = df.track_index.to_numpy()[sel]
        scores[sel] = verdict.scores[idx]
        for r, i in zip(sel, idx, strict=True):
            reasons[r] = "; ".join(verdict.reasons[i])
    return scores, reasons


def tune(
    scores: np.ndarray, is_control: np.ndarray, config: JudgeConfig, target: float = TARGET_FPR
) -> JudgeConfig:
    """Lower per-rule factors (see the module docstring) until the controls' FPR on ``scores`` (raw, factors
    of ``config`` applied already) is <= target. Returns the config with the new factors."""
    s = scores[is_control].copy()
    factors = np.ones(len(VIOLATIONS))
    n = len(s)
    if n == 0:
        return config
    for _ in range(10 * n * len(VIOLATIONS)):
        flagged = (s * factors >= 1).any(axis=1)
        if flagged.mean() <= target:
            break
        counts = ((s * factors >= 1) & flagged[:, None]).sum(axis=0)
        r = int(np.argmax(counts))
        lowest = np.min(s[s[:, r] * factors[r] >= 1, r] * factors[r])
        factors[r] *= 0.999 / lowest  # the lowest flagged control of rule r now sits just under 1
    base = np.asarray(config.factors, float)
    return replace(config, factors=tuple(float(x) for x in base * factors))


def _summaries(df: pd.DataFrame, scores: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    flagged = (scores >= 1).any(axis=1)
    rec, ctl = [], []
    for part in ("validation", "evaluation"):
        p = (df.part == part).to_numpy()
        for name in VIOLATIONS:
            col = VIOLATIONS.index(name)
            for strength in vi.STRENGTHS:
                sel = p & (df.label == name).to_numpy() & (df.strength == strength).to_numpy()
                ok = sel & (df.track_index >= 0).to_numpy()
                k, n = int(flagged[ok].sum()), int(ok.sum())
                r, lo, hi = wilson_ci(k, n)
                right = float((scores[ok, col] >= 1).mean()) if n else float("nan")
                rec.append({"part": part, "violation": name, "strength": strength, "n": n, "flagged": k,
                            "recall": r, "ci95_lo": lo, "ci95_hi": hi, "right_reason": right,
                            "not_applicable": int(sel.sum() - n)})  # fmt: skip
        for c in vi.CONTROLS:
            ok = p & (df.label == "none").to_numpy() & (df.strength == c).to_numpy()
            k, n = int(flagged[ok].sum()), int(ok.sum())
            r, lo, hi = wilson_ci(k, n)
            ctl.append(
                {"part": part, "control": c, "n": n, "flagged": k, "fpr": r, "ci95_lo": lo, "ci95_hi": hi}
            )
    return pd.DataFrame(rec), pd.DataFrame(ctl)


def _roc(df: pd.DataFrame, scores: np.ndarray, name: str, path: Path) -> Path:
    from matplotlib.figure import Figure

    from phylaw.evaluate.plots import _save

    ev = (df.part == "evaluation").to_numpy() & (df.track_index >= 0).to_numpy()
    top = np.nanmax(scores, axis=1)
    ctl = top[ev & (df.label == "none").to_numpy()]
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.subplots()
    for strength in vi.STRENGTHS:
        pos = top[ev & (df.label == name).to_numpy() & (df.strength == strength).to_numpy()]
        if not len(pos) or not len(ctl):
            continue
        fpr = [(ctl * f >= 1).mean() for f in ROC_FACTORS]
        tpr = [(pos * f >= 1).mean() for f in ROC_FACTORS]
        ax.plot([0, *fpr, 1], [0, *tpr, 1], marker=".", ms=3, label=f"{strength} (n={len(pos)})")
    ax.plot([0, 1], [0, 1], color="0.8", lw=0.8)
    ax.axvline(TARGET_FPR, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel(f"false-positive rate (controls, n={len(ctl)})")
    ax.set_ylabel("recall")
    ax.set_title(f"{name} (evaluation part)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _summary_md(args: dict, rec: pd.DataFrame, ctl: pd.DataFrame, cfg: JudgeConfig) -> str:
    ev = rec[rec.part == "evaluation"]
    lines = [
        "# Judge violation suite",
        "",
        f"`phylaw judge-suite --split {args['split']} --videos {args['videos']} --resolution {args['resolution']} "
        f"--frames {args['frames']} --seed {args['seed']}`",
        "",
        f"Recall = share of the corrupted videos the judge flags abnormal (any rule); right reason = share flagged "
        f"by the violation's own rule. Evaluation part (tasks disjoint from the validation part, where the "
        f"factors were tuned to <= {100 * TARGET_FPR:.0f} % control FPR). 95 % Wilson intervals.",
        "",
        "| violation | strength | n | recall | 95 % CI | right reason | n/a |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in ev.itertuples():
        mark = " **<90 %**" if r.strength == "moderate" and r.n and r.recall < TARGET_RECALL else ""
        lines.append(f"| {r.violation} | {r.strength} | {r.n} | {100 * r.recall:.1f}{mark} | "
                     f"{100 * r.ci95_lo:.1f}-{100 * r.ci95_hi:.1f} | {100 * r.right_reason:.1f} | "
                     f"{r.not_applicable} |")  # fmt: skip
    lines += [
        "",
        "| control | part | n | false positives | FPR | 95 % CI |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in ctl.itertuples():
        lines.append(f"| {r.control} | {r.part} | {r.n} | {r.flagged} | {100 * r.fpr:.1f} | "
                     f"{100 * r.ci95_lo:.1f}-{100 * r.ci95_hi:.1f} |")  # fmt: skip
    lines += ["", "Tuned factors (1 = default thresholds):", ""]
    lines += [f"- {v}: {f:.3g}" for v, f in zip(VIOLATIONS, cfg.factors, strict=True)]
    lines += ["", "Interpenetration has no weak strength (one pair passing through is the weakest form).", ""]
    return "\n".join(lines)


def is_complete(out: Path) -> bool:
    """Whether ``out`` holds a finished suite (``run_suite`` writes summary.md last)."""
    return (Path(out) / "summary.md").is_file()


def run_suite(split: str, videos: int, resolution: int, frames: int, seed: int, out: Path,
              progress: bool = True, built: tuple | None = None) -> SuiteResult:  # fmt: skip
    """Build, tune, report (see the module docstring). ``built``: the (rows, tracks) of ``build`` for these
    arguments, to re-judge a parsed suite without rendering and parsing it again."""
    check_args(split, videos, resolution, frames)
    out = Path(out)
    df, tracks = built if built is not None else build(split, videos, resolution, frames, seed, progress)
    base = JudgeConfig()
    raw, _ = _scores(df, tracks, base)
    is_val_ctl = ((df.part == "validation") & (df.label == "none") & (df.track_index >= 0)).to_numpy()
    cfg = tune(np.nan_to_num(raw), is_val_ctl, base)
    scores, reasons = _scores(df, tracks, cfg)
    verdicts = df.drop(columns=["track_index"]).copy()
    verdicts["applicable"] = df.track_index >= 0
    for j, v in enumerate(VIOLATIONS):
        verdicts[f"score_{v}"] = scores[:, j]
    verdicts["abnormal"] = (np.nan_to_num(scores) >= 1).any(axis=1).astype(int)
    verdicts["reasons"] = reasons
    rec, ctl = _summaries(df, np.nan_to_num(scores))
    args = {"split": split, "videos": videos, "resolution": resolution, "frames": frames, "seed": seed}
    write_csv(out / "verdicts.csv", verdicts)
    write_csv(out / "recall.csv", rec)
    write_csv(out / "controls.csv", ctl)
    write_json(out / "judge_config.json", cfg.to_dict())
    for v in VIOLATIONS:
        _roc(df, np.nan_to_num(scores), v, out / f"roc_{v}.png")
    write_text(out / "summary.md", _summary_md(args, rec, ctl, cfg))  # last: its presence means complete
    return SuiteResult(out, verdicts, rec, ctl, cfg)
