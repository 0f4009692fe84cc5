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
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.errors import FrameError, TransportError

MAGIC = b"\x89VBCAP\r\n"
VERSION = 1
SYNC = b"\xd7\x1c\x5e\xb3"
RX, TX, EVENT = 1, 2, 3
KIND_NAMES = {RX: "rx", TX: "tx", EVENT: "event"}
_FILE_HEAD = struct.Struct("<8sHI")  # magic, version, header_len
_REC_HEAD = struct.Struct("<4sBQI")  # sync, kind, t_ns, length
_CRC = struct.Struct("<I")
REC_OVERHEAD = _REC_HEAD.size + _CRC.size
#: Largest payload a reader believes (a larger length field is corruption).
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024


class CaptureError(TransportError, OSError):
    """A capture file cannot be written (full disk, I/O error); names the file.

    Derives from both :class:`~analysis.errors.TransportError` and :class:`OSError`
    (``errno`` is kept), so the CLI maps it to exit code 4.
    """

    def __init__(self, message: str, err: int | None = None) -> None:
        OSError.__init__(self, err if err is not None else 0, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _record_bytes(kind: int, t_ns: int, data: bytes) -> bytes:
    head = _REC_HEAD.pack(SYNC, kind, t_ns, len(data))
    crc = zlib.crc32(data, zlib.crc32(head[4:]))
    return b"".join((head, data, _CRC.pack(crc)))


class CaptureWriter:
    """Append-only ``.vbcap`` writer, safe to call from several threads.

    Parameters
    ----------
    path : str or path-like
        The file to create (an existing file is an error: captures are evidence).
    header : dict
        JSON-serialisable header (driver, url, serial settings, software, free metadata);
        ``start_utc``, ``start_monotonic_ns``, ``host`` and ``format`` are added.
    flush_interval_s, fsync_interval_s : float
        Longest time written bytes may sit in our buffer / in the OS cache.
    buffer_bytes : int
        Buffer size that triggers an immediate flush.
    write_through : bool
        Hand every record to the OS as it is written (default): a received chunk is in the
        file (page cache) before the caller decodes it, so a crash of the process loses
        nothing; ``fsync`` still happens every ``fsync_interval_s``. With False, records
        are buffered up to ``flush_interval_s`` / ``buffer_bytes``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        header: dict[str, Any] | None = None,
        *,
        flush_interval_s: float = 0.25,
        fsync_interval_s: float = 1.0,
        buffer_bytes: int = 64 * 1024,
        write_through: bool = True,
    ) -> None:
        self.path = Path(path)
        self.write_through = write_through
        self.flush_interval_s = flush_interval_s
        self.fsync_interval_s = fsync_interval_s
        self.buffer_bytes = buffer_bytes
        self._lock = threading.RLock()
        self._buf = bytearray()
        self._failed: CaptureError | None = None
        self.bytes_written = 0
        self.records = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.closed = False
        self.fsyncs = 0
        head = dict(header or {})
        head.setdefault("format", "vbcap/1")
        head.setdefault("start_utc", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        head.setdefault("start_monotonic_ns", time.monotonic_ns())
        head.setdefault("host", os.uname().nodename)
        self.header = head
        blob = json.dumps(head, sort_keys=True, default=str).encode("utf-8")
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as error:
            raise CaptureError(f"cannot create capture {self.path}: {error.strerror}",
                               error.errno) from None
        now = time.monotonic()
        self._last_flush = now
        self._last_fsync = now
        self._synced = True
        self._buf += _FILE_HEAD.pack(MAGIC, VERSION, len(blob)) + blob
        self._buf += _CRC.pack(zlib.crc32(blob))
        self._flush(fsync=True)
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._tick, name=f"vbcap-flush {self.path.name}",
                                       daemon=True)
        self._timer.start()

    # -- writing -----------------------------------------------------------------------
    def write(self, kind: int, data: bytes, t_ns: int | None = None) -> None:
        """Append one record (``kind`` RX, TX or EVENT); ``t_ns`` defaults to now."""
        if kind not in KIND_NAMES:
            raise ValueError(f"record kind {kind} is not one of {sorted(KIND_NAMES)}")
        rec = _record_bytes(kind, time.monotonic_ns() if t_ns is None else t_ns, bytes(data))
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self.closed:
                raise CaptureError(f"capture {self.path} is closed; cannot append")
            self._buf += rec
            self.records += 1
            if kind == RX:
                self.rx_bytes += len(data)
            elif kind == TX:
                self.tx_bytes += len(data)
            self._maybe_flush()

    def rx(self, data: bytes, t_ns: int | None = None) -> None:
        """Append received bytes."""
        self.write(RX, data, t_ns)

    def tx(self, data: bytes, t_ns: int | None = None) -> None:
        """Append transmitted bytes."""
        self.write(TX, data, t_ns)

    def event(self, name: str, **detail: Any) -> None:
        """Append an event record: UTF-8 JSON ``{"event": name, "utc": ..., **detail}``."""
        body = {"event": name, "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        body.update(detail)
        self.write(EVENT, json.dumps(body, sort_keys=True, default=str).encode("utf-8"))

    def flush(self, fsync: bool = False) -> None:
        """Hand buffered records to the OS now (and to the disk with ``fsync``)."""
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if not self.closed:
                self._flush(fsync)

    def close(self) -> None:
        """Flush, fsync and close; idempotent. Raises the pending write error, if any."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._stop.set()
        if self._timer is not threading.current_thread():
            self._timer.join(timeout=2.0)
        with self._lock:
            try:
                if self._failed is None:
                    self._flush(fsync=True)
            finally:
                os.close(self._fd)
            if self._failed is not None:
                raise self._failed

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        """Flush when due (lock held). The write path never fsyncs: the timer does."""
        if self._buf and (self.write_through or len(self._buf) >= self.buffer_bytes
                          or time.monotonic() - self._last_flush >= self.flush_interval_s):
            self._flush(fsync=False)

    def _fail(self, error: OSError) -> CaptureError:
        what = "disk full" if error.errno == errno.ENOSPC else error.strerror
        self._failed = CaptureError(
            f"cannot write capture {self.path}: {what} after {self.bytes_written} "
            f"bytes (everything before is on disk; the last record may be torn)",
            error.errno,
        )
        return self._failed

    def _flush(self, fsync: bool) -> None:
        try:
            while self._buf:
                n = os.write(self._fd, self._buf)
                del self._buf[:n]
                self.bytes_written += n
                self._synced = False
            if fsync and not self._synced:
                os.fsync(self._fd)
                self._synced = True
                self._last_fsync = time.monotonic()
        except OSError as error:
            raise self._fail(error) from None
        self._last_flush = time.monotonic()

    def _tick(self) -> None:
        """Timer thread: flush buffered records and fsync when due, even on an idle port."""
        period = min(self.flush_interval_s, self.fsync_interval_s) / 2
        while not self._stop.wait(period):
            with self._lock:
                if self.closed or self._failed is not None:
                    return
                try:
                    self._maybe_flush()
                except CaptureError:
                    return  # raised again on the next write or close
                due = (not self._synced
                       and time.monotonic() - self._last_fsync >= self.fsync_interval_s)
                if due:
                    self._synced = True  # a write from now on clears it again
            if due:
                try:
                    os.fsync(self._fd)  # outside the lock: writers are not held up
                except OSError as error:
                    with self._lock:
                        self._fail(error)
                    return
                self._last_fsync = time.monotonic()
                self.fsyncs += 1


# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """One capture record: ``kind`` is "rx", "tx" or "event"; ``offset`` in the file."""

    kind: str
    t_ns: int
    data: bytes
    offset: int

    def event(self) -> dict[str, Any]:
        """The decoded JSON body of an event record."""
        return json.loads(self.data.decode("utf-8"))


@dataclass
class ReadReport:
    """What a reader met: corrupt records skipped and where the file stopped making sense."""

    records: int = 0
    corrupt: list[dict[str, Any]] = field(default_factory=list)  #: {"offset", "reason", "skipped_bytes"}
    truncated_at: int | None = None  #: offset of a torn tail (a crash), or None
    end_offset: int = 0

    @property
    def clean(self) -> bool:
        return not self.corrupt and self.truncated_at is None


class CaptureReader:
    """Read a ``.vbcap`` file: the header, then the records in order.

    Iterating yields :class:`Record` objects; afterwards :attr:`report` says which
    records were corrupt (CRC mismatch, bad kind or length; skipped with their offset)
    and whether the file ended in a torn record (``truncated_at``). Only a bad file
    header raises (:class:`~analysis.errors.FrameError` naming the file).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.report = ReadReport()
        with open(self.path, "rb") as f:
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
        self.report = ReadReport()
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= self.data_offset:
                self.report.end_offset = size
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                yield from self._scan(mm, size)

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

    def _scan(self, mm: mmap.mmap, size: int) -> Iterator[Record]:
        pos = self.data_offset
        rep = self.report
        while pos < size:
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
