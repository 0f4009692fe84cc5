"""``ventbench analyze`` without ``--preset``: every patient size passes when healthy and fails
when truly faulty; a trace without breathing is INCONCLUSIVE with the reason, never FAIL."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ventbench.analysis.trace import Trace
from ventbench.bench.cli import main
from ventbench.drivers.importers.trace_csv import write_trace_csv
from ventbench.drivers.sim import Imperfections, Lung, SensorModel, VentilatorSettings, simulate

from tests.conftest import ROOT

#: ISO 80601-2-12 Table 201.104 rows: (VT mL, rate bpm, Ti s, PEEP cmH2O, C mL/hPa, R hPa s/L)
ROWS = {
    "adult (row 1)": (500, 20, 1.0, 5, 50, 5),
    "paediatric (row 15)": (30, 30, 0.6, 10, 1, 100),
    "neonatal (row 20)": (5, 30, 0.4, 5, 0.5, 200),
}
FAULTS = {
    "healthy": (Imperfections(), 0, "PASS"),
    "PEEP 3 cmH2O high": (Imperfections(peep_offset_cmh2o=3.0), 1, "FAIL"),
    "24 bpm when set to 30 (-20 %)": (Imperfections(rate_error_pct=-20.0), 1, "FAIL"),
}


def _set_args(vt, rate, ti, peep):
    return ["--mode", "vc", "--set", f"vt_ml={vt}", "--set", f"rate_bpm={rate}",
            "--set", f"ti_s={ti}", "--set", f"peep_cmh2o={peep}", "--limits", "iso80601-2-12"]


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("row", list(ROWS))
def test_every_patient_size_without_a_preset(row, fault, tmp_path, capsys):
    vt, rate, ti, peep, c, r = ROWS[row]
    imperfections, exit_code, verdict = FAULTS[fault]
    res = simulate(VentilatorSettings("vc", vt_ml=vt, rate_bpm=rate, ti_s=ti, peep_cmh2o=peep),
                   Lung(c, r), imperfections,
                   SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05),
                   n_breaths=42, fs_hz=1000, seed=7)
    path = tmp_path / "trace.csv"
    write_trace_csv(path, res.trace)
    out_json = tmp_path / "r.json"
    code = main(["analyze", str(path), *_set_args(vt, rate, ti, peep), "--json", str(out_json)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    point = json.loads(out_json.read_text())["points"][0]
    assert (code, point["verdict"]) == (exit_code, verdict), out
    assert len(point["breaths"]) == len(res.truth)  # every breath found, none extra
    assert point["segmentation"]["preset"] == "auto" and not point["segmentation"]["adaptive"]
    checks = {c["quantity"]: c for c in point["checks"]}
    if fault.startswith("PEEP"):
        assert checks["peep"]["verdict"] == "FAIL"
    elif fault.startswith("24"):
        assert checks["rate"]["verdict"] == "FAIL"


@pytest.mark.parametrize(("name", "flow"), [
    ("noise", lambda rng, n: rng.normal(0.0, 0.05, n)),
    ("flat", lambda rng, n: np.zeros(n)),
    ("stuck", lambda rng, n: np.full(n, 7.5)),
])
def test_no_breathing_is_inconclusive_with_the_reason(name, flow, tmp_path):
    rng = np.random.default_rng(3)
    t = np.arange(40_000) / 1000.0
    path = tmp_path / f"{name}.csv"
    write_trace_csv(path, Trace(t, flow(rng, t.size), np.full(t.size, 5.0)))
    out_json = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "ventbench", "analyze", str(path), *_set_args(5, 30, 0.4, 5),
         "--json", str(out_json)],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2, proc.stdout + proc.stderr
    point = json.loads(out_json.read_text())["points"][0]
    assert point["verdict"] == "INCONCLUSIVE"
    assert point["reason"].startswith("no breathing found: ")


def test_a_wrong_preset_is_inconclusive_not_fail(tmp_path, capsys):
    # the case: a healthy row-15 device analysed with the adult preset finds a third
    # of the breaths with Ti many times the set one; that is our doubt, not the device's fault
    vt, rate, ti, peep, c, r = ROWS["paediatric (row 15)"]
    res = simulate(VentilatorSettings("vc", vt_ml=vt, rate_bpm=rate, ti_s=ti, peep_cmh2o=peep),
                   Lung(c, r), sensors=SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05),
                   n_breaths=45, fs_hz=1000, seed=2)
    path = tmp_path / "trace.csv"
    write_trace_csv(path, res.trace)
    out_json = tmp_path / "r.json"
    code = main(["analyze", str(path), *_set_args(vt, rate, ti, peep), "--preset", "adult",
                 "--json", str(out_json)])
    capsys.readouterr()
    point = json.loads(out_json.read_text())["points"][0]
    assert (code, point["verdict"]) == (2, "INCONCLUSIVE")
    assert point["reason"].startswith("segmentation in doubt: unassigned inspiratory activity")
