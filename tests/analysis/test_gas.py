"""Gas conditions: known factors from STANDARDS.md §4 and round-trip properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ventbench.analysis.gas import (
    Ambient,
    GasCondition,
    conversion_factor,
    water_vapour_pressure_hpa,
)
from ventbench.errors import ConfigError
from ventbench.units import HPA_PER_MMHG

ambients = st.builds(
    Ambient,
    t_amb_degc=st.floats(0.0, 45.0),
    p_amb_hpa=st.floats(700.0, 1100.0),
    rh_pct=st.floats(0.0, 100.0),
)
conditions = st.sampled_from(list(GasCondition))


def test_btps_over_atpd_at_25_degc_is_the_standards_figure():
    # STANDARDS.md §4: "BTPS/ATPD ≈ 1.108"; the formula gives that at 25 °C, 760 mmHg.
    factor = conversion_factor("ATPD", "BTPS", Ambient(25.0, 760 * HPA_PER_MMHG))
    assert factor == pytest.approx(1.1088, abs=5e-4)


def test_btps_over_atpd_written_out():
    amb = Ambient(22.0, 1008.0)
    expected = amb.p_amb_hpa / (amb.p_amb_hpa - 47 * HPA_PER_MMHG) * 310.15 / 295.15
    assert conversion_factor("ATPD", "BTPS", amb) == pytest.approx(expected, rel=1e-12)


def test_atps_to_btps_uses_ambient_saturation():
    amb = Ambient(22.0, 1013.25)
    ph2o = water_vapour_pressure_hpa(22.0)
    expected = (1013.25 - ph2o) / (1013.25 - 47 * HPA_PER_MMHG) * 310.15 / 295.15
    assert conversion_factor(GasCondition.ATPS, GasCondition.BTPS, amb) == pytest.approx(expected)


def test_stpd_from_atpd_written_out():
    amb = Ambient(22.0, 1008.0)
    expected = 1008.0 / 1013.25 * 273.15 / 295.15
    assert conversion_factor("ATPD", "STPD", amb) == pytest.approx(expected, rel=1e-12)


def test_standard_reading_to_ambient_dry():
    # §4: × (Pref / Pamb) · ((273.15 + Tamb) / (273.15 + Tref))
    amb = Ambient(25.0, 950.0)
    expected = (1013.25 / 950.0) * (298.15 / 293.15)
    assert conversion_factor("STP20", "ATPD", amb) == pytest.approx(expected, rel=1e-12)


def test_unconverted_stp20_sensor_reads_about_eleven_percent_low():
    factor = conversion_factor("STP20", "BTPS", Ambient(22.0, 1013.25))
    assert 1 - 1 / factor == pytest.approx(0.113, abs=0.005)


@pytest.mark.parametrize(
    ("t_degc", "p_hpa"),
    [(0.0, 6.112), (20.0, 23.39), (37.0, 62.8), (25.0, 31.7)],
)
def test_water_vapour_pressure_known_values(t_degc, p_hpa):
    assert water_vapour_pressure_hpa(t_degc) == pytest.approx(p_hpa, rel=3e-3)


@given(conditions, conditions, ambients)
def test_round_trip_is_identity(a, b, amb):
    assert conversion_factor(a, b, amb) * conversion_factor(b, a, amb) == pytest.approx(1.0)


@given(conditions, conditions, conditions, ambients)
def test_factors_compose(a, b, c, amb):
    direct = conversion_factor(a, c, amb)
    assert conversion_factor(a, b, amb) * conversion_factor(b, c, amb) == pytest.approx(direct)


@given(conditions, ambients)
def test_same_condition_is_one(a, amb):
    assert conversion_factor(a, a, amb) == 1.0


def test_unknown_condition_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="BTPD"):
        conversion_factor("BTPD", "BTPS", Ambient())


def test_parse_is_case_insensitive():
    assert GasCondition.parse(" btps ") is GasCondition.BTPS


@pytest.mark.parametrize(
    "kwargs", [{"t_amb_degc": 80.0}, {"p_amb_hpa": 101.3}, {"rh_pct": -1.0}]
)
def test_implausible_ambient_is_rejected(kwargs):
    # 101.3 is kPa typed where hPa is expected: the classic unit slip.
    with pytest.raises(ConfigError):
        Ambient(**kwargs)


def test_btps_water_vapour_is_47_mmhg():
    from ventbench.analysis.gas import P_H2O_BTPS_HPA

    assert math.isclose(P_H2O_BTPS_HPA / HPA_PER_MMHG, 47.0)
