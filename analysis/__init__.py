"""Pure numpy/scipy analysis: traces in, numbers and verdicts out. No I/O, no clocks.

The names below are importable from the package, but only on first use (PEP 562): importing
``ventbench.analysis.gas`` or ``ventbench.analysis.limits`` must not pull in numpy and
scipy, so that ``ventbench --help`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name → the module that defines it: limits and checks (limits.py + tolerance.py,
#: checks.py + judgement.py, settle.py, uncertainty.py, results.py); segmentation,
#: per-breath metrics and streaming (segment.py + edges.py, metrics.py + integrals.py +
#: pressures.py, stream.py + buffer.py + boundaries.py + workspace.py).
_LAZY = {
    "Check": "checks", "InstrumentAccuracy": "checks", "JudgementRule": "checks",
    "PointResult": "checks", "SteadyState": "checks", "evaluate_point": "checks",
    "LimitSet": "limits", "Tolerance": "limits", "load_limits": "limits",
    "Boundary": "metrics", "MetricSettings": "metrics", "breath_metrics": "metrics",
    "breaths_metrics": "metrics",
    "overall_verdict": "results", "point_to_json": "results", "results_document": "results",
    "SegmentationSettings": "segment",
    "BreathAnalysis": "stream", "BreathStream": "stream", "analyze_breaths": "stream",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
