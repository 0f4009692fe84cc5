"""``.vbcap`` capture files: every byte a port carried, both ways, with host timestamps.

The format is specified exactly in ``docs/capture-format.md``. In short::

    file    = magic(8) version(u16) header_len(u32) header_json header_crc(u32) record*
    record  = sync(4) kind(u8) t_ns(u64) length(u32) payload(length) crc32(u32)

Little-endian throughout; ``crc32`` (zlib) covers kind, t_ns, length and payload. The
writer is append-only and time-driven: buffered bytes reach the OS at least every
``flush_interval_s`` (250 ms) and the disk (``fsync``) at least every ``fsync_interval_s``
(1 s), checked on every write *and* by a timer thread so an idle port is flushed too. The
reader accepts a torn tail (a crash mid-write) and skips a corrupt record by searching for
the next sync marker whose record checks out.

This module holds the reader (:class:`CaptureReader`, :func:`read_capture`,
:func:`rx_bytes`); the writer is :mod:`drivers.capture_writer` and the format constants,
record encoding and record types are :mod:`drivers.capture_format`. Every public name is
importable from here.
"""

from __future__ import annotations

import json
import mmap
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ventbench.drivers.capture_format import (
    _CRC,
    _FILE_HEAD,
    _REC_HEAD,
    EVENT,
    KIND_NAMES,
    MAGIC,
    MAX_HEADER_BYTES,
    MAX_RECORD_BYTES,
    REC_OVERHEAD,
    RX,
    SYNC,
    TX,
    VERSION,
    CaptureError,
    ReadReport,
    Record,
)
from ventbench.drivers.capture_writer import CaptureWriter
from ventbench.drivers.capture_zstd import is_compressed, raw_copy
from ventbench.errors import FrameError

__all__ = [
    "EVENT",
    "KIND_NAMES",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "MAX_RECORD_BYTES",
    "REC_OVERHEAD",
    "RX",
    "SYNC",
    "TX",
    "VERSION",
    "CaptureError",
    "CaptureReader",
    "CaptureWriter",
    "ReadReport",
    "Record",
    "read_capture",
    "rx_bytes",
]


#: Read pages of the mapping are given back every this many bytes: a replay of a 256 MiB
#: part would otherwise count the whole part in the process's resident memory.
RELEASE_BYTES = 16 << 20


def _release(mm: mmap.mmap, start: int, end: int) -> int:
    """Drop the mapping's pages in ``[start, end)`` (page-aligned down) from this process's
    resident set; the data stays in the page cache and faults back in if touched again.
    Returns the new release offset."""
    end -= end % mmap.PAGESIZE
    if end > start and hasattr(mmap, "MADV_DONTNEED"):
        mm.madvise(mmap.MADV_DONTNEED, start, end - start)
    return end


class CaptureReader:
    """Read a ``.vbcap`` file: the header, then the records in order.

    Iterating yields :class:`Record` objects; afterwards :attr:`report` says which
    records were corrupt (CRC mismatch, bad kind or length; skipped with their offset)
    and whether the file ended in a torn record (``truncated_at``). Only a bad file
    header raises (:class:`~ventbench.errors.FrameError` naming the file).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.report = ReadReport()
        self._raw: Any = None  # a .vbcap.zst part: its bytes in a temporary file
        if is_compressed(self.path):
            self._raw = raw_copy(self.path)
        with self._open() as f:
            head = f.read(_FILE_HEAD.size)
            if len(head) < _FILE_HEAD.size or head[:8] != MAGIC:
                raise FrameError(f"{self.path}: not a .vbcap capture (expected magic "
                                 f"{MAGIC!r}, found {head[:8]!r})")
            _, self.version, hlen = _FILE_HEAD.unpack(head)
            if self.version != VERSION:
                raise FrameError(f"{self.path}: capture format version {self.version}, "
                                 f"this reader knows version {VERSION}")
            if hlen > MAX_HEADER_BYTES:
                raise FrameError(f"{self.path}: header length {hlen} > {MAX_HEADER_BYTES}")
            blob = f.read(hlen)
            crc = f.read(4)
            if len(blob) < hlen or len(crc) < 4:
                raise FrameError(f"{self.path}: header truncated (file ends at byte "
                                 f"{_FILE_HEAD.size + len(blob) + len(crc)})")
            if zlib.crc32(blob) != _CRC.unpack(crc)[0]:
                raise FrameError(f"{self.path}: header CRC mismatch")
            try:
                self.header: dict[str, Any] = json.loads(blob.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise FrameError(f"{self.path}: header is not JSON: {error}") from None
        self.data_offset = _FILE_HEAD.size + hlen + 4

    def __iter__(self) -> Iterator[Record]:
        return self.records()

    def records(self, start: int | None = None, stop: int | None = None) -> Iterator[Record]:
        """The records that start in the byte range ``[start, stop)`` (default: all).

        ``start`` need not be a record boundary: reading begins at the first sync marker at
        or after it whose record checks out (as after a corrupt record). The scan ends at
        the first record starting at or beyond ``stop``; :attr:`report` ``.end_offset`` is
        then that record's offset, so consecutive ranges cut at the same byte read every
        record exactly once, as one pass over the file does.
        """
        self.report = ReadReport()
        with self._open() as f:
            size = os.fstat(f.fileno()).st_size
            if size <= self.data_offset:
                self.report.end_offset = size
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                pos = self.data_offset
                if start is not None and start > pos:
                    pos = self._find(mm, start, size, ("ok",))
                    pos = size if pos == -1 else pos
                yield from self._scan(mm, size, pos, size if stop is None else min(stop, size))

    def _open(self):
        """The raw bytes: the file itself, or a new handle on a ``.zst`` part's copy."""
        if self._raw is None:
            return open(self.path, "rb")
        handle = os.fdopen(os.dup(self._raw.fileno()), "rb")
        handle.seek(0)
        return handle

    def _check(self, mm: mmap.mmap, pos: int, size: int) -> tuple[str, Record | None]:
        """Classify the record at ``pos``: ("ok", rec) | ("torn", None) | (reason, None)."""
        if size - pos < _REC_HEAD.size:
            return "torn", None
        _, kind, t_ns, length = _REC_HEAD.unpack_from(mm, pos)
        if kind not in KIND_NAMES:
            return f"unknown record kind {kind}", None
        if length > MAX_RECORD_BYTES:
            return f"length {length} > {MAX_RECORD_BYTES}", None
        end = pos + _REC_HEAD.size + length + 4
        if end > size:
            return "torn", None
        body = mm[pos + 4: end - 4]
        if zlib.crc32(body) != _CRC.unpack_from(mm, end - 4)[0]:
            return "CRC mismatch", None
        return "ok", Record(KIND_NAMES[kind], t_ns, body[13:], pos)

    def _find(self, mm: mmap.mmap, start: int, size: int, wanted: tuple[str, ...]) -> int:
        """Offset of the first sync marker from ``start`` whose record status is wanted."""
        nxt = mm.find(SYNC, start)
        while nxt != -1 and self._check(mm, nxt, size)[0] not in wanted:
            nxt = mm.find(SYNC, nxt + 1)
        return nxt

    def _scan(self, mm: mmap.mmap, size: int, pos: int, stop: int) -> Iterator[Record]:
        rep = self.report
        released = pos - pos % mmap.PAGESIZE  #: pages below this offset are given back (see _release)
        while pos < stop:
            if pos - released >= RELEASE_BYTES:
                released = _release(mm, released, pos)
            if mm[pos: pos + 4] != SYNC[: min(4, size - pos)]:
                status, rec = "no sync marker", None
            else:
                status, rec = self._check(mm, pos, size)
            if status == "ok":
                rep.records += 1
                pos += REC_OVERHEAD + len(rec.data)
                yield rec
                continue
            # Resync: the next sync marker that starts a valid record. A torn record
            # (running past the end of the file) is a crash's tail unless a valid record
            # follows it — then its length field was corrupt.
            nxt = self._find(mm, pos + 1, size, ("ok",))
            if nxt != -1:
                rep.corrupt.append({"offset": pos, "reason": status,
                                    "skipped_bytes": nxt - pos})
                pos = nxt
                continue
            if status != "torn":
                torn = self._find(mm, pos + 1, size, ("torn",))
                if torn == -1 and size - pos < _REC_HEAD.size and SYNC.startswith(
                        mm[pos:size][:4]):
                    torn = pos  # a partial record header at the very end
                if torn != pos:
                    rep.corrupt.append({"offset": pos, "reason": status,
                                        "skipped_bytes": (size if torn == -1 else torn) - pos})
                if torn == -1:
                    pos = size
                    break
                pos = torn
            rep.truncated_at = pos
            break
        rep.end_offset = pos if rep.truncated_at is None else rep.truncated_at


def read_capture(path: str | os.PathLike) -> tuple[dict[str, Any], list[Record], ReadReport]:
    """Read a whole capture into memory: ``(header, records, report)``."""
    reader = CaptureReader(path)
    records = list(reader)
    return reader.header, records, reader.report


def rx_bytes(path: str | os.PathLike) -> bytes:
    """All received bytes of a capture, in order (skipping corrupt records)."""
    return b"".join(r.data for r in CaptureReader(path) if r.kind == "rx")
