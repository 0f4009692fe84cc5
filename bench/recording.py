"""Record one point live: capture every byte, show every breath, stop when enough are in.

:func:`record_point` records the port with the :class:`~ventbench.bench.recorder.Recorder`
(the transport's :class:`Acquisition`: every byte is in the capture before anybody decodes
it); its sink :class:`BreathSink` streams the samples into an
:class:`~analysis.stream.BreathStream` for the live lines and stops after the settle +
measure breaths (plus a margin) or after too long. A port that gives no data for the
no-data limit, or fails for good, ends the point — and the session — with exit 4. It
computes no verdict: the point's numbers come from the capture read back afterwards
(:mod:`bench.reanalysis`), exactly as ``ventbench replay`` would compute them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.analysis.checks import QUANTITY_FIELDS, derive_set_values
from ventbench.analysis.gas import conversion_factor
from ventbench.analysis.limits import LimitSet
from ventbench.analysis.validity import SampleValidator
from ventbench.bench.analysis_config import AnalysisConfig
from ventbench.bench.console import Console
from ventbench.bench.live import Cell, Live
from ventbench.bench.recorder import Recorder, Source
from ventbench.bench.recorder_stops import ERROR, SIGNAL, SINK, Signals, Stop
from ventbench.drivers.timebase import ContinuousTime
from ventbench.errors import AnalysisError, BenchError, TransportError

#: Quantities shown on the live line, in order: (quantity, label, digits).
LIVE_QUANTITIES = (("vt", "VT", 1), ("peep", "PEEP", 2), ("pip", "PIP", 1),
                   ("pinsp", "Pinsp", 1), ("rate", "RR", 1), ("ti", "Ti", 2))


@dataclass
class Limits:
    """When a live recording of one point stops."""

    extra_breaths: int = 1  #: recorded beyond settle + measure (a margin for boundaries)
    max_point_factor: float = 2.0  #: give up after this × the expected breaths' device time
    no_data_timeout_s: float = 10.0  #: wall time without a sample that ends a point (exit 4)


@dataclass
class Recording:
    """What happened while a point was recorded (goes to ``point.json``)."""

    stop_reason: str = ""
    live_breaths: int = 0
    live_view_error: str = ""
    wall_s: float = 0.0
    disconnects: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)
    dut: dict[str, Any] = field(default_factory=dict)  #: the DUT port's counts, when there is one


@dataclass
class DutPort:
    """The device under test's own telemetry port, recorded beside the reference."""

    url: str
    driver: Any  #: a fresh driver instance
    capture: Path  #: ``points/ID/dut.vbcap``


def expected_breath_s(point: dict[str, Any]) -> float:
    """The set breath period of a point, s (6 s when the point sets no rate)."""
    rate = float(point["set"].get("rate_bpm") or 0.0)
    return 60.0 / rate if rate > 0 else 6.0


def live_cells(breath: Any, sets: dict[str, float], point: dict[str, Any],
               limits: LimitSet) -> list[Cell]:
    """The live line of one breath: each quantity, its error and a mark against its limit
    (None when the point does not check it or no limit applies)."""
    cells = []
    checks = set(point.get("checks") or [])
    hidden = "pip" if point["mode"] == "pc" else "pinsp"  # PC judges Pinsp, VC shows PIP
    for quantity, label, digits in LIVE_QUANTITIES:
        if quantity == hidden:
            continue
        field_name, set_key = QUANTITY_FIELDS[quantity]
        value = getattr(breath, field_name, None)
        if quantity == "pinsp" and value is None:
            value = breath.pip_cmh2o
        set_value = sets.get(set_key)
        error = ok = None
        if value is not None and set_value is not None and math.isfinite(value):
            error = value - set_value
            tol = limits.get(quantity)
            judged = (quantity in checks and tol is not None and tol.is_band
                      and tol.applies_to(set_value)
                      and not (quantity == "vt" and point["mode"] == "pc"))
            if judged:
                ref = abs(value) if tol.of == "actual" else abs(set_value)
                ok = abs(error) <= tol.limit(ref) and breath.trusted
        cells.append(Cell(label, value, "", error, ok, digits))
    return cells


class BreathSink:
    """The Recorder sink of a run point: breaths live, a stop when enough are in.

    Stops (kind ``sink``) after settle + measure + ``limits.extra_breaths`` breaths, or
    when the device time exceeds ``limits.max_point_factor`` × the expected breaths' time.
    """

    def __init__(self, point: dict[str, Any], config: AnalysisConfig, live: Live,
                 limits: Limits, driver: Any, out: Recording) -> None:
        from ventbench.analysis.stream import BreathStream

        self.point, self.config, self.live, self.out = point, config, live, out
        rule = config.rule
        self.settle, self.measure = rule.settle_breaths, rule.measure_breaths
        self.need = rule.settle_breaths + rule.measure_breaths + limits.extra_breaths
        self.limit_s = limits.max_point_factor * (self.need + 2) * expected_breath_s(point)
        self.driver = driver
        self.stream = BreathStream(config.segmentation_for(point))
        self.clock = ContinuousTime()  # device resets: the same time base as the re-analysis
        self.validator = SampleValidator()  # gaps, stuck sensors, impossible values (as re-analysis)
        self.sets = derive_set_values(point["set"], point["mode"])
        self.factor = 1.0
        self.t_first: float | None = None

    def open(self, info: dict[str, Any]) -> None:  # noqa: ARG002 - sink interface
        self.factor = conversion_factor(self.driver.flow_condition, self.config.condition,
                                        self.config.ambient)

    def write(self, block: Any) -> Stop | None:
        out = self.out
        t_s, flags = self.clock(block.t_s, block.flags)
        flow, paw, flags = self.validator(t_s, block.flow_lpm, block.paw_cmh2o, flags)
        self.t_first = float(t_s[0]) if self.t_first is None else self.t_first
        try:
            new = self.stream.feed(t_s, flow * self.factor, paw, flags)
        except AnalysisError as error:  # the live view failed; the recording goes on
            if not out.live_view_error:
                out.live_view_error = str(error)
                self.live.line(f"  live view stopped ({error}); still recording")
            new = []
        view = getattr(self.live, "view_samples", None)  # the live page (bench/view/live.py)
        if view is not None:
            view(self, t_s, flow * self.factor, paw, new)
        for breath in new:
            out.live_breaths += 1
            n = out.live_breaths
            phase = ("settle" if n <= self.settle else
                     "measure" if n <= self.settle + self.measure else "extra")
            number = breath.index if breath.index >= 0 else n - 1  # results.json's `index`
            self.live.breath(number, phase, live_cells(breath, self.sets, self.point,
                                                  self.config.limits))
        if out.live_breaths >= self.need:
            return Stop(SINK, f"{out.live_breaths} breaths recorded")
        elapsed = float(t_s[-1]) - self.t_first
        if elapsed > self.limit_s:
            return Stop(SINK, f"only {out.live_breaths} of {self.need} breaths in "
                              f"{elapsed:.0f} s of device time")
        self.live.progress(f"  {self.point['id']}: {out.live_breaths}/{self.need} breaths, "
                           f"{elapsed:.0f} s device time")
        return None

    def close(self) -> None:
        """Nothing to close: the point's numbers come from the capture afterwards."""


def record_point(url: str, driver: Any, capture: Path, point: dict[str, Any],
                 config: AnalysisConfig, live: Live, *, limits: Limits | None = None,
                 metadata: dict[str, Any] | None = None,
                 on_info: Callable[[dict[str, Any]], None] | None = None,
                 dut: DutPort | None = None) -> Recording:
    """Record ``point`` from ``url`` with ``driver`` into ``capture``; live lines on ``live``.

    With ``dut`` the device under test's telemetry port is opened right after the
    reference has started streaming and captured (every byte, before decode) until the
    reference recording stops; its values are compared afterwards
    (:mod:`bench.monitoring`). A DUT port that dies later is noted in ``Recording.dut``.

    The acquisition is the :class:`~ventbench.bench.recorder.Recorder`'s. Raises what the
    transport raises when a port (reference or DUT) cannot be opened or the device does not
    answer (the capture then holds the failure); :class:`TransportError` "no data from
    PORT since TIME" when the reference gives no sample for ``limits.no_data_timeout_s``
    (never shorter than the driver's expected silence) or its port fails for good — also
    written to stderr; ``KeyboardInterrupt`` on Ctrl-C or SIGTERM. Whatever arrived is in
    the capture.
    """
    from ventbench.drivers.transport import Acquisition

    limits = limits or Limits()
    out = Recording()
    acquisition = Acquisition(url, driver, capture, reconnect=True, metadata=metadata)
    if point.get("mode") == "steady":  # judged over windows: a fixed device time (bench.steady_point)
        from ventbench.bench.steady_point import SteadySink

        sink: Any = SteadySink(point, live, out)
    else:
        sink = BreathSink(point, config, live, limits, driver, out)
        sink.acquisition = acquisition  # its reconnects, for the live page
    sources = [Source(acquisition, [sink], no_data_s=limits.no_data_timeout_s)]
    dut_acq = None
    if dut is not None:
        dut_acq = Acquisition(dut.url, dut.driver, dut.capture, reconnect=True,
                              metadata={**(metadata or {}), "role": "device under test"})
        # its samples are not needed live: the DUT capture is analysed afterwards
        sources.append(Source(dut_acq, (), label=f"DUT port {dut.url}", required=False,
                              in_reader=True))

    def started(source: Source) -> None:
        if source is sources[0] and on_info is not None:
            on_info(source.info)

    console = live.stream if isinstance(live.stream, Console) else None
    recorder = Recorder(sources, [Signals(console.note if console else None)],
                        on_started=started)
    try:
        result = recorder.run()
    finally:
        out.wall_s = round(recorder.elapsed_s, 3)
        out.disconnects = list(acquisition.disconnects)
        out.counters = driver.counters.to_json()
        if dut_acq is not None and dut_acq.capture is not None:
            out.dut = {"url": dut.url, "error": str(dut_acq.error or sources[1].ended or ""),
                       "disconnects": list(dut_acq.disconnects),
                       "counters": {k: v for k, v in dut.driver.counters.to_json().items()
                                    if k != "events"},
                       "events": len(dut.driver.counters.events)}
            live.line(f"  DUT telemetry: {out.dut['events']} events from {dut.url}"
                      + (f" (port error: {out.dut['error']})" if out.dut["error"] else ""))
    stop = result.stop
    out.stop_reason = stop.reason
    if stop.kind == SIGNAL:
        raise KeyboardInterrupt
    if stop.status == ERROR:
        Console(sys.stderr).line(f"ventbench run: point {point['id']}: {stop.reason}")
        if isinstance(stop.error, BenchError | OSError):
            raise stop.error
        raise TransportError(stop.reason)
    return out
