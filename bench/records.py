"""A session's records as evidence: the one JSON reader, file hashes, and the manifest.

**One reader.** Every session JSON (``start.json``, ``stop.json``, ``results.json``,
``point.json``, ``instruments.json``, ``manifest.json``) is read by :func:`read_json`,
which turns every way a file can be bad into one :class:`RecordError` line naming the
file: missing, unreadable (``OSError``), not UTF-8 (with the byte offset), not JSON (line,
column and byte offset), or not a JSON object.

**The manifest.** ``manifest.json`` is written last, after ``stop.json``: the SHA-256 and
size of every file of the session but itself — ``stop.json`` and ``report.pdf``
included — so that no record, not even the stop record that carries the verdict and the
exit status, can change without a hash disagreeing. Its own SHA-256 is the one number
that vouches for the whole session: ``run``, ``report`` and ``verify`` print it, the
history stores it, and a signature over ``manifest.json`` covers every byte of the
session. (The PDF cannot print it: the manifest covers the PDF, and a report is rendered
before the stop record exists.) The laboratory's signed copy, ``report.signed.pdf``, embeds
the manifest, so the manifest does not name it (:data:`UNHASHED`); its PDF signature covers
it (``bench/signing.py``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ventbench.errors import ConfigError

MANIFEST_FILE = "manifest.json"
#: The console transcript (bench/console.py) is written until the process ends, so it is
#: never hashed: a record of what was said, not evidence.
LOG_FILE = "console.log"
#: The laboratory's signed copy of report.pdf (bench/signing.py): it embeds the manifest, so
#: the manifest cannot name it; its PDF signature covers every byte of it instead.
SIGNED_REPORT_FILE = "report.signed.pdf"
#: Files no hash list names.
UNHASHED = (MANIFEST_FILE, LOG_FILE, SIGNED_REPORT_FILE)
MANIFEST_SCHEMA = "ventbench.session-manifest/1"


class RecordError(ConfigError):
    """A session record cannot be read (the message names the file and what is wrong).

    ``kind`` is ``"missing"``, ``"unreadable"`` (an I/O error) or ``"malformed"``.
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def read_json(path: Path, what: str = "file") -> dict[str, Any]:
    """Read a session JSON object.

    Raises
    ------
    RecordError
        Missing, unreadable, not UTF-8 (byte offset named), not valid JSON (line, column
        and byte named) or not a JSON object.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecordError(f"{path}: {what} not found", "missing") from None
    except OSError as error:
        raise RecordError(f"{path}: cannot read the {what}: {error.strerror or error}",
                          "unreadable") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RecordError(f"{path}:{line}: {what} is not UTF-8 text (byte offset {error.start}: "
                          f"0x{raw[error.start]:02x})", "malformed") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        offset = len(text[: error.pos].encode("utf-8"))
        raise RecordError(f"{path}:{error.lineno}:{error.colno}: {what} is not valid JSON "
                          f"({error.msg}, byte offset {offset})", "malformed") from None
    except RecursionError:
        raise RecordError(f"{path}: {what} is nested too deeply to be a ventbench record",
                          "malformed") from None
    if not isinstance(document, dict):
        raise RecordError(f"{path}: {what} must be a JSON object, found "
                          f"{type(document).__name__}", "malformed")
    return document


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, hex."""
    return sha256_and_lines(path, chunk_bytes, count_lines=False)[0]


def sha256_and_lines(path: Path, chunk_bytes: int = 1 << 20, *,
                     count_lines: bool = True) -> tuple[str, int]:
    """SHA-256 of a file's bytes (hex) and its number of newline bytes, in one reading
    (0 lines when ``count_lines`` is false)."""
    digest = hashlib.sha256()
    lines = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
            if count_lines:
                lines += block.count(b"\n")
    return digest.hexdigest(), lines


def disk_error(path: Path, error: OSError, doing: str = "write") -> OSError:
    """The same OSError with the file named (``No space left on device`` alone names
    nothing); raise it ``from None``."""
    what = "disk full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    named = OSError(error.errno, f"cannot {doing} {path}: {what}")
    named.filename = str(path)
    return named


def all_files(root: Path, exclude: Iterable[str] = ()) -> list[str]:
    """Every regular file under ``root`` as sorted POSIX relative paths (hidden files and
    ``exclude`` left out)."""
    root = Path(root)
    skip = set(exclude)
    out = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if (not path.is_file() or any(part.startswith(".") for part in Path(rel).parts)
                or rel in skip):
            continue
        out.append(rel)
    return sorted(out)


def hash_files(root: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{relpath: {"sha256", "bytes"}}`` for the named files under ``root``."""
    root = Path(root)
    return {name: {"sha256": sha256_file(root / name), "bytes": (root / name).stat().st_size}
            for name in names}


def write_manifest(root: Path, session_id: str | None, time_utc: str) -> str:
    """Write ``manifest.json`` (every other file's SHA-256) atomically; returns its SHA-256."""
    root = Path(root)
    document = {"schema": MANIFEST_SCHEMA, "session_id": session_id, "time_utc": time_utc,
                "algorithm": "sha256",
                "files": hash_files(root, all_files(root, exclude=UNHASHED))}
    path = root / MANIFEST_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(document, indent=2) + "\n"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise disk_error(path, error) from None
    return sha256_file(path)


@dataclass(frozen=True)
class HashMismatch:
    """One file whose bytes are not what a record (manifest or stop record) says."""

    path: str
    problem: str  #: "changed", "missing", "not in <record>"
    expected: str | None = None
    found: str | None = None

    @property
    def hard(self) -> bool:
        """A recorded file changed or vanished (an extra file is only a note)."""
        return self.problem in ("changed", "missing")

    def __str__(self) -> str:
        if self.problem == "changed":
            return (f"{self.path}: changed (sha256 {str(self.expected)[:12]}… recorded, "
                    f"{str(self.found)[:12]}… now)")
        return f"{self.path}: {self.problem}"


def check_files(root: Path, recorded: dict[str, Any], record: str,
                exclude: Iterable[str] = ()) -> list[HashMismatch]:
    """Compare the files a record names (``{relpath: {"sha256"}}``) with the disk.

    Changed and missing files are hard problems; files on disk the record does not name
    (other than ``exclude``) are listed as ``"not in <record>"``.
    """
    root = Path(root)
    problems = []
    if not isinstance(recorded, dict):
        return [HashMismatch(record, "changed", "a table of files", type(recorded).__name__)]
    for name, entry in sorted(recorded.items()):
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        path = root / name
        if not path.is_file():
            problems.append(HashMismatch(name, "missing", expected))
            continue
        found = sha256_file(path)
        if found != expected:
            problems.append(HashMismatch(name, "changed", expected, found))
    for name in all_files(root, exclude=exclude):
        if name not in recorded:
            problems.append(HashMismatch(name, f"not in {record}"))
    return problems


def check_manifest(root: Path) -> tuple[str, list[HashMismatch]] | None:
    """(manifest SHA-256, mismatches) of a session's manifest; None when it has none
    (a session recorded before manifests existed).

    Raises
    ------
    RecordError
        The manifest exists but cannot be read.
    """
    path = Path(root) / MANIFEST_FILE
    if not path.exists():
        return None
    manifest = read_json(path, "session manifest")
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise RecordError(f"{path}: schema {manifest.get('schema')!r}, expected "
                          f"{MANIFEST_SCHEMA!r}", "malformed")
    return sha256_file(path), check_files(root, manifest.get("files") or {}, MANIFEST_FILE,
                                          exclude=UNHASHED)
