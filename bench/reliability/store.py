"""Per-breath metrics on disk: fixed-size binary records in numbered, append-only chunks.

Layout of ``DIR`` (``SESSION/reliability/``)::

    breaths.json            dtype description (written once, before the first record)
    breaths-000000.bin      records 0 … chunk_records-1
    breaths-000001.bin      …

A record is :data:`RECORD_DTYPE` (little-endian, packed, 60 bytes) whose last field is the
CRC-32 (zlib) of the 56 bytes before it. Records are handed to the OS with one ``os.write``
each as the breath completes (a ``kill -9`` of the process loses nothing already written)
and the chunk is ``fsync``-ed at most :attr:`BreathStore.fsync_interval_s` after a write
(an OS crash or power cut loses at most that much). A reader keeps every record whose CRC
checks out and stops a chunk at a torn tail; :meth:`BreathStore.open` for appending (resume)
truncates that tail first. 24 h at 20 bpm is ~29 000 records, 1.7 MB.
"""

from __future__ import annotations

import errno
import json
import os
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.recfunctions import repack_fields

from ventbench.errors import ConfigError, TransportError

#: Breath fields stored (float32 is ample for metrics; times are float64).
RECORD_DTYPE = np.dtype([
    ("t_start_s", "<f8"), ("t_end_s", "<f8"), ("ti_s", "<f4"), ("rate_bpm", "<f4"),
    ("vt_ml", "<f4"), ("vte_ml", "<f4"), ("pip_cmh2o", "<f4"), ("pplat_cmh2o", "<f4"),
    ("peep_cmh2o", "<f4"), ("pmean_cmh2o", "<f4"), ("leak_pct", "<f4"), ("flags", "<u2"),
    ("segment", "<u2"), ("crc", "<u4"),
])
#: Breath flag names → bits of the ``flags`` field (anything else → ``other``).
FLAG_BITS = {"gap": 1, "fault": 2, "saturated": 4, "stale": 8, "reset": 16,
             "double_trigger": 32, "patient_triggered": 64, "other": 128}
#: Bits that make a breath's numbers suspect: all but the information that the patient
#: triggered it (``analysis.breath.INFO_FLAGS``), which is judged like any other breath.
SUSPECT_BITS = 0xFFFF & ~FLAG_BITS["patient_triggered"]
CHUNK_GLOB = "breaths-*.bin"
META_FILE = "breaths.json"
_BODY = RECORD_DTYPE.itemsize - 4


def flags_mask(names: Sequence[str]) -> int:
    """The ``flags`` bit mask of breath flag names."""
    mask = 0
    for name in names:
        mask |= FLAG_BITS.get(name, FLAG_BITS["other"])
    return mask


def trusted(flags: np.ndarray) -> np.ndarray:
    """Per record: True when no suspect flag is set (``Breath.trusted`` for stored breaths)."""
    return (np.asarray(flags) & SUSPECT_BITS) == 0


def breath_records(breaths: Sequence[Any], segment: int, t_offset_s: float = 0.0) -> np.ndarray:
    """Records (CRC filled) of :class:`analysis.breath.Breath` objects, times + ``t_offset_s``."""
    rec = np.zeros(len(breaths), dtype=RECORD_DTYPE)
    for i, b in enumerate(breaths):
        rec[i] = (b.t_start_s + t_offset_s, b.t_end_s + t_offset_s, b.ti_s, b.rr_bpm, b.vti_ml,
                  b.vte_ml, b.pip_cmh2o, np.nan if b.pplat_cmh2o is None else b.pplat_cmh2o,
                  b.peep_cmh2o, b.pmean_cmh2o, b.leak_pct, flags_mask(b.flags), segment, 0)
    raw = rec.view(np.uint8).reshape(len(rec), RECORD_DTYPE.itemsize)
    rec["crc"] = [zlib.crc32(row[:_BODY].tobytes()) for row in raw]
    return rec


def _valid_prefix(data: bytes) -> tuple[np.ndarray, int]:
    """Records of ``data`` up to the first torn or corrupt one; their byte length."""
    n = len(data) // RECORD_DTYPE.itemsize
    rec = np.frombuffer(data, dtype=RECORD_DTYPE, count=n)
    raw = np.frombuffer(data, dtype=np.uint8, count=n * RECORD_DTYPE.itemsize).reshape(
        n, RECORD_DTYPE.itemsize)
    good = np.fromiter((zlib.crc32(row[:_BODY].tobytes()) for row in raw), np.uint32, n) == rec["crc"]
    stop = n if good.all() else int(np.argmin(good))
    return rec[:stop], stop * RECORD_DTYPE.itemsize


@dataclass
class StoreReport:
    """What a read found: records kept, bytes dropped at torn or corrupt tails."""

    records: int = 0
    chunks: int = 0
    dropped_bytes: int = 0


def chunk_paths(directory: Path) -> list[Path]:
    """The chunk files of ``directory`` in order."""
    return sorted(Path(directory).glob(CHUNK_GLOB))


def iter_chunks(directory: Path, report: StoreReport | None = None) -> Iterator[np.ndarray]:
    """Valid records chunk by chunk (bounded memory: one chunk at a time)."""
    report = report if report is not None else StoreReport()
    for path in chunk_paths(directory):
        data = path.read_bytes()
        rec, used = _valid_prefix(data)
        report.chunks += 1
        report.records += len(rec)
        report.dropped_bytes += len(data) - used
        yield rec


def read_breaths(directory: Path) -> tuple[np.ndarray, StoreReport]:
    """Every valid record of the store (without the ``crc`` field) and a :class:`StoreReport`.

    Raises
    ------
    ConfigError
        ``directory`` holds no store (no ``breaths.json``).
    """
    directory = Path(directory)
    if not (directory / META_FILE).is_file():
        raise ConfigError(f"{directory}: no breath store ({META_FILE} missing)")
    report = StoreReport()
    chunks = list(iter_chunks(directory, report))
    rec = np.concatenate(chunks) if chunks else np.zeros(0, RECORD_DTYPE)
    names = [n for n in RECORD_DTYPE.names if n != "crc"]
    return repack_fields(rec[names]), report  # packed: no stray bytes where crc was


class BreathStore:
    """Append-only writer of breath records (see module docstring).

    Parameters
    ----------
    directory : Path
        Created if needed; an existing store is appended to (its torn tail truncated).
    chunk_records : int
        Records per chunk file.
    fsync_interval_s : float
        Longest time a written record may stay un-fsynced (checked at each append).
    """

    def __init__(self, directory: Path, chunk_records: int = 65536, fsync_interval_s: float = 1.0) -> None:
        self.directory = Path(directory)
        self.chunk_records = int(chunk_records)
        self.fsync_interval_s = fsync_interval_s
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = self.directory / META_FILE
        if not meta.exists():
            doc = {"format": "ventbench.breaths/1", "dtype": RECORD_DTYPE.descr,
                   "chunk_records": self.chunk_records, "crc": "zlib crc32 of the bytes before it"}
            meta.write_text(json.dumps(doc, indent=1) + "\n", "utf-8")
        self.records = 0
        self.truncated_bytes = 0
        self._fd: int | None = None
        self._chunk = -1
        self._in_chunk = 0
        self._last_fsync = time.monotonic()
        self._dirty = False
        paths = chunk_paths(self.directory)
        for path in paths:
            data = path.read_bytes()
            rec, used = _valid_prefix(data)
            self.records += len(rec)
            if used != len(data):
                self.truncated_bytes += len(data) - used
                with open(path, "r+b") as f:
                    f.truncate(used)
        if paths:
            self._chunk = int(paths[-1].stem.split("-")[1])
            self._in_chunk = paths[-1].stat().st_size // RECORD_DTYPE.itemsize
            self._open_chunk(self._chunk)

    def _open_chunk(self, index: int) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
        path = self.directory / f"breaths-{index:06d}.bin"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._chunk = index
        self._in_chunk = path.stat().st_size // RECORD_DTYPE.itemsize

    def append(self, records: np.ndarray) -> None:
        """Write records (from :func:`breath_records`); TransportError naming the file when
        the disk is full or failing (the partial record is cut off again)."""
        for rec in np.atleast_1d(records):
            if self._fd is None or self._in_chunk >= self.chunk_records:
                self._open_chunk(self._chunk + 1)
            data = rec.tobytes()
            path = self.directory / f"breaths-{self._chunk:06d}.bin"
            try:
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, "short write")
            except OSError as error:
                try:
                    os.ftruncate(self._fd, self._in_chunk * RECORD_DTYPE.itemsize)
                except OSError:
                    pass
                what = "disk full" if error.errno == errno.ENOSPC else error.strerror or str(error)
                raise TransportError(f"{path}: cannot write breath record {self.records}: {what}") from None
            self._in_chunk += 1
            self.records += 1
            self._dirty = True
        if self._dirty and time.monotonic() - self._last_fsync >= self.fsync_interval_s:
            self.sync()

    def sync(self) -> None:
        """fsync the current chunk."""
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
        self._dirty = False
        self._last_fsync = time.monotonic()

    def close(self) -> None:
        """fsync and close (idempotent)."""
        if self._fd is not None:
            try:
                self.sync()
            finally:
                os.close(self._fd)
                self._fd = None
