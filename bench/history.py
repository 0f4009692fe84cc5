"""The history index: every finished session in ``ventbench-history.sqlite`` (stdlib SQLite).

One row per session (device, serial, firmware, protocol, date, operator, verdict) and one
row per point × check (mean error, max error, achieved accuracy, verdict), so that
``ventbench history`` can show how each check moves across firmware versions. The database
lives under the sessions root; writers use WAL mode, a busy timeout and ``BEGIN IMMEDIATE``
so two sessions finishing at once both land. Indexing is idempotent (a session re-indexed
replaces its rows).

A reliability session (``start.json`` kind "reliability", ``results.json`` with a
``reliability`` block and no points) is one session row (protocol "reliability") and one
check row per quantity of the block (point_id "reliability"), mapped from what the block
holds (:func:`reliability_checks`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ventbench.bench.integrity import record_check
from ventbench.errors import ConfigError

HISTORY_FILE = "ventbench-history.sqlite"
_BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id   TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    started_utc  TEXT,
    device       TEXT,
    serial       TEXT,
    firmware     TEXT,
    protocol     TEXT,
    operator     TEXT,
    status       TEXT,
    verdict      TEXT,
    exit_status  INTEGER,
    results_sha256 TEXT,
    integrity    TEXT,
    manifest_sha256 TEXT
);
CREATE TABLE IF NOT EXISTS checks (
    session_id    TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
    point_id      TEXT NOT NULL,
    quantity      TEXT NOT NULL,
    set_value     REAL,
    mean          REAL,
    mean_error    REAL,
    max_abs_error REAL,
    achieved_abs  REAL,
    achieved_rel  REAL,
    n_breaths     INTEGER,
    verdict       TEXT,
    PRIMARY KEY (session_id, point_id, quantity)
);
CREATE INDEX IF NOT EXISTS sessions_by_device ON sessions(device, protocol, started_utc);
"""


def history_path(sessions_root: Path) -> Path:
    """Path of the history database under a sessions root."""
    return Path(sessions_root) / HISTORY_FILE


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """Open (creating) the history database in WAL mode with a busy timeout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as error:
        raise ConfigError(f"{path}: cannot open history database ({error})") from None
    try:
        con.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA foreign_keys=ON")
        con.executescript(_SCHEMA)
        have = {row[1] for row in con.execute("PRAGMA table_info(sessions)")}
        for column in ("integrity", "manifest_sha256"):  # databases from before these columns
            if column not in have:
                con.execute(f"ALTER TABLE sessions ADD COLUMN {column} TEXT")
        con.row_factory = sqlite3.Row
        yield con
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"{path}: history database error ({error})") from None
    finally:
        con.close()


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def session_rows(
    session_dir: Path, start: dict[str, Any], stop: dict[str, Any] | None, results: dict[str, Any] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The session row and check rows of one session's records."""
    dut = start.get("dut") or {}
    protocol = start.get("protocol") or {}
    stop = stop or {}
    results = results or {}
    row = {
        "session_id": start.get("session_id"),
        "path": str(Path(session_dir).resolve()),
        "started_utc": start.get("time_utc"),
        "device": dut.get("name"),
        "serial": dut.get("serial"),
        "firmware": dut.get("firmware"),
        "protocol": protocol.get("id"),
        "operator": (start.get("operator") or {}).get("name"),
        "status": stop.get("status", "aborted: no stop record"),
        "verdict": stop.get("verdict") or results.get("verdict"),
        "exit_status": stop.get("exit_status"),
        "results_sha256": ((stop.get("files") or {}).get("results.json") or {}).get("sha256"),
    }
    checks = []
    if isinstance(results.get("reliability"), dict):
        checks += reliability_checks(row["session_id"], start.get("reliability") or {}, results["reliability"])
    for point in results.get("points", []):
        for check in point.get("checks") or []:
            set_value, mean = _float(check.get("set")), _float(check.get("mean"))
            achieved = check.get("achieved") or {}
            checks.append({
                "session_id": row["session_id"],
                "point_id": str(point.get("id")),
                "quantity": str(check.get("quantity")),
                "set_value": set_value,
                "mean": mean,
                "mean_error": None if set_value is None or mean is None else mean - set_value,
                "max_abs_error": _float(check.get("max_abs_error")),
                "achieved_abs": _float(achieved.get("abs")),
                "achieved_rel": _float(achieved.get("rel")),
                "n_breaths": check.get("n_breaths"),
                "verdict": check.get("verdict"),
            })
    return row, checks


VERIFIED = "verified"


def integrity_of(session_dir: Path) -> tuple[str, str | None]:
    """("verified" or "not verified: <first problem>", manifest SHA-256) of a session."""
    if not Path(session_dir).is_dir():
        return f"not verified: {session_dir} is not a directory", None
    findings, stop, _ = record_check(Path(session_dir))
    problems = findings.mismatches + findings.unchecked
    if stop is None:
        problems.append("no stop record")
    return (VERIFIED if not problems else f"not verified: {problems[0]}"), findings.manifest_sha256


#: point_id of the check rows of a reliability session.
RELIABILITY_POINT = "reliability"


def reliability_checks(session_id: str, config: dict[str, Any], block: dict[str, Any]) -> list[dict[str, Any]]:
    """One check row per quantity of a results.json ``reliability`` block.

    Mapping (bench/reliability/analysis.py ``reliability_block``; ``config`` is the frozen
    ``start.json`` ``reliability`` table):

    - ``set_value``: the set value of the quantity (``config["set"]``; None for PIP, which
      is not set);
    - ``mean``: ``variability[q].mean``, the mean of every unflagged breath;
    - ``mean_error``: mean − set (None without a set value);
    - ``max_abs_error``: the largest |breath − set| over the unflagged breaths, from the
      hourly minima and maxima (which cover every unflagged breath, rounded to 4 decimals);
    - ``achieved_abs`` / ``achieved_rel``: None (a reliability run claims no accuracy);
    - ``n_breaths``: ``drift[q].n``, the unflagged breaths with a value;
    - ``verdict``: FAIL when the quantity's drift is FAIL or its longest out-of-limit run
      reaches ``run_breaths``; else INCONCLUSIVE when its drift is INCONCLUSIVE; else PASS
      when it has a per-breath or a drift limit; else INFO. Missed breaths, gaps and a short
      run are session-wide: they are in the session row's verdict, not here.
    """
    sets = config.get("set") or {}
    run_breaths = int(config.get("run_breaths") or 3)
    drifts, variability = block.get("drift") or {}, block.get("variability") or {}
    out_of_limit, hourly = block.get("out_of_limit") or {}, block.get("hourly") or {}
    rows = []
    for quantity in sorted(set(drifts) | set(variability) | set(out_of_limit)):
        set_value = _float(sets.get(quantity))
        mean = _float((variability.get(quantity) or {}).get("mean"))
        extremes = [_float(x) for key in ("min", "max") for x in (hourly.get(quantity) or {}).get(key) or []]
        extremes = [x for x in extremes if x is not None]
        drift = drifts.get(quantity) or {}
        limit = out_of_limit.get(quantity)
        if drift.get("verdict") == "FAIL" or (limit and int(limit.get("longest_run_breaths") or 0) >= run_breaths):
            verdict = "FAIL"
        elif drift.get("verdict") == "INCONCLUSIVE":
            verdict = "INCONCLUSIVE"
        elif limit or drift.get("limit_per_24h") is not None:
            verdict = "PASS"
        else:
            verdict = "INFO"
        rows.append({
            "session_id": session_id,
            "point_id": RELIABILITY_POINT,
            "quantity": quantity,
            "set_value": set_value,
            "mean": mean,
            "mean_error": None if set_value is None or mean is None else mean - set_value,
            "max_abs_error": None if set_value is None or not extremes
            else max(abs(x - set_value) for x in extremes),
            "achieved_abs": None,
            "achieved_rel": None,
            "n_breaths": drift.get("n"),
            "verdict": verdict,
        })
    return rows


def index_session(
    db_path: Path,
    session_dir: Path,
    start: dict[str, Any],
    stop: dict[str, Any] | None,
    results: dict[str, Any] | None,
    attempts: int = 5,
) -> None:
    """Insert (or replace) one session and its checks in one IMMEDIATE transaction.

    Indexing rule: only a session whose records verify at hash level
    (:func:`bench.integrity.record_check`: every file against its manifest or stop record,
    the stop record's verdicts and exit status against the results) has its checks
    indexed; any other is listed with ``integrity`` "not verified: <why>", its checks left
    out of every trend.
    """
    row, checks = session_rows(session_dir, start, stop, results)
    row["integrity"], row["manifest_sha256"] = integrity_of(session_dir)
    if row["integrity"] != VERIFIED:
        checks = []
    for attempt in range(attempts):
        try:
            with connect(db_path) as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.execute("DELETE FROM checks WHERE session_id = ?", (row["session_id"],))
                    con.execute(
                        f"INSERT OR REPLACE INTO sessions ({', '.join(row)}) "
                        f"VALUES ({', '.join('?' for _ in row)})",
                        tuple(row.values()),
                    )
                    if checks:
                        keys = list(checks[0])
                        con.executemany(
                            f"INSERT OR REPLACE INTO checks ({', '.join(keys)}) "
                            f"VALUES ({', '.join('?' for _ in keys)})",
                            [tuple(c[k] for k in keys) for c in checks],
                        )
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            return
        except sqlite3.OperationalError:  # pragma: no cover - locked beyond the busy timeout
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def list_sessions(
    db_path: Path, device: str | None = None, protocol: str | None = None
) -> list[dict[str, Any]]:
    """Sessions, oldest first, optionally filtered by device and protocol."""
    where, args = _filters(device, protocol)
    with connect(db_path) as con:
        rows = con.execute(
            f"SELECT * FROM sessions {where} ORDER BY started_utc, session_id", args
        ).fetchall()
    return [dict(r) for r in rows]


def check_trend(
    db_path: Path, device: str | None = None, protocol: str | None = None
) -> list[dict[str, Any]]:
    """Per protocol × firmware × quantity: sessions, worst max error, worst achieved
    relative accuracy, FAIL count — in firmware order of first appearance."""
    where, args = _filters(device, protocol, prefix="s.")
    query = f"""
        SELECT s.protocol AS protocol, s.firmware AS firmware, c.quantity AS quantity,
               COUNT(DISTINCT s.session_id) AS sessions, COUNT(*) AS checks,
               AVG(c.mean_error) AS mean_error, MAX(c.max_abs_error) AS max_abs_error,
               MAX(c.achieved_rel) AS achieved_rel,
               SUM(c.verdict = 'FAIL') AS fails, MIN(s.started_utc) AS first_utc
        FROM checks c JOIN sessions s ON s.session_id = c.session_id
        {where}
        GROUP BY s.protocol, s.firmware, c.quantity
        ORDER BY s.protocol, c.quantity, first_utc
    """
    with connect(db_path) as con:
        return [dict(r) for r in con.execute(query, args).fetchall()]


def _filters(device: str | None, protocol: str | None, prefix: str = "") -> tuple[str, tuple]:
    clauses, args = [], []
    if device:
        clauses.append(f"{prefix}device = ?")
        args.append(device)
    if protocol:
        clauses.append(f"{prefix}protocol = ?")
        args.append(protocol)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)
