"""TSI Series 4000/4100 flowmeter serial protocol: requests and the data-block framer.

Source: TSI document 1980340, "Series 4000/4100 Gas Mass Flowmeters — Operation and Service
Manual", appendix on the serial interface (public copies), transcribed in
../shared/STANDARDS.md §5. ``DmFTPnnnn`` asks for ``nnnn`` samples of flow (F), temperature
(T) and pressure (P), each replaceable by lower-case ``x`` to leave it out; ``m`` is the
format: ``A`` (all values of the block on one comma-separated line), ``C`` (one line per
sample) or ``B`` (binary: ack byte 0x00, big-endian u16 per value — flow and pressure × 100
unsigned, temperature × 100 signed — then 0xFF 0xFF).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ventbench.errors import ConfigError

#: Quantity letters in their order within a sample, with (scale, signed) for binary mode.
QUANTITIES = {"F": (0.01, False), "T": (0.01, True), "P": (0.01, False)}
MAX_LINE = 65536


@dataclass(frozen=True)
class StreamRequest:
    """One ``DmFTPnnnn`` request: ``mode`` A/C/B, ``fields`` a subset of "FTP", ``n`` samples."""

    mode: str
    fields: str
    n: int

    def __post_init__(self) -> None:
        if self.mode not in ("A", "B", "C"):
            raise ConfigError(f"tsi: data mode {self.mode!r}: expected A, B or C")
        if not self.fields or any(f not in "FTP" for f in self.fields) or len(set(self.fields)) != len(self.fields):
            raise ConfigError(f"tsi: fields {self.fields!r}: expected a non-empty subset of 'FTP'")
        if not 1 <= self.n <= 9999:
            raise ConfigError(f"tsi: {self.n} samples per request: expected 1…9999")

    @property
    def ordered(self) -> str:
        """Selected quantities in protocol order (F, T, P)."""
        return "".join(q for q in "FTP" if q in self.fields)

    def command(self) -> bytes:
        slots = "".join(q if q in self.fields else "x" for q in "FTP")
        return f"D{self.mode}{slots}{self.n:04d}\r".encode("ascii")


def encode_binary_block(rows: np.ndarray, fields: str) -> bytes:
    """Device side: ack 0x00, the values (rows × quantities, physical units), 0xFF 0xFF."""
    out = bytearray(b"\x00")
    order = "".join(q for q in "FTP" if q in fields)
    for row in np.atleast_2d(rows):
        for q, value in zip(order, row, strict=True):
            scale, signed = QUANTITIES[q]
            raw = int(round(float(value) / scale))
            raw = max(-32768, min(32767, raw)) if signed else max(0, min(0xFFFE, raw))
            out += raw.to_bytes(2, "big", signed=signed)
    return bytes(out + b"\xff\xff")


@dataclass
class DecodedBlock:
    """Samples of one request (rows in protocol order; NaN rows for lines that failed)."""

    request: StreamRequest
    values: np.ndarray  #: shape (n, len(fields)), NaN for samples lost inside the block
    ok: np.ndarray  #: bool per sample
    error: str | None = None


@dataclass
class TsiBlockFramer:
    """Decode the answers to a queue of stream requests from bytes of any chunking.

    Never raises. Bytes that arrive when no request is pending, or that do not fit the
    expected block, are discarded and counted; a binary block whose end marker is not where
    its length says is rejected whole (resync on the next 0xFF 0xFF). ``ERRn`` lines finish
    the request with ``error`` set.
    """

    discarded_bytes: int = 0
    rejected_frames: int = 0
    queue: deque[StreamRequest] = field(default_factory=deque)
    abort: bool = False  #: set by the host to give up on the current block (timeout)
    _buf: bytearray = field(default_factory=bytearray)
    _cur: StreamRequest | None = None
    _acked: bool = False
    _rows: list[np.ndarray] = field(default_factory=list)

    def expect(self, request: StreamRequest) -> None:
        self.queue.append(request)

    @property
    def busy(self) -> bool:
        return self._cur is not None or bool(self.queue)

    def feed(self, data: bytes) -> list[DecodedBlock]:
        self._buf += data
        out: list[DecodedBlock] = []
        while True:
            if self.abort and self._cur is not None:
                self.abort = False
                out.append(self._finish(error="timeout"))
            if self._cur is None:
                if not self.queue:
                    self.discarded_bytes += sum(1 for b in self._buf if b not in (0x0A, 0x0D))
                    self._buf.clear()
                    return out
                self._cur, self._acked, self._rows = self.queue.popleft(), False, []
            step = self._step()
            if step is None:
                return out
            if step is not True:
                out.append(step)

    # One parsing step: None = need more bytes, True = progressed, a block = finished.
    def _step(self) -> DecodedBlock | bool | None:
        req, buf = self._cur, self._buf
        assert req is not None
        if not self._acked:
            if req.mode == "B" and buf[:1] == b"\x00":
                del buf[:1]
                self._acked = True
                return True
            if buf[:1] not in (b"O", b"E") or (req.mode == "B" and buf[:1] == b"O"):
                if not buf:
                    return None
                self.discarded_bytes += 1 if buf[0] not in (0x0A, 0x0D) else 0
                del buf[:1]
                return True
            line = self._line()
            if line is None:
                return None
            if line == b"OK" and req.mode != "B":
                self._acked = True
                return True
            if line.startswith(b"ERR"):
                return self._finish(error=line.decode("ascii", "replace"))
            self._reject(len(line))
            return True
        if req.mode == "B":
            return self._binary(req)
        line = self._line()
        if line is None:
            return None
        if not line:
            return True
        k = len(req.fields)
        values = _parse_numbers(line)
        if req.mode == "A":
            if values is None or values.size != req.n * k:
                self._reject(len(line))
                return self._finish(error="malformed block")
            self._rows = [values.reshape(req.n, k)]
            return self._finish()
        if values is None or values.size != k:
            self._reject(len(line))
            self._rows.append(np.full((1, k), np.nan))
        else:
            self._rows.append(values.reshape(1, k))
        return self._finish() if len(self._rows) >= req.n else True

    def _binary(self, req: StreamRequest) -> DecodedBlock | bool | None:
        k, buf = len(req.fields), self._buf
        length = req.n * k * 2
        if len(buf) < length + 2:
            # The block cannot be complete yet; but an early end marker means bytes were lost.
            return None
        if buf[length : length + 2] == b"\xff\xff":
            raw = np.frombuffer(bytes(buf[:length]), dtype=">u2").reshape(req.n, k)
            rows = np.empty((req.n, k))
            for j, q in enumerate(req.ordered):
                scale, signed = QUANTITIES[q]
                col = raw[:, j].astype(np.int64)
                if signed:
                    col = np.where(col >= 0x8000, col - 0x10000, col)
                rows[:, j] = col * scale
            del buf[: length + 2]
            self._rows = [rows]
            return self._finish()
        end = bytes(buf[: length + 2]).find(b"\xff\xff")
        cut = end + 2 if end >= 0 else length + 2
        self._reject(cut)
        del buf[:cut]
        return self._finish(error="binary block length or end marker wrong")

    def _line(self) -> bytes | None:
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) > MAX_LINE:
                self._reject(len(self._buf))
                self._buf.clear()
            return None
        line = bytes(self._buf[:end]).strip()
        del self._buf[: end + 1]
        return line

    def _reject(self, n: int) -> None:
        self.rejected_frames += 1
        self.discarded_bytes += n

    def _finish(self, error: str | None = None) -> DecodedBlock:
        req = self._cur
        assert req is not None
        k = len(req.fields)
        values = np.full((req.n, k), np.nan)
        if self._rows:
            got = np.concatenate(self._rows)[: req.n]
            values[: got.shape[0]] = got
        ok = np.all(np.isfinite(values), axis=1)
        self._cur, self._acked, self._rows = None, False, []
        return DecodedBlock(req, values, ok, error)


def _parse_numbers(line: bytes) -> np.ndarray | None:
    try:
        text = line.decode("ascii")
        parts = [p.strip() for p in text.split(",")]
        values = np.array([float(p) for p in parts], dtype=np.float64)
    except (UnicodeDecodeError, ValueError):
        return None
    return values if np.all(np.isfinite(values)) else None
