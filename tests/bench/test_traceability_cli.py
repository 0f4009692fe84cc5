"""Traceability, environment, declaration and decision rule end to end (``python -m ventbench
demo|run`` as subprocesses): a passing session turns INCONCLUSIVE for an expired certificate,
a serial mismatch, an environment out of range, and a marginal PASS under the guarded rule;
bad input is one line and exit 3; ``verify`` recomputes all of it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import pytest

DEMO = ["demo", "--point", "vc-01", "--settle", "3", "--measure", "5", "--no-history", "--no-report",
        "--no-defect", "--rate-hz", "100"]
REGISTER = Path(str(resources.files("ventbench.bench").joinpath("data/demo-instruments.toml"))).read_text()


def ventbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ventbench", *args], text=True, capture_output=True, timeout=120)


def demo(tmp_path: Path, *extra: str) -> tuple[int, dict, Path]:
    out = tmp_path / "sessions"
    proc = ventbench(*DEMO, "--out", str(out), *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    (session,) = list(out.iterdir())
    return proc.returncode, json.loads((session / "results.json").read_text()), session


def register(tmp_path: Path, **replace: str) -> str:
    text = REGISTER
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "register.toml"
    path.write_text(text)
    return str(path)


def test_demo_passes_traceable_with_a_budget_per_check_and_verifies(tmp_path):
    code, results, session = demo(tmp_path)
    assert code == 0 and results["verdict"] == "PASS"
    assert results["instruments"]["traceability"] == "established"
    assert results["environment"]["problems"] == [] and results["environment"]["end"]["t_amb_degc"]["value"] == 22.0
    judged = [c for c in results["points"][0]["checks"] if c["verdict"] != "INFO"]
    for check in judged:
        unc = check["uncertainty"]
        assert unc["U"] == pytest.approx(unc["k"] * unc["u_c"], rel=1e-6) and "missing" not in unc
        assert {c["name"] for c in unc["components"]} >= {"repeatability (Type A)", "reference instrument"}
        assert check["achieved"]["U"] == unc["U"]
    verify = ventbench("verify", str(session))
    assert verify.returncode == 0, verify.stdout


@pytest.mark.parametrize("case", ["expired", "serial", "environment"])
def test_each_condition_turns_a_passing_session_inconclusive(tmp_path, case):
    extra: list[str] = []
    if case == "expired":
        due = date.today() - timedelta(days=1)
        extra = ["--instruments", register(tmp_path, **{"due = 2031-01-01": f"due = {due.isoformat()}"})]
        expected = f"not traceable: certificate SIM-CAL-2026-001 of 'simulated bench rig' expired on {due.isoformat()}"
    elif case == "serial":
        extra = ["--instruments", register(tmp_path, **{'serial = "SIM-RIG-01"': 'serial = "SIM-RIG-07"'})]
        expected = "the reference port reports serial SIM-RIG-01, the register SIM-RIG-07"
    else:
        extra = ["--env-end", "t_amb_degc=37.5"]
        expected = "environment out of range: temperature 37.5 °C at end (entered) outside 15–35 °C (protocol)"
    code, results, session = demo(tmp_path, *extra)
    point = results["points"][0]
    assert code == 2 and results["verdict"] == "INCONCLUSIVE"
    assert point["verdict"] == "INCONCLUSIVE" and point["verdict_data"] == "PASS"
    assert expected in point["reason"]
    assert ventbench("verify", str(session)).returncode == 0  # the conditions are re-derived, identical


def test_override_is_recorded_and_keeps_the_verdict(tmp_path):
    due = (date.today() - timedelta(days=1)).isoformat()
    reason = "certificate renewal in progress, lab letter 2026-117"
    code, results, _ = demo(tmp_path, "--instruments", register(tmp_path, **{"due = 2031-01-01": f"due = {due}"}),
                            "--traceability-override", reason)
    assert code == 0 and results["instruments"]["traceability"] == "overridden: " + reason
    assert results["points"][0]["conditions_overridden"]["reason"] == reason


def test_guarded_rule_turns_a_marginal_pass_inconclusive_with_declared_limits(tmp_path):
    decl = tmp_path / "declaration.toml"
    decl.write_text('[device]\nname = "OpenVent-P2"\nserial = "P2-0042"\ndocument = "IFU rev 1"\n'
                    '[[accuracy]]\nquantity = "vt"\nabs = 15\nrel = 0\nunit = "mL"\n')
    code, results, _ = demo(tmp_path, "--declaration", str(decl))
    vt = next(c for c in results["points"][0]["checks"] if c["quantity"] == "vt")
    assert code == 0 and vt["verdict"] == "PASS"  # simple acceptance
    assert vt["limit"]["abs"] == 15 and "declared by the manufacturer: IFU rev 1" in vt["limit"]["source"]
    assert results["points"][0]["limits_applied"] == {**results["points"][0]["limits_applied"],
                                                      "vt": "declared (IFU rev 1)", "peep": "protocol (iso80601-2-12)"}
    assert results["declaration"]["applied"]["vt"] == ["declared (IFU rev 1)"]
    out = tmp_path / "guarded"
    out.mkdir()
    code_g, results_g, _ = demo(out, "--declaration", str(decl), "--decision-rule", "guarded")
    vt_g = next(c for c in results_g["points"][0]["checks"] if c["quantity"] == "vt")
    assert vt_g["max_abs_error"] < 15 < vt_g["max_abs_error"] + vt_g["uncertainty"]["U"]
    assert vt_g["verdict"] == "INCONCLUSIVE" and "inside the guard band w = U" in vt_g["reason"]
    assert code_g == 2 and results_g["verdict"] == "INCONCLUSIVE"
    mismatch = tmp_path / "other"
    mismatch.mkdir()
    decl.write_text(decl.read_text().replace("P2-0042", "P2-0001"))
    code_m, results_m, _ = demo(mismatch, "--declaration", str(decl))
    assert code_m == 2 and "is for serial P2-0001, the device tested has P2-0042" in results_m["points"][0]["reason"]


def test_bad_register_is_one_line_and_exit_3(tmp_path):
    path = register(tmp_path, **{"k = 2\nresolution = 0.001\nrange": "k = -2\nresolution = 0.001\nrange"})
    proc = ventbench(*DEMO, "--out", str(tmp_path / "s"), "--instruments", path)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert path in line and "instrument[1] 'simulated bench rig': uncertainty[1]: k: expected > 0, found -2" in line
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_run_without_a_register_still_runs_and_says_traceability_is_not_established(tmp_path):
    proc = ventbench("run", "iso80601-2-12-vc", "--port", "sim://rig?speed=max&step_ms=2000", "--driver", "rig",
                     "--operator-mode", "auto", "--point", "vc-01", "--option", "rate_hz=100", "--settle", "3",
                     "--measure", "5", "--out", str(tmp_path), "--no-history", "--no-report",
                     "--dut", "P2", "--device-serial", "P2-0001", "--firmware", "0.9")
    assert "warning: no instrument register (--instruments): traceability not established" in proc.stdout
    (session,) = list(tmp_path.iterdir())
    results = json.loads((session / "results.json").read_text())
    assert results["instruments"]["traceability"].startswith("traceability not established")
    assert results["points"][0]["verdict"] in ("PASS", "FAIL")  # the data's verdict stands
    vt = next(c for c in results["points"][0]["checks"] if c["quantity"] == "vt")
    assert "reference instrument: no stated accuracy for flow" in vt["uncertainty"]["missing"]
    assert results["environment"]["start"]["t_amb_degc"]["source"] == "defaulted"
    report = ventbench("report", str(session))
    assert report.returncode == 0, report.stderr
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(str(session / "report.pdf")).pages)
    flat = " ".join(text.split())
    assert "Decision rule (ILAC-G8) simple acceptance" in flat
    assert "NOT ESTABLISHED: no instrument register was given" in flat
    assert "Uncertainty budgets (GUM)" in flat and "repeatability (Type A)" in flat
    assert "Budget incomplete (no guarded acceptance on it): reference instrument: no stated accuracy" in flat
    assert "temperature 22 °C (defaulted)" in flat
