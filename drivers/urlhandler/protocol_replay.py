"""pyserial URL handler ``replay://PATH.vbcap[?speed=max|N&sync=tx|none&barrier_ms=500]``.

Serves the received (rx) bytes of a capture file, in order, so a recording enters the very
same driver stack it came from:

- ``speed=max`` (default) serves them as fast as they are read; ``speed=N`` paces them by
  their recorded host times divided by N.
- Writes are accepted and not sent anywhere, but with ``sync=tx`` (default) they pace the
  replay: rx bytes recorded after a tx record are served only once the driver has written
  as many times as the capture had (or after ``barrier_ms`` of waiting for a write that
  never comes). A handshake-based driver thus reads the recorded answers after its own
  questions, as it did live.
- ``reset_input_buffer()`` skips the bytes the live recorder drained and discarded at that
  point (between ``discard_begin`` / ``discard_end`` event records; see
  :class:`drivers.transport.CapturedPort`).
- At the end of the capture reads return ``b""`` at once and :attr:`Serial.finished` is
  True, so a recording or a replay ends.

Corrupt records are skipped (see :attr:`Serial.report`). Events (disconnect, reconnect) are
not re-enacted: a reconnect's handshake bytes simply reach the driver's ``feed``.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator

from serial.serialutil import PortNotOpenError, SerialException, to_bytes

from ventbench.drivers.capture import CaptureReader, Record
from ventbench.drivers.urlhandler.protocol_sim import parse_speed
from ventbench.drivers.urlhandler.virtual import VirtualSerial
from ventbench.errors import BenchError


def _event_name(rec: Record) -> str:
    try:
        return str(rec.event().get("event", ""))
    except (ValueError, UnicodeDecodeError):
        return ""


class Serial(VirtualSerial):
    """Serial port that replays a capture's rx bytes (see module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        self.capture_path = ""
        self.speed: float | None = None
        self.sync_tx = True
        self.barrier_s = 0.5
        self.reader: CaptureReader | None = None
        self.forced_barriers = 0
        self._records: Iterator[Record] = iter(())
        self._ahead: deque[Record] = deque()
        self._buffer = bytearray()
        self._writes = 0
        self._blocked_since: float | None = None
        self._exhausted = False
        self._t0_wall = 0.0
        self._t0_ns: int | None = None
        self._lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        self._check_openable()
        parts = urllib.parse.urlsplit(self.port)
        path = urllib.parse.unquote(parts.netloc + parts.path)
        if parts.scheme.lower() != "replay" or not path:
            raise SerialException(f"expected 'replay://PATH.vbcap[?speed=..]', found "
                                  f"{self.port!r}")
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.speed = parse_speed(query.get("speed", "max"), self.port)
        sync = query.get("sync", "tx").lower()
        if sync not in ("tx", "none"):
            raise SerialException(f"{self.port}: sync must be 'tx' or 'none', found {sync!r}")
        self.sync_tx = sync == "tx"
        try:
            self.barrier_s = float(query.get("barrier_ms", "500")) / 1000.0
            self.reader = CaptureReader(path)
        except (BenchError, OSError, ValueError) as error:
            raise SerialException(f"{self.port}: {error}") from None
        self.capture_path = path
        self._records = iter(self.reader)
        self._ahead.clear()
        self._buffer.clear()
        self._writes = 0
        self._exhausted = False
        self._t0_wall = time.monotonic()
        self._t0_ns = None
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        self._records = iter(())
        super().close()

    @property
    def report(self):
        """The capture reader's report (corrupt records, torn tail) so far."""
        return self.reader.report if self.reader else None

    @property
    def header(self) -> dict:
        """The capture's header."""
        return self.reader.header if self.reader else {}

    # -- the record cursor (lock held) ------------------------------------------------------
    def _peek(self, index: int = 0) -> Record | None:
        while len(self._ahead) <= index and not self._exhausted:
            try:
                self._ahead.append(next(self._records))
            except StopIteration:
                self._exhausted = True
        return self._ahead[index] if len(self._ahead) > index else None

    def _barrier(self, released: bool) -> bool:
        """True when the cursor may pass a barrier (released, or waited ``barrier_s``)."""
        if not released:
            now = time.monotonic()
            if self._blocked_since is None:
                self._blocked_since = now
            if now - self._blocked_since < self.barrier_s:
                return False
            self.forced_barriers += 1
        self._blocked_since = None
        return True

    def _advance(self) -> None:
        while (rec := self._peek()) is not None:
            if self._t0_ns is None:
                self._t0_ns = rec.t_ns
            if rec.kind == "rx":
                if self.speed is not None:
                    due_s = (rec.t_ns - self._t0_ns) / 1e9 / self.speed
                    if time.monotonic() - self._t0_wall < due_s:
                        return
                self._buffer += rec.data
            elif rec.kind == "tx" and self.sync_tx:
                if not self._barrier(self._writes > 0):
                    return
                self._writes = max(self._writes - 1, 0)
            elif rec.kind == "event" and _event_name(rec) == "discard_begin":
                # Bytes the live recorder drained: skipped by reset_input_buffer(), served
                # after barrier_s to a driver that never resets its input.
                if not self._barrier(False):
                    return
            self._ahead.popleft()

    @property
    def finished(self) -> bool:
        """True once every record has been served and read."""
        with self._lock:
            return self._exhausted and not self._ahead and not self._buffer

    # -- serial API ------------------------------------------------------------------------
    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            self._advance()
            return len(self._buffer)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            with self._lock:
                self._advance()
                if self._buffer:
                    out = bytes(self._buffer[:size])
                    del self._buffer[:size]
                    return out
                if self._exhausted and not self._ahead:
                    return b""
            now = time.monotonic()
            if not self.is_open or (deadline is not None and now >= deadline):
                return b""
            time.sleep(0.001 if deadline is None else max(0.0, min(0.001, deadline - now)))

    def write(self, data) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        data = to_bytes(data)
        with self._lock:
            self._writes += 1
        return len(data)

    def reset_input_buffer(self) -> None:
        """Skip what the live recorder discarded here (a discard_begin…discard_end span)."""
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            self._advance()
            rec = self._peek()
            if rec is None or rec.kind != "event" or _event_name(rec) != "discard_begin":
                return
            self._buffer.clear()
            self._blocked_since = None
            while (rec := self._peek()) is not None:
                self._ahead.popleft()
                if rec.kind == "event" and _event_name(rec) == "discard_end":
                    return
