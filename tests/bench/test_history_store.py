"""The history on SQLite and on a real PostgreSQL server: migrations of an old history,
several writer processes at once, conflicting ids, and the password kept out of sight."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ventbench.bench import history, history_store
from ventbench.bench.history_url import resolve
from ventbench.errors import ConfigError

#: The schema of ventbench 0.1 (stdlib sqlite3, before the migrations), verbatim.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, path TEXT NOT NULL, started_utc TEXT, device TEXT,
    serial TEXT, firmware TEXT, protocol TEXT, operator TEXT, status TEXT, verdict TEXT,
    exit_status INTEGER, results_sha256 TEXT);
CREATE TABLE IF NOT EXISTS checks (
    session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
    point_id TEXT NOT NULL, quantity TEXT NOT NULL, set_value REAL, mean REAL,
    mean_error REAL, max_abs_error REAL, achieved_abs REAL, achieved_rel REAL,
    n_breaths INTEGER, verdict TEXT, PRIMARY KEY (session_id, point_id, quantity));
CREATE INDEX IF NOT EXISTS sessions_by_device ON sessions(device, protocol, started_utc);
"""

#: Synthetic session records (no files behind them): taken as verified, as
#: bench.integrity is tested on real sessions in test_integrity.py.
SYNTHETIC = ("verified", None)


def _start(sid: str, serial: str = "P1", firmware: str = "1.0", nonce: str = "") -> dict:
    return {"session_id": sid, "time_utc": f"2026-01-01T00:00:{sid[-2:]}Z", "nonce": nonce,
            "dut": {"name": "proto", "serial": serial, "firmware": firmware},
            "protocol": {"id": "iso"}, "operator": {"name": "ana"}}


def _results(vt_mean: float) -> dict:
    check = {"quantity": "vt", "set": 500.0, "mean": vt_mean, "max_abs_error": abs(vt_mean - 500),
             "achieved": {"abs": 4.0, "rel": 0.01}, "n_breaths": 30, "verdict": "PASS"}
    return {"verdict": "PASS", "points": [{"id": "vc-01", "checks": [check]},
                                          {"id": "vc-02", "checks": [dict(check)]}]}


_STOP = {"status": "completed", "verdict": "PASS", "exit_status": 0}


def test_migrations_head_is_the_code_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "ventbench.bench:history_migrations")
    assert ScriptDirectory.from_config(config).get_current_head() == history_store.HEAD


def test_an_old_sqlite_history_is_upgraded_in_place(tmp_path):
    db = tmp_path / "ventbench-history.sqlite"
    with sqlite3.connect(db) as con:
        con.executescript(OLD_SCHEMA)
        con.execute("INSERT INTO sessions (session_id, path, firmware, protocol, verdict) "
                    "VALUES ('OLD-01', '/x/OLD-01', '0.9', 'iso', 'FAIL')")
        con.execute("INSERT INTO checks (session_id, point_id, quantity, mean_error, verdict) "
                    "VALUES ('OLD-01', 'vc-01', 'vt', 7.5, 'FAIL')")
    history.index_session(db, tmp_path / "NEW-02", _start("NEW-02"), _STOP, _results(503.0), integrity=SYNTHETIC)
    rows = {s["session_id"]: s for s in history.list_sessions(db)}
    assert set(rows) == {"OLD-01", "NEW-02"}
    assert rows["OLD-01"]["verdict"] == "FAIL" and rows["OLD-01"]["origin"] is None
    assert rows["NEW-02"]["origin"] and rows["NEW-02"]["analysis_version"]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == history_store.HEAD
        assert con.execute("SELECT mean_error FROM checks WHERE session_id='OLD-01'").fetchone()[0] == 7.5
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"reanalyses", "reanalysis_checks"} <= tables
    # the old session can still be re-indexed (no origin recorded: replaced, not refused)
    history.index_session(db, tmp_path / "OLD-01", _start("OLD-01"), _STOP, _results(501.0), integrity=SYNTHETIC)
    trend = history.check_trend(db)
    assert {t["firmware"] for t in trend} == {"1.0"}


def _writer(url: str, worker: int, n: int) -> None:
    """One bench process: its own sessions, plus the session every bench re-indexes."""
    for i in range(n):
        sid = f"W{worker}-{i:02d}"
        history.index_session(url, Path("/benches") / sid, _start(sid, f"U{worker}"), _STOP,
                              _results(500.0 + i), integrity=SYNTHETIC)
    history.index_session(url, Path("/shared/S-00"), _start("S-00"), _STOP, _results(500.0), integrity=SYNTHETIC)


def _run_writers(url: str, workers: int = 4, n: int = 8) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w, n)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers


def _assert_whole(url: str, workers: int = 4, n: int = 8) -> None:
    ids = [s["session_id"] for s in history.list_sessions(url)]
    expected = sorted([f"W{w}-{i:02d}" for w in range(workers) for i in range(n)] + ["S-00"])
    assert sorted(ids) == expected  # none lost, none twice
    with history_store.transaction(resolve(url)) as con:
        n_checks = con.execute(sa.select(sa.func.count()).select_from(history_store.checks)).scalar()
    assert n_checks == 2 * len(expected)


def test_sqlite_several_writer_processes_lose_and_duplicate_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    _run_writers(url)
    _assert_whole(url)


def test_postgres_several_writer_processes_lose_and_duplicate_nothing(pg_history):
    _run_writers(pg_history)
    _assert_whole(pg_history)
    trend = history.check_trend(pg_history)
    assert trend and all(isinstance(t["mean_error"], float) for t in trend)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_same_id_from_another_session_is_refused_not_overwritten(engine, tmp_path, request):
    url = (f"sqlite:///{tmp_path / 'h.sqlite'}" if engine == "sqlite"
           else request.getfixturevalue("pg_history"))
    history.index_session(url, Path("/a/S-01"), _start("S-01", nonce="bench A"), _STOP,
                          _results(501.0), integrity=SYNTHETIC)
    with pytest.raises(history_store.HistoryConflict, match="S-01 is already in the history"):
        history.index_session(url, Path("/b/S-01"), _start("S-01", nonce="bench B"), _STOP,
                              _results(509.0), integrity=SYNTHETIC)
    (row,) = history.list_sessions(url)
    assert row["path"] == "/a/S-01"
    assert history.check_trend(url)[0]["mean_error"] == pytest.approx(1.0)


def test_a_password_in_the_url_is_refused_without_being_echoed():
    with pytest.raises(ConfigError) as error:
        resolve("postgresql://ana:hunter2@db.lab/history")
    assert "hunter2" not in str(error.value) and "ana:***@db.lab" in str(error.value)


def test_password_file_must_be_private(tmp_path, monkeypatch, postgres, pg_history):
    from ventbench.bench.history_url import password

    secret = tmp_path / "pw"
    secret.write_text(postgres.password + "\n", encoding="utf-8")
    secret.chmod(0o644)
    monkeypatch.delenv("VENTBENCH_HISTORY_PASSWORD")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("VENTBENCH_HISTORY_PASSWORD_FILE", str(secret))
    with pytest.raises(ConfigError, match="accessible by group or others"):
        password()
    secret.chmod(0o600)
    history_store.dispose_all()
    history_store.ping(resolve(pg_history))  # authenticates with the file's password


def test_cli_never_shows_the_password(tmp_path, postgres, pg_history):
    session = tmp_path / "S-01"
    session.mkdir()
    (session / "start.json").write_text('{"schema": "ventbench.session-start/1", "session_id": "S-01", '
                                        '"dut": {"serial": "P9"}}')
    argv = [sys.executable, "-m", "ventbench", "history", "--history", pg_history,
            "--index", str(session), "--fleet"]
    assert postgres.password not in " ".join(argv)
    proc = subprocess.run(argv, env=postgres.env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "1 session(s)" in proc.stdout and pg_history in proc.stdout
    assert postgres.password not in proc.stdout + proc.stderr
    wrong = {**postgres.env(), "VENTBENCH_HISTORY_PASSWORD": "wrong-" + postgres.password}
    proc = subprocess.run(argv, env=wrong, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4 and "cannot connect" in proc.stderr
    assert postgres.password not in proc.stdout + proc.stderr
