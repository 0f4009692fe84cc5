"""Every record is evidence: the manifest, forged verdicts, verify failing closed, the one
session-JSON reader, and the history indexing only what verifies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ventbench.bench import history
from ventbench.bench.cli import main
from ventbench.bench.records import (
    MANIFEST_FILE,
    RecordError,
    read_json,
    sha256_file,
    write_manifest,
)
from ventbench.bench.session import Session, load_session

from tests.conftest import FIXTURES

FAILING = FIXTURES / "sessions" / "demo-fail"


def ventbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ventbench", *map(str, args)], text=True,
                          capture_output=True, timeout=120)


@pytest.fixture
def session(tmp_path) -> Path:
    """A copy of the failing demo session, as a session recorded now: with a manifest."""
    root = Path(shutil.copytree(FAILING, tmp_path / "session"))
    write_manifest(root, "demo-fail", "2026-12-05T00:00:00Z")
    return root


def forge_pass(root: Path) -> None:
    """What the issue did: FAIL → PASS and exit 1 → 0 in stop.json."""
    stop = json.loads((root / "stop.json").read_text())
    stop["verdict"], stop["exit_status"] = "PASS", 0
    stop["points"]["verdicts"] = dict.fromkeys(stop["points"]["verdicts"], "PASS")
    (root / "stop.json").write_text(json.dumps(stop, indent=2))


def test_a_session_writes_its_manifest_last_over_every_file(tmp_path):
    s = Session.create(tmp_path, "x")
    s.write_start({"kind": "test"})
    (s.point_dir("1") / "capture.vbcap").write_bytes(b"\x89VBCAP bytes")
    s.write_stop(0, "completed", "done")
    manifest = read_json(s.root / MANIFEST_FILE)
    assert set(manifest["files"]) == {"start.json", "stop.json", "points/1/capture.vbcap"}
    assert manifest["files"]["stop.json"]["sha256"] == sha256_file(s.root / "stop.json")
    assert s.manifest_sha256 == sha256_file(s.root / MANIFEST_FILE)
    assert MANIFEST_FILE not in json.loads((s.root / "stop.json").read_text())["files"]


def test_an_untouched_session_with_a_manifest_verifies_and_prints_its_hash(session, capsys):
    assert main(["verify", str(session), "--no-reanalysis"]) == 0
    out = capsys.readouterr().out
    assert f"manifest sha256: {sha256_file(session / MANIFEST_FILE)}" in out
    assert "every file matches manifest.json" in out


def test_a_forged_pass_in_the_stop_record_fails_verify(session, capsys):
    forge_pass(session)
    assert main(["verify", str(session), "--no-reanalysis"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH: stop.json: changed" in out
    assert "stop.json: verdict 'PASS' but results.json says 'FAIL'" in out


def test_a_forged_pass_in_an_old_session_without_manifest_fails_verify(tmp_path):
    root = Path(shutil.copytree(FAILING, tmp_path / "old"))
    forge_pass(root)
    proc = ventbench("verify", root, "--no-reanalysis")
    assert proc.returncode == 1, proc.stdout
    assert "no manifest.json" in proc.stdout and "exit_status 0 but verdict FAIL" in proc.stdout


def test_a_consistent_forgery_of_results_and_stop_is_caught_by_re_derivation(tmp_path):
    """Results, stop record and their hashes all rewritten to PASS: only the data can tell."""
    root = Path(shutil.copytree(FAILING, tmp_path / "forged"))
    results = json.loads((root / "results.json").read_text())
    results["verdict"] = "PASS"
    for point in results["points"]:
        point["verdict"] = "PASS"
        for check in point["checks"]:
            check["verdict"] = "PASS" if check["verdict"] == "FAIL" else check["verdict"]
            check.pop("reason", None) if check["verdict"] == "PASS" else None
    (root / "results.json").write_text(json.dumps(results, indent=2))
    forge_pass(root)
    stop = json.loads((root / "stop.json").read_text())
    stop["results_sha256"] = sha256_file(root / "results.json")
    stop["files"]["results.json"]["sha256"] = stop["results_sha256"]
    (root / "stop.json").write_text(json.dumps(stop, indent=2))
    assert ventbench("verify", root, "--no-reanalysis").returncode == 0  # hashes alone: fooled
    proc = ventbench("verify", root)
    assert proc.returncode == 1, proc.stdout
    assert "re-derived from the data: 'FAIL'" in proc.stdout
    assert "re-analysis differs" in proc.stdout


def test_verify_fails_closed_when_the_report_package_does_not_import(session, monkeypatch, capsys):
    import ventbench.bench.commands.verify as verify

    (session / "report.pdf").write_bytes(b"%PDF-1.4 not checkable here")
    write_manifest(session, "demo-fail", "2026-12-05T00:00:00Z")

    class Broken:
        @staticmethod
        def import_module(name):
            raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(verify, "importlib", Broken)
    assert main(["verify", str(session), "--no-reanalysis"]) == 2
    out = capsys.readouterr().out
    assert "NOT CHECKED: report.pdf: embedded results hash not checked" in out
    assert "verify: INCOMPLETE" in out


def test_verify_fails_closed_on_an_unreadable_record(session, capsys):
    (session / "results.json").unlink()
    (session / "results.json").mkdir()  # unreadable as a file, whoever runs the test
    assert main(["verify", str(session), "--no-reanalysis"]) == 1  # and the manifest says so
    out = capsys.readouterr().out
    assert "NOT CHECKED:" in out and "cannot read the results" in out


@pytest.mark.parametrize("name", ["start.json", "stop.json", "results.json",
                                  "points/vc-02/point.json"])
@pytest.mark.parametrize("command", ["verify", "replay", "report"])
def test_non_utf8_in_a_session_json_is_one_line_naming_file_and_byte(tmp_path, name, command):
    root = Path(shutil.copytree(FAILING, tmp_path / "s"))
    raw = (root / name).read_bytes()
    (root / name).write_bytes(raw[:40] + b"\xff\xfe" + raw[40:])
    proc = ventbench(command, root, *(["--out", tmp_path / "r.pdf"] if command == "report" else []))
    assert "Traceback" not in proc.stderr, proc.stderr
    if (command, name) == ("report", "stop.json"):
        assert proc.returncode == 0  # the report never reads the stop record (bench.report.source)
        return
    assert proc.returncode in (1, 2, 3), proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert re.search(rf"{re.escape(name)}:\d+: .*not UTF-8 text \(byte offset 40: 0xff\)", text), text
    if command == "verify":
        assert proc.returncode == (1 if name != "stop.json" else 2)


def test_the_reader_names_line_column_and_byte(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{\n  "a": 1,\n  "b": ]\n}')
    with pytest.raises(RecordError, match=r"r.json:3:8: results is not valid JSON .*byte offset 19"):
        read_json(path, "results")
    path.write_text("[1]")
    with pytest.raises(RecordError, match="must be a JSON object, found list"):
        read_json(path, "results")
    path.write_text("[" * 100000)
    with pytest.raises(RecordError):
        read_json(path, "results")


def test_report_on_a_killed_session_says_what_can_be_done(tmp_path):
    root = Path(shutil.copytree(FAILING, tmp_path / "killed"))
    (root / "stop.json").unlink()
    (root / "results.json").unlink()
    proc = ventbench("report", root)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "killed before it wrote its results" in proc.stderr
    assert f"ventbench replay {root}" in proc.stderr


def test_history_indexes_only_what_verifies(session, tmp_path):
    db = history.history_path(tmp_path / "root")
    start, stop = load_session(session)
    results = read_json(session / "results.json")
    history.index_session(db, session, start, stop, results)
    forged = Path(shutil.copytree(session, tmp_path / "forged"))
    forge_pass(forged)
    start2 = dict(start, session_id="forged")
    fstart, fstop = load_session(forged)
    history.index_session(db, forged, start2, fstop, results)
    rows = {s["session_id"]: s for s in history.list_sessions(db)}
    assert rows[start["session_id"]]["integrity"] == "verified"
    assert rows[start["session_id"]]["manifest_sha256"] == sha256_file(session / MANIFEST_FILE)
    assert rows["forged"]["integrity"].startswith("not verified: stop.json: changed")
    trend = history.check_trend(db)
    assert trend and all(t["sessions"] == 1 for t in trend)  # the forged one is left out
    proc = ventbench("history", "--root", tmp_path / "root")
    assert "NOT VERIFIED (PASS recorded)" in proc.stdout
    assert "forged: not verified" in proc.stdout
