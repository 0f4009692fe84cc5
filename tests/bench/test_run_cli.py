"""``ventbench run`` end to end through subprocess: scripted operator, abort, redo, Ctrl-C,
kill -9, a real pseudo-terminal from ``ventbench simulate``, and the exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: A fast simulated rig: 100 Hz, device time as fast as it is read.
SIM = "sim://rig?speed=max&step_ms=2000"
#: The device identified (model, serial, firmware): without it no point can PASS (issue 14).
IDENTITY = ["--device-serial", "P2-0001", "--firmware", "0.9"]
FAST = ["--option", "rate_hz=100", "--settle", "2", "--measure", "4", "--no-history",
        "--no-report", *IDENTITY]


def ventbench(*args: str, stdin: str | None = None, timeout: float = 60, cwd: Path | None = None
              ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ventbench", *args], input=stdin, text=True,
                          capture_output=True, timeout=timeout, cwd=cwd)


def only_session(root: Path) -> Path:
    sessions = [p for p in root.iterdir() if p.is_dir()]
    assert len(sessions) == 1, sessions
    return sessions[0]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_scripted_operator_note_go_redo_skip_abort(tmp_path):
    # vc-01: a note, go; at vc-02: redo vc-01, go again; vc-02: skip; vc-03: a note, abort
    answers = "PEEP valve replaced\n\nr\n\ns\nno blender today\na\n"
    proc = ventbench("run", "iso80601-2-12-vc", "--port", SIM, "--driver", "rig", *FAST,
                     "--point", "vc-01", "--point", "vc-02", "--point", "vc-03",
                     "--operator", "ana", "--dut", "P2", "--lab", "BBPT Serpong",
                     "--out", str(tmp_path), stdin=answers)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    session = only_session(tmp_path)
    assert "Set up as above" in proc.stdout and "note recorded: PEEP valve replaced" in proc.stdout
    assert "vt_ml=500" in proc.stdout and "c_ml_per_hpa=50" in proc.stdout
    stop = load(session / "stop.json")
    assert stop["status"] == "aborted" and stop["exit_status"] == 2
    assert "aborted by the operator before point vc-03" in stop["reason"]
    results = load(session / "results.json")
    verdicts = {p["id"]: p["verdict"] for p in results["points"]}
    assert verdicts["vc-01"] in ("PASS", "FAIL")
    assert verdicts["vc-02"] == verdicts["vc-03"] == "NOT TESTED"
    first = results["points"][0]
    assert len([b for b in first["breaths"] if b["measured"]]) == 4
    start = load(session / "start.json")
    assert start["operator"]["name"] == "ana" and start["dut"]["name"] == "P2"
    assert start["lab"] == "BBPT Serpong"
    assert start["protocol"]["sha256"] and len(start["protocol"]["points"]) == 3
    assert (session / "points" / "vc-01" / "capture.vbcap").stat().st_size > 10_000
    assert (session / "points" / "vc-01.attempt1" / "capture.vbcap").exists()  # evidence kept
    assert (session / "points" / "vc-01" / "trace.csv").read_text().startswith("# ventbench-trace: 1")
    assert 'skipped' in (session / "junit.xml").read_text()
    assert set(stop["files"]) >= {"start.json", "results.json", "junit.xml",
                                  "points/vc-01/capture.vbcap", "points/vc-01/trace.csv"}
    assert results["points"][2]["operator_notes"] == ["no blender today"]
    check = ventbench("verify", str(session))
    assert check.returncode == 0, check.stdout  # hashes and re-analysis all match


def test_terminal_operator_answers_and_end_of_input():
    import io

    from ventbench.bench.operator import Decision, TerminalOperator

    out = io.StringIO()
    operator = TerminalOperator("ana", io.StringIO("r\nleak at the Y-piece\n  S \n"), out)
    answer = operator.ask(None, 1, 3, can_redo=False)
    assert answer.decision is Decision.SKIP and answer.notes == ("leak at the Y-piece",)
    assert "nothing to redo yet" in out.getvalue()
    assert operator.ask(None, 2, 3, can_redo=True).decision is Decision.ABORT  # end of input
    assert "input closed" in operator.ask(None, 2, 3, True).reason


def _start_auto_session(root: Path, *points: str) -> subprocess.Popen:
    # speed 30: a point takes a few seconds of wall time, so a signal lands mid-point
    args = [sys.executable, "-m", "ventbench", "run", "iso80601-2-12-vc", "--port",
            "sim://rig?speed=30", "--driver", "rig", "--operator-mode", "auto", "--option",
            "rate_hz=100", "--no-history", "--no-report", "--out", str(root)]
    for point in points:
        args += ["--point", point]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_capture(root: Path, proc: subprocess.Popen, timeout_s: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = list(root.glob("*/points/*/capture.vbcap"))
        if found and found[0].stat().st_size > 20_000:
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no capture appeared")


def test_ctrl_c_and_kill_9_mid_point_leave_replayable_sessions(tmp_path):
    interrupted = _start_auto_session(tmp_path / "int", "vc-01", "vc-02")
    killed = _start_auto_session(tmp_path / "kill", "vc-01")
    _wait_for_capture(tmp_path / "int", interrupted)
    _wait_for_capture(tmp_path / "kill", killed)
    time.sleep(1.5)  # > 1 s: the capture writer fsyncs at least every second
    interrupted.send_signal(signal.SIGINT)
    killed.kill()
    out, err = interrupted.communicate(timeout=30)
    killed.communicate(timeout=10)

    # Ctrl-C: exit 2, a stop record, the point cut short analysed and marked incomplete
    assert interrupted.returncode == 2, out + err
    assert "Traceback" not in err
    session = only_session(tmp_path / "int")
    stop = load(session / "stop.json")
    assert stop["status"] == "interrupted"
    assert load(session / "points" / "vc-01" / "point.json")["status"] == "interrupted"
    results = load(session / "results.json")
    first = results["points"][0]
    assert first["incomplete"] is True and first["verdict"] != "PASS"
    assert results["points"][1]["verdict"] == "NOT TESTED"
    replay = ventbench("replay", str(session))
    assert replay.returncode == 2 and "identical" in replay.stdout, replay.stdout

    # kill -9: no stop record; verify says so (exit 2), replay marks the point incomplete
    session = only_session(tmp_path / "kill")
    assert not (session / "stop.json").exists()
    verify = ventbench("verify", str(session))
    assert verify.returncode == 2, verify.stdout + verify.stderr
    assert "aborted: no stop record" in verify.stdout and "Traceback" not in verify.stderr
    replay = ventbench("replay", str(session))
    assert "point vc-01: incomplete" in replay.stdout, replay.stdout + replay.stderr
    assert replay.returncode == 2 and "Traceback" not in replay.stderr


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_run_over_a_real_pty_from_ventbench_simulate(tmp_path):
    link = tmp_path / "rig"
    server = subprocess.Popen(
        [sys.executable, "-m", "ventbench", "simulate", "--link", str(link), "--device", "rig",
         "--speed", "40", "--set", "rate_hz=100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not link.exists():
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()
            time.sleep(0.05)
        proc = ventbench("run", "iso80601-2-12-vc", "--port", str(link), "--driver", "rig",
                         "--settle", "2", "--measure", "4", "--no-history", "--no-report",
                         "--point", "vc-01", "--dut", "P2", *IDENTITY,
                         "--out", str(tmp_path / "s"), stdin="\n")
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        session = only_session(tmp_path / "s")
        assert load(session / "stop.json")["status"] == "completed"
        instruments = load(session / "instruments.json")["instruments"]
        assert any(info.get("protocol") == "VBR/1" for info in instruments.values())
        replay = ventbench("replay", str(session))
        assert "identical" in replay.stdout, replay.stdout + replay.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "no-such-protocol", "--port", SIM, "--driver", "rig"], 3, "no-such-protocol"),
        (["run", "iso80601-2-12-vc", "--port", SIM, "--driver", "nope"], 3, "no driver 'nope'"),
        (["run", "iso80601-2-12-vc", "--port", SIM, "--driver", "rig", "--group", "x"], 3,
         "unknown group"),
        (["run", "iso80601-2-12-vc"], 3, "required"),
        (["verify", "/nonexistent/session"], 3, "not a session directory"),
    ],
)
def test_usage_errors_exit_3_with_one_line(tmp_path, args, code, message):
    proc = ventbench(*args, "--out", str(tmp_path)) if args[0] == "run" else ventbench(*args)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())  # nothing written before the configuration is valid


def test_dead_port_exits_4_and_still_writes_the_stop_record(tmp_path):
    proc = ventbench("run", "iso80601-2-12-vc", "--port", str(tmp_path / "no-such-tty"),
                     "--driver", "rig", "--point", "vc-01", "--no-history", "--no-report",
                     "--out", str(tmp_path / "s"), stdin="\n")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    session = only_session(tmp_path / "s")
    stop = load(session / "stop.json")
    assert stop["status"] == "failed" and "cannot open port" in stop["reason"]
    assert stop["exit_status"] == 4


def test_device_reset_stall_and_sensor_fault_make_the_point_inconclusive_never_pass(tmp_path):
    url = SIM + "&reset_at_s=8&stall_s=0.5&stall_at_s=14&sensor_fault_at_s=17"
    proc = ventbench("run", "iso80601-2-12-vc", "--port", url, "--driver", "rig",
                     "--operator-mode", "auto", "--option", "rate_hz=100", "--settle", "2",
                     "--measure", "6", "--point", "vc-01", "--no-history", "--no-report",
                     "--out", str(tmp_path))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr
    session = only_session(tmp_path)
    point = load(session / "results.json")["points"][0]
    assert point["verdict"] == "INCONCLUSIVE" and "flagged samples" in point["reason"]
    assert load(session / "stop.json")["status"] == "completed"
    replay = ventbench("replay", str(session))
    assert replay.returncode == 2 and "identical" in replay.stdout
