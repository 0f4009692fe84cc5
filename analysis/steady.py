"""Steady-state quantities of a continuous-flow device (CPAP, high-flow oxygen), judged over windows.

A CPAP or high-flow device delivers no breaths: what it must hold is a *level* — a pressure
at the patient port, a flow, an oxygen fraction — while a patient breathes on it
(STANDARDS.md §2, "CPAP and high-flow devices"). The trace is cut into consecutive windows of
``window_s`` seconds, and each quantity is one number per window:

========== ================ ==========================================================
quantity   channel          per window
========== ================ ==========================================================
paw        paw_cmh2o        mean airway pressure at the patient port, cmH2O
paw_swing  paw_cmh2o        swing while the patient breathes: max − min of the pressure
                            smoothed over ``smooth_s`` (a moving mean), cmH2O
flow       flow_lpm         mean (mixed) flow, L/min
fio2       fio2_pct         mean delivered oxygen fraction, vol %
o2_flow    o2_flow_lpm      mean oxygen flow drawn from the supply, L/min
supply_p   supply_bar       mean oxygen supply pressure, bar
========== ================ ==========================================================

Settling (:func:`steady_windows`): the device has settled at the first window *s* where,
for every quantity judged, the ``settle_windows`` window values from *s* on span no more than
that quantity's settle tolerance; the ``measure_windows`` windows from *s* on are then
measured. A window holding a flagged sample (gap, fault, invalid) or a missing value of a
channel, or fewer samples than 90 % of what its duration holds at the trace's median rate,
is *flagged* for that channel: never used to settle, never a PASS.

Judging the windows against limits is :mod:`analysis.steady_checks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ventbench.analysis.stats import median
from ventbench.analysis.trace import Trace
from ventbench.analysis.validity import SampleFlag, flag_names
from ventbench.errors import ConfigError

#: quantity -> (channel, statistic)
STEADY_QUANTITIES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "paw": ("paw_cmh2o", "mean"),
    "paw_swing": ("paw_cmh2o", "swing"),
    "flow": ("flow_lpm", "mean"),
    "fio2": ("fio2_pct", "mean"),
    "o2_flow": ("o2_flow_lpm", "mean"),
    "supply_p": ("supply_bar", "mean"),
})
#: quantity -> the point's set key it is compared with (paw_swing has none: a cap)
STEADY_SET_KEYS: Mapping[str, str] = MappingProxyType({
    "paw": "cpap_cmh2o", "paw_swing": "paw_swing_cmh2o", "flow": "flow_lpm", "fio2": "fio2_pct",
    "o2_flow": "o2_flow_lpm", "supply_p": "supply_bar",
})
#: default settle tolerance (span of the settle windows' values), in the quantity's unit, used
#: when the quantity has no limit; with a limit it is ``settle_frac`` (0.08) of its half-width:
#: the span of three windows of an exponential approach bounds the residual by about itself,
#: so the first measured window is within a tenth of the limit of the level it approaches.
SETTLE_TOL_DEFAULTS: Mapping[str, float] = MappingProxyType({
    "paw": 0.05, "paw_swing": 0.1, "flow": 0.5, "fio2": 0.2, "o2_flow": 0.1, "supply_p": 0.02,
})
#: samples flagged so are not whole data (validity.SampleFlag)
BAD_FLAGS = int(SampleFlag.GAP | SampleFlag.FAULT | SampleFlag.INVALID | SampleFlag.SATURATED)
DEFAULT_QUANTITIES = ("paw", "paw_swing", "flow", "fio2")


@dataclass(frozen=True)
class SteadyRule:
    """How a steady point is settled, measured and judged.

    Parameters
    ----------
    window_s : float
        Window length, s (default 10 s: ≥ 2 breaths of a patient at 12 bpm).
    settle_windows : int
        Consecutive windows that must agree (span ≤ the settle tolerance) to call it settled.
    measure_windows : int
        Windows measured once settled.
    criterion : {"mean", "every-window"}
        The mean over the measured windows, or every measured window, inside the limit.
    decision_rule : {"simple", "guarded"}
        As for breaths (ILAC-G8; :mod:`analysis.checks`).
    smooth_s : float
        Moving-mean length for the pressure swing, s (removes sensor noise from max − min).
    settle_frac : float
        Settle tolerance as a fraction of a quantity's limit half-width.
    settle_tol : mapping, optional
        Settle tolerance per quantity, overriding the above.
    """

    window_s: float = 10.0
    settle_windows: int = 3
    measure_windows: int = 3
    criterion: str = "mean"
    decision_rule: str = "simple"
    smooth_s: float = 0.25
    settle_frac: float = 0.08
    settle_tol: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and self.smooth_s >= 0 and self.settle_frac > 0):
            raise ConfigError(f"steady rule: expected window_s > 0, smooth_s ≥ 0, settle_frac > 0, found "
                              f"{self.window_s}, {self.smooth_s}, {self.settle_frac}")
        if self.settle_windows < 1 or self.measure_windows < 1:
            raise ConfigError(f"steady rule: expected settle_windows ≥ 1 and measure_windows ≥ 1, found "
                              f"{self.settle_windows}, {self.measure_windows}")
        if self.criterion not in ("mean", "every-window"):
            raise ConfigError(f"steady rule: criterion: expected mean or every-window, found {self.criterion!r}")
        if self.decision_rule not in ("simple", "guarded"):
            raise ConfigError(f"steady rule: decision_rule: expected simple or guarded, found {self.decision_rule!r}")
        for q in self.settle_tol:
            if q not in STEADY_QUANTITIES:
                raise ConfigError(f"steady rule: settle_tol: unknown quantity {q!r}")
        object.__setattr__(self, "settle_tol", MappingProxyType(dict(self.settle_tol)))

    def to_json(self) -> dict:
        return {"window_s": self.window_s, "settle_windows": self.settle_windows,
                "measure_windows": self.measure_windows, "criterion": self.criterion,
                "decision_rule": self.decision_rule, "smooth_s": self.smooth_s,
                "settle_frac": self.settle_frac, "settle_tol": dict(self.settle_tol)}


@dataclass(frozen=True)
class SteadyWindows:
    """Every window of a trace: bounds, one value per quantity, flags, and the settle outcome.

    ``values[q]`` and ``flagged[q]`` are arrays over all windows; ``measured`` the indices of
    the measured windows; ``blocking`` reasons forbid PASS and FAIL (never settled), ``partial``
    reasons forbid PASS (too few windows).
    """

    t0_s: np.ndarray
    t1_s: np.ndarray
    values: Mapping[str, np.ndarray]
    flagged: Mapping[str, np.ndarray]
    flag_reasons: Mapping[str, tuple[str, ...]]
    settled_at: int | None
    measured: np.ndarray
    settle_tol: Mapping[str, float]
    blocking: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  #: quantities whose channel the trace lacks

    @property
    def settled_at_s(self) -> float | None:
        return None if self.settled_at is None else float(self.t0_s[self.settled_at])


def channel(trace: Trace, name: str) -> np.ndarray | None:
    """One of the trace's channels by name (flow_lpm, paw_cmh2o or an extra channel), or None."""
    if name == "flow_lpm":
        return trace.flow_lpm
    if name == "paw_cmh2o":
        return trace.paw_cmh2o
    return trace.channels.get(name)


def _bounds(t: np.ndarray, window_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window start/end times and the sample index where each window starts (+ the end); the
    trace covers its first sample's time to its last one's plus one median interval."""
    span = t[-1] - t[0] + median(np.diff(t)) if t.size > 1 else 0.0
    n_win = int(np.floor(span / window_s + 1e-9))
    t0 = t[0] + window_s * np.arange(n_win)
    edges = np.searchsorted(t, np.append(t0, t[0] + window_s * n_win), side="left")
    return t0, t0 + window_s, edges


def _moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean of ``n`` samples (edges use the samples available)."""
    if n <= 1:
        return x
    c = np.concatenate(([0.0], np.cumsum(x)))
    i = np.arange(x.size)
    lo = np.clip(i - n // 2, 0, x.size)
    hi = np.clip(i - n // 2 + n, 0, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


def window_values(trace: Trace, quantity: str, edges: np.ndarray, rule: SteadyRule,
                  fs_hz: float) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None:
    """(value per window, flagged per window, reason per flagged window) of ``quantity``; None
    when the trace has no channel for it (vectorised over windows: ``np.add.reduceat``)."""
    name, stat = STEADY_QUANTITIES[quantity]
    x = channel(trace, name)
    if x is None:
        return None
    n_win = edges.size - 1
    starts, ends = edges[:-1], edges[1:]
    counts = ends - starts
    bad_sample = ((trace.flags & BAD_FLAGS) != 0) | ~np.isfinite(x)
    bad_c = np.concatenate(([0], np.cumsum(bad_sample)))
    n_bad = bad_c[ends] - bad_c[starts]
    expected = rule.window_s * fs_hz
    short = counts < 0.9 * expected
    flagged = (n_bad > 0) | short | (counts < 2)
    xs = np.where(bad_sample, 0.0, x)
    if stat == "mean":
        c = np.concatenate(([0.0], np.cumsum(xs)))
        with np.errstate(invalid="ignore", divide="ignore"):
            values = (c[ends] - c[starts]) / counts
    else:
        sm = _moving_mean(xs, max(1, int(round(rule.smooth_s * fs_hz))))
        ok = counts > 0
        values = np.full(n_win, np.nan)
        if ok.any():
            s = starts[ok]
            values[ok] = np.maximum.reduceat(sm, s)[: s.size] - np.minimum.reduceat(sm, s)[: s.size]
            # reduceat over consecutive starts covers [s_i, s_{i+1}); the last runs to the end
            last = np.flatnonzero(ok)[-1]
            seg = sm[starts[last]:ends[last]]
            values[last] = float(seg.max() - seg.min())
    values = np.where(counts > 0, values, np.nan)
    reasons = []
    for j in np.flatnonzero(flagged):
        if n_bad[j]:
            words = flag_names(int(np.bitwise_or.reduce(trace.flags[starts[j]:ends[j]]))) or ["missing value"]
            reasons.append(f"window {j}: {', '.join(words)} in {int(n_bad[j])} samples of {name}")
        else:
            reasons.append(f"window {j}: {int(counts[j])} samples, expected {expected:.0f} (gap)")
    return values, flagged, tuple(reasons)


def settle_tolerance(quantity: str, rule: SteadyRule, limit_half_width: float | None) -> float:
    """Span allowed to the settle windows' values of ``quantity``, in its unit."""
    if quantity in rule.settle_tol:
        return float(rule.settle_tol[quantity])
    if limit_half_width is not None and np.isfinite(limit_half_width) and limit_half_width > 0:
        return rule.settle_frac * float(limit_half_width)
    return SETTLE_TOL_DEFAULTS[quantity]


def steady_windows(trace: Trace, quantities: Sequence[str], rule: SteadyRule,
                   half_widths: Mapping[str, float | None] | None = None) -> SteadyWindows:
    """Cut ``trace`` into windows, value each quantity, settle and choose the measured windows.

    Parameters
    ----------
    trace : Trace
        The point's samples (flow at the analysis condition), validated.
    quantities : sequence of str
        Keys of :data:`STEADY_QUANTITIES`.
    rule : SteadyRule
    half_widths : mapping, optional
        Each quantity's limit half-width at its set value (quantity unit), for the settle
        tolerance; None or absent: :data:`SETTLE_TOL_DEFAULTS`.
    """
    for q in quantities:
        if q not in STEADY_QUANTITIES:
            raise ConfigError(f"steady point: unknown quantity {q!r} (expected one of {', '.join(STEADY_QUANTITIES)})")
    t = trace.t_s
    t0, t1, edges = _bounds(t, rule.window_s)
    fs = trace.fs_hz if len(trace) > 1 else float("nan")
    values, flagged, reasons, tols, missing = {}, {}, {}, {}, []
    for q in quantities:
        if channel(trace, STEADY_QUANTITIES[q][0]) is None:
            missing.append(q)
            continue
        got = window_values(trace, q, edges, rule, fs) if t0.size else None
        if got is None:
            continue
        values[q], flagged[q], reasons[q] = got
        tols[q] = settle_tolerance(q, rule, (half_widths or {}).get(q))
    n_win, k = t0.size, rule.settle_windows
    blocking, partial = [], []
    settled_at = None
    if values and n_win >= k:
        ok = np.ones(n_win - k + 1, dtype=bool)
        for q, v in values.items():
            view = np.lib.stride_tricks.sliding_window_view(v, k)
            bad = np.lib.stride_tricks.sliding_window_view(flagged[q], k).any(axis=1)
            with np.errstate(invalid="ignore"):
                span = view.max(axis=1) - view.min(axis=1)
            ok &= ~bad & np.isfinite(span) & (span <= tols[q])
        hits = np.flatnonzero(ok)
        settled_at = int(hits[0]) if hits.size else None
    if n_win == 0:
        blocking.append(f"no complete {rule.window_s:g} s window: {len(trace)} samples over {trace.duration_s:.3g} s")
    elif not values:
        blocking.append("no channel for any steady quantity")
    elif settled_at is None:
        worst = ", ".join(f"{q} (tolerance {tols[q]:.3g})" for q in values)
        blocking.append(f"never settled: no {k} consecutive {rule.window_s:g} s windows agreeing within the settle "
                        f"tolerance for {worst} in {n_win} windows ({n_win * rule.window_s:g} s)")
    start = settled_at if settled_at is not None else n_win
    measured = np.arange(start, min(start + rule.measure_windows, n_win))
    if settled_at is not None and measured.size < rule.measure_windows:
        partial.append(f"only {measured.size} of {rule.measure_windows} windows measured after settling "
                       f"(settled at {t0[settled_at] - t[0]:.3g} s, {n_win} windows in all)")
    return SteadyWindows(t0, t1, MappingProxyType(values), MappingProxyType(flagged), MappingProxyType(reasons),
                         settled_at, measured, MappingProxyType(tols), tuple(blocking), tuple(partial), tuple(missing))
