"""``phylaw demo``: the paper's central finding on a laptop, as a one-cell experiment plus its report.

Uniform motion, a tiny DiT (on the latents of phylaw's VideoVAE, trained first on the same videos, or in pixel
space), trained on a small (r, v) grid inside the paper's ID ranges, then asked
to continue 3-frame prompts of held-out ID videos and of OOD videos (radius and/or velocity outside the
training ranges). The embedded defaults (``DEMO``) finish in about 14 minutes on 2 idle CPU cores (13 min 54 s
measured, with bf16 and two training ranks);
``SMOKE`` is a one-to-two-minute configuration that only checks that every stage runs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phylaw.errors import PhylawError
from phylaw.experiments.experiment import (
    FIG3_FACTORS,
    Experiment,
    ExperimentPlan,
    ReportSection,
    check_plan,
    run_experiment,
)
from phylaw.experiments.runner import RunOutcome
from phylaw.experiments.spec import DataSpec, RunSpec, TrainSpec
from phylaw.io import read_json, write_json
from phylaw.train.launch import LaunchOptions

log = logging.getLogger(__name__)

FACTORS = FIG3_FACTORS  # the demo is one point of the Fig. 3 study: scenario, model, data_size


@dataclass(frozen=True)
class DemoConfig:
    """Every knob of the demo (printed and saved as ``demo_config.json`` in the output directory)."""

    name: str = "demo"
    scenario: str = "uniform_motion"
    resolution: int = 64
    n_frames: int = 16
    grid_r: int = 16  # training grid: grid_r radii x grid_v speeds inside the ID ranges
    grid_v: int = 64
    model: str = "DiT-tiny"
    autoencoder: str = (
        "vae"  # "vae": phylaw's VideoVAE trained first; "identity": pixel space (space_to_depth)
    )
    vae_factor: int = 8
    vae_base_channels: int = 16
    vae_steps: int = 400  # recon floor 0.188 at 400 steps vs 0.184 at 600 (ID videos): the 73 s go to the DiT
    vae_batch_size: int = 4
    vae_lr: float = 1e-3
    space_to_depth: int = 8
    patch: int = 2
    temporal_patch: int = 2
    steps: int = (
        4500  # fits 15 minutes on 2 cores with bf16 and 2 ranks, with a minute to spare (5,000 took 15:08)
    )
    batch_size: int = 16
    micro_batch_size: int = (
        8  # per forward pass (0: batch_size / train_procs); fixed, results do not depend on train_procs
    )
    train_procs: int = (
        2  # CPU: >1 trains the DiT in that many local ranks (gloo), one thread each; CUDA: always 1
    )
    lr: float = 2e-3  # 1e-3: ID 4.5x floor, 2e-3: 3.4x (3,000 steps, same cost)
    warmup: int = 50
    ema_decay: float = 0.995
    cpu_bf16: str = (
        "auto"  # DiT training on CPU in bf16 autocast: off | on | auto (where the CPU has native bf16)
    )
    deterministic: bool = (
        True  # CUDA: deterministic kernels (runtime.deterministic); False: torch's faster defaults
    )
    timesteps: str = "uniform"  # diffusion-step distribution in training: uniform | logit_normal
    logit_mean: float = 0.0
    logit_std: float = 1.0
    flip: bool = (
        False  # horizontal flips: off, all testbed videos move right (on: ID error 7.7x floor, off: 5.3x)
    )
    sample_steps: int = (
        4  # DDIM steps; on the same model 4 steps scored 9 % lower ID error than 10 (and 30: 8 % higher)
    )
    sample_batch_size: int = 50
    eval_per_split: tuple[tuple[str, int], ...] = (("id", 100), ("ood", 99))
    gallery_per_split: int = 3
    seed: int = 0

    @property
    def train_size(self) -> int:
        return self.grid_r * self.grid_v


DEMO = DemoConfig()
SMOKE = dataclasses.replace(
    DEMO, name="demo-smoke", resolution=32, autoencoder="identity", space_to_depth=4, model="DiT-micro", grid_r=4, grid_v=8,
    steps=20, warmup=5, sample_steps=4, eval_per_split=(("id", 8), ("ood", 9)), gallery_per_split=1, train_procs=1,
)  # fmt: skip


# The demo at 128 px for one GPU: 4x the pixels, so the digitisation floor and the per-frame jitter shrink while
# the OOD model error does not (docs/experiments.md). Measured on an H200: 4 min 05 s, ID 3.7x the floor, OOD 19x ID.
GPU128 = dataclasses.replace(DEMO, resolution=128, vae_steps=800, micro_batch_size=16)
PRESETS = {"demo": DEMO, "smoke": SMOKE, "gpu128": GPU128}


def demo_config(base: DemoConfig, overrides: list[str]) -> DemoConfig:
    """``base`` with ``["steps=3000", "resolution=32"]`` applied (the one typed parser, ``phylaw.config``)."""
    from phylaw.config import apply_overrides

    return apply_overrides(base, overrides)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (x86 AVX512-BF16 or AMX-BF16), as torch reports it."""
    import torch

    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def use_cpu_bf16(cfg: DemoConfig) -> bool:
    """Whether the DiT trains under bf16 autocast on CPU (on CUDA the trainer uses bf16 anyway). ``auto``:
    only where the CPU has native bf16; elsewhere bf16 is emulated and slower than fp32."""
    if cfg.cpu_bf16 not in ("off", "on", "auto"):
        raise PhylawError(f"demo setting cpu_bf16 must be off, on or auto, got {cfg.cpu_bf16!r}")
    return cfg.cpu_bf16 == "on" or (cfg.cpu_bf16 == "auto" and cpu_has_native_bf16())


def train_spec(cfg: DemoConfig) -> TrainSpec:
    """The training settings of a demo configuration (also the tiny-scale grids' settings, see fig3.py).

    This machine's choices (ranks, CPU bf16) are not part of it: :func:`runtime_settings`."""
    overrides: tuple[tuple[str, object], ...] = ()
    if cfg.micro_batch_size:
        overrides += (("optim.micro_batch_size", cfg.micro_batch_size),)
    if not cfg.deterministic:
        overrides += (("runtime.deterministic", False),)
    if cfg.timesteps != "uniform":
        overrides += (
            ("diffusion.timesteps", cfg.timesteps), ("diffusion.logit_mean", cfg.logit_mean),
            ("diffusion.logit_std", cfg.logit_std),
        )  # fmt: skip
    return TrainSpec(
        model=cfg.model, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup=cfg.warmup,
        autoencoder=cfg.autoencoder, space_to_depth=cfg.space_to_depth, patch=cfg.patch,
        temporal_patch=cfg.temporal_patch, ema_decay=cfg.ema_decay, flip=cfg.flip, preset="cpu-tiny", seed=cfg.seed,
        vae_factor=cfg.vae_factor, vae_base_channels=cfg.vae_base_channels, vae_steps=cfg.vae_steps,
        vae_batch_size=cfg.vae_batch_size, vae_lr=cfg.vae_lr, overrides=overrides,
    )  # fmt: skip


def runtime_settings(cfg: DemoConfig) -> tuple[tuple[str, object], ...]:
    """This machine's training-config choices for the demo: one thread per CPU rank, bf16 autocast where the
    CPU has native bf16. Applied at launch and recorded in the cell's ``runtime.json``, not in its id."""
    out: tuple[tuple[str, object], ...] = ()
    if train_procs(cfg) > 1:  # CPU ranks: one thread each (on CUDA the demo trains in one process)
        out += (("runtime.threads", 1),)
    if use_cpu_bf16(cfg):
        out += (("runtime.precision", "bf16"),)
    return out


def launch_options(cfg: DemoConfig) -> LaunchOptions:
    return LaunchOptions(nproc_per_node=train_procs(cfg), runtime=runtime_settings(cfg))


def check(cfg: DemoConfig) -> None:
    """One-line errors for settings the trainer would only reject inside its worker processes."""
    if cfg.train_procs < 1 or cfg.batch_size < 1:
        raise PhylawError("demo settings train_procs and batch_size must be >= 1")
    procs = train_procs(cfg)  # 1 on CUDA
    micro = cfg.micro_batch_size or cfg.batch_size // procs
    if micro < 1:
        raise PhylawError("demo setting micro_batch_size must be >= 1 (0: batch_size / train_procs)")
    if cfg.batch_size % micro or (cfg.batch_size // micro) % procs:
        raise PhylawError(
            f"demo batch_size {cfg.batch_size} must split into micro-batches of {micro} dealt evenly to "
            f"{procs} training processes"
        )


def train_procs(cfg: DemoConfig) -> int:
    """Training processes for this machine: ``cfg.train_procs`` on CPU, 1 where CUDA is available (one GPU
    does the demo's work; more ranks would ask for GPUs that may not exist)."""
    import torch

    return 1 if torch.cuda.is_available() else cfg.train_procs


def _device_words() -> str:
    import torch

    return f"CUDA ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "CPU"


def demo_plan(cfg: DemoConfig) -> ExperimentPlan:
    """The demo as a one-cell experiment (so it shares the runner's skip/resume logic and the report)."""
    from phylaw.sim.ranges import get_ranges

    check(cfg)
    use_cpu_bf16(cfg)  # a bad cpu_bf16 setting is an error before anything runs
    paper = get_ranges(
        "paper", cfg.scenario
    )  # the training grid lies inside the paper's ID ranges (SPEC I.1)
    train = DataSpec(
        cfg.scenario, f"{cfg.name}-train", resolution=cfg.resolution, n_frames=cfg.n_frames,
        grid=(("r", *paper.r_id, cfg.grid_r), ("v", *paper.v_id, cfg.grid_v)), seed=cfg.seed,
    )  # fmt: skip
    evald = DataSpec(
        cfg.scenario, "eval", resolution=cfg.resolution, n_frames=cfg.n_frames,
        per_split=cfg.eval_per_split, seed=cfg.seed,
    )  # fmt: skip
    cell = RunSpec(
        cfg.name, "tiny", cfg.scenario, cfg.train_size, train, evald, train_spec(cfg), sample_steps=cfg.sample_steps,
        sample_batch_size=cfg.sample_batch_size, seed=cfg.seed, notes=f"gallery_per_split={cfg.gallery_per_split}",
    )  # fmt: skip
    return ExperimentPlan(
        cfg.name, "tiny", (cell,),
        f"phylaw demo: uniform motion, {cfg.model} on "
        + ("VideoVAE latents" if cfg.autoencoder == "vae" else "pixels") + f", on {_device_words()}.",
        factors=FACTORS,
    )  # fmt: skip


def config_json(cfg: DemoConfig) -> dict[str, Any]:
    return {**dataclasses.asdict(cfg), "train_size": cfg.train_size}


def saved_config(saved: dict[str, Any]) -> DemoConfig:
    """The :class:`DemoConfig` of a saved ``demo_config.json``: its settings applied to the defaults (a setting
    added to phylaw after that demo ran takes its default; ``train_size`` is derived)."""
    from phylaw.config import apply_overrides

    known = {f.name for f in dataclasses.fields(DemoConfig)}
    return apply_overrides(DemoConfig(), [(k, v) for k, v in saved.items() if k in known])


def same_demo_config(saved: dict[str, Any], cfg: DemoConfig) -> bool:
    """Whether a saved ``demo_config.json`` describes ``cfg``."""
    try:
        return saved_config(saved) == cfg
    except PhylawError:
        return False


def run_demo(out: Path, cfg: DemoConfig = DEMO, *, progress: bool = True, pipeline=None) -> RunOutcome:
    """Run the demo into ``out`` (resumable) and build its report in ``out/report``."""
    from phylaw.experiments.migrate import check_not_legacy
    from phylaw.experiments.report import build_report

    out = Path(out)
    saved = out / "demo_config.json"
    if saved.exists() and not same_demo_config(read_json(saved), cfg):
        raise PhylawError(f"{out} holds a demo with another configuration ({saved}); choose another --out")
    plan = demo_plan(cfg)
    launch = launch_options(cfg)
    if pipeline is None:
        pipeline = EXPERIMENT.pipeline(launch)
    check_plan(plan, pipeline.check)  # nothing is written for a bad configuration
    check_not_legacy(out, plan)  # nor for a directory that `phylaw migrate` must rename first
    write_json(saved, config_json(cfg))
    options = {"gallery_per_split": cfg.gallery_per_split, "launch": launch}
    outcome = run_experiment(plan, out, pipeline, progress=progress, options=options)
    if not outcome.failed:
        build_report([out], out / "report", title=f"phylaw {cfg.name}", section=EXPERIMENT.report)
    return outcome


def _pipeline(launch: LaunchOptions):
    from phylaw.experiments.stages import default_pipeline

    return default_pipeline(launch)


# the demo as a declaration: one cell (the embedded DEMO at every scale; `phylaw demo` builds it from its
# --preset/--set), the standard stages, and a report of the Fig. 3 factors
EXPERIMENT = Experiment(
    "demo", FACTORS, lambda _scale: demo_plan(DEMO), pipeline=_pipeline,
    report=ReportSection("Velocity error", figures=("scaling", "training_curves", "error_distribution")),
)  # fmt: skip
