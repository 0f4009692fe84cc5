"""The segmentation audits itself (analysis/selfcheck.py): missed breaths are seen, a truly
slow device is not doubted."""

from __future__ import annotations

import pytest

from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.selfcheck import segmentation_doubts
from ventbench.analysis.stream import analyze_breaths
from ventbench.drivers.importers.labchart import read_labchart
from ventbench.drivers.sim import Imperfections, Lung, SensorModel, VentilatorSettings, simulate

from tests.conftest import LABCHART_RECORDING

NOISE = SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05)


def _row15(imperfections=None):
    """ISO 80601-2-12 Table 201.104 row 15: VT 30 mL, 30 bpm, Ti 0.6 s, C 1, R 100."""
    return simulate(VentilatorSettings("vc", vt_ml=30, rate_bpm=30, ti_s=0.6, peep_cmh2o=10),
                    Lung(1, 100), imperfections, NOISE, n_breaths=45, fs_hz=1000, seed=2)


def test_a_preset_that_misses_breaths_is_doubted_with_what_was_seen():
    res = _row15()
    breaths = analyze_breaths(res.trace, SegmentationSettings.preset("adult")).breaths
    assert 0 < len(breaths) < 30  # the adult preset misses most of these breaths
    doubts = segmentation_doubts(res.trace.t_s, res.trace.flow_lpm, breaths, 30.0)
    text = " | ".join(doubts)
    assert "unassigned inspiratory activity" in text
    assert "over-long breaths with inspiratory activity inside" in text
    assert "breath count far from the set rate" in text


@pytest.mark.parametrize("imperfections", [None, Imperfections(rate_error_pct=-20.0),
                                           Imperfections(peep_offset_cmh2o=3.0)])
def test_adaptive_breaths_of_healthy_and_faulty_devices_are_not_doubted(imperfections):
    res = _row15(imperfections)
    breaths = analyze_breaths(res.trace).breaths
    assert len(breaths) == len(res.truth)
    assert segmentation_doubts(res.trace.t_s, res.trace.flow_lpm, breaths, 30.0) == []


def test_real_recording_is_not_doubted():
    trace = read_labchart(LABCHART_RECORDING)
    breaths = analyze_breaths(trace).breaths
    assert segmentation_doubts(trace.t_s, trace.flow_lpm, breaths, 10.0) == []
