"""``.vbcap`` captures → :class:`~analysis.trace.Trace`, through the driver that recorded them.

The capture is re-enacted the way :class:`drivers.transport.Acquisition` lived it, without
threads or waiting: a port object serves the recorded rx records **one record per read**
(the chunks the live driver got), counts the driver's writes, and the importer

1. at each ``open`` event runs ``driver.handshake`` and ``driver.start`` against it (a
   handshake that failed live fails here too: it meets the next ``open`` event);
2. then reads → ``driver.feed`` → ``driver.poll``, exactly like the reader thread;
3. at a ``disconnect`` event marks the first sample after the next successful connection
   ``GAP`` (as ``Acquisition`` does after a reconnect);
4. passes every block through :class:`drivers.timebase.ContinuousTime` — the same object
   ``ventbench record`` uses — so time keeps increasing across device resets and
   reconnects, with ``GAP | RESET`` flags and the shifts in ``meta["time_shifts"]``.

A capture without any ``open`` event (built by hand from a device's output) is a raw byte
stream: every rx record is fed to ``driver.feed`` in order, with no handshake. Rx bytes
inside a ``discard_begin`` … ``discard_end`` span were drained by ``reset_input_buffer``
and never reached the live driver; they are skipped here too.

Damage: a torn tail (a crash while writing) is normal — what is there is read and
``meta["capture"]["truncated_at"]`` says where it stopped. A corrupt record in the middle
is a :class:`~ventbench.errors.FrameError` naming its byte offset, unless ``skip_bad``:
then it is left out (the driver counts the samples it lost) and listed in
``meta["capture"]["corrupt"]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.analysis.validity import ValidityLimits
from ventbench.drivers.base import Driver, SampleBlock
from ventbench.drivers.capture import Record, read_capture
from ventbench.drivers.clockmap import HOST_TIME_CHANNEL
from ventbench.drivers.importers.capture_port import Boundary, CapturePort, event_name
from ventbench.drivers.timebase import ContinuousTime, flag_first
from ventbench.errors import AnalysisError, BenchError, ConfigError, FrameError

#: First bytes of every ``.vbcap`` file (for format sniffing).
#: ``analyze`` options that belong to text formats, never to a driver.
_NOT_DRIVER_OPTIONS = ("flow_unit", "pressure_unit")


def read_vbcap(path: str | os.PathLike, *, driver: str | None = None, skip_bad: bool = False,
               host_time: bool = False, validity: ValidityLimits | bool | None = None,
               **driver_options: Any) -> Trace:
    """Decode a ``.vbcap`` capture into a Trace through its driver.

    Parameters
    ----------
    path : str or path-like
        The capture file.
    driver : str, optional
        ``--driver`` name (or ``module:Class``); the capture header's ``driver`` when None.
    skip_bad : bool, optional
        Read around corrupt records instead of failing (they are listed in the metadata).
    host_time : bool, optional
        Add the channel :data:`HOST_TIME_CHANNEL`: the host monotonic time, s, of the rx
        record each sample was decoded from (for :func:`drivers.combine.combine`).
    validity : ValidityLimits, optional
        Gap, stuck-sensor and range limits of the instrument
        (:mod:`analysis.validity`); the defaults when None, unchecked when False.
    **driver_options
        Driver options; the ones recorded in the header (``metadata.driver_options``)
        when none are given.

    Returns
    -------
    Trace
        On the device time base (made continuous), flow at the driver's condition.
        ``meta``: ``format`` ("vbcap"), ``source_path``, ``driver``, ``url``,
        ``start_utc``, ``instrument`` (the driver's info), ``counters`` (the decode
        counts of ``record.json``), ``time_shifts``, ``connections``, ``disconnects``,
        ``failed_handshakes`` and ``capture`` (records, corrupt, truncated_at, end_offset).

    Raises
    ------
    FrameError
        Bad file header, or a corrupt record (without ``skip_bad``), naming file and offset.
    ConfigError
        No driver named in the header or given; unknown driver; an option of text formats.
    OSError
        Missing or unreadable file.
    """
    from ventbench.drivers.registry import make_driver

    path = Path(path)
    wrong = [k for k in _NOT_DRIVER_OPTIONS if k in driver_options]
    if wrong:
        names = ", ".join("--" + k.replace("_", "-") for k in wrong)
        raise ConfigError(f"{path}: {names} do not apply to a capture (its driver decodes units)")
    header, records, report = read_capture(path)
    if report.corrupt and not skip_bad:
        first = report.corrupt[0]
        raise FrameError(
            f"{path}: corrupt record at byte offset {first['offset']} ({first['reason']}; "
            f"{first['skipped_bytes']} bytes skipped to the next valid record), "
            f"{len(report.corrupt)} in all; pass --skip-bad to read around them")
    name = driver or header.get("driver")
    if not name:
        raise ConfigError(f"{path}: the capture header names no driver; pass one (--driver)")
    meta_head = header.get("metadata") if isinstance(header.get("metadata"), dict) else {}
    options = driver_options or dict(meta_head.get("driver_options") or {})
    drv = make_driver(str(name), **options)
    replayed = _replay(drv, records, str(header.get("url") or path))
    block, host_s = replayed.pop("block"), replayed.pop("host_s")
    channels = dict(block.channels)
    if host_time:
        channels[HOST_TIME_CHANNEL] = host_s
    meta = {
        "format": "vbcap", "source_path": str(path), "driver": drv.name,
        "url": header.get("url"), "start_utc": header.get("start_utc"),
        "instrument": dict(drv.info), "counters": drv.counters.to_json(), **replayed,
        "capture": {"records": report.records, "corrupt": list(report.corrupt),
                    "truncated_at": report.truncated_at, "end_offset": report.end_offset},
    }
    condition = drv.flow_condition
    if not isinstance(condition, GasCondition):
        condition = GasCondition.parse(str(condition))
    try:
        trace = Trace(block.t_s, block.flow_lpm, block.paw_cmh2o, condition, Ambient(),
                      block.flags, channels, meta)
    except AnalysisError as error:
        raise FrameError(f"{path}: the {drv.name} driver's samples are not a trace: "
                         f"{error}") from None
    return trace.validated(validity)


def _replay(driver: Driver, records: list[Record], url: str) -> dict[str, Any]:
    """Run the driver over the records as the reader thread did; samples and counts."""
    port = CapturePort(records, url)
    timebase = ContinuousTime()
    blocks: list[SampleBlock] = []
    hosts: list[np.ndarray] = []
    live = {"connections": 0, "disconnects": 0, "failed_handshakes": 0}
    mark_gap = False
    raw_stream = not any(r.kind == "event" and event_name(r) == "open" for r in records)
    connected = raw_stream

    def deliver(block: SampleBlock) -> None:
        nonlocal mark_gap
        if not len(block):
            return
        if mark_gap:
            block, mark_gap = flag_first(block, SampleFlag.GAP), False
        blocks.append(timebase.apply(block))
        hosts.append(np.full(len(block), port.t_ns / 1e9))

    while not port.finished:
        if not connected:
            if not port.skip_to_open():
                break
            try:
                driver.handshake(port)
                driver.start(port)
            except (BenchError, OSError):
                live["failed_handshakes"] += 1
                continue
            connected = True
            live["connections"] += 1
            continue
        try:
            waiting = port.in_waiting
            data = port.read(waiting or 1)
        except Boundary as boundary:
            if boundary.event == "disconnect":
                live["disconnects"] += 1
                mark_gap = True
            connected = False
            if raw_stream:
                port.skip_event()
                connected = True
            continue
        if data:
            deliver(driver.feed(data))
        if not raw_stream:
            driver.poll(port)
    names = tuple(blocks[0].channels) if blocks else ()
    block = SampleBlock.concatenate(blocks) if blocks else SampleBlock.empty(names)
    host = np.concatenate(hosts) if hosts else np.empty(0)
    return {"block": block, "host_s": host, "time_shifts": timebase.shifts,
            "unread_rx_bytes": port.unread_rx_bytes,
            "discarded_rx_bytes": port.discarded_rx_bytes, "writes": port.writes, **live}

