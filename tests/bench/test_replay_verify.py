"""Replay of the recorded fixture sessions (what CI does), and verify detecting any change."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

SESSIONS = FIXTURES / "sessions"
PASSING = SESSIONS / "demo-pass"
FAILING = SESSIONS / "demo-fail"


def ventbench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ventbench", *args], text=True,
                          capture_output=True, timeout=timeout)


@pytest.mark.parametrize(("session", "code", "verdict"), [(PASSING, 0, "PASS"), (FAILING, 1, "FAIL")])
def test_replay_of_recorded_sessions_is_identical(tmp_path, session, code, verdict):
    out = tmp_path / "replay"
    proc = ventbench("replay", str(session), "--out", str(out))
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert f"identical to the recorded results; session verdict {verdict}" in proc.stdout
    replay = json.loads((out / "replay.json").read_text())
    assert replay["identical"] is True and replay["differences"] == []
    recorded = json.loads((session / "results.json").read_text())
    again = json.loads((out / "results.json").read_text())
    assert again["points"] == recorded["points"] and again["verdict"] == verdict
    # the replay's own captures carry the very same received bytes
    from ventbench.drivers.capture import rx_bytes

    for capture in session.glob("points/*/capture.vbcap"):
        assert rx_bytes(out / capture.relative_to(session)) == rx_bytes(capture)


def test_failing_fixture_fails_on_peep_with_r_50_only():
    results = json.loads((FAILING / "results.json").read_text())
    failing = {p["id"]: p for p in results["points"] if p["verdict"] == "FAIL"}
    assert set(failing) == {"vc-06", "vc-07"}
    for point in failing.values():
        assert point["lung"]["r_hpa_s_per_l"] == 50
        assert [c["quantity"] for c in point["checks"] if c["verdict"] == "FAIL"] == ["peep"]


@pytest.fixture
def copy_of_failing(tmp_path) -> Path:
    return Path(shutil.copytree(FAILING, tmp_path / "session"))


def test_replay_lists_point_quantity_old_new_and_exits_1(copy_of_failing):
    path = copy_of_failing / "results.json"
    results = json.loads(path.read_text())
    check = results["points"][0]["checks"][0]
    old = check["mean"]
    check["mean"] = old + 0.5
    path.write_text(json.dumps(results, indent=2))
    proc = ventbench("replay", str(copy_of_failing))
    assert proc.returncode == 1, proc.stdout
    assert "1 difference(s)" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if "checks.vt.mean" in x)
    assert "vc-01" in line and str(old + 0.5) in line and str(old) in line


def _flip(path: Path, where: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i] ^= 0x04
    path.write_bytes(bytes(data))


def test_verify_names_one_changed_byte_in_each_kind_of_file(copy_of_failing, capsys):
    from ventbench.bench.cli import main

    names = ["start.json", "results.json", "junit.xml", "instruments.json",
             "points/vc-03/trace.csv", "points/vc-03/point.json", "points/vc-05/capture.vbcap"]
    for name in names:
        original = (copy_of_failing / name).read_bytes()
        _flip(copy_of_failing / name, 0.9)
        code = main(["verify", str(copy_of_failing), "--no-reanalysis"])
        out = capsys.readouterr().out
        assert code == 1, out
        assert f"MISMATCH: {name}: changed" in out and "verify: MISMATCH" in out
        (copy_of_failing / name).write_bytes(original)
    assert main(["verify", str(copy_of_failing), "--no-reanalysis"]) == 0


def test_verify_of_an_unparseable_start_record_is_a_mismatch_not_an_error(copy_of_failing, capsys):
    from ventbench.bench.cli import main

    (copy_of_failing / "start.json").write_text('{"schema": "ventbench.start/1", "proto')
    code = main(["verify", str(copy_of_failing)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "MISMATCH: start.json: changed" in out
    assert "NOT CHECKED: " in out and "start.json:1:33: session start record is not valid JSON" in out


def test_verify_detects_a_changed_capture_byte_by_hash_and_by_reanalysis(copy_of_failing):
    capture = copy_of_failing / "points" / "vc-04" / "capture.vbcap"
    _flip(capture, 0.6)
    proc = ventbench("verify", str(copy_of_failing))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "MISMATCH: points/vc-04/capture.vbcap: changed" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_verify_of_an_untouched_session_is_ok():
    proc = ventbench("verify", str(PASSING))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "results, verdict PASS and exit status identical" in proc.stdout
    assert "verify: OK" in proc.stdout

