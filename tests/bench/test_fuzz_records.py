"""Attacks as tests: every session-file reader, fed mutated records, gives a result or a
clear error (a BenchError), never another exception — bytes mutated, and well-formed JSON
with values of the wrong kind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.bench.integrity import record_check
from ventbench.bench.records import read_json
from ventbench.bench.report.source import load_session as report_session
from ventbench.bench.session import load_session
from ventbench.errors import BenchError

from tests.conftest import FIXTURES

RECORDS = ["start.json", "stop.json", "results.json", "instruments.json",
           "points/vc-02/point.json"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    return Path(shutil.copytree(FIXTURES / "sessions" / "demo-fail",
                                tmp_path_factory.mktemp("fuzz") / "s"))


def read_everything(root: Path) -> None:
    for reader in (lambda: read_json(root / "stop.json"), lambda: load_session(root),
                   lambda: report_session(root)):
        try:
            reader()
        except BenchError as error:
            assert str(error)
    findings, _, _ = record_check(root)  # never raises: says what it could not check
    assert isinstance(findings.mismatches, list)


def _paths(document, prefix=()):
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for i, value in enumerate(document[:3]):
            yield from _paths(value, (*prefix, i))


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(RECORDS), data=st.data())
def test_mutated_bytes(session, name, data):
    path = session / name
    original = path.read_bytes()
    raw = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if kind == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del raw[at:]
            break
        else:
            raw[at:at] = data.draw(st.sampled_from([b"\xff", b"\x00", b"[" * 50, b'"', b"}", b"1e999"]))
    try:
        path.write_bytes(bytes(raw))
        read_everything(session)
    finally:
        path.write_bytes(original)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(RECORDS), data=st.data())
def test_values_of_the_wrong_kind(session, name, data):
    path = session / name
    original = path.read_bytes()
    document = json.loads(original)
    where = data.draw(st.sampled_from(list(_paths(document))[1:200]))
    value = data.draw(JSON_VALUES)
    target = document
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    try:
        path.write_text(json.dumps(document))
        read_everything(session)
    finally:
        path.write_bytes(original)
