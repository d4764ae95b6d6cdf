"""Physical-law evaluator: parse object states from frames, score them against the ground truth."""

from phylaw.evaluate.parse import DEFAULT_PALETTE, ColorRule, Palette, ParsedStates, parse
from phylaw.evaluate.registry import METRICS, Metric, select_metrics
from phylaw.evaluate.run import EvalOptions, EvalResult, evaluate

__all__ = [
    "DEFAULT_PALETTE",
    "METRICS",
    "ColorRule",
    "EvalOptions",
    "EvalResult",
    "Metric",
    "Palette",
    "ParsedStates",
    "evaluate",
    "parse",
    "select_metrics",
]
