"""Patient-triggered and double-triggered breaths against the effort simulator's truth.

Every delivered breath must be found (none extra), its start within 20 ms of the
ventilator's delivery start, and for a patient-triggered breath the trigger delay within
10 ms of the truth; double triggers are found as two breaths, both flagged.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.stream import analyze_breaths
from ventbench.drivers.sim import Lung, SensorModel, VentilatorSettings
from ventbench.drivers.sim.effort import PatientEffort, simulate_efforts

from tests.analysis.test_stream import chunked, whole

NOISE = SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05)
START_BOUND_S = 0.020
DELAY_BOUND_S = 0.010

VC = dict(mode="vc", vt_ml=500)
PC = dict(mode="pc", dp_cmh2o=10, rise_time_s=0.1)
#: name -> (ventilator, lung (C, R), effort): patient rate 20 bpm over a 12 bpm backup
CASES = {
    "vc flow trigger": (VC, (50, 5), dict()),
    "vc pressure trigger": (VC, (50, 5), dict(trigger="pressure", trigger_dp_cmh2o=1.0)),
    "pc flow trigger": (PC, (50, 5), dict(depth_cmh2o=4.0)),
    "pressure support, flow cycling": (PC, (50, 5), dict(support="ps")),
    "vc stiff lung, long delay": (VC, (20, 20), dict(response_s=0.15, depth_cmh2o=8.0)),
    "vc double triggers": (VC, (50, 5), dict(depth_cmh2o=15.0, duration_s=2.2, rise_fraction=0.7)),
}


def _simulate(name, fs_hz=1000, duration_s=40.0, seed=1):
    vent, (c, r), effort = CASES[name]
    vent = {"rate_bpm": 12, "ti_s": 1.0, "peep_cmh2o": 5, **vent}
    return simulate_efforts(VentilatorSettings(**vent), Lung(c, r),
                            PatientEffort(rate_bpm=20, **effort), NOISE,
                            duration_s=duration_s, fs_hz=fs_hz, seed=seed)


@pytest.mark.parametrize("fs_hz", [200, 1000])
@pytest.mark.parametrize("name", list(CASES))
def test_every_delivered_breath_and_its_trigger(name, fs_hz):
    res = _simulate(name, fs_hz)
    # a breath ends where the next delivery starts: the last one needs that inspiration whole
    truth = [t for t in res.truth if t.t_end_s + 1.2 <= res.trace.t_s[-1]]
    breaths = analyze_breaths(res.trace).breaths
    assert sum(t.patient_triggered for t in truth) >= len(truth) - 2  # the case is what it says
    if "double" in name:
        assert sum(t.double_trigger for t in truth) >= 3
    starts = np.array([b.t_start_s for b in breaths])
    problems = []
    used = set()
    for t in truth:
        i = int(np.argmin(np.abs(starts - t.t_start_s)))
        err = starts[i] - t.t_start_s
        if abs(err) > START_BOUND_S or i in used:
            problems.append(f"breath at {t.t_start_s:.3f} s: nearest found start {err * 1000:+.1f} ms")
            continue
        used.add(i)
        b = breaths[i]
        if t.double_trigger and "double_trigger" not in b.flags:
            problems.append(f"double trigger at {t.t_start_s:.3f} s not flagged: {b.flags}")
        if t.patient_triggered and not t.double_trigger:
            if "patient_triggered" not in b.flags:
                problems.append(f"triggered breath at {t.t_start_s:.3f} s not flagged: {b.flags}")
            elif not abs(b.trigger_delay_s - t.trigger_delay_s) <= DELAY_BOUND_S:
                problems.append(f"breath at {t.t_start_s:.3f} s: trigger delay {b.trigger_delay_s:.4f} s, "
                                f"true {t.trigger_delay_s:.4f} s")
        if not t.patient_triggered and "patient_triggered" in b.flags:
            problems.append(f"mandatory breath at {t.t_start_s:.3f} s flagged patient_triggered")
    extra = [round(b.t_start_s, 3) for k, b in enumerate(breaths)
             if k not in used and truth[0].t_start_s - 0.5 < b.t_start_s < truth[-1].t_start_s + 0.5]
    if extra:
        problems.append(f"extra breaths at {extra} s")
    assert not problems, f"{name} at {fs_hz} Hz: " + "; ".join(problems)


def test_triggered_breath_json_carries_effort_and_delay():
    breaths = analyze_breaths(_simulate("vc flow trigger").trace).breaths
    triggered = [b for b in breaths if "patient_triggered" in b.flags]
    mandatory = [b for b in breaths if "patient_triggered" not in b.flags]
    assert triggered and mandatory
    j = triggered[0].to_json()
    assert j["t_effort_s"] < j["t_start_s"]
    assert j["trigger_delay_s"] == pytest.approx(j["t_start_s"] - j["t_effort_s"])
    assert "t_effort_s" not in mandatory[0].to_json()
    assert triggered[0].trusted  # an informative flag: the breath's numbers are not suspect
    assert math.isnan(mandatory[0].t_effort_s)


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(0, 39_999), max_size=25),
       st.sampled_from(["vc flow trigger", "vc double triggers", "pressure support, flow cycling"]))
def test_any_chunking_gives_identical_breaths_with_efforts(cuts, name):
    res = _simulate(name, fs_hz=1000, duration_s=20.0)
    t, f, p = res.trace.t_s, res.trace.flow_lpm, res.trace.paw_cmh2o
    cuts = [c % t.size for c in cuts]
    ref = whole(t, f, p)
    assert any("patient_triggered" in b.flags for b in ref)
    assert repr(chunked(cuts, t, f, p)) == repr(ref)
