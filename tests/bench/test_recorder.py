"""The one acquisition loop (bench/recorder.py): stops, sinks, the no-data limit, run points.

In process against ``sim://`` devices (the whole transport and driver stack, no pty); the
end-to-end runs of ``record`` with a real pty are in test_record_cli.py.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from ventbench.bench.console import Console
from ventbench.bench.live import Live
from ventbench.bench.recorder import Recorder, Source
from ventbench.bench.recorder_sinks import TraceSink
from ventbench.bench.recorder_stops import Duration, SampleCount, Signals, Stop
from ventbench.bench.recording import Limits
from ventbench.bench.session import read_json
from ventbench.drivers.capture import read_capture
from ventbench.drivers.importers.trace_csv import read_trace_csv
from ventbench.drivers.registry import make_driver
from ventbench.drivers.transport import Acquisition

ROOT = Path(__file__).resolve().parents[2]


def source(tmp_path: Path, url: str, name: str = "rig", **kw) -> Source:
    driver = make_driver(name)
    acq = Acquisition(url, driver, tmp_path / f"{name}.vbcap")
    sink = TraceSink(tmp_path / f"{name}.csv", driver, {"url": url})
    return Source(acq, [sink], **kw)


def test_sample_count_stops_and_the_trace_holds_every_decoded_sample(tmp_path):
    src = source(tmp_path, "sim://rig?speed=max&seed=3", no_data_s=5.0)
    result = Recorder([src], [SampleCount(3000), Duration(60)]).run()
    assert result.stop == Stop("samples", "3000 samples reached")
    assert result.stop.status == "completed" and result.stop.exit_code is None
    trace = read_trace_csv(tmp_path / "rig.csv")
    assert len(trace) == src.samples >= 3000  # the tail read while stopping is kept too
    _, recs, report = read_capture(tmp_path / "rig.vbcap")
    assert report.clean and recs[-1].event()["event"] == "close"


def test_a_silent_device_is_no_data_with_exit_4(tmp_path):
    # the rig stalls 1 s in and sends nothing for 100 s (samples dropped on the device)
    src = source(tmp_path, "sim://rig?speed=1&stall_at_s=1&stall_s=100", no_data_s=1.0)
    t0 = time.monotonic()
    result = Recorder([src], [Duration(30)]).run()
    assert time.monotonic() - t0 < 10
    stop = result.stop
    assert stop.kind == "no_data" and stop.status == "error" and stop.exit_code == 4
    assert stop.reason.startswith("no data from sim://rig?") and " since 20" in stop.reason
    assert src.samples > 100 and len(read_trace_csv(tmp_path / "rig.csv")) == src.samples


class _FullDisk:
    path = Path("/mnt/full/trace.csv")

    def open(self, info):
        pass

    def write(self, block):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        pass


def test_a_full_disk_names_the_file_and_the_capture_is_closed(tmp_path):
    driver = make_driver("rig")
    acq = Acquisition("sim://rig?speed=max", driver, tmp_path / "c.vbcap")
    result = Recorder([Source(acq, [_FullDisk()], no_data_s=5.0)], [Duration(30)]).run()
    assert result.stop.kind == "write" and result.stop.exit_code == 4
    assert result.stop.reason == "disk full: /mnt/full/trace.csv: No space left on device"
    assert read_capture(tmp_path / "c.vbcap")[2].clean


def test_sigterm_aborts_with_exit_2_and_sighup_is_only_noted(tmp_path):
    console = Console(stream=open(os.devnull, "w"), log_path=tmp_path / "console.log")  # noqa: SIM115
    src = source(tmp_path, "sim://rig?speed=1", no_data_s=5.0)

    def signals():
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    sender = threading.Thread(target=signals)
    sender.start()
    result = Recorder([src], [Duration(30), Signals(console.note)]).run()
    sender.join()
    console.close()
    try:
        assert result.stop == Stop("signal", "interrupted (SIGTERM)")
        assert result.stop.status == "aborted" and result.stop.exit_code == 2
        assert signal.getsignal(signal.SIGTERM) is before  # restored
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN  # the terminal is gone
        assert "SIGHUP: the terminal hung up" in (tmp_path / "console.log").read_text()
    finally:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_no_data_limit_never_shorter_than_the_drivers_longest_silence(tmp_path):
    # 1000 samples at 10 ms: a meter answering in whole blocks is silent for 10 s
    slow = make_driver("tsi", block_samples=1000)
    acq = Acquisition("sim://tsi", slow, tmp_path / "t.vbcap")
    assert Source(acq, no_data_s=5.0).no_data_s >= 15.0
    assert Source(acq, no_data_s=60.0).no_data_s == 60.0
    fast = make_driver("rig")
    assert Source(Acquisition("sim://rig", fast, tmp_path / "r.vbcap"), no_data_s=5.0).no_data_s == 5.0


def test_a_dead_port_ends_a_run_point_and_the_session_with_exit_4(tmp_path, capsys):
    from ventbench.analysis.gas import Ambient
    from ventbench.bench.commands.run import analysis_config, make_plan
    from ventbench.bench.operator import AutomatedOperator, Prototype
    from ventbench.bench.protocol import load_protocol
    from ventbench.bench.runner import Runner

    protocol = load_protocol("iso80601-2-12-vc").select(ids=["vc-01"])
    plan = make_plan(protocol, port="sim://rig?speed=1&rate_hz=100&stall_at_s=2&stall_s=1000",
                     driver="rig", operator=AutomatedOperator(Prototype()),
                     config=analysis_config(protocol, None, Ambient(), 2, 4),
                     sessions_root=tmp_path, index_history=False, render_report=False)
    plan.limits = Limits(no_data_timeout_s=1.5)
    code = Runner(plan, Live(tty=False)).run()
    err = capsys.readouterr().err
    assert code == 4
    assert "ventbench run: point vc-01: no data from sim://rig?" in err and " since " in err
    session = next(p for p in tmp_path.iterdir() if p.is_dir())
    stop = read_json(session / "stop.json")
    assert stop["status"] == "failed" and "no data from" in stop["reason"]
    point = read_json(session / "points" / "vc-01" / "point.json")
    assert point["status"] == "interrupted" and point["incomplete"] is True
    # the console log is kept beside the records and is not among the hashed files
    assert "no data from" in (session / "console.log").read_text()
    assert "console.log" not in stop["files"]


@pytest.mark.parametrize("failure", [BrokenPipeError(32, "Broken pipe"), ValueError("closed")])
def test_console_survives_its_terminal(tmp_path, failure):
    class Dead:
        def write(self, text):
            raise failure

        def flush(self):
            pass

        def isatty(self):
            return True

    console = Console(Dead())
    console.line("before the log")  # kept until a log is attached
    console.attach(tmp_path / "console.log")
    console.write("\r12 samples\x1b[K")  # a redrawn progress line: logged (first one)
    console.write("\r13 samples\x1b[K")  # … but not every redraw
    console.line("")  # the last progress line stays on the terminal: logged
    console.line("\x1b[32mok\x1b[0m done")
    console.close()
    lines = [line.split(" ", 1)[1] for line in
             (tmp_path / "console.log").read_text().splitlines()]
    assert lines[0].startswith("[console] the terminal is gone") and lines[1] == "before the log"
    assert lines[2:] == ["12 samples", "13 samples", "ok done"]
    assert console.lost and not console.isatty()
