"""End to end: ``ventbench simulate`` serving the rig on a real pty, ``ventbench record``.

These run the console commands as subprocesses (``python -m ventbench``), so a pty, two
processes and the whole driver stack are exercised as a bench engineer would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ventbench.analysis.trace import SampleFlag
from ventbench.bench.cli import main
from ventbench.drivers import registry
from ventbench.drivers.capture import read_capture
from ventbench.drivers.importers.trace_csv import read_trace_csv

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def bench(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ventbench", *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


class Simulator:
    """``ventbench simulate`` in a child process; waits until its link exists."""

    def __init__(self, link: Path, *args: str, wait_for_new_target: str | None = None) -> None:
        self.link = link
        self.proc = bench("simulate", "--link", str(link), "--device", "rig", *args)
        deadline = time.monotonic() + 30
        while not link.is_symlink() or (wait_for_new_target is not None
                                         and os.readlink(link) == wait_for_new_target):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"simulate did not start: {self.proc.communicate()}")
            time.sleep(0.05)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, err
        return err


def record(*args: str, timeout: float = 60) -> tuple[int, str, dict]:
    proc = bench("record", "--driver", "rig", *args)
    _, err = proc.communicate(timeout=timeout)
    out = Path(args[args.index("--out") + 1])
    doc = json.loads((out / "record.json").read_text()) if (out / "record.json").exists() else {}
    return proc.returncode, err, doc


def data_rows(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines()
            if line and not line.startswith("#")]


@pytest.mark.slow
def test_60_s_at_1_khz_over_a_pty_without_loss_and_replay_is_identical(tmp_path):
    sim = Simulator(tmp_path / "rig", "--speed", "10", "--seed", "7")
    try:
        code, err, doc = record("--port", str(tmp_path / "rig"), "--samples", "60000",
                                "--duration", "40s", "--out", str(tmp_path / "live"))
    finally:
        sim.stop()
    assert not (tmp_path / "rig").exists(), "simulate left its link behind"
    assert code == 0, err
    assert doc["reason"] == "60000 samples reached", doc  # 60 s of rig data, ~6 s wall
    assert doc["instrument"]["protocol"] == "VBR/1" and doc["instrument"]["rate_hz"] == 1000
    assert (doc["lost_samples"], doc["rejected_frames"], doc["discarded_bytes"],
            doc["gaps"], doc["resets"]) == (0, 0, 0, [], 0)
    trace = read_trace_csv(tmp_path / "live" / "trace.csv")
    assert len(trace) == doc["samples"] and trace.flow_condition.value == "STP20"
    np.testing.assert_allclose(np.diff(trace.t_s), 0.001, atol=1e-9)
    assert not trace.flags.any()
    # replay://capture through the same command and driver gives the same samples
    code = main(["record", "--port", f"replay://{tmp_path / 'live' / 'capture.vbcap'}",
                 "--driver", "rig", "--duration", "10m", "--out", str(tmp_path / "replay")])
    assert code == 0
    rep = json.loads((tmp_path / "replay" / "record.json").read_text())
    assert rep["reason"] == "port ended" and rep["samples"] == doc["samples"]
    assert data_rows(tmp_path / "replay" / "trace.csv") == data_rows(
        tmp_path / "live" / "trace.csv")


@pytest.mark.slow
def test_5_khz_sustained_without_loss(tmp_path):
    sim = Simulator(tmp_path / "rig", "--speed", "1", "--set", "rate_hz=5000")
    try:
        code, err, doc = record("--port", str(tmp_path / "rig"), "--samples", "15000",
                                "--duration", "30s", "--out", str(tmp_path / "r"))
    finally:
        sim.stop()
    assert code == 0, err
    assert doc["instrument"]["rate_hz"] == 5000
    assert doc["reason"] == "15000 samples reached", doc  # 3 s of 5 kHz data
    assert doc["lost_samples"] == 0 and doc["rejected_frames"] == 0 and doc["gaps"] == []


@pytest.mark.slow
def test_unplug_and_replug_gives_disconnect_reconnect_and_a_gap(tmp_path):
    link = tmp_path / "rig"
    first = Simulator(link, "--speed", "1")
    old_target = os.readlink(link)
    proc = bench("record", "--driver", "rig", "--port", str(link), "--duration", "7s",
                 "--out", str(tmp_path / "r"))
    second = None
    try:
        time.sleep(1.5)
        # the replacement device takes the link (it starts slowly: scipy) while the
        # recorder still reads the first one; then the first one's cable is pulled
        second = Simulator(link, "--speed", "1", wait_for_new_target=old_target)
        first.stop()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if first.proc.poll() is None:
            first.stop()
        if second is not None:
            second.stop()
    assert proc.returncode == 0, err
    doc = json.loads((tmp_path / "r" / "record.json").read_text())
    assert len(doc["disconnects"]) == 1 and doc["disconnects"][0]["down_s"] is not None
    _, recs, report = read_capture(tmp_path / "r" / "capture.vbcap")
    assert report.clean
    events = [r.event()["event"] for r in recs if r.kind == "event"]
    assert events.index("disconnect") < events.index("reconnect") < events.index("close")
    # the driver's own flags (validity=False): its first gap is where the unplug was; the
    # validity rules may add gaps where a loaded machine delayed the real-time simulator
    trace = read_trace_csv(tmp_path / "r" / "trace.csv", validity=False)
    gap = np.flatnonzero(trace.flags & SampleFlag.GAP)
    assert gap.size >= 1 and np.all(np.diff(trace.t_s) > 0)
    assert trace.t_s[gap[0]] > trace.t_s[0] + 1.0  # the gap is where the unplug was
    checked = read_trace_csv(tmp_path / "r" / "trace.csv")
    assert set(gap) <= set(np.flatnonzero(checked.flags & SampleFlag.GAP))


def test_faults_injected_by_the_simulated_rig_are_all_counted(tmp_path, monkeypatch):
    """sim:// in process, so the device's own record of what it sent can be compared."""
    devices = []
    make = registry.make_device

    def keep(name, params=None):
        devices.append(make(name, params))
        return devices[-1]

    monkeypatch.setattr(registry, "make_device", keep)
    url = ("sim://rig?speed=max&seed=11&ber=4e-6&drop=4e-6&garbage=5"
           "&stall_at_s=2&stall_s=0.25")
    out = tmp_path / "f"
    code = main(["record", "--port", url, "--driver", "rig", "--duration", "2.5s",
                 "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "record.json").read_text())
    sent = devices[0].sent_samples()
    received = doc["samples"]
    injected_loss = int(sent["corrupted"].sum()) + len(devices[0].device_dropped)
    assert injected_loss > 20 and devices[0].injected["garbage_bursts"] > 5
    # every sample the device meant to send is either received or counted as lost
    # (a corrupted sample after the last good one is not a visible gap)
    last = int(np.flatnonzero(~sent["corrupted"])[-1])
    tail = len(sent["seq"]) - 1 - last
    assert received + doc["lost_samples"] + tail == len(sent["seq"]) + len(
        devices[0].device_dropped)
    assert doc["lost_samples"] == injected_loss - tail
    assert doc["rejected_frames"] > 0 and doc["discarded_bytes"] > 0
    assert sum(g["missing"] for g in doc["gaps"]) == doc["lost_samples"]


def test_device_reset_is_counted(tmp_path):
    out = tmp_path / "r"
    code = main(["record", "--port", "sim://rig?speed=max&reset_at_s=1", "--driver", "rig",
                 "--duration", "1.5s", "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "record.json").read_text())
    assert doc["resets"] == 1 and doc["lost_samples"] == 0
    trace = read_trace_csv(out / "trace.csv")
    assert np.all(np.diff(trace.t_s) > 0)  # the device clock restarted; the trace goes on
    shifted = [s["at_row"] for s in doc["time_shifts"]]
    assert len(shifted) == 1 and trace.flags[shifted[0]] & SampleFlag.RESET


def test_exit_4_when_the_port_is_missing_or_silent(tmp_path, capsys):
    code = main(["record", "--port", str(tmp_path / "nothing"), "--driver", "rig",
                 "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 4 and f"cannot open port {tmp_path / 'nothing'}" in err
    doc = json.loads((tmp_path / "a" / "record.json").read_text())
    assert doc["status"] == "error"
    master, slave = os.openpty()
    try:
        os.write(master, b"garbage, not VBR/1")
        code = main(["record", "--port", os.ttyname(slave), "--driver", "rig",
                     "--out", str(tmp_path / "b")])
    finally:
        os.close(master)
        os.close(slave)
    err = capsys.readouterr().err
    assert code == 4 and "no VBR/1 device on" in err, err
    _, recs, _ = read_capture(tmp_path / "b" / "capture.vbcap")
    assert any(r.kind == "tx" and r.data == b"HELLO\n" for r in recs)
    code = main(["record", "--port", "sim://rig", "--driver", "rig", "--duration", "soon",
                 "--out", str(tmp_path / "c")])
    assert code == 3 and "duration 'soon'" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_with_every_file_written(tmp_path, capsys):
    def interrupt_once_streaming():
        deadline = time.monotonic() + 30
        while not (tmp_path / "r" / "trace.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Thread(target=interrupt_once_streaming)
    timer.start()
    code = main(["record", "--port", "sim://rig?speed=1", "--driver", "rig", "--duration", "1h",
                 "--out", str(tmp_path / "r")])
    timer.join()
    assert code == 2  # aborted (contract), but nothing lost
    doc = json.loads((tmp_path / "r" / "record.json").read_text())
    assert doc["status"] == "aborted" and "SIGINT" in doc["reason"] and doc["stop_utc"]
    trace = read_trace_csv(tmp_path / "r" / "trace.csv")
    assert len(trace) == doc["samples"] > 300
    _, recs, report = read_capture(tmp_path / "r" / "capture.vbcap")
    assert report.clean and recs[-1].event()["event"] == "close"


def test_ports_lists_simulated_devices(capsys):
    assert main(["ports", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    sim = {p["port"]: p["problem"] for p in listed["simulated"]}
    assert sim["sim://rig"] is None and set(sim) >= {"sim://imt", "sim://tsi", "sim://pirds"}


@pytest.mark.slow
def test_a_dead_port_ends_the_record_with_exit_4_and_keeps_what_arrived(tmp_path):
    """Kill the device 2 s into a 30 s record: before the Recorder this printed
    "completed (duration reached)" after 30 s and exited 0."""
    link = tmp_path / "rig"
    device = Simulator(link, "--speed", "1")
    out = tmp_path / "r"
    proc = bench("record", "--driver", "rig", "--port", str(link), "--duration", "30s",
                 "--no-data-timeout", "2", "--out", str(out))
    try:
        deadline = time.monotonic() + 30
        while not (out / "trace.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.0)
        device.proc.kill()  # the device dies: no stop, no goodbye
        device.proc.communicate(timeout=10)
        t_killed = time.monotonic()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - t_killed < 15  # not the 30 s of the duration
    assert proc.returncode == 4, err
    assert f"no data from {link} since " in err, err
    doc = json.loads((out / "record.json").read_text())
    assert doc["status"] == "error" and doc["stop"] == "no_data"
    assert doc["reason"].startswith(f"no data from {link} since ")
    assert doc["reconnect_attempts"] >= 1 and doc["disconnects"][0]["down_s"] is None
    # everything received is on disk: the trace holds every decoded sample, the capture
    # is closed cleanly and the same samples come out of it again
    trace = read_trace_csv(out / "trace.csv")
    assert len(trace) == doc["samples"] == doc["trace_rows"] > 500
    _, recs, report = read_capture(out / "capture.vbcap")
    assert report.clean and recs[-1].event()["event"] == "close"
    assert "no data from" in (out / "console.log").read_text()


@pytest.mark.slow
def test_a_lost_terminal_and_sighup_do_not_stop_a_record(tmp_path):
    """stderr into a pipe that closes and a SIGHUP (a dropped SSH session): the record
    runs to its duration, exits 0, and the lines go on in console.log."""
    out = tmp_path / "r"
    proc = bench("record", "--driver", "rig", "--port", "sim://rig?speed=1", "--duration",
                 "6s", "--out", str(out))
    try:
        deadline = time.monotonic() + 30
        while not (out / "trace.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.stderr.close()  # the reader of stderr is gone: the next line meets EPIPE
        proc.stdout.close()
        time.sleep(0.5)
        proc.send_signal(signal.SIGHUP)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    doc = json.loads((out / "record.json").read_text())
    assert doc["status"] == "completed" and doc["reason"] == "duration reached", doc
    assert doc["elapsed_s"] >= 6.0 and doc["samples"] > 5000
    log = (out / "console.log").read_text()
    assert "SIGHUP: the terminal hung up" in log
    assert "the terminal is gone (BrokenPipeError" in log
    assert "/s  flow" in log  # the progress line that met the closed pipe
    assert "ventbench record: completed (duration reached)" in log


def test_tsi_answering_in_whole_blocks_is_recorded_not_given_up(tmp_path, capsys):
    """sim://tsi sends each binary block only when it is complete: 500 samples at 10 ms
    keep the line silent for 5 s. The no-data limit follows what was requested (the
    driver's expected silence), so a 2 s --no-data-timeout does not end the record."""
    out = tmp_path / "t"
    code = main(["record", "--port", "sim://tsi?speed=1&seed=4", "--driver", "tsi",
                 "--option", "block_samples=500", "--no-data-timeout", "2",
                 "--duration", "6.5s", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "record.json").read_text())
    assert doc["status"] == "completed" and doc["samples"] == 500 and doc["lost_samples"] == 0
    assert len(read_trace_csv(out / "trace.csv")) == 500


def test_a_record_with_no_sample_exits_4_with_a_clear_line(tmp_path, capsys):
    out = tmp_path / "z"
    code = main(["record", "--port", "sim://tsi?speed=1", "--driver", "tsi",
                 "--option", "block_samples=500", "--duration", "2s", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 4
    assert "error (no samples from sim://tsi?speed=1 in 2.0 s (tsi driver:" in err, err
    doc = json.loads((out / "record.json").read_text())
    assert doc["status"] == "error" and doc["samples"] == 0 and doc["stop"] == "no_data"


def test_tsi_default_blocks_give_first_data_within_1_s(tmp_path):
    from ventbench.bench.recorder import Recorder, Source
    from ventbench.bench.recorder_stops import SampleCount
    from ventbench.drivers.transport import Acquisition

    first = []

    class FirstBlock:
        def open(self, info):
            pass

        def write(self, block):
            first.append(time.monotonic())

        def close(self):
            pass

    driver = registry.make_driver("tsi")
    recorder = Recorder([Source(Acquisition("sim://tsi?speed=1", driver, tmp_path / "t.vbcap"),
                                [FirstBlock()], no_data_s=5.0)], [SampleCount(100)])
    result = recorder.run()
    assert result.stop.kind == "samples" and driver.request.n == 50
    assert first[0] - recorder.t_start < 1.0
