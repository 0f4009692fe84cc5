"""The history index: every finished session, in SQLite (default) or a shared PostgreSQL.

One row per session (device, serial, firmware, protocol, date, operator, verdict) and one
row per point × check (mean error, max error, achieved accuracy, verdict), so that
``ventbench history`` can show how each check moves across firmware versions and units.
Where the database is and how it is written: :mod:`bench.history_url` (``--history URL``)
and :mod:`bench.history_store` (SQLAlchemy Core, Alembic migrations, one transaction per
session). Indexing is idempotent (a session re-indexed replaces its rows).

A reliability session (``start.json`` kind "reliability", ``results.json`` with a
``reliability`` block and no points) is one session row (protocol "reliability") and one
check row per quantity of the block (point_id "reliability"), mapped from what the block
holds (:func:`reliability_checks`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from ventbench.bench.history_url import HISTORY_FILE, HistoryTarget, resolve
from ventbench.bench.integrity import record_check

__all__ = ["HISTORY_FILE", "history_path", "index_session", "list_sessions", "check_trend",
           "session_rows", "reliability_checks", "RELIABILITY_POINT"]


def history_path(sessions_root: Path) -> Path:
    """Path of the default (SQLite) history database under a sessions root."""
    return Path(sessions_root) / HISTORY_FILE


def _target(db: Path | str | HistoryTarget | None) -> HistoryTarget:
    return resolve(db) if db is not None else resolve(None)


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
    for alarm in results.get("alarms", []):  # alarm tests (docs/alarms.md): delay against limit, s
        checks.append({
            "session_id": row["session_id"], "point_id": f"alarms/{alarm.get('id')}",
            "quantity": f"alarm_{alarm.get('condition')}", "set_value": _float(alarm.get("limit_s")),
            "mean": _float(alarm.get("delay_s")), "mean_error": None, "max_abs_error": None,
            "achieved_abs": None, "achieved_rel": None, "n_breaths": None, "verdict": alarm.get("verdict"),
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


def origin_of(start: dict[str, Any]) -> str:
    """SHA-256 of the canonical start record: the identity of a session across benches."""
    text = json.dumps(start, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def index_session(
    db: Path | str | HistoryTarget | None,
    session_dir: Path,
    start: dict[str, Any],
    stop: dict[str, Any] | None,
    results: dict[str, Any] | None,
    attempts: int = 6,
    integrity: tuple[str, str | None] | None = None,
) -> str:
    """Insert (or replace) one session and its checks in one transaction.

    Indexing rule: only a session whose records verify at hash level
    (:func:`bench.integrity.record_check`: every file against its manifest or stop record,
    the stop record's verdicts and exit status against the results) has its checks
    indexed; any other is listed with ``integrity`` "not verified: <why>", its checks left
    out of every trend.

    Parameters
    ----------
    db : Path, str or HistoryTarget
        A SQLite file, a ``sqlite:///`` or ``postgresql://`` URL (see :mod:`bench.history_url`).
    integrity : (str, str or None), optional
        The session's (integrity, manifest SHA-256) when the caller has already checked it
        (:func:`integrity_of`); by default it is checked here.

    Returns
    -------
    str
        "inserted" or "replaced".

    Raises
    ------
    bench.history_store.HistoryUnavailable
        The database server cannot be reached (the caller queues the session).
    bench.history_store.HistoryConflict
        The session id is already in the history for another session.
    """
    from ventbench import __version__
    from ventbench.bench.history_store import retrying, write_session
    from ventbench.bench.session import iso_utc, utc_now

    row, check_rows = session_rows(session_dir, start, stop, results)
    # indexing rule: only a session whose records verify at hash level has its checks indexed
    row["integrity"], row["manifest_sha256"] = integrity or integrity_of(session_dir)
    if row["integrity"] != VERIFIED:
        check_rows = []
    row.update(origin=origin_of(start), bench_host=(start.get("software") or {}).get("host")
               or socket.gethostname(),
               analysis_version=((results or {}).get("software") or {}).get("version")
               or __version__, indexed_utc=iso_utc(utc_now()))
    return retrying(_target(db), lambda con: write_session(con, row, check_rows), attempts)


def list_sessions(
    db: Path | str | HistoryTarget | None, device: str | None = None, protocol: str | None = None
) -> list[dict[str, Any]]:
    """Sessions, oldest first, optionally filtered by device and protocol."""
    import sqlalchemy as sa

    from ventbench.bench.history_store import sessions, transaction

    query = sa.select(sessions).order_by(sessions.c.started_utc, sessions.c.session_id)
    query = query.where(*_filters(sessions, device, protocol))
    with transaction(_target(db)) as con:
        return [dict(r._mapping) for r in con.execute(query)]


def check_trend(
    db: Path | str | HistoryTarget | None, device: str | None = None, protocol: str | None = None
) -> list[dict[str, Any]]:
    """Per protocol × firmware × quantity: sessions, worst max error, worst achieved
    relative accuracy, FAIL count — in firmware order of first appearance."""
    import sqlalchemy as sa

    from ventbench.bench.history_store import checks, sessions, transaction

    s, c = sessions.c, checks.c
    first = sa.func.min(s.started_utc).label("first_utc")
    query = (
        sa.select(s.protocol, s.firmware, c.quantity,
                  sa.func.count(sa.distinct(s.session_id)).label("sessions"),
                  sa.func.count().label("checks"),
                  sa.func.avg(c.mean_error).label("mean_error"),
                  sa.func.max(c.max_abs_error).label("max_abs_error"),
                  sa.func.max(c.achieved_rel).label("achieved_rel"),
                  sa.func.sum(sa.case((c.verdict == "FAIL", 1), else_=0)).label("fails"),
                  first)
        .select_from(checks.join(sessions, s.session_id == c.session_id))
        .where(*_filters(sessions, device, protocol))
        .group_by(s.protocol, s.firmware, c.quantity)
        .order_by(s.protocol, c.quantity, first)
    )
    with transaction(_target(db)) as con:
        return [_plain(dict(r._mapping)) for r in con.execute(query)]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """Numbers as Python floats/ints whatever the engine returns (Decimal on PostgreSQL)."""
    from decimal import Decimal

    return {k: (float(v) if isinstance(v, Decimal) else v) for k, v in row.items()}


def _filters(table: Any, device: str | None, protocol: str | None) -> list[Any]:
    out = []
    if device:
        out.append(table.c.device == device)
    if protocol:
        out.append(table.c.protocol == protocol)
    return out


def sessions_root_of(session_dir: Path) -> Path:
    """The sessions root a session directory lives in (its parent)."""
    return Path(os.path.abspath(session_dir)).parent
