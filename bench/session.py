"""The session directory: start and stop records, file hashes, atomic JSON writes.

A session follows bluesky's documents: ``start.json`` is written before any hardware is
touched (what is about to happen and with what), ``stop.json`` is written in ``finally``
(how it ended, why, and the SHA-256 of every other file). A directory without
``stop.json`` is the trace of a run that was killed: still evidence, still replayable.

Layout (DESIGN.md contract)::

    SESSION/start.json
    SESSION/instruments.json          what the instruments said at handshake (descriptor)
    SESSION/points/ID/capture.vbcap   raw bytes, append-only
    SESSION/points/ID/trace.csv       decoded samples
    SESSION/points/ID/point.json      operator answers, timing, status of the point
    SESSION/results.json  SESSION/junit.xml  SESSION/report.pdf
    SESSION/stop.json
    SESSION/manifest.json             last: SHA-256 of every other file, stop.json included
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ventbench.bench.records import (
    UNHASHED,
    HashMismatch,
    all_files,
    check_files,
    disk_error,
    hash_files,
    read_json,
    write_manifest,
)
from ventbench.bench.records import sha256_file as sha256_file  # re-exported
from ventbench.errors import ConfigError

START_SCHEMA = "ventbench.session-start/1"
STOP_SCHEMA = "ventbench.session-stop/1"
START_FILE = "start.json"
STOP_FILE = "stop.json"
POINTS_DIR = "points"
#: Environment variable naming the default sessions root.
SESSIONS_ENV = "VENTBENCH_SESSIONS"

#: Status words of a stop record.
STATUS_COMPLETED = "completed"  #: every point ran (or was skipped by the operator)
STATUS_ABORTED = "aborted"  #: the operator aborted
STATUS_INTERRUPTED = "interrupted"  #: Ctrl-C / signal
STATUS_FAILED = "failed"  #: an error stopped the session (device, configuration)

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


def utc_now() -> datetime:
    """The current time, UTC, to the microsecond."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 text of a UTC moment, ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def safe_name(text: str) -> str:
    """``text`` reduced to characters safe in a file name (point ids, protocol ids)."""
    return _SAFE_ID.sub("_", str(text)).strip("_") or "x"


def default_sessions_root() -> Path:
    """``$VENTBENCH_SESSIONS`` or ``./sessions``."""
    return Path(os.environ.get(SESSIONS_ENV) or "sessions")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def dumps(document: Any) -> str:
    """JSON text of ``document``: insertion order, 2-space indent, NaN as null, newline end."""
    from ventbench.bench.json_text import dumps_indent2  # json.dumps(indent=2)'s text, faster

    return dumps_indent2(document, default=_json_default, nan_as_null=True, str_keys=True) + "\n"


def write_json_atomic(path: Path, document: Any) -> Path:
    """Write ``document`` as JSON to ``path`` through a temporary file, fsync, rename.

    A crash leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(dumps(document))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as error:  # e.g. a full disk: name the file, leave no temporary behind
        tmp.unlink(missing_ok=True)
        raise disk_error(path, error) from None
    return path


def session_files(root: Path, exclude: Iterable[str] = (STOP_FILE, *UNHASHED)) -> list[str]:
    """Every regular file under ``root`` as sorted POSIX relative paths (hidden temp files
    and ``exclude`` left out: by default the stop record, the manifest and ``console.log``,
    which is written until the process ends)."""
    return all_files(root, exclude)


def check_hashes(root: Path, stop: dict[str, Any]) -> list[HashMismatch]:
    """Compare the files named in a stop record with the files on disk.

    Returns one :class:`HashMismatch` per changed or missing file; files present but not
    named (e.g. a report rendered later) are listed with problem ``"not in stop record"``.
    """
    return check_files(root, stop.get("files") or {}, "stop record",
                       exclude=(STOP_FILE, *UNHASHED))


@functools.lru_cache(maxsize=8)
def git_sha(directory: Path | None = None) -> str | None:
    """Git commit of the source tree ventbench runs from (``+dirty`` when modified), or None."""
    directory = directory or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha or None


def software_info() -> dict[str, Any]:
    """Name, version, git SHA, Python and platform of the running software."""
    import platform  # here: ~5 ms that ``analyze`` and ``replay`` never need
    import socket

    from ventbench import __version__

    return {
        "name": "ventbench",
        "version": __version__,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
    }


def new_session_id(label: str, moment: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-label``: sorts by time, readable, file-name safe."""
    moment = moment or utc_now()
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}-{safe_name(label)}"


@dataclass
class Session:
    """A session directory being written.

    Use :meth:`create`, then :meth:`write_start` before touching any port, and
    :meth:`write_stop` in ``finally``.
    """

    root: Path
    session_id: str
    started: datetime = field(default_factory=utc_now)
    stopped: bool = False
    manifest_sha256: str | None = None  #: SHA-256 of manifest.json once the stop is written

    @classmethod
    def create(cls, sessions_root: Path | None, label: str) -> Session:
        """Make a fresh session directory ``sessions_root/<id>`` (a suffix avoids clashes)."""
        base = Path(sessions_root) if sessions_root is not None else default_sessions_root()
        started = utc_now()
        session_id = new_session_id(label, started)
        base.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            candidate = session_id if n == 0 else f"{session_id}-{n}"
            try:
                (base / candidate).mkdir()
            except FileExistsError:
                continue
            return cls(base / candidate, candidate, started)
        raise ConfigError(f"{base}: cannot create a new session directory for {session_id}")

    @property
    def sessions_root(self) -> Path:
        return self.root.parent

    def point_dir(self, point_id: str) -> Path:
        """``points/<id>/``, created."""
        path = self.root / POINTS_DIR / safe_name(point_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_start(self, record: dict[str, Any]) -> Path:
        """Write ``start.json``: the given fields after schema, id, time and software."""
        document = {
            "schema": START_SCHEMA,
            "session_id": self.session_id,
            "time_utc": iso_utc(self.started),
            "time_local": self.started.astimezone().isoformat(),
            "software": software_info(),
            "argv": list(sys.argv),
        }
        document.update(record)
        return write_json_atomic(self.root / START_FILE, document)

    def write_json(self, relpath: str, document: Any) -> Path:
        """Write a JSON file inside the session, atomically."""
        return write_json_atomic(self.root / relpath, document)

    def write_stop(
        self,
        exit_status: int,
        status: str,
        reason: str,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Write ``stop.json`` with the SHA-256 of every other file in the directory, then
        ``manifest.json`` over every file, ``stop.json`` included (:mod:`bench.records`)."""
        stopped = utc_now()
        document = {
            "schema": STOP_SCHEMA,
            "session_id": self.session_id,
            "time_utc": iso_utc(stopped),
            "duration_s": round((stopped - self.started).total_seconds(), 3),
            "exit_status": int(exit_status),
            "status": status,
            "reason": reason,
        }
        document.update(extra or {})
        document["files"] = hash_files(self.root, session_files(self.root))
        self.stopped = True
        path = write_json_atomic(self.root / STOP_FILE, document)
        self.manifest_sha256 = write_manifest(self.root, self.session_id, iso_utc(utc_now()))
        return path


def load_session(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Read a session directory's start record and stop record (None when absent).

    Raises
    ------
    ConfigError
        ``path`` is not a directory or has no ``start.json``.
    """
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a session directory")
    start = read_json(root / START_FILE, "session start record")
    if start.get("schema") != START_SCHEMA:
        raise ConfigError(
            f"{root / START_FILE}: schema {start.get('schema')!r}, expected {START_SCHEMA!r}"
        )
    stop_path = root / STOP_FILE
    stop = read_json(stop_path, "session stop record") if stop_path.exists() else None
    return start, stop
