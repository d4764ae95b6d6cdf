"""Result tables built from the tidy results CSV only (never re-evaluates)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from phylaw.evaluate.registry import HEADLINE, RELEASE_HEADLINE
from phylaw.experiments.spec import size_label

HEADLINE_METRIC = HEADLINE  # the evaluator's headline metric (one definition)
RELEASE_METRIC = RELEASE_HEADLINE  # the release mode's headline: the quantity the paper published
POOLED = "pooled"  # the ``level`` of the pooled (all levels) row of a split


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def fmt_ci(value: float, low: float, high: float, digits: int = 4) -> str:
    """'0.0123 [0.0110, 0.0136]' (95 % CI), or just the value when the CI is missing."""
    if low is None or high is None or any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        return _fmt(value, digits)
    return f"{_fmt(value, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def pooled(results: pd.DataFrame, metric: str = HEADLINE_METRIC) -> pd.DataFrame:
    """Rows of the pooled (all levels) value of ``metric`` per cell and split."""
    sel = results[(results["metric"] == metric) & (results["level"].astype(str) == POOLED)]
    return sel.copy()


def _factors(results: pd.DataFrame, factors: Sequence[str] | None) -> list[str]:
    if factors is not None:
        return list(factors)
    from phylaw.experiments.experiment import factor_columns

    return list(factor_columns(results))


def _factor_cells(row: object, factors: Sequence[str]) -> dict[str, object]:
    """A row's factor values as table cells (``data_size`` in the paper's notation, "data")."""
    out: dict[str, object] = {}
    for f in factors:
        v = getattr(row, f) if not isinstance(row, dict) else row[f]
        out["data" if f == "data_size" else f] = (
            size_label(int(v)) if f == "data_size" and not _isnan(v) else v
        )
    return out


def _count(x: object) -> object:
    return "–" if _isnan(x) else int(x)


def headline_table(
    results: pd.DataFrame,
    metric: str = HEADLINE_METRIC,
    label: str = "error",
    factors: Sequence[str] | None = None,
    release: str | None = RELEASE_METRIC,
) -> pd.DataFrame:
    """One row per cell (its factor values): ID and OOD value with 95 % CIs and n, the floor and the ratios.

    ``factors`` default to the table's own factor columns (scenario, model, data_size for Fig. 3). ``release``:
    in the table of phylaw's headline metric, where the results also hold this release-mode metric
    (``--metric-set release``), its ID/OOD values and ID floor follow as extra columns ("release-mode"), the
    quantity the paper's numbers are of; tables of other metrics never get them."""
    sel = pooled(results, metric)
    keys = _factors(results, factors)
    beside = release and metric == HEADLINE_METRIC
    extra = pooled(results, release) if beside else sel.iloc[:0]
    rows = []
    for values, g in sel.groupby(keys, sort=True, dropna=False) if keys else [((), sel)]:
        values = values if isinstance(values, tuple) else (values,)
        row: dict[str, object] = _factor_cells(dict(zip(keys, values, strict=True)), keys)
        by = {r.split: r for r in g.itertuples()}
        for split in ("id", "ood"):
            r = by.get(split)
            row[f"{split.upper()} {label} [95% CI]"] = fmt_ci(r.value, r.ci_low, r.ci_high) if r else "–"
            row[f"{split.upper()} n"] = _count(r.n) if r else "–"
            row[f"{split.upper()} GT floor"] = _fmt(r.floor) if r else "–"
        rid, rood = by.get("id"), by.get("ood")
        row["ID / floor"] = _ratio(rid.value, rid.floor) if rid else "–"
        row["OOD / ID"] = _ratio(rood.value, rid.value) if (rid and rood) else "–"
        # medians: a few videos whose object vanishes can dominate the mean (docs/experiments.md)
        row["OOD / ID (medians)"] = (
            _ratio(getattr(rood, "median", float("nan")), getattr(rid, "median", float("nan")))
            if (rid and rood)
            else "–"
        )
        if len(extra):
            row.update(_release_cells(extra, dict(zip(keys, values, strict=True))))
        rows.append(row)
    return pd.DataFrame(rows)


def _release_cells(extra: pd.DataFrame, cell: dict) -> dict[str, str]:
    """The release-mode columns of one cell of the headline table."""
    g = extra
    for k, v in cell.items():
        g = g[g[k].isna()] if _isnan(v) else g[g[k] == v]
    by = {r.split: r for r in g.itertuples()}
    rid, rood = by.get("id"), by.get("ood")
    return {
        "ID release-mode [95% CI]": fmt_ci(rid.value, rid.ci_low, rid.ci_high) if rid else "–",
        "ID release-mode floor": _fmt(rid.floor) if rid else "–",
        "OOD release-mode [95% CI]": fmt_ci(rood.value, rood.ci_low, rood.ci_high) if rood else "–",
    }


def published_table(
    results: pd.DataFrame,
    pub: pd.DataFrame,
    reproduced: dict[str, float] | None = None,
    floor_resolution: int | None = None,
) -> pd.DataFrame:
    """Each published value beside phylaw's value of the same quantity (the published values' ``metric``, the
    release mode): the cell with the same scenario, model and data size (pooled split), or for a ground-truth
    floor ("gt") the mean release-mode ID floor of the scenario's cells, and ``reproduced[scenario]``, phylaw's
    floor measured at the published floors' resolution. "–": phylaw has no such value here."""
    out = []
    for p in pub.itertuples():
        ours = pooled(results, p.metric) if len(results) else results
        ours = ours[ours["scenario"] == p.scenario] if "scenario" in ours.columns else ours.iloc[:0]
        if p.split == "gt":
            g = ours[ours["split"] == "id"]
            value = g["floor"].astype(float).mean() if len(g) else float("nan")
        else:
            if {"model", "data_size"} <= set(ours.columns):
                same = (ours["model"] == p.model) & (ours["data_size"].astype(float) == float(p.data_size))
                g = ours[same & (ours["split"] == p.split)]
            else:
                g = ours.iloc[:0]
            value = float(g["value"].iloc[0]) if len(g) else float("nan")
        row = {
            "scenario": p.scenario, "split": "GT floor" if p.split == "gt" else p.split.upper(),
            "model": "–" if p.model is None or _isnan(p.model) else p.model,
            "data": "–" if _isnan(p.data_size) else size_label(int(p.data_size)),
            "paper": f"{p.value:g}", "phylaw (release mode)": _fmt(value),
        }  # fmt: skip
        if reproduced is not None:
            label = f"phylaw floor at {floor_resolution}²" if floor_resolution else "phylaw floor"
            row[label] = _fmt(reproduced.get(p.scenario, float("nan"))) if p.split == "gt" else "–"
        row["source"] = p.source
        out.append(row)
    return pd.DataFrame(out)


def level_table(
    results: pd.DataFrame, metric: str = HEADLINE_METRIC, factors: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-level breakdown (OOD levels separately) with n, the floor's n and the parse failure rate."""
    keys = _factors(results, factors)
    sel = results[results["metric"] == metric]
    n_levels = sel[sel["level"] != POOLED].groupby(["run_id", "split"])["level"].nunique()
    single = {k for k, v in n_levels.items() if v == 1}
    sel = sel[
        [
            not (lv == POOLED and (rid, sp) in single)
            for rid, sp, lv in zip(sel["run_id"], sel["split"], sel["level"], strict=True)
        ]
    ]
    rows = []
    for r in sel.sort_values([*keys, "split", "level"]).itertuples():
        rows.append(
            {
                **_factor_cells(r, keys),
                "split": r.split,
                "level": r.level,
                "n": _count(r.n),
                "error [95% CI]": fmt_ci(r.value, r.ci_low, r.ci_high),
                "median": _fmt(getattr(r, "median", float("nan"))),
                "GT floor": _fmt(r.floor),
                "floor n": _count(getattr(r, "floor_n", float("nan"))),
                "parse failures": "–" if _isnan(r.parse_fail_rate) else f"{100 * r.parse_fail_rate:.1f}%",
            }
        )
    return pd.DataFrame(rows)


def _isnan(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA


def _ratio(a: float, b: float) -> str:
    if _isnan(a) or _isnan(b) or b == 0:
        return "–"
    return f"{a / b:.1f}×"


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    if df.empty:
        return "_(no rows)_"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for row in df.itertuples(index=False):
        cells = [str(v).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>(no rows)</em></p>"
    return df.to_html(index=False, escape=True, border=0, classes="tbl")
