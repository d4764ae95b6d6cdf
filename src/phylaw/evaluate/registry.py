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

A video metric may be **per frame** (``per_frame``: fn returns (n, T); the video's value is the mean over its
frames and the curve goes to frame_metrics.csv), may **require** pretrained weights (``requires``: names of
``evaluate.weights``; where a file is missing the metric is reported as not computed and the others run) and
may give a per-video **detail** text (the judge's reasons).

Metrics come in named **metric sets** (``METRIC_SETS``, ``phylaw evaluate --metric-set NAME``): ``phylaw``
(phylaw's own definitions for the kinematic scenes, SPEC I.4, ``METRICS``), ``release`` (the released
evaluator's numbers, ``evaluate.release``: the paper's published quantities) and ``phyre`` (PHYRE-style scenes,
``evaluate.phyre_metrics``: Table 2's video metrics, trajectory metrics and the judge). Without a name a
scenario gets its default set (``default_metric_set``: phyre -> phyre, the others -> phylaw). A set declares
its metrics, its headline metric per scenario, the scenarios it has recipes for, how its ground-truth frames are made (``gt_render``: "dataset" =
the dataset's frames / phylaw's renderer, "release" = the release's raster at 256² area-averaged to the video
size), optionally its own bucket rule (split/level from the video's parameters instead of its labels) and
its own inputs builder (``inputs``: what its metrics receive instead of the kinematic per-colour parse).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from phylaw.errors import PhylawError
from phylaw.evaluate import metrics as m
from phylaw.evaluate import phyre_metrics as pm
from phylaw.evaluate import release as rel
from phylaw.sim.registry import CLOSED_FORM_SCENARIOS

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
    per_frame: bool = (
        False  # kind "video": fn returns (n, T) per-frame values; the video's value is their mean
    )
    requires: tuple[str, ...] = ()  # pretrained weights (evaluate.weights names); missing: not computed
    detail: Callable[[object], list[str]] | None = None  # per-video text (the CSV's detail column)
    resamples: int | None = (
        None  # kind "set": bootstrap resamples of its CI (None: report.BOOTSTRAP_RESAMPLES)
    )

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PhylawError(
                f"metric {self.name}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        if (self.kind == "set") != (self.compute is not None):
            raise PhylawError(f"metric {self.name}: a set metric needs compute(), a video metric has none")
        if self.per_frame and self.kind != "video":
            raise PhylawError(f"metric {self.name}: only a video metric can be per frame")
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


_RK = ("uniform_motion", "parabola")  # the release's single-ball scenarios
_RELEASE_UNIT = "world/s (parabola: world)"
RELEASE_HEADLINE = "release_headline"
RELEASE_METRICS: dict[str, Metric] = {
    mt.name: mt
    for mt in (
        _metric(
            RELEASE_HEADLINE, _RELEASE_UNIT, False, rel.headline, rel.SCENARIOS,
            "The paper's published number (Fig. 3, Table 3): uniform vel_error, collision post_vel_error, "
            "parabola abs_x_err_avg (a position error; the recipe that gives its published floor)",
        ),
        _metric("release_vel_error", "world/s", False, rel.vel_error, ("uniform_motion",)),
        _metric("release_x_vel_error", "world/s", False, rel.vel_error, ("parabola",),
                "|mean_t v̂_x,t − v0| over the release's frames (its parabola x_vel_error)"),
        _metric("release_abs_x_vel_err_avg", "world/s", False, rel.abs_x_vel_err_avg, _RK),
        _metric("release_abs_x_err_avg", "world", False, rel.abs_x_err_avg, _RK),
        _metric("release_abs_y_err_avg", "world", False, rel.abs_y_err_avg, _RK),
        _metric("release_post_vel_error", "world/s", False, rel.post_vel_error, ("collision",)),
        _metric("release_post_vel_err_avg", "world/s", False, rel.post_vel_err_avg, ("collision",)),
        _metric("release_pre_vel_error", "world/s", False, rel.pre_vel_error, ("collision",)),
        _metric("release_stand_in_rate", "fraction", False, rel.stand_in_rate, rel.SCENARIOS),
    )
}  # fmt: skip
GT_RENDERS = ("dataset", "release")

_PH = ("phyre",)
_PIX = ("frames", "gt_frames")
_TRK = ("frames", "truth")
_ALL = ("frames", "gt_frames", "truth")
PHYRE_METRICS: dict[str, Metric] = {
    mt.name: mt
    for mt in (
        _metric("ssim", "1", True, pm.ssim, _PH, needs=_PIX, per_frame=True),
        _metric("psnr", "dB", True, pm.psnr, _PH, needs=_PIX, per_frame=True),
        _metric("lpips", "1", False, pm.lpips, _PH, needs=_PIX, per_frame=True, requires=("alexnet",)),
        _metric(
            "fvd", "1", False, pm.fvd_statistics, _PH,
            "Fréchet video distance (I3D Kinetics-400 features, unbiased covariance), generated vs ground truth",
            kind="set", compute=pm.fvd_compute, needs=_PIX, requires=("i3d",), resamples=pm.FVD_RESAMPLES,
        ),
        _metric("red_position_error", "scene units", False, pm.red_position_error, _PH, needs=_TRK),
        _metric("final_position_error", "scene units", False, pm.final_position_error, _PH, needs=_TRK),
        _metric("final_state_agreement", "fraction", True, pm.final_state_agreement, _PH, needs=_TRK),
        _metric("final_frame_agreement", "fraction", True, pm.final_frame_agreement, _PH, needs=_ALL),
        _metric("abnormal", "fraction", False, pm.abnormal, _PH, needs=_TRK, detail=pm.abnormal_reasons),
        _metric("outcome_type", "type", None, pm.outcome_type, _PH, needs=_ALL),
    )
}  # fmt: skip
PHYRE_HEADLINE = "abnormal"


@dataclass(frozen=True)
class MetricSet:
    """A named family of metrics (module docstring)."""

    name: str
    description: str
    metrics: dict[str, Metric]
    headline: Callable[[str], str]  # scenario -> the set's headline metric
    scenarios: tuple[str, ...] | None = None  # None: every scenario
    gt_render: str = "dataset"  # default way to make the ground-truth frames (GT_RENDERS)
    # (scenario, params (n, P), param names) -> (split, level) per video; None: the dataset's labels
    buckets: Callable[[str, np.ndarray, tuple[str, ...]], tuple[np.ndarray, np.ndarray]] | None = None
    # (frames, gt_frames, truth, cond_frames, weights) -> the metrics' inputs; None: the kinematic
    # per-colour parse (metrics.build_context)
    inputs: Callable[..., object] | None = None
    notes: Callable[..., list[str]] | None = None  # per-video rows -> extra summary.md lines

    def check(self, scenario: str) -> None:
        """PhylawError (one line) when the set has no recipe for ``scenario``."""
        if self.scenarios is not None and scenario not in self.scenarios:
            raise PhylawError(
                f"metric set {self.name!r} has no recipe for scenario {scenario!r}; it scores "
                f"{', '.join(self.scenarios)}"
            )


METRIC_SETS: dict[str, MetricSet] = {
    "phylaw": MetricSet(
        "phylaw", "phylaw's own metrics (SPEC I.4)", METRICS, lambda _s: HEADLINE, CLOSED_FORM_SCENARIOS
    ),
    "release": MetricSet(
        "release",
        "the released evaluator's numbers, what the paper published (SPEC D.1, evaluate.release)",
        RELEASE_METRICS,
        lambda _s: RELEASE_HEADLINE,
        rel.SCENARIOS,
        gt_render="release",
        buckets=rel.release_buckets,
    ),
    "phyre": MetricSet(
        "phyre",
        "PHYRE-style scenes (Table 2): SSIM / PSNR / LPIPS / FVD against the ground truth, trajectory metrics "
        "against the simulator, the rule-based judge's abnormal flag and outcome type (docs/video_metrics.md)",
        PHYRE_METRICS,
        lambda _s: PHYRE_HEADLINE,
        _PH,
        inputs=pm.build_inputs,
        notes=pm.summary_notes,
    ),
}
DEFAULT_METRIC_SET = "phylaw"
SCENARIO_METRIC_SETS = {"phyre": "phyre"}  # a scenario's default metric set (others: DEFAULT_METRIC_SET)


def default_metric_set(scenario: str) -> str:
    """The metric set ``phylaw evaluate`` uses for a scenario when none is named."""
    return SCENARIO_METRIC_SETS.get(scenario, DEFAULT_METRIC_SET)


def get_metric_set(name: str) -> MetricSet:
    """The metric set called ``name`` (PhylawError, one line, for an unknown name)."""
    if name not in METRIC_SETS:
        raise PhylawError(f"unknown metric set {name!r}; choose one of {', '.join(METRIC_SETS)}")
    return METRIC_SETS[name]


def select_metrics(
    names: list[str] | tuple[str, ...] | None, scenario: str, metric_set: str = DEFAULT_METRIC_SET
) -> list[Metric]:
    """The named metrics of a metric set (all that apply to the scenario when None); PhylawError on unknown
    names, a metric that does not apply, or a set without a recipe for the scenario."""
    ms = get_metric_set(metric_set)
    ms.check(scenario)
    table = ms.metrics
    if not names:
        return [mt for mt in table.values() if mt.applies_to(scenario)]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise PhylawError(
            f"unknown metric(s) {', '.join(unknown)} in metric set {ms.name!r}; choose from {', '.join(table)}"
        )
    bad = [n for n in names if not table[n].applies_to(scenario)]
    if bad:
        raise PhylawError(f"metric(s) {', '.join(bad)} do not apply to scenario {scenario!r}")
    return [table[n] for n in dict.fromkeys(names)]
