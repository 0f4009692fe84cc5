"""Device-under-test telemetry: matching reports to breaths, monitoring checks, the simulated
DUT, and ``ventbench run --dut-port`` end to end (PASS, FAIL at +20 %, replay, errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ventbench.analysis.limits import load_limits
from ventbench.analysis.monitoring import match_reports, monitoring_checks

#: Both simulated ports on the wall clock (host-clock alignment needs it), 5× real time.
RIG = "sim://rig?speed=5"
DUT = "sim://pirds?speed=5&reports=truth"
FAST = ["--option", "rate_hz=100", "--settle", "2", "--measure", "4", "--no-history",
        "--no-report", "--operator-mode", "auto", "--point", "vc-01",
        "--dut", "P2", "--device-serial", "P2-0001", "--firmware", "0.9"]  # identified: a PASS is possible


def ventbench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ventbench", *args], text=True,
                          capture_output=True, timeout=timeout)


def only_session(root: Path) -> Path:
    (session,) = [p for p in root.iterdir() if p.is_dir()]
    return session


def load(path: Path) -> dict:
    return json.loads(path.read_text())


# -- matching and judging ---------------------------------------------------------------------
def test_reports_match_the_nearest_breath_end_within_tolerance():
    ends = np.array([3.0, 6.0, 9.0, 10.0])
    durs = np.array([3.0, 3.0, 3.0, 1.0])  # the last breath is 1 s: its window is ± 0.25 s
    t = np.array([3.1, 5.7, 7.5, 9.05, 8.8, 10.3, 10.2])
    which = match_reports(t, ends, durs, tol_s=0.5)
    # 7.5 is 1.5 s from any end; 8.8 loses breath 2 to the nearer 9.05; 10.3 > 10 + 0.25
    assert which.tolist() == [0, 1, -1, 2, -1, -1, 3]


def _breaths(n: int, vte: float = 500.0) -> list[dict]:
    return [{"index": i, "t_start_s": 3.0 * i + 0.5, "t_end_s": 3.0 * i + 3.5, "rr_bpm": 20.0,
             "vte_ml": vte, "peep_cmh2o": 5.0, "pip_cmh2o": 18.0, "flags": [],
             "measured": i >= 2} for i in range(n)]


def _reports(n: int, gain: float = 1.0, skip: int | None = None) -> dict:
    t = np.array([3.0 * i + 3.55 for i in range(n) if i != skip])
    k = t.size
    return {"vte_ml": (t, np.full(k, 500.0 * gain)), "peep_cmh2o": (t, np.full(k, 5.2)),
            "pip_cmh2o": (t, np.full(k, 18.3)), "rr_bpm": (t, np.full(k, 20.0))}


def test_monitoring_checks_pass_fail_inconclusive_info():
    limits = load_limits("iso80601-2-12")
    checks, detail = monitoring_checks(_breaths(6), _reports(6), limits)
    verdicts = {c.quantity: c.verdict for c in checks}
    assert verdicts == {"vte_monitor": "PASS", "peep_monitor": "PASS", "pip_monitor": "PASS",
                        "rate_monitor": "INFO"}  # no published rate-monitoring limit
    assert detail["matched"]["vte_monitor"] == 6 and len(detail["breaths"]) == 4
    high = {c.quantity: c for c in monitoring_checks(_breaths(6), _reports(6, 1.2), limits)[0]}
    assert high["vte_monitor"].verdict == "FAIL" and "+100 mL" in high["vte_monitor"].reason
    assert high["vte_monitor"].failing_breaths == (2, 3, 4, 5)
    # 4 mL + 15 % of 500 = 79 mL: 600 is outside, 575 inside
    assert monitoring_checks(_breaths(6), _reports(6, 1.15), limits)[0][0].verdict == "PASS"
    gap = monitoring_checks(_breaths(6), _reports(6, skip=3), limits)[0][0]
    assert gap.verdict == "INCONCLUSIVE" and "measured breaths 3" in gap.reason
    blocked = monitoring_checks(_breaths(6), _reports(6), limits, blocking=["clock?"])[0][0]
    assert blocked.verdict == "INCONCLUSIVE" and blocked.reason == "clock?"


def test_simulated_dut_reports_the_rig_ventilators_breaths_with_its_error():
    from ventbench.drivers.pirds import PirdsDriver
    from ventbench.drivers.sim.pirds_device import PirdsDevice
    from ventbench.drivers.sim.points import simulation_from_params

    params = {"reports": "truth", "seed": "4", "vt_ml": "400", "period_jitter_s": "0.05",
              "dut_vt_gain_pct": "20", "dut_peep_offset_cmh2o": "-1"}
    driver = PirdsDriver()
    driver.feed(PirdsDevice(params).produce(20.0))
    truths = []
    sim = simulation_from_params(params, 1000.0)  # what sim://rig builds from the same query
    while len(truths) < 5:
        truths += sim.advance(1000).truths
    got = [a for a in driver.assertions if a["name"] == "vt_ml"]
    assert [a["ms"] for a in got[:5]] == [round(b.t_end_s * 1000) for b in truths[:5]]
    assert [a["value"] for a in got[:5]] == [round(b.vte_ml * 1.2) for b in truths[:5]]
    peep = [a["value"] for a in driver.assertions if a["name"] == "peep_cmh2o"][:5]
    assert peep == [round((b.peep_cmh2o - 1) * 10) / 10 for b in truths[:5]]


# -- end to end ---------------------------------------------------------------------------------
def test_run_with_dut_port_pass_replay_and_fail(tmp_path):
    ok = ventbench("run", "iso80601-2-12-vc", "--group", "adult", "--port", RIG, "--driver",
                   "rig", "--dut-port", DUT, "--dut-driver", "pirds", *FAST,
                   "--out", str(tmp_path / "ok"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    session = only_session(tmp_path / "ok")
    point = load(session / "results.json")["points"][0]
    checks = {c["quantity"]: c for c in point["checks"]}
    for q in ("vte_monitor", "peep_monitor", "pip_monitor"):
        assert checks[q]["verdict"] == "PASS", checks[q]
        assert checks[q]["n_breaths"] == 4 and checks[q]["limit"]["of"] == "actual"
    assert checks["rate_monitor"]["verdict"] == "INFO"
    assert point["monitoring"]["unmatched"]["vte_monitor"] <= 1  # a report after the end
    start = load(session / "start.json")
    assert start["dut_port"]["driver"] == "pirds" and start["dut_port"]["match_tol_s"] == 0.5
    record = load(session / "points" / "vc-01" / "point.json")
    assert "seed=" in record["dut_url"] and "vt_ml=500" in record["dut_url"]
    assert "points/vc-01/dut.vbcap" in load(session / "stop.json")["files"]
    replay = ventbench("replay", str(session))
    assert replay.returncode == 0, replay.stdout + replay.stderr  # identical, verdict PASS

    bad = ventbench("run", "iso80601-2-12-vc", "--port", RIG, "--driver", "rig",
                    "--dut-port", DUT + "&dut_vt_gain_pct=20", "--dut-driver", "pirds", *FAST,
                    "--out", str(tmp_path / "bad"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    point = load(only_session(tmp_path / "bad") / "results.json")["points"][0]
    checks = {c["quantity"]: c for c in point["checks"]}
    assert checks["vte_monitor"]["verdict"] == "FAIL"
    assert checks["peep_monitor"]["verdict"] == "PASS" and checks["vt"]["verdict"] == "PASS"
    assert point["verdict"] == "FAIL" and "vte_monitor" in point["reason"]


def test_dut_port_that_cannot_be_opened_exits_4_with_stop_record(tmp_path, capsys):
    from ventbench.bench.cli import main

    code = main(["run", "iso80601-2-12-vc", "--port", RIG, "--driver", "rig",
                 "--dut-port", str(tmp_path / "no-such-tty"), "--dut-driver", "pirds",
                 *FAST, "--out", str(tmp_path)])
    assert code == 4, capsys.readouterr()
    stop = load(only_session(tmp_path) / "stop.json")
    assert stop["status"] == "failed" and stop["exit_status"] == 4
    assert "no-such-tty" in stop["reason"] and "cannot open port" in stop["reason"]
    assert "cannot open port" in capsys.readouterr().out  # said on the terminal too


@pytest.mark.parametrize("extra, message", [
    (["--dut-port", "sim://pirds?speed=max", "--dut-driver", "pirds"], "speed=max"),
    (["--dut-port", DUT], "go together"),
    (["--dut-port", DUT, "--dut-driver", "rig"], "no telemetry adapter"),
    (["--dut-port", DUT, "--dut-driver", "pirds", "--dut-match-tol", "0"], "argument --dut-match-tol"),
])
def test_dut_configuration_errors_exit_3_before_any_session(tmp_path, capsys, extra, message):
    from ventbench.bench.cli import main

    code = main(["run", "iso80601-2-12-vc", "--port", RIG, "--driver", "rig", *extra, *FAST,
                 "--out", str(tmp_path)])
    assert code == 3 and message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
