"""LabChart text export importer: the real recording and hand-made malformed files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.importers.labchart import read_labchart
from ventbench.errors import ConfigError, FrameError
from ventbench.units import CMH2O_PER_MMHG

from tests.conftest import LABCHART_RECORDING

HEADER = (
    "Interval=\t0.01 s\n"
    "ExcelDateTime=\t4.4003156517691241e+004\t6/21/2020 3:45:23.128523\n"
    "TimeFormat=\tStartOfBlock\n"
    "DateFormat=\n"
    "ChannelTitle=\tFlow\tPressure\tVolume\tBreath Rate\n"
    "Range=\t20.000 L/s\t5.000 mV\t4.000 L\t500.0000 BPM\n"
    "UnitName=\t*\tmmHg\t*\t*\n"
    "TopValue=\t*\t212.87\t*\t*\n"
    "BottomValue=\t*\t-213.32\t*\t*\n"
)
ROWS = [
    "0\t0.5\t3.0\t0.001\tNaN",
    "0.01\t-0.25\t3.5\t0.002\tNaN",
    "0.02\t0\t4.0\t0.003\t10.5",
    "0.03\t0.1\t4.5\t0.004\t10.5",
]


def write(tmp_path, rows, header=HEADER, name="x.txt"):
    path = tmp_path / name
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def test_real_recording_units_and_channels():
    trace = read_labchart(LABCHART_RECORDING)
    assert len(trace) == 11800
    assert trace.fs_hz == pytest.approx(100.0)
    assert trace.t_s[0] == 0.0 and trace.t_s[-1] == pytest.approx(117.99)
    # first data line: 0.00751875 L/s, -0.06078862 mmHg
    assert trace.flow_lpm[0] == pytest.approx(0.00751875 * 60.0)
    assert trace.paw_cmh2o[0] == pytest.approx(-0.06078862 * CMH2O_PER_MMHG)
    assert trace.flow_condition is GasCondition.ATPD
    assert set(trace.channels) == {"labchart_volume_l", "labchart_rate_bpm"}
    assert math.isnan(trace.channels["labchart_rate_bpm"][0])
    assert trace.meta["skipped_lines"] == 0
    assert trace.meta["flow_unit"] == "L/s" and trace.meta["pressure_unit"] == "mmHg"
    assert "ATPD" in trace.meta["flow_condition_source"]
    # PEEP 5 cmH2O set shows up as about 3.8 mmHg: after conversion about 5.2 cmH2O
    late = (trace.t_s > 40.0) & (trace.t_s < 42.0)
    assert np.median(trace.paw_cmh2o[late]) == pytest.approx(5.2, abs=0.3)


def test_small_file_values_units_and_condition(tmp_path):
    path = write(tmp_path, ROWS)
    trace = read_labchart(path, flow_condition="btps", ambient=Ambient(25.0, 1000.0))
    assert trace.t_s.tolist() == [0.0, 0.01, 0.02, 0.03]
    assert trace.flow_lpm.tolist() == pytest.approx([30.0, -15.0, 0.0, 6.0])
    assert trace.paw_cmh2o.tolist() == pytest.approx([3.0 * CMH2O_PER_MMHG, 3.5 * CMH2O_PER_MMHG,
                                                      4.0 * CMH2O_PER_MMHG, 4.5 * CMH2O_PER_MMHG])
    assert trace.channels["labchart_volume_l"].tolist() == pytest.approx([0.001, 0.002, 0.003, 0.004])
    assert trace.flow_condition is GasCondition.BTPS
    assert trace.ambient.t_amb_degc == 25.0
    assert trace.meta["source_path"] == str(path)


def test_unit_override(tmp_path):
    path = write(tmp_path, ROWS)
    trace = read_labchart(path, flow_unit="L/min", pressure_unit="cmH2O")
    assert trace.flow_lpm[0] == 0.5 and trace.paw_cmh2o[0] == 3.0
    with pytest.raises(ConfigError, match="unknown pressure unit 'furlong'"):
        read_labchart(path, pressure_unit="furlong")


def test_nan_flow_or_pressure_flags_gap(tmp_path):
    rows = list(ROWS)
    rows[1] = "0.01\tNaN\t3.5\t0.002\tNaN"
    rows[2] = "0.02\t0\tNaN\t0.003\t10.5"
    trace = read_labchart(write(tmp_path, rows))
    assert trace.flags.tolist() == [0, SampleFlag.GAP, SampleFlag.GAP, 0]


@pytest.mark.parametrize(
    "bad, message",
    [
        ("0.02\t0\t4.0\t0.003", "line 12: 4 fields, expected 5"),
        ("0.02\t0\tabc\t0.003\t1", "line 12: a value that is not a number"),
        ("0.005\t0\t4.0\t0.003\t1", "line 12: time 0.005 s is not finite or does not increase"),
    ],
)
def test_malformed_line_named_or_skipped(tmp_path, bad, message):
    rows = list(ROWS)
    rows[2] = bad
    path = write(tmp_path, rows)
    with pytest.raises(FrameError, match=f"x.txt: {message}"):
        read_labchart(path)
    trace = read_labchart(path, skip_bad=True)
    assert trace.meta["skipped_lines"] == 1
    assert len(trace) == 3
    assert np.all(np.diff(trace.t_s) > 0)


def test_missing_channel_and_header(tmp_path):
    path = write(tmp_path, ROWS, header=HEADER.replace("\tPressure\t", "\tPaw\t"))
    with pytest.raises(FrameError, match="no channel titled 'Pressure'.*found: Flow, Paw"):
        read_labchart(path)
    assert read_labchart(path, pressure_channel="paw").paw_cmh2o[0] == pytest.approx(3.0 * CMH2O_PER_MMHG)
    with pytest.raises(FrameError, match="no ChannelTitle= line"):
        read_labchart(write(tmp_path, ROWS, header="Interval=\t0.01 s\n", name="y.txt"))
