"""CRC-16/CCITT-FALSE: check value, an independent bit-by-bit model, the bulk version."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.drivers.vbr1.crc import CHECK_VALUE, crc16, crc16_rows


def crc_bitwise(data: bytes) -> int:
    """The textbook definition: poly 0x1021, init 0xFFFF, MSB first, no xorout."""
    reg = 0xFFFF
    for byte in data:
        reg ^= byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ 0x1021) if reg & 0x8000 else (reg << 1)
            reg &= 0xFFFF
    return reg


def test_check_value():
    assert CHECK_VALUE == 0x29B1
    assert crc_bitwise(b"123456789") == 0x29B1
    assert crc16(b"123456789") == 0x29B1
    rows = np.frombuffer(b"123456789", dtype=np.uint8)[None, :]
    assert int(crc16_rows(rows)[0]) == 0x29B1


def test_empty_is_init():
    assert crc16(b"") == 0xFFFF
    assert crc16_rows(np.zeros((3, 0), dtype=np.uint8)).tolist() == [0xFFFF] * 3
    assert crc16_rows(np.zeros((0, 25), dtype=np.uint8)).shape == (0,)


def test_reply_ok_frame_crc():
    # CRC over type 04, length 02 00, payload "OK" — as a rig builder would compute it
    assert crc_bitwise(bytes([0x04, 0x02, 0x00, 0x4F, 0x4B])) == crc16(b"\x04\x02\x00OK")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_crc16_matches_bitwise(data):
    assert crc16(data) == crc_bitwise(data)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 60), st.integers(0, 2**32 - 1))
def test_rows_match_single(n, m, seed):
    rows = np.random.default_rng(seed).integers(0, 256, (n, m), dtype=np.uint8)
    got = crc16_rows(rows)
    assert got.dtype == np.uint16
    assert got.tolist() == [crc_bitwise(r.tobytes()) for r in rows]
    # strided input (a column slice) gives the same
    if m > 2:
        assert crc16_rows(rows[:, 1:-1]).tolist() == [crc_bitwise(r[1:-1].tobytes()) for r in rows]
