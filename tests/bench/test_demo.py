"""``ventbench demo`` end to end: the whole adult VC table through sim://rig and the VBR/1
driver and the RMVS alarm tests, a complete session with FAILs next to PASSes. (Its time is
measured in the README's performance table, not asserted here: the machines are shared.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from ventbench.bench.session import check_hashes, load_session

DEFECT_POINTS = {"vc-06", "vc-07"}  # R = 50 hPa/(L/s): the prototype's PEEP sags 3 cmH2O


def test_demo_runs_the_adult_table_and_writes_a_complete_session(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ventbench", "demo", "--out", str(tmp_path)],
                          text=True, capture_output=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr  # FAIL: the defect shows
    assert "Traceback" not in proc.stderr
    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert f"session: {session}" in proc.stdout
    lines = proc.stdout.splitlines()
    table = lines[lines.index(next(x for x in lines if x.startswith("point  verdict"))):]
    for n in range(1, 9):
        pid = f"vc-{n:02d}"
        row = next(x for x in table if x.startswith(pid))
        assert ("FAIL" if pid in DEFECT_POINTS else "PASS") in row
    assert "session verdict: FAIL" in proc.stdout
    report = session / "report.pdf"
    if report.exists():  # bench.report (the reports issue) renders it; verify can check it
        from ventbench.bench.report import embedded_results_sha256
        from ventbench.bench.session import sha256_file

        assert f"report: {report}" in proc.stdout
        assert embedded_results_sha256(report) == sha256_file(session / "results.json")
    else:
        assert "report: not available" in proc.stdout
    # live lines: one per breath, with errors and marks
    assert any(x.startswith("  b 41 extra") for x in lines)
    assert any(re.search(r"PEEP 7\.\d\d \(-2\.\d\d\) XX", x) for x in lines)
    assert any(re.search(r"PEEP 5\.\d\d \(\+0\.\d\d\) ok", x) for x in lines)

    start, stop = load_session(session)
    assert start["protocol"]["id"] == "iso80601-2-12-vc" and len(start["protocol"]["points"]) == 8
    from ventbench.bench.commands.demo import DEMO_PORT

    assert start["port"] == {"url": DEMO_PORT, "driver": "rig", "driver_options": {"rate_hz": 200}}
    assert start["dut"]["firmware"] and start["analysis"]["limits"]["limits"]["id"] == "iso80601-2-12"
    assert stop["status"] == "completed" and stop["exit_status"] == 1 and stop["verdict"] == "FAIL"
    assert check_hashes(session, stop) == []  # report.pdf included when rendered
    results = json.loads((session / "results.json").read_text())
    assert results["schema"] == "ventbench.results/1"
    # the contract's gas block: flow condition, ambient values and the BTPS factor applied
    gas = results["gas"]
    assert gas["flow_condition"] == "STP20" and gas["analysis_condition"] == "BTPS"
    assert gas["btps_factor"] == results["points"][0]["gas"]["btps_factor"] > 1.1
    assert {"t_amb_degc", "p_amb_hpa", "rh_pct"} <= set(gas)
    for point in results["points"]:
        assert (point["verdict"] == "FAIL") == (point["id"] in DEFECT_POINTS)
        assert sum(b["measured"] for b in point["breaths"]) == 30
        for name in ("capture.vbcap", "trace.csv", "point.json"):
            assert (session / "points" / point["id"] / name).exists()
        peep = next(c for c in point["checks"] if c["quantity"] == "peep")
        expected_peep_error = -2.7 if point["id"] in DEFECT_POINTS else 0.3
        assert abs(peep["mean"] - point["set"]["peep_cmh2o"] - expected_peep_error) < 0.1
    junit = (session / "junit.xml").read_text()
    # two PEEP failures, and the seeded 20 s late disconnection alarm
    assert junit.count("<failure") == 3 and 'name="peep"' in junit
    alarms = {a["id"]: a for a in results["alarms"]}
    assert len(alarms) == 7 and alarms["alarm-disconnection"]["verdict"] == "FAIL"
    assert abs(alarms["alarm-disconnection"]["delay_s"] - 20.4) < 0.05
    assert all(a["verdict"] == "PASS" for k, a in alarms.items() if k != "alarm-disconnection")
    assert (tmp_path / "ventbench-history.sqlite").exists()
    # the RMVS inspection checklist, answered by the automated operator: nothing asked of stdin
    inspection = results["inspection"]
    assert inspection["verdict"] == "PASS" and inspection["answered_by"] == "automated"
    assert len(inspection["items"]) == 7 and (session / "inspection.json").exists()
    assert "inspection labelling: pass" in proc.stdout
