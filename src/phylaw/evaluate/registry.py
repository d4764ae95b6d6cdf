"""The metric registry: name -> Metric(unit, higher_is_better, kind, needs, fn, scenarios).

A metric declares its **kind**:

* ``"video"``: ``fn(inputs) -> (n,)`` one value per video (NaN: undefined); summaries are the mean over
  videos with a Student-t 95 % CI (``report.mean_ci``).
* ``"set"``: ``fn(inputs) -> (n, 2, d)`` per-video sufficient statistics, row 0 of the videos scored and
  row 1 of the reference (a NaN makes the video undefined); ``compute(gen (m, d), ref (m, d)) -> float`` is
  one value per set of videos (a split/level), with a percentile bootstrap CI over videos
  (``report.bootstrap_ci``). FVD-like metrics go here.

and the inputs it **needs** from ``MetricInputs`` (``metrics.INPUTS``: frames, gt_frames, parsed, truth); the
evaluator passes only those (the others are None) and reads ground-truth frames for the model's videos only
when a chosen metric needs them. The floor of every metric is the same metric on the ground-truth frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from phylaw.errors import PhylawError
from phylaw.evaluate import metrics as m

HEADLINE = "velocity_error"
KINDS = ("video", "set")
STATES = ("parsed", "truth")  # what the state metrics read


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    higher_is_better: bool | None  # None: a measured quantity, not a score
    fn: Callable[[m.MetricInputs], np.ndarray]
    scenarios: tuple[str, ...] | None = None  # None: every scenario
    description: str = ""
    kind: str = "video"
    needs: tuple[str, ...] = STATES
    compute: Callable[[np.ndarray, np.ndarray], float] | None = None  # kind "set": statistics -> one value

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PhylawError(
                f"metric {self.name}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        if (self.kind == "set") != (self.compute is not None):
            raise PhylawError(f"metric {self.name}: a set metric needs compute(), a video metric has none")
        bad = [x for x in self.needs if x not in m.INPUTS]
        if bad:
            raise PhylawError(f"metric {self.name}: unknown inputs {bad}; choose from {', '.join(m.INPUTS)}")

    def applies_to(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios


def _metric(
    name: str, unit: str, hib: bool | None, fn, scenarios: tuple[str, ...] | None = None, doc: str = "", **kw
) -> Metric:
    return Metric(name, unit, hib, fn, scenarios, doc or (fn.__doc__ or "").strip().splitlines()[0], **kw)


METRICS: dict[str, Metric] = {
    mt.name: mt
    for mt in (
        _metric("velocity_error", "world/s", False, m.velocity_error),
        _metric("velocity_error_capped", "world/s", False, m.velocity_error_capped),
        _metric("velocity_error_x", "world/s", False, m.velocity_error_x),
        _metric("velocity_error_pre", "world/s", False, m.velocity_error_pre, ("collision",)),
        _metric("mean_velocity_error", "world/s", False, m.mean_velocity_error),
        _metric("position_error", "world", False, m.position_error),
        _metric("radius_error", "world", False, m.radius_error),
        _metric("radius_drift", "world", False, m.radius_drift),
        _metric("parse_failure_rate", "fraction", False, m.parse_failure_rate),
        _metric("color_consistency", "fraction", True, m.color_consistency),
        _metric("shape_consistency", "fraction", True, m.shape_consistency),
        _metric("momentum_error", "world^3/s", False, m.momentum_error, ("collision",)),
        _metric("kinetic_energy_error", "world^4/s^2", False, m.kinetic_energy_error, ("collision",)),
        _metric("fitted_gravity", "world/s^2", None, m.fitted_gravity, ("parabola",)),
        _metric("gravity_error", "world/s^2", False, m.gravity_error, ("parabola",)),
        _metric(
            "constant_velocity_residual", "world", False, m.constant_velocity_residual, ("uniform_motion",)
        ),
        _metric(
            "state_frechet_distance",
            "mixed^2",
            False,
            m.state_features,
            kind="set",
            compute=m.frechet_distance,
            doc="Squared Fréchet distance between Gaussian fits of per-video mean velocity and radius, "
            "parsed vs true (a set metric)",
        ),
    )
}


def select_metrics(names: list[str] | tuple[str, ...] | None, scenario: str) -> list[Metric]:
    """The named metrics (all that apply to the scenario when None); PhylawError on unknown names."""
    if not names:
        return [mt for mt in METRICS.values() if mt.applies_to(scenario)]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise PhylawError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    bad = [n for n in names if not METRICS[n].applies_to(scenario)]
    if bad:
        raise PhylawError(f"metric(s) {', '.join(bad)} do not apply to scenario {scenario!r}")
    return [METRICS[n] for n in dict.fromkeys(names)]
