"""``analyse``: one cell of a mechanism study, from its files to its tables, figures and tidy result rows.

Inputs: the training dataset, the evaluation dataset, the sample file of the model's generations and (for a
hole study) the evaluator's per-video ``metrics.csv``. Outputs in ``OUT`` (every file written ``.partial``
then renamed, and only after every input was checked):

    videos.csv              per evaluated video: labels, parameters, generated and floor speeds / errors
    rows.csv                tidy result rows (split, level, metric, value, CI, n, floor, ...)
    bins.csv | heat.csv     Fig. 5 binned speeds | Fig. 6 mean error per plane point
    retrieval_<kind>.csv    nearest training videos and the case-vs-law comparison (kind: frames, params)
    study.json              the study, its setting (bands / plane, hull, training points), retrieval costs
    study.png, case.png     this cell's panel of the study's figure, and its case-vs-law figure
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.evaluate import retrieval as rt
from phylaw.evaluate import studies as st
from phylaw.evaluate import study_plots as sp
from phylaw.io import write_csv, write_json

log = logging.getLogger(__name__)

STUDIES = ("gap", "hole", "memo")
SPEED_EDGES = np.linspace(1.0, 4.0, 13)  # Fig. 5 bins of the conditioning speed (0.25 wide)
ERROR_METRIC = "velocity_error"  # Fig. 6: the evaluator's post-collision per-frame velocity error


@dataclass(frozen=True)
class StudyResult:
    out: Path
    rows: pd.DataFrame
    videos: pd.DataFrame
    retrieval: dict[str, pd.DataFrame]


def check_inputs(train, data, samples, study: str) -> None:
    """Every mismatch that would make the analysis meaningless, as one line, before anything is written."""
    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples

    if study not in STUDIES:
        raise PhylawError(f"unknown study {study!r}; choose one of {', '.join(STUDIES)}")
    with open_dataset(train) as tds, open_dataset(data) as eds, open_samples(samples) as sf:
        if tds.scenario != eds.scenario:
            raise PhylawError(
                f"the training set {train} holds {tds.scenario} videos, the evaluation set {data} {eds.scenario}"
            )
        res = int(sf.attrs.get("resolution", eds.resolution))
        if res != tds.resolution:
            raise PhylawError(
                f"the generated videos are {res} px but the training set {train} is {tds.resolution} px; "
                "retrieve against a training set of the same resolution"
            )
        if sf.attrs.get("dataset_fingerprint") not in (None, eds.fingerprint):
            raise PhylawError(
                f"{samples}: sample file was generated from another dataset (fingerprint mismatch)"
            )
        want = {"gap": "uniform_motion", "memo": "uniform_motion", "hole": "collision"}[study]
        if eds.scenario != want:
            raise PhylawError(f"the {study} study analyses {want} videos, not {eds.scenario}")


def _index(tds, kind: str, cond_frames: int, cache_dir: Path | None) -> tuple[rt.TrainIndex, float, bool]:
    """The training set's index of ``kind``, from ``cache_dir`` when built before; (index, seconds, cached)."""
    path = None
    if cache_dir is not None:
        path = (
            Path(cache_dir)
            / f"{tds.fingerprint[:16]}-{kind}-c{cond_frames}-f{rt.FEATURE_RES}-d{rt.N_COMPONENTS}.npz"
        )
        if path.is_file():
            return rt.load_index(path), 0.0, True
    t0 = time.perf_counter()
    index = rt.build_index(tds, kind, cond_frames)
    seconds = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        rt.save_index(index, path)
    return index, seconds, False


def analyse(
    train: str | Path,
    data: str | Path,
    samples: str | Path,
    out: str | Path,
    *,
    study: str,
    setting,
    metrics_csv: str | Path | None = None,
    title: str = "",
    k: int = 5,
    min_separation: float = rt.MIN_SEPARATION,
    index_cache: str | Path | None = None,
) -> StudyResult:
    """Analyse one cell (module docstring). ``setting``: a ``sim.studies`` GapSetting / HoleSetting, or None
    for the memorisation study."""
    from phylaw.datasets import open_dataset

    check_inputs(train, data, samples, study)
    if study == "hole" and (metrics_csv is None or not Path(metrics_csv).is_file()):
        raise PhylawError("the hole study needs the evaluator's per-video metrics.csv (phylaw evaluate)")
    out = Path(out)
    obs = st.observe(data, samples)
    info: dict = {"study": study, "setting": getattr(setting, "name", "memo"), "n_videos": len(obs.index)}
    with open_dataset(train) as tds:
        if study == "gap":
            videos = st.gap_table(obs, setting)
            rows = st.gap_rows(videos)
            info["bands"] = [[b.lo, b.hi] for b in setting.bands]
        elif study == "memo":
            videos = st.speed_table(obs)
            rows = st.memo_rows(videos)
        else:
            videos, heat, hull_info = _hole(obs, tds, setting, Path(metrics_csv))
            rows = st.hull_rows(videos, ERROR_METRIC)
            info.update(hull_info)
        tables, costs = {}, {}
        for kind in rt.KINDS:
            index, seconds, cached = _index(tds, kind, obs.cond_frames, index_cache)
            t0 = time.perf_counter()
            tables[kind] = rt.case_table(obs, tds, index, k=k, min_separation=min_separation)
            costs[kind] = {"n_train": len(index), "dims": int(index.features.shape[1]), "build_s": round(seconds, 3),
                           "cached": cached, "query_s": round(time.perf_counter() - t0, 3)}  # fmt: skip
            rows += rt.case_rows(tables[kind])
        info["retrieval"] = costs
    rows_df = pd.DataFrame(rows)
    write_csv(out / "videos.csv", videos)
    write_csv(out / "rows.csv", rows_df)
    for kind, table in tables.items():
        write_csv(out / f"retrieval_{kind}.csv", table)
    _cell_figures(out, study, setting, videos, heat if study == "hole" else None, info, tables, title)
    write_json(out / "study.json", info)
    return StudyResult(out, rows_df, videos, tables)


def _hole(obs: st.Observed, tds, setting, metrics_csv: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The evaluator's per-video errors of the cell's videos, checked against the training hull."""
    from phylaw.sim.studies import convex_hull

    plane = setting.plane
    m = pd.read_csv(metrics_csv, dtype={"split": str, "level": str})
    m = m[(m["metric"] == ERROR_METRIC) & m["included"].astype(bool) & m["index"].isin(obs.index)]
    if not len(m):
        raise PhylawError(f"{metrics_csv} has no {ERROR_METRIC} rows for the generated videos")
    table = st.hull_table(m, np.asarray(tds.params), tuple(tds.param_names), plane)
    cols = [tuple(tds.param_names).index(p) for p in plane]
    points = np.unique(np.asarray(tds.params)[:, cols], axis=0)
    hull = convex_hull(points)
    keep = ["index", "split", "level", *tds.param_names, "value", "floor", "inside_hull"]
    info = {"plane": list(plane), "hull": hull.vertices.tolist(), "train_points": points.tolist()}
    return table[keep].reset_index(drop=True), st.hull_heat(table, plane), info


def _cell_figures(out: Path, study: str, setting, videos, heat, info, tables, title: str) -> None:
    if study == "gap":
        bins = st.speed_bins(videos, SPEED_EDGES)
        floor_bins = st.speed_bins(videos, SPEED_EDGES, column="v_floor")
        write_csv(out / "bins.csv", bins)
        sp.gap_figure([sp.GapPanel(title or setting.name, videos, tuple(map(tuple, info["bands"])), bins,
                                   floor_bins)], out / "study.png")  # fmt: skip
    elif study == "hole":
        write_csv(out / "heat.csv", heat)
        sp.hull_figure([sp.HullPanel(title or setting.name, heat, tuple(info["plane"]),
                                     np.asarray(info["train_points"]), np.asarray(info["hull"]))],
                       out / "study.png")  # fmt: skip
    else:
        low = videos[videos["level"] == "low"]
        sp.memo_figure([sp.MemoPanel(title or "model", low["v_gen"].to_numpy(), low["v_floor"].to_numpy())],
                       out / "study.png")  # fmt: skip
    panels = []
    for kind, table in tables.items():
        p, lo, hi, _ = rt.case_index(table)
        panels.append(sp.CasePanel(f"{title or study}: nearest by {kind}", table, p, (lo, hi)))
    sp.case_figure(panels, out / "case.png")
