"""VBR/1, the bench-rig serial protocol (``rig-protocol.md``): host side.

- :mod:`.crc` — CRC-16/CCITT-FALSE, single and column-wise;
- :mod:`.frames` — frame layout, types and encoders (used by the simulated rig and tests);
- :mod:`.deframer` — :class:`Deframer`, the framing object fed arbitrary chunks;
- :mod:`.samples` — :class:`SampleDecoder`: DESCRIBE layouts, SAMPLE → columns, flags,
  gaps, resets and events.

The driver that talks to a rig is :class:`drivers.rig.RigDriver` (``--driver rig``).
"""

from ventbench.drivers.vbr1.crc import crc16, crc16_rows
from ventbench.drivers.vbr1.deframer import Deframer, FrameBatch
from ventbench.drivers.vbr1.frames import (
    MAX_PAYLOAD,
    SYNC,
    EventCode,
    Frame,
    FrameType,
    encode_describe,
    encode_event,
    encode_frame,
    encode_reply,
    encode_sample,
    encode_samples,
)
from ventbench.drivers.vbr1.samples import STATUS_FLAGS, Layout, SampleDecoder, parse_describe

__all__ = [
    "MAX_PAYLOAD", "STATUS_FLAGS", "SYNC", "Deframer", "EventCode", "Frame", "FrameBatch",
    "FrameType", "Layout", "SampleDecoder", "crc16", "crc16_rows", "encode_describe",
    "encode_event", "encode_frame", "encode_reply", "encode_sample", "encode_samples",
    "parse_describe",
]
