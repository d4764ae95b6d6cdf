"""Evaluation command: ``phylaw evaluate`` (docs/evaluation.md)."""

from __future__ import annotations

from pathlib import Path

import typer


def evaluate_cmd(
    data: str = typer.Option(..., "--data", help="dataset file, directory or glob (ground truth)"),
    videos: Path | None = typer.Option(
        None,
        "--videos",
        help="phylaw sample file or folder of videos named by index; omit to score the dataset's frames (floor)",
    ),
    out: Path = typer.Option(..., "--out", help="output directory (metrics.csv, summary.csv/.md, plots)"),
    metrics: list[str] | None = typer.Option(
        None, "--metrics", help="metric names (repeat or comma-separate); default: all"
    ),
    limit: int | None = typer.Option(
        None, "--limit", help="score only the first N videos (by dataset index)"
    ),
    cond_frames: int | None = typer.Option(
        None,
        "--cond-frames",
        help="conditioning frames c (default: the sample file's, else the scenario's: 3, phyre 1)",
    ),
    palette: str | None = typer.Option(
        None,
        "--palette",
        help="colour rules joined by ';', each like red:1:128-255,0-126,0-126 "
        "(name:palette-id:R,G,B ranges); default red and blue (SPEC I.4)",
    ),
    layout: str = typer.Option("auto", "--layout", help="folder videos: auto | single | panels3"),
    chunk: int = typer.Option(
        1000, "--chunk", help="phyworld {meta}-{local} names: index = meta*chunk + local"
    ),
    min_area: int = typer.Option(
        1,
        "--min-area",
        help="pixels; a smaller colour mask is a parse failure (default 1: every pixel counts)",
    ),
    released_filter: bool = typer.Option(
        False, "--released-radius-filter", help="drop small radii as the released code"
    ),
    largest_blob: bool = typer.Option(
        False, "--largest-blob", help="parse only each colour's largest connected component (stray blobs)"
    ),
    metric_set: str | None = typer.Option(
        None,
        "--metric-set",
        help="phylaw (phylaw's own metrics; the kinematic scenes' default) | release (the released evaluator's "
        "numbers, the paper's published quantities: its pixel convention, frames, headline numbers and "
        "buckets) | phyre (PHYRE-style scenes' default: SSIM, PSNR, LPIPS, FVD, trajectory metrics, the judge)",
    ),
    alexnet_weights: Path | None = typer.Option(
        None,
        "--alexnet-weights",
        help="torchvision AlexNet state dict for LPIPS (alexnet-owt-7be5be79.pth; or $PHYLAW_ALEXNET_WEIGHTS)",
    ),
    i3d_weights: Path | None = typer.Option(
        None,
        "--i3d-weights",
        help="I3D for FVD: i3d_torchscript.pt or the PyTorch I3D state dict (or $PHYLAW_I3D_WEIGHTS)",
    ),
    judge_config: Path | None = typer.Option(
        None,
        "--judge-config",
        help="phyre: the judge's thresholds, a judge_config.json (or the phylaw judge-suite directory holding "
        "it); default: the judge's built-in settings",
    ),
    gt_render: str | None = typer.Option(
        None,
        "--gt-render",
        help="ground-truth frames for the floor: dataset (its frames / phylaw's renderer) | release (the "
        "release's raster at 256², area-averaged); default: the metric set's (phylaw: dataset, release: release)",
    ),
    no_floor: bool = typer.Option(False, "--no-floor", help="skip the ground-truth floor"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Score videos against a dataset's ground truth: velocity error and physical-law metrics, with the floor."""
    from phylaw.errors import PhylawError
    from phylaw.evaluate import DEFAULT_PALETTE, EvalOptions, Palette, evaluate

    names = [n.strip() for m in metrics or [] for n in m.split(",") if n.strip()] or None
    if limit is not None and limit < 1:
        raise PhylawError(f"--limit must be >= 1, got {limit}")
    if (cond_frames is not None and cond_frames < 0) or min_area < 1 or chunk < 1:
        raise PhylawError("--cond-frames must be >= 0, --min-area >= 1 and --chunk >= 1")
    opt = EvalOptions(
        metrics=tuple(names) if names else None, palette=Palette.from_string(palette) if palette else DEFAULT_PALETTE,
        cond_frames=cond_frames, min_area=min_area, layout=layout, chunk=chunk, limit=limit,
        released_radius_filter=released_filter, floor=not no_floor, largest_blob=largest_blob,
        metric_set=metric_set, gt_render=gt_render, judge_config=str(judge_config) if judge_config else "",
        weights=tuple((k, str(v)) for k, v in (("alexnet", alexnet_weights), ("i3d", i3d_weights)) if v),
    )  # fmt: skip
    result = evaluate(data, videos, out, options=opt, progress=not quiet)
    typer.echo(result.summary_md.read_text())
    typer.echo(
        f"wrote {result.metrics_csv}, {result.summary_csv}, {result.summary_md}, {len(result.plots)} plots"
    )


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the phylaw app."""
    app.command("evaluate")(evaluate_cmd)
