"""``.vbcap`` format: constants, record encoding and the records a reader yields.

The byte layout (see ``docs/capture-format.md`` and :mod:`drivers.capture`): the file
magic and version, the sync marker, record kinds (RX, TX, EVENT), the packed file and
record heads, sanity limits; :func:`_record_bytes` encodes one record; :class:`Record`
and :class:`ReadReport` are what :class:`~drivers.capture.CaptureReader` gives back.
:class:`CaptureError` is the write-side error.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from ventbench.errors import TransportError

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

    Derives from both :class:`~ventbench.errors.TransportError` and :class:`OSError`
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
