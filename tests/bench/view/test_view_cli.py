"""The view's flags on the commands: warnings, usage errors, serving after the end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request


def _ventbench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ventbench", *args], text=True,
                          capture_output=True, timeout=timeout)


def test_bad_speed_and_unbindable_address_are_usage_errors(tmp_path):
    proc = _ventbench("demo", "--view", "--speed", "fast", "--out", str(tmp_path))
    assert proc.returncode == 3 and "--speed" in proc.stderr and "Traceback" not in proc.stderr
    proc = _ventbench("record", "--port", "sim://rig?speed=max", "--driver", "rig",
                      "--duration", "1s", "--view-bind", "203.0.113.7", "--out", str(tmp_path / "r"))
    assert proc.returncode == 3 and "cannot serve on 203.0.113.7" in proc.stderr
    assert "warning: --view-bind 203.0.113.7" in proc.stderr
    proc = _ventbench("run", "reliability", "--port", "sim://rig", "--driver", "rig",
                      "--duration", "1m", "--view", "--out", str(tmp_path / "s"))
    assert proc.returncode == 3 and "--view is not available on run reliability" in proc.stderr


def test_record_with_view_on_another_bind_warns_serves_after_the_end_and_stops_on_ctrl_c(tmp_path):
    out = tmp_path / "rec"
    proc = subprocess.Popen([sys.executable, "-m", "ventbench", "record", "--port",
                             "sim://rig?speed=4", "--driver", "rig", "--duration", "8s",
                             "--view-bind", "0.0.0.0", "--out", str(out)],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines.append(proc.stderr.readline())
        if "session ended" in lines[-1]:
            break
    text = "".join(lines)
    assert "warning: --view-bind 0.0.0.0" in text and "session ended" in text
    url = next(x for x in lines if x.startswith("live view: ")).split()[-1]
    port = url.split(":")[2].split("/")[0]
    frame = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/window?span=60&cols=100"))
    record = json.loads((out / "record.json").read_text())
    # the page still shows the whole record after it ended, from the same counters
    assert frame["state"]["status"] == "ended" and record["status"] == "completed"
    assert frame["state"]["counters"]["samples"] == record["samples"] > 1000
    assert frame["state"]["counters"]["reconnects"] == len(record["disconnects"])
    assert len(frame["marks"]) >= 2  # the breath stream's marks
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    proc.stdout.close()
    proc.stderr.close()


def test_replay_plays_every_captured_sample_to_the_page(tmp_path):
    from pathlib import Path

    session = Path(__file__).resolve().parents[3] / "fixtures" / "sessions" / "demo-pass"
    proc = subprocess.Popen([sys.executable, "-m", "ventbench", "replay", str(session),
                             "--view", "--speed", "max"],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines.append(proc.stderr.readline())
        if "session ended" in lines[-1]:
            break
    url = next(x for x in lines if x.startswith("live view: ")).split()[-1]
    base = url.split("?")[0]
    frame = json.load(urllib.request.urlopen(f"{base}api/window?span=3600&cols=2000"))
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    points = sorted((session / "points").iterdir())
    recorded = [json.loads((p / "point.json").read_text()) for p in points]
    results = json.loads((session / "results.json").read_text())
    assert proc.returncode == 0 and "identical to the recorded results" in out
    # every decoded sample of every point reached the page, the last point's counters shown
    assert frame["state"]["status"] == "ended"
    assert frame["state"]["counters"]["samples"] == recorded[-1]["counters"]["samples"]
    assert frame["state"]["protocol"]["id"] == recorded[-1]["id"]
    n_breaths = sum(len(p["breaths"]) for p in results["points"])
    assert n_breaths - len(points) <= len(frame["marks"]) <= n_breaths + len(points)
    span = frame["t_last_s"] - frame["t_first_s"]
    rate_hz = json.loads((session / "start.json").read_text())["port"]["driver_options"]["rate_hz"]
    expected_s = sum(r["counters"]["samples"] for r in recorded) / rate_hz
    assert abs(span - expected_s) < len(points) * 1.5  # 1 s between points
