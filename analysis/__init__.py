"""Pure numpy/scipy analysis: traces in, numbers and verdicts out. No I/O, no clocks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ventbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# Limits, checks and results (limits.py + tolerance.py, checks.py + judgement.py, settle.py,
# uncertainty.py, results.py).
from .checks import (  # noqa: E402, F401
    Check,
    InstrumentAccuracy,
    JudgementRule,
    PointResult,
    SteadyState,
    evaluate_point,
)
from .limits import LimitSet, Tolerance, load_limits  # noqa: E402, F401

# Segmentation, per-breath metrics and streaming (segment.py + edges.py, metrics.py +
# integrals.py + pressures.py, stream.py + buffer.py + boundaries.py + workspace.py).
from .metrics import Boundary, MetricSettings, breath_metrics, breaths_metrics  # noqa: E402, F401
from .results import overall_verdict, point_to_json, results_document  # noqa: E402, F401
from .segment import SegmentationSettings  # noqa: E402, F401
from .stream import BreathAnalysis, BreathStream, analyze_breaths  # noqa: E402, F401
