"""Device-under-test telemetry: the values a prototype reports about its own breaths.

A ventilator monitors what it delivers — expired tidal volume, PEEP, peak pressure, rate —
and many prototypes stream those numbers on a port. ISO 80601-2-12 judges that monitoring
against a reference measurement, so ``ventbench run --dut-port URL --dut-driver NAME``
records the stream in ``points/ID/dut.vbcap`` (captured before decode, like every port)
and the bench compares it breath by breath (:mod:`bench.monitoring`).

:class:`Telemetry` is the one record type every DUT format becomes: a quantity in the
analysis unit, its value, and the device time it was reported at. A format is added by
registering an *adapter* in :data:`ADAPTERS`: a function from a driver's decode counters
(``counters.events``, where drivers put device-reported values) to Telemetry records.
Built in: ``pirds`` (PIRDS v0.3 assertion events ``A``: B rate, V tidal volume, X peak
pressure, E PEEP — STANDARDS.md §5; the PIRDS tidal volume is taken as the *expired* VT,
the volume a ventilator monitors).

:func:`read_telemetry` decodes a ``.vbcap`` through its driver with each sample's host
arrival time (:func:`drivers.importers.vbcap.read_vbcap`, ``host_time=True``), so the
device clock can be related to the host clock (:func:`drivers.combine.estimate_clock_map`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ventbench.errors import ConfigError

#: Reported quantities and their units (the analysis units of :mod:`analysis.limits`).
QUANTITY_UNITS: Mapping[str, str] = {"vte_ml": "mL", "peep_cmh2o": "cmH2O",
                                     "pip_cmh2o": "cmH2O", "rr_bpm": "bpm"}


@dataclass(frozen=True)
class Telemetry:
    """One value the device under test reported about one of its breaths.

    Attributes
    ----------
    quantity : str
        ``vte_ml``, ``peep_cmh2o``, ``pip_cmh2o`` or ``rr_bpm`` (:data:`QUANTITY_UNITS`).
    value : float
        In the unit of the quantity's name.
    t_device_s : float
        Device time stamp of the report, s (the DUT's own clock).
    source : str
        What it was decoded from, e.g. ``"pirds A/V"``.
    """

    quantity: str
    value: float
    t_device_s: float
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: PIRDS assertion name (drivers.pirds_codec.ASSERTIONS) → Telemetry quantity.
_PIRDS_NAMES = {"vt_ml": ("vte_ml", "V"), "peep_cmh2o": ("peep_cmh2o", "E"),
                "pip_cmh2o": ("pip_cmh2o", "X"), "rr_bpm": ("rr_bpm", "B")}


def pirds_telemetry(counters: Mapping[str, Any]) -> list[Telemetry]:
    """PIRDS assertion events (``counters["events"]`` of :class:`drivers.pirds.PirdsDriver`)
    → Telemetry, in stream order. Device time = the event's ``ms`` / 1000."""
    out = []
    for ev in counters.get("events") or ():
        if ev.get("event") != "assertion" or ev.get("name") not in _PIRDS_NAMES:
            continue
        quantity, letter = _PIRDS_NAMES[ev["name"]]
        out.append(Telemetry(quantity, float(ev["value"]), float(ev["ms"]) / 1000.0,
                             f"pirds A/{letter}"))
    return out


#: ``--dut-driver`` name → adapter from the driver's counters to Telemetry records.
ADAPTERS: dict[str, Callable[[Mapping[str, Any]], list[Telemetry]]] = {
    "pirds": pirds_telemetry,
}


def check_dut_driver(name: str) -> None:
    """ConfigError unless ``name`` is a driver whose telemetry can be read."""
    if name not in ADAPTERS:
        raise ConfigError(f"--dut-driver {name!r}: no telemetry adapter for it (known: "
                          f"{', '.join(sorted(ADAPTERS))}; add one in drivers/telemetry.py)")


@dataclass(frozen=True, eq=False)
class TelemetryCapture:
    """A DUT capture decoded: its reports and what relates its clock to the host's.

    ``device_t_s`` / ``host_t_s`` are every decoded sample's device time and host arrival
    time (s, host monotonic), the input of :func:`drivers.combine.estimate_clock_map`.
    """

    reports: tuple[Telemetry, ...]
    device_t_s: np.ndarray
    host_t_s: np.ndarray
    resets: int
    info: Mapping[str, Any]


def read_telemetry(path: str | os.PathLike, driver: str,
                   options: Mapping[str, Any] | None = None) -> TelemetryCapture:
    """Decode a DUT capture into :class:`TelemetryCapture` (see the module docstring).

    Raises
    ------
    ConfigError
        No adapter for ``driver`` (or the driver is unknown).
    FrameError, OSError
        As :func:`drivers.importers.vbcap.read_vbcap` (unreadable capture or header;
        corrupt records are skipped: the reports in them are lost).
    """
    from ventbench.drivers.importers.vbcap import HOST_TIME_CHANNEL, read_vbcap

    check_dut_driver(driver)
    trace = read_vbcap(path, driver=driver, host_time=True, skip_bad=True,
                       **dict(options or {}))
    counters = trace.meta.get("counters") or {}
    resets = int(counters.get("resets") or 0) + len(trace.meta.get("time_shifts") or ())
    return TelemetryCapture(tuple(ADAPTERS[driver](counters)), np.asarray(trace.t_s),
                            np.asarray(trace.channels[HOST_TIME_CHANNEL]), resets,
                            dict(trace.meta.get("instrument") or {}))


def by_quantity(reports: Sequence[Telemetry]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{quantity: (t_device_s, values)}`` arrays, each in report order."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for r in reports:
        t, v = out.setdefault(r.quantity, ([], []))
        t.append(r.t_device_s)
        v.append(r.value)
    return {q: (np.asarray(t, dtype=np.float64), np.asarray(v, dtype=np.float64))
            for q, (t, v) in out.items()}
