"""Record one point live: capture every byte, show every breath, stop when enough are in.

:func:`record_point` opens the port through the transport's :class:`Acquisition` (so every
byte is in the capture before anybody decodes it), streams the samples into an
:class:`~analysis.stream.BreathStream` for the live lines, and stops after the settle +
measure breaths (plus a margin), after too long, or when the port stops giving data. It
computes no verdict: the point's numbers come from the capture read back afterwards
(:mod:`bench.reanalysis`), exactly as ``ventbench replay`` would compute them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.analysis.checks import QUANTITY_FIELDS, derive_set_values
from ventbench.analysis.gas import conversion_factor
from ventbench.analysis.limits import LimitSet
from ventbench.analysis.validity import SampleValidator
from ventbench.bench.analysis_config import AnalysisConfig
from ventbench.bench.live import Cell, Live
from ventbench.drivers.timebase import ContinuousTime

from ventbench.errors import AnalysisError

#: Quantities shown on the live line, in order: (quantity, label, digits).
LIVE_QUANTITIES = (("vt", "VT", 1), ("peep", "PEEP", 2), ("pip", "PIP", 1),
                   ("pinsp", "Pinsp", 1), ("rate", "RR", 1), ("ti", "Ti", 2))


@dataclass
class Limits:
    """When a live recording of one point stops."""

    extra_breaths: int = 1  #: recorded beyond settle + measure (a margin for boundaries)
    max_point_factor: float = 2.0  #: give up after this × the expected breaths' device time
    no_data_timeout_s: float = 10.0  #: wall time without a sample that ends a point


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
                ok = abs(error) <= tol.limit(ref) and not breath.flags
        cells.append(Cell(label, value, "", error, ok, digits))
    return cells


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

    Raises what the transport raises when a port (reference or DUT) cannot be opened or
    the device does not answer (the capture then holds the failure); a reference port
    that dies later ends the point.
    """
    from ventbench.analysis.stream import BreathStream
    from ventbench.drivers.transport import Acquisition

    limits = limits or Limits()
    rule = config.rule
    need = rule.settle_breaths + rule.measure_breaths + limits.extra_breaths
    limit_s = limits.max_point_factor * (need + 2) * expected_breath_s(point)
    out = Recording()
    t_wall0 = time.monotonic()
    acquisition = Acquisition(url, driver, capture, reconnect=True, metadata=metadata)
    dut_acq = None
    try:
        info = acquisition.start()
        if on_info is not None:
            on_info(info)
        if dut is not None:
            dut_acq = Acquisition(dut.url, dut.driver, dut.capture, reconnect=True,
                                  metadata={**(metadata or {}), "role": "device under test"},
                                  on_block=_discard)
            dut_acq.start()
        factor = conversion_factor(driver.flow_condition, config.condition, config.ambient)
        stream = BreathStream(config.segmentation_for(point.get("group")))
        clock = ContinuousTime()  # device resets: the same time base as the re-analysis
        validator = SampleValidator()  # gaps, stuck sensors, impossible values (as re-analysis)
        sets = derive_set_values(point["set"], point["mode"])
        t_first = None
        last_data = time.monotonic()
        while True:
            block = acquisition.get(timeout=0.2)
            if block is None:
                if acquisition.finished.is_set():
                    out.stop_reason = "the port stopped giving data"
                    if acquisition.error is not None:
                        raise acquisition.error
                    break
                if time.monotonic() - last_data > limits.no_data_timeout_s:
                    out.stop_reason = f"no samples for {limits.no_data_timeout_s:g} s"
                    break
                continue
            if not len(block):
                continue
            last_data = time.monotonic()
            t_s, flags = clock(block.t_s, block.flags)
            t_first = float(t_s[0]) if t_first is None else t_first
            flow, paw, flags = validator(t_s, block.flow_lpm, block.paw_cmh2o, flags)
            try:
                new = stream.feed(t_s, flow * factor, paw, flags)
            except AnalysisError as error:  # the live view failed; the recording goes on
                if not out.live_view_error:
                    out.live_view_error = str(error)
                    live.line(f"  live view stopped ({error}); still recording")
                new = []
            for breath in new:
                out.live_breaths += 1
                n = out.live_breaths
                phase = ("settle" if n <= rule.settle_breaths else
                         "measure" if n <= rule.settle_breaths + rule.measure_breaths else "extra")
                live.breath(n, phase, live_cells(breath, sets, point, config.limits))
            if out.live_breaths >= need:
                out.stop_reason = f"{out.live_breaths} breaths recorded"
                break
            elapsed = float(t_s[-1]) - t_first
            if elapsed > limit_s:
                out.stop_reason = (f"only {out.live_breaths} of {need} breaths in "
                                   f"{elapsed:.0f} s of device time")
                break
            live.progress(f"  {point['id']}: {out.live_breaths}/{need} breaths, "
                          f"{elapsed:.0f} s device time")
    finally:
        if dut_acq is not None:
            dut_acq.stop()
            out.dut = {"url": dut.url, "error": str(dut_acq.error or ""),
                       "disconnects": list(dut_acq.disconnects),
                       "counters": {k: v for k, v in dut.driver.counters.to_json().items()
                                    if k != "events"},
                       "events": len(dut.driver.counters.events)}
            live.line(f"  DUT telemetry: {out.dut['events']} events from {dut.url}"
                      + (f" (port error: {dut_acq.error})" if dut_acq.error else ""))
        acquisition.stop()
        if acquisition.error is not None and not out.stop_reason:
            out.stop_reason = f"port error: {acquisition.error}"
        out.wall_s = round(time.monotonic() - t_wall0, 3)
        out.disconnects = list(acquisition.disconnects)
        out.counters = driver.counters.to_json()
    return out


def _discard(block: Any) -> None:
    """The DUT's samples are not needed live: its capture is analysed afterwards."""
