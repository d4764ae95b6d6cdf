"""The report is built from result CSVs only: tables, Fig. 3 style plots, GIFs, training curves, failures."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from tests.experiments.conftest import fake_results, make_plan

from phylaw.cli.main import main
from phylaw.errors import PhylawError
from phylaw.experiments.gallery import TEXT_PX, side_by_side_frames, world_to_px, write_gif
from phylaw.experiments.report import build_report
from phylaw.experiments.tables import headline_table


def _disc_video(xs: np.ndarray, size: int = 32) -> np.ndarray:
    """Red discs on white at world x positions xs (y = 5, r = 1): (T, size, size, 3) uint8."""
    c = (np.arange(size) + 0.5) * 10 / size
    frames = np.full((len(xs), size, size, 3), 255, np.uint8)
    for t, x in enumerate(xs):
        inside = (c[None, :] - x) ** 2 + (c[:, None] - 5) ** 2 < 1
        frames[t][inside] = (255, 0, 0)
    return frames


def make_run_dir(root, *, failed: bool = True):
    """A directory shaped like `phylaw reproduce` output, with synthetic CSVs, GIFs and curves."""
    plan = make_plan()
    run = root / "run"
    results = pd.concat([fake_results(c) for c in plan.cells[: 3 if failed else 4]], ignore_index=True)
    run.mkdir(parents=True)
    results.to_csv(run / "results.csv", index=False)
    states = ["done", "done", "done", "failed" if failed else "done"]
    pd.DataFrame({
        "run_id": [c.run_id for c in plan.cells], "scenario": "uniform_motion", "model": [c.model for c in plan.cells],
        "data_size": [c.data_size for c in plan.cells], "state": states, "stages_done": "",
        "error": ["", "", "", "RuntimeError: out of memory" if failed else ""],
    }).to_csv(run / "status.csv", index=False)  # fmt: skip
    cell = run / "cells" / plan.cells[0].run_id
    (cell / "gallery").mkdir(parents=True)
    steps = np.arange(25, 1001, 25)
    pd.DataFrame({"step": steps, "loss": 1.0 / np.sqrt(steps)}).to_csv(
        cell / "train_metrics.csv", index=False
    )
    xs = 2 + 0.3 * np.arange(8)
    truth = np.stack([xs, np.full(8, 5.0)], -1)[:, None, :]  # (T, 1, 2)
    for name in ("id_id_000001", "ood_v_ood_000002"):
        frames = side_by_side_frames(_disc_video(xs), _disc_video(xs + 0.1), truth, truth + 0.1, truth)
        write_gif(frames, cell / "gallery" / f"{name}.gif")
    return run, plan


def test_report_from_synthetic_csvs(tmp_path):
    run, _plan = make_run_dir(tmp_path)
    files = build_report([run], tmp_path / "report", title="test report")
    page = files.html.read_text()
    md = files.markdown.read_text()
    # headline table: ID and OOD with CIs, the floor and ratios, one row per (scenario, model, data)
    assert "ID error [95% CI]" in page
    assert "OOD error [95% CI]" in page
    assert "ID GT floor" in page
    assert "0.0400 [0.0360, 0.0440]" in page  # M0 @ 1000: id 0.02 * (1 + 1) with the CI bounds
    assert "| uniform_motion | M0 | 1K |" in md
    # published values of the paper (SPEC E.1) are shown beside ours
    assert "0.433" in page
    assert "Table 3" in page
    # images are inline (self-contained): two PNG plots and two GIFs, no external references
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 2
    assert len(re.findall(r"src='data:image/gif;base64,", page)) == 2
    assert "http://" not in page
    assert "https://" not in page
    # failed cells are listed with their error
    assert "out of memory" in page
    assert "out of memory" in md
    for png in files.pngs:
        with Image.open(png) as im:
            assert im.format == "PNG"
            assert im.size[0] > 400
    assert {p.name for p in files.pngs} == {"scaling.png", "training_curves.png"}
    assert all(g.is_file() for g in files.gifs)


def test_headline_table_ratios():
    plan = make_plan(n_models=1, sizes=(1000,))
    table = headline_table(fake_results(plan.cells[0], id_err=0.02, ood_err=0.4))
    row = table.iloc[0]
    assert row["ID / floor"] == "4.0×"  # 0.04 / 0.01
    assert row["OOD / ID"] == "15.0×"  # (0.4 * 0.75 * 2) / 0.04
    assert row["OOD / ID (medians)"] == "7.5×"  # the fake OOD medians are half the means


def test_report_reads_results_without_the_median_columns(tmp_path):
    """results.csv files written before the medians existed still make a report (medians shown as '–')."""
    run, _ = make_run_dir(tmp_path)
    res = pd.read_csv(run / "results.csv").drop(columns=["median", "floor_median"])
    res.to_csv(run / "results.csv", index=False)
    files = build_report([run], tmp_path / "report")
    md = files.markdown.read_text()
    assert "OOD / ID (medians)" in md
    row = headline_table(pd.read_csv(run / "results.csv").assign(median=float("nan"))).iloc[0]
    assert row["OOD / ID (medians)"] == "–"


def test_gif_tracks_are_drawn_where_the_ball_is(tmp_path):
    xs = 2 + 0.5 * np.arange(6)
    truth = np.stack([xs, np.full(6, 5.0)], -1)[:, None, :]
    frames = side_by_side_frames(_disc_video(xs), _disc_video(xs), truth, truth, None, size=100)
    last = np.asarray(frames[-1])  # (14 + 100, 204, 3)
    col, row = world_to_px(truth[-1, 0], 100).round().astype(int)
    assert (last[14 + row, col - 2 : col + 3] == (0, 160, 0)).all(axis=-1).any()  # green GT-parsed track
    path = write_gif(frames, tmp_path / "a.gif")
    with Image.open(path) as im:
        assert im.n_frames == 6


def test_gif_long_title_wraps_inside_the_canvas_and_draws_every_line():
    xs = 2 + 0.5 * np.arange(3)
    truth = np.stack([xs, np.full(3, 5.0)], -1)[:, None, :]
    title = "ood: " + ", ".join(f"parameter_{k}=0.{k}{k}{k}" for k in range(8))  # far wider than the canvas
    frame = np.asarray(side_by_side_frames(_disc_video(xs), _disc_video(xs), truth, truth, None, size=80,
                                           title=title)[-1]).astype(int)  # fmt: skip
    ink = np.abs(frame - 235).sum(-1) > 60
    head = frame.shape[0] - 80
    assert frame.shape[1] == 2 * 80 + 4
    assert not ink[:head, -3:].any()  # nothing runs off the right edge
    rows_with_ink = np.flatnonzero(ink[:head].any(axis=1))
    lines = 1 + np.count_nonzero(np.diff(rows_with_ink) > 1)
    expected = 1 + len(textwrap.wrap(title, width=(2 * 80 + 4 - 4) // TEXT_PX))
    assert lines == expected >= 3  # the panel labels, then the whole title over several lines
    # and without a title the header is one line, as before
    plain = np.asarray(side_by_side_frames(_disc_video(xs), _disc_video(xs), truth, truth, None, size=80)[-1])
    assert plain.shape[0] == 80 + 14


def test_report_cli_and_bad_input(tmp_path, capsys):
    run, _ = make_run_dir(tmp_path, failed=False)
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").is_file()
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "no results.csv" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(PhylawError):
        build_report([], tmp_path / "r3")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    run, _ = make_run_dir(tmp_path)
    files = build_report([run], tmp_path / "report")
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'ud'}",
           "--window-size=1100,1600", f"--screenshot={shot}", files.html.resolve().as_uri()]  # fmt: skip
    dom = subprocess.run([*cmd[:-2], "--dump-dom", cmd[-1]], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Velocity error: in-distribution vs out-of-distribution" in dom.stdout
    assert dom.stdout.count("<img") == 4
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[0] >= 1000
    assert (pixels < 250).any(axis=-1).mean() > 0.02  # the page is not blank


def test_report_plots_per_video_errors_when_cells_have_them(tmp_path):
    run, plan = make_run_dir(tmp_path)
    cell = run / "cells" / plan.cells[0].run_id / "eval"
    cell.mkdir(parents=True)
    rng = np.random.Generator(np.random.PCG64(0))
    rows = [{"split": split, "level": level, "metric": metric, "included": True, "value": v, "floor": 0.05,
             "index": i, "status": "ok"}
            for i, (split, level, scale) in enumerate([("id", "id", 0.1)] * 20 + [("ood", "v_ood", 1.0)] * 20)
            for metric, v in (("velocity_error", scale * rng.lognormal()), ("mean_velocity_error", 0.01))]  # fmt: skip
    pd.DataFrame(rows).to_csv(cell / "metrics.csv", index=False)
    (run / "cells" / plan.cells[1].run_id / "eval").mkdir(parents=True)
    (run / "cells" / plan.cells[1].run_id / "eval" / "metrics.csv").write_text(
        "something,else\n1,2\n"
    )  # other layout: skipped
    files = build_report([run], tmp_path / "report")
    assert {p.name for p in files.pngs} == {"scaling.png", "training_curves.png", "error_distribution.png"}
    with Image.open(tmp_path / "report" / "error_distribution.png") as im:
        assert im.size[0] > 300
    page = files.html.read_text()
    assert "Per-video errors" in page
    assert page.count("data:image/png;base64,") == 3


def test_tables_group_by_the_experiments_own_factors_and_show_n(tmp_path):
    """A results.csv whose cells are told apart by other factors (a gap, template counts) is reported by those
    columns, with n per level; the Fig. 3 scaling plot needs scenario/model/data_size and is left out."""
    from phylaw.experiments.experiment import factor_columns

    plan = make_plan()
    rows = []
    for i, c in enumerate(plan.cells):
        df = fake_results(c).drop(columns=["model", "data_size"])
        df.insert(4, "gap", ["none", "middle"][i % 2])
        df.insert(5, "templates", [1, 4][i // 2])
        df["n"] = 40 + i
        rows.append(df)
    run = tmp_path / "run"
    run.mkdir()
    pd.concat(rows).to_csv(run / "results.csv", index=False)
    results = pd.read_csv(run / "results.csv")
    assert factor_columns(results) == ("scenario", "gap", "templates")
    head = headline_table(results)
    assert list(head.columns[:3]) == ["scenario", "gap", "templates"]
    assert len(head) == 4
    assert sorted(head["ID n"]) == [40, 41, 42, 43]
    files = build_report([run], tmp_path / "rep")
    md = files.markdown.read_text()
    assert "| scenario | gap | templates | split | level | n |" in md
    assert not (tmp_path / "rep" / "scaling.png").exists()


def test_tidy_results_carry_a_cells_declared_factors():
    import dataclasses

    from phylaw.evaluate.report import SUMMARY_COLUMNS
    from phylaw.experiments.stages import tidy_results

    spec = dataclasses.replace(
        make_plan().cells[0], factors=(("scenario", "uniform_motion"), ("gap", "middle"))
    )
    summary = pd.DataFrame([dict.fromkeys(SUMMARY_COLUMNS, 0.0) | {"split": "id", "level": "id", "metric": "velocity_error", "n": 7, "floor_n": 7, "n_videos": 8}])  # fmt: skip
    tidy = tidy_results(summary, spec)
    assert list(tidy.columns[:5]) == ["experiment", "scale", "run_id", "scenario", "gap"]
    assert "model" not in tidy.columns
    assert (tidy["gap"] == "middle").all()
    assert tidy[["n", "floor_n", "n_videos"]].iloc[0].tolist() == [7, 7, 8]
