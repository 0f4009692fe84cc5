"""Settling and the measured window of a test point: which breaths are judged, and why the data may be incomplete.

1. **Settle.** Skip the first ``settle_breaths`` breaths (default 10; STANDARDS.md §1:
   "settle ≥ 10 breaths (or a steady-state test), measure 30" [unconfirmed ISO practice]).
   With a :class:`SteadyState` test the run is settled at the first breath *s* (at or after
   ``settle_breaths``) where the mean of the ``k`` breaths before *s* is within ``tol_pct`` %
   of the mean of the ``k`` breaths from *s* on; no such *s* → "never settled".
2. **Measure** the next ``measure_breaths`` breaths (default 30).

:func:`measured_window` returns the measured breaths with the reasons that forbid a verdict:
*blocking* (never settled: neither PASS nor FAIL) and *partial* (too few breaths, flagged
breaths: no PASS). Steps 3 and 4 (compare, decide) are :mod:`analysis.checks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ventbench.analysis.breath import INFO_FLAGS, Breath, breath_values
from ventbench.errors import ConfigError

if TYPE_CHECKING:
    from ventbench.analysis.judgement import JudgementRule


@dataclass(frozen=True)
class SteadyState:
    """Steady-state test: settled at the first breath s where |mean(x[s-k:s]) − mean(x[s:s+k])|
    ≤ tol_pct % of |mean(x[s:s+k])|, x being the Breath field ``field`` (default VTi, mL)."""

    k: int = 5
    tol_pct: float = 2.0
    field: str = "vti_ml"

    def __post_init__(self) -> None:
        if self.k < 1 or not (self.tol_pct > 0):
            raise ConfigError(f"steady-state test: expected k ≥ 1 and tol_pct > 0, found k={self.k}, tol_pct={self.tol_pct}")

    def settle_index(self, values: np.ndarray, start: int = 0) -> int | None:
        """First index s ≥ max(start, k) meeting the test, or None (vectorised)."""
        x = np.asarray(values, dtype=float)
        k, n = self.k, x.size
        if n < 2 * k:
            return None
        csum = np.concatenate(([0.0], np.cumsum(x)))
        s = np.arange(k, n - k + 1)
        before = (csum[s] - csum[s - k]) / k
        after = (csum[s + k] - csum[s]) / k
        ok = (np.abs(before - after) <= self.tol_pct / 100.0 * np.abs(after)) & (s >= start)
        hits = np.flatnonzero(ok)  # NaN compares False: a window with a missing value never settles
        return int(s[hits[0]]) if hits.size else None


def list_breaths(idx: np.ndarray, limit: int = 10) -> str:
    """Breath numbers for a message: "3, 4, 7" (the first ``limit``, then "… (n in all)")."""
    items = [str(int(i)) for i in idx[:limit]]
    return ", ".join(items) + (f" … ({idx.size} in all)" if idx.size > limit else "")


@dataclass(frozen=True)
class MeasuredWindow:
    """Measured breaths of a point and why the data may be incomplete."""

    measured: np.ndarray  # positions into breaths
    labels: np.ndarray  # Breath.index where known, else position
    flagged: np.ndarray  # bool per measured breath
    settled_at: int | None
    blocking: tuple[str, ...]  # reasons that forbid PASS and FAIL (never settled)
    partial: tuple[str, ...]  # reasons that forbid PASS (too few, flagged)


def measured_window(breaths: Sequence[Breath], rule: JudgementRule, per_breath) -> MeasuredWindow:
    """Settle (``rule.settle_breaths`` or its steady-state test), then the measured breaths.

    ``per_breath`` holds channels not on :class:`Breath` (the steady-state field may be one).
    """
    n = len(breaths)
    blocking, partial = [], []
    settled_at: int | None = min(rule.settle_breaths, n)
    if rule.steady_state is not None:
        x = breath_values(breaths, rule.steady_state.field, per_breath)
        if x is None:
            raise ConfigError(f"steady-state test: unknown breath field {rule.steady_state.field!r}")
        settled_at = rule.steady_state.settle_index(x, rule.settle_breaths)
        if settled_at is None:
            ss = rule.steady_state
            blocking.append(
                f"never settled: no {ss.k}-breath mean of {ss.field} within {ss.tol_pct:g} % of the next "
                f"{ss.k} after breath {rule.settle_breaths} ({n} breaths)")
    start = settled_at if settled_at is not None else min(rule.settle_breaths, n)
    measured = np.arange(start, min(start + rule.measure_breaths, n))
    if measured.size < rule.measure_breaths:
        partial.append(f"only {measured.size} of {rule.measure_breaths} breaths measured after settling "
                       f"({start} skipped, {n} in all)")
    labels = np.array([breaths[i].index if breaths[i].index >= 0 else i for i in measured], dtype=int)
    flagged = np.array([not breaths[i].trusted for i in measured], dtype=bool)
    if flagged.any():
        names = sorted({f for i in measured[flagged] for f in breaths[i].flags if f not in INFO_FLAGS})
        partial.append(f"flagged samples ({', '.join(names)}) in measured breaths {list_breaths(labels[flagged])}")
    return MeasuredWindow(measured, labels, flagged, settled_at, tuple(blocking), tuple(partial))
