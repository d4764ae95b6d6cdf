"""CLI: ``phylaw demo``, ``phylaw reproduce EXPERIMENT``, ``phylaw report RUN_DIR...``, ``phylaw migrate DIR``."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(..., "--out", help="output directory (resumable: run again to finish)"),
    smoke: bool = typer.Option(
        False, "--smoke", help="a 1-2 minute configuration that only checks the pipeline (= --preset smoke)"
    ),
    preset: str = typer.Option(
        "demo",
        "--preset",
        help="demo (2 CPU cores, 15 min), smoke (1-2 min, pipeline check) or gpu128 (one GPU, 128 px)",
    ),
    overrides: list[str] = typer.Option([], "--set", help="override a demo setting, e.g. --set steps=3000"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show progress bars"),
) -> None:
    """The main job: uniform-motion data -> tiny DiT -> ID/OOD samples -> evaluation -> report."""
    import dataclasses
    import time

    from phylaw.errors import PhylawError
    from phylaw.experiments.demo import PRESETS, demo_config, run_demo

    if preset not in PRESETS:
        raise PhylawError(f"unknown demo preset {preset!r}; known: {', '.join(PRESETS)}")
    cfg = demo_config(PRESETS["smoke" if smoke else preset], overrides)
    typer.echo("demo configuration:\n" + json.dumps(dataclasses.asdict(cfg), indent=1))
    _preset_hint("smoke" if smoke else preset)
    t0 = time.perf_counter()
    outcome = run_demo(out, cfg, progress=progress)
    _echo_outcome(outcome, out)
    typer.echo(f"wall time of this invocation: {time.perf_counter() - t0:.0f} s")
    if not outcome.failed:
        typer.echo(f"report: {out / 'report' / 'report.html'}")


def _preset_hint(preset: str) -> None:
    """One line where the preset does not suit the machine (it still runs)."""
    import torch

    if preset == "gpu128" and not torch.cuda.is_available():
        typer.echo("note: --preset gpu128 is sized for one GPU; without one it trains for hours")
    elif preset == "demo" and torch.cuda.is_available():
        typer.echo(
            "note: on a GPU, --preset gpu128 runs the demo at 128 px, where the OOD gap shows (docs/experiments.md)"
        )


def reproduce(
    experiment: str = typer.Argument(..., help="registered experiment, e.g. fig3"),
    scale: str = typer.Option("tiny", "--scale", help="tiny (CPU) | small (one GPU) | paper (cluster)"),
    out: Path = typer.Option(..., "--out", help="output directory (resumable)"),
    cell: list[str] = typer.Option([], "--cell", help="run only this cell id (repeatable)"),
    list_cells: bool = typer.Option(False, "--list-cells", help="print one command per cell and exit"),
    nproc_per_node: int = typer.Option(1, "--nproc-per-node", help=">1: train each cell under torchrun"),
    nnodes: int = typer.Option(1, "--nnodes", help="number of nodes for torchrun training"),
    node_rank: int = typer.Option(0, "--node-rank", help="this node's rank (nodes > 0 only train)"),
    rdzv_endpoint: str = typer.Option(
        "", "--rdzv-endpoint", help="host:port of node 0 (multi-node torchrun)"
    ),
    overrides: list[str] = typer.Option(
        [],
        "--set",
        help="training-config override for every cell, e.g. --set runtime.deterministic=false (new cell ids)",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show progress bars"),
) -> None:
    """Run (or resume) every cell of a paper experiment at a scale, then write results.csv and summary.md."""
    from phylaw.experiments.experiment import check_plan, run_experiment
    from phylaw.experiments.registry import get_experiment, get_plan, with_train_overrides
    from phylaw.train.launch import LaunchOptions

    plan = with_train_overrides(get_plan(experiment, scale), overrides)
    launch = LaunchOptions(nproc_per_node, nnodes, node_rank, rdzv_endpoint)
    pipeline = get_experiment(experiment).pipeline(launch)
    check_plan(plan, pipeline.check)  # one-line error before anything is listed or written
    if list_cells:
        for spec in plan.cells:
            sets = "".join(f" --set {o}" for o in overrides)
            typer.echo(
                f"phylaw reproduce {experiment} --scale {scale} --out {out}{sets} --cell {spec.run_id}"
            )
        return
    if node_rank > 0:
        from phylaw.errors import PhylawError
        from phylaw.experiments.stages import train_on_worker_node

        if len(cell) != 1:
            raise PhylawError("--node-rank > 0 joins the training of exactly one cell: give one --cell ID")
        train_on_worker_node(out, plan.cell(cell[0]), launch)
        return
    outcome = run_experiment(plan, out, pipeline, only=cell, progress=progress, options={"launch": launch})
    _echo_outcome(outcome, out)


def report(
    run_dirs: list[Path] = typer.Argument(
        ..., help="directories written by `phylaw demo` / `phylaw reproduce`"
    ),
    out: Path = typer.Option(..., "--out", help="where report.html, report.md and the PNGs go"),
) -> None:
    """Build an HTML + Markdown report (tables, Fig. 3 style plots, GIFs, training curves) from result CSVs."""
    from phylaw.experiments.report import build_report

    files = build_report(run_dirs, out)
    typer.echo(f"report: {files.html}\nmarkdown: {files.markdown}")


def migrate(
    out: Path = typer.Argument(
        ..., help="a directory written by `phylaw demo` / `phylaw reproduce` before issue 11"
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="the training overrides the reproduction was run with (the same --set as then)"
    ),
) -> None:
    """Rename a directory's cells, datasets and VAEs from the old ids (every field, machine choices included)
    to the current ones, so `phylaw demo` / `phylaw reproduce` find them finished. Running it again does nothing."""
    from phylaw.experiments.migrate import migrate as run_migrate
    from phylaw.experiments.migrate import plan_of

    done = run_migrate(out, plan_of(out, overrides))
    for kind, pairs in (("cell", done.cells), ("data", done.data), ("vae", done.vaes)):
        for old, new in pairs:
            typer.echo(f"{kind}: {old} -> {new}")
    if not (done.cells or done.data or done.vaes):
        typer.echo(f"{out}: nothing to migrate (no cell, dataset or VAE under an old id)")


def _echo_outcome(outcome, out: Path) -> None:
    summary = Path(out) / "summary.md"
    if summary.is_file():
        typer.echo(summary.read_text())
    for c in outcome.failed:
        typer.echo(f"FAILED {c.run_id}: {c.error}", err=True)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the phylaw app."""
    app.command("demo")(demo)
    app.command("reproduce")(reproduce)
    app.command("report")(report)
    app.command("migrate")(migrate)
