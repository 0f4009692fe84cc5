"""The VBR/1 receiver rule written the obvious way, byte by byte: the reference the fast
deframer is compared with. Slow on purpose; keep it simple enough to check by eye."""

from __future__ import annotations

import binascii


class ReferenceDeframer:
    """Sequential receiver rule of rig-protocol.md, fed chunks."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.offset = 0  # stream position of buf[0]
        self.rejected_frames = 0
        self.discarded_bytes = 0
        self.frames: list[tuple[int, bytes, int]] = []  # (type, payload, stream offset)
        self.gaps: list[tuple[int, int]] = []  # per frame: (discarded, rejected) since the last
        self._since = [0, 0]

    def feed(self, data: bytes) -> list[tuple[int, bytes, int]]:
        self.buf += data
        out = []
        pos = 0
        buf = self.buf
        while True:
            # search for the sync word
            i = pos
            while i + 1 < len(buf) and not (buf[i] == 0xA5 and buf[i + 1] == 0x5A):
                i += 1
            if i + 1 >= len(buf):  # no sync: keep a last A5, discard the rest
                keep_from = len(buf) - 1 if (len(buf) > pos and buf[-1] == 0xA5) else len(buf)
                keep_from = max(keep_from, pos)
                self.discarded_bytes += keep_from - pos
                self._since[0] += keep_from - pos
                pos = keep_from
                break
            self.discarded_bytes += i - pos
            self._since[0] += i - pos
            pos = i
            if len(buf) < i + 5:
                break  # wait for the header
            ftype = buf[i + 2]
            length = buf[i + 3] | (buf[i + 4] << 8)
            if length > 1024 or ftype not in (1, 2, 3, 4):
                self._reject()
                pos = i + 1
                continue
            if len(buf) < i + 7 + length:
                break  # wait for the whole frame
            crc = binascii.crc_hqx(bytes(buf[i + 2 : i + 5 + length]), 0xFFFF)
            stored = buf[i + 5 + length] | (buf[i + 6 + length] << 8)
            if crc != stored:
                self._reject()
                pos = i + 1
                continue
            out.append((ftype, bytes(buf[i + 5 : i + 5 + length]), self.offset + i))
            self.gaps.append((self._since[0], self._since[1]))
            self._since = [0, 0]
            pos = i + 7 + length
        del buf[:pos]
        self.offset += pos
        self.frames += out
        return out

    def _reject(self) -> None:
        self.rejected_frames += 1
        self.discarded_bytes += 1
        self._since[0] += 1
        self._since[1] += 1
