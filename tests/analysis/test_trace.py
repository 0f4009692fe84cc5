"""Trace validation and conversion."""

from __future__ import annotations

import numpy as np
import pytest

from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.analysis.trace import SampleFlag, Trace, flag_names
from ventbench.errors import AnalysisError, ConfigError


def make(n=5, **kw):
    t = np.arange(n) * 0.01
    return Trace(t, np.ones(n), np.zeros(n), **kw)


def test_arrays_are_read_only_float64():
    tr = make()
    assert tr.flow_lpm.dtype == np.float64
    with pytest.raises(ValueError):
        tr.flow_lpm[0] = 3.0


def test_length_mismatch_names_the_arrays():
    with pytest.raises(AnalysisError, match="length mismatch"):
        Trace([0, 1, 2], [1, 2], [0, 0, 0])


def test_non_monotonic_time_names_the_sample():
    with pytest.raises(AnalysisError, match="sample 2"):
        Trace([0.0, 0.1, 0.1], [1, 2, 3], [0, 0, 0])


def test_nan_flow_needs_a_gap_or_fault_flag():
    with pytest.raises(AnalysisError, match="sample 1"):
        Trace([0, 1, 2], [1, np.nan, 3], [0, 0, 0])
    tr = Trace([0, 1, 2], [1, np.nan, 3], [0, 0, 0], flags=[0, SampleFlag.GAP, 0])
    assert np.isnan(tr.flow_lpm[1])


def test_unknown_condition():
    with pytest.raises(ConfigError, match="unknown gas condition"):
        make(flow_condition="XTPS")


def test_converted_applies_the_gas_factor():
    amb = Ambient(24.0, 990.0)
    tr = make(flow_condition="STP20", ambient=amb)
    out, factor = tr.converted("BTPS")
    assert factor == conversion_factor("STP20", "BTPS", amb)
    assert out.flow_condition is GasCondition.BTPS
    np.testing.assert_array_equal(out.flow_lpm, tr.flow_lpm * factor)
    np.testing.assert_array_equal(out.paw_cmh2o, tr.paw_cmh2o)


def test_converted_to_its_own_condition_is_the_same_trace():
    tr = make(flow_condition="BTPS")
    out, factor = tr.converted("BTPS")
    assert out is tr and factor == 1.0
    other, _ = tr.converted("ATPD")
    assert other is not tr and other.flow_condition is GasCondition.ATPD


def test_slice_keeps_channels_and_flags():
    tr = make(10, flags=np.arange(10) % 2, channels={"fio2_pct": np.full(10, 21.0)})
    part = tr.slice(2, 6)
    assert len(part) == 4
    assert part.channels["fio2_pct"].shape == (4,)
    assert part.flags.tolist() == [0, 1, 0, 1]


def test_flag_names():
    assert flag_names(SampleFlag.GAP | SampleFlag.STALE) == ["gap", "stale"]


def test_fs_hz():
    assert make(100).fs_hz == pytest.approx(100.0)
