"""PIRDS file importer (JSON lines and binary)."""

from __future__ import annotations

import numpy as np
import pytest

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.importers.pirds_file import read_pirds
from ventbench.drivers.pirds_codec import Event, encode_binary, encode_json
from ventbench.errors import FrameError


def events() -> list[Event]:
    out = [Event("E", "N", text="VentMon"), Event("M", "P", "B", 0, 0, 10330),
           Event("M", "T", "B", 0, 0, 2250)]
    for k in range(6):
        out.append(Event("M", "F", "A", 0, 100 + 10 * k, 1000 * k))
        out.append(Event("M", "D", "A", 0, 105 + 10 * k, 50 + k))
    out.append(Event("A", "V", "A", 0, 160, 480))
    return out


def test_json_lines_file(tmp_path):
    path = tmp_path / "log.json"
    path.write_bytes(b"".join(encode_json(e) for e in events()))
    trace = read_pirds(path)
    assert trace.flow_condition is GasCondition.STPD
    np.testing.assert_allclose(trace.t_s, 0.1 + 0.01 * np.arange(6))
    np.testing.assert_allclose(trace.flow_lpm, np.arange(6))
    assert np.isnan(trace.paw_cmh2o[0]) and trace.flags[0] & SampleFlag.FAULT
    np.testing.assert_allclose(trace.paw_cmh2o[1:], [5.0, 5.1, 5.2, 5.3, 5.4])
    assert trace.ambient.t_amb_degc == pytest.approx(22.5)
    assert trace.ambient.p_amb_hpa == pytest.approx(1033.0 * 0.980665)
    assert trace.meta["assertions"] == [{"name": "vt_ml", "value": 480.0, "ms": 160}]
    assert trace.meta["format"] == "pirds-json"


def test_binary_file_gives_the_same_trace(tmp_path):
    jpath, bpath = tmp_path / "a.json", tmp_path / "a.bin"
    jpath.write_bytes(b"".join(encode_json(e) for e in events()))
    bpath.write_bytes(b"".join(encode_binary(e) for e in events()))
    a, b = read_pirds(jpath), read_pirds(bpath)
    np.testing.assert_array_equal(a.flow_lpm, b.flow_lpm)
    np.testing.assert_array_equal(a.t_s, b.t_s)
    assert b.meta["format"] == "pirds-binary"


def test_malformed_json_line_names_file_and_line(tmp_path):
    lines = [encode_json(e) for e in events()]
    lines.insert(4, b"VentMon: sensor fault\n")
    lines.insert(6, b'{"event":"M","type":"Q","loc":"A","num":0,"ms":1,"val":1}\n')
    path = tmp_path / "bad.json"
    path.write_bytes(b"".join(lines))
    with pytest.raises(FrameError, match=r"bad.json:5: expected a PIRDS JSON event"):
        read_pirds(path)
    trace = read_pirds(path, skip_bad=True)
    assert trace.meta["skipped_lines"] == 2 and len(trace) == 6


def test_malformed_binary_record_names_the_byte_offset(tmp_path):
    data = b"".join(encode_binary(e) for e in events())
    bad = data[:46] + b"\x00\x01" + data[46:]  # between two records (10 + 3 × 12 bytes)
    path = tmp_path / "bad.bin"
    path.write_bytes(bad)
    with pytest.raises(FrameError, match=r"bad.bin: byte 46: expected a PIRDS binary record"):
        read_pirds(path)
    trace = read_pirds(path, skip_bad=True)
    assert trace.meta["skipped_lines"] == 1 and len(trace) == 6


def test_file_without_flow_is_an_error(tmp_path):
    path = tmp_path / "noflow.json"
    path.write_bytes(encode_json(Event("M", "D", "A", 0, 1, 5)))
    with pytest.raises(FrameError, match="no flow events"):
        read_pirds(path)
