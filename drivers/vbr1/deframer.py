"""The VBR/1 framing object: fed arbitrary chunks, returns accepted frames, counts the rest.

The receiver rule of ``rig-protocol.md``, applied exactly: search for the sync word A5 5A;
read type and length; reject a length > 1024 or an unknown type; wait for the whole frame;
check the CRC over type, length and payload. On any rejection advance ONE byte past the sync
position and search again. Rejected candidates and discarded bytes are counted; bad bytes
never raise.

The rule is applied to the whole buffer at once with numpy (vectorised fast path):

1. every sync position is a *candidate*; its header and, when complete, its CRC are checked
   in bulk (CRC column-wise over all candidates of one length, see :func:`crc16_rows`);
2. a candidate is *valid* (whole, good CRC), *invalid* (bad header or CRC) or *pending*
   (header or frame not complete yet: it blocks everything after it, like the sequential
   rule that waits there);
3. the sequential walk accepts a valid or pending candidate exactly when no accepted frame
   covers it. A candidate that overlaps no earlier valid one is accepted for certain; only
   the rare overlapping ones (a frame inside another frame's payload) are walked in Python;
4. invalid candidates outside accepted frames are the rejections; bytes outside accepted
   frames before the stop point are discarded.

The result is identical to the byte-by-byte rule for any chunking (the tests compare both).
Invariant: ``bytes_fed == frame_bytes + discarded_bytes + pending_bytes``.

Where the damage was: each accepted frame carries the bytes discarded and the candidates
rejected since the previous accepted frame (``FrameBatch.gap_bytes`` / ``gap_rejected``), so
a consumer can place line noise just before the first sample after it — for any chunking.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ventbench.drivers.vbr1.crc import crc16, crc16_rows
from ventbench.drivers.vbr1.frames import HEADER_LEN, MAX_PAYLOAD, OVERHEAD, SYNC0, SYNC1, Frame

_KNOWN_TYPE = np.zeros(256, dtype=bool)
_KNOWN_TYPE[[1, 2, 3, 4]] = True
_BULK_CRC_MIN = 8  #: candidates of one length from which the column-wise CRC is used
_NEVER = np.iinfo(np.int64).max
#: Bytes scanned at once; a longer feed is scanned window by window (bounded memory).
#: Must exceed the largest frame (1031 bytes) so that every window makes progress.
WINDOW_BYTES = 1 << 20


@dataclass
class FrameBatch:
    """Frames accepted by one :meth:`Deframer.feed`, as arrays over the bytes (no copies).

    Attributes
    ----------
    buffer : ndarray of uint8
        The bytes the frames lie in.
    start : ndarray of int64
        Index of each frame's sync word in ``buffer``.
    type : ndarray of uint8
        Frame type of each frame.
    length : ndarray of int64
        Payload length of each frame.
    offset : int
        Position of ``buffer[0]`` in the whole received stream.
    gap_bytes, gap_rejected : ndarray of int64, optional
        Bytes discarded and sync candidates rejected between the previous accepted frame
        (of this or an earlier batch) and each frame. None: not known (all zero).
    """

    buffer: np.ndarray
    start: np.ndarray
    type: np.ndarray
    length: np.ndarray
    offset: int = 0
    gap_bytes: np.ndarray | None = None
    gap_rejected: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def payload(self, i: int) -> bytes:
        """Payload of frame ``i``."""
        a = int(self.start[i]) + HEADER_LEN
        return self.buffer[a : a + int(self.length[i])].tobytes()

    def frame_rows(self, index: np.ndarray, length: int) -> np.ndarray:
        """Whole frames ``index`` (all of payload length ``length``), sync to CRC, as an
        (n, length + 7) uint8 array: a view when they lie back to back, else a copy."""
        size = OVERHEAD + length
        start = self.start[index]
        n = start.shape[0]
        if n == 0:
            return np.zeros((0, size), dtype=np.uint8)
        first = int(start[0])
        if int(start[-1]) - first == (n - 1) * size:  # back to back: no copy
            return self.buffer[first : first + n * size].reshape(n, size)
        return sliding_window_view(self.buffer, size)[start]

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield Frame(int(self.type[i]), self.payload(i), self.offset + int(self.start[i]))


class Deframer:
    """Split a VBR/1 byte stream into frames; feed it chunks of any size.

    Attributes
    ----------
    rejected_frames : int
        Sync candidates rejected (length > 1024, unknown type or bad CRC).
    discarded_bytes : int
        Bytes that belong to no accepted frame and were passed over.
    frames : int
        Frames accepted.
    frame_bytes : int
        Bytes inside accepted frames.
    bytes_fed : int
        Every byte ever fed.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._offset = 0
        self.rejected_frames = 0
        self.discarded_bytes = 0
        self.frames = 0
        self.frame_bytes = 0
        self.bytes_fed = 0
        self._last_end = 0  #: stream position just after the last accepted frame
        self._rejected_since = 0  #: rejections after it, not yet given to a frame

    @property
    def pending_bytes(self) -> int:
        """Bytes held back: an incomplete frame, or a last byte A5 that may start a sync."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> FrameBatch:
        """Add received bytes; return the frames completed by them, in stream order."""
        self.bytes_fed += len(data)
        raw = self._pending + bytes(data) if self._pending else bytes(data)
        buf = np.frombuffer(raw, dtype=np.uint8)
        n = buf.shape[0]
        starts: list[np.ndarray] = []
        types: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        rejected: list[np.ndarray] = []
        lo = 0
        while True:  # windows bound the memory of one call; results do not depend on them
            hi = min(n, lo + WINDOW_BYTES)
            start, ftype, length, stop, bad = self._scan(buf[lo:hi])
            starts.append(start + lo)
            types.append(ftype)
            lengths.append(length)
            rejected.append(bad + lo)
            if hi == n or stop == 0:
                lo += stop
                break
            lo += stop
        offset = self._offset
        self._pending = raw[lo:]
        self._offset = offset + lo
        start = starts[0] if len(starts) == 1 else np.concatenate(starts)
        length = lengths[0] if len(lengths) == 1 else np.concatenate(lengths)
        gap_bytes, gap_rejected = self._gaps(start + offset, length, np.concatenate(rejected) + offset)
        return FrameBatch(buf, start, types[0] if len(types) == 1 else np.concatenate(types), length,
                          offset, gap_bytes, gap_rejected)

    def _gaps(self, start: np.ndarray, length: np.ndarray, rejected: np.ndarray):
        """Per accepted frame (stream positions ``start``): bytes discarded and candidates
        rejected (stream positions ``rejected``) since the previous accepted frame."""
        end = start + OVERHEAD + length
        prev_end = np.empty_like(end)
        prev_end[:1] = self._last_end
        prev_end[1:] = end[:-1]
        gap_bytes = start - prev_end
        next_frame = np.searchsorted(start, rejected, side="right")  # the frame after each
        gap_rejected = np.bincount(next_frame, minlength=len(start) + 1).astype(np.int64)
        gap_rejected[0] += self._rejected_since
        if len(start):
            self._last_end = int(end[-1])
        self._rejected_since = int(gap_rejected[-1])  # after the last frame: the next one's
        return gap_bytes, gap_rejected[:-1]

    def _scan(self, buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
        """Apply the rule to ``buf``; count; return accepted frames, the stop position (the
        first byte that must wait for more data) and the rejected candidates' positions."""
        n = buf.shape[0]
        if n < 2:
            stop = 0 if (n and buf[0] == SYNC0) else n
            self.discarded_bytes += stop
            z = np.empty(0, dtype=np.int64)
            return z, np.empty(0, dtype=np.uint8), z, stop, z
        cand = np.flatnonzero((buf[:-1] == SYNC0) & (buf[1:] == SYNC1))
        state, end, ftype, length = self._classify(buf, cand)
        acc_idx, stop = self._walk(cand, state, end)
        acc_start = cand[acc_idx]
        acc_end = end[acc_idx]
        if stop is None:
            stop = n
            last_end = int(acc_end[-1]) if len(acc_end) else 0
            if buf[n - 1] == SYNC0 and n - 1 >= last_end:
                stop = n - 1
        # rejections: invalid candidates before the stop point that no accepted frame covers
        bad = cand[(state == 0) & (cand < stop)]
        if len(bad) and len(acc_start):
            k = np.searchsorted(acc_start, bad, side="right") - 1
            covered = (k >= 0) & (bad < acc_end[np.maximum(k, 0)])
            bad = bad[~covered]
        self.rejected_frames += len(bad)
        in_frames = int(np.sum(acc_end - acc_start))
        self.frames += len(acc_idx)
        self.frame_bytes += in_frames
        self.discarded_bytes += stop - in_frames
        return acc_start, ftype[acc_idx], length[acc_idx], stop, bad

    @staticmethod
    def _classify(buf: np.ndarray, cand: np.ndarray):
        """State of each candidate: 0 invalid, 1 valid, 2 pending; its end; type; length."""
        n = buf.shape[0]
        m = cand.shape[0]
        state = np.full(m, 2, dtype=np.int8)
        end = np.full(m, _NEVER, dtype=np.int64)
        ftype = np.zeros(m, dtype=np.uint8)
        length = np.zeros(m, dtype=np.int64)
        hdr = cand + HEADER_LEN <= n
        h = cand[hdr]
        t = buf[h + 2]
        ln = buf[h + 3].astype(np.int64) | (buf[h + 4].astype(np.int64) << 8)
        ftype[hdr] = t
        length[hdr] = ln
        ok_hdr = _KNOWN_TYPE[t] & (ln <= MAX_PAYLOAD)
        st = np.where(ok_hdr, 2, 0).astype(np.int8)
        fend = h + OVERHEAD + ln
        whole = ok_hdr & (fend <= n)
        st[whole] = 1  # provisionally valid; CRC below
        wi = np.flatnonzero(whole)
        if len(wi):
            good = np.zeros(len(wi), dtype=bool)
            wl = ln[wi]
            counts = np.bincount(wl, minlength=MAX_PAYLOAD + 1)
            for value in np.flatnonzero(counts).tolist():
                sel = np.flatnonzero(wl == value) if counts[value] < len(wl) else np.arange(len(wl))
                pos = h[wi[sel]]
                if counts[value] >= _BULK_CRC_MIN:
                    rows = sliding_window_view(buf, OVERHEAD + value)[pos]
                    crc = crc16_rows(rows[:, 2 : HEADER_LEN + value])
                    stored = rows[:, -2].astype(np.uint16) | (rows[:, -1].astype(np.uint16) << 8)
                    good[sel] = crc == stored
                else:
                    for j, p in zip(sel.tolist(), pos.tolist(), strict=True):
                        stored = int(buf[p + 5 + value]) | (int(buf[p + 6 + value]) << 8)
                        good[j] = crc16(buf[p + 2 : p + 5 + value].tobytes()) == stored
            st[wi[~good]] = 0
        state[hdr] = st
        vend = np.where(st == 1, fend, _NEVER)
        end[hdr] = vend
        return state, end, ftype, length

    @staticmethod
    def _walk(cand: np.ndarray, state: np.ndarray, end: np.ndarray):
        """Indices (into ``cand``) of accepted frames, and the stop position (a pending
        candidate that is reached) or None."""
        blk = np.flatnonzero(state != 0)
        if len(blk) == 0:
            return blk, None
        b_start = cand[blk]
        b_end = end[blk]
        prev_max = np.empty(len(blk), dtype=np.int64)
        prev_max[0] = -1
        np.maximum.accumulate(b_end[:-1], out=prev_max[1:])
        free = b_start >= prev_max
        accepted = free.copy()
        if not free.all():
            # rare: candidates inside earlier valid frames; walk them in order. Indices
            # between two non-free ones are free (accepted), the last of them fixes the end
            # of the accepted frames so far.
            cur_end = -1
            last = -1
            for i in np.flatnonzero(~free).tolist():
                if i - 1 > last:
                    cur_end = int(b_end[i - 1])
                if b_start[i] >= cur_end:
                    accepted[i] = True
                    cur_end = int(b_end[i])
                last = i
        acc = np.flatnonzero(accepted)
        pend = state[blk[acc]] == 2
        if pend.any():
            first = int(np.flatnonzero(pend)[0])
            return blk[acc[:first]], int(b_start[acc[first]])
        return blk[acc], None
