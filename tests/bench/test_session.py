"""Session directory, start/stop records, hashing, junit and history (no hardware, fast)."""

from __future__ import annotations

import json
import sqlite3
import threading
import xml.etree.ElementTree as ET

import pytest

from ventbench.bench import history, junit
from ventbench.bench.compare import compare_results
from ventbench.bench.session import (
    START_SCHEMA,
    STOP_SCHEMA,
    Session,
    check_hashes,
    load_session,
    read_json,
    sha256_file,
    write_json_atomic,
)
from ventbench.errors import ConfigError


def _results(vt_mean: float = 501.0, verdict: str = "PASS") -> dict:
    check = {
        "quantity": "vt", "set": 500.0, "limit": {"abs": 4.0, "rel": 0.15, "unit": "mL",
                                                  "source": "x", "confidence": "consistent"},
        "criterion": "every-breath", "n_breaths": 30, "mean": vt_mean, "sd": 1.0, "min": 499.0,
        "max": 503.0, "max_abs_error": 3.0, "achieved": {"abs": 4.0, "rel": 0.0},
        "verdict": verdict,
    }
    if verdict != "PASS":
        check["reason"] = "breath 3 outside the limit"
    return {
        "schema": "ventbench.results/1", "verdict": verdict,
        "points": [
            {"id": "1", "mode": "vc", "set": {"vt_ml": 500}, "lung": {}, "breaths": [],
             "summary": {}, "checks": [check], "verdict": verdict},
            {"id": "2", "mode": "vc", "set": {"vt_ml": 300}, "lung": {}, "breaths": [],
             "summary": {}, "checks": [], "verdict": "NOT TESTED", "reason": "skipped"},
        ],
    }


def test_start_stop_records_hash_every_file(tmp_path):
    session = Session.create(tmp_path, "iso/vc test")
    assert session.root.parent == tmp_path
    assert "/" not in session.session_id and "iso_vc_test" in session.session_id
    session.write_start({"protocol": {"id": "p"}})
    (session.point_dir("1") / "capture.vbcap").write_bytes(b"\x00\x01" * 100)
    session.write_json("results.json", {"nan": float("nan"), "x": 1})
    session.write_stop(0, "completed", "all points done", {"verdict": "PASS"})
    start, stop = load_session(session.root)
    assert start["schema"] == START_SCHEMA and start["software"]["name"] == "ventbench"
    assert stop["schema"] == STOP_SCHEMA and stop["exit_status"] == 0
    assert set(stop["files"]) == {"start.json", "points/1/capture.vbcap", "results.json"}
    assert read_json(session.root / "results.json")["nan"] is None
    assert check_hashes(session.root, stop) == []


def test_one_changed_byte_in_any_file_is_named(tmp_path):
    session = Session.create(tmp_path, "p")
    session.write_start({})
    capture = session.point_dir("7") / "capture.vbcap"
    capture.write_bytes(bytes(range(256)) * 4)
    session.write_json("results.json", {"verdict": "PASS"})
    session.write_stop(0, "completed", "done")
    _, stop = load_session(session.root)
    for name in stop["files"]:
        path = session.root / name
        original = path.read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        problems = check_hashes(session.root, stop)
        assert [(p.path, p.problem) for p in problems] == [(name, "changed")]
        path.write_bytes(original)
    capture.unlink()
    assert [(p.path, p.problem) for p in check_hashes(session.root, stop)] == [
        ("points/7/capture.vbcap", "missing")
    ]


def test_session_ids_never_clash(tmp_path):
    a = Session.create(tmp_path, "same")
    b = Session.create(tmp_path, "same")
    assert a.root != b.root and a.root.is_dir() and b.root.is_dir()


def test_bad_records_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not a session directory"):
        load_session(tmp_path / "nope")
    (tmp_path / "start.json").write_text("{broken")
    with pytest.raises(ConfigError, match=r"start.json:1:\d+: .*not valid JSON"):
        load_session(tmp_path)


def test_atomic_write_and_hash(tmp_path):
    path = write_json_atomic(tmp_path / "a" / "x.json", {"k": [1, 2.5]})
    assert json.loads(path.read_text()) == {"k": [1, 2.5]}
    assert len(sha256_file(path)) == 64
    assert not list((tmp_path / "a").glob(".*"))


def test_junit_maps_verdicts():
    tree = junit.junit_tree(_results(verdict="FAIL"), "S1")
    suite = tree.getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    case = suite.find("testcase[@name='vt']")
    assert case.find("failure").get("message") == "breath 3 outside the limit"
    ET.fromstring(ET.tostring(tree.getroot()))  # well-formed


def test_compare_results_names_point_quantity_old_new():
    assert compare_results(_results(), _results()) == []
    diffs = compare_results(_results(), _results(vt_mean=502.0))
    assert [(d.point, d.quantity, d.old, d.new) for d in diffs] == [("1", "checks.vt.mean", 501.0, 502.0)]


def test_history_index_and_trend_with_concurrent_writers(tmp_path):
    db = history.history_path(tmp_path)
    errors = []

    def finish(n: int) -> None:
        start = {"schema": START_SCHEMA, "session_id": f"S{n}", "time_utc": f"2026-01-0{n}T00:00:00Z",
                 "dut": {"name": "proto", "serial": "P1", "firmware": f"fw{n % 2}"},
                 "protocol": {"id": "iso"}, "operator": {"name": "ana"}}
        stop = {"status": "completed", "verdict": "PASS", "exit_status": 0}
        root = tmp_path / f"S{n}"
        for name, doc in (("start.json", start), ("stop.json", stop),
                          ("results.json", _results(500.0 + n))):
            write_json_atomic(root / name, doc)
        try:
            history.index_session(db, root, start, stop, _results(500.0 + n))
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=finish, args=(n,)) for n in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [s["session_id"] for s in history.list_sessions(db)] == [f"S{n}" for n in range(1, 7)]
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    trend = history.check_trend(db, device="proto")
    assert {t["firmware"] for t in trend} == {"fw0", "fw1"}
    assert all(t["quantity"] == "vt" and t["sessions"] == 3 for t in trend)
    finish(1)  # re-indexing replaces, never duplicates
    assert len(history.list_sessions(db)) == 6
