"""A synchronous, thread-free port over the records of a capture (for the ``.vbcap`` importer).

:class:`CapturePort` hands a driver the recorded rx bytes **one record per read** — the
very chunks the live driver received — and never waits: where the live port had nothing
more to give on this connection (an ``open`` or ``disconnect`` event, or the end of the
capture) a read raises :class:`Boundary`, a :class:`serial.SerialException`, so a
handshake that failed live fails here at once instead of after its timeout. Writes are
counted and go nowhere. Tx records and other events are passed over; rx records inside a
``discard_begin`` … ``discard_end`` span (drained by ``reset_input_buffer``, never seen by
the live driver) are skipped and counted.
"""

from __future__ import annotations

from serial import SerialException

from ventbench.drivers.capture import Record

#: Events at which a connection ends (the next one starts at ``open``).
BOUNDARY_EVENTS = frozenset({"open", "disconnect"})


class Boundary(SerialException):
    """A read met the end of a connection: ``event`` is "open", "disconnect" or "end"."""

    def __init__(self, event: str, where: str) -> None:
        super().__init__(f"{where}: the capture has no more bytes here ({event})")
        self.event = event


class CapturePort:
    """The :class:`~drivers.base.BytePort` of a recorded connection (see module docstring).

    Parameters
    ----------
    records : list of Record
        The capture's records, in order.
    url : str
        The recorded port name (for the driver's messages).
    """

    def __init__(self, records: list[Record], url: str) -> None:
        self.records = records
        self.url = url
        self.timeout: float | None = 0.1
        self.writes = 0  #: writes by the driver
        self.t_ns = 0  #: host time of the rx record served last
        self.unread_rx_bytes = 0  #: rx bytes no connection read (before an ``open``)
        self.discarded_rx_bytes = 0  #: rx bytes in discard spans
        self._i = 0
        self._buf = b""
        self._events = [event_name(r) if r.kind == "event" else "" for r in records]

    @property
    def port(self) -> str:
        """The recorded port name."""
        return self.url

    name = port

    @property
    def finished(self) -> bool:
        """True once every record has been passed."""
        return not self._buf and self._i >= len(self.records)

    def _current(self) -> Record | None:
        """Move past tx records, plain events and discard spans; the rx record or
        boundary event at the cursor (None at the end)."""
        while self._i < len(self.records):
            rec, event = self.records[self._i], self._events[self._i]
            if rec.kind == "rx" or event in BOUNDARY_EVENTS:
                return rec
            self._i += 1
            if event == "discard_begin":
                while self._i < len(self.records) and self._events[self._i] != "discard_end":
                    if self.records[self._i].kind == "rx":
                        self.discarded_rx_bytes += len(self.records[self._i].data)
                    self._i += 1
        return None

    @property
    def in_waiting(self) -> int:
        """Bytes of the record being served (0 at a boundary)."""
        if self._buf:
            return len(self._buf)
        rec = self._current()
        return len(rec.data) if rec is not None and rec.kind == "rx" else 0

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes of the current rx record; :class:`Boundary` where there are none."""
        if not self._buf:
            rec = self._current()
            if rec is None:
                raise Boundary("end", self.url)
            if rec.kind != "rx":
                raise Boundary(self._events[self._i], self.url)
            self._buf, self.t_ns = rec.data, rec.t_ns
            self._i += 1
        out, self._buf = self._buf[:size], self._buf[size:]
        return out

    def skip_event(self) -> None:
        """Pass the boundary event at the cursor (nothing at the end)."""
        if self._current() is not None and not self._buf:
            self._i += 1

    def skip_to_open(self) -> bool:
        """Pass everything up to and including the next ``open`` event; False if none."""
        self.unread_rx_bytes += len(self._buf)
        self._buf = b""
        while (rec := self._current()) is not None:
            self._i += 1
            if rec.kind == "rx":
                self.unread_rx_bytes += len(rec.data)
            elif self._events[self._i - 1] == "open":
                return True
        return False

    def write(self, data: bytes) -> int:
        """Counted; goes nowhere."""
        self.writes += 1
        return len(data)

    def reset_input_buffer(self) -> None:
        """Nothing to do: discard spans are always skipped (the live driver never saw them)."""

    def close(self) -> None:
        """Nothing to close."""


def event_name(record: Record) -> str:
    try:
        return str(record.event().get("event", ""))
    except (ValueError, UnicodeDecodeError):
        return ""
