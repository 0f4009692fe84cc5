"""IMT FlowAnalyser PF-300 / CITREX H4/H5 RS-232 protocol: tables and framing objects.

Source: IMT Analytics, "RS232 Interface Description for FlowAnalyser and CITREX" v1.13,
redistributed in the MIT-licensed repository eove/flow-analyzer-com (its measurement and
setting tables, ``lib/domain/measurements/getMeasurementInfos.ts`` and
``lib/domain/settings/getSettingInfos.ts``, and its answer parser ``findAnswers.ts``);
transcribed in ../shared/STANDARDS.md §5.

Two framings share the serial line:

- ASCII request/answer: ``%RM#id\\r`` → ``%RM#id$value\\r``; an invalid command is answered
  by a bare ``?``. :class:`AnswerFramer` turns any chunking into :class:`Answer` objects.
- fast data (after ``%CM#64``): 9-byte packets every 5 ms, u16 tick + three 16-bit values +
  checksum byte, valid when the 8-bit sum of all nine bytes is 0. **Byte order and
  signedness of the fields are not documented**: they are :class:`FastFormat` settings,
  default big-endian signed. :class:`FastPacketFramer` resynchronises on checksum failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The integer an analyser sends for "no value" (e.g. no breath detected yet).
UNDEFINED = -2147483648
#: Fast-stream "no value" for a 16-bit signed field: ASSUMED, not documented.
FAST_UNDEFINED = -32768
FAST_PACKET_BYTES = 9
FAST_TICK_S = 0.005


@dataclass(frozen=True)
class Quantity:
    """One measurement id: ``value = raw * scale`` in the unit named in ``name``."""

    id: int
    name: str
    scale: float


#: Measurement ids (``%RM#id``), names with their unit, resolution (STANDARDS.md §5).
#: Vti/Vte (23/24) are 1 mL on PF-300/CITREX per eove's table (0.1 mL on some firmware:
#: override with the ``vt_scale_ml`` driver option). High flow is 0.01 L/min on PF-300 Pro.
MEASUREMENTS: dict[int, Quantity] = {
    q.id: q
    for q in (
        Quantity(0, "flow_high_lpm", 0.1),
        Quantity(1, "flow_low_lpm", 0.01),
        Quantity(2, "p_low_mbar", 0.001),
        Quantity(3, "p_diff_mbar", 0.01),
        Quantity(4, "p_hf_mbar", 0.01),
        Quantity(5, "p_vac_mbar", 0.1),
        Quantity(6, "vol_hf_ml", 0.1),
        Quantity(7, "vol_lf_ml", 0.01),
        Quantity(8, "breath_phase", 1.0),
        Quantity(9, "o2_pct", 0.1),
        Quantity(10, "rh_pct", 1.0),
        Quantity(11, "t_gas_degc", 0.1),
        Quantity(12, "dew_point_degc", 0.1),
        Quantity(13, "p_high_mbar", 1.0),
        Quantity(14, "p_amb_mbar", 1.0),
        Quantity(19, "ti_s", 0.01),
        Quantity(20, "te_s", 0.01),
        Quantity(21, "ie_ratio", 0.1),
        Quantity(22, "rr_bpm", 0.1),
        Quantity(23, "vti_ml", 1.0),
        Quantity(24, "vte_ml", 1.0),
        Quantity(25, "mv_insp_lpm", 0.1),
        Quantity(26, "mv_exp_lpm", 0.1),
        Quantity(27, "ppeak_mbar", 0.1),
        Quantity(28, "pmean_mbar", 0.1),
        Quantity(29, "peep_mbar", 0.1),
        Quantity(30, "ti_tcycle_pct", 0.1),
        Quantity(31, "pif_lpm", 0.1),
        Quantity(32, "pef_lpm", 0.1),
        Quantity(41, "pplat_mbar", 0.1),
        Quantity(42, "compliance_ml_per_mbar", 0.1),
    )
}

#: Airway-pressure ids (mbar): converted to cmH2O for ``paw_cmh2o`` / ``*_cmh2o`` keys.
AIRWAY_PRESSURE_IDS = frozenset({2, 3, 4, 27, 28, 29, 41})
#: Flow ids (L/min) usable as the fast ``flow_lpm`` field.
FLOW_IDS = frozenset({0, 1})

#: Setting 3 (gas standard) values. Conditions we have are named; others need handling.
GAS_STANDARDS: dict[int, str] = {
    0: "ATP (ambient temperature, pressure and humidity)",
    1: "STP 21.1 °C / 1013.25 mbar, dry",
    2: "BTPS",
    3: "BTPD (37 °C, ambient pressure, dry)",
    4: "0 °C / 1013.25 mbar, dry",
    5: "20 °C / 981 mbar, dry",
    6: "15 °C / 1013 mbar, dry",
    7: "20 °C / 1013 mbar, dry",
    8: "25 °C / 991 mbar, dry",
    9: "ambient pressure, 21 °C, dry",
    10: "STP humid",
    11: "ATPD",
    12: "ATPS",
}

INFO_IDS = {"hardware": 1, "sw_major": 2, "sw_minor": 3, "sw_release": 4,
            "cal_day": 5, "cal_month": 6, "cal_year": 7, "serial": 8}


def encode_request(kind: str, ident: int, value: int | None = None) -> bytes:
    """``%KK#id\\r`` or ``%KK#id$value\\r`` (kind: RM, RS, WS, CM, RI)."""
    text = f"%{kind}#{ident}" + ("" if value is None else f"${value}") + "\r"
    return text.encode("ascii")


def scaled(raw: int, scale: float) -> float | None:
    """``raw * scale``, or None for the undefined value (never a number)."""
    return None if raw == UNDEFINED else raw * scale


@dataclass(frozen=True)
class Answer:
    """One answer: ``kind`` (RM, RS, WS, CM, RI) ``ident`` and ``value`` text; kind "?" for
    the invalid-command answer."""

    kind: str
    ident: int | None = None
    value: str | None = None
    raw: bytes = b""


_ANSWER = re.compile(rb"%([A-Z]{2})#(\d+)(?:\$(-?[0-9A-Za-z.:/_-]*))?\r")


@dataclass
class AnswerFramer:
    """Turn ASCII bytes (any chunking) into :class:`Answer` s; never raises.

    Bytes outside ``%…\\r`` frames and ``?`` are discarded and counted; a ``%`` frame longer
    than ``max_len`` or not of the documented shape is rejected and counted.
    """

    max_len: int = 48
    discarded_bytes: int = 0
    rejected_frames: int = 0
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Answer]:
        self._buf += data
        out: list[Answer] = []
        buf = self._buf
        i = 0
        while i < len(buf):
            b = buf[i]
            if b == 0x3F:  # '?'
                out.append(Answer("?", raw=b"?"))
                i += 1
                continue
            if b != 0x25:  # not '%'
                if b not in (0x0A, 0x0D):
                    self.discarded_bytes += 1
                i += 1
                continue
            end = buf.find(b"\r", i, i + self.max_len)
            nxt = buf.find(b"%", i + 1, i + self.max_len)
            if end < 0:
                if len(buf) - i >= self.max_len or nxt >= 0:
                    self._reject(1)
                    i += 1
                    continue
                break  # incomplete: wait for more bytes
            if 0 <= nxt < end:  # a new frame starts before this one ended
                self._reject(nxt - i)
                i = nxt
                continue
            m = _ANSWER.fullmatch(bytes(buf[i : end + 1]))
            if m is None:
                self._reject(end + 1 - i)
            else:
                value = m.group(3).decode("ascii") if m.group(3) is not None else None
                out.append(Answer(m.group(1).decode("ascii"), int(m.group(2)), value,
                                  bytes(buf[i : end + 1])))
            i = end + 1
        del buf[:i]
        return out

    def _reject(self, n: int) -> None:
        self.rejected_frames += 1
        self.discarded_bytes += n


@dataclass(frozen=True)
class FastFormat:
    """Layout of the 16-bit fast fields (NOT documented by IMT: configuration).

    Parameters
    ----------
    byteorder : {"big", "little"}
        Byte order of the tick and the three fields; default big-endian (UNVERIFIED).
    signed : bool
        Whether the three value fields are two's-complement; default True (UNVERIFIED).
    """

    byteorder: str = "big"
    signed: bool = True


@dataclass(frozen=True)
class FastPacket:
    """A decoded fast packet: raw tick (u16, 5 ms) and the three raw field values."""

    tick: int
    values: tuple[int, int, int]


def checksum_byte(body: bytes) -> int:
    """The 9th byte that makes the 8-bit sum of a packet zero."""
    return (-sum(body)) & 0xFF


def encode_fast_packet(tick: int, values: tuple[int, int, int], fmt: FastFormat) -> bytes:
    """Build one 9-byte fast packet (used by the simulated device and the tests)."""
    body = (tick & 0xFFFF).to_bytes(2, fmt.byteorder)
    for v in values:
        v = int(v)
        if fmt.signed:
            v = max(-32768, min(32767, v))
        else:
            v = max(0, min(65535, v))
        body += v.to_bytes(2, fmt.byteorder, signed=fmt.signed)
    return body + bytes([checksum_byte(body)])


def decode_fast_packet(packet: bytes, fmt: FastFormat) -> FastPacket:
    """Decode 9 checksum-valid bytes."""
    tick = int.from_bytes(packet[0:2], fmt.byteorder)
    vals = tuple(
        int.from_bytes(packet[k : k + 2], fmt.byteorder, signed=fmt.signed) for k in (2, 4, 6)
    )
    return FastPacket(tick, vals)  # type: ignore[arg-type]


@dataclass
class FastPacketFramer:
    """Find 9-byte fast packets in a byte stream (any chunking); never raises.

    In sync, a packet is accepted when its checksum is valid and its tick is at most
    ``max_jump`` ticks after the previous one (wrap-aware). Out of sync (at start, or
    after a failure) a position is accepted only when two consecutive checksum-valid
    packets with consecutive ticks start there, which makes a false lock on noise
    (probability 1/256 per position for one checksum) negligible. Every byte skipped is
    counted in ``discarded_bytes``; every loss of sync is one ``rejected_frames``.
    """

    fmt: FastFormat = field(default_factory=FastFormat)
    max_jump: int = 200
    discarded_bytes: int = 0
    rejected_frames: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _last_tick: int | None = None
    _synced: bool = False

    def _valid(self, i: int) -> bool:
        return (sum(self._buf[i : i + FAST_PACKET_BYTES]) & 0xFF) == 0

    def _tick(self, i: int) -> int:
        return int.from_bytes(self._buf[i : i + 2], self.fmt.byteorder)

    def feed(self, data: bytes) -> list[FastPacket]:
        self._buf += data
        buf, n = self._buf, FAST_PACKET_BYTES
        out: list[FastPacket] = []
        i = 0
        while True:
            if self._synced:
                if len(buf) - i < n:
                    break
                jump = (self._tick(i) - (self._last_tick or 0)) & 0xFFFF
                if self._valid(i) and 1 <= jump <= self.max_jump:
                    out.append(decode_fast_packet(bytes(buf[i : i + n]), self.fmt))
                    self._last_tick = out[-1].tick
                    i += n
                    continue
                self._synced = False
                self.rejected_frames += 1
            if len(buf) - i < 2 * n:
                break
            if (self._valid(i) and self._valid(i + n)
                    and ((self._tick(i + n) - self._tick(i)) & 0xFFFF) == 1):
                self._synced = True
                self._last_tick = (self._tick(i) - 1) & 0xFFFF
                continue
            self.discarded_bytes += 1
            i += 1
        del buf[:i]
        return out
