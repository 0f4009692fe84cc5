"""What a report is made of: a session directory read once, checked, and ordered.

The report reads ``start.json``, ``results.json``, ``instruments.json`` and each point's
``point.json`` (a reliability session: its ``reliability`` blocks, checked here, and the
breath store and event log the section draws); it hashes every file of the session except
``stop.json``, ``manifest.json`` and PDFs (written after the report; ``stop.json`` and the
manifest record the report's own SHA-256). It never reads ``stop.json`` for content: a report rendered inside
the run (before ``stop.json`` exists) and one re-rendered later are therefore byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ventbench.bench.console import LOG_FILE
from ventbench.bench.records import MANIFEST_FILE, read_json
from ventbench.bench.session import safe_name, sha256_file
from ventbench.errors import ConfigError

RESULTS_FILE = "results.json"
START_FILE = "start.json"
STOP_FILE = "stop.json"
INSTRUMENTS_FILE = "instruments.json"
POINT_FILE = "point.json"
NOT_TESTED = "NOT TESTED"
#: Reason prefix the runner gives points after an abort (bench.runner).
NOT_REACHED = "not reached"
#: Keys of a results.json ``reliability`` block the report reads (bench/reliability/analysis.py).
RELIABILITY_KEYS = ("duration_s", "span_s", "uptime_pct", "data_gap_s", "sensor_fault_s", "longest_gap",
                    "breaths", "out_of_limit", "drift", "variability", "hourly", "events", "segments",
                    "verdict", "reasons")


@dataclass(frozen=True)
class Status:
    """Whether the session is whole, and if not, where and why it stopped."""

    incomplete: bool
    aborted_at: str | None = None
    reason: str = ""
    not_tested: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionFile:
    path: str
    sha256: str
    size: int


@dataclass
class ReportData:
    """One session, as the report needs it (see module doc)."""

    root: Path
    start: dict[str, Any]
    results: dict[str, Any]
    results_sha256: str
    instruments: dict[str, Any]
    point_records: dict[str, dict[str, Any]]
    points: list[dict[str, Any]]  #: results points in planned order
    planned: dict[str, dict[str, Any]]  #: planned point by id (start.json)
    files: list[SessionFile]
    status: Status
    started_utc: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def session_id(self) -> str:
        return str(self.start.get("session_id") or self.results.get("source", {}).get("session")
                   or self.root.name)

    @property
    def is_reliability(self) -> bool:
        """A reliability session (``start.json`` kind "reliability", a ``reliability`` block)."""
        return self.start.get("kind") == "reliability"

    @property
    def dut(self) -> dict[str, Any]:
        return dict(self.start.get("dut") or {})

    @property
    def protocol(self) -> dict[str, Any]:
        return dict(self.start.get("protocol") or {})

    @property
    def analysis(self) -> dict[str, Any]:
        return dict(self.start.get("analysis") or {})

    def counts(self) -> dict[str, int]:
        """Points per verdict word (PASS, FAIL, INCONCLUSIVE, NOT TESTED, INFO)."""
        out = {w: 0 for w in ("PASS", "FAIL", "INCONCLUSIVE", NOT_TESTED, "INFO")}
        for point in self.points:
            word = str(point.get("verdict", "INCONCLUSIVE")).upper()
            out[word] = out.get(word, 0) + 1
        return out


def _read_json(path: Path, what: str, required: bool = True) -> dict[str, Any] | None:
    """The one session-JSON reader (:func:`bench.records.read_json`); None for a missing
    optional file."""
    if not required and not path.exists():
        return None
    return read_json(path, what)


def session_files(root: Path) -> list[SessionFile]:
    """Every file of the session the report vouches for, sorted: all but hidden files,
    ``stop.json``, ``console.log`` (written until the process ends) and PDFs in the
    session's top directory."""
    out = []
    for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in Path(rel).parts):
            continue
        if rel in (STOP_FILE, MANIFEST_FILE, LOG_FILE) or ("/" not in rel and rel.lower().endswith(".pdf")):
            continue
        out.append(SessionFile(rel, sha256_file(path), path.stat().st_size))
    return out


def parse_time(text: Any, where: str) -> datetime:
    """An ISO 8601 time (``Z`` allowed) as an aware datetime; ConfigError naming ``where``."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: expected an ISO 8601 time, found {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def session_status(points: list[Mapping[str, Any]], records: Mapping[str, Mapping[str, Any]]) -> Status:
    """Derive completeness from the results (and point records) alone.

    A point marked ``incomplete`` (its recording was cut short) or the first NOT TESTED point
    whose reason starts with "not reached" marks where the session stopped; NOT TESTED points
    skipped by the operator make the session incomplete without an abort.
    """
    not_tested = tuple(str(p["id"]) for p in points if str(p.get("verdict")).upper() == NOT_TESTED)
    for point in points:
        pid = str(point["id"])
        if point.get("incomplete"):
            record = records.get(pid) or {}
            reason = str(record.get("reason") or point.get("reason") or "")
            return Status(True, pid, reason, not_tested)
        reason = str(point.get("reason") or "")
        if pid in not_tested and reason.startswith(NOT_REACHED):
            reason = reason[len(NOT_REACHED):].lstrip(" :")
            return Status(True, pid, reason, not_tested)
    if not_tested:
        return Status(True, None, "", not_tested)
    return Status(False)


def load_session(session_dir: str | Path) -> ReportData:
    """Read a session directory for a report.

    Raises
    ------
    ConfigError
        Not a directory; ``start.json`` or ``results.json`` missing or malformed; a results
        document of another schema. Messages name the file.
    """
    root = Path(session_dir)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a session directory")
    start = _read_json(root / START_FILE, "session start record")
    results_path = root / RESULTS_FILE
    if not results_path.exists() and not (root / STOP_FILE).exists():
        raise ConfigError(
            f"{results_path}: not found: the session was killed before it wrote its results "
            "(no stop.json either), so there is nothing a report could vouch for; "
            f"`ventbench replay {root}` still re-analyses every recorded capture and shows "
            "each point's verdict (the last point marked incomplete), and `ventbench verify "
            f"{root}` says what was recorded — record the run again for a report")
    results = _read_json(results_path, "results")
    if results.get("schema") != "ventbench.results/1":
        raise ConfigError(f"{results_path}: schema {results.get('schema')!r}, expected 'ventbench.results/1'")
    if not isinstance(results.get("points"), list):
        raise ConfigError(f"{results_path}: points: missing or not a list")
    instruments = _read_json(root / INSTRUMENTS_FILE, "instruments record", required=False) or {}
    protocol = start.get("protocol") or {}
    if not isinstance(protocol, Mapping) or not isinstance(protocol.get("points") or [], list):
        raise ConfigError(f"{root / START_FILE}: protocol: not an object with a list of points")
    planned = {str(p.get("id")): p for p in protocol.get("points") or [] if isinstance(p, Mapping)}
    order = {pid: i for i, pid in enumerate(planned)}
    for i, point in enumerate(results["points"]):
        if not isinstance(point, Mapping) or "id" not in point:
            raise ConfigError(f"{results_path}: points[{i}]: not a point with an id")
    points = sorted(results["points"], key=lambda p: order.get(str(p.get("id")), len(order)))
    records = {}
    for point in points:
        path = root / "points" / safe_name(str(point["id"])) / POINT_FILE
        record = _read_json(path, "point record", required=False)
        if record is not None:
            records[str(point["id"])] = record
    if start.get("kind") == "reliability":
        if not isinstance(start.get("reliability"), dict):
            raise ConfigError(f"{root / START_FILE}: reliability: missing or not an object "
                              f"(a reliability session's frozen configuration)")
        block = results.get("reliability")
        if not isinstance(block, dict):
            raise ConfigError(f"{results_path}: reliability: missing or not an object "
                              f"(run `ventbench replay` to recompute the results)")
        missing = [k for k in RELIABILITY_KEYS if k not in block]
        if missing:
            raise ConfigError(f"{results_path}: reliability: {', '.join(missing)} missing")
    if "time_utc" not in start:
        raise ConfigError(f"{root / START_FILE}: time_utc missing")
    return ReportData(
        root=root, start=start, results=results, results_sha256=sha256_file(results_path),
        instruments=instruments, point_records=records, points=points, planned=planned,
        files=session_files(root), status=session_status(points, records),
        started_utc=parse_time(start["time_utc"], f"{root / START_FILE}: time_utc"),
    )
