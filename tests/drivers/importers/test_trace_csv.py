"""Trace CSV reader and writer, and the format dispatcher."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.drivers.importers import read_trace, sniff_format
from ventbench.drivers.importers.trace_csv import read_trace_csv, write_trace_csv
from ventbench.errors import ConfigError, FrameError

GOOD = """\
# ventbench-trace: 1
# flow_condition: ATPD
# t_amb_degc: 23.5
# p_amb_hpa: 1001.0
# instrument: rig-7
t_s,flow_lpm,paw_cmh2o,fio2_pct
0.000,0.12,5.03,21.0
0.010,1.5,5.10,21.1
0.020,3.0,5.40,21.0
"""


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_contract_example(tmp_path):
    tr = read_trace_csv(write(tmp_path, GOOD))
    assert tr.flow_condition is GasCondition.ATPD
    assert tr.ambient.t_amb_degc == 23.5 and tr.ambient.p_amb_hpa == 1001.0
    assert tr.ambient.source == "file"
    np.testing.assert_array_equal(tr.t_s, [0.0, 0.01, 0.02])
    np.testing.assert_array_equal(tr.flow_lpm, [0.12, 1.5, 3.0])
    np.testing.assert_array_equal(tr.channels["fio2_pct"], [21.0, 21.1, 21.0])
    assert not tr.flags.any()
    assert tr.meta["instrument"] == "rig-7"
    assert tr.meta["skipped_lines"] == 0 and tr.meta["data_lines"] == 3


def test_flags_column_and_flagged_nan_flow(tmp_path):
    text = GOOD.replace(",fio2_pct\n", ",flags\n").replace(",21.0\n", ",0\n", 1)
    text = text.replace("0.010,1.5,5.10,21.1", "0.010,nan,5.10,1").replace(",21.0\n", ",4\n")
    tr = read_trace_csv(write(tmp_path, text))
    assert list(tr.flags) == [0, SampleFlag.GAP, SampleFlag.SATURATED]
    assert math.isnan(tr.flow_lpm[1])


#: Malformed files: (text, line named, words of the message).
MALFORMED = [
    ("t_s,flow_lpm,paw_cmh2o\n0,1,2\n", 1, "missing magic line"),
    ("# ventbench-trace: 2\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n", 1,
     "unknown ventbench-trace version '2'"),
    ("# ventbench-trace: 1\n# flow_condition: NTP\nt_s,flow_lpm,paw_cmh2o\n", 2,
     "unknown gas condition 'NTP'"),
    ("# ventbench-trace: 1\nt_s,flow_lpm,paw_cmh2o\n", 2, "no '# flow_condition:'"),
    ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm\n0,1\n", 3,
     "lacks column(s) paw_cmh2o"),
    ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o,fio2\n", 3,
     "column 'fio2' does not name its unit"),
    ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n0,1,2\n"
     "0.01,1,2,3\n", 5, "wrong field count: expected 3"),
    ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n0,1,2\n"
     "# a comment\n0.01,1,abc\n", 6, "column paw_cmh2o: 'abc' is not a number"),
    ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n0,1,2\n"
     "0.02,1,2\n0.01,1,2\n", 6, "time 0.01 s does not increase"),
    ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n0,1,2\n"
     "0.01,nan,2\n", 5, "not flagged as a gap or fault"),
    ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o,flags\n"
     "0,1,2,0.5\n", 4, "flags must be an integer mask"),
    ("# ventbench-trace: 1\n# flow_condition: BTPS\n# t_amb_degc: warm\n"
     "t_s,flow_lpm,paw_cmh2o\n", 3, "t_amb_degc must be a number"),
]


@pytest.mark.parametrize(("text", "line", "words"), MALFORMED)
def test_malformed_files_name_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(FrameError) as info:
        read_trace_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message
    assert "\n" not in message


def test_skip_bad_counts_skipped_lines(tmp_path):
    text = (
        "# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n"
        "0,1,2\n0.01,1\n0.02,x,2\n0.03,1,2\n0.025,1,2\n0.04,1,2\n"
    )
    tr = read_trace_csv(write(tmp_path, text), skip_bad=True)
    np.testing.assert_array_equal(tr.t_s, [0.0, 0.03, 0.04])
    assert tr.meta["skipped_lines"] == 3
    # each hole flags the sample after it, so no verdict trusts data across it
    assert list(tr.flags) == [0, SampleFlag.GAP, SampleFlag.GAP]


def test_skip_bad_trailing_lines_count_without_flagging(tmp_path):
    text = ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n"
            "0,1,2\n0.01,1,2\n0.02,1\n")
    tr = read_trace_csv(write(tmp_path, text), skip_bad=True)
    assert tr.meta["skipped_lines"] == 1 and not tr.flags.any()


def test_empty_data_gives_empty_trace(tmp_path):
    tr = read_trace_csv(write(tmp_path, "# ventbench-trace: 1\n# flow_condition: BTPS\n"
                                       "t_s,flow_lpm,paw_cmh2o\n"))
    assert len(tr) == 0


def test_writer_is_deterministic_and_readable(tmp_path):
    tr = Trace([0.0, 0.1, 0.2], [0.1, -2.5, 1e-9], [5.0, np.nan, 7.0], "STP20",
               Ambient(21.0, 990.0, 40.0, "measured"), channels={"fio2_pct": [21, 22, 23]},
               meta={"instrument": "sim", "nested": {"a": 1}})
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_trace_csv(a, tr)
    write_trace_csv(b, tr)
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    assert text.startswith("# ventbench-trace: 1\n# flow_condition: STP20\n")
    assert "t_s,flow_lpm,paw_cmh2o,fio2_pct\n0.0,0.1,5.0,21.0\n" in text
    back = read_trace_csv(a)
    assert back.meta["nested"] == '{"a": 1}'
    assert back.ambient == tr.ambient


def test_writer_refuses_unitless_channel(tmp_path):
    tr = Trace([0.0], [0.0], [0.0], channels={"pressure": [1.0]})
    with pytest.raises(ConfigError, match="pressure"):
        write_trace_csv(tmp_path / "x.csv", tr)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
maybe_nan = st.floats(allow_infinity=False, width=64)


@st.composite
def traces(draw):
    n = draw(st.integers(min_value=0, max_value=40))
    steps = draw(st.lists(st.floats(1e-6, 10.0), min_size=n, max_size=n))
    t0 = draw(st.floats(-1e3, 1e3))
    t = t0 + np.cumsum(steps) if n else np.empty(0)
    t = np.unique(t)  # cumsum of tiny steps may round to equal neighbours
    n = len(t)
    flags = np.array(draw(st.lists(st.integers(0, 31), min_size=n, max_size=n)), dtype=np.uint8)
    flow = np.array(draw(st.lists(maybe_nan, min_size=n, max_size=n)))
    flow[~np.isfinite(flow)] = np.nan
    flags[np.isnan(flow)] |= np.uint8(SampleFlag.GAP)
    paw = draw(st.lists(maybe_nan, min_size=n, max_size=n))
    fio2 = draw(st.lists(finite, min_size=n, max_size=n))
    condition = draw(st.sampled_from(list(GasCondition)))
    ambient = Ambient(draw(st.floats(-40, 60)), draw(st.floats(500, 1200)),
                      draw(st.floats(0, 100)), draw(st.sampled_from(["default", "measured x"])))
    return Trace(t, flow, paw, condition, ambient, flags, {"fio2_pct": fio2})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(traces())
def test_write_read_round_trips_exactly(tmp_path, trace):
    path = tmp_path / "rt.csv"
    write_trace_csv(path, trace)
    back = read_trace_csv(path, validity=False)  # the format's round trip, not the checks
    for name in ("t_s", "flow_lpm", "paw_cmh2o", "flags"):
        np.testing.assert_array_equal(getattr(back, name), getattr(trace, name), strict=True)
    np.testing.assert_array_equal(back.channels["fio2_pct"], trace.channels["fio2_pct"])
    assert back.flow_condition is trace.flow_condition
    assert back.ambient == trace.ambient


def test_dispatcher_sniffs_and_checks_options(tmp_path):
    path = write(tmp_path, GOOD, "trace.dat")
    assert sniff_format(path) == "csv"
    assert len(read_trace(path)) == 3
    assert len(read_trace(path, "csv", skip_bad=True)) == 3
    with pytest.raises(ConfigError, match="--flow-unit do not apply to the csv format"):
        read_trace(path, "csv", flow_unit="l/s")
    with pytest.raises(ConfigError, match="unknown trace format 'xls'"):
        read_trace(path, "xls")
    other = write(tmp_path, "hello\n", "x.bin")
    with pytest.raises(ConfigError, match="cannot tell the file format"):
        read_trace(other)
    with pytest.raises(OSError):
        read_trace(tmp_path / "missing.csv")


def test_sniffs_other_formats(tmp_path):
    assert sniff_format(write(tmp_path, "Interval=\t0.01 s\nChannelTitle=\tFlow\n", "a.txt")) == "labchart"
    assert sniff_format(write(tmp_path, "BS, S:54042,\n0.87, 7.04\nBE\n", "b.txt")) == "ventmap"
    assert sniff_format(write(tmp_path, '{"event":"M","type":"D"}\n', "c.txt")) == "pirds"
    assert sniff_format(write(tmp_path, "t,x\n", "d.csv")) == "csv"  # then the reader says why not
