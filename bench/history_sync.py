"""A bench session never waits for, nor fails because of, a shared history.

At the start of a session :func:`check_at_start` tries the history once (a few seconds at
most) and tells the operator when it is unreachable; the session goes on. At the end
:func:`record_session` indexes it, or — when the database cannot be reached — writes a
marker ``SESSIONS_ROOT/.history-pending/<session id>.json`` naming the session directory and
the history, and tells the operator to run ``ventbench history --sync``. :func:`sync` indexes
every pending session from its own records on disk (start, stop, results), so nothing has to
be kept twice, and removes a marker only once its session is in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.bench.history_url import HistoryTarget, resolve
from ventbench.errors import BenchError

PENDING_DIR = ".history-pending"


def check_at_start(url: str | None, sessions_root: Path, say: Callable[[str], None]) -> bool:
    """Try the history before a session; tell the operator (``say``) when it is unreachable.

    Returns True when the history answered. A local SQLite history is not tried (it is
    created when the session is indexed).
    """
    from ventbench.bench.history_store import HistoryUnavailable, ping

    target = resolve(url, sessions_root)
    if not target.shared:
        return True
    try:
        ping(target)
    except HistoryUnavailable as error:
        say(f"warning: {error}; the session goes on and is kept for `ventbench history "
            f"--sync --history {target}`")
        return False
    except BenchError as error:
        say(f"warning: history {target}: {error}; the session goes on")
        return False
    return True


def record_session(url: str | None, sessions_root: Path, session_dir: Path,
                   say: Callable[[str], None]) -> str:
    """Index a finished session in the history, or queue it when the database is down.

    Returns "inserted", "replaced" or "queued". Errors other than an unreachable database
    (a conflicting session id, a broken file) are reported through ``say``; the session
    itself is complete without its index, so nothing is raised.
    """
    from ventbench.bench.history_store import HistoryUnavailable

    target = resolve(url, sessions_root)
    try:
        return _index_from_disk(target, Path(session_dir))
    except HistoryUnavailable as error:
        marker = queue(sessions_root, Path(session_dir), target, str(error))
        say(f"warning: {error}; session kept for the history in {marker}; run `ventbench "
            f"history --sync --history {target}` when the database is back")
        return "queued"
    except (BenchError, OSError) as error:
        say(f"warning: history not updated: {error}")
        return "failed"


def _index_from_disk(target: HistoryTarget, session_dir: Path) -> str:
    from ventbench.bench.history import index_session
    from ventbench.bench.session import load_session, read_json

    start, stop = load_session(session_dir)
    results_path = session_dir / "results.json"
    results = read_json(results_path, "results") if results_path.exists() else None
    return index_session(target, session_dir, start, stop, results)


def queue(sessions_root: Path, session_dir: Path, target: HistoryTarget, error: str) -> Path:
    """Write the pending marker of one session (idempotent)."""
    from ventbench.bench.session import iso_utc, utc_now, write_json_atomic

    marker = Path(sessions_root) / PENDING_DIR / f"{Path(session_dir).name}.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(marker, {"schema": "ventbench.history-pending/1",
                               "session": str(Path(session_dir).resolve()),
                               "history": target.url, "queued_utc": iso_utc(utc_now()),
                               "error": error})
    return marker


@dataclass
class SyncReport:
    """Outcome of :func:`sync`: session ids indexed, and (marker, reason) left pending."""

    indexed: list[str] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def pending(sessions_root: Path) -> list[Path]:
    """Pending markers under a sessions root, oldest session first."""
    return sorted((Path(sessions_root) / PENDING_DIR).glob("*.json"))


def sync(url: str | None, sessions_root: Path) -> SyncReport:
    """Index every pending session into ``url`` (or the history each marker names).

    Stops at the first unreachable database (every later marker would fail the same way)
    and raises :class:`bench.history_store.HistoryUnavailable`; any other failure is listed
    and its marker kept.
    """
    from ventbench.bench.session import read_json

    report = SyncReport()
    for marker in pending(sessions_root):
        try:
            record: dict[str, Any] = read_json(marker, "history pending marker")
            target = resolve(url or record.get("history"), sessions_root)
            session_dir = Path(record["session"])
            _index_from_disk(target, session_dir)
        except (KeyError, TypeError):
            report.failed.append((marker, "not a pending marker (no session)"))
            continue
        except BenchError as error:
            from ventbench.bench.history_store import HistoryUnavailable

            if isinstance(error, HistoryUnavailable):
                raise
            report.failed.append((marker, str(error)))
            continue
        report.indexed.append(session_dir.name)
        marker.unlink()
    return report
