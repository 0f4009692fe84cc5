"""run / replay / verify share one re-analysis path: the point's set Ti and rate reach the
adaptive levels, and the segmentation's self-check turns doubt into INCONCLUSIVE there too."""

from __future__ import annotations

from ventbench.analysis.checks import JudgementRule
from ventbench.analysis.limits import load_limits
from ventbench.analysis.segment import SegmentationSettings
from ventbench.bench.analysis_config import AnalysisConfig
from ventbench.bench.reanalysis import analyze_trace
from ventbench.drivers.sim import Lung, SensorModel, VentilatorSettings, simulate

#: ISO 80601-2-12 Table 201.104 row 15 (VT 30 mL, 30 bpm, Ti 0.6 s, PEEP 10, C 1, R 100).
POINT = {"id": "vc-15", "mode": "vc", "group": "paediatric",
         "set": {"vt_ml": 30.0, "rate_bpm": 30.0, "ti_s": 0.6, "peep_cmh2o": 10.0},
         "lung": {"c_ml_per_hpa": 1.0, "r_hpa_s_per_l": 100.0}, "checks": ["vt", "peep", "rate", "ti"]}


def _trace():
    return simulate(VentilatorSettings("vc", vt_ml=30, rate_bpm=30, ti_s=0.6, peep_cmh2o=10),
                    Lung(1, 100), sensors=SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05),
                    n_breaths=45, fs_hz=1000, seed=2).trace


def _config(group_settings: SegmentationSettings) -> AnalysisConfig:
    return AnalysisConfig(limits=load_limits("iso80601-2-12"), rule=JudgementRule(),
                          segmentation={"": SegmentationSettings.auto(), "paediatric": group_settings})


def test_adaptive_settings_take_the_points_set_ti_and_rate():
    config = _config(SegmentationSettings.auto())
    settings = config.segmentation_for(POINT)
    assert (settings.adaptive, settings.set_ti_s, settings.set_rate_bpm) == (True, 0.6, 30.0)
    by_ie = dict(POINT, set={"vt_ml": 30.0, "rate_bpm": 30.0, "ie_ratio": 2.0, "peep_cmh2o": 10.0})
    assert config.segmentation_for(by_ie).set_ti_s == 60.0 / 30.0 / 3.0
    adult = _config(SegmentationSettings.preset("adult")).segmentation_for(POINT)
    assert adult == SegmentationSettings.preset("adult")  # a preset is taken as it is


def test_a_healthy_point_passes_with_adaptive_levels_and_no_doubt():
    point = analyze_trace(_trace(), POINT, _config(SegmentationSettings.auto()))
    assert point["verdict"] == "PASS", point.get("reason")
    assert "segmentation_doubts" not in point


def test_a_wrong_preset_in_a_session_is_inconclusive_with_what_was_seen():
    point = analyze_trace(_trace(), POINT, _config(SegmentationSettings.preset("adult")))
    assert point["verdict"] == "INCONCLUSIVE"
    assert point["reason"].startswith("segmentation in doubt: unassigned inspiratory activity")
    assert point["segmentation_doubts"]
