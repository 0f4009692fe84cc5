"""Reliability events from breath records with known answers: out-of-limit breaths (single
and runs) per quantity, a rate out of limit, missed breaths and apnoea, and what is not an
event (flagged breaths, intervals the data could not show)."""

from __future__ import annotations

import numpy as np
import pytest

from ventbench.analysis.trace import SampleFlag
from ventbench.bench.reliability.config import load_reliability
from ventbench.bench.reliability.events import EventDetector
from ventbench.bench.reliability.store import RECORD_DTYPE

PERIOD_S = 3.0  # the reliability protocol's 20 bpm


def records(starts_s, **values) -> np.ndarray:
    """Good breaths (VT 500 mL, PEEP 5, PIP 20 cmH2O, 20 bpm) at ``starts_s``; ``values``
    override a quantity breath by breath (``{index: value}``)."""
    rec = np.zeros(len(starts_s), RECORD_DTYPE)
    rec["t_start_s"] = starts_s
    rec["t_end_s"] = np.asarray(starts_s) + PERIOD_S
    rec["vt_ml"], rec["peep_cmh2o"], rec["pip_cmh2o"], rec["rate_bpm"] = 500, 5, 20, 20
    for name, changes in values.items():
        for i, v in changes.items():
            rec[name][i] = v
    return rec


def detect(rec: np.ndarray, feed_sizes=None) -> list[dict]:
    det = EventDetector(load_reliability(duration="1h"), None)
    sizes = feed_sizes or [len(rec)]
    i = 0
    for n in sizes:
        det.breaths(rec[i: i + n])
        i += n
    det.breaths(rec[i:])
    det.finish()
    return det.events


def kinds(events, *names):
    return [e for e in events if e["kind"] in names]


def test_single_out_of_limit_breaths_and_a_run_per_quantity():
    starts = PERIOD_S * np.arange(30)
    # VT limits 421…579 mL: one high breath at 5, a run of 4 low ones at 10…13 (worst 380)
    rec = records(starts, vt_ml={5: 600, 10: 400, 11: 380, 12: 410, 13: 420},
                  peep_cmh2o={20: 8.0})  # PEEP limits 2.8…7.2: one
    events = kinds(detect(rec), "out_of_limit", "out_of_limit_run")
    vt = [e for e in events if e["quantity"] == "vt_ml"]
    assert [(e["kind"], e["t_s"], e["n_breaths"], e["worst"]) for e in vt] == [
        ("out_of_limit", 15.0, 1, 600.0), ("out_of_limit_run", 30.0, 4, 380.0)]
    assert vt[1]["t_end_s"] == 13 * PERIOD_S + PERIOD_S and vt[1]["limit"] == [421.0, 579.0]
    (peep,) = [e for e in events if e["quantity"] == "peep_cmh2o"]
    assert (peep["kind"], peep["t_s"], peep["worst"]) == ("out_of_limit", 60.0, 8.0)


def test_rate_out_of_limit_and_a_run_left_open_at_the_end():
    starts = PERIOD_S * np.arange(12)
    rec = records(starts, rate_bpm={2: 18.5, 8: 22.0, 9: 23.0, 10: 22.5, 11: 21.5})
    events = [e for e in detect(rec) if e.get("quantity") == "rate_bpm"]
    assert [(e["kind"], e["t_s"], e["n_breaths"]) for e in events] == [
        ("out_of_limit", 6.0, 1), ("out_of_limit_run", 24.0, 4)]  # closed by finish()
    assert events[1]["worst"] == 23.0


def test_flagged_breaths_are_judged_neither_way():
    starts = PERIOD_S * np.arange(6)
    rec = records(starts, vt_ml={2: 900, 3: 900})
    rec["flags"][2:4] = SampleFlag.GAP
    assert not kinds(detect(rec), "out_of_limit", "out_of_limit_run")


def test_missed_breaths_and_apnoea_at_their_times():
    # two skipped breaths after 9 s; then 25 s without a breath (apnoea ≥ 20 s)
    starts = [0, 3, 6, 9, 18, 21, 46, 49]
    events = detect(records(np.array(starts, float)))
    missed = kinds(events, "missed_breath")
    assert [(e["t_s"], e["n_missed"], e["interval_s"]) for e in missed] == [
        (12.0, 2, 9.0), (24.0, 7, 25.0)]
    (apnoea,) = kinds(events, "apnoea")
    assert (apnoea["t_s"], apnoea["duration_s"]) == (21.0, 25.0)


def test_an_interval_one_and_a_half_periods_long_is_not_missed():
    assert not kinds(detect(records(np.array([0, 3, 7.4, 10.4]))), "missed_breath")
    assert kinds(detect(records(np.array([0, 3, 7.6, 10.6]))), "missed_breath")


def test_no_missed_breath_where_the_data_could_not_show_one():
    det = EventDetector(load_reliability(duration="1h"), None)
    t = np.arange(0, 9, 0.001)
    det.samples(t, np.zeros(t.size, np.uint16))
    t2 = np.arange(15, 30, 0.001)  # 6 s without samples: a stall
    det.samples(t2, np.zeros(t2.size, np.uint16))
    det.breaths(records(np.array([0, 3, 6, 18, 21, 24])))
    assert [e["kind"] for e in det.events] == ["data_stall"]
    assert det.events[0]["t_s"] == pytest.approx(8.999) and det.missed_breaths == 0


@pytest.mark.parametrize("sizes", [[1] * 29, [7, 3, 11], [29]])
def test_events_do_not_depend_on_how_the_breaths_arrive(sizes):
    starts = np.concatenate([PERIOD_S * np.arange(10), 40 + PERIOD_S * np.arange(20)])
    rec = records(starts, vt_ml={3: 600, 4: 600, 5: 600, 20: 400}, rate_bpm={25: 25.0})
    assert detect(rec, sizes) == detect(rec)


def test_a_patient_triggered_breath_is_judged_like_any_other_but_a_suspect_one_is_not():
    from ventbench.bench.reliability.store import flags_mask, trusted

    masks = np.array([flags_mask([]), flags_mask(["patient_triggered"]), flags_mask(["gap"]),
                      flags_mask(["patient_triggered", "double_trigger"]), flags_mask(["odd"])])
    assert trusted(masks).tolist() == [True, True, False, False, False]
