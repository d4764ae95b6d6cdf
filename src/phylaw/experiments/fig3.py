"""Fig. 3 of the paper as an experiment declaration: its cells at three scales, its stages and its report.

``plan(scale)`` returns the cells (factors scenario x model x data_size). Scales:

- ``paper``: the paper's grid and training budget (SPEC A.3, C.3): 3 scenarios x DiT-S/B/L x 30K/300K/3M
  (+ DiT-XL on uniform motion 3M) = 28 cells, 128 px, 32 frames, 100K steps at batch 256, full eval sets;
  training runs under ``torchrun``.
- ``small``: one GPU, hours: 3 scenarios x DiT-S/B x 30K/300K = 12 cells at 64 px, 20K steps, 300 ID + 300 OOD
  evaluation videos.
- ``tiny``: two CPU cores, about an hour: 3 scenarios x DiT-micro/DiT-tiny x two small grids (500 and 2,000
  videos) = 12 cells with the demo's model and video size at a smaller budget (``_tiny_base``).
"""

from __future__ import annotations

import dataclasses

from phylaw import sim
from phylaw.experiments.experiment import FIG3_FACTORS, Experiment, ExperimentPlan, ReportSection
from phylaw.experiments.spec import DataSpec, RunSpec, TrainSpec
from phylaw.sim.ranges import get_ranges

FACTORS = FIG3_FACTORS

SCENARIOS = sim.KINEMATIC_SCENARIOS  # the three kinematic scenarios of the paper

# training grid of the paper: nominal size -> testbed split name (phylaw.sim splits)
PAPER_SPLITS = {30_000: "train-30k", 300_000: "train-300k", 3_000_000: "train-3m"}

# tiny scale: scaled-down product grids, (param, lo, hi, n); the ranges are the paper's ID ranges (SPEC I.1).
# Two sizes 4x apart per scenario (the paper's are 10x apart; 2 CPU cores cannot train on 10x more in minutes).
R_ID, V_ID = get_ranges("paper", "uniform_motion").r_id, get_ranges("paper", "uniform_motion").v_id
TINY_GRIDS: dict[str, dict[int, tuple[tuple[str, float, float, int], ...]]] = {
    "uniform_motion": {
        500: (("r", *R_ID, 10), ("v", *V_ID, 50)),
        2_000: (("r", *R_ID, 20), ("v", *V_ID, 100)),
    },
    "parabola": {
        500: (("r", *R_ID, 10), ("v", *V_ID, 50)),
        2_000: (("r", *R_ID, 20), ("v", *V_ID, 100)),
    },
    "collision": {
        500: (("r1", *R_ID, 3), ("r2", *R_ID, 3), ("v1", *V_ID, 7), ("v2", *V_ID, 8)),  # 504 videos
        2_000: (("r1", *R_ID, 4), ("r2", *R_ID, 4), ("v1", *V_ID, 11), ("v2", *V_ID, 11)),  # 1,936 videos
    },
}


def _tiny_base():
    """The tiny grid's settings: the demo's model, video size and autoencoder, with a budget that fits 12 cells
    in about an hour on 2 CPU cores (half the demo's DiT steps, 400 VAE steps, 60 ID + 60 OOD evaluation
    videos; no flips: every testbed video moves right, so flipping only doubles the task and the encoding).
    Every field written out, not taken from ``DemoConfig``'s defaults, so tuning the demo does not change the
    grid's cell ids."""
    from phylaw.experiments.demo import DemoConfig

    return DemoConfig(
        name="fig3-tiny", scenario="uniform_motion", resolution=64, n_frames=16, grid_r=16, grid_v=64,
        model="DiT-tiny", autoencoder="vae", vae_factor=8, vae_base_channels=16, vae_steps=400, vae_batch_size=4,
        vae_lr=1e-3, space_to_depth=8, patch=2, temporal_patch=2, steps=1200, batch_size=16, micro_batch_size=0,
        train_procs=1, lr=1e-3, warmup=50,
        ema_decay=0.995, cpu_bf16="off", deterministic=True, timesteps="uniform", flip=False, sample_steps=10, sample_batch_size=50,
        eval_per_split=(("id", 60), ("ood", 60)), gallery_per_split=3, seed=0,
    )  # fmt: skip


def _tiny_train(model: str, steps: int) -> TrainSpec:
    from phylaw.experiments.demo import train_spec

    return train_spec(dataclasses.replace(_tiny_base(), model=model, steps=steps))


def fig3(scale: str) -> ExperimentPlan:
    """Fig. 3: in- and out-of-distribution velocity error vs data and model size."""
    if scale == "paper":
        return _fig3_paper()
    if scale == "small":
        return _fig3_small()
    return _fig3_tiny()


def _fig3_paper() -> ExperimentPlan:
    cells = []
    grid = [(s, m, n) for s in SCENARIOS for m in ("DiT-S", "DiT-B", "DiT-L") for n in PAPER_SPLITS]
    grid.append(("uniform_motion", "DiT-XL", 3_000_000))
    for scenario, model, n in grid:
        train = DataSpec(scenario, PAPER_SPLITS[n], resolution=128, procedural=n >= 300_000)
        evald = DataSpec(scenario, "eval", resolution=128)
        ts = TrainSpec(model=model, steps=100_000, batch_size=256, lr=1e-4, warmup=1000,
                       autoencoder="vae", preset="paper")  # fmt: skip
        cells.append(RunSpec("fig3", "paper", scenario, n, train, evald, ts, sample_steps=50,
                             sample_batch_size=64, distributed=True))  # fmt: skip
    return ExperimentPlan(
        "fig3",
        "paper",
        tuple(cells),
        "Fig. 3 at the paper's scale (28 cells, 32 A100s per cell in the paper).",
        factors=FACTORS,
    )


def _fig3_small() -> ExperimentPlan:
    cells = []
    for scenario in SCENARIOS:
        for model in ("DiT-S", "DiT-B"):
            for n in (30_000, 300_000):
                train = DataSpec(scenario, PAPER_SPLITS[n], resolution=64, procedural=n >= 300_000)
                evald = DataSpec(scenario, "eval", resolution=64, per_split=(("id", 300), ("ood", 300)))
                ts = TrainSpec(model=model, steps=20_000, batch_size=64, lr=1e-4, warmup=500,
                               autoencoder="identity", space_to_depth=4, patch=2, temporal_patch=2,
                               ema_decay=0.9995, preset="paper")  # fmt: skip
                cells.append(RunSpec("fig3", "small", scenario, n, train, evald, ts, sample_steps=50,
                                     sample_batch_size=64))  # fmt: skip
    return ExperimentPlan(
        "fig3",
        "small",
        tuple(cells),
        "Fig. 3 scaled to one GPU (12 cells, 64 px, 20K steps).",
        factors=FACTORS,
    )


def _fig3_tiny() -> ExperimentPlan:
    base = _tiny_base()
    cells = []
    for scenario in SCENARIOS:
        for model, steps in (("DiT-micro", base.steps), ("DiT-tiny", base.steps)):
            for n, grid in TINY_GRIDS[scenario].items():
                train = DataSpec(scenario, f"tiny-{n}", resolution=base.resolution, n_frames=base.n_frames,
                                 grid=grid)  # fmt: skip
                evald = DataSpec(scenario, "eval", resolution=base.resolution, n_frames=base.n_frames,
                                 per_split=base.eval_per_split)  # fmt: skip
                cells.append(RunSpec("fig3", "tiny", scenario, n, train, evald, _tiny_train(model, steps),
                                     sample_steps=base.sample_steps, sample_batch_size=base.sample_batch_size))  # fmt: skip
    return ExperimentPlan(
        "fig3", "tiny", tuple(cells), "Fig. 3 scaled to two CPU cores (12 cells: the demo's model and video size, 1,200 steps).",
        factors=FACTORS,
    )  # fmt: skip


def _pipeline(launch):
    from phylaw.experiments.stages import default_pipeline

    return default_pipeline(launch)


EXPERIMENT = Experiment(
    "fig3", FACTORS, fig3, pipeline=_pipeline,
    report=ReportSection("Velocity error", figures=("scaling", "training_curves", "error_distribution")),
)  # fmt: skip
