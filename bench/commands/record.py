"""``ventbench record --port URL --driver NAME [--duration 60s] [--out DIR]``: capture a port.

Writes, in OUT (default ``./records/<UTC timestamp>``):

- ``capture.vbcap`` — every byte both ways with host times (written before it is decoded);
- ``trace.csv`` — the decoded samples as the contract's Trace CSV, streamed in chunks;
- ``record.json`` — written at the start (status "running", bluesky-style start record) and
  rewritten in ``finally`` with the counts (``samples``, ``lost_samples``,
  ``rejected_frames``, ``discarded_bytes``, ``gaps``, ``resets``), disconnects, the
  instrument's metadata, start/stop UTC and the status.

Device times are made continuous across device resets and reconnects by
:class:`drivers.timebase.ContinuousTime` (the shifts are ``time_shifts`` in record.json) —
the same object the ``.vbcap`` importer uses, so ``ventbench analyze capture.vbcap`` gives
the samples of ``trace.csv``. With ``--port2 URL --driver2 NAME`` a second port is recorded
too (``capture2.vbcap``, live ``trace1.csv`` / ``trace2.csv``) and ``trace.csv`` is the
combined trace (see :mod:`bench.record_pair` and ``docs/drivers/combining.md``).

Stops at ``--duration`` (s/m/h/d) or after ``--samples N``, on Ctrl-C / SIGTERM (exit 2: aborted, files complete) or
when the port ends (a replay). Exit 4 when the port cannot be opened, the device does not
answer, or nothing intelligible arrives within ``--no-data-timeout``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ventbench.bench.args import clock, count, duration, key_value, port_url, positive
from ventbench.errors import BenchError, ConfigError, TransportError
from ventbench.exit_codes import EXIT_INCONCLUSIVE, EXIT_PASS

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
                        help="give up (exit 4) when no sample arrived after S seconds")
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
    for rec in CaptureReader(path):
        if rec.kind == "rx":
            out += rec.data
            if len(out) >= n:
                break
    return out[:n]


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


class _Live:
    """The live line: on a TTY redrawn in place, else a plain line every ``period_s``."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
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
            print("\r" + line + "\x1b[K", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from ventbench import __version__
    from ventbench.bench import record_pair
    from ventbench.drivers.importers.trace_csv import TraceCsvStream
    from ventbench.drivers.registry import driver_options, make_driver
    from ventbench.drivers.timebase import ContinuousTime
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
    second = record_pair.SecondSource(args, out) if args.port2 else None
    trace_name = record_pair.TRACE1 if second else "trace.csv"  # two ports: combined at the end
    doc: dict[str, Any] = {
        "schema": "ventbench.record/1", "status": "running", "url": args.port,
        "driver": args.driver, "options": options, "duration_s": duration_s,
        "start_utc": _utc(), "software": {"name": "ventbench", "version": __version__},
        "files": {"capture": "capture.vbcap", "trace": "trace.csv"},
    }
    if second:
        doc["files"].update(capture2=record_pair.CAPTURE2, trace1=record_pair.TRACE1,
                            trace2=record_pair.TRACE2)
    _write_json(out / "record.json", doc)  # start record, before the port is touched

    stop = {"why": None}

    def _signal(signum, frame):  # noqa: ARG001
        stop["why"] = "interrupted (SIGINT)" if signum == signal.SIGINT else "terminated (SIGTERM)"

    old = {s: signal.signal(s, _signal) for s in (signal.SIGINT, signal.SIGTERM)}
    acq = Acquisition(args.port, driver, out / "capture.vbcap",
                      serial_overrides={k: v for k, v in overrides.items() if v is not None},
                      metadata={"command": "record", "out": str(out), "driver_options": options},
                      reconnect=not args.no_reconnect)
    trace: TraceCsvStream | None = None
    timebase = ContinuousTime()  # device resets and reconnects: see drivers/timebase.py
    live = _Live()
    t_start = time.monotonic()
    code = EXIT_PASS
    try:
        info = acq.start()
        doc["instrument"] = info
        meta = {"driver": args.driver, "url": args.port, "capture": "capture.vbcap",
                "instrument": info}
        trace = TraceCsvStream(out / trace_name, driver.flow_condition, meta)
        if second:
            second.start()  # its info goes to record.json as source2.instrument
        t_start = time.monotonic()
        flow = paw = math.nan
        while True:
            elapsed = time.monotonic() - t_start
            if stop["why"]:
                doc["status"], doc["reason"], code = "aborted", stop["why"], EXIT_INCONCLUSIVE
                break
            if elapsed >= duration_s:
                doc["status"], doc["reason"] = "completed", "duration reached"
                break
            if args.samples is not None and driver.counters.samples >= args.samples:
                doc["status"], doc["reason"] = "completed", f"{args.samples} samples reached"
                break
            block = acq.get(timeout=min(0.2, max(duration_s - elapsed, 0.001)))
            if block is not None:
                trace.append(timebase.apply(block))
                flow, paw = float(block.flow_lpm[-1]), float(block.paw_cmh2o[-1])
            if second:
                second.pump(elapsed, args.no_data_timeout)
                paw = second.last_paw_cmh2o if "paw_cmh2o" in second.take else paw
            elif acq.finished.is_set() and acq.blocks.empty():
                if acq.error is not None:
                    raise acq.error
                doc["status"], doc["reason"] = "completed", "port ended"
                break
            if driver.counters.samples == 0 and elapsed > args.no_data_timeout:
                acq.capture.flush()
                first = _first_rx_bytes(out / "capture.vbcap", 24)
                raise TransportError(
                    f"nothing intelligible from {args.port} in {args.no_data_timeout:g} s "
                    f"({args.driver} driver): {acq.rx_bytes} bytes received, "
                    f"{driver.counters.rejected_frames} frames rejected, "
                    f"{driver.counters.discarded_bytes} bytes discarded"
                    + (f"; first bytes {first.hex(' ')}" if first else ""))
            live.update(driver.counters, flow, paw)
        live.update(driver.counters, flow, paw, force=True)
    except BenchError as error:
        doc["status"], doc["reason"] = "error", str(error)
        raise
    except OSError as error:
        doc["status"], doc["reason"] = "error", str(error)
        raise
    except Exception as error:  # a bug in a driver: evidence first, then a clear message
        doc["status"], doc["reason"] = "error", f"{type(error).__name__}: {error}"
        raise TransportError(f"recording {args.port} failed: {doc['reason']}") from error
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        try:
            acq.stop()
        finally:
            try:
                if second:
                    second.stop()
            finally:
                while (block := acq.get(timeout=0)) is not None and trace is not None:
                    trace.append(timebase.apply(block))  # the tail read while stopping
                if trace is not None:
                    trace.close()
                live.done()
                doc.update(driver.counters.to_json())
                doc.update(
                    stop_utc=_utc(), elapsed_s=round(time.monotonic() - t_start, 3),
                    disconnects=acq.disconnects, rx_bytes=acq.rx_bytes,
                    trace_rows=trace.rows if trace else 0,
                    time_shifts=timebase.shifts,
                )
                if second:
                    doc["source2"] = second.summary()
                _write_json(out / "record.json", doc)
    if second:
        try:
            doc["alignment"] = second.combine(meta)
        except BenchError as error:
            doc["status"], doc["reason"] = "error", f"combining the two sources: {error}"
            raise
        finally:
            _write_json(out / "record.json", doc)
    c = driver.counters
    print(f"ventbench record: {doc['status']} ({doc.get('reason')}): {c.samples} samples, "
          f"{c.lost_samples} lost, {c.rejected_frames} rejected frames, {len(c.gaps)} gaps, "
          f"{c.resets} resets, {len(acq.disconnects)} disconnects → {out}", file=sys.stderr)
    return code
