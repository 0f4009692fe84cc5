"""Oxygen over a reliability run: the O2 flow channel of ``sim://cpap`` integrated against the
simulator's closed-form truth, "not measured" (never 0) without the channel, the same events
whatever the chunking, and the report's line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ventbench.bench.live import Live
from ventbench.bench.reliability.config import load_reliability
from ventbench.bench.reliability.oxygen import OxygenMeter, oxygen_block
from ventbench.bench.reliability.runner import ReliabilityRun
from ventbench.drivers.sim.cpap import AIR_O2_PCT, CpapSettings

FLOW, FIO2 = 40.0, 60.0


def _truth_l(t0: float, t1: float) -> float:
    """∫ O2 flow dt (L) of the simulated generator, device time t0 … t1 (s)."""
    tau = CpapSettings().tau_gen_s
    o2 = FLOW * (FIO2 - AIR_O2_PCT) / (100.0 - AIR_O2_PCT)
    return o2 * ((t1 - t0) - tau * (math.exp(-t0 / tau) - math.exp(-t1 / tau))) / 60.0


@pytest.fixture(scope="module")
def cpap_session(tmp_path_factory):
    root = tmp_path_factory.mktemp("o2rel")
    config = load_reliability(duration="25m")
    url = f"sim://cpap?speed=max&seed=2&flow_lpm={FLOW:g}&fio2_pct={FIO2:g}"
    run = ReliabilityRun(config, url, "rig", sessions_root=root, live=Live(tty=False), history=False)
    run.run()
    return run.session.root


def test_total_oxygen_against_the_simulators_truth(cpap_session):
    ox = json.loads((cpap_session / "results.json").read_text())["reliability"]["oxygen"]
    assert ox["measured"] is True and ox["channel"] == "o2_flow_lpm" and ox["flow_condition"] == "BTPS"
    # rate_hz 200: the first sample at device time 1/200 s is run time 0
    fs = 200.0
    truth = _truth_l(1 / fs, 1 / fs + ox["covered_s"])
    assert ox["covered_s"] == pytest.approx(1500.0, abs=0.01)
    assert ox["o2_used_l"] == pytest.approx(truth, rel=1e-3)  # ≤ 1/10 of a 1 % requirement
    o2_ss = FLOW * (FIO2 - AIR_O2_PCT) / (100.0 - AIR_O2_PCT)
    assert ox["mean_o2_lpm"] == pytest.approx(o2_ss, rel=2e-3)
    assert ox["o2_l_per_h"] == pytest.approx(ox["mean_o2_lpm"] * 60.0, rel=1e-6)
    assert [h["hour"] for h in ox["hourly"]] == [0]


def test_report_states_the_oxygen_used(cpap_session):
    pypdf = pytest.importorskip("pypdf")
    from ventbench.bench.report import render

    pdf = render(cpap_session)
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages)
    assert "Oxygen used" in text and "Mean O2 flow" in text


def test_no_o2_channel_is_not_measured_never_zero(tmp_path):
    config = load_reliability(duration="60s")
    run = ReliabilityRun(config, "sim://rig?speed=max&seed=1", "rig", sessions_root=tmp_path,
                         live=Live(tty=False), history=False)
    run.run()
    ox = json.loads((run.session.root / "results.json").read_text())["reliability"]["oxygen"]
    assert ox["measured"] is False and "not measured" in ox["note"]
    assert "o2_used_l" not in ox


def test_events_do_not_depend_on_chunking():
    rng = np.random.default_rng(4)
    t = np.arange(1, 300_001) / 200.0  # 1500 s at 200 Hz
    v = 20.0 + rng.normal(0, 0.3, t.size)
    flags = np.zeros(t.size, np.uint8)
    flags[100_000] = 1  # a gap (or placeholder): neither step touching that sample is integrated
    out = []
    for sizes in ([t.size], [7, 1, 50_000, 3] + [10_000] * 30):
        events: list[dict] = []
        meter = OxygenMeter("o2_flow_lpm", lambda k, ts, ev=events, **f: ev.append({"kind": k, "t_s": ts, **f}), 0.5)
        i = 0
        for n in sizes + [t.size]:
            if i >= t.size:
                break
            j = min(t.size, i + n)
            meter.feed(t[i:j], {"o2_flow_lpm": v[i:j]}, flags[i:j])
            i = j
        meter.finish()
        out.append(events)
    assert out[0] == out[1] and len(out[0]) == 3  # 600 s intervals
    block = oxygen_block(out[0], "o2_flow_lpm", float(t[-1] - t[0]))
    expect = float(np.sum((v[1:] + v[:-1]) / 2 * np.diff(t))) - (v[99_999] + 2 * v[100_000] + v[100_001]) / 2 * 0.005
    assert block["o2_used_l"] == pytest.approx(expect / 60.0, rel=1e-6)
    assert block["covered_s"] == pytest.approx(float(t[-1] - t[0]) - 0.01, abs=1e-6)


def test_verify_replays_the_oxygen_events(cpap_session, capsys):
    from ventbench.bench.cli import main

    assert main(["verify", str(cpap_session)]) == 0
    assert "breaths, events and results identical" in capsys.readouterr().out


@pytest.mark.slow
def test_interrupted_and_resumed_run_counts_no_oxygen_for_the_interruption(tmp_path):
    """Ctrl-C after a few seconds, --resume: two segments; the O2 total is the sum of both
    segments' integrals, the interruption is not covered (never counted as zero flow), and
    the replay of both segments gives the same events."""
    import signal
    import subprocess
    import sys
    import time

    from ventbench.bench.cli import main

    argv = ["run", "reliability", "--port", f"sim://cpap?speed=20&seed=2&flow_lpm={FLOW:g}&fio2_pct={FIO2:g}",
            "--driver", "rig", "--duration", "1500s", "--no-report", "--no-history", "--out", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-m", "ventbench", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in proc.stdout:
        if "reliability session" in line:
            break
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    proc.stdout.read()
    assert proc.wait(timeout=60) == 2
    (session,) = tmp_path.iterdir()
    first = json.loads((session / "results.json").read_text())["reliability"]["oxygen"]
    assert main(["run", "reliability", "--port", f"sim://cpap?speed=max&seed=2&flow_lpm={FLOW:g}&fio2_pct={FIO2:g}",
                 "--driver", "rig", "--resume", str(session), "--no-report", "--no-history"]) == 2
    ox = json.loads((session / "results.json").read_text())["reliability"]["oxygen"]
    events = [json.loads(x) for x in (session / "reliability" / "events.jsonl").read_text().splitlines()]
    resumed = next(e for e in events if e["kind"] == "segment_start" and e["segment"] == 1)
    span = ox["span_s"]
    # each segment's device starts from rest: the truth is the sum of two generator rises
    truth = _truth_l(1 / 200, 1 / 200 + first["covered_s"]) + _truth_l(1 / 200, 1 / 200 + span - resumed["t_s"])
    assert ox["covered_s"] == pytest.approx(span - resumed["gap_s"], abs=0.02)
    assert ox["o2_used_l"] == pytest.approx(truth, rel=1e-3)
    assert main(["verify", str(session)]) == 0
