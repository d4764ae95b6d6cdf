"""Physical-law evaluator: parse object states from frames, score them against the ground truth.

The names below are imported on first use (PEP 562), so ``phylaw.evaluate.registry.HEADLINE`` can be read
without loading the parser's compiled kernel."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_PALETTE": "parse", "ColorRule": "parse", "Palette": "parse", "ParsedStates": "parse", "parse": "parse",
    "METRICS": "registry", "Metric": "registry", "select_metrics": "registry", "HEADLINE": "registry",
    "METRIC_SETS": "registry", "get_metric_set": "registry",
    "MetricInputs": "metrics",
    "EvalOptions": "run", "EvalResult": "run", "evaluate": "run",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
