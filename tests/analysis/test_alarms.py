"""analysis.alarms on synthetic signals whose true onsets are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis import alarms as al

FS = 1000.0


def _breathing(t_s, period_s=3.0, ti_s=1.0, peep=5.0, pip=17.0):
    """Square-ish VC breathing: +30 L/min inspiration, exponential expiration."""
    phase = np.mod(t_s, period_s)
    insp = phase < ti_s
    flow = np.where(insp, 30.0, -45.0 * np.exp(-(phase - ti_s) / 0.4))
    paw = np.where(insp, peep + (pip - peep) * phase / ti_s, peep)
    return flow, paw


def _base(t, f, p, until_s):
    sel = t < until_s
    return al.baseline(t[sel], f[sel], p[sel])


def test_baseline_of_known_breathing():
    t = np.arange(0, 20, 1 / FS)
    f, p = _breathing(t)
    b = _base(t, f, p, 20)
    assert b.period_s == pytest.approx(3.0, abs=0.002)
    assert b.peep_cmh2o == pytest.approx(5.0, abs=0.01)
    assert b.vte_ml == pytest.approx(45 * 0.4 * (1 - np.exp(-5)) * 1000 / 60, rel=0.005)


@settings(max_examples=25, deadline=None)
@given(onset=st.floats(10.0, 14.0))
def test_disconnection_onset_is_found_within_two_samples(onset):
    t = np.arange(0, 30, 1 / FS)
    f, p = _breathing(t)
    p = np.where(t >= onset, 0.0, p)
    b = _base(t, f, p, 10)
    got, how = al.condition_onset("disconnection", t, f, p, b, onset - 0.5, onset + 10)
    assert got == pytest.approx(onset, abs=2 / FS), how


def test_gas_supply_loss_is_the_missed_breath_and_apnoea_keeps_peep():
    t = np.arange(0, 30, 1 / FS)
    f, p = _breathing(t)
    stop = t >= 12.0  # breath due at 12.0 never comes
    f2, p2 = np.where(stop, 0.0, f), np.where(stop, 0.0, p)
    b = _base(t, f, p, 10)
    assert al.condition_onset("gas_supply_loss", t, f2, p2, b, 10.5, 25)[0] == pytest.approx(12.0, abs=0.01)
    p3 = np.where(stop, 5.0, p)
    assert al.condition_onset("apnoea", t, f2, p3, b, 10.5, 25)[0] == pytest.approx(12.0, abs=0.01)
    got, how = al.condition_onset("gas_supply_loss", t, f2, p3, b, 10.5, 25)
    assert got is None and "stayed at PEEP" in how


def test_occlusion_high_pressure_and_vt_signatures():
    t = np.arange(0, 30, 1 / FS)
    f, p = _breathing(t)
    b = _base(t, f, p, 10)
    occ = t >= 13.0  # the expiration due at 13.0 never starts
    fo = np.where(occ, 0.0, f)
    po = np.where(occ, 17.0, p)
    assert al.condition_onset("occlusion", t, fo, po, b, 11, 20)[0] == pytest.approx(13.0, abs=0.002)
    ph = np.where(t >= 12.0, 5.0 + (p - 5.0) * 3.0, p)
    got, _ = al.condition_onset("high_pressure", t, f, ph, b, 11.5, 20, threshold_cmh2o=35.0)
    assert got == pytest.approx(12.0 + 1.0 * (30 / 36), abs=0.002)  # 5 + 36·x = 35 at x = 5/6 of Ti
    fl = np.where((t >= 12.0) & (f < 0), f * 0.5, f)
    assert al.condition_onset("vt_out_of_range", t, fl, p, b, 11.5, 20)[0] == pytest.approx(13.0, abs=0.01)
    for cond, ff, pp in (("occlusion", f, p), ("high_pressure", f, p), ("vt_out_of_range", f, p)):
        got, how = al.condition_onset(cond, t, ff, pp, b, 11.5, 20)
        assert got is None and how.startswith("no "), cond


def test_sound_onset_over_background_and_a_tone_already_on():
    rng = np.random.default_rng(1)
    t = np.arange(0, 20, 1 / FS)
    level = 45 + rng.standard_normal(t.size)
    on = (t >= 12.345) & (np.mod(t - 12.345, 0.3) < 0.2)
    level[on] = 75
    got, _ = al.sound_onset(t, level, (0, 10), 10, 20)
    assert got == pytest.approx(12.345, abs=1.5 / FS)
    assert al.sound_onset(t, 45 + rng.standard_normal(t.size), (0, 10), 10, 20)[0] is None
    got, how = al.sound_onset(t, np.where(t < 11, 80.0, level), (5, 10), 10, 20)
    assert got is None


def test_judge_verdicts():
    comps = al.delay_components(0.001, "keypress")
    kw = dict(id="x", condition="disconnection", induced_s=10.0, condition_how="paw", limit_s=1.0,
              window_s=30.0, detection="keypress", components=comps, released_s=None)
    assert al.judge(condition_s=10.01, alarm_s=10.8, **kw).verdict == "PASS"
    r = al.judge(condition_s=10.01, alarm_s=11.2, **kw)
    assert r.verdict == "FAIL" and r.delay_s == pytest.approx(1.19)
    assert r.u_delay_s == pytest.approx(np.hypot(0.001 / np.sqrt(12), al.REACTION_U_S))
    r = al.judge(condition_s=10.01, alarm_s=None, **kw)
    assert r.verdict == "FAIL" and "30 s window" in r.reason
    assert al.judge(condition_s=None, alarm_s=11.0, **kw).verdict == "INCONCLUSIVE"
    assert al.judge(condition_s=10.0, alarm_s=10.5, data_whole=False, **kw).verdict == "INCONCLUSIVE"
    kw["released_s"] = 20.0
    r = al.judge(condition_s=10.0, alarm_s=10.5, recovered_s=None, **kw)
    assert r.verdict == "FAIL" and "did not recover" in r.reason
