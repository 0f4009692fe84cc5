"""VBR/1 frame layout: types, constants and the encoders used by the simulated rig and tests.

A frame on the wire (``rig-protocol.md``)::

    A5 5A | type u8 | length u16 LE | payload (length bytes) | crc u16 LE

The CRC (CRC-16/CCITT-FALSE) covers type, length and payload.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any

import numpy as np

from ventbench.drivers.vbr1.crc import crc16, crc16_rows

SYNC = b"\xa5\x5a"
SYNC0, SYNC1 = 0xA5, 0x5A
HEADER_LEN = 5  #: sync, type, length
CRC_LEN = 2
OVERHEAD = HEADER_LEN + CRC_LEN
MAX_PAYLOAD = 1024
SAMPLE_FIXED_LEN = 14  #: seq u32 + t_us u64 + status u16
DEFAULT_CHANNELS = 2


class FrameType(IntEnum):
    """Frame types of VBR/1."""

    SAMPLE = 0x01
    DESCRIBE = 0x02
    EVENT = 0x03
    REPLY = 0x04


KNOWN_TYPES = frozenset(int(t) for t in FrameType)


class EventCode(IntEnum):
    """EVENT codes."""

    SENSOR_FAULT = 1
    SENSOR_RECOVERED = 2
    BUTTON_PRESSED = 3
    ALARM_ON = 4
    ALARM_OFF = 5
    ZERO_DONE = 6
    RIG_RESET = 7
    ACTUATOR = 8  #: actuator extension: an actuator changed state (docs/drivers/rig-actuators.md)
    OTHER = 255


EVENT_NAMES = {
    1: "sensor_fault",
    2: "sensor_recovered",
    3: "button_pressed",
    4: "alarm_input_on",
    5: "alarm_input_off",
    6: "zero_done",
    7: "rig_reset",
    8: "actuator",
    255: "other",
}


def event_name(code: int) -> str:
    """Name of an EVENT code (``"code_N"`` for codes the protocol does not define)."""
    return EVENT_NAMES.get(int(code), f"code_{int(code)}")


@dataclass(frozen=True)
class Frame:
    """One accepted frame.

    Attributes
    ----------
    type : int
        Frame type byte (a :class:`FrameType` value).
    payload : bytes
        The payload.
    offset : int
        Position of the sync word in the whole received stream, bytes from the first byte
        ever fed to the deframer.
    """

    type: int
    payload: bytes
    offset: int = 0


def sample_length(n_channels: int) -> int:
    """Payload length of a SAMPLE with ``n_channels`` channels: 14 + 4·K bytes."""
    return SAMPLE_FIXED_LEN + 4 * n_channels


def sample_dtype(n_channels: int) -> np.dtype:
    """Packed little-endian numpy dtype of a SAMPLE payload with K channels."""
    return np.dtype(
        [("seq", "<u4"), ("t_us", "<u8"), ("ch", "<i4", (n_channels,)), ("status", "<u2")]
    )


@lru_cache(maxsize=64)
def sample_frame_dtype(n_channels: int) -> np.dtype:
    """numpy dtype of a whole SAMPLE frame (sync to CRC) with K channels: the payload fields
    at their offsets, so an (n, 21 + 4·K) byte array of frames views as records."""
    return np.dtype({
        "names": ["seq", "t_us", "ch", "status"],
        "formats": ["<u4", "<u8", ("<i4", (n_channels,)), "<u2"],
        "offsets": [5, 9, 17, 17 + 4 * n_channels],
        "itemsize": OVERHEAD + sample_length(n_channels),
    })


def encode_frame(frame_type: int, payload: bytes) -> bytes:
    """A whole frame: sync, type, length, payload, CRC.

    ``payload`` longer than 1024 bytes is encoded anyway (tests use it to build frames the
    receiver must reject).
    """
    head = struct.pack("<BH", frame_type & 0xFF, len(payload) & 0xFFFF)
    crc = crc16(head + payload)
    return SYNC + head + payload + struct.pack("<H", crc)


def encode_sample(seq: int, t_us: int, values: list[int] | tuple[int, ...], status: int = 0) -> bytes:
    """One SAMPLE frame from raw integers (channel values already scaled)."""
    payload = struct.pack(f"<IQ{len(values)}iH", seq, t_us, *values, status)
    return encode_frame(FrameType.SAMPLE, payload)


def encode_samples(seq: np.ndarray, t_us: np.ndarray, ch: np.ndarray,
                   status: np.ndarray | int = 0) -> bytes:
    """Many SAMPLE frames at once, vectorised (same bytes as :func:`encode_sample`).

    Parameters
    ----------
    seq, t_us : array_like of int, shape (n,)
        Sequence numbers (u32) and device times, µs (u64).
    ch : array_like of int, shape (n, K)
        Raw channel values (i32).
    status : array_like of int or int
        Status words (u16).
    """
    ch = np.atleast_2d(np.asarray(ch, dtype=np.int64))
    n, k = ch.shape
    rec = np.zeros(n, dtype=sample_dtype(k))
    rec["seq"] = np.asarray(seq, dtype=np.uint64).astype(np.uint32)
    rec["t_us"] = np.asarray(t_us, dtype=np.uint64)
    rec["ch"] = ch.astype(np.int32)
    rec["status"] = np.asarray(status, dtype=np.uint32).astype(np.uint16)
    length = sample_length(k)
    out = np.empty((n, OVERHEAD + length), dtype=np.uint8)
    out[:, 0] = SYNC0
    out[:, 1] = SYNC1
    out[:, 2] = FrameType.SAMPLE
    out[:, 3] = length & 0xFF
    out[:, 4] = length >> 8
    out[:, HEADER_LEN : HEADER_LEN + length] = rec.view(np.uint8).reshape(n, length)
    crc = crc16_rows(out[:, 2 : HEADER_LEN + length])
    out[:, -2] = crc & 0xFF
    out[:, -1] = crc >> 8
    return out.tobytes()


def encode_describe(info: dict[str, Any]) -> bytes:
    """A DESCRIBE frame carrying ``info`` as compact UTF-8 JSON."""
    text = json.dumps(info, separators=(",", ":"), ensure_ascii=False)
    return encode_frame(FrameType.DESCRIBE, text.encode("utf-8"))


def encode_event(t_us: int, code: int, text: str = "") -> bytes:
    """An EVENT frame."""
    return encode_frame(FrameType.EVENT, struct.pack("<QB", t_us, code) + text.encode("utf-8"))


def encode_reply(text: str) -> bytes:
    """A REPLY frame (``OK``, ``OK ZERO``, ``PONG``, ``ERR <reason>``)."""
    return encode_frame(FrameType.REPLY, text.encode("utf-8"))


def decode_event(payload: bytes) -> tuple[int, int, str] | None:
    """``(t_us, code, text)`` of an EVENT payload, or None when shorter than 9 bytes."""
    if len(payload) < 9:
        return None
    t_us, code = struct.unpack_from("<QB", payload)
    return t_us, code, payload[9:].decode("utf-8", errors="replace")
