"""Trace CSV in blocks: the same samples, flags, counts and errors as a whole read, for any
block size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.drivers.importers.trace_csv import read_trace_csv, write_trace_csv
from ventbench.drivers.importers.trace_csv_chunks import TraceCsvChunks
from ventbench.errors import FrameError

from tests.drivers.importers.test_trace_csv import MALFORMED, traces

HEAD = "# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n"


def _read(path, rows, skip_bad=False):
    reader = TraceCsvChunks(path, rows=rows, skip_bad=skip_bad)
    blocks = list(reader)
    cat = {name: np.concatenate([getattr(b, name) for b in blocks]) if blocks
           else np.zeros(0, np.uint8 if name == "flags" else np.float64)
           for name in ("t_s", "flow_lpm", "paw_cmh2o", "flags")}
    names = blocks[0].channels if blocks else {}
    cat.update({n: np.concatenate([b.channels[n] for b in blocks]) for n in names})
    return reader, cat


@pytest.mark.parametrize(("text", "line", "words"), MALFORMED)
@pytest.mark.parametrize("rows", [1, 2, 1000])
def test_malformed_files_give_the_whole_readers_error(tmp_path, text, line, words, rows):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(FrameError) as whole:
        read_trace_csv(path)
    with pytest.raises(FrameError) as chunked:
        _read(path, rows)
    assert str(chunked.value) == str(whole.value)
    assert str(chunked.value).startswith(f"{path}:{line}:")


def test_time_must_increase_across_blocks(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(HEAD + "0,1,2\n0.01,1,2\n0.02,1,2\n0.015,1,2\n")
    with pytest.raises(FrameError, match=rf"^{path}:7: time 0.015 s does not increase \(previous 0.02 s\)"):
        _read(path, 3)


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 100])
@pytest.mark.parametrize("body", [
    "0,1,2\n0.01,1\n0.02,x,2\n0.03,1,2\n0.025,1,2\n0.04,1,2\n",  # bad lines and a time step back
    "0,1,2\n0.01,1,2\n0.02,1\n",                                  # a bad last line
    "0,1,2\n0.01,1\n0.02,1\n0.03,1\n0.04,1,2\n0.05,1,2\n",       # a hole across blocks
])
def test_skip_bad_gives_the_whole_readers_samples_flags_and_counts(tmp_path, rows, body):
    path = tmp_path / "t.csv"
    path.write_text(HEAD + body)
    whole = read_trace_csv(path, skip_bad=True, validity=False)
    reader, cat = _read(path, rows, skip_bad=True)
    np.testing.assert_array_equal(cat["t_s"], whole.t_s)
    np.testing.assert_array_equal(cat["flags"], whole.flags)
    assert reader.meta["skipped_lines"] == whole.meta["skipped_lines"]
    assert reader.meta["data_lines"] == len(whole)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(traces(), st.integers(1, 50))
def test_any_block_size_gives_the_samples_of_a_whole_read(tmp_path, trace, rows):
    path = tmp_path / "rt.csv"
    write_trace_csv(path, trace)
    whole = read_trace_csv(path, validity=False)
    reader, cat = _read(path, rows)
    for name in ("t_s", "flow_lpm", "paw_cmh2o", "flags"):
        np.testing.assert_array_equal(cat[name], getattr(whole, name), strict=True)
    if len(whole):
        np.testing.assert_array_equal(cat["fio2_pct"], whole.channels["fio2_pct"])
    assert (reader.flow_condition, reader.ambient) == (whole.flow_condition, whole.ambient)
