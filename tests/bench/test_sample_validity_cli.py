"""Missing, stuck and impossible samples end to end: ``python -m ventbench analyze`` on a
measured trace that passes, then on copies with samples cut out, a frozen sensor and one
impossible value. None of them may PASS with nothing flagged, and none may FAIL: the
damage is in the data, not in the device."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ventbench.drivers.importers.trace_csv import read_trace_csv, write_trace_csv

from tests.conftest import FIXTURES

#: A noisy simulated recording of VC 500 mL / 20 bpm / PEEP 5 (demo session, point vc-01).
MEASURED = FIXTURES / "sessions" / "demo-pass" / "points" / "vc-01" / "trace.csv"
JUDGE = ["--protocol", "iso80601-2-12-vc", "--point", "vc-01", "--settle", "3", "--breaths", "12"]


def analyze(path, tmp_path):
    out = tmp_path / f"{path.stem}.json"
    proc = subprocess.run([sys.executable, "-m", "ventbench", "analyze", str(path), *JUDGE,
                           "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(out.read_text()), proc.stdout


def damaged(tmp_path, name, change):
    trace = read_trace_csv(MEASURED, validity=False)
    t, flow, paw = trace.t_s.copy(), trace.flow_lpm.copy(), trace.paw_cmh2o.copy()
    keep = change(t, flow, paw)
    if keep is None:
        keep = np.ones(t.shape, bool)
    path = tmp_path / f"{name}.csv"
    write_trace_csv(path, type(trace)(t[keep], flow[keep], paw[keep], trace.flow_condition,
                                      trace.ambient))
    return path


def flagged(doc):
    return {f for b in doc["points"][0]["breaths"] for f in b["flags"]}


def test_the_undamaged_recording_passes(tmp_path):
    code, doc, out = analyze(MEASURED, tmp_path)
    assert (code, doc["verdict"]) == (0, "PASS"), out
    assert not flagged(doc)


def test_samples_cut_out_of_measured_breaths_are_gaps_not_a_pass(tmp_path):
    def cut(t, flow, paw):  # 0.3, 0.4 and 0.5 s missing inside three measured breaths
        return ~(((t >= 20.2) & (t < 20.5)) | ((t >= 26.5) & (t < 26.9))
                 | ((t >= 33.1) & (t < 33.6)))
    code, doc, out = analyze(damaged(tmp_path, "cut", cut), tmp_path)
    assert "gap" in flagged(doc), out
    assert (code, doc["verdict"]) == (2, "INCONCLUSIVE"), out
    assert "flagged samples (gap)" in out


@pytest.mark.parametrize("seconds", [1.0, 5.0, 20.0])
def test_a_frozen_sensor_is_inconclusive_not_fail(tmp_path, seconds):
    def freeze(t, flow, paw):  # the instrument repeats its last sample
        i = int(np.searchsorted(t, 22.3))
        held = (t >= t[i]) & (t < t[i] + seconds)
        flow[held], paw[held] = flow[i], paw[i]
    code, doc, out = analyze(damaged(tmp_path, f"stuck{seconds:g}", freeze), tmp_path)
    assert (code, doc["verdict"]) == (2, "INCONCLUSIVE"), out
    assert all(c["verdict"] != "FAIL" for c in doc["points"][0]["checks"])
    assert "fault" in flagged(doc) or "breaths measured" in out, out


@pytest.mark.parametrize("column", ["paw", "flow"])
def test_one_impossible_sample_is_inconclusive_and_never_a_number(tmp_path, column):
    def spike(t, flow, paw):
        i = int(np.searchsorted(t, 27.0))
        (paw if column == "paw" else flow)[i] = 1e12
    code, doc, out = analyze(damaged(tmp_path, f"spike-{column}", spike), tmp_path)
    assert (code, doc["verdict"]) == (2, "INCONCLUSIVE"), out
    assert "invalid" in flagged(doc)
    breaths = doc["points"][0]["breaths"]
    assert max(b["pip_cmh2o"] or 0 for b in breaths) < 100
    assert max(abs(b["vti_ml"] or 0) for b in breaths) < 2000
    assert "1e+12" not in out and "1000000000000" not in out
