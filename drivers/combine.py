"""Two sources on one time base: the primary's samples, a secondary's channels put onto them.

A bench often has flow from one instrument and airway pressure from another (a TSI
flowmeter has no airway pressure; a rig or the ventilator's own telemetry does).
:func:`combine` keeps the **primary**'s time base, flow and flags and puts the chosen
channels of the **secondary** onto the primary's sample times, interpolated (``linear``) or
held (``hold``, the last secondary sample at or before). The two device clocks are related
by a :class:`~drivers.clockmap.ClockMap` per source, estimated from host arrival times
(:func:`~drivers.clockmap.estimate_clock_map`: the lower envelope of arrival − device
time), or taken as one clock (``"device"``) or a fixed offset. The method is in
``meta["alignment"]``; see ``docs/drivers/combining.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.drivers.clockmap import HOST_TIME_CHANNEL, ClockMap, estimate_clock_map
from ventbench.errors import AnalysisError, ConfigError

__all__ = ["HOST_TIME_CHANNEL", "ClockMap", "combine", "estimate_clock_map"]

METHODS = ("linear", "hold")
#: Default staleness limit, in median secondary sample intervals.
STALE_INTERVALS = 2.5
#: A clock map whose envelope points scatter more than this is reported as uncertain, s.
RESIDUAL_WARN_S = 0.01
#: Relative clock rates beyond this are not two real crystals (they differ by ~100 ppm), ppm.
DRIFT_WARN_PPM = 1000.0
#: Keys of the secondary's metadata kept under ``meta["secondary"]``.
SECONDARY_META = ("format", "source_path", "driver", "url", "start_utc", "instrument", "counters")
_FAULT = np.uint8(SampleFlag.FAULT)
_MISSING = np.uint8(SampleFlag.FAULT | SampleFlag.STALE)


def combine(primary: Trace, secondary: Trace, *, take: Sequence[str] = ("paw_cmh2o",),
            method: str = "linear", clock: str | float = "host",
            max_staleness_s: float | None = None) -> Trace:
    """The primary trace with ``take`` channels of the secondary put onto its sample times.

    Parameters
    ----------
    primary : Trace
        Gives the time base, the flow, its gas condition and its flags.
    secondary : Trace
        Gives the ``take`` channels.
    take : sequence of str
        ``"paw_cmh2o"`` and/or names of the secondary's channels (never ``flow_lpm``).
    method : {"linear", "hold"}
        Linear interpolation between the two secondary samples around each primary sample,
        or the last secondary sample at or before it.
    clock : "host", "device" or float
        How secondary device time becomes primary device time: through each source's
        :class:`ClockMap` from host arrival times (both traces need the channel
        :data:`HOST_TIME_CHANNEL`), the same clock, or ``t_primary = t_secondary +
        clock`` (an offset in s).
    max_staleness_s : float, optional
        A primary sample whose secondary data (``hold``: the held sample; ``linear``: both
        neighbours) is farther away than this gets NaN and ``FAULT | STALE``. Default
        2.5 median secondary sample intervals.

    Returns
    -------
    Trace
        ``meta`` = the primary's plus ``alignment`` (method, clock, take, the map between
        the clocks as ``offset_s`` and ``drift_ppm``: ``t_primary = offset_s +
        t_secondary·(1 + drift_ppm·1e-6)``, each source's ClockMap, staleness limit and
        counts) and ``secondary`` (its source metadata). The host-time channel is dropped.

    Raises
    ------
    ConfigError
        Unknown method or clock, a channel the secondary lacks, ``flow_lpm`` in ``take``,
        or ``clock="host"`` without host times.
    """
    take = _check(primary, secondary, take, method)
    offset_s, scale, clocks = _clock_relation(primary, secondary, clock)
    ts = offset_s + scale * secondary.t_s if len(secondary) else secondary.t_s
    if max_staleness_s is None:
        step = float(np.median(np.diff(ts))) if len(ts) > 1 else math.inf
        max_staleness_s = STALE_INTERVALS * step
    if not max_staleness_s >= 0:
        raise ConfigError(f"combine: max_staleness_s must be ≥ 0, found {max_staleness_s!r}")
    values = {name: _values(secondary, name) for name in take}
    t = primary.t_s
    j = np.searchsorted(ts, t, side="right") - 1  # last secondary sample at or before
    j0 = np.clip(j, 0, max(len(ts) - 1, 0))
    j1 = np.clip(j + 1, 0, max(len(ts) - 1, 0))
    has_prev = j >= 0
    if len(ts) == 0:
        ok = np.zeros(len(t), dtype=bool)
        weight, exact = np.zeros(len(t)), ok
    else:
        age = np.where(has_prev, t - ts[j0], np.inf)
        exact = has_prev & (age == 0)
        if method == "hold":
            ok = has_prev & (age <= max_staleness_s)
            weight = np.zeros(len(t))
        else:
            has_next = j + 1 < len(ts)
            ahead = np.where(has_next, ts[j1] - t, np.inf)
            ok = exact | (has_prev & has_next & (age <= max_staleness_s)
                          & (ahead <= max_staleness_s))
            gap = np.where(has_next, ts[j1] - ts[j0], 1.0)
            weight = np.where(exact | ~has_next, 0.0, (t - ts[j0]) / np.where(gap > 0, gap, 1.0))
    sec_flags = _secondary_flags(secondary, take)
    used = sec_flags[j0] if len(ts) else np.zeros(len(t), np.uint8)
    if method == "linear" and len(ts):
        used = np.where(exact, used, used | sec_flags[j1])
    flags = _primary_flags(primary, take) | np.where(ok, used, _MISSING).astype(np.uint8)
    out: dict[str, np.ndarray] = {}
    for name, v in values.items():
        if len(ts) == 0:
            out[name] = np.full(len(t), np.nan)
            continue
        lo, hi = v[j0], v[j1]
        mixed = np.where(weight == 0, lo, lo + weight * (hi - lo))
        out[name] = np.where(ok, mixed, np.nan)
    channels = {k: v for k, v in primary.channels.items() if k != HOST_TIME_CHANNEL}
    channels.update({k: v for k, v in out.items() if k != "paw_cmh2o"})
    meta = dict(primary.meta)
    meta["alignment"] = {
        "method": method, "clock": clock if isinstance(clock, str) else "offset",
        "take": list(take), "offset_s": offset_s, "drift_ppm": (scale - 1.0) * 1e6,
        **clocks, "max_staleness_s": max_staleness_s,
        "stale_samples": int((~ok).sum()), "samples": len(t),
    }
    meta["secondary"] = {k: secondary.meta[k] for k in SECONDARY_META if k in secondary.meta}
    return Trace(t, primary.flow_lpm, out.get("paw_cmh2o", primary.paw_cmh2o),
                 primary.flow_condition, primary.ambient, flags, channels, meta)


def _check(primary: Trace, secondary: Trace, take: Sequence[str], method: str) -> tuple[str, ...]:
    if method not in METHODS:
        raise ConfigError(f"combine: method {method!r}: expected one of {', '.join(METHODS)}")
    names = tuple([take] if isinstance(take, str) else take)
    known = ["paw_cmh2o", *secondary.channels]
    for name in names:
        if name == "flow_lpm":
            raise ConfigError("combine: flow_lpm comes from the primary source; take other channels")
        if name not in known:
            raise ConfigError(f"combine: the secondary source has no channel {name!r} "
                              f"(it has {', '.join(known)})")
    if not names:
        raise ConfigError("combine: take names no channel")
    return names


def _clock_relation(primary: Trace, secondary: Trace, clock: str | float
                    ) -> tuple[float, float, dict[str, Any]]:
    """``(offset_s, scale, record)`` with ``t_primary = offset_s + scale·t_secondary``."""
    if isinstance(clock, int | float) and not isinstance(clock, bool):
        if not math.isfinite(clock):
            raise ConfigError(f"combine: clock offset must be finite, found {clock!r}")
        return float(clock), 1.0, {}
    if clock == "device":
        return 0.0, 1.0, {}
    if clock != "host":
        raise ConfigError(f"combine: clock {clock!r}: expected 'host', 'device' or an offset in s")
    maps = []
    for role, trace in (("primary", primary), ("secondary", secondary)):
        if HOST_TIME_CHANNEL not in trace.channels:
            raise ConfigError(f"combine: clock='host' needs the {role} source's host arrival "
                              f"times (channel {HOST_TIME_CHANNEL}; read captures with "
                              "host_time=True), or use clock='device' or an offset")
        maps.append(estimate_clock_map(trace.t_s, trace.channels[HOST_TIME_CHANNEL]))
    p, s = maps
    rate_p, rate_s = 1.0 + p.drift_ppm * 1e-6, 1.0 + s.drift_ppm * 1e-6
    scale = rate_s / rate_p
    if not scale > 0:
        raise AnalysisError(f"combine: the clock maps give a non-increasing time relation "
                            f"(primary {p}, secondary {s})")
    record: dict[str, Any] = {"primary_clock": p.to_json(), "secondary_clock": s.to_json()}
    warnings = []
    worst = max(p.residual_s, s.residual_s)
    if worst > RESIDUAL_WARN_S:
        role = "primary" if p.residual_s >= s.residual_s else "secondary"
        warnings.append(
            f"the {role} source's device time does not follow the host clock on a straight "
            f"line (envelope residual {worst * 1000:.0f} ms): its time base is not a steady "
            "clock (e.g. the idle time between TSI blocks) or its rate changed; the alignment "
            "is uncertain by about that much")
    if abs(scale - 1.0) * 1e6 > DRIFT_WARN_PPM:
        warnings.append(
            f"the two device clocks run at rates {abs(scale - 1.0) * 1e6:.0f} ppm apart, more "
            "than two real clocks do: is a source simulated at speed=max, or its time not a "
            "clock?")
    if warnings:
        record["warning"] = "; ".join(warnings)
    return (s.offset_s - p.offset_s) / rate_p, scale, record


def _values(trace: Trace, name: str) -> np.ndarray:
    return trace.paw_cmh2o if name == "paw_cmh2o" else trace.channels[name]


def _taken_missing(trace: Trace, take: Sequence[str]) -> np.ndarray:
    """Samples where every taken channel is NaN in ``trace`` (or absent from it)."""
    missing = np.ones(len(trace), dtype=bool)
    for name in take:
        if name == "paw_cmh2o" or name in trace.channels:
            missing &= ~np.isfinite(_values(trace, name))
    return missing


def _primary_flags(primary: Trace, take: Sequence[str]) -> np.ndarray:
    """The primary's flags without the FAULT that only said "this channel is missing"."""
    explained = _taken_missing(primary, take) & np.isfinite(primary.flow_lpm)
    return np.where(explained, primary.flags & ~_FAULT, primary.flags).astype(np.uint8)


def _secondary_flags(secondary: Trace, take: Sequence[str]) -> np.ndarray:
    """The secondary's flags without a FAULT explained by a channel that is not taken."""
    not_taken_missing = ~np.isfinite(secondary.flow_lpm)
    if "paw_cmh2o" not in take:
        not_taken_missing |= ~np.isfinite(secondary.paw_cmh2o)
    taken_ok = np.ones(len(secondary), dtype=bool)
    for name in take:
        taken_ok &= np.isfinite(_values(secondary, name))
    explained = not_taken_missing & taken_ok
    return np.where(explained, secondary.flags & ~_FAULT, secondary.flags).astype(np.uint8)
