"""PIRDS v0.3 (Public Invention Respiration Data Standard, CC0) events: encoding and framing.

Sources: PubInv/PIRDS-pubinv-respiration-data-standard (``PIRDS-v.0.1.md``, the v0.3 text and
``pirds_library``), the VentMon firmware's serial output; transcribed in
../shared/STANDARDS.md §5.

One stream may mix

- binary measurements/assertions, 12 bytes: ``'M'``/``'A'``, type char, location char,
  sensor number u8, big-endian u32 ms, big-endian i32 value;
- binary meta events: ``'E'``, kind (M message, N name, D device id: u8 length + text;
  C clock: u8 length, u32 ms, ISO-8601 UTC text of that length);
- JSON lines from ``{`` to ``\\n``, e.g.
  ``{"event":"M","type":"D","loc":"A","num":0,"ms":12345,"val":153}``;
- anything else (VentMon prints human-readable lines too): discarded and counted.

:class:`PirdsFramer` resynchronises by validating every candidate record (known type and
location letters, printable text, a plausible time stamp) and skipping one byte on
failure, so noise costs bytes, never a fabricated event (see docs/drivers/pirds.md).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

#: Measurement types: (scale to the unit, channel unit). STANDARDS.md §5.
TYPES: dict[str, tuple[float, str]] = {
    "T": (0.01, "degc"), "P": (0.1, "cmh2o"), "D": (0.1, "cmh2o"), "F": (0.001, "lpm"),
    "O": (1.0, "pct"), "H": (0.01, "pct"), "V": (1.0, "ml"), "B": (0.1, "bpm"),
    "A": (1.0, "m"), "C": (0.1, "mmhg"),
}
#: Assertion types: B rate, V tidal volume, X peak pressure, E PEEP (device's own values).
ASSERTIONS: dict[str, tuple[float, str]] = {
    "B": (0.1, "rr_bpm"), "V": (1.0, "vt_ml"), "X": (0.1, "pip_cmh2o"), "E": (0.1, "peep_cmh2o"),
}
LOCATIONS = frozenset("ABMDIE")
META_KINDS = frozenset("MNDC")
RECORD_BYTES = 12
#: Bytes that may follow a binary record: the start of the next event or a line end.
_NEXT_START = frozenset(b"MAE{\r\n")
MAX_JSON_LINE = 512
_MEAS = struct.Struct(">cccBIi")


@dataclass(frozen=True)
class Event:
    """One PIRDS event: ``event`` M (measurement), A (assertion) or E (meta).

    The framer also emits ``Event("R", "R")`` — not a PIRDS event — where it detected a
    device restart (time stamps jumped and three consistent records confirmed it).
    """

    event: str
    type: str
    loc: str = ""
    num: int = 0
    ms: int = 0
    val: int = 0
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"event": self.event, "type": self.type, "ms": self.ms}
        if self.event == "E":
            d["text"] = self.text
        else:
            d.update(loc=self.loc, num=self.num, val=self.val)
        return d


def encode_binary(ev: Event) -> bytes:
    """The byte form of an event."""
    if ev.event in ("M", "A"):
        return _MEAS.pack(ev.event.encode(), ev.type.encode(), ev.loc.encode(), ev.num, ev.ms,
                          ev.val)
    text = ev.text.encode("ascii")
    if ev.type == "C":
        return b"EC" + bytes([len(text)]) + struct.pack(">I", ev.ms) + text
    return b"E" + ev.type.encode() + bytes([len(text)]) + text


def encode_json(ev: Event) -> bytes:
    """The JSON-line form of an event (``\\n`` terminated)."""
    return (json.dumps(ev.to_json(), separators=(",", ":")) + "\n").encode("ascii")


def _printable(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in data)


def _valid_measurement(event: str, typ: str, loc: str) -> bool:
    table = TYPES if event == "M" else ASSERTIONS
    return typ in table and loc in LOCATIONS


def event_from_json(obj: Any) -> Event | None:
    """Validate a parsed JSON object; None if it is not a PIRDS event."""
    if not isinstance(obj, dict):
        return None
    try:
        event, typ = str(obj["event"]), str(obj["type"])
        ms = int(obj.get("ms", 0))
        if not 0 <= ms <= 0xFFFFFFFF:
            return None
        if event == "E":
            if typ not in META_KINDS:
                return None
            text = str(obj.get("text", obj.get("buff", obj.get("msg", ""))))
            return Event("E", typ, ms=ms, text=text)
        loc, num, val = str(obj["loc"]), int(obj["num"]), int(obj["val"])
    except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: 1e999
        return None
    if event not in ("M", "A") or not _valid_measurement(event, typ, loc) or not 0 <= num <= 255:
        return None
    return Event(event, typ, loc, num, ms, val)


def parse_record(buf: bytes | bytearray, i: int) -> tuple[Event | None, int | None]:
    """Parse one binary record at ``buf[i]``.

    Returns ``(event, length)``; ``(None, 0)`` when no valid record starts there and
    ``(None, None)`` when more bytes are needed to decide. Time stamps are not checked.
    """
    b = buf[i : i + 1]
    if b in (b"M", b"A"):
        if len(buf) - i < RECORD_BYTES:
            return None, None
        ev_c, typ, loc, num, ms, val = _MEAS.unpack_from(buf, i)
        event, typ_s, loc_s = chr(ev_c[0]), chr(typ[0]), chr(loc[0])
        if not _valid_measurement(event, typ_s, loc_s):
            return None, 0
        return Event(event, typ_s, loc_s, num, ms, val), RECORD_BYTES
    if b == b"E":
        if len(buf) - i < 3:
            return None, None
        kind = chr(buf[i + 1])
        if kind not in META_KINDS:
            return None, 0
        n = buf[i + 2]
        head = 7 if kind == "C" else 3
        if len(buf) - i < head + n:
            return None, None
        text = bytes(buf[i + head : i + head + n])
        if not _printable(text):
            return None, 0
        ms = struct.unpack_from(">I", buf, i + 3)[0] if kind == "C" else 0
        return Event("E", kind, ms=ms, text=text.decode("ascii")), head + n
    return None, 0


@dataclass
class PirdsFramer:
    """Events from a mixed binary/JSON PIRDS byte stream of any chunking; never raises.

    Parameters
    ----------
    max_jump_ms : int
        A binary record's time stamp must lie within ``[last - max_back_ms, last +
        max_jump_ms]`` of the last accepted one, else it is treated as noise; three
        mutually consistent out-of-range records in a row are accepted as a device restart
        (``resets``).
    """

    max_jump_ms: int = 10_000
    max_back_ms: int = 1_000
    discarded_bytes: int = 0
    rejected_frames: int = 0
    resets: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _last_ms: int | None = None
    _candidates: list[Event] = field(default_factory=list)
    _sensor_ms: dict[tuple[str, str, str, int], int] = field(default_factory=dict)

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        buf = self._buf
        out: list[Event] = []
        i = 0
        while i < len(buf):
            b = buf[i]
            if b in (0x0A, 0x0D, 0x20, 0x09):
                i += 1
                continue
            if b == 0x7B:  # '{'
                end = buf.find(b"\n", i, i + MAX_JSON_LINE)
                if end < 0:
                    if len(buf) - i < MAX_JSON_LINE:
                        break
                    self._reject(1)
                    i += 1
                    continue
                line = bytes(buf[i:end])
                ev = None
                try:
                    ev = event_from_json(json.loads(line.decode("ascii")))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    ev = None
                if ev is None:
                    self._reject(end + 1 - i)
                else:
                    self._accept(ev, out, check_time=False)
                i = end + 1
                continue
            if b in (0x4D, 0x41, 0x45):  # 'M', 'A', 'E'
                ev, length = parse_record(buf, i)
                if length is None:
                    break
                if ev is not None and ev.event != "E" and length:
                    # A record must be followed by the start of another event (or a line
                    # end): a truncated record merged with the next one usually is not.
                    if len(buf) - i == length:
                        break
                    if buf[i + length] not in _NEXT_START:
                        ev = None
                if ev is not None and self._accept(ev, out, check_time=ev.event != "E"):
                    i += length
                    continue
                self.discarded_bytes += 1
                i += 1
                continue
            self.discarded_bytes += 1
            i += 1
        del buf[:i]
        return out

    def _accept(self, ev: Event, out: list[Event], check_time: bool) -> bool:
        """Emit ``ev`` if plausible; binary records out of time are held as candidates.

        A binary record is trusted when its time stamp follows the last accepted one; with
        no history (stream start) two consistent records in a row are needed, after a jump
        (device restart) three. Until then the caller skips one byte and rescans.
        """
        if ev.event == "E":
            out.append(ev)
            return True
        last = self._last_ms
        sensor = (ev.event, ev.type, ev.loc, ev.num)
        in_time = (last is not None and last - self.max_back_ms <= ev.ms <= last + self.max_jump_ms
                   and ev.ms >= self._sensor_ms.get(sensor, 0))
        if check_time and not in_time:
            cands = self._candidates
            if cands and not (0 <= ev.ms - cands[-1].ms <= self.max_jump_ms):
                cands.clear()
            cands.append(ev)
            if len(cands) < (2 if last is None else 3):
                return False
            if last is not None:
                self.resets += 1
                self._sensor_ms.clear()
                out.append(Event("R", "R"))  # marker: the device clock restarted here
            # The held records' bytes were counted as discarded while held: take them back.
            self.discarded_bytes -= RECORD_BYTES * (len(cands) - 1)
            out.extend(cands)
            for c in cands:
                self._sensor_ms[(c.event, c.type, c.loc, c.num)] = c.ms
            self._last_ms = ev.ms
            cands.clear()
            return True
        self._candidates.clear()
        out.append(ev)
        self._last_ms = ev.ms if last is None or not in_time else max(last, ev.ms)
        self._sensor_ms[sensor] = ev.ms
        return True

    def _reject(self, n: int) -> None:
        self.rejected_frames += 1
        self.discarded_bytes += n
