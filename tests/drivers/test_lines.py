"""Generic ASCII line driver: configuration, unit conversion, malformed lines, chunking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.lines import LineFramer, LinesDriver
from ventbench.errors import ConfigError
from ventbench.units import CMH2O_PER_HPA

from tests.drivers.chunking import feed_chunks

DATA = b"0.00,1.5,5.0\r\n0.01,2.5,5.5\r\n0.02,3.5,6.0\r\n"


def test_default_columns_time_flow_paw():
    driver = LinesDriver()
    block = driver.feed(DATA)
    np.testing.assert_allclose(block.t_s, [0.0, 0.01, 0.02])
    np.testing.assert_allclose(block.flow_lpm, [1.5, 2.5, 3.5])
    np.testing.assert_allclose(block.paw_cmh2o, [5.0, 5.5, 6.0])
    assert driver.flow_condition is GasCondition.BTPS and list(block.seq) == [0, 1, 2]


def test_header_units_scales_and_extra_channels():
    data = b"# rig v2\ntime;q;p;o2\n10;1.0;4.9;21\n20;-0.5;5.1;22\n"
    driver = LinesDriver(separator=";", header=True, time_column="time", flow_column="q",
                         paw_column="p", units={"time": "ms", "q": "l/s", "p": "mbar"},
                         scales={"o2": 0.5}, flow_condition="ATPD")
    block = driver.feed(data)
    np.testing.assert_allclose(block.t_s, [0.01, 0.02])
    np.testing.assert_allclose(block.flow_lpm, [60.0, -30.0])
    np.testing.assert_allclose(block.paw_cmh2o, np.array([4.9, 5.1]) * CMH2O_PER_HPA)
    np.testing.assert_allclose(block.channels["o2"], [10.5, 11.0])
    assert driver.flow_condition is GasCondition.ATPD


def test_sample_rate_time_base_and_whitespace_separator():
    driver = LinesDriver(separator=None, fs_hz=100, columns=["flow", "paw"])
    block = driver.feed(b"1 2\n3  4\n")
    np.testing.assert_allclose(block.t_s, [0.0, 0.01])


def test_no_pressure_column_is_missing_and_flagged():
    block = LinesDriver(fs_hz=50, columns=["flow"], paw_column=None).feed(b"1\n2\n")
    assert np.all(np.isnan(block.paw_cmh2o)) and np.all(block.flags & SampleFlag.FAULT)


def test_malformed_lines_are_counted_never_raised():
    data = b"0.0,1,5\nhello\n0.1,2\n0.2,x,5\n0.0,3,5\n\xff\xfe\n" + b"9" * 5000 + b"\n0.3,4,5\n"
    driver = LinesDriver()
    block = driver.feed(data)
    np.testing.assert_allclose(block.flow_lpm, [1.0, 4.0])
    assert driver.counters.rejected_frames == 6  # text, short, NaN-ish, backwards, binary, long


def test_bad_configuration_is_a_config_error():
    with pytest.raises(ConfigError, match="column 'paw' not among"):
        LinesDriver(columns=["t", "flow"])
    with pytest.raises(ConfigError, match="unknown flow unit"):
        LinesDriver(units={"flow": "gallons"})
    with pytest.raises(ConfigError, match="time_column or a positive fs_hz"):
        LinesDriver(time_column=None)


def test_line_framer_drops_overlong_lines():
    framer = LineFramer(max_len=8)
    assert framer.feed(b"0123456789abc") == []
    assert framer.feed(b"def\nok\n") == [b"ok"]
    assert framer.rejected == 1


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 12), max_size=30), st.binary(max_size=40))
def test_any_chunking_gives_identical_samples_and_noise_never_raises(cuts, noise):
    data = DATA + noise + b"\n" + b"".join(f"{1 + k},{k}.5,5\n".encode() for k in range(20))

    def run(chunks):
        return feed_chunks(LinesDriver(), data, chunks)

    whole, chunked = run([]), run(cuts)
    np.testing.assert_array_equal(whole.t_s, chunked.t_s)
    np.testing.assert_array_equal(whole.flow_lpm, chunked.flow_lpm)
    assert not any(math.isnan(f) for f in whole.flow_lpm)
    assert np.all(np.diff(whole.t_s) > 0)
