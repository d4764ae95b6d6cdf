"""Data commands: ``generate``, ``inspect``, ``preview``, ``convert``, ``merge`` (docs/datasets.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from phylaw.errors import PhylawError


def generate_cmd(
    scenario: str = typer.Argument(..., help="uniform_motion | collision | parabola | phyre"),
    split: str = typer.Option(
        ...,
        "--split",
        help="train-30k | train-300k | train-3m | eval | val ...; phyre: train6 | train30 | "
        "train60 | eval-in-template | eval-out-of-template | ambiguity (and -small sizes)",
    ),
    out: Path = typer.Option(..., "--out", help="output .h5 file (shards: OUT.shard-0000I-of-0000N.h5)"),
    ranges: str = typer.Option("paper", "--ranges", help="range set: paper | phyworld"),
    resolution: int = typer.Option(128, "--resolution", help="frame size in pixels (square)"),
    procedural: bool = typer.Option(False, "--procedural", help="store states only; render frames on read"),
    workers: int = typer.Option(1, "--workers", help="processes (0 = all local cores)"),
    shard: str | None = typer.Option(None, "--shard", help="I/N: write only slice I of N"),
    limit: int | None = typer.Option(None, "--limit", help="only the first N videos of the split"),
    seed: int = typer.Option(0, "--seed"),
    frames: int | None = typer.Option(
        None, "--frames", help="frames per video (default: the scenario's, 32; phyre has at most 50)"
    ),
    backend: str = typer.Option("local", "--backend", help="local | ray (pip install 'phylaw[ray]')"),
    shards: int | None = typer.Option(
        None,
        "--shards",
        help="--backend ray: number of shards (default: an existing shard set's count, else "
        "<= 2,048 videos per shard and at least one per CPU)",
    ),
    values: list[str] | None = typer.Option(
        None, "--values", help="custom grid instead of a named split: r=0.7:1.4:8 (linspace) or v=1,2,4"
    ),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Generate a dataset file (resumable: run the same command again after an interruption)."""
    from phylaw.datasets.build import custom_split, generate, generate_ray, parse_shard

    grid = custom_split(scenario, split, ranges, values) if values else split
    if values and frames is not None:  # a custom grid is built at 32 frames; give it the asked length
        import dataclasses

        grid = dataclasses.replace(grid, n_frames=frames)
    kw = {"ranges": ranges, "resolution": resolution, "procedural": procedural, "limit": limit, "seed": seed,
          "n_frames": frames}  # fmt: skip
    if backend == "ray":
        if shard is not None:
            raise PhylawError("--backend ray makes its own shards; drop --shard")
        paths = generate_ray(scenario, grid, out, n_shards=shards, progress=not quiet, **kw)
        typer.echo(
            f"wrote {len(paths)} shards: {paths[0].parent}/{paths[0].name.split('.shard-')[0]}.shard-*"
        )
        return
    if shards is not None:
        raise PhylawError("--shards is for --backend ray; a local run writes one file or --shard I/N")
    if backend != "local":
        raise PhylawError(f"--backend must be local or ray, got {backend!r}")
    path = generate(scenario, grid, out, workers=workers, shard=parse_shard(shard), progress=not quiet, **kw)
    typer.echo(f"wrote {path}")


def inspect_cmd(path: list[str] = typer.Argument(..., help="dataset file(s), directory or glob")) -> None:
    """Show what a dataset holds: counts per split and level, parameter ranges, frames, size; for phyre also
    per template, template subset and pool."""
    from phylaw.datasets.preview import summarize

    target = path if len(path) > 1 else path[0]
    summary = summarize(target)
    for line in summary.lines():
        typer.echo(line)
    if summary.scenario == "phyre":
        from phylaw.datasets.phyre_release import summary_lines

        for line in summary_lines(target):
            typer.echo(line)


def preview_cmd(
    path: str = typer.Argument(..., help="dataset file, directory or glob"),
    out: Path = typer.Option(..., "--out", help=".gif, .mp4 or .png (contact sheet)"),
    index: str | None = typer.Option(None, "--index", help="video index, or several: 0,5,9"),
    grid: int | None = typer.Option(None, "--grid", help="a grid of N videos spread over the dataset"),
    resolution: int | None = typer.Option(None, "--resolution", help="render at this size instead"),
) -> None:
    """Write a GIF / MP4 / PNG contact sheet of one or several videos."""
    from phylaw.datasets.preview import preview

    typer.echo(f"wrote {preview(path, out, index=index, grid=grid, resolution=resolution)}")


def convert_cmd(
    path: Path = typer.Argument(..., help="input file (import of per-task phyre files: their directory)"),
    to: str = typer.Option(
        ..., "--to", help="phyworld | phyre-release (export a phylaw file) | phylaw (import a released file)"
    ),
    out: Path = typer.Option(..., "--out"),
    source: str = typer.Option(
        "auto", "--from", help="import: phyworld | phyre-release (default auto: by the file's groups)"
    ),
    procedural: bool = typer.Option(
        False, "--procedural", help="import: keep states only, skip MP4 decoding"
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="phyworld import: train | eval (default: eval if the file name has 'eval' or 'vis')",
    ),
    per_task: bool = typer.Option(
        False,
        "--per-task",
        help="phyre-release export: a directory of <task>.hdf5 files, not one merged file",
    ),
    resolution: int | None = typer.Option(
        None,
        "--resolution",
        help="phyre-release: MP4 frame size on export, stored frame size on import "
        "(default: the input's; export renders, import resizes by area averaging)",
    ),
    workers: int = typer.Option(1, "--workers", help="processes for MP4 encoding/decoding (0 = all cores)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Convert between phylaw dataset files and the released layouts: phyworld's kinematic files and the
    combinatorial (PHYRE) files, merged or per task (MP4 streams: lossy)."""
    from phylaw.datasets import phyre_release
    from phylaw.datasets.phyworld import convert

    if to not in ("phyworld", "phyre-release", "phylaw"):
        raise PhylawError(f"--to must be phyworld, phyre-release or phylaw, got {to!r}")
    if source not in ("auto", "phyworld", "phyre-release"):
        raise PhylawError(f"--from must be auto, phyworld or phyre-release, got {source!r}")
    release = to == "phyre-release" or (
        to == "phylaw"
        and (source == "phyre-release" or (source == "auto" and phyre_release.is_release_file(path)))
    )
    if to != "phylaw" and source != "auto":
        raise PhylawError("--from names the layout of an import; drop it with --to " + to)
    if per_task and to != "phyre-release":
        raise PhylawError("--per-task applies to --to phyre-release only")
    if resolution is not None and not release:
        raise PhylawError("--resolution applies to the phyre release layout only")
    if release and split is not None:
        raise PhylawError("--split applies to phyworld imports; phyre labels come from template and trial")
    if release and procedural and to != "phylaw":
        raise PhylawError("--procedural applies to imports only")
    progress = not quiet
    if to == "phyre-release":
        path = phyre_release.export_release(
            path, out, per_task=per_task, resolution=resolution, workers=workers, progress=progress
        )
    elif release:
        path = phyre_release.import_release(
            path, out, resolution=resolution, procedural=procedural, workers=workers, progress=progress
        )
    else:
        path = convert(path, to, out, procedural=procedural, split=split, workers=workers, progress=progress)
    typer.echo(f"wrote {path}")


def merge_cmd(
    shards: list[str] = typer.Argument(..., help="shard files, a directory or a glob"),
    out: Path = typer.Option(..., "--out"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Merge the shards of one dataset into one file (same rows as a single run)."""
    from phylaw.datasets.merge import merge

    typer.echo(f"wrote {merge(list(shards), out, progress=not quiet)}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the phylaw app."""
    app.command("generate")(generate_cmd)
    app.command("inspect")(inspect_cmd)
    app.command("preview")(preview_cmd)
    app.command("convert")(convert_cmd)
    app.command("merge")(merge_cmd)
