"""``phylaw report``: one self-contained HTML page (+ Markdown + PNGs) from result CSVs, never re-evaluating.

Inputs are run directories written by ``phylaw demo`` / ``phylaw reproduce`` (each holds ``results.csv``,
``status.csv`` and ``cells/<run_id>/`` with ``train_metrics.csv`` and ``gallery/*.gif``).
"""

from __future__ import annotations

import base64
import html
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from phylaw.errors import PhylawError
from phylaw.experiments.experiment import (
    FIG3_FACTORS,
    OPTIONAL_RESULT_COLUMNS,
    RESULT_COLUMNS,
    ReportSection,
    factor_columns,
    with_result_columns,
)
from phylaw.experiments.plots import error_distribution, scaling_plot, training_curves
from phylaw.experiments.published import FLOOR_RESOLUTION, REPRODUCED_FLOORS, published_for
from phylaw.experiments.tables import (
    HEADLINE_METRIC,
    RELEASE_METRIC,
    headline_table,
    html_table,
    level_table,
    markdown_table,
    published_table,
)
from phylaw.io import write_text

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table.tbl{border-collapse:collapse;font-size:.85em;margin:.5em 0} .tbl th,.tbl td{border:1px solid #ccc;
padding:3px 7px;text-align:right} .tbl th{background:#f3f3f3} .tbl td:first-child{text-align:left}
img.plot{max-width:100%;border:1px solid #eee} .gal{display:flex;flex-wrap:wrap;gap:12px}
.gal figure{margin:0} .gal figcaption{font-size:.8em;color:#555} .note{color:#555;font-size:.9em}
.failed{color:#a00}
"""


# secondary metrics shown as their own ID/OOD table when the results have them
EXTRA_METRICS = {
    "mean_velocity_error": "Error of the mean velocity (the released evaluator's number, for comparability)",
    "parse_failure_rate": "Parse failure rate (frames where the object was not found)",
}


RELEASE_NOTE = (
    "release_headline, phylaw evaluate --metric-set release: the released evaluator's numbers (uniform: error "
    "of the mean velocity; collision: post-collision mean-velocity error; parabola: x position error, world "
    "units). Solid: ours (95 % CI); dashed: our release-mode floor (the release's raster of the ground truth "
    "at 256², area-averaged to the cells' resolution); hollow diamonds: values stated in the paper's text; "
    "dotted: the paper's floor (256²). The floor includes the release's pixel-scale bias v/256, which videos "
    "of a model trained on phylaw's frames do not carry (docs/evaluation.md)."
)
PUB_NOTE = (
    "The paper's numbers are of the released evaluator's quantity (metric release_headline); 'phylaw (release "
    "mode)' is our value of it for the same scenario, model and data size (GT floor rows: our release-mode "
    "floor at the cells' resolution; beside it our floor at the resolution the paper's floors were measured "
    "at). '–': no such cell here. phylaw's own per-frame velocity_error is reported separately above."
)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    pngs: tuple[Path, ...]
    gifs: tuple[Path, ...]


@dataclass(frozen=True)
class RunData:
    results: pd.DataFrame
    status: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    gifs: tuple[tuple[str, Path], ...]  # (caption, path)
    experiments: tuple[str, ...]
    videos: dict[str, pd.DataFrame] = field(default_factory=dict)  # cell -> per-video velocity errors


def load_runs(run_dirs: Sequence[Path]) -> RunData:
    """Read every run directory's CSVs (and find its training curves and GIFs)."""
    results, status, curves, gifs, names, videos = [], [], {}, [], [], {}
    for d in map(Path, run_dirs):
        path = d / "results.csv"
        if not path.is_file():
            raise PhylawError(
                f"{d} is not a phylaw run directory (no results.csv); run `phylaw demo` or `phylaw reproduce` first"
            )
        df = pd.read_csv(path, dtype={"split": str, "level": str})
        required = set(RESULT_COLUMNS) - set(OPTIONAL_RESULT_COLUMNS) - set(FIG3_FACTORS)
        missing = required - set(df.columns)
        if missing or not factor_columns(df):
            raise PhylawError(f"{path} lacks columns {sorted(missing) or ['(factor columns)']}")
        results.append(with_result_columns(df))
        if (d / "status.csv").is_file():
            status.append(pd.read_csv(d / "status.csv"))
        names += sorted({f"{e}/{s}" for e, s in zip(df["experiment"], df["scale"], strict=True)})
        for cell in sorted((d / "cells").glob("*")):
            tm = cell / "train_metrics.csv"
            if tm.is_file():
                curves[cell.name] = pd.read_csv(tm)
            gifs += [(f"{cell.name}: {g.stem}", g) for g in sorted((cell / "gallery").glob("*.gif"))]
            per_video = _per_video_errors(cell / "eval" / "metrics.csv")
            if per_video is not None:
                videos[cell.name] = per_video
    res = pd.concat(results, ignore_index=True) if results else pd.DataFrame(columns=list(RESULT_COLUMNS))
    res = with_result_columns(res)  # runs with other factors side by side: the union of their factor columns
    res = res.drop_duplicates(subset=["run_id", "split", "level", "metric"], keep="last")
    st = pd.concat(status, ignore_index=True) if status else pd.DataFrame()
    return RunData(res, st, curves, tuple(gifs), tuple(dict.fromkeys(names)), videos)


def _per_video_errors(path: Path) -> pd.DataFrame | None:
    """The evaluator's per-video velocity errors of one cell (split, level, value, floor), if it has them."""
    if not path.is_file():
        return None
    cols = ["split", "level", "metric", "included", "value", "floor"]
    try:
        df = pd.read_csv(path, usecols=cols, dtype={"split": str, "level": str})
    except ValueError:  # another layout: no per-video plot for this cell
        return None
    df = df[(df["metric"] == HEADLINE_METRIC) & df["included"].astype(bool)]
    return df[["split", "level", "value", "floor"]].reset_index(drop=True) if len(df) else None


def _b64(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def report_section(experiment: str) -> ReportSection:
    """The report section a registered experiment declares; the default one for any other results."""
    from phylaw.experiments.registry import EXPERIMENTS, get_experiment

    return get_experiment(experiment).report if experiment in EXPERIMENTS else ReportSection()


def _figures(data: RunData, out: Path, section: ReportSection, experiment: str) -> dict[str, Path]:
    """The section's figures that these results can draw (a scaling plot needs scenario, model, data_size)."""
    figs: dict[str, Path] = {}
    factors = set(factor_columns(data.results))
    if "scaling" in section.figures and set(FIG3_FACTORS) <= factors:
        figs["scaling"] = scaling_plot(
            data.results, out / "scaling.png", experiment=experiment, metric=section.metric
        )
        if RELEASE_METRIC in set(data.results["metric"]):  # the paper's quantity, beside its published values
            figs["scaling_release"] = scaling_plot(
                data.results, out / "scaling_release.png", experiment=experiment, metric=RELEASE_METRIC
            )
    if "training_curves" in section.figures and data.curves:
        figs["training_curves"] = training_curves(data.curves, out / "training_curves.png")
    if "error_distribution" in section.figures and data.videos:
        figs["error_distribution"] = error_distribution(data.videos, out / "error_distribution.png")
    return figs


def build_report(
    run_dirs: Sequence[Path],
    out: Path,
    *,
    max_gifs: int = 8,
    title: str = "phylaw report",
    section: ReportSection | None = None,
) -> ReportFiles:
    """Write ``out/report.html`` (all images inline), ``out/report.md``, PNG plots and copied GIFs; tables
    group by the results' factor columns."""
    if not run_dirs:
        raise PhylawError("give at least one run directory")
    data = load_runs(run_dirs)
    out = Path(out)
    (out / "media").mkdir(parents=True, exist_ok=True)
    experiment = str(data.results["experiment"].iloc[0]) if len(data.results) else "fig3"
    section = section or report_section(experiment)
    figs = _figures(data, out, section, experiment)
    pngs = list(figs.values())
    gifs = _copy_gifs(data.gifs, out / "media", max_gifs)
    head = headline_table(data.results, section.metric)
    levels = level_table(data.results, section.metric)
    extra = {
        m: headline_table(data.results, m, label="value")
        for m in EXTRA_METRICS
        if m in set(data.results["metric"])
    }
    pub = published_table(data.results, published_for(str(experiment)), REPRODUCED_FLOORS, FLOOR_RESOLUTION)
    md = _markdown(title, data, head, levels, pub, pngs, gifs, extra)
    page = _html(title, data, head, levels, pub, figs, gifs, extra)
    md_path, html_path = write_text(out / "report.md", md), write_text(out / "report.html", page)
    return ReportFiles(html_path, md_path, tuple(pngs), tuple(p for _, p in gifs))


def _copy_gifs(gifs: Sequence[tuple[str, Path]], media: Path, max_gifs: int) -> list[tuple[str, Path]]:
    ids = [g for g in gifs if "/id_" in f"/{g[1].name}"]
    oods = [g for g in gifs if "/ood_" in f"/{g[1].name}"]
    rest = [g for g in gifs if g not in ids and g not in oods]
    half = max(1, max_gifs // 2)
    chosen = ids[:half] + oods[:half]
    chosen += rest[: max(0, max_gifs - len(chosen))]
    copied = []
    for caption, src in chosen:
        dst = media / f"{src.parent.parent.name}__{src.name}"
        shutil.copyfile(src, dst)
        copied.append((caption, dst))
    return copied


def _failed(status: pd.DataFrame) -> pd.DataFrame:
    if status.empty or "state" not in status:
        return pd.DataFrame()
    return status[status["state"] != "done"][["run_id", "state", "error"]].fillna("")


def _markdown(title, data: RunData, head, levels, pub, pngs, gifs, extra) -> str:
    lines = [
        f"# {title}",
        "",
        f"Runs: {', '.join(data.experiments) or '–'}. Built from result CSVs (no re-evaluation).",
        "",
    ]
    lines += ["## Velocity error (ID / OOD, 95 % CI, ground-truth floor)", "", markdown_table(head), ""]
    for metric, table in extra.items():
        lines += [f"## {EXTRA_METRICS[metric]}", "", markdown_table(table), ""]
    lines += ["## Per level", "", markdown_table(levels), ""]
    lines += [
        "## Published values beside phylaw's value of the same quantity (release mode)",
        "",
        PUB_NOTE,
        "",
    ]
    lines += [markdown_table(pub) if len(pub) else "_(none)_", ""]
    lines += [f"![{p.stem}]({p.name})" for p in pngs] + [""]
    if gifs:
        lines += ["## Ground truth vs generated", ""] + [f"![{c}](media/{p.name})" for c, p in gifs] + [""]
    failed = _failed(data.status)
    if len(failed):
        lines += ["## Unfinished or failed cells", "", markdown_table(failed), ""]
    return "\n".join(lines)


def _html(title, data: RunData, head, levels, pub, figs: dict[str, Path], gifs, extra) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p class='note'>Runs: {e(', '.join(data.experiments) or '–')}. Built from result CSVs "
        "(no re-evaluation). Velocity error in world units / s; brackets: 95 % confidence interval; GT floor: "
        "the same parser on ground-truth frames at the same resolution.</p>",
        "<h2 id='headline'>Velocity error: in-distribution vs out-of-distribution</h2>",
        html_table(head),
        "<h2 id='scaling'>Error vs training data (Fig. 3 style)</h2>",
        "<p class='note'>phylaw's own per-frame velocity error. Solid: ours (95 % CI); dashed: its ground-truth "
        "floor. The paper published no value of this quantity, so none is drawn here.</p>",
        *(
            [f"<img class='plot' alt='scaling plot' src='{_b64(figs['scaling'], 'image/png')}'>"]
            if "scaling" in figs
            else []
        ),
        *(
            [
                "<h3>Release mode: the paper's quantity</h3>",
                f"<p class='note'>{e(RELEASE_NOTE)}</p>",
                f"<img class='plot' alt='release-mode scaling plot' "
                f"src='{_b64(figs['scaling_release'], 'image/png')}'>",
            ]
            if "scaling_release" in figs
            else []
        ),
        *(f"<h2>{e(EXTRA_METRICS[m])}</h2>" + html_table(t) for m, t in extra.items()),
        "<h2 id='levels'>Per split and level</h2>",
        html_table(levels),
        *(
            [
                "<h2 id='videos'>Per-video errors</h2>",
                "<p class='note'>Empirical CDF of the velocity error of each evaluated video (log x). A curve "
                "crosses 0.5 at its median; a long right tail is a few videos, often ones whose object "
                "vanished, that can carry a mean.</p>",
                f"<img class='plot' alt='per-video errors' src='{_b64(figs['error_distribution'], 'image/png')}'>",
            ]
            if "error_distribution" in figs
            else []
        ),
        "<h2 id='published'>Published values beside phylaw's value of the same quantity (release mode)</h2>",
        f"<p class='note'>{e(PUB_NOTE)}</p>",
        html_table(pub) if len(pub) else "",
    ]
    if "training_curves" in figs:
        parts += [
            "<h2 id='training'>Training curves</h2>",
            f"<img class='plot' alt='training curves' src='{_b64(figs['training_curves'], 'image/png')}'>",
        ]
    if gifs:
        parts += [
            "<h2 id='gallery'>Ground truth vs generated</h2>",
            "<p class='note'>Left: ground truth; right: generated (first frames = condition). Green: "
            "centres parsed from ground truth; black: parsed from generated frames; orange: simulator "
            "truth.</p><div class='gal'>",
        ]
        for caption, p in gifs:
            parts.append(
                f"<figure><img alt='{e(caption)}' src='{_b64(p, 'image/gif')}'>"
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
        parts.append("</div>")
    failed = _failed(data.status)
    if len(failed):
        parts += ["<h2 id='failed' class='failed'>Unfinished or failed cells</h2>", html_table(failed)]
    parts.append("</body></html>")
    return "\n".join(parts)
