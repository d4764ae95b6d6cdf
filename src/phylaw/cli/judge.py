"""Judge command: ``phylaw judge-suite`` (the labelled violation suite of the abnormal-video judge)."""

from __future__ import annotations

from pathlib import Path

import typer


def judge_suite_cmd(
    split: str = typer.Option(
        "eval-out-of-template-small", "--split", help="phyre split of the ground truth"
    ),
    videos: int = typer.Option(40, "--videos", help="ground-truth videos (first rows of the split), >= 2"),
    resolution: int = typer.Option(256, "--resolution", help="frame size: 64, 128, 256 or 512"),
    frames: int = typer.Option(32, "--frames", help="frames per video"),
    seed: int = typer.Option(0, "--seed", help="dataset seed (layouts, actions) and corruption seed"),
    out: Path = typer.Option(..., "--out", help="output directory"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Inject every violation into ground-truth videos, judge them, report recall, false positives and ROCs."""
    from phylaw.evaluate.judge_suite import check_args, run_suite

    check_args(split, videos, resolution, frames)
    result = run_suite(split, videos, resolution, frames, seed, out, progress=not quiet)
    typer.echo((result.out / "summary.md").read_text())
    typer.echo(
        f"wrote {result.out}/summary.md, verdicts.csv, recall.csv, controls.csv, judge_config.json, ROCs"
    )


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the phylaw app."""
    app.command("judge-suite")(judge_suite_cmd)
