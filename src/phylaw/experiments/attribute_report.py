"""The attribute studies' report (Figs. 8, 9, 14–16), from the cells' CSV files only.

``build_attribute_report(OUT, DEST)`` reads ``OUT/plan.json`` and, of every cell whose ``attributes`` stage
finished, ``cells/<id>/attributes/{rows.csv, videos.csv, attributes.json, attributes.png, media/*.gif}``; it
writes ``DEST/report.md``, a self-contained ``DEST/report.html``, ``DEST/counts.csv``, ``DEST/priority.csv``,
the priority-matrix figure and the cells' figures and GIFs. ``priority_of(dirs)`` pools the win rows of
several experiment directories (fig8 and fig9 together order all four attributes).
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from phylaw.errors import PhylawError
from phylaw.evaluate.attributes import OUTCOMES, Win, priority_matrix, priority_order, wins_of
from phylaw.experiments.study_report import b64, html_start, html_tail, markdown_tail, read_plan
from phylaw.experiments.tables import html_table, markdown_table
from phylaw.io import read_json, write_csv, write_text

ATTR_DIR = "attributes"
FIG14_HEADING = "Generated vs conditioning attributes (Fig. 14 style)"
GIF_HEADING, MISSING_HEADING = "Typical conflicts", "Cells without attribute results yet"
PAPER_ORDER = ("color", "size", "velocity", "shape")  # §5.3: color > size > velocity > shape
NOTE = (
    "Each test video conditions on a combination never seen in training. Counts: of N generated test videos, "
    "how many kept both attributes of the condition, changed only one, changed both, or lost the object "
    "(evaluate.attributes: colour from the largest palette mask, shape from the parser's descriptor, size from "
    "the mask area and shape, speed from the fitted x slope, each put in the nearest value set of the pair). "
    "Win rate: first attribute kept and second changed, among the videos that changed exactly one (Wilson 95 %). "
    "GT error: the same read-out of the ground-truth frames of the same videos, read into another value set "
    "(the floor of each decision). VAE recon kept both: the same read-out of the cell's autoencoder "
    "reconstructions of the same ground truth; below N, the autoencoder itself loses or changes the object, "
    "and what the model generates there measures the VAE, not the DiT."
)


@dataclass
class AttrCell:
    run_id: str
    factors: dict
    info: dict
    rows: pd.DataFrame
    videos: pd.DataFrame
    figure: Path | None
    gifs: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class AttributeReportFiles:
    html: Path
    markdown: Path
    pngs: tuple[Path, ...]


def load_cells(out: Path) -> tuple[dict, list[AttrCell], list[str]]:
    plan = read_plan(out)
    cells, missing = [], []
    for c in plan["cells"]:
        d = out / "cells" / c["run_id"] / ATTR_DIR
        if not (d / "attributes.json").is_file():
            missing.append(c["run_id"])
            continue
        dtype = {"split": str, "level": str}
        cells.append(AttrCell(c["run_id"], dict(c.get("factors") or []), read_json(d / "attributes.json"),
                              pd.read_csv(d / "rows.csv", dtype=dtype), pd.read_csv(d / "videos.csv", dtype=dtype),
                              d / "attributes.png" if (d / "attributes.png").is_file() else None,
                              sorted((d / "media").glob("*.gif"))))  # fmt: skip
    return plan, cells, missing


def _get(rows: pd.DataFrame, level: str, metric: str) -> pd.Series | None:
    r = rows[(rows["level"] == level) & (rows["metric"] == metric)]
    return None if not len(r) else r.iloc[-1]


def counts_table(cells: list[AttrCell]) -> pd.DataFrame:
    """One row per cell and evaluated combination (test levels first, then pooled, then the trained ones)."""
    out = []
    for c in cells:
        first, second = c.info["attributes"]
        levels = sorted(
            c.rows["level"].unique(), key=lambda lv: (_split(c, lv) != "test", lv == "pooled", lv)
        )
        for lv in levels:
            base = _get(c.rows, lv, "outcome_kept_both")
            if base is None:
                continue
            n = int(base["n"])
            counts = {o: round(float(_get(c.rows, lv, f"outcome_{o}")["value"]) * n) for o in OUTCOMES}
            # generic first / second columns: one table holds pairs of different attributes without gaps
            row = {"setting": c.info["setting"], "first": first, "second": second, "combination": lv,
                   "role": _split(c, lv), "N": n, "kept both": counts["kept_both"],
                   "first changed only": counts["changed_first"], "second changed only": counts["changed_second"],
                   "both changed": counts["changed_both"], "lost": counts["lost"]}  # fmt: skip
            win = _get(c.rows, lv, f"win_{first}_over_{second}")
            if win is not None and int(win["n"]):
                k = round(float(win["value"]) * int(win["n"]))
                row["win rate (first over second)"] = (
                    f"{float(win['value']):.2f} [{float(win['ci_low']):.2f}, {float(win['ci_high']):.2f}] "
                    f"({k}/{int(win['n'])})"
                )
            else:
                row["win rate (first over second)"] = "–"
            vae = _get(c.rows, lv, "vae_outcome_kept_both")
            row["VAE recon kept both"] = "–" if vae is None else f"{round(float(vae['value']) * n)}/{n}"
            for which, attr in (("first", first), ("second", second)):
                ch = _get(c.rows, lv, f"{attr}_changed")
                row[f"GT error {which}"] = "–" if ch is None else f"{float(ch['floor']):.3f}"
            out.append(row)
    return pd.DataFrame(out)


def _split(c: AttrCell, level: str) -> str:
    r = c.rows[c.rows["level"] == level]
    return "test" if len(r) and r["split"].iloc[0] == "ood" else "train"


def cell_wins(cells: list[AttrCell]) -> list[Win]:
    return [w for c in cells if c.info.get("kind") == "pair" for w in wins_of(c.rows)]


def priority_of(dirs: list[str | Path]) -> tuple[list[Win], str]:
    """The pooled wins of the pair cells of several experiment directories and the order they imply (one-line
    error when none of them has a finished pair cell)."""
    wins = []
    for d in dirs:
        _, cells, _ = load_cells(Path(d))
        wins += cell_wins(cells)
    if not wins:
        raise PhylawError(f"no finished attribute pair cell in {', '.join(map(str, dirs))}")
    return wins, priority_order(wins, _attrs(wins)).text()


def _order_lines(wins: list[Win], attrs: tuple[str, ...]) -> list[str]:
    """The orders the wins imply (loose: win rate > 1/2; strict: Wilson interval above 1/2) and the paper's."""
    loose, strict = priority_order(wins, attrs), priority_order(wins, attrs, strict=True)
    paper = [a for a in PAPER_ORDER if a in attrs]
    agrees = "agrees" if loose.total and list(loose.order) == paper else "differs or undecided"
    return [f"Order (win rate > 1/2): **{loose.text()}**",
            f"Order (Wilson interval above 1/2): **{strict.text()}**",
            f"The paper (§5.3) on these attributes: {' > '.join(paper)} — {agrees}."]  # fmt: skip


def build_priority_report(dirs: list[str | Path], dest: str | Path) -> Path:
    """Pool the pair cells of several attribute experiments (Fig. 8's pairs with shape and Fig. 9's without)
    into one priority matrix over every attribute they cover: ``dest/priority.csv``, ``priority_matrix.png``,
    ``priority.md`` (the matrix, the orders, the paper's, and each pair's pooled test counts). One-line error
    when no directory holds a finished pair cell."""
    from phylaw.evaluate.attribute_plots import matrix_figure

    wins, _ = priority_of(dirs)
    dest = Path(dest)
    attrs = _attrs(wins)
    matrix = priority_matrix(wins, attrs)
    write_csv(dest / "priority.csv", matrix.reset_index(names="kept"))
    fig = matrix_figure(wins, dest / "priority_matrix.png", attrs, "attribute priority, pooled")
    counts = pd.concat([counts_table(load_cells(Path(d))[1]) for d in dirs], ignore_index=True)
    pooled = counts[(counts["role"] == "test") & (counts["combination"] == "pooled")] if len(counts) else counts
    md = ["# Attribute priority, pooled over " + ", ".join(f"`{d}`" for d in dirs), "", NOTE, "",
          markdown_table(matrix.reset_index(names="kept \\ changed")), "",
          *[f"- {line}" for line in _order_lines(wins, attrs)], "", f"![priority]({fig.name})", "",
          "## Pooled test counts per pair", "", markdown_table(pooled) if len(pooled) else "(no counts)", ""]  # fmt: skip
    return write_text(dest / "priority.md", "\n".join(md))


def _attrs(wins: list[Win]) -> tuple[str, ...]:
    present = {w.a for w in wins} | {w.b for w in wins}
    return tuple(a for a in PAPER_ORDER if a in present)  # shown in the paper's order


def build_attribute_report(out: str | Path, dest: str | Path) -> AttributeReportFiles:
    """Write the attribute report of experiment directory ``out`` into ``dest`` (module docstring)."""
    from phylaw.evaluate.attribute_plots import matrix_figure

    out, dest = Path(out), Path(dest)
    plan, cells, missing = load_cells(out)
    (dest / "media").mkdir(parents=True, exist_ok=True)
    counts = counts_table(cells)
    write_csv(dest / "counts.csv", counts)
    wins = cell_wins(cells)
    attrs = _attrs(wins)
    figs: dict[str, Path] = {}
    order_lines = []
    if wins:
        matrix = priority_matrix(wins, attrs)
        write_csv(dest / "priority.csv", matrix.reset_index(names="kept"))
        figs["matrix"] = matrix_figure(
            wins, dest / "priority_matrix.png", attrs, f"{plan['experiment']}: priority"
        )
        order_lines = _order_lines(wins, attrs)
    else:
        matrix = pd.DataFrame()
    for c in cells:
        if c.figure is not None:
            figs[c.run_id] = Path(shutil.copyfile(c.figure, dest / f"{c.info['setting']}.png"))
    gifs = []
    for c in cells:
        for g in c.gifs:
            gifs.append(
                (
                    f"{c.info['setting']}: {g.stem}",
                    Path(shutil.copyfile(g, dest / "media" / f"{c.run_id}__{g.name}")),
                )
            )
    title = f"phylaw {plan['experiment']} ({plan['scale']} scale): attribute priority"
    md = [
        f"# {title}",
        "",
        plan.get("description", ""),
        "",
        NOTE,
        "",
        "## Counts",
        "",
        markdown_table(counts),
        "",
    ]
    if wins:
        md += ["## Priority matrix", "", markdown_table(matrix.reset_index(names="kept \\ changed")), "",
               *[f"- {line}" for line in order_lines], "", f"![priority]({figs['matrix'].name})", ""]  # fmt: skip
    md += [f"## {FIG14_HEADING}", ""]
    md += [f"![{c.info['setting']}]({figs[c.run_id].name})" for c in cells if c.run_id in figs] + [""]
    md += markdown_tail(GIF_HEADING, gifs, MISSING_HEADING, missing)
    md_path = write_text(dest / "report.md", "\n".join(md))
    html_path = write_text(
        dest / "report.html", _html(title, plan, counts, matrix, order_lines, figs, cells, gifs, missing)
    )
    return AttributeReportFiles(html_path, md_path, tuple(figs.values()))


def _html(title, plan, counts, matrix, order_lines, figs, cells, gifs, missing) -> str:
    e = html.escape
    parts = [*html_start(title, plan.get("description", ""), NOTE), "<h2>Counts</h2>", html_table(counts)]
    if len(matrix):
        parts += ["<h2>Priority matrix</h2>", html_table(matrix.reset_index(names="kept \\ changed"))]
        parts += [f"<p>{e(line.replace('**', ''))}</p>" for line in order_lines]
        parts.append(f"<img class='plot' alt='priority matrix' src='{b64(figs['matrix'], 'image/png')}'>")
    parts.append(f"<h2>{e(FIG14_HEADING)}</h2>")
    parts += [f"<img class='plot' alt='{e(c.info['setting'])}' src='{b64(figs[c.run_id], 'image/png')}'>"
              for c in cells if c.run_id in figs]  # fmt: skip
    parts += html_tail(GIF_HEADING, gifs, MISSING_HEADING, missing)
    return "\n".join(parts)
