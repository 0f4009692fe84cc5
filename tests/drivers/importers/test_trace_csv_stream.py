"""The streaming Trace CSV writer writes the bytes of the whole-trace writer."""

from __future__ import annotations

import numpy as np
import pytest

from ventbench.analysis.gas import Ambient
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.importers.trace_csv import TraceCsvStream, read_trace_csv, write_trace_csv
from ventbench.errors import ConfigError


def a_trace(flagged: bool) -> Trace:
    rng = np.random.default_rng(4)
    n = 257
    t = np.cumsum(rng.uniform(0.0005, 0.002, n)) + 1 / 3
    flags = np.zeros(n, np.uint8)
    if flagged:
        flags[[0, 17, 200]] = [SampleFlag.GAP, SampleFlag.FAULT | SampleFlag.STALE, 16]
    return Trace(t, rng.normal(0, 30, n), rng.normal(10, 5, n), "STP20",
                 Ambient(t_amb_degc=21.5, p_amb_hpa=1003.25, rh_pct=40.0, source="record"),
                 flags, {"fio2_pct": rng.uniform(21, 100, n), "t_gas_degc": np.full(n, np.nan)},
                 {"driver": "rig", "instrument": {"serial": "X1", "sensors": [1, 2]},
                  "note": "two\nlines", "format": "left out", "alignment": {"offset_s": 0.5}})


def stream(path, trace, cuts):
    with TraceCsvStream(path, trace.flow_condition, dict(trace.meta),
                        ambient=trace.ambient) as out:
        for a, b in zip([0, *cuts], [*cuts, len(trace)], strict=True):
            out.append(SampleBlock(trace.t_s[a:b], trace.flow_lpm[a:b], trace.paw_cmh2o[a:b],
                                   trace.flags[a:b], {k: v[a:b] for k, v in trace.channels.items()}))
    return out


@pytest.mark.parametrize("flagged", [True, False])
def test_stream_and_whole_writer_give_identical_bytes(tmp_path, flagged):
    trace = a_trace(flagged)
    write_trace_csv(tmp_path / "whole.csv", trace, always_flags=not flagged)
    out = stream(tmp_path / "stream.csv", trace, [0, 1, 100, 100, 256])
    assert out.rows == len(trace)
    assert (tmp_path / "stream.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    back = read_trace_csv(tmp_path / "stream.csv", validity=False)  # jittered test times
    np.testing.assert_array_equal(back.t_s, trace.t_s)
    np.testing.assert_array_equal(back.flags, trace.flags)
    assert back.ambient == trace.ambient


def test_an_empty_stream_is_an_empty_trace_file(tmp_path):
    trace = a_trace(False).slice(0, 0)
    stream(tmp_path / "s.csv", trace, [])
    write_trace_csv(tmp_path / "w.csv", Trace([], [], [], "STP20", trace.ambient,
                                             meta=trace.meta), always_flags=True)
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "w.csv").read_bytes()
    assert len(read_trace_csv(tmp_path / "s.csv")) == 0


def test_a_channel_missing_from_a_later_block_is_nan_and_bad_names_fail(tmp_path):
    with TraceCsvStream(tmp_path / "s.csv", "BTPS") as out:
        out.append(SampleBlock(np.array([0.0]), np.ones(1), np.ones(1), np.zeros(1, np.uint8),
                               {"fio2_pct": np.array([21.0])}))
        out.append(SampleBlock(np.array([1.0]), np.ones(1), np.ones(1), np.zeros(1, np.uint8)))
    assert np.isnan(read_trace_csv(tmp_path / "s.csv").channels["fio2_pct"][1])
    bad = TraceCsvStream(tmp_path / "b.csv", "BTPS")
    with pytest.raises(ConfigError, match="Bad"):
        bad.append(SampleBlock(np.array([0.0]), np.ones(1), np.ones(1), np.zeros(1, np.uint8),
                               {"Bad": np.array([1.0])}))
    bad.close()
