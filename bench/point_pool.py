"""``ventbench replay SESSION --jobs N`` of a protocol session: its points analysed in N processes.

The points of a run session are independent — each has its own capture, decoded by a fresh
driver and analysed on its own (:func:`bench.reanalysis.analyze_capture`) — so a pool over
points gives the results of one pass exactly; they are put back in the session's order.
The pool is the parallel replay's (:func:`bench.reliability.parallel_replay.executor`): a
worker that dies is a :class:`~bench.reliability.parallel_replay.ReplayWorkerError` (exit 4)
naming the point and capture it was analysing; an error inside a worker (a damaged capture)
is raised as in one pass, naming the capture.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ventbench.bench.analysis_config import AnalysisConfig
from ventbench.bench.reliability import parallel_replay
from ventbench.bench.reliability.parallel_replay import died, executor, mark
from ventbench.errors import BenchError

#: ``(capture, start, point, config, recapture) -> (result, trace)``
AnalyzeCapture = Callable[..., tuple[dict[str, Any], Any]]


def _analyse(analyze_capture: AnalyzeCapture, capture: str, start: dict[str, Any],
             point: dict[str, Any], source: str, recapture: str | None) -> dict[str, Any]:
    """One point's result in a worker (the decoded samples stay there); the analysis
    configuration is rebuilt from ``start`` as the replaying process built it (it holds
    read-only mappings, which do not pickle)."""
    mark(f"analysing point {point.get('id')} ({capture})")
    if parallel_replay._DIE_AT and parallel_replay._DIE_AT == str(point.get("id")):
        os._exit(70)  # a test's stand-in for a worker killed by the OS (DIE_ENV)
    config = AnalysisConfig.from_json(start.get("analysis") or {}, source)
    try:
        result, _ = analyze_capture(Path(capture), start, point, config,
                                    None if recapture is None else Path(recapture))
    except BenchError as error:
        raise type(error)(f"{capture}: {error}") from None
    mark(None)
    return result


def analyse_points(analyze_capture: AnalyzeCapture,
                   tasks: list[tuple[dict[str, Any], Path, Path | None]], start: dict[str, Any],
                   source: str, jobs: int) -> list[dict[str, Any]]:
    """Results of ``(point, capture, recapture)`` tasks, in their order, from ``jobs`` processes;
    ``source`` names the start record (as in :meth:`AnalysisConfig.from_json`).
    ``analyze_capture`` is :func:`bench.reanalysis.analyze_capture`, passed in (a module-level
    function, so it pickles by name) so that this module does not import its caller.

    Raises
    ------
    ReplayWorkerError
        A worker process died; the message names the point and capture.
    BenchError
        As :func:`bench.reanalysis.analyze_capture`, the capture named.
    """
    with tempfile.TemporaryDirectory(prefix="ventbench-points-") as marks:
        with executor(min(jobs, max(1, len(tasks))), marks) as pool:
            futures = [pool.submit(_analyse, analyze_capture, str(capture), start, point, source,
                                   None if recapture is None else str(recapture))
                       for point, capture, recapture in tasks]
            try:
                return [f.result() for f in futures]
            except BrokenProcessPool:
                raise died(Path(marks), "analysing a point") from None
