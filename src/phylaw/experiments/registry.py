"""The experiment registry: experiment names -> the modules that declare them, imported on use.

Each module (``experiments/fig3.py``, ...) defines ``EXPERIMENT``, an :class:`~phylaw.experiments.experiment.
Experiment` (its cells per scale, stages and report section). The registry knows nothing else of them.
"""

from __future__ import annotations

import dataclasses
import importlib

from phylaw.errors import PhylawError
from phylaw.experiments.experiment import Experiment, ExperimentPlan
from phylaw.experiments.spec import SCALES

EXPERIMENTS: dict[str, str] = {
    "fig3": "phylaw.experiments.fig3",
    "fig5": "phylaw.experiments.fig5",
    "fig6": "phylaw.experiments.fig6",
    "fig7": "phylaw.experiments.fig7",
    "fig8": "phylaw.experiments.fig8",
    "fig9": "phylaw.experiments.fig9",
    "table2": "phylaw.experiments.table2",
    "fig10": "phylaw.experiments.fig10",
    "fig11": "phylaw.experiments.fig11",
}


def get_experiment(name: str) -> Experiment:
    """The declaration of a registered experiment (one-line error for an unknown name)."""
    if name not in EXPERIMENTS:
        raise PhylawError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name]).EXPERIMENT


def get_plan(name: str, scale: str) -> ExperimentPlan:
    """The plan of a registered experiment at a scale (one-line errors for unknown names)."""
    experiment = get_experiment(name)
    if scale not in SCALES:
        raise PhylawError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return experiment.plan(scale)


def with_train_overrides(plan: ExperimentPlan, overrides: list[str]) -> ExperimentPlan:
    """``plan`` with training-config overrides (``["runtime.deterministic=false"]``) added to every cell as
    typed pairs (``("runtime.deterministic", False)``).

    They become part of each cell's spec, so the cells get new ids (a different configuration is a different
    cell). Keys and types are checked against each cell's configuration before anything runs."""
    from phylaw.config import load_config, resolve_overrides

    if not overrides:
        return plan
    cells = []
    for c in plan.cells:
        typed = resolve_overrides(load_config(c.train.preset, c.train.overrides), overrides)
        cells.append(
            dataclasses.replace(c, train=dataclasses.replace(c.train, overrides=(*c.train.overrides, *typed)))
        )
    return dataclasses.replace(plan, cells=tuple(cells))
