"""``ventbench record --port URL --driver NAME [--duration 60s] [--out DIR]``: capture a port.

Writes, in OUT (default ``./records/<UTC timestamp>``):

- ``capture.vbcap`` — every byte both ways with host times (written before it is decoded);
- ``trace.csv`` — the decoded samples as the contract's Trace CSV, streamed in chunks;
- ``record.json`` — written at the start (status "running", bluesky-style start record) and
  rewritten in ``finally`` with the counts (``samples``, ``lost_samples``,
  ``rejected_frames``, ``discarded_bytes``, ``gaps``, ``resets``), disconnects and
  ``reconnect_attempts``, the instrument's metadata, start/stop UTC, the status and the
  stop (``stop``: its kind, ``reason``);
- ``console.log`` — every line shown on stderr, time-stamped; it goes on when the terminal
  is lost (a closed pipe or SIGHUP never stops a recording).

Device times are made continuous across device resets and reconnects by
:class:`drivers.timebase.ContinuousTime` (the shifts are ``time_shifts`` in record.json) —
the same object the ``.vbcap`` importer uses, so ``ventbench analyze capture.vbcap`` gives
the samples of ``trace.csv``. With ``--port2 URL --driver2 NAME`` a second port is recorded
too (``capture2.vbcap``, live ``trace1.csv`` / ``trace2.csv``) and ``trace.csv`` is the
combined trace (see :mod:`bench.record_pair` and ``docs/drivers/combining.md``).

The acquisition is :class:`bench.recorder.Recorder`; its stop kinds decide status and exit:
``--duration`` (s/m/h/d), ``--samples N`` or the end of a replay → exit 0; Ctrl-C / SIGTERM
→ exit 2 (aborted, files complete); exit 4 when the port cannot be opened, the device does
not answer, no sample arrives for ``--no-data-timeout`` (never shorter than what the
driver asked the device for: "no data from PORT since TIME"; reconnection attempts go on
meanwhile and are counted), no sample arrived at all, or a file cannot be written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ventbench.bench.args import clock, count, duration, key_value, port_url, positive
from ventbench.bench.view.options import add_view_arguments
from ventbench.errors import BenchError, ConfigError, TransportError
from ventbench.exit_codes import EXIT_PASS

if TYPE_CHECKING:  # annotations only: --help imports no numpy
    from ventbench.bench.console import Console

HELP = "capture a port with no protocol: capture.vbcap, trace.csv and record.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, metavar="URL", type=port_url,
                        help="device path or URL (/dev/ttyACM0, sim://rig, replay://x.vbcap)")
    parser.add_argument("--driver", required=True, metavar="NAME", help="driver (rig, imt …)")
    parser.add_argument("--duration", default=60.0, type=duration, help="how long (30s, 5m, 2h, 14d)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output directory (default ./records/<UTC timestamp>)")
    parser.add_argument("--baud", type=count, default=None, help="baud rate (driver default)")
    parser.add_argument("--parity", default=None, choices=["N", "E", "O", "M", "S"])
    parser.add_argument("--option", action="append", metavar="K=V", type=key_value(),
                        help="driver option (repeatable)")
    parser.add_argument("--samples", type=count, default=None, metavar="N",
                        help="stop once N samples arrived (or at --duration, if sooner)")
    parser.add_argument("--no-data-timeout", type=positive, default=5.0, metavar="S",
                        help="give up (exit 4) when no sample arrived for S seconds")
    parser.add_argument("--no-reconnect", action="store_true",
                        help="end on a vanished port instead of reopening it")
    # the second source: bench/record_pair.py
    group = parser.add_argument_group("second source (combined on the first one's time base)")
    group.add_argument("--port2", metavar="URL", type=port_url,
                       help="a second port (e.g. a rig for airway pressure next to a flowmeter)")
    group.add_argument("--driver2", metavar="NAME", help="driver of the second port")
    group.add_argument("--option2", action="append", metavar="K=V", type=key_value(),
                       help="option of the second driver (repeatable)")
    group.add_argument("--take2", default="paw_cmh2o", metavar="CH[,CH…]",
                       help="channels taken from the second source (default paw_cmh2o)")
    group.add_argument("--clock", default=None, metavar="host|device|S", type=clock,
                       help="how the clocks are related: through host arrival times (default), "
                            "one clock, or a fixed offset in s (t1 = t2 + S)")
    group.add_argument("--interp", default=None, choices=("linear", "hold"),
                       help="interpolate the second source's samples, or hold the last one")
    group.add_argument("--max-staleness", type=positive, default=None, metavar="S",
                       help="older second-source data is missing (default 2.5 sample intervals)")
    add_view_arguments(parser)


def check_second_source(args: argparse.Namespace) -> None:
    """ConfigError naming a second-source option given without ``--port2``; the defaults
    (host clock, linear interpolation) otherwise."""
    if not args.port2:
        for flag, value in (("--driver2", args.driver2), ("--option2", args.option2),
                            ("--clock", args.clock), ("--interp", args.interp),
                            ("--max-staleness", args.max_staleness)):
            if value is not None:
                raise ConfigError(f"{flag}: only with a second source (--port2 URL --driver2 NAME)")
    args.clock = "host" if args.clock is None else args.clock
    args.interp = args.interp or "linear"


def _first_rx_bytes(path: Path, n: int) -> bytes:
    from ventbench.drivers.capture import CaptureReader

    out = b""
    try:
        for rec in CaptureReader(path):
            if rec.kind == "rx":
                out += rec.data
                if len(out) >= n:
                    break
    except (BenchError, OSError):
        pass
    return out[:n]


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


class _Live:
    """The live line: on a TTY redrawn in place, else a plain line every ``period_s``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tty = console.isatty()
        self.period_s = 0.5 if self.tty else 5.0
        self._t = time.monotonic()
        self._n = 0

    def update(self, counters, flow: float, paw: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._t < self.period_s:
            return
        rate = (counters.samples - self._n) / max(now - self._t, 1e-9)
        self._t, self._n = now, counters.samples
        line = (f"{counters.samples} samples  {rate:7.0f}/s  flow {flow:8.2f} L/min  "
                f"paw {paw:6.2f} cmH2O  lost {counters.lost_samples}  "
                f"rejected {counters.rejected_frames}  resets {counters.resets}")
        if self.tty:
            self.console.write("\r" + line + "\x1b[K")
            self.console.flush()
        else:
            self.console.line(line)

    def done(self) -> None:
        if self.tty:
            self.console.line("")


def run(args: argparse.Namespace) -> int:
    from ventbench import __version__
    from ventbench.bench import record_pair
    from ventbench.bench.console import LOG_FILE, Console
    from ventbench.bench.recorder import Recorder, Source
    from ventbench.bench.recorder_sinks import TraceSink
    from ventbench.bench.recorder_stops import (
        ERROR,
        NO_DATA,
        DiskSpace,
        Duration,
        SampleCount,
        Signals,
        Stop,
    )
    from ventbench.bench.view.options import keep_serving, start_view
    from ventbench.bench.view.sink import ViewSink
    from ventbench.drivers.registry import driver_options, make_driver
    from ventbench.drivers.transport import Acquisition

    check_second_source(args)
    duration_s = args.duration
    typed = driver_options(args.driver, args.option)  # a bad --option: exit 3, named
    options = typed.to_dict()
    driver = make_driver(args.driver, typed)
    out = args.out or Path("records") / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    if (out / "capture.vbcap").exists():
        raise ConfigError(f"--out {out}: already holds a capture.vbcap; choose another DIR")
    overrides = {"baudrate": args.baud, "parity": args.parity}
    second = (record_pair.SecondSource(args, out)
              if args.port2 else None)
    trace_name = record_pair.TRACE1 if second else "trace.csv"  # two ports: combined at the end
    console = Console(sys.stderr, out / LOG_FILE)
    doc: dict[str, Any] = {
        "schema": "ventbench.record/1", "status": "running", "url": args.port,
        "driver": args.driver, "options": options, "duration_s": duration_s,
        "start_utc": _utc(), "software": {"name": "ventbench", "version": __version__},
        "files": {"capture": "capture.vbcap", "trace": "trace.csv", "log": LOG_FILE},
    }
    if second:
        doc["files"].update(capture2=record_pair.CAPTURE2, trace1=record_pair.TRACE1,
                            trace2=record_pair.TRACE2)
    _write_json(out / "record.json", doc)  # start record, before the port is touched

    acq = Acquisition(args.port, driver, out / "capture.vbcap",
                      serial_overrides={k: v for k, v in overrides.items() if v is not None},
                      metadata={"command": "record", "out": str(out), "driver_options": options},
                      reconnect=not args.no_reconnect)
    trace = TraceSink(out / trace_name, driver,
                      {"driver": args.driver, "url": args.port, "capture": "capture.vbcap"})
    sources = [Source(acq, [trace], no_data_s=args.no_data_timeout)]
    if second:
        sources.append(second.source)
    view = start_view(args, console.line)  # --view: the live page (bench/view/)
    if view is not None:
        sources[0].sinks.append(ViewSink(view.hub, driver, acq, console.line))
    conditions = [Duration(duration_s), DiskSpace(out), Signals(console.note)]
    if args.samples is not None:
        conditions.append(SampleCount(args.samples))
    live = _Live(console)

    def status(_rec) -> None:
        paw = trace.last_paw_cmh2o
        if second and "paw_cmh2o" in second.take:
            paw = second.last_paw_cmh2o
        live.update(driver.counters, trace.last_flow_lpm, paw)

    recorder = Recorder(sources, conditions, on_tick=status)
    result = None
    try:
        result = recorder.run()
        status(None)
        stop = result.stop
        if stop.kind == NO_DATA and driver.counters.samples == 0:
            first = _first_rx_bytes(out / "capture.vbcap", 24)
            if first:
                stop = Stop(stop.kind, f"{stop.reason}; first bytes {first.hex(' ')}")
        doc.update(status=stop.status, reason=stop.reason, stop=stop.kind)
    except (BenchError, OSError) as error:
        doc["status"], doc["reason"] = "error", str(error)
        console.close()
        raise
    except Exception as error:  # a bug in a sink: evidence first, then a clear message
        doc["status"], doc["reason"] = "error", f"{type(error).__name__}: {error}"
        console.close()
        raise TransportError(f"recording {args.port} failed: {doc['reason']}") from error
    finally:
        live.done()
        if sources[0].info:
            doc["instrument"] = sources[0].info
        doc.update(driver.counters.to_json())
        doc.update(
            stop_utc=_utc(), elapsed_s=result.elapsed_s if result else 0.0,
            disconnects=acq.disconnects, reconnect_attempts=acq.reconnect_attempts,
            rx_bytes=acq.rx_bytes, trace_rows=trace.rows, time_shifts=trace.timebase.shifts,
        )
        if second:
            doc["source2"] = second.summary()
        _write_json(out / "record.json", doc)
    if second and stop.status != ERROR:
        try:
            doc["alignment"] = second.combine(trace.meta)
        except BenchError as error:
            doc["status"], doc["reason"] = "error", f"combining the two sources: {error}"
            console.close()
            raise
        finally:
            _write_json(out / "record.json", doc)
    c = driver.counters
    console.line(f"ventbench record: {doc['status']} ({doc.get('reason')}): {c.samples} samples, "
                 f"{c.lost_samples} lost, {c.rejected_frames} rejected frames, {len(c.gaps)} gaps, "
                 f"{c.resets} resets, {len(acq.disconnects)} disconnects, "
                 f"{acq.reconnect_attempts} reconnection attempts → {out}")
    console.close()
    keep_serving(view)
    return stop.exit_code if stop.exit_code is not None else EXIT_PASS
