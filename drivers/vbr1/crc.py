"""CRC-16/CCITT-FALSE, one frame at a time and column-wise over many frames at once.

Polynomial 0x1021, init 0xFFFF, no reflection, xorout 0x0000; check value 0x29B1 for
ASCII ``"123456789"``. :func:`binascii.crc_hqx` computes exactly this CRC when started at
0xFFFF; :func:`crc16_rows` computes it for many equal-length rows with numpy, two bytes per
step through a 65 536-entry table, which is how the deframer checks a bulk of SAMPLE frames.
"""

from __future__ import annotations

import binascii

import numpy as np

POLY = 0x1021
INIT = 0xFFFF
CHECK_VALUE = 0x29B1  #: CRC of b"123456789"


def crc16(data: bytes | bytearray | memoryview, init: int = INIT) -> int:
    """CRC-16/CCITT-FALSE of ``data``.

    Parameters
    ----------
    data : bytes-like
        The bytes covered (for a VBR/1 frame: type, length and payload).
    init : int
        Register start value; pass a previous result to continue a CRC over more bytes.

    Returns
    -------
    int
        The CRC, 0 … 0xFFFF.
    """
    return binascii.crc_hqx(data, init)


def _table8() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        reg = byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ POLY) if reg & 0x8000 else (reg << 1)
        table[byte] = reg & 0xFFFF
    return table


def _table16(t8: np.ndarray) -> np.ndarray:
    # Register r fed with a 16-bit word w (high byte first) becomes T16[r ^ w]:
    # after the high byte, r1 = (x << 8 & 0xFFFF) ^ T8[x >> 8]; then the low byte likewise.
    x = np.arange(65536, dtype=np.uint32)
    r1 = ((x << 8) & 0xFFFF) ^ t8[x >> 8]
    r2 = ((r1 << 8) & 0xFFFF) ^ t8[r1 >> 8]
    return r2.astype(np.uint16)


TABLE8 = _table8().astype(np.uint16)
TABLE16 = _table16(_table8())


def crc16_rows(rows: np.ndarray, init: int = INIT) -> np.ndarray:
    """CRC-16/CCITT-FALSE of every row of a 2-D uint8 array, vectorised over rows.

    Parameters
    ----------
    rows : ndarray of uint8, shape (n, m)
        ``n`` byte strings of equal length ``m``.
    init : int
        Register start value.

    Returns
    -------
    ndarray of uint16, shape (n,)
        One CRC per row; equal to ``crc16(rows[i].tobytes())``.
    """
    rows = np.asarray(rows, dtype=np.uint8)
    n, m = rows.shape
    reg = np.full(n, init, dtype=np.uint16)
    if n == 0:
        return reg
    cols = np.ascontiguousarray(rows.T)  # one contiguous array per byte position
    word = np.empty(n, dtype=np.uint16)
    for j in range(m // 2):
        np.copyto(word, cols[2 * j])
        np.left_shift(word, 8, out=word)
        np.bitwise_or(word, cols[2 * j + 1], out=word)
        np.bitwise_xor(word, reg, out=word)
        np.take(TABLE16, word, out=reg)
    if m % 2:
        np.right_shift(reg, 8, out=word)
        np.bitwise_xor(word, cols[m - 1], out=word)
        np.left_shift(reg, 8, out=reg)
        np.bitwise_xor(reg, np.take(TABLE8, word), out=reg)
    return reg
