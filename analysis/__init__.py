"""Pure numpy/scipy analysis: traces in, numbers and verdicts out. No I/O, no clocks."""

# Limits, checks and results (limits.py + tolerance.py, checks.py + judgement.py, settle.py,
# uncertainty.py + budget.py, results.py).
from ventbench.analysis.checks import (  # noqa: E402, F401
    Check,
    InstrumentAccuracy,
    JudgementRule,
    PointResult,
    SteadyState,
    evaluate_point,
)
from ventbench.analysis.limits import LimitSet, Tolerance, load_limits  # noqa: E402, F401

# Segmentation, per-breath metrics and streaming (segment.py + edges.py, metrics.py +
# integrals.py + pressures.py, stream.py + buffer.py + boundaries.py + workspace.py).
from ventbench.analysis.metrics import Boundary, MetricSettings, breath_metrics, breaths_metrics  # noqa: E402, F401
from ventbench.analysis.results import overall_verdict, point_to_json, results_document  # noqa: E402, F401
from ventbench.analysis.segment import SegmentationSettings  # noqa: E402, F401
from ventbench.analysis.stream import BreathAnalysis, BreathStream, analyze_breaths  # noqa: E402, F401
