"""Sample validity: the one time-axis check, and missing, stuck and impossible samples.

The flags themselves (:class:`SampleFlag`) are defined here; :mod:`analysis.trace`
re-exports them. Every path by which samples become a :class:`~analysis.trace.Trace` or enter a
:class:`~analysis.stream.BreathStream` — the file importers, a capture read back for
``run``/``replay``/``verify``, the live display — runs the same vectorised rules:

* **time axis** (:func:`time_axis_bad`): a time that is not finite or not above every time
  before it. Callers decide whether that is an error naming the line, or a dropped line.
* **gap**: a time step larger than ``gap_factor`` × the expected sample interval (the
  instrument's nominal interval when known, else the median interval) means samples are
  missing before that sample: it is flagged :attr:`SampleFlag.GAP`.
* **stuck sensor**: flow or airway pressure at one *exact* value for ``stuck_s`` or longer
  (and at least ``stuck_min_samples`` samples) is not physiology — a measured signal
  carries noise, and a ventilated lung never holds a bit-identical value that long — but
  a frozen sensor or a held last value: every sample of the run is flagged
  :attr:`SampleFlag.FAULT` (a flow held at exactly 0 excepted: a flowmeter's low-flow
  cutoff, see ``flow_zero_is_cutoff``). The rule needs noise to stand on: a channel whose
  sample-to-sample changes reverse direction less than ``noise_reversal_fraction`` of the
  time (an ideal, noise-free simulator), or that changes fewer than 50 times in all (a
  trace that is one value throughout has no breaths to judge anyway), is not checked,
  and that is said in ``Trace.meta["validity"]["stuck_not_checked"]``.
* **impossible value**: a flow beyond ±``flow_max_abs_lpm``, a pressure outside
  ``paw_min_cmh2o`` … ``paw_max_cmh2o``, an infinite pressure, or a non-finite flow that
  no driver flagged is flagged :attr:`SampleFlag.INVALID` and its value replaced by NaN
  (the raw value stays in the file or capture on disk), so a 1e12 can never become a
  breath's PIP.

Breaths containing flagged samples carry the flag names (``gap``, ``fault``,
``invalid``); :mod:`analysis.settle` excludes them and makes the check INCONCLUSIVE with
the reason, never PASS and never FAIL.

The limits are per instrument (:class:`ValidityLimits`); the defaults suit adult and
paediatric ventilation measured by a bench flow analyser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import IntFlag
from typing import Any

import numpy as np

from ventbench.analysis.stats import median
from ventbench.errors import ConfigError


class SampleFlag(IntFlag):
    """Per-sample flags (a uint8 bit mask). Any set bit means "do not silently trust"."""

    GAP = 1  #: samples are missing before this one, or this value is a placeholder
    FAULT = 2  #: a sensor reported a fault, or was stuck at one value
    SATURATED = 4  #: a sensor was at the end of its range
    STALE = 8  #: the sensor had not updated since the previous sample
    RESET = 16  #: the device clock or sequence restarted here (a new segment begins)
    INVALID = 32  #: a value outside the sensor's or the physics' range (replaced by NaN)


#: Flag names as they appear in a breath's ``flags`` list.
FLAG_NAMES = {
    SampleFlag.GAP: "gap",
    SampleFlag.FAULT: "fault",
    SampleFlag.SATURATED: "saturated",
    SampleFlag.STALE: "stale",
    SampleFlag.RESET: "reset",
    SampleFlag.INVALID: "invalid",
}


def flag_names(mask: int) -> list[str]:
    """Names of the bits set in ``mask``, in bit order."""
    return [name for bit, name in FLAG_NAMES.items() if mask & bit]

#: Flags under which a non-finite flow value is accepted (the sample is known not to count).
EXCUSED = np.uint8(SampleFlag.GAP | SampleFlag.FAULT | SampleFlag.INVALID)
#: Intervals used to estimate the expected sample interval of a stream.
_EXPECT_INTERVALS = 8
#: Non-zero changes needed before a channel is judged noisy or noise-free.
_MIN_STEPS = 50


@dataclass(frozen=True)
class ValidityLimits:
    """What counts as a gap, a stuck sensor and an impossible value.

    Parameters
    ----------
    gap_factor : float
        A time step above ``gap_factor`` × the expected interval is a gap (default 1.5).
    expected_dt_s : float, optional
        The instrument's nominal sample interval, s; the median interval when None.
    stuck_s : float
        A signal at one exact value for this long or longer is a sensor fault, s.
    stuck_min_samples : int
        ... and for at least this many samples (so slow sources are not flagged).
    noise_reversal_fraction : float
        A channel whose sample-to-sample changes reverse direction less often than this
        is noise-free (an ideal simulator): an exact repeat proves nothing there, and the
        stuck rule is not applied to it. Measured: 0.3–0.6 for real and noisy simulated
        recordings, ≤ 0.02 for the noise-free simulators.
    flow_zero_is_cutoff : bool
        A flow held at exactly 0 is a flowmeter's low-flow cutoff (TSI meters report 0
        below their threshold), not a frozen sensor; False where the instrument has none.
    flow_max_abs_lpm : float
        Largest believable |flow|, L/min.
    paw_min_cmh2o, paw_max_cmh2o : float
        Range of believable airway pressure, cmH2O.
    """

    gap_factor: float = 1.5
    expected_dt_s: float | None = None
    stuck_s: float = 0.5
    stuck_min_samples: int = 5
    noise_reversal_fraction: float = 0.2
    flow_zero_is_cutoff: bool = True
    flow_max_abs_lpm: float = 300.0
    paw_min_cmh2o: float = -50.0
    paw_max_cmh2o: float = 150.0

    def __post_init__(self) -> None:
        checks = {
            "gap_factor": self.gap_factor > 1.0,
            "stuck_s": self.stuck_s > 0.0,
            "stuck_min_samples": self.stuck_min_samples >= 2,
            "noise_reversal_fraction": 0.0 <= self.noise_reversal_fraction <= 1.0,
            "flow_max_abs_lpm": self.flow_max_abs_lpm > 0.0,
            "paw_max_cmh2o": self.paw_max_cmh2o > self.paw_min_cmh2o,
        }
        if self.expected_dt_s is not None:
            checks["expected_dt_s"] = self.expected_dt_s > 0.0
        for name, ok in checks.items():
            value = getattr(self, name)
            if not (ok and math.isfinite(float(value))):
                raise ConfigError(f"validity limit {name} = {value!r} is out of range")

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None, where: str = "validity") -> ValidityLimits:
        """Limits from a mapping (an instrument's ``[validity]`` table); unknown keys are a
        ConfigError naming them."""
        values = dict(values or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} "
                              f"(expected {', '.join(sorted(known))})")
        try:
            return cls(**{k: (int(v) if k == "stuck_min_samples" else float(v))
                          for k, v in values.items()})
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}: {error}") from None

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


DEFAULT_LIMITS = ValidityLimits()


# -- the time axis -------------------------------------------------------------------------------
def time_axis_bad(t_s: np.ndarray, previous_s: float = -math.inf) -> np.ndarray:
    """Samples whose time is not finite or not above every finite time before them.

    Parameters
    ----------
    t_s : ndarray
        Sample times, s.
    previous_s : float
        The last time already accepted before ``t_s[0]`` (a stream's previous chunk), s.

    Returns
    -------
    ndarray of bool
        True for each sample a strictly increasing time axis cannot hold.
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(t)
    clean = np.where(bad, -np.inf, t)
    before = np.concatenate(([previous_s], np.maximum.accumulate(clean)[:-1])) if t.size else clean
    before = np.maximum(before, previous_s)
    return bad | (clean <= before)


def time_axis_problem(t_s: np.ndarray, previous_s: float = -math.inf) -> tuple[int, str] | None:
    """The first sample a strictly increasing time axis cannot hold, and why; None if fine.

    The reason reads ``"time is not finite (nan)"`` or ``"time 1.0 s does not increase
    (previous 2.0 s); time must be strictly increasing"``; callers prefix where it is.
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1)
    if t.size and np.isfinite(t[0]) and np.isfinite(t[-1]) and t[0] > previous_s \
            and np.all(t[1:] > t[:-1]):
        return None  # fast path: finite ends and strictly increasing means finite throughout
    bad = time_axis_bad(t, previous_s)
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    if not math.isfinite(t[i]):
        return i, f"time is not finite ({float(t[i])!r})"
    prev = float(t[i - 1]) if i > 0 else previous_s
    return i, (f"time {float(t[i])!r} s does not increase (previous {prev!r} s); "
               "time must be strictly increasing")


# -- gaps, stuck values, impossible values ---------------------------------------------------------
@dataclass
class Validity:
    """Result of :func:`validate_samples`: cleaned values, flags, and what was found."""

    flow_lpm: np.ndarray
    paw_cmh2o: np.ndarray
    flags: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)
    #: channels too free of noise for the stuck-sensor rule (ideal simulator, coarse sensor)
    stuck_not_checked: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return any(self.counts.values())


def expected_interval_s(t_s: np.ndarray, limits: ValidityLimits = DEFAULT_LIMITS) -> float:
    """The sample interval a gap is measured against: the instrument's nominal interval,
    else the median interval (NaN for fewer than two samples), s."""
    if limits.expected_dt_s is not None:
        return float(limits.expected_dt_s)
    if len(t_s) < 2:
        return math.nan
    return median(np.diff(t_s))


def _run_starts(x: np.ndarray) -> np.ndarray:
    """Index of the first sample of each run of bit-identical values (NaN never repeats)."""
    same = x[1:] == x[:-1]
    return np.flatnonzero(np.concatenate(([True], ~same)))


def stuck_mask(t_s: np.ndarray, x: np.ndarray, limits: ValidityLimits = DEFAULT_LIMITS,
               carried: tuple[float, float, int] | None = None,
               exempt: float | None = None) -> np.ndarray:
    """Samples inside runs of one exact value lasting ≥ ``stuck_s`` and ≥
    ``stuck_min_samples`` (runs at the value ``exempt`` excepted).

    ``carried`` = (value, run start time s, samples so far) of the run the previous chunk
    of a stream ended in; a run continuing it is judged from its real start.
    """
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    starts = _run_starts(x)
    ends = np.append(starts[1:], n)  # exclusive
    t_start = t_s[starts].copy()
    length = ends - starts
    count = length.copy()
    if carried is not None and x[0] == carried[0]:
        t_start[0] = carried[1]
        count[0] += carried[2]
    duration = t_s[ends - 1] - t_start
    long_runs = (duration >= limits.stuck_s) & (count >= limits.stuck_min_samples)
    if exempt is not None:
        long_runs &= x[starts] != exempt
    return np.repeat(long_runs, length)  # the runs partition the samples


def reversals(x: np.ndarray, previous: float | None = None) -> tuple[int, int]:
    """(sign reversals, steps) of the non-zero sample-to-sample changes of ``x``.

    Noise makes about every second change reverse the one before; a noise-free signal
    (an ideal simulator) reverses only at its extremes. Frozen stretches add no steps, so
    the count does not depend on how long a sensor was stuck.
    """
    d = np.diff(x) if previous is None else np.diff(x, prepend=previous)
    d = d[np.isfinite(d) & (d != 0)]
    if d.shape[0] < 2:
        return 0, int(d.shape[0])
    sign = np.signbit(d)
    return int(np.count_nonzero(sign[1:] != sign[:-1])), int(d.shape[0])


def _noisy(flips: int, steps: int, limits: ValidityLimits) -> bool | None:
    """Whether a channel carries noise (so a frozen value means a frozen sensor); None
    while too few changes have been seen to tell."""
    if steps < _MIN_STEPS:
        return None
    return flips >= limits.noise_reversal_fraction * (steps - 1)


def validate_samples(t_s, flow_lpm, paw_cmh2o, flags=None,
                     limits: ValidityLimits = DEFAULT_LIMITS, *,
                     expected_dt_s: float | None = None, previous_t_s: float | None = None,
                     carried: dict[str, tuple[float, float, int]] | None = None,
                     history: dict[str, tuple[int, int]] | None = None) -> Validity:
    """Flag gaps, stuck sensors and impossible values (see module doc).

    Parameters
    ----------
    t_s : array_like
        Sample times, s, strictly increasing.
    flow_lpm, paw_cmh2o : array_like
        Flow, L/min, and airway pressure, cmH2O.
    flags : array_like of uint8, optional
        Flags already set by the driver or file; kept and added to.
    limits : ValidityLimits
        The instrument's limits.
    expected_dt_s : float, optional
        Interval to judge gaps against, s (overrides the limits' and the median).
    previous_t_s : float, optional
        Time of the sample before ``t_s[0]`` (a stream's previous chunk), s.
    carried : dict, optional
        Per channel (``"flow_lpm"``, ``"paw_cmh2o"``) the run the previous chunk ended in.
    history : dict, optional
        A stream's running (reversals, changes) per channel, updated in place; with it,
        the stuck rule waits until enough changes tell whether the channel is noisy.

    Returns
    -------
    Validity
        Copies of flow and pressure with impossible values as NaN, the flags, and counts
        ``gap_samples``, ``stuck_samples``, ``invalid_samples``.
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1)
    flow = np.array(flow_lpm, dtype=np.float64).reshape(-1)
    paw = np.array(paw_cmh2o, dtype=np.float64).reshape(-1)
    n = t.shape[0]
    fl = np.zeros(n, dtype=np.uint8) if flags is None else np.array(flags, dtype=np.uint8).reshape(-1)
    counts = {"gap_samples": 0, "stuck_samples": 0, "invalid_samples": 0}
    if n == 0:
        return Validity(flow, paw, fl, counts)
    steps = np.diff(t, prepend=np.nan if previous_t_s is None else previous_t_s)
    known = steps[0 if previous_t_s is not None else 1 :]
    if expected_dt_s is None and limits.expected_dt_s is None and n > 2 and (
            known.max() <= limits.gap_factor * known.min()):
        # no step exceeds gap_factor x the shortest, so none exceeds it x the median: the
        # median (a partition of every interval, ~8 ms a 600 000-sample file) is not needed
        dt_expected = math.nan
    else:
        dt_expected = expected_dt_s if expected_dt_s is not None else expected_interval_s(t, limits)
    if math.isfinite(dt_expected):
        gap = steps > limits.gap_factor * dt_expected
        fl[gap] |= np.uint8(SampleFlag.GAP)
        counts["gap_samples"] = int(gap.sum())
    carried = carried or {}
    stuck = np.zeros(n, dtype=bool)
    skipped: list[str] = []
    for name, x in (("flow_lpm", flow), ("paw_cmh2o", paw)):
        exempt = 0.0 if name == "flow_lpm" and limits.flow_zero_is_cutoff else None
        long_runs = stuck_mask(t, x, limits, carried.get(name), exempt)
        previous = carried[name][0] if name in carried else None
        flips, steps = reversals(x, previous)
        if history is not None:
            old = history.get(name, (0, 0))
            history[name] = flips, steps = (old[0] + flips, old[1] + steps)
        noisy = _noisy(flips, steps, limits)
        if noisy:
            stuck |= long_runs
        elif history is None or noisy is False:  # noise-free, or too few changes to tell
            skipped.append(name)
    fl[stuck] |= np.uint8(SampleFlag.FAULT)
    counts["stuck_samples"] = int(stuck.sum())
    with np.errstate(invalid="ignore"):
        bad_flow = np.abs(flow) > limits.flow_max_abs_lpm
        bad_flow |= ~np.isfinite(flow) & ((fl & EXCUSED) == 0)
        bad_paw = np.isinf(paw) | (paw < limits.paw_min_cmh2o) | (paw > limits.paw_max_cmh2o)
    invalid = bad_flow | bad_paw
    if invalid.any():
        fl[invalid] |= np.uint8(SampleFlag.INVALID)
        flow[bad_flow] = np.nan
        paw[bad_paw] = np.nan
    counts["invalid_samples"] = int(invalid.sum())
    return Validity(flow, paw, fl, counts, tuple(skipped))


class SampleValidator:
    """:func:`validate_samples` for a stream of chunks (the live path).

    Gaps between chunks and runs of one value that span chunks are found as in one batch;
    the expected interval is the limits' nominal one or the median of the first
    intervals seen, then fixed. A stuck run found only in a later chunk flags the samples
    from that chunk on (earlier ones have already been handed on); the final numbers come
    from the whole recording (:meth:`analysis.trace.Trace.validated`), where the whole run is flagged.
    """

    def __init__(self, limits: ValidityLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.expected_dt_s = limits.expected_dt_s
        self.counts = {"gap_samples": 0, "stuck_samples": 0, "invalid_samples": 0}
        self._last_t: float | None = None
        self._carried: dict[str, tuple[float, float, int]] = {}
        self._intervals: list[float] = []
        self._history: dict[str, tuple[int, int]] = {}

    def __call__(self, t_s, flow_lpm, paw_cmh2o, flags=None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validate one chunk; returns (flow_lpm, paw_cmh2o, flags) to feed on."""
        t = np.asarray(t_s, dtype=np.float64).reshape(-1)
        if t.shape[0] == 0:
            return (np.asarray(flow_lpm, dtype=np.float64), np.asarray(paw_cmh2o, dtype=np.float64),
                    np.zeros(0, np.uint8) if flags is None else np.asarray(flags, np.uint8))
        expected = self.expected_dt_s
        if expected is None:
            steps = np.diff(t) if self._last_t is None else np.diff(t, prepend=self._last_t)
            self._intervals.extend(steps[: _EXPECT_INTERVALS].tolist())
            if len(self._intervals) >= _EXPECT_INTERVALS:
                self.expected_dt_s = expected = median(self._intervals)
        result = validate_samples(t, flow_lpm, paw_cmh2o, flags, self.limits,
                                  expected_dt_s=expected if expected is not None else math.nan,
                                  previous_t_s=self._last_t, carried=self._carried,
                                  history=self._history)
        for key, value in result.counts.items():
            self.counts[key] += value
        for name, raw in (("flow_lpm", np.asarray(flow_lpm, dtype=np.float64).reshape(-1)),
                          ("paw_cmh2o", np.asarray(paw_cmh2o, dtype=np.float64).reshape(-1))):
            start = _run_starts(raw)[-1]
            previous = self._carried.get(name)
            if start == 0 and previous is not None and raw[0] == previous[0]:
                self._carried[name] = (previous[0], previous[1], previous[2] + raw.shape[0])
            else:
                self._carried[name] = (float(raw[start]), float(t[start]), raw.shape[0] - int(start))
        self._last_t = float(t[-1])
        return result.flow_lpm, result.paw_cmh2o, result.flags


def with_limits(limits: ValidityLimits, **changes: Any) -> ValidityLimits:
    """A copy of ``limits`` with ``changes`` (validated)."""
    return replace(limits, **changes)
