"""Reliability runs: duration parsing, the crash-safe store, events, a time-accelerated
simulated run with injected faults (events at the right time, replay identical), and a
SIGKILL of the recording process followed by ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ventbench.bench.history import HISTORY_FILE
from ventbench.bench.live import Live
from ventbench.bench.reliability.analysis import drift, hourly, longest_run
from ventbench.bench.reliability.config import load_reliability
from ventbench.bench.reliability.events import EVENTS_FILE, read_events
from ventbench.bench.reliability.parallel_replay import replay_parallel
from ventbench.bench.reliability.replay import replay_into, replay_session
from ventbench.bench.reliability.runner import ReliabilityRun
from ventbench.bench.reliability.store import RECORD_DTYPE, BreathStore, read_breaths
from ventbench.errors import ConfigError

# The acceptance's fault run: 24 h at 1 kHz, time-accelerated, with every fault the issue
# lists. Times in s: cable pulls are device time, the rig's own faults time since START.
UNPLUG_AT_S = (10800, 46800)  # 3 h and 13 h
UNPLUG_S = 5
STALL_AT_S, STALL_S = 21600, 3  # 6 h
RESET_AT_S = 28800  # 8 h
FAULT_AT_S, FAULT_S = 64800, 60  # 18 h: a sensor fault for a minute
GARBAGE_PER_S = 0.002  # ~170 random-byte bursts
VT_DRIFT_PCT_PER_H = 0.1  # 0.5 mL/h of 500 mL: 12 mL per 24 h
FAULTS = {"unplug_at_s": ",".join(map(str, UNPLUG_AT_S)), "unplug_s": UNPLUG_S,
          "garbage": GARBAGE_PER_S, "reset_at_s": RESET_AT_S, "sensor_fault_at_s": FAULT_AT_S,
          "sensor_fault_duration_s": FAULT_S, "stall_at_s": STALL_AT_S, "stall_s": STALL_S,
          "skip_probability": 0.0005, "vt_drift_pct_per_h": VT_DRIFT_PCT_PER_H}
SEED = 3
DURATION_S = 86400
RATE_HZ = 1000
GAP_S = len(UNPLUG_AT_S) * UNPLUG_S + STALL_S  # unplugged and stalled: samples never sent


def test_config_overrides_and_checks():
    cfg = load_reliability(duration="2h", set_values={"vt_ml": 450}, limits={"vt_ml": "380:520"})
    assert cfg.duration_s == 7200 and cfg.set["vt_ml"] == 450 and cfg.limits["vt_ml"] == (380, 520)
    with pytest.raises(ConfigError, match="does not contain the set value"):
        load_reliability(set_values={"vt_ml": 300})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_reliability(set_values={"vt_l": 0.5})


def _records(n: int, t0: float = 0.0) -> np.ndarray:
    from ventbench.bench.reliability.store import _BODY

    rec = np.zeros(n, RECORD_DTYPE)
    rec["t_start_s"] = t0 + 3.0 * np.arange(n)
    rec["vt_ml"] = 500.0
    import zlib
    raw = rec.view(np.uint8).reshape(n, RECORD_DTYPE.itemsize)
    rec["crc"] = [zlib.crc32(r[:_BODY].tobytes()) for r in raw]
    return rec


def test_store_chunks_torn_tail_and_reopen(tmp_path):
    store = BreathStore(tmp_path, chunk_records=4)
    store.append(_records(10))
    store.close()
    assert len(list(tmp_path.glob("breaths-*.bin"))) == 3
    last = sorted(tmp_path.glob("breaths-*.bin"))[-1]
    with open(last, "ab") as f:  # a torn record (kill -9 mid-write)
        f.write(_records(1, 30.0).tobytes()[:25])
    rec, report = read_breaths(tmp_path)
    assert len(rec) == 10 and report.dropped_bytes == 25
    flipped = bytearray(last.read_bytes())
    flipped[5] ^= 0xFF  # a corrupt record ends the chunk's valid prefix
    last.write_bytes(bytes(flipped))
    rec, report = read_breaths(tmp_path)
    assert len(rec) == 8
    store = BreathStore(tmp_path, chunk_records=4)  # resume: truncated, appended after
    assert store.records == 8 and store.truncated_bytes > 0
    store.append(_records(3, 100.0))
    store.close()
    rec, report = read_breaths(tmp_path)
    assert len(rec) == 11 and report.dropped_bytes == 0
    assert rec["t_start_s"][-1] == 106.0


def test_drift_ci_and_helpers():
    rng = np.random.default_rng(1)
    t = np.arange(0, 86400, 3.0)
    y = 500 + 10 * t / 86400 + rng.normal(0, 2, t.size)
    d = drift(t, y, 20.0)
    lo, hi = d["ci95_per_24h"]
    assert lo < 10 < hi and hi - lo < 1.0 and d["verdict"] == "PASS"
    assert drift(t, y, 5.0)["verdict"] == "FAIL"
    from scipy import stats  # the interval is Student's t as scipy.stats gives it, to the bit

    half = float(stats.t.ppf(0.975, d["n_eff"] - 2))
    assert (hi - lo) / 2 == pytest.approx(half * d["se_per_24h"], rel=1e-5)  # both rounded to 6 digits
    from scipy.special import stdtrit

    nu = np.concatenate([np.linspace(1.0, 1e4, 20001), [1e6, 1e9]])
    assert np.array_equal(stdtrit(nu, 0.975), stats.t.ppf(0.975, nu))
    assert longest_run(np.array([0, 1, 1, 0, 1, 1, 1, 0], bool)) == (3, 4)
    h = hourly(np.array([10.0, 20.0, 3700.0]), {"x": np.array([1.0, 3.0, 5.0])})
    assert h["hour"] == [0, 1] and h["x"]["mean"] == [2.0, 5.0] and h["x"]["max"] == [3.0, 5.0]


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rel")
    query = "&".join(f"{k}={v}" for k, v in FAULTS.items())
    url = f"sim://rig?speed=max&seed={SEED}&rate_hz={RATE_HZ}&{query}"
    config = load_reliability(duration=f"{DURATION_S}s", drift_limits={"vt_ml": 10.0})
    t0 = time.monotonic()
    run = ReliabilityRun(config, url, "rig", sessions_root=root, live=Live(tty=False), render=False)
    code = run.run()
    return run.session.root, code, time.monotonic() - t0


def _first_device_time_s(root) -> float:
    """Device time of the run's first sample (run time 0): the cable-pull times of the
    ``sim://`` handler are device time, the rig's own faults are time since START."""
    from ventbench.drivers.capture import CaptureReader
    from ventbench.drivers.registry import make_driver

    driver = make_driver("rig")
    for rec in CaptureReader(next((root / "points" / "reliability").glob("capture-00-0000.vbcap*"))):
        if rec.kind == "rx" and len(block := driver.feed(rec.data)):
            return float(block.t_s[0])
    raise AssertionError("no sample")


def test_fault_run_events_at_the_right_time(fault_run):
    root, code, wall_s = fault_run
    events = read_events(root / "reliability" / EVENTS_FILE)
    t0 = _first_device_time_s(root)
    disc = [e for e in events if e["kind"] == "disconnect"]
    back = [e for e in events if e["kind"] == "reconnect"]
    # each pull: the last sample is the one at the pull time, the first one after it comes
    # one interval after the cable is back
    assert [e["t_s"] for e in disc] == pytest.approx([t - t0 for t in UNPLUG_AT_S], abs=1e-3)
    assert [e["t_s"] for e in back] == pytest.approx(
        [t + UNPLUG_S - t0 + 1 / RATE_HZ for t in UNPLUG_AT_S], abs=1e-3)
    (stall,) = [e for e in events if e["kind"] == "data_stall"]
    assert stall["t_s"] == pytest.approx(STALL_AT_S, abs=0.05)
    assert stall["duration_s"] == pytest.approx(STALL_S, abs=0.02)
    (reset,) = [e for e in events if e["kind"] == "device_reset"]
    assert reset["t_s"] == pytest.approx(RESET_AT_S, abs=0.01)
    (fault,) = [e for e in events if e["kind"] == "sensor_fault"]
    assert fault["t_s"] == pytest.approx(FAULT_AT_S, abs=0.01)
    assert fault["duration_s"] == pytest.approx(FAULT_S, abs=0.01)
    missed = [e for e in events if e["kind"] == "missed_breath"]
    assert 3 <= len(missed) <= 40  # p = 0.0005 of ~28 800 breaths
    assert all(e["interval_s"] == pytest.approx(6.0, abs=0.05) for e in missed)
    # no event for what the data could not show: nothing missed inside a gap or fault
    blind = [(d["t_s"], b["t_s"] + 3) for d, b in zip(disc, back, strict=True)]
    blind += [(STALL_AT_S, STALL_AT_S + STALL_S + 3), (FAULT_AT_S, FAULT_AT_S + FAULT_S + 3)]
    assert not [e for e in missed if any(a <= e["t_s"] <= b for a, b in blind)]
    doc = json.loads((root / "results.json").read_text())["reliability"]
    assert doc["breaths"]["missed"] == sum(e["n_missed"] for e in missed)
    assert doc["data_gap_s"] == pytest.approx(GAP_S, abs=0.02)
    assert doc["uptime_pct"] == pytest.approx(100 * (1 - GAP_S / DURATION_S), abs=0.001)
    # 0.1 %/h of 500 mL = 12 mL/24 h set on the ventilator, against a 10 mL limit (the
    # simulated sensor is noise-free here, so the interval is narrow)
    vt = doc["drift"]["vt_ml"]
    lo, hi = vt["ci95_per_24h"]
    assert vt["slope_per_24h"] == pytest.approx(12.0, abs=0.05) and lo <= vt["slope_per_24h"] <= hi
    assert vt["verdict"] == "FAIL"
    assert doc["drift"]["peep_cmh2o"]["verdict"] == "PASS"
    lo, hi = doc["drift"]["rate_bpm"]["ci95_per_24h"]  # the rate does not drift
    assert lo < 0.0 < hi
    assert doc["verdict"] == "FAIL" and code == 1
    assert len(doc["hourly"]["hour"]) == 24
    print(f"{DURATION_S} s simulated at {RATE_HZ} Hz in {wall_s:.1f} s wall")


def test_fault_run_finds_every_garbage_burst(fault_run):
    """Every random-byte burst the rig put on the line is an event at the first sample after
    it, with exactly the bytes injected there (and no other bytes discarded)."""
    from ventbench.drivers.sim.line_faults import garbage_schedule

    root, _, _ = fault_run
    events = read_events(root / "reliability" / EVENTS_FILE)
    t0 = _first_device_time_s(root)
    (stall,) = [e for e in events if e["kind"] == "data_stall"]
    expected: dict[float, int] = {}  # run time of the sample after the burst -> bytes
    for t_us, junk in garbage_schedule(SEED, GARBAGE_PER_S):
        t_sample = -(-t_us // 1000) / 1000 - t0  # the first sample at or after the burst
        if t_sample >= DURATION_S:
            break
        if any(t - t0 < t_sample <= t + UNPLUG_S - t0 for t in UNPLUG_AT_S):
            continue  # sent while the cable was out: lost
        if stall["t_s"] < t_sample < stall["t_end_s"]:  # that sample was never sent
            t_sample = stall["t_end_s"]
        key = round(t_sample, 3)
        expected[key] = expected.get(key, 0) + len(junk)
    found = {e["t_s"]: e["discarded_bytes"] for e in events if e["kind"] == "corrupt_data"}
    assert len(expected) > 100
    assert sorted(found) == pytest.approx(sorted(expected), abs=1.5e-3)
    assert [found[t] for t in sorted(found)] == [expected[t] for t in sorted(expected)]


def test_fault_run_counts_no_sample_twice(fault_run):
    root, _, _ = fault_run
    rec, report = read_breaths(root / "reliability")
    assert report.dropped_bytes == 0 and np.all(np.diff(rec["t_start_s"]) > 0)
    events = read_events(root / "reliability" / EVENTS_FILE)
    samples = sum(e["samples"] for e in events if e["kind"] == "segment_end")
    expected = (DURATION_S - GAP_S) * RATE_HZ
    assert abs(samples - expected) <= 5  # the samples at the gaps' edges


def test_fault_run_results_follow_the_contract(fault_run):
    """results.json's top level as DESIGN.md has it: software, source (every capture part
    with its SHA-256), gas (the rig's STP20 flow brought to BTPS by one stated factor)."""
    import hashlib

    from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor

    root, _, _ = fault_run
    doc = json.loads((root / "results.json").read_text())
    assert [k for k in doc if k != "device_identity"] == [
        "schema", "software", "source", "gas", "reliability", "points", "verdict",
        "instruments", "environment"]  # the evidence blocks (reliability/evidence.py)
    # this run names no device: recorded, and no PASS could stand on it (bench/identity.py)
    assert doc["device_identity"]["problem"] == "device not identified: no model, serial, firmware"
    files = doc["source"]["files"]
    parts = sorted((root / "points" / "reliability").glob("*.vbcap*"))
    assert [f["path"] for f in files] == [p.relative_to(root).as_posix() for p in parts]
    assert files[-1]["sha256"] == hashlib.sha256(parts[-1].read_bytes()).hexdigest()
    gas = doc["gas"]
    assert gas["flow_condition"] == "STP20" and gas["analysis_condition"] == "BTPS"
    assert gas["btps_factor"] == pytest.approx(
        conversion_factor(GasCondition.STP20, GasCondition.BTPS, Ambient()), abs=1e-9)


def test_fault_run_replay_identical(fault_run):
    root, _, _ = fault_run
    assert replay_session(root) == []


def _files(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_fault_run_parallel_replay_is_the_single_pass(fault_run, tmp_path):
    # cable pulls (capture events), a device reset, a sensor fault, garbage: across spans
    root, _, _ = fault_run
    one, two = tmp_path / "one", tmp_path / "two"
    replay_into(root, one, 1)
    counts = replay_parallel(root, two, 2, span_bytes=64 << 20)
    assert counts["fallbacks"] == 0 and counts["spans"] > 10
    assert _files(two) == _files(one)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ventbench", "run", "reliability", *args]


def test_sigkill_then_resume(tmp_path):
    url = "sim://rig?speed=max&seed=5&rate_hz=200"
    args = ["--port", url, "--driver", "rig", "--duration", "20m", "--out", str(tmp_path),
            "--no-report", "--no-history"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            chunks = list(tmp_path.glob("*/reliability/breaths-*.bin"))
            if chunks and chunks[0].stat().st_size >= 120 * RECORD_DTYPE.itemsize:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    (session,) = tmp_path.iterdir()
    assert not (session / "stop.json").exists()
    killed, report = read_breaths(session / "reliability")
    assert 120 <= len(killed) < 390  # killed mid-run
    from ventbench.bench.cli import main as cli_main

    assert cli_main(["verify", str(session)]) == 2  # consistent, but incomplete
    assert replay_session(session) == []  # what was stored is a prefix of the replay
    out = subprocess.run(_cli("--port", url, "--driver", "rig", "--resume", str(session),
                              "--no-report", "--no-history"),
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode in (0, 1, 2), out.stderr
    rec, _ = read_breaths(session / "reliability")
    assert rec[: len(killed)].tobytes() == killed.tobytes()  # what was there is kept
    assert np.all(np.diff(rec["t_start_s"]) > 0) and rec["t_end_s"][-1] > 20 * 60 - 10
    events = read_events(session / "reliability" / EVENTS_FILE)
    starts = [e for e in events if e["kind"] == "segment_start"]
    assert [e["segment"] for e in starts] == [0, 1]
    assert starts[1]["cause"] == "killed: no stop record" and starts[1]["gap_s"] >= 0
    stop = json.loads((session / "stop.json").read_text())
    assert stop["status"] == "completed"
    doc = json.loads((session / "results.json").read_text())["reliability"]
    assert doc["segments"] == 2 and any("without data" in r for r in doc["reasons"])
    assert replay_session(session) == []  # the killed segment: what was stored is a prefix
    one, two = tmp_path / "one", tmp_path / "two"  # two capture segments, replayed in parallel
    replay_into(session, one, 1)
    assert replay_into(session, two, 2)["segments"] == 2
    assert _files(two) == _files(one)
    assert stop["report"] == "not rendered: --no-report"
    assert not (tmp_path / HISTORY_FILE).exists()  # --no-history


def test_report_of_the_24_h_run_shows_uptime_missed_breaths_and_drift(fault_run, tmp_path):
    pytest.importorskip("pypdf")
    from ventbench.bench.report import render
    from ventbench.bench.report.i18n import Messages

    root, _, _ = fault_run
    pdf = render(root, out=tmp_path / "report.pdf")
    from tests.bench.pdf_text import pdf_pages

    pages = pdf_pages(pdf)
    block = json.loads((root / "results.json").read_text())["reliability"]
    m = Messages("en")
    summary = next(p for p in pages if "2. Reliability run" in p)
    assert f"Uptime (data) {m.num(block['uptime_pct'], 4)} %" in summary
    assert f"Missed breaths {block['breaths']['missed']}" in summary
    vt = block["drift"]["vt_ml"]
    assert f"{m.sig(vt['slope_per_24h'])} [{m.sig(vt['ci95_per_24h'][0])}, " in summary
    assert "✗ Does not conform" in pages[0] and all(r in pages[0] for r in block["reasons"])
    assert len(pages) <= 25  # ~200 events: the table fits in a few pages


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_sigkill_in_real_time_loses_at_most_one_second(tmp_path):
    """kill -9 of a live run receiving a real pty at 1 kHz: every byte the process had read
    up to 1 s before the kill is in the capture (records carry the host's monotonic read
    time, the same clock as ours)."""
    from ventbench.drivers.capture import CaptureReader

    link = tmp_path / "rig"
    server = subprocess.Popen([sys.executable, "-m", "ventbench", "simulate", "--link", str(link),
                               "--device", "rig", "--speed", "1", "--set", "rate_hz=1000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not link.exists():
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()
            time.sleep(0.05)
        out = tmp_path / "s"
        proc = subprocess.Popen(_cli("--port", str(link), "--driver", "rig", "--duration", "10m",
                                     "--out", str(out), "--no-report", "--no-history", "--yes"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not list(out.glob("*/points/reliability/*.vbcap")) or sum(
                p.stat().st_size for p in out.glob("*/points/reliability/*.vbcap")) < 100_000:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(1.37)  # mid-way between two flushes, whatever the phase
        t_kill_ns = time.monotonic_ns()
        proc.kill()
        proc.wait(timeout=10)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    (capture,) = out.glob("*/points/reliability/*.vbcap")
    rx = [r for r in CaptureReader(capture) if r.kind == "rx"]
    assert sum(len(r.data) for r in rx) > 100_000
    lost_s = (t_kill_ns - rx[-1].t_ns) / 1e9
    assert 0 <= lost_s <= 1.0, f"the last {lost_s:.3f} s before the kill are not on disk"


def test_disk_full_closes_the_session_cleanly(tmp_path, monkeypatch):
    import errno

    from ventbench.bench.reliability import store as store_mod

    real_write = os.write
    state = {"n": 0}

    def write(fd, data):  # the breath store's 40th record finds the disk full
        if len(data) == RECORD_DTYPE.itemsize:
            state["n"] += 1
            if state["n"] >= 40:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(store_mod.os, "write", write)
    config = load_reliability(duration="10m")
    run = ReliabilityRun(config, "sim://rig?speed=max&seed=2&rate_hz=200", "rig",
                         sessions_root=tmp_path, live=Live(tty=False), render=False)
    assert run.run() == 4
    stop = json.loads((run.session.root / "stop.json").read_text())
    assert stop["status"] == "failed" and "disk full" in stop["reason"]
    assert "breaths-000000.bin" in stop["reason"]
    rec, report = read_breaths(run.session.root / "reliability")
    assert len(rec) == 39 and report.dropped_bytes == 0


def test_a_silent_device_ends_the_run_with_exit_4_and_a_resumable_session(tmp_path):
    """The rig stops sending 2 s into a real-time run: after the no-data limit the run
    ends failed (exit 4) with the port and the time of the last sample, not at its
    duration; the console lines are in the session's console.log."""
    import dataclasses

    config = dataclasses.replace(load_reliability(duration="1h"), no_data_s=1.5,
                                 status_interval_s=0.2)
    run = ReliabilityRun(config, "sim://rig?speed=1&rate_hz=100&stall_at_s=2&stall_s=10000",
                         "rig", sessions_root=tmp_path, live=Live(tty=False), render=False,
                         history=False)
    t0 = time.monotonic()
    assert run.run() == 4
    assert time.monotonic() - t0 < 20
    root = run.session.root
    stop = json.loads((root / "stop.json").read_text())
    assert stop["status"] == "failed" and stop["exit_status"] == 4
    assert stop["reason"].startswith("no data from sim://rig?") and " since " in stop["reason"]
    assert "console.log" not in stop["files"]
    assert "session failed: no data from" in (root / "console.log").read_text()
