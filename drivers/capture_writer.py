"""``.vbcap`` writer: append-only, thread-safe, flushed and fsynced on time.

Buffered bytes reach the OS at least every ``flush_interval_s`` and the disk at least
every ``fsync_interval_s``, checked on every write and by a timer thread (an idle port is
flushed too). A failed write becomes a :class:`~drivers.capture_format.CaptureError`
naming the file, raised on the next write or close.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from ventbench.drivers.capture_format import (
    _CRC,
    _FILE_HEAD,
    EVENT,
    KIND_NAMES,
    MAGIC,
    RX,
    TX,
    VERSION,
    CaptureError,
    _record_bytes,
)


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
