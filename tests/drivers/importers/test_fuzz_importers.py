"""Attacks as tests: every importer, fed mutated files, gives a Trace or a clear error
(a BenchError naming the file), never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.analysis.trace import Trace
from ventbench.drivers.importers import read_trace
from ventbench.drivers.pirds_codec import Event, encode_binary, encode_json
from ventbench.errors import BenchError

from tests.conftest import FIXTURES, LABCHART_RECORDING

PIRDS_EVENTS = [Event("M", "P", "B", 0, 0, 10330)] + [
    e for k in range(8) for e in (Event("M", "F", "A", 0, 100 + 10 * k, 1000 * k),
                                  Event("M", "D", "A", 0, 105 + 10 * k, 50 + k))]
VENTMAP = (b"2016-02-17-08-43-02.525325\nBS, S:101,\n0.90, 7.00\n12.50, 9.80\n20.25, 14.10\n"
           b"-18.00, 12.00\nBE\nBS, S:102,\n1.00, 7.05\n15.00, 10.00\nBE\n")


def _lines(data: bytes, n: int) -> bytes:
    """The first whole lines of ``data`` within ``n`` bytes."""
    return data[: data.rindex(b"\n", 0, n) + 1]


def _seeds() -> dict[str, bytes]:
    capture = FIXTURES / "sessions" / "demo-pass" / "points" / "vc-01" / "capture.vbcap"
    return {
        "csv": _lines((FIXTURES / "traces" / "vc-adult-short.csv").read_bytes(), 3000),
        "labchart": _lines(LABCHART_RECORDING.read_bytes(), 3000),
        "pirds": b"".join(encode_json(e) for e in PIRDS_EVENTS),
        "pirds-binary": b"".join(encode_binary(e) for e in PIRDS_EVENTS),
        "ventmap": VENTMAP,
        "vbcap": capture.read_bytes()[:6000],
    }


SEEDS = _seeds()


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with a few byte flips, insertions, deletions, a truncation or a splice."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "special"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif kind == "truncate":
            del data[at:]
        else:  # texts that parse as numbers but are not ones we can take
            data[at:at] = draw(st.sampled_from(
                [b"nan", b"inf", b"-inf", b"1e999", b"1e12", b"\n", b",", b"\t", b"\xff\xfe",
                 b"# ventbench-trace: 1\n", b"\x00", b"1_0", b"\r"]))
    return bytes(data)


def _read(fmt: str, data: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"
        path.write_bytes(data)
        try:
            trace = read_trace(path, "pirds" if fmt.startswith("pirds") else fmt)
        except BenchError as error:
            assert str(error), "a clear error has a message"
            return None
        assert isinstance(trace, Trace)
        assert np.all(np.diff(trace.t_s) > 0)
        finite = np.isfinite(trace.flow_lpm)
        assert np.all(np.abs(trace.flow_lpm[finite]) <= 300.0)  # impossible values never pass
        return trace


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_seed_reads(fmt):
    assert _read(fmt, SEEDS[fmt]) is not None


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mutated_file_is_a_trace_or_a_clear_error(fmt, data):
    _read(fmt, data.draw(mutated(SEEDS[fmt])))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["csv", "labchart", "pirds", "ventmap", "vbcap"]))
def test_random_bytes_are_a_clear_error_or_a_trace(data, fmt):
    _read(fmt, data)
