"""The mechanism studies' report (Figs. 5–7 and case-based retrieval), from the cells' CSV files only.

``build_study_report(OUT, DEST)`` reads ``OUT/plan.json`` and, of every cell whose ``study`` stage finished,
``cells/<id>/study/*.csv`` and ``study.json``, ``cell_results.csv`` and ``gallery/*.gif``; it writes
``DEST/report.md``, a self-contained ``DEST/report.html`` (images inline), the figures as PNGs and the GIFs
under ``DEST/media``. It never re-evaluates; a cell that has not finished is listed as missing.
"""

from __future__ import annotations

import base64
import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.evaluate import study_plots as sp
from phylaw.evaluate.study_run import SPEED_EDGES
from phylaw.experiments.tables import fmt_ci, html_table, markdown_table
from phylaw.io import read_json, write_text

# the numbers each study's table shows: (column title, split, level, metric)
KEY_ROWS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "gap": (
        ("in-gap videos landing in the gap", "ood", "gap", "gap_landing_gap"),
        ("... in a seen band", "ood", "gap", "gap_landing_seen"),
        ("... outside [1, 4]", "ood", "gap", "gap_landing_outside"),
        ("|v_gen − v|, gap", "ood", "gap", "speed_error"),
        ("|v_gen − v|, seen", "id", "seen", "speed_error"),
    ),
    "hole": (
        ("velocity error, seen", "id", "seen", "velocity_error"),
        ("in hull", "ood", "in_hull", "velocity_error"),
        ("out of hull", "ood", "out_of_hull", "velocity_error"),
        ("out − in hull", "ood", "out_of_hull-in_hull", "velocity_error_out_minus_in_hull"),
        ("in hull − seen", "ood", "in_hull-seen", "velocity_error_in_hull_minus_seen"),
    ),
    "memo": (
        ("reversal rate, low v", "ood", "low", "reversal_rate"),
        ("at training speeds, low v", "ood", "low", "training_speed_rate"),
        ("shift v_gen − v, low v", "ood", "low", "speed_shift"),
        ("reversal rate, seen v", "id", "seen", "reversal_rate"),
    ),
}
CASE_ROWS = (
    ("case index (frames), ID", "id", "pooled", "case_index_frames"),
    ("case index (frames), OOD", "ood", "pooled", "case_index_frames"),
    ("case index (params), OOD", "ood", "pooled", "case_index_params"),
)
TITLES = {"gap": "Fig. 5: velocity gaps (uniform motion)", "hole": "Fig. 6: holes in the training plane (collision)",
          "memo": "Fig. 7: memorisation, Set-1 vs Set-2 (uniform motion)"}  # fmt: skip
NOTES = {
    "gap": "Each panel: one training set; green bands: its training speeds. Dots: one evaluation video each "
    "(generated speed = least-squares slope of the parsed centre over the generated frames); line and band: "
    "median and quartiles per 0.25-wide bin of the conditioning speed; red dashed: the law.",
    "hole": "Mean post-collision velocity error per plane point (averaged over the radii), the training points "
    "(grey) and their convex hull (black).",
    "memo": "Generated speeds of the low-speed tests (v in [1.0, 2.5)) of each model; left of 0 the ball "
    "reverses after the conditioning frames.",
}


@dataclass
class CellData:
    run_id: str
    factors: dict
    study: dict
    rows: pd.DataFrame
    videos: pd.DataFrame
    retrieval: dict[str, pd.DataFrame]
    extra: pd.DataFrame | None  # bins.csv or heat.csv
    gifs: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class StudyReportFiles:
    html: Path
    markdown: Path
    pngs: tuple[Path, ...]


# ------------------------------------------------------------------------------- shared by the study reports
# (this one, experiments.attribute_report and fig11's composition report)
def read_plan(out: Path) -> dict:
    """``OUT/plan.json`` (one-line error when ``out`` is not an experiment directory)."""
    if not (out / "plan.json").is_file():
        raise PhylawError(
            f"{out} is not an experiment directory (no plan.json); run `phylaw reproduce` first"
        )
    return read_json(out / "plan.json")


def b64(path: Path, mime: str) -> str:
    """``path`` as a data URI (images inline: the HTML report is one self-contained file)."""
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def html_start(title: str, *notes: str) -> list[str]:
    """The opening of a self-contained HTML report: head with the shared CSS, the title, one note per line."""
    from phylaw.experiments.report import CSS

    e = html.escape
    return ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>",
            *[f"<p class='note'>{e(n)}</p>" for n in notes]]  # fmt: skip


def html_tail(
    gif_heading: str, gifs: list[tuple[str, Path]], missing_heading: str, missing: list[str]
) -> list[str]:
    """The GIF gallery (captioned, inline) and the list of unfinished cells, each only when not empty, and the
    end of the document."""
    e = html.escape
    parts = []
    if gifs:
        parts += [f"<h2>{e(gif_heading)}</h2>", "<div class='gal'>"]
        parts += [f"<figure><img alt='{e(t)}' src='{b64(p, 'image/gif')}'><figcaption>{e(t)}</figcaption></figure>"
                  for t, p in gifs]  # fmt: skip
        parts.append("</div>")
    if missing:
        parts += [f"<h2 class='failed'>{e(missing_heading)}</h2>",
                  "<ul>" + "".join(f"<li><code>{e(m)}</code></li>" for m in missing) + "</ul>"]  # fmt: skip
    return [*parts, "</body></html>"]


def markdown_tail(
    gif_heading: str, gifs: list[tuple[str, Path]], missing_heading: str, missing: list[str]
) -> list[str]:
    """The Markdown of ``html_tail`` (GIFs linked under ``media/``)."""
    md = []
    if gifs:
        md += [f"## {gif_heading}", "", *[f"![{t}](media/{p.name})" for t, p in gifs], ""]
    if missing:
        md += [f"## {missing_heading}", "", *[f"- `{m}`" for m in missing], ""]
    return md


def load_cells(out: Path) -> tuple[dict, list[CellData], list[str]]:
    """The plan and the finished cells' study files (and the ids of the cells without them)."""
    plan = read_plan(out)
    cells, missing = [], []
    for c in plan["cells"]:
        d = out / "cells" / c["run_id"]
        s = d / "study"
        if not (s / "study.json").is_file():
            missing.append(c["run_id"])
            continue
        rows = pd.read_csv(d / "cell_results.csv", dtype={"split": str, "level": str}) if (
            d / "cell_results.csv").is_file() else pd.read_csv(s / "rows.csv", dtype={"split": str, "level": str})  # fmt: skip
        extra = next((pd.read_csv(s / n) for n in ("bins.csv", "heat.csv") if (s / n).is_file()), None)
        retrieval = {k: pd.read_csv(s / f"retrieval_{k}.csv", dtype={"split": str, "level": str})
                     for k in ("frames", "params") if (s / f"retrieval_{k}.csv").is_file()}  # fmt: skip
        cells.append(CellData(c["run_id"], dict(c.get("factors") or []), read_json(s / "study.json"), rows,
                              pd.read_csv(s / "videos.csv", dtype={"split": str, "level": str}), retrieval, extra,
                              sorted((d / "gallery").glob("*.gif"))))  # fmt: skip
    return plan, cells, missing


def _value(rows: pd.DataFrame, split: str, level: str, metric: str) -> str:
    r = rows[(rows["split"] == split) & (rows["level"] == level) & (rows["metric"] == metric)]
    if not len(r):
        return "–"
    r = r.iloc[-1]
    digits = 3
    text = fmt_ci(float(r["value"]), float(r["ci_low"]), float(r["ci_high"]), digits)
    n = "–" if pd.isna(r["n"]) else int(r["n"])
    floor = "–" if pd.isna(r["floor"]) else f"{float(r['floor']):.{digits}f}"
    return f"{text} (n {n}; floor {floor})"


def key_table(cells: list[CellData]) -> pd.DataFrame:
    """One row per cell: its setting and the study's key numbers (value [95 % CI] (n; floor))."""
    out = []
    for c in cells:
        study = c.study["study"]
        row = {"setting": c.factors.get("setting", c.study.get("setting")), "model": c.factors.get("model", ""),
               "training videos": c.factors.get("data_size", "")}  # fmt: skip
        for title, split, level, metric in (*KEY_ROWS[study], *CASE_ROWS):
            row[title] = _value(c.rows, split, level, metric)
        out.append(row)
    return pd.DataFrame(out)


def cost_table(cells: list[CellData]) -> pd.DataFrame:
    rows = []
    for c in cells:
        for kind, info in c.study.get("retrieval", {}).items():
            rows.append({"cell": c.factors.get("setting", c.run_id), "index": kind, **info})
    return pd.DataFrame(rows)


def _figures(cells: list[CellData], dest: Path) -> dict[str, Path]:
    from phylaw.evaluate import studies as st
    from phylaw.evaluate.retrieval import case_index

    figs: dict[str, Path] = {}
    by = {s: [c for c in cells if c.study["study"] == s] for s in KEY_ROWS}
    if by["gap"]:
        panels = [sp.GapPanel(str(c.factors.get("setting")), c.videos, tuple(map(tuple, c.study["bands"])),
                              st.speed_bins(c.videos, SPEED_EDGES), st.speed_bins(c.videos, SPEED_EDGES, "v_floor"))
                  for c in by["gap"]]  # fmt: skip
        figs["gap"] = sp.gap_figure(panels, dest / "fig5_gaps.png")
    if by["hole"]:
        vmax = max(float(np.nanmax(c.extra["value"])) for c in by["hole"] if c.extra is not None)
        panels = [sp.HullPanel(str(c.factors.get("setting")), c.extra, tuple(c.study["plane"]),
                               np.asarray(c.study["train_points"]), np.asarray(c.study["hull"]), vmax)
                  for c in by["hole"] if c.extra is not None]  # fmt: skip
        figs["hole"] = sp.hull_figure(panels, dest / "fig6_holes.png")
    if by["memo"]:
        series = []
        for c in by["memo"]:
            low = c.videos[c.videos["level"] == "low"]
            series.append(
                sp.MemoPanel(
                    str(c.factors.get("setting")), low["v_gen"].to_numpy(), low["v_floor"].to_numpy()
                )
            )
        figs["memo"] = sp.memo_figure(series, dest / "fig7_memorisation.png")
    panels = []
    for c in cells:
        if "frames" in c.retrieval:
            p, lo, hi, _ = case_index(c.retrieval["frames"])
            panels.append(
                sp.CasePanel(
                    f"{c.factors.get('setting')}: nearest by frames", c.retrieval["frames"], p, (lo, hi)
                )
            )
    if panels:
        figs["case"] = sp.case_figure(panels, dest / "case_vs_law.png")
    return figs


def _gifs(cells: list[CellData], media: Path, per_cell: int = 2) -> list[tuple[str, Path]]:
    out = []
    for c in cells:
        ids = [g for g in c.gifs if g.name.startswith("id_")][: per_cell // 2 or 1]
        oods = [g for g in c.gifs if g.name.startswith("ood_")][: max(1, per_cell - len(ids))]
        for g in ids + oods:
            dst = media / f"{c.run_id}__{g.name}"
            shutil.copyfile(g, dst)
            out.append((f"{c.factors.get('setting')}: {g.stem}", dst))
    return out


def build_study_report(out: str | Path, dest: str | Path) -> StudyReportFiles:
    """Write the study report of experiment directory ``out`` into ``dest`` (module docstring)."""
    out, dest = Path(out), Path(dest)
    plan, cells, missing = load_cells(out)
    (dest / "media").mkdir(parents=True, exist_ok=True)
    figs = _figures(cells, dest)
    gifs = _gifs(cells, dest / "media")
    title = f"phylaw {plan['experiment']} ({plan['scale']} scale): mechanism studies"
    tables = {s: key_table([c for c in cells if c.study["study"] == s]) for s in KEY_ROWS}
    tables = {s: t for s, t in tables.items() if len(t)}
    costs = cost_table(cells)
    md = [f"# {title}", "", plan.get("description", ""), "",
          "Values: mean or proportion [95 % CI] (n videos; ground-truth floor = the same analysis of the parser "
          "on the ground-truth frames of the same videos). Proportions: Wilson intervals; means: Student-t; "
          "differences: Welch.", ""]  # fmt: skip
    for s, t in tables.items():
        md += [
            f"## {TITLES[s]}",
            "",
            NOTES[s],
            "",
            markdown_table(t),
            "",
            f"![{s}]({figs[s].name})" if s in figs else "",
            "",
        ]
    md += ["## Case-based retrieval", "", _CASE_NOTE, ""]
    md += [f"![case vs law]({figs['case'].name})", ""] if "case" in figs else []
    md += [
        "Index cost (training videos, dimensions, build and query seconds):",
        "",
        markdown_table(costs),
        "",
    ]
    md += markdown_tail("Typical cases", gifs, MISSING_HEADING, missing)
    md_path = write_text(dest / "report.md", "\n".join(md))
    html_path = write_text(dest / "report.html", _html(title, plan, tables, figs, costs, gifs, missing))
    return StudyReportFiles(html_path, md_path, tuple(figs.values()))


_CASE_NOTE = (
    "For every generated video: its nearest training video by the conditioning frames (PCA of 16-px ink "
    "features, k-d tree) and by the true parameters; the generation's continuation is compared with the law "
    "(the simulator's continuation) and with its nearest case's. Index = fraction of videos (whose case and law "
    "differ by >= 0.2 world/s) closer to the case: 1 = copies cases, 0 = follows the law."
)


MISSING_HEADING = "Cells without study results yet"


def _html(title, plan, tables, figs, costs, gifs, missing) -> str:
    e = html.escape
    parts = html_start(title, f"{plan.get('description', '')} Values: mean or proportion [95 % CI] (n videos; "
                       "ground-truth floor). Built from the cells' CSV files.")  # fmt: skip
    for s, t in tables.items():
        parts += [f"<h2>{e(TITLES[s])}</h2>", f"<p class='note'>{e(NOTES[s])}</p>", html_table(t)]
        if s in figs:
            parts.append(f"<img class='plot' alt='{s}' src='{b64(figs[s], 'image/png')}'>")
    parts += ["<h2>Case-based retrieval</h2>", f"<p class='note'>{e(_CASE_NOTE)}</p>"]
    if "case" in figs:
        parts.append(f"<img class='plot' alt='case vs law' src='{b64(figs['case'], 'image/png')}'>")
    parts.append(html_table(costs))
    parts += html_tail("Typical cases", gifs, MISSING_HEADING, missing)
    return "\n".join(parts)
