"""The Table 2 report: every finished cell's results beside the paper's values (reads CSV and sample files only).

``build_table2_report(OUT, DIR)`` writes ``DIR/report.md`` with

- Table 2: per cell and metric (FVD, SSIM, PSNR, LPIPS, abnormal ratio), in- and out-of-template, ours with its
  95 % CI and n, the floor (the shared VAE's reconstructions of the same videos; for the abnormal ratio also the
  judge on untouched ground truth) and the paper's value;
- outcome Type 1 / 2 / 3 shares, the per-template abnormal rate (``per_template.csv``, a heat map), the judge's
  most frequent reasons for flagged videos, the judge's own measured accuracy (a ``phylaw judge-suite`` output
  directory: ``judge_suite=`` or ``OUT/judge_suite``; else the report says it was not measured for this run);
- figures: abnormal ratio and SSIM vs templates, training curves; side-by-side GIFs of out-of-template videos
  (ground truth | 60 | 30 | 6 templates, the paper's figure layout).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from phylaw.experiments.tables import fmt_ci, markdown_table
from phylaw.io import write_csv, write_text

METRICS = (("fvd", 1), ("ssim", 3), ("psnr", 1), ("lpips", 3), ("abnormal_ratio", 2))
SPLITS = (("id", "in-template"), ("ood", "out-of-template"))
GIF_VIDEOS = 4


def gather(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """(results of every finished cell, per-template rates, the cells' specs) under ``OUT/cells``."""
    results, per_t, cells = [], [], []
    for cell_dir in sorted((Path(out) / "cells").glob("*")):
        res = cell_dir / "cell_results.csv"
        if not res.is_file():
            continue
        results.append(pd.read_csv(res, dtype={"split": str, "level": str}))
        if (cell_dir / "per_template.csv").is_file():
            per_t.append(pd.read_csv(cell_dir / "per_template.csv"))
        spec = json.loads((cell_dir / "cell.json").read_text())
        cells.append({"dir": cell_dir, **dict(spec["factors"]), "data_size": spec["data_size"]})
    cat = lambda xs: pd.concat(xs, ignore_index=True) if xs else pd.DataFrame()  # noqa: E731
    return (
        cat(results),
        cat(per_t),
        sorted(cells, key=lambda c: (c["model"] != "DiT-XL", c["model"], int(c["templates"]))),
    )


def _row(results: pd.DataFrame, run_id: str, split: str, metric: str) -> pd.Series | None:
    r = results[(results["run_id"] == run_id) & (results["split"] == split) & (results["metric"] == metric)]
    return None if r.empty else r.iloc[0]


def _paper_model(pub: pd.DataFrame, c: dict) -> str:
    """The paper's row a cell is drawn beside: its own model where the paper has it, else the paper's DiT-XL
    row of the same template count (the scaled-down models stand in for it)."""
    own = pub[(pub.model == c["model"]) & (pub.templates == int(c["templates"]))]
    return c["model"] if len(own) else "DiT-XL"


def table2_frame(results: pd.DataFrame, cells: list[dict]) -> pd.DataFrame:
    """One row per (cell, split, metric): ours, CI, n, the reconstruction floor, the GT floor, the paper's."""
    from phylaw.experiments.published import table2_published

    pub = table2_published()
    rows = []
    for c in cells:
        run_id = c["dir"].name
        for split, _ in SPLITS:
            for metric, _ in METRICS:
                r, rec = _row(results, run_id, split, metric), _row(results, run_id, split, "recon_" + metric)
                p = pub[(pub.model == _paper_model(pub, c)) & (pub.templates == int(c["templates"]))
                        & (pub.split == split) & (pub.metric == metric)]  # fmt: skip
                rows.append({
                    "model": c["model"], "templates": int(c["templates"]), "train_videos": c["data_size"],
                    "split": split, "metric": metric,
                    "value": np.nan if r is None else r["value"], "ci_low": np.nan if r is None else r["ci_low"],
                    "ci_high": np.nan if r is None else r["ci_high"], "n": np.nan if r is None else r["n"],
                    "recon_floor": np.nan if rec is None else rec["value"],
                    "gt_floor": np.nan if r is None else r["floor"],
                    "paper": float(p["value"].iloc[0]) if len(p) else np.nan,
                })  # fmt: skip
    return pd.DataFrame(rows)


def _cell_text(r: pd.Series, digits: int) -> str:
    if pd.isna(r["value"]):
        return "not computed"
    pct = r["metric"] == "abnormal_ratio"
    scale = 100 if pct else 1
    d = 0 if pct else digits
    text = fmt_ci(r["value"] * scale, r["ci_low"] * scale, r["ci_high"] * scale, d) + (" %" if pct else "")
    return f"{text} (n {int(r['n'])})"


def markdown_table2(frame: pd.DataFrame) -> str:
    """Table 2 as the paper lays it out, one line per cell and metric: in-template | out-of-template, each as
    ours [CI] (n) / floor / paper."""
    digits = dict(METRICS)
    lines = []
    for (model, templates, metric), g in frame.groupby(["model", "templates", "metric"], sort=False):
        cells = [f"{model}", f"{templates} ({int(g['train_videos'].iloc[0])})", metric]
        for split, _ in SPLITS:
            r = g[g.split == split].iloc[0]
            scale = 100 if metric == "abnormal_ratio" else 1
            d = 0 if metric == "abnormal_ratio" else digits[metric]
            fl = "–" if pd.isna(r["recon_floor"]) else f"{r['recon_floor'] * scale:.{d}f}"
            if metric == "abnormal_ratio" and not pd.isna(r["gt_floor"]):
                fl += f" (GT {r['gt_floor'] * 100:.0f})"
            paper = (
                "–"
                if pd.isna(r["paper"])
                else f"{r['paper'] * scale:.{d if metric != 'abnormal_ratio' else 0}f}"
            )
            cells += [_cell_text(r, digits[metric]), fl, paper]
        lines.append(cells)
    cols = ["model", "templates (train videos)", "metric", "in-template: ours", "floor (VAE recon)", "paper",
            "out-of-template: ours", "floor (VAE recon)", "paper"]  # fmt: skip
    return markdown_table(pd.DataFrame(lines, columns=cols))


def vae_table(results: pd.DataFrame, cells: list[dict]) -> pd.DataFrame:
    """The shared VAE's reconstructions of each cell's evaluated ground truth (Table 3's check for these
    scenes): SSIM / PSNR / LPIPS against the ground truth, and the judge's abnormal ratio on them beside its
    ratio on the untouched ground truth."""
    rows = []
    for c in cells:
        for split, name in SPLITS:
            row = {"cell (its evaluation videos)": f"{c['model']} / {c['templates']}", "split": name}
            for metric, digits in (("ssim", 3), ("psnr", 1), ("lpips", 3), ("abnormal_ratio", 2)):
                r = _row(results, c["dir"].name, split, "recon_" + metric)
                row[f"recon {metric}"] = (
                    "not computed" if r is None else fmt_ci(r["value"], r["ci_low"], r["ci_high"], digits)
                )
            r = _row(results, c["dir"].name, split, "abnormal_ratio")
            row["abnormal ratio on GT"] = "–" if r is None else f"{r['floor']:.2f}"
            row["n"] = "–" if r is None else int(r["n"])
            rows.append(row)
    return pd.DataFrame(rows)


def types_table(results: pd.DataFrame, cells: list[dict]) -> pd.DataFrame:
    rows = []
    for c in cells:
        for split, name in SPLITS:
            row = {"model": c["model"], "templates": int(c["templates"]), "split": name}
            for k in (1, 2, 3):
                r = _row(results, c["dir"].name, split, f"type{k}_share")
                row[f"Type {k}"] = (
                    "–"
                    if r is None
                    else f"{100 * r['value']:.0f} % [{100 * r['ci_low']:.0f}, {100 * r['ci_high']:.0f}]"
                )
                row["n"] = "–" if r is None else int(r["n"])
            rows.append(row)
    return pd.DataFrame(rows)


def judge_accuracy(suite: Path | None) -> list[str]:
    """Lines on the judge's measured accuracy from a ``phylaw judge-suite`` directory (evaluation part)."""
    if suite is None or not (Path(suite) / "recall.csv").is_file():
        return ["The judge's accuracy was not measured for this run (no complete `phylaw judge-suite` output: the "
                "`judge` stage writes `OUT/judge_suite` before the first cell is scored). The last measured table is in "
                "docs/video_metrics.md, \"Judge accuracy (measured)\" (at 256²)."]  # fmt: skip
    suite = Path(suite)
    rec = pd.read_csv(suite / "recall.csv")
    ctl = pd.read_csv(suite / "controls.csv")
    ev = rec[(rec.part == "evaluation") & (rec.strength == "moderate") & (rec.n > 0)]
    gt = ctl[(ctl.part == "evaluation") & (ctl.control == "gt")]
    lines = [f"Judge accuracy measured by `phylaw judge-suite` in `{suite}` (evaluation part; the table's videos "
             "are scored with the thresholds it tuned on its validation part, `judge_config.json`):", ""]
    if len(gt):
        g = gt.iloc[0]
        lines.append(f"- false positives on untouched ground truth: {int(g.flagged)}/{int(g.n)} = {100 * g.fpr:.0f} % "
                     f"[{100 * g.ci95_lo:.0f}, {100 * g.ci95_hi:.0f}]")  # fmt: skip
    if len(ev):
        lines.append(f"- recall at moderate strength: median {100 * ev.recall.median():.0f} % over {len(ev)} violation "
                     f"classes (lowest {ev.loc[ev.recall.idxmin(), 'violation']} {100 * ev.recall.min():.0f} %)")  # fmt: skip
        lines += [f"  - {r.violation}: {100 * r.recall:.0f} % (n {int(r.n)})" for r in ev.itertuples()]
    return lines


def flagged_reasons(cells: list[dict], top: int = 5) -> list[str]:
    """The judge's most frequent rules among flagged generated videos per cell and split (``detail`` of the
    ``abnormal`` rows of eval/metrics.csv); the full list with GIFs is each cell's eval/flagged/."""
    lines = []
    for c in cells:
        path = c["dir"] / "eval" / "metrics.csv"
        if not path.is_file():
            continue
        m = pd.read_csv(path, dtype={"detail": str})
        ab = m[(m.metric == "abnormal") & (m.value >= 1)]
        for split, name in SPLITS:
            counts = Counter(
                part.split(":")[0].strip() for d in ab[ab.split == split]["detail"].fillna("") for part in d.split("; ") if part
            )  # fmt: skip
            shown = ", ".join(f"{k} {v}" for k, v in counts.most_common(top)) or "none flagged"
            lines.append(f"- {c['model']} / {c['templates']} templates, {name} ({int((ab.split == split).sum())} "
                         f"flagged): {shown} (`{c['dir'].name}/eval/flagged/`)")  # fmt: skip
    return lines


def _fig():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 3.4))
    return fig, fig.subplots(1, 2)


def plot_vs_templates(frame: pd.DataFrame, metric: str, path: Path) -> Path | None:
    """``metric`` vs number of training templates, in- and out-of-template, CIs, floor and paper values."""
    from phylaw.evaluate.plots import _save

    f = frame[(frame.metric == metric) & frame.value.notna()]
    if f.empty:
        return None
    fig, axes = _fig()
    for ax, (split, name) in zip(axes, SPLITS, strict=True):
        for model, g in f[f.split == split].groupby("model"):
            g = g.sort_values("templates")
            err = np.clip(np.vstack([g.value - g.ci_low, g.ci_high - g.value]), 0, None)
            ax.errorbar(g.templates, g.value, yerr=err, marker="o", capsize=3, label=f"{model} (ours)")
            ax.plot(g.templates, g.recon_floor, ls=":", marker="x", color="0.4", label="VAE recon floor")
            if g.paper.notna().any():
                ax.plot(g.templates, g.paper, ls="--", marker="s", alpha=0.6, label="paper (DiT-XL/B)")
        ax.set_xscale("log")
        ax.minorticks_off()  # log-axis minor labels would print 2x10^1 between the three ticks
        ax.set_xticks([6, 30, 60], labels=["6", "30", "60"])
        ax.set_xlabel("training templates")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_training_curves(cells: list[dict], path: Path) -> Path | None:
    from matplotlib.figure import Figure

    from phylaw.evaluate.plots import _save

    fig = Figure(figsize=(5, 3.4))
    ax = fig.subplots()
    drawn = False
    for c in cells:
        p = c["dir"] / "train_metrics.csv"
        if p.is_file():
            m = pd.read_csv(p)
            ax.plot(m.step, m.loss, label=f"{c['model']} / {c['templates']}", lw=1)
            drawn = True
    if not drawn:
        return None
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_per_template(per_t: pd.DataFrame, path: Path) -> Path | None:
    """Out-of-template abnormal rate per held-out template and cell (heat map)."""
    from matplotlib.figure import Figure

    from phylaw.evaluate.plots import _save

    ood = per_t[per_t.split == "ood"] if len(per_t) else per_t
    if ood.empty:
        return None
    table = ood.pivot_table(index=["model", "templates"], columns="template", values="rate")
    fig = Figure(figsize=(7, 0.5 + 0.45 * len(table)))
    ax = fig.subplots()
    im = ax.imshow(table.to_numpy(), vmin=0, vmax=1, cmap="magma_r", aspect="auto")
    ax.set_xticks(range(table.shape[1]), labels=[str(t) for t in table.columns], rotation=60, fontsize=7)
    ax.set_yticks(range(table.shape[0]), labels=[f"{m} / {t}" for m, t in table.index], fontsize=7)
    fig.colorbar(im, ax=ax, label="abnormal rate (out-of-template)")
    return _save(fig, path)


def _labelled(frame, labels: list[str]):
    """``frame`` (k panels side by side) with a white strip above naming each panel."""
    from PIL import Image, ImageDraw

    out = Image.new("RGB", (frame.width, frame.height + 14), "white")
    out.paste(frame, (0, 14))
    draw, w = ImageDraw.Draw(out), frame.width // len(labels)
    for j, text in enumerate(labels):
        draw.text((j * w + 3, 1), text, fill=(0, 0, 0))
    return out


def side_by_side_gifs(cells: list[dict], dest: Path, n: int = GIF_VIDEOS) -> list[Path]:
    """GIFs of out-of-template videos every cell sampled: ground truth | 60 | 30 | 6 templates (first model
    of each template count), upscaled to at least 128 px per panel."""
    from PIL import Image

    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples
    from phylaw.experiments.gallery import write_gif

    chosen = {}
    for c in cells:
        if (c["dir"] / "samples.h5").is_file():
            chosen.setdefault(int(c["templates"]), c)
    if not chosen:
        return []
    order = [chosen[t] for t in sorted(chosen, reverse=True)]
    data = json.loads((order[0]["dir"] / ".done" / "data.json").read_text())["eval"]
    written = []
    files = [open_samples(c["dir"] / "samples.h5") for c in order]
    try:
        with open_dataset(Path(data) / "data.h5") as ds:
            ood = np.flatnonzero(np.asarray(ds.labels.split) == "ood")
            common = [i for i in ood if all(i in set(f.index.tolist()) for f in files)]
            for i in common[:: max(1, len(common) // n)][:n]:
                vids = [f.frames(int(np.flatnonzero(f.index == i)[0])) for f in files]  # each (T, H, W, 3)
                t = min(len(v) for v in vids)
                gt = ds.frames(int(i), resolution=vids[0].shape[1])[:t]
                strip = np.concatenate([gt, *(v[:t] for v in vids)], axis=2)  # (T, H, W * k, 3)
                up = max(1, 128 // strip.shape[1])
                labels = ["ground truth", *(f"{c['templates']} templates" for c in order)]
                frames = [_labelled(Image.fromarray(np.ascontiguousarray(fr)).resize(
                    (fr.shape[1] * up, fr.shape[0] * up), Image.NEAREST), labels) for fr in strip]  # fmt: skip
                tpl = int(ds.params[i][0])
                written.append(write_gif(frames, dest / f"ood_{tpl}_{int(i):05d}.gif"))
    finally:
        for f in files:
            f.close()
    return written


def build_table2_report(out: Path, dest: Path, judge_suite: Path | str | None = None) -> Path:
    """Write ``dest/report.md``, ``dest/table2.csv``, ``dest/per_template.csv``, figures and GIFs; returns the
    Markdown path. Cells not finished yet are left out (the report is rebuilt after each cell)."""
    from phylaw.evaluate.judge_suite import is_complete

    out, dest = Path(out), Path(dest)
    results, per_t, cells = gather(out)
    suite = (
        Path(judge_suite)
        if judge_suite
        else (out / "judge_suite" if is_complete(out / "judge_suite") else None)
    )
    frame = table2_frame(results, cells) if cells else pd.DataFrame()
    lines = ["# Table 2: combinatorial generalisation (phylaw)", ""]
    if not cells:
        return write_text(dest / "report.md", "\n".join([*lines, "No cell has finished yet.", ""]))
    write_csv(dest / "table2.csv", frame)
    if len(per_t):
        write_csv(dest / "per_template.csv", per_t)
    figs = [plot_vs_templates(frame, "abnormal_ratio", dest / "abnormal_vs_templates.png"),
            plot_vs_templates(frame, "ssim", dest / "ssim_vs_templates.png"),
            plot_vs_templates(frame, "psnr", dest / "psnr_vs_templates.png"),
            plot_training_curves(cells, dest / "training_curves.png"),
            plot_per_template(per_t, dest / "per_template_abnormal.png")]  # fmt: skip
    gifs = side_by_side_gifs(cells, dest / "gifs")
    not_computed = sorted({k for c in cells for k in _not_computed(c["dir"])})
    lines += [
        f"{len(cells)} finished cells. Ours: mean [95 % CI] (n videos); abnormal ratio and shares with Wilson "
        "intervals. Floor: the same metric on the shared VideoVAE's reconstructions of the same ground-truth videos "
        "(what the autoencoder alone costs); for the abnormal ratio also the judge on the untouched ground truth "
        "(GT). Paper: SPEC E.4 (DiT-XL / DiT-B at 256², human raters for the abnormal ratio).", "",
    ]  # fmt: skip
    if not_computed:
        lines += [f"Not computed (weights missing on this machine): {', '.join(not_computed)}; see each cell's "
                  "eval/summary.md.", ""]  # fmt: skip
    lines += [
        markdown_table2(frame),
        "",
        "## The autoencoder alone (reconstructed ground truth, Table 3's check)",
        "",
        markdown_table(vae_table(results, cells)),
        "",
        "## The judge's own accuracy (read the abnormal ratios beside it)",
        "",
    ]
    lines += [*judge_accuracy(suite), "", "## Outcome types (Type 1 = ends as the simulator, 2 = differs but "
              "plausible, 3 = abnormal)", "", markdown_table(types_table(results, cells)), ""]  # fmt: skip
    lines += ["## Why the judge flagged videos (most frequent rules)", "", *flagged_reasons(cells), ""]
    if len(per_t):
        worst = per_t[per_t.split == "ood"].sort_values("rate", ascending=False).head(10)
        lines += ["## Per-template abnormal rate (out-of-template, highest 10; all in per_template.csv)", "",
                  markdown_table(worst[["model", "templates", "template", "n", "abnormal", "rate", "gt_rate"]]
                                 .round(3)), ""]  # fmt: skip
    lines += ["## Figures", ""] + [f"![{p.stem}]({p.name})" for p in figs if p is not None] + [""]
    if gifs:
        lines += [
            "## Out-of-template videos: ground truth | "
            + " | ".join(f"{t} templates" for t in sorted({int(c["templates"]) for c in cells}, reverse=True))
            + "",
            "",
        ]
        lines += [f"![{g.stem}](gifs/{g.name})" for g in gifs] + [""]
    return write_text(dest / "report.md", "\n".join(lines))


def _not_computed(cell_dir: Path) -> list[str]:
    p = cell_dir / "eval" / "not_computed.json"
    return list(json.loads(p.read_text())) if p.is_file() else []
