"""The history database through one layer: SQLAlchemy Core on SQLite or PostgreSQL.

One schema (the tables below, created and upgraded by the Alembic revisions in
``bench/history_migrations``) and one set of statements for both engines; the few
differences (``INSERT … ON CONFLICT``, row locks, how a writer takes its lock) are confined
here. Every write is one transaction:

- SQLite: WAL, a busy timeout and ``BEGIN IMMEDIATE``, so writers queue instead of failing;
- PostgreSQL: ``INSERT … ON CONFLICT DO NOTHING`` then ``SELECT … FOR UPDATE`` on the
  session row, so two benches indexing the same session serialise on that row, and the
  check rows are replaced under that lock.

A session id that is already in the history with another ``origin`` (the SHA-256 of another
start record: another bench's session that happens to have the same id) is refused with a
:class:`HistoryConflict` instead of being overwritten: nothing is lost silently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from ventbench.bench.history_url import HistoryTarget, password
from ventbench.errors import ConfigError, TransportError

#: Latest Alembic revision (tests check it is the head of bench/history_migrations).
HEAD = "0003"
_BUSY_TIMEOUT_MS = 30_000
_CONNECT_TIMEOUT_S = 5
_MIGRATION_LOCK = 0x76656E74  # "vent": the advisory lock id of schema upgrades on PostgreSQL

metadata = sa.MetaData()
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    *(sa.Column(c, sa.Text) for c in ("started_utc", "device", "serial", "firmware",
                                      "protocol", "operator", "status", "verdict")),
    sa.Column("exit_status", sa.Integer),
    *(sa.Column(c, sa.Text) for c in ("results_sha256", "origin", "bench_host",
                                      "analysis_version", "indexed_utc", "integrity",
                                      "manifest_sha256")),
)


def _check_values() -> list[sa.Column]:
    """The value columns of a check row (fresh objects: a Column belongs to one table)."""
    return [sa.Column(name, kind) for name, kind in (
        ("set_value", sa.Float), ("mean", sa.Float), ("mean_error", sa.Float),
        ("max_abs_error", sa.Float), ("achieved_abs", sa.Float), ("achieved_rel", sa.Float),
        ("n_breaths", sa.Integer), ("verdict", sa.Text))]


checks = sa.Table(
    "checks", metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("point_id", sa.Text, primary_key=True),
    sa.Column("quantity", sa.Text, primary_key=True),
    *_check_values(),
)
reanalyses = sa.Table(
    "reanalyses", metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("analysis_version", sa.Text, primary_key=True),
    sa.Column("verdict", sa.Text), sa.Column("recorded_verdict", sa.Text),
    sa.Column("differences", sa.Integer), sa.Column("results_sha256", sa.Text),
    sa.Column("time_utc", sa.Text),
)
reanalysis_checks = sa.Table(
    "reanalysis_checks", metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("analysis_version", sa.Text, primary_key=True),
    sa.Column("point_id", sa.Text, primary_key=True),
    sa.Column("quantity", sa.Text, primary_key=True),
    *_check_values(),
)


class HistoryUnavailable(TransportError):
    """The history database cannot be reached (server down, network, authentication)."""


class HistoryConflict(ConfigError):
    """A session id already in the history belongs to another session (another origin)."""


_engines: dict[str, Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


def engine_for(target: HistoryTarget) -> Engine:
    """The (cached, per process) engine of a history; the password is never in its URL."""
    with _lock:
        engine = _engines.get(target.url)
        if engine is None:
            engine = _sqlite_engine(target.path) if target.kind == "sqlite" else _pg_engine(target)
            _engines[target.url] = engine
        return engine


def _sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A pooled connection, kept open between transactions: with one closed after each
    # (NullPool) the last close of a WAL database checkpoints and deletes the WAL, 17 ms
    # of a 28 ms session write (benchmarks/reanalyze.py, profiled). dispose_all() closes it.
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.QueuePool, pool_size=1,
                              max_overflow=8, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000,
                                                            "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_con: Any, _record: Any) -> None:
        dbapi_con.isolation_level = None  # SQLAlchemy emits BEGIN (below), not pysqlite
        for pragma in (f"busy_timeout={_BUSY_TIMEOUT_MS}", "journal_mode=WAL", "foreign_keys=ON"):
            dbapi_con.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(con: Connection) -> None:
        con.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlock

    return engine


def _pg_engine(target: HistoryTarget) -> Engine:
    url = sa.make_url(target.url).set(drivername="postgresql+psycopg", password=password())
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                            connect_args={"connect_timeout": _CONNECT_TIMEOUT_S,
                                          "application_name": "ventbench"})


def dispose_all() -> None:
    """Close every pooled connection (before a fork, or at the end of a test)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()


@contextmanager
def transaction(target: HistoryTarget, attempts: int = 5) -> Iterator[Connection]:
    """One write (or read) transaction on an up-to-date schema.

    Raises
    ------
    HistoryUnavailable
        The database cannot be reached.
    ConfigError
        Any other database error, named with the (password-free) URL.
    """
    engine = engine_for(target)
    try:
        ensure_schema(target, engine)
        with engine.begin() as con:
            yield con
    except sa.exc.OperationalError as error:
        if target.kind == "postgresql" and _is_connect_error(error):
            raise HistoryUnavailable(f"history {target}: cannot connect "
                                     f"({_first_line(error)})") from None
        raise ConfigError(f"history {target}: {_first_line(error)}") from None
    except sa.exc.SQLAlchemyError as error:
        raise ConfigError(f"history {target}: {_first_line(error)}") from None


def retrying(target: HistoryTarget, work: Any, attempts: int = 6) -> Any:
    """Run ``work(con)`` in a transaction, retried on lock timeouts, deadlocks and
    serialisation failures (each retry is the whole transaction again)."""
    for attempt in range(attempts):
        try:
            with transaction(target) as con:
                return work(con)
        except ConfigError as error:
            transient = any(word in str(error).lower() for word in
                            ("locked", "deadlock", "could not serialize", "busy"))
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _is_connect_error(error: sa.exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return error.connection_invalidated or any(word in text for word in (
        "connection", "could not connect", "timeout expired", "authentication", "no route",
        "server closed", "name or service not known", "could not translate host"))


def _first_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def ping(target: HistoryTarget) -> None:
    """Connect, upgrade the schema if needed, and return; :class:`HistoryUnavailable` if not."""
    with transaction(target) as con:
        con.execute(sa.text("SELECT 1"))


# -- schema ---------------------------------------------------------------------------------------
def ensure_schema(target: HistoryTarget, engine: Engine) -> None:
    """Create or upgrade the schema to :data:`HEAD` (once per process and database).

    Fast path: read ``alembic_version``. Otherwise the upgrade runs with Alembic inside one
    transaction holding the database's write lock (SQLite) or an advisory lock (PostgreSQL),
    so concurrent first writers migrate once. A history from before the migrations (tables,
    no ``alembic_version``) is stamped at the baseline "0001" first, then upgraded in place.
    """
    if target.url in _ready:
        return
    with engine.connect() as con:
        if _version(con) == HEAD:
            _ready.add(target.url)
            return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "ventbench.bench:history_migrations")
    with engine.begin() as con:
        if con.dialect.name == "postgresql":
            con.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        version = _version(con)
        if version != HEAD:
            config.attributes["connection"] = con
            if version is None and sa.inspect(con).has_table("sessions"):
                command.stamp(config, "0001")
            command.upgrade(config, HEAD)
    _ready.add(target.url)


def _version(con: Connection) -> str | None:
    if not sa.inspect(con).has_table("alembic_version"):
        return None
    return con.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


# -- writes -----------------------------------------------------------------------------------------
def _insert(con: Connection, table: sa.Table) -> Any:
    if con.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def write_session(con: Connection, row: dict[str, Any], check_rows: list[dict[str, Any]]) -> str:
    """Insert or replace one session and its checks; returns "inserted" or "replaced".

    Raises
    ------
    HistoryConflict
        The id is in the history with another origin (another session).
    """
    sid = row["session_id"]
    inserted = con.execute(
        _insert(con, sessions).values(**row).on_conflict_do_nothing(index_elements=["session_id"])
        .returning(sessions.c.session_id)  # rowcount is -1 on some drivers: ask for the row
    ).first() is not None
    if not inserted:
        query = sa.select(sessions.c.origin, sessions.c.path, sessions.c.bench_host).where(
            sessions.c.session_id == sid)
        if con.dialect.name == "postgresql":
            query = query.with_for_update()
        old = con.execute(query).one()
        if old.origin is not None and row.get("origin") and old.origin != row["origin"]:
            raise HistoryConflict(
                f"session id {sid} is already in the history for another session "
                f"({old.bench_host or '?'}:{old.path}); not overwritten")
        con.execute(sessions.update().where(sessions.c.session_id == sid).values(**row))
        con.execute(checks.delete().where(checks.c.session_id == sid))
    if check_rows:
        con.execute(checks.insert(), check_rows)
    return "inserted" if inserted else "replaced"


def write_reanalysis(con: Connection, row: dict[str, Any], check_rows: list[dict[str, Any]]) -> None:
    """Insert or replace one session's re-analysis under its analysis version."""
    key = (reanalyses.c.session_id == row["session_id"]) & (
        reanalyses.c.analysis_version == row["analysis_version"])
    con.execute(reanalysis_checks.delete().where(
        (reanalysis_checks.c.session_id == row["session_id"])
        & (reanalysis_checks.c.analysis_version == row["analysis_version"])))
    con.execute(reanalyses.delete().where(key))
    con.execute(reanalyses.insert().values(**row))
    if check_rows:
        con.execute(reanalysis_checks.insert(), check_rows)
