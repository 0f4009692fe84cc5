"""Oxygen drawn over a reliability run, from the rig's O2 flow channel.

When the device streams an O2 flow channel (role ``o2_flow`` of the protocol's
``[protocol.channels]``, default ``o2_flow_lpm``: ``sim://cpap`` streams it), the pipeline
integrates it by the trapezoid rule over run time and writes one ``oxygen`` event per
:data:`INTERVAL_S` of run time (and one for the open interval at a segment's end)::

    {"kind": "oxygen", "t_s": <last sample in the interval>, "from_s": <interval start>,
     "o2_l": <litres>, "covered_s": <time integrated>, "channel": "o2_flow_lpm"}

The sum is exact and chunk-invariant: each value is counted in units of
:data:`QUANTUM_LPM` and each time step in microseconds, so the integral is an integer sum
(a replay, decoding the same bytes in other reads, writes the same events). A step is
integrated only when both its samples are finite, the later one is not after a gap or a
device reset, and it is no longer than the run's ``stall_s``; the time left out is not
"covered" and is never counted as zero flow. A killed segment loses at most the open
interval's event (its bytes are in the capture).

:func:`oxygen_block` turns the events into the ``oxygen`` part of the ``reliability`` block:
``measured`` false ("not measured", never 0) without an O2 channel; otherwise the total
``o2_used_l``, the time covered, the mean O2 flow (``mean_o2_lpm``, and ``o2_l_per_h``:
litres per hour of covered time) and the same per hour of run time (``hourly``). The O2 flow
is as the channel reports it, at the flow condition the device states (``flow_condition``),
not converted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ventbench.analysis.trace import SampleFlag

#: run time per ``oxygen`` event, s
INTERVAL_S = 600.0
#: one count of the integer sum, L/min
QUANTUM_LPM = 1e-4
DEFAULT_CHANNEL = "o2_flow_lpm"
_US = 1_000_000
_BAD = int(SampleFlag.GAP | SampleFlag.RESET)


def _litres(acc: int) -> float:
    """An integer sum of (count_a + count_b) · µs → litres."""
    return acc * QUANTUM_LPM / 2.0 / 60.0 / _US


class OxygenMeter:
    """The O2 integral of one segment; ``emit(kind, t_s, **fields)`` writes an event."""

    def __init__(self, channel: str, emit: Any, stall_s: float, interval_s: float = INTERVAL_S) -> None:
        self.channel, self.emit = channel, emit
        self.stall_us = int(round(stall_s * _US))
        self.interval_us = int(round(interval_s * _US))
        self.seen = False
        self._prev: tuple[int, int, bool] | None = None  # t_us, count, ok of the last sample
        self._bin: int | None = None
        self._acc = 0
        self._covered_us = 0
        self._last_t_us = 0

    def feed(self, t_run: np.ndarray, channels: dict[str, np.ndarray], flags: np.ndarray) -> None:
        """Samples in order: run times (s), the block's channels (cut to ``t_run``), flags."""
        values = channels.get(self.channel)
        n = t_run.size
        if values is None or n == 0:
            return
        self.seen = True
        v = np.asarray(values[:n], dtype=np.float64)
        ok = np.isfinite(v) & ((flags.astype(np.int64) & _BAD) == 0)
        t_us = np.rint(t_run * _US).astype(np.int64)
        c = np.where(ok, np.rint(np.where(ok, v, 0.0) / QUANTUM_LPM), 0).astype(np.int64)
        if self._prev is not None:
            t_us = np.concatenate(([self._prev[0]], t_us))
            c = np.concatenate(([self._prev[1]], c))
            ok = np.concatenate(([self._prev[2]], ok))
        self._prev = (int(t_us[-1]), int(c[-1]), bool(ok[-1]))
        if t_us.size < 2:
            self._start(int(t_us[-1]))
            return
        dt = np.diff(t_us)
        good = ok[1:] & ok[:-1] & (dt > 0) & (dt <= self.stall_us)
        contrib = np.where(good, (c[1:] + c[:-1]) * dt, 0)
        covered = np.where(good, dt, 0)
        ends = t_us[1:]
        bins = (ends - 1) // self.interval_us
        if self._bin is None:
            self._bin = int(bins[0])
        cuts = np.flatnonzero(np.diff(bins)) + 1
        for lo, hi in zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [bins.size])), strict=True):
            b = int(bins[lo])
            if b != self._bin:
                self._close()
                self._bin = b
            self._acc += int(contrib[lo:hi].sum())
            self._covered_us += int(covered[lo:hi].sum())
            self._last_t_us = int(ends[hi - 1])

    def _start(self, t_us: int) -> None:
        if self._bin is None:
            self._bin = max(0, (t_us - 1) // self.interval_us)
            self._last_t_us = t_us

    def _close(self) -> None:
        if self._bin is None:
            return
        self.emit("oxygen", self._last_t_us / _US, from_s=self._bin * self.interval_us / _US,
                  o2_l=round(_litres(self._acc), 9), covered_s=round(self._covered_us / _US, 6),
                  channel=self.channel)
        self._acc, self._covered_us = 0, 0

    def finish(self) -> None:
        """End of the segment: the open interval's event (when the channel was streamed)."""
        if self.seen:
            self._close()
            self._bin = None


def oxygen_block(events: list[dict[str, Any]], channel: str, span_s: float) -> dict[str, Any]:
    """The ``oxygen`` part of the reliability block from the ``oxygen`` events."""
    ox = [e for e in events if e["kind"] == "oxygen"]
    if not ox:
        return {"measured": False, "channel": channel,
                "note": f"not measured: the device streamed no O2 flow channel ({channel})"}
    conditions = sorted({e["flow_condition"] for e in events if e["kind"] == "flow_condition"})
    total = sum(float(e["o2_l"]) for e in ox)
    covered = sum(float(e["covered_s"]) for e in ox)
    hours: dict[int, list[float]] = {}
    for e in ox:
        h = hours.setdefault(int(float(e["from_s"]) // 3600.0), [0.0, 0.0])
        h[0] += float(e["o2_l"])
        h[1] += float(e["covered_s"])
    out: dict[str, Any] = {
        "measured": covered > 0, "channel": ox[0].get("channel", channel),
        "flow_condition": conditions[0] if len(conditions) == 1 else None,
        "o2_used_l": round(total, 6) if covered > 0 else None,
        "covered_s": round(covered, 3), "span_s": round(span_s, 3),
        "mean_o2_lpm": round(total / covered * 60.0, 6) if covered > 0 else None,
        "o2_l_per_h": round(total / covered * 3600.0, 6) if covered > 0 else None,
        "hourly": [{"hour": h, "o2_l": round(v[0], 6), "covered_s": round(v[1], 3),
                    "mean_o2_lpm": round(v[0] / v[1] * 60.0, 6) if v[1] > 0 else None}
                   for h, v in sorted(hours.items())],
    }
    if covered <= 0:
        out["note"] = "not measured: no valid O2 flow samples"
    elif covered < span_s - 1.0:
        out["note"] = (f"O2 flow integrated over {covered:.1f} s of {span_s:.1f} s of run time "
                       "(gaps, resets and interruptions are not counted)")
    return out
