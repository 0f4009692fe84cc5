"""PIRDS files (JSON lines or binary records, e.g. VentMon logs) → :class:`~analysis.trace.Trace`.

The events are those of the serial stream (:mod:`drivers.pirds_codec`) and are put on one
time base exactly as the live driver does (:class:`drivers.pirds.SampleAssembler`: every
flow event is a sample, airway pressure sample-and-hold with STALE beyond ``stale_ms``).
Flow is PIRDS "slm" (litres at 0 °C): the trace's flow condition is STPD. Ambient pressure
and temperature come from the first P/B and T/B events when present.

A JSON-lines file (first non-blank byte ``{``) is read line by line; a binary file record
by record. A line or record that is not a PIRDS event raises
:class:`~ventbench.errors.FrameError` naming the file and line (or byte offset); with
``skip_bad=True`` it is skipped and counted in ``meta["skipped_lines"]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.trace import Trace
from ventbench.analysis.validity import ValidityLimits
from ventbench.drivers.base import DecodeCounters
from ventbench.drivers.pirds import SampleAssembler, _key, rows_to_block
from ventbench.drivers.pirds_codec import ASSERTIONS, TYPES, Event, event_from_json, parse_record
from ventbench.errors import ConfigError, FrameError
from ventbench.units import HPA_PER_CMH2O


def read_pirds(path: str | os.PathLike, *, skip_bad: bool = False, flow: str = "FA0",
               paw: str = "DA0", stale_ms: int = 50,
               validity: ValidityLimits | bool | None = None) -> Trace:
    """Read a PIRDS JSON-lines or binary file.

    Parameters
    ----------
    path : path-like
        The file.
    skip_bad : bool
        Skip malformed lines/records (counted) instead of failing.
    flow, paw : str
        Type, location and number of the flow and airway-pressure events.
    stale_ms : int
        Age above which a held pressure flags the sample STALE.
    validity : ValidityLimits, optional
        Gap, stuck-sensor and range limits of the instrument
        (:mod:`analysis.validity`); the defaults when None, unchecked when False.

    Raises
    ------
    FrameError
        ``file:line: …`` for a malformed line or ``file: byte N: …`` for a malformed binary
        record (unless ``skip_bad``), or a file without flow events.
    """
    path = Path(path)
    data = path.read_bytes()
    if data.lstrip()[:1] == b"{":
        events, skipped = _json_events(path, data, skip_bad)
        fmt = "pirds-json"
    else:
        events, skipped = _binary_events(path, data, skip_bad)
        fmt = "pirds-binary"
    assembler = SampleAssembler(_key(flow), _key(paw), stale_ms)
    counters = DecodeCounters()
    rows: list[tuple] = []
    assertions: list[dict[str, Any]] = []
    meta_events: list[dict[str, Any]] = []
    for ev in events:
        if ev.event == "M":
            assembler.add(ev, rows, counters)
        elif ev.event == "A":
            scale, name = ASSERTIONS[ev.type]
            assertions.append({"name": name, "value": ev.val * scale, "ms": ev.ms})
        elif ev.event == "E":
            meta_events.append({"kind": ev.type, "ms": ev.ms, "text": ev.text})
    if not rows:
        raise FrameError(f"{path}: no flow events {flow!r} found ({len(events)} events read)")
    block = rows_to_block(rows)
    ambient = _ambient(events)
    meta = {"format": fmt, "source_path": str(path), "data_lines": len(block),
            "skipped_lines": skipped, "rejected_samples": assembler.rejected,
            "gaps": counters.gaps, "assertions": assertions, "meta_events": meta_events,
            "alignment": f"sample-and-hold of {paw} onto {flow} events, stale after {stale_ms} ms"}
    trace = Trace(block.t_s, block.flow_lpm, block.paw_cmh2o, GasCondition.STPD, ambient,
                  block.flags, block.channels, meta)
    return trace.validated(validity)


def _json_events(path: Path, data: bytes, skip_bad: bool) -> tuple[list[Event], int]:
    events: list[Event] = []
    skipped = 0
    for number, line in enumerate(data.splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        ev = None
        try:
            ev = event_from_json(json.loads(text.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError):
            ev = None
        if ev is None:
            if not skip_bad:
                shown = text[:80].decode("ascii", "replace")
                raise FrameError(
                    f"{path}:{number}: expected a PIRDS JSON event like "
                    f'{{"event":"M","type":"F","loc":"A","num":0,"ms":0,"val":0}}, found {shown!r}'
                )
            skipped += 1
            continue
        events.append(ev)
    return events, skipped


def _binary_events(path: Path, data: bytes, skip_bad: bool) -> tuple[list[Event], int]:
    """Records back to back (CR/LF between them tolerated); a bad run is one skipped unit."""
    events: list[Event] = []
    skipped = 0
    i = 0
    in_bad = False
    while i < len(data):
        if data[i] in (0x0A, 0x0D):
            i += 1
            continue
        ev, length = parse_record(data, i)
        if ev is not None and length:
            events.append(ev)
            i += length
            in_bad = False
            continue
        if not skip_bad:
            what = "a truncated record" if length is None else repr(data[i : i + 12])
            raise FrameError(
                f"{path}: byte {i}: expected a PIRDS binary record ('M'/'A' + 11 bytes or an "
                f"'E' meta event), found {what}"
            )
        if not in_bad:
            skipped += 1
            in_bad = True
        i += 1
    return events, skipped


def _ambient(events: list[Event]) -> Ambient:
    p = next((e.val * TYPES["P"][0] * HPA_PER_CMH2O for e in events if e.event == "M"
              and e.type == "P" and e.loc == "B"), None)
    t = next((e.val * TYPES["T"][0] for e in events if e.event == "M" and e.type == "T"
              and e.loc == "B"), None)
    if p is None and t is None:
        return Ambient()
    try:
        return Ambient(t if t is not None else 22.0, p if p is not None else 1013.25,
                       source="PIRDS ambient events (P/B, T/B)")
    except ConfigError:
        return Ambient()
