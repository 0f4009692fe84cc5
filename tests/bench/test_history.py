"""``ventbench history``: sessions indexed in SQLite (WAL) and each check's trend."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tests.conftest import FIXTURES

SESSIONS = FIXTURES / "sessions"


def test_history_indexes_sessions_and_shows_the_trend(tmp_path, capsys):
    proc = subprocess.run(
        [sys.executable, "-m", "ventbench", "history", "--root", str(tmp_path), "--index",
         str(SESSIONS / "demo-pass"), str(SESSIONS / "demo-fail")],
        text=True, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 session(s)" in proc.stdout
    assert proc.stdout.count("OpenVent-P2") == 2 and "ov-fw 0.9.3" in proc.stdout
    trend = proc.stdout.split("trend of each check", 1)[1]
    peep = next(x for x in trend.splitlines() if " peep " in x)
    assert peep.split()[-1] == "2"  # the two R = 50 points of the failing session
    db = tmp_path / "ventbench-history.sqlite"
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT COUNT(*) FROM checks").fetchone()[0] == 2 * 8 * 5

    from ventbench.bench.cli import main

    assert main(["history", "--root", str(tmp_path), "--protocol", "no-such"]) == 0
    assert "0 session(s)" in capsys.readouterr().out
    assert main(["history", "--root", str(tmp_path / "empty")]) == 0
    assert "no history yet" in capsys.readouterr().out
