"""``ventbench replay SESSION --jobs N``: the parallel replay of a reliability run gives the
single pass's store and events to the byte — across part and span boundaries, with line
damage and a damaged capture record at a boundary, for span sizes drawn at random — and a
worker that dies is an error naming its span (exit 4), never a partial result."""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.bench.cli import main as cli_main
from ventbench.bench.live import Live
from ventbench.bench.reliability import parallel_replay
from ventbench.bench.reliability.analysis import session_results
from ventbench.bench.reliability.capture_parts import segment_parts
from ventbench.bench.reliability.config import load_reliability
from ventbench.bench.reliability.decode_spans import DIE_ENV
from ventbench.bench.reliability.events import EVENTS_FILE, read_events
from ventbench.bench.reliability.replay import compare, replay_into
from ventbench.bench.reliability.runner import ReliabilityRun
from ventbench.bench.reliability.store import read_breaths
from ventbench.drivers.capture import CaptureReader
from ventbench.drivers.capture_zstd import decompress_to

#: 20 min at 200 Hz, line garbage, skipped breaths; parts of ~100 kB (about 14 of them).
URL = "sim://rig?speed=max&seed=11&rate_hz=200&garbage=0.02&skip_probability=0.01"


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    config = dataclasses.replace(load_reliability(duration="20m"), capture_rotate_mib=0.1)
    run = ReliabilityRun(config, URL, "rig", sessions_root=tmp_path_factory.mktemp("par"),
                         live=Live(tty=False), render=False)
    run.run()
    assert len(segment_parts(run.session.root / "points" / "reliability")[0]) >= 3
    return run.session.root


def _files(out: Path) -> dict[str, bytes]:
    """The replay's store and events, byte for byte."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name != "results.json"}


@pytest.fixture(scope="module")
def single(session, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("single")
    replay_into(session, out, 1)
    assert compare(session, out) == []
    return _files(out)


def test_two_jobs_give_the_single_pass_to_the_byte(session, single, tmp_path):
    counts = parallel_replay.replay_parallel(session, tmp_path, 2, span_bytes=40_000)
    assert counts["spans"] > len(segment_parts(session / "points" / "reliability")[0])
    assert counts["fallbacks"] == 0  # every span's lead-in reached the previous span's state
    assert _files(tmp_path) == single
    assert compare(session, tmp_path) == []


def test_a_breath_across_each_boundary_is_there_once(session, single, tmp_path, monkeypatch):
    firsts: list[float] = []  # device time of each span's first sample
    feed = parallel_replay._feed

    def spy(seg_feed, view, got):
        if len(got.t_s):
            firsts.append(float(got.t_s[0]))
        feed(seg_feed, view, got)

    monkeypatch.setattr(parallel_replay, "_feed", spy)
    parallel_replay.replay_parallel(session, tmp_path, 2, span_bytes=40_000)
    breaths, _ = read_breaths(tmp_path)
    boundaries = [t - firsts[0] for t in firsts[1:]]  # run time: the run starts at 0
    spanning = [np.flatnonzero((breaths["t_start_s"] < t) & (breaths["t_end_s"] > t)) for t in boundaries]
    assert len(boundaries) >= 10
    # most boundaries fall inside a breath (the others in the run's faults and gaps, which move
    # from one recording of the fixture to the next): the case this test is about is exercised
    assert sum(len(i) == 1 for i in spanning) >= len(boundaries) // 2
    assert all(len(i) <= 1 for i in spanning)
    assert _files(tmp_path) == single  # and each is the single pass's, to the bit


def _raw_copy(session: Path, dest: Path) -> Path:
    """A copy of the session whose parts are raw ``.vbcap`` files (to damage them)."""
    shutil.copytree(session, dest)
    for path in sorted((dest / "points" / "reliability").glob("*.zst")):
        decompress_to(path, path.with_suffix(""))
        path.unlink()
    return dest


def _damage(path: Path, which: int, garbage: bytes | None) -> None:
    """Overwrite the start (which=0) or the end (which=-1) of an rx record's payload with
    ``garbage`` and fix the record's CRC (line damage), or break its CRC (garbage None)."""
    rec = [r for r in CaptureReader(path) if r.kind == "rx"][which]
    data = bytearray(path.read_bytes())
    payload = rec.offset + 17
    end = payload + len(rec.data)
    if garbage is None:
        data[end] ^= 0xFF
    else:
        at = payload if which == 0 else end - len(garbage)
        data[at: at + len(garbage)] = garbage
        data[end: end + 4] = struct.pack("<I", zlib.crc32(bytes(data[rec.offset + 4: end])))
    path.write_bytes(bytes(data))


def test_damage_at_a_boundary_is_accounted_as_in_one_pass(session, tmp_path):
    damaged = _raw_copy(session, tmp_path / "damaged")
    parts = segment_parts(damaged / "points" / "reliability")[0]
    _damage(parts[1], -1, b"\xa5\x5a" + bytes(40))  # garbage just before the boundary
    _damage(parts[2], 0, b"\x00\xa5" * 20)  # and just after it
    _damage(parts[3], 0, None)  # a capture record that fails its CRC, at the next boundary
    one, two = tmp_path / "one", tmp_path / "two"
    replay_into(damaged, one, 1)
    counts = parallel_replay.replay_parallel(damaged, two, 2, span_bytes=1 << 30)
    assert counts["spans"] == len(parts)  # one span per part: the boundaries are the parts'
    assert _files(two) == _files(one)
    corrupt = [e for e in read_events(two / EVENTS_FILE) if e["kind"] == "corrupt_data"]
    assert sum(e["discarded_bytes"] for e in corrupt) > sum(
        e["discarded_bytes"] for e in read_events(session / "reliability" / EVENTS_FILE)
        if e["kind"] == "corrupt_data")
    a = json.loads(json.dumps(session_results(damaged, one)))
    b = json.loads(json.dumps(session_results(damaged, two)))
    assert a["verdict"] == b["verdict"] and a["reliability"] == b["reliability"]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(span_bytes=st.integers(min_value=3_000, max_value=300_000))
def test_span_boundaries_anywhere_give_the_same_result(session, single, tmp_path_factory, span_bytes):
    out = tmp_path_factory.mktemp("any")
    counts = parallel_replay.replay_parallel(session, out, 2, span_bytes=span_bytes)
    assert _files(out) == single, counts


def test_a_dead_worker_names_its_span_and_exits_4(session, monkeypatch, capsys, tmp_path):
    part = segment_parts(session / "points" / "reliability")[0][2].name
    monkeypatch.setenv(DIE_ENV, part)
    code = cli_main(["replay", str(session), "--jobs", "2", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 4
    assert f"while decoding {part} bytes " in err and "(segment 0)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_jobs_1_is_the_single_pass_and_bad_jobs_are_refused(session, capsys):
    assert cli_main(["replay", str(session), "--jobs", "1"]) in (0, 1, 2)
    assert "identical" in capsys.readouterr().out
    assert cli_main(["replay", str(session), "--jobs", "0"]) == 3


def test_a_protocol_session_s_points_in_two_processes_give_the_same_results(tmp_path):
    session = Path(__file__).parents[2] / "fixtures" / "sessions" / "demo-fail"
    codes = [cli_main(["replay", str(session), "--jobs", str(j), "--out", str(tmp_path / str(j))])
             for j in (1, 2)]
    assert codes == [1, 1]  # the recorded FAIL, replayed identically both ways
    assert (tmp_path / "1" / "results.json").read_bytes() == (tmp_path / "2" / "results.json").read_bytes()


def test_a_dead_point_worker_names_its_point(monkeypatch, capsys, tmp_path):
    session = Path(__file__).parents[2] / "fixtures" / "sessions" / "demo-fail"
    monkeypatch.setenv(DIE_ENV, "vc-03")
    assert cli_main(["replay", str(session), "--jobs", "2", "--out", str(tmp_path)]) == 4
    err = capsys.readouterr().err
    assert "while analysing point vc-03 (" in err and "Traceback" not in err
    assert not (tmp_path / "results.json").exists()
