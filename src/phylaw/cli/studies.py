"""CLI: ``phylaw study analyse`` (one mechanism-study cell from its files), ``phylaw study report OUT``,
``phylaw study splits`` (the registered study splits and their sizes)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="mechanism studies: velocity gaps, holes, memorisation, case-based retrieval", no_args_is_help=True
)


def _setting(train: Path, study: str | None, setting: str | None, removed: list[str]):
    """(study, setting object) from the options or from the training set's split name."""
    from phylaw.datasets import open_dataset
    from phylaw.errors import PhylawError
    from phylaw.sim.studies import GAP_SETTINGS, HOLE_SETTINGS, STUDY_SPLITS, gap_setting

    if removed:
        gaps = []
        for item in removed:
            try:
                lo, hi = (float(x) for x in item.split(":"))
            except ValueError:
                raise PhylawError(f"--removed must look like 2.0:3.0, got {item!r}") from None
            gaps.append((lo, hi))
        return "gap", gap_setting("custom", gaps)
    if setting is None:
        with open_dataset(train) as ds:
            split = ds.config.split
        if split not in STUDY_SPLITS:
            raise PhylawError(
                f"{train} holds split {split!r}, not a study split: give --setting (or --removed L:R) and --study"
            )
        entry = STUDY_SPLITS[split]
        study, setting = study or entry.study, entry.setting
    settings = {**dict.fromkeys(GAP_SETTINGS, "gap"), **dict.fromkeys(HOLE_SETTINGS, "hole"), "memo": "memo"}
    if setting not in settings or (study is not None and settings[setting] != study):
        choices = [n for n, s in settings.items() if study in (None, s)]
        raise PhylawError(
            f"unknown {study or 'study'} setting {setting!r}; choose one of {', '.join(choices)}"
        )
    return settings[setting], GAP_SETTINGS.get(setting) or HOLE_SETTINGS.get(setting)


@app.command("analyse")
def analyse(
    train: Path = typer.Option(..., "--train", help="the model's training dataset"),
    data: Path = typer.Option(..., "--data", help="the evaluation dataset the samples continue"),
    samples: Path = typer.Option(..., "--samples", help="sample file (phylaw sample)"),
    out: Path = typer.Option(..., "--out", help="output directory"),
    study: str = typer.Option(None, "--study", help="gap | hole | memo (default: from the training split)"),
    setting: str = typer.Option(
        None, "--setting", help="e.g. gap-2.0-3.0 (default: from the training split)"
    ),
    removed: list[str] = typer.Option(
        [], "--removed", help="a custom gap L:R of the training speeds (repeatable)"
    ),
    metrics_csv: Path = typer.Option(None, "--metrics-csv", help="hole study: the evaluator's metrics.csv"),
    k: int = typer.Option(5, "--k", help="nearest training videos kept per generated video"),
    min_separation: float = typer.Option(
        0.2, "--min-separation", help="world/s between case and law to count"
    ),
    index_cache: Path = typer.Option(None, "--index-cache", help="directory for the training-set indexes"),
) -> None:
    """Analyse one cell: Fig. 5/6/7 tables and figures, retrieval and the case-vs-law index."""
    from phylaw.evaluate.study_run import analyse as run
    from phylaw.evaluate.study_run import check_inputs

    study_name, obj = _setting(train, study, setting, removed)
    if study_name == "hole" and metrics_csv is None:
        from phylaw.evaluate.run import evaluate

        check_inputs(train, data, samples, study_name)  # every mismatch before the evaluator writes
        metrics_csv = evaluate(data, samples, out=out / "eval", metrics=["velocity_error"]).metrics_csv
    result = run(train, data, samples, out, study=study_name, setting=obj, metrics_csv=metrics_csv, k=k,
                 min_separation=min_separation, index_cache=index_cache)  # fmt: skip
    cols = ["split", "level", "metric", "value", "ci_low", "ci_high", "n", "floor"]
    typer.echo(result.rows[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    typer.echo(f"tables and figures: {out}")


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="a directory written by `phylaw reproduce fig5|fig6|fig7`"),
    out: Path = typer.Option(None, "--out", help="destination (default RUN_DIR/study_report)"),
) -> None:
    """Rebuild a study experiment's report (Figs. 5-7, retrieval) from its cells' CSV files."""
    from phylaw.experiments.study_report import build_study_report

    files = build_study_report(run_dir, out or run_dir / "study_report")
    typer.echo(f"report: {files.html}\nmarkdown: {files.markdown}")


@app.command("priority")
def priority(
    run_dirs: list[Path] = typer.Argument(..., help="directories written by `phylaw reproduce fig8|fig9`"),
    out: Path = typer.Option(..., "--out", help="destination of priority.md, priority.csv, the matrix figure"),
) -> None:
    """Pool attribute-pair cells of several runs (Fig. 8 and Fig. 9) into one priority matrix and order."""
    from phylaw.experiments.attribute_report import build_priority_report

    typer.echo(build_priority_report(run_dirs, out).read_text())


@app.command("splits")
def splits() -> None:
    """List the registered study splits: scenario, study, setting, role, size suffix and number of videos."""
    from phylaw.sim import get_split
    from phylaw.sim.studies import STUDY_SPLITS

    for s in STUDY_SPLITS.values():
        n = len(get_split(s.scenario, s.name))
        typer.echo(f"{s.name:26s} {s.scenario:15s} {s.study:5s} {s.role:5s} {n:>10,d}")


def register(root: typer.Typer) -> None:
    """Add ``phylaw study ...`` to the phylaw app."""
    root.add_typer(app, name="study")
