"""ventMAP / PB840 breath-file importer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ventbench.analysis.gas import GasCondition
from ventbench.drivers.importers.ventmap import read_ventmap
from ventbench.errors import FrameError

GOOD = """2016-02-17-08-43-02.525325
BS, S:101,
0.90, 7.00
12.50, 9.80
20.25, 14.10
-18.00, 12.00
-4.50, 7.20
BE
0.10, 7.00
BS, S:102,
1.00, 7.05
15.00, 10.00
BE
"""


def write(tmp_path, text: str, name: str = "pb840.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_breaths_at_50_hz_with_btps_condition(tmp_path):
    trace = read_ventmap(write(tmp_path, GOOD))
    assert len(trace) == 8
    np.testing.assert_allclose(trace.t_s, np.arange(8) * 0.02)
    np.testing.assert_allclose(trace.flow_lpm[:3], [0.9, 12.5, 20.25])
    np.testing.assert_allclose(trace.paw_cmh2o[-1], 10.0)
    assert trace.flow_condition is GasCondition.BTPS
    bn = trace.channels["breath_number"]
    assert list(bn[:5]) == [101.0] * 5 and math.isnan(bn[5]) and list(bn[6:]) == [102.0, 102.0]
    assert trace.meta["breaths"] == 2 and trace.meta["skipped_lines"] == 0
    assert trace.meta["timestamps"] == [{"sample": 0, "time": "2016-02-17-08-43-02.525325"}]


def test_three_column_rows_with_time_stamps(tmp_path):
    text = "BS, S:7,\n2020-01-01 10:00:00.00, 1.5, 6.0\n2020-01-01 10:00:00.02, 2.5, 6.5\nBE\n"
    trace = read_ventmap(write(tmp_path, text))
    np.testing.assert_allclose(trace.flow_lpm, [1.5, 2.5])
    assert len(trace.meta["timestamps"]) == 2


@pytest.mark.parametrize(("bad", "line", "what"), [
    ("1.0, x\n", 4, "two numbers"),
    ("BS, 12\n", 4, "breath start"),
    ("1.0, 2.0, 3.0\n", 4, "found '1.0, 2.0, 3.0'"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad, line, what):
    text = GOOD.splitlines(keepends=True)
    text.insert(3, bad)
    path = write(tmp_path, "".join(text))
    with pytest.raises(FrameError, match=rf"pb840.csv:{line}: .*{what}"):
        read_ventmap(path)
    trace = read_ventmap(path, skip_bad=True)
    assert trace.meta["skipped_lines"] == 1 and len(trace) == 8


def test_binary_garbage_and_empty_files(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"BS, S:1,\n1.0, 2.0\n\xff\xfe\n")
    with pytest.raises(FrameError, match=r"bin.csv:3: not ASCII"):
        read_ventmap(path)
    with pytest.raises(FrameError, match="no data rows"):
        read_ventmap(write(tmp_path, "BS, S:1,\nBE\n", "empty.csv"))
