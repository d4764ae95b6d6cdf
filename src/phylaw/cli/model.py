"""Model commands: ``train``, ``train-vae``, ``sample``, ``encode-latents``, ``presets`` (docs/training.md)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from phylaw.errors import PhylawError

SET_HELP = "override a config value, e.g. --set optim.lr=3e-4 (repeatable)"


def _config(config: str, overrides: list[str] | None):
    """Resolve --config/--set; an empty diffusers VAE path is taken from $PHYLAW_VAE_PATH."""
    from phylaw.config import apply_overrides, load_config

    cfg = load_config(config, list(overrides or []))
    env = os.environ.get("PHYLAW_VAE_PATH", "")
    if cfg.autoencoder.kind == "diffusers" and not cfg.autoencoder.path and env:
        cfg = apply_overrides(cfg, [f"autoencoder.path={env!r}"])
    # absolute paths in the saved config, so `phylaw sample` works from any directory later
    absolute = [f"{key}={str(Path(value).absolute())!r}" for key, value in
                (("data.train", cfg.data.train), ("autoencoder.path", cfg.autoencoder.path)) if value]  # fmt: skip
    return apply_overrides(cfg, absolute)


def train_cmd(
    config: str = typer.Option(..., "--config", help="preset name (paper, cpu-tiny) or YAML/TOML file"),
    out: Path = typer.Option(..., "--out", help="run directory (checkpoints, config.json, metrics.csv, tb/)"),
    overrides: list[str] | None = typer.Option(None, "--set", help=SET_HELP),
    data: str | None = typer.Option(None, "--data", help="training dataset (same as --set data.train=...)"),
    resume: bool = typer.Option(False, "--resume", help="continue from the latest checkpoint in --out"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Train a frame-conditioned video DiT (single process, or DDP under torchrun)."""
    from phylaw.train import train_dit

    sets = [*(overrides or []), *([f"data.train={data!r}"] if data else [])]
    run = train_dit(_config(config, sets), out, resume=resume, progress=not quiet)
    _echo_rank0(f"trained {run}")


def train_vae_cmd(
    data: str = typer.Option(..., "--data", help="dataset file, directory or glob"),
    out: Path = typer.Option(..., "--out", help="run directory (vae.pt, checkpoints, report.md)"),
    steps: int | None = typer.Option(None, "--steps", help="training steps (schedule.steps)"),
    config: str = typer.Option("vae-cpu", "--config", help="preset name or YAML/TOML file"),
    overrides: list[str] | None = typer.Option(None, "--set", help=SET_HELP),
    report_data: str | None = typer.Option(
        None, "--report-data", help="videos for the report (default: --data)"
    ),
    report_limit: int = typer.Option(256, "--report-limit", help="videos reconstructed for the report"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Train phylaw's VideoVAE and report its reconstruction velocity error vs the ground-truth floor."""
    from phylaw.train.vae_trainer import train_vae, vae_report

    if report_limit < 1:  # checked before training, not after it
        raise PhylawError(f"--report-limit must be >= 1, got {report_limit}")
    sets = [*(overrides or []), f"data.train={data!r}", "autoencoder.kind='vae'"]
    sets += [f"schedule.steps={steps}"] if steps is not None else []
    cfg = _config(config, sets)
    run = train_vae(cfg, out, resume=resume, progress=not quiet)
    report = vae_report(run, report_data or data, cfg, limit=report_limit, progress=not quiet)
    typer.echo(report.read_text().rstrip())
    typer.echo(
        f"VAE written to {run / 'vae.pt'}; use --set autoencoder.kind=vae --set autoencoder.path={run}"
    )


def sample_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="training run directory"),
    data: str = typer.Option(..., "--data", help="dataset whose first c frames condition the model"),
    out: Path = typer.Option(..., "--out", help="sample file (.h5, docs/formats.md)"),
    steps: int | None = typer.Option(
        None, "--steps", help="DDIM steps (default: the run's runtime.sample_steps)"
    ),
    seed: int = typer.Option(0, "--seed"),
    limit: int | None = typer.Option(None, "--limit", help="only the first N selected videos"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="default: runtime.sample_batch_size"),
    indices: str | None = typer.Option(None, "--indices", help="dataset indices: 0,5,9 or 0-99"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0 = torch default)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    condition: str | None = typer.Option(
        None, "--condition", help="reimpose | free: x_t at the condition frames (default: docs/training.md)"
    ),
) -> None:
    """Generate videos for dataset rows (resumable; spread over ranks under torchrun)."""
    from phylaw.train import sample_dataset

    if threads < 0:
        raise PhylawError(f"--threads must be >= 0 (0 = torch default), got {threads}")

    path = sample_dataset(
        checkpoint, data, out, steps=steps, seed=seed, limit=limit, indices=_parse_indices(indices),
        batch_size=batch_size, device=device, threads=threads, progress=not quiet,
        **({} if condition is None else {"condition": condition}),
    )  # fmt: skip
    _echo_rank0(f"wrote {path}")


def encode_latents_cmd(
    config: str = typer.Option(..., "--config", help="preset name or YAML/TOML file"),
    out: Path = typer.Option(..., "--out", help="run directory the latent cache is written into"),
    overrides: list[str] | None = typer.Option(None, "--set", help=SET_HELP),
    data: str | None = typer.Option(None, "--data", help="training dataset (same as --set data.train=...)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Pre-compute the latent cache of a run (learned autoencoders only; `train` reuses it)."""
    from phylaw.train.trainer import encode_latents

    sets = [*(overrides or []), *([f"data.train={data!r}"] if data else [])]
    path = encode_latents(_config(config, sets), out, progress=not quiet)
    typer.echo(f"wrote {path}" if path else "pixel-space autoencoder: nothing to cache")


def presets_cmd() -> None:
    """List DiT presets (parameter counts), autoencoder kinds and training presets."""
    from phylaw.config import PRESETS
    from phylaw.models.presets import DIT_PRESETS, PAPER_PARAMS, build_dit, count_parameters

    typer.echo("DiT presets (4 latent channels; parameters counted on the meta device):")
    typer.echo(
        f"  {'name':<10} {'depth':>5} {'hidden':>6} {'heads':>5} {'patch':>5} {'params':>9} {'paper':>8}"
    )
    for name, c in DIT_PRESETS.items():
        n = count_parameters(build_dit(name, device="meta", latent_channels=4))
        paper = f"{PAPER_PARAMS[name] / 1e6:.1f}M" if name in PAPER_PARAMS else "-"
        typer.echo(
            f"  {name:<10} {c.depth:>5} {c.hidden_size:>6} {c.num_heads:>5} {c.patch_t}x{c.patch_size}x{c.patch_size:<1} "
            f"{n / 1e6:>8.2f}M {paper:>8}"
        )
    typer.echo("autoencoder kinds (--set autoencoder.kind=...):")
    typer.echo("  identity   pixel space; autoencoder.space_to_depth=s packs s x s pixels into channels")
    typer.echo("  vae        phylaw's frame-wise VideoVAE (x4/x8 spatial), autoencoder.path=<train-vae run>")
    typer.echo("  diffusers  pretrained AutoencoderKL directory, autoencoder.path=<dir> or $PHYLAW_VAE_PATH")
    typer.echo("training presets (--config NAME; files in configs/):")
    for name, make in PRESETS.items():
        cfg = make()
        d, o, s = cfg.data, cfg.optim, cfg.schedule
        typer.echo(
            f"  {name:<9} model={cfg.model.preset} ae={cfg.autoencoder.kind} {d.resolution}^2 x {d.n_frames} frames "
            f"c={d.cond_frames} batch={o.batch_size} steps={s.steps} lr={o.lr:g} hflip={d.hflip}"
        )


def _echo_rank0(text: str) -> None:
    """Print once under torchrun (rank 0 only)."""
    if os.environ.get("RANK", "0") == "0":
        typer.echo(text)


def _parse_indices(text: str | None) -> list[int] | None:
    if not text:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            a, sep, b = part.strip().partition("-")
            out += list(range(int(a), int(b) + 1)) if sep else [int(a)]
    except ValueError as exc:
        raise PhylawError(f"--indices must look like 0,5,9 or 0-99, got {text!r}") from exc
    return out


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the phylaw app."""
    app.command("train")(train_cmd)
    app.command("train-vae")(train_vae_cmd)
    app.command("sample")(sample_cmd)
    app.command("encode-latents")(encode_latents_cmd)
    app.command("presets")(presets_cmd)
