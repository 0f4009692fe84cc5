"""A PASS needs the device identified (model, serial, firmware), in run, replay and verify alike."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ventbench.bench.identity import apply_identity, identity_problem

FULL = {"name": "OpenVent-P2", "serial": "P2-0042", "firmware": "ov-fw 0.9.3"}


@pytest.mark.parametrize(("dut", "problem"), [
    (FULL, None),
    ({**FULL, "serial": ""}, "device not identified: no serial"),
    ({"name": "P2"}, "device not identified: no serial, firmware"),
    ({}, "device not identified: no model, serial, firmware"),
    ({**FULL, "firmware": "   "}, "device not identified: no firmware"),
])
def test_identity_problem_names_what_is_missing(dut, problem):
    assert identity_problem(dut) == problem


def test_only_pass_is_withheld_and_the_data_verdict_is_kept():
    points = [{"id": "a", "verdict": "PASS"}, {"id": "b", "verdict": "FAIL", "reason": "peep"},
              {"id": "c", "verdict": "NOT TESTED"}]
    assert apply_identity(points, {"dut": {"name": "P2"}}) == "device not identified: no serial, firmware"
    assert points[0]["verdict"] == "INCONCLUSIVE" and points[0]["verdict_data"] == "PASS"
    assert points[0]["reason"] == "device not identified: no serial, firmware"
    assert points[1]["verdict"] == "FAIL" and points[1]["reason"] == "peep"
    assert points[2]["verdict"] == "NOT TESTED"
    assert apply_identity(points[2:], {"dut": FULL}) is None


def test_run_without_serial_is_inconclusive_and_verify_agrees(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ventbench", "run", "iso80601-2-12-vc", "--port",
                          "sim://rig?speed=max&step_ms=2000", "--driver", "rig", "--option", "rate_hz=100",
                          "--settle", "2", "--measure", "4", "--no-history", "--no-report", "--point", "vc-01",
                          "--operator-mode", "auto", "--dut", "P2", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results = json.loads((session / "results.json").read_text())
    assert results["verdict"] == "INCONCLUSIVE"
    assert results["device_identity"]["problem"] == "device not identified: no serial, firmware"
    assert "device not identified" in results["points"][0]["reason"]
    verify = subprocess.run([sys.executable, "-m", "ventbench", "verify", str(session)],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr  # re-derived identically
