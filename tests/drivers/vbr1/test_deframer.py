"""The VBR/1 receiver rule: hand-built frames, every rejection case, and equivalence with the
byte-by-byte reference rule (tests/drivers/vbr1/reference.py) under any chunking."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.drivers.vbr1.deframer import Deframer
from ventbench.drivers.vbr1.frames import FrameType

from tests.drivers.vbr1.reference import ReferenceDeframer
from tests.drivers.vbr1.test_crc import crc_bitwise

OK_FRAME = bytes.fromhex("a5 5a 04 02 00 4f 4b 3f 91")  # REPLY "OK", CRC 0x913F


def frame(ftype: int, payload: bytes, length: int | None = None, crc: int | None = None) -> bytes:
    """A frame built by hand (independently of drivers.vbr1.frames)."""
    head = bytes([ftype]) + struct.pack("<H", len(payload) if length is None else length)
    value = crc_bitwise(head + payload) if crc is None else crc
    return b"\xa5\x5a" + head + payload + struct.pack("<H", value)


def sample_payload(seq: int, t_us: int, flow: int, paw: int, status: int = 0) -> bytes:
    return struct.pack("<IQiiH", seq, t_us, flow, paw, status)


def feed_all(data: bytes, cuts: list[int] = ()) -> tuple[Deframer, list]:
    d = Deframer()
    out = []
    d.gaps = []  # per frame: (bytes discarded, candidates rejected) since the previous frame
    prev = 0
    for c in [*sorted(cuts), len(data)]:
        batch = d.feed(data[prev:c])
        out += [(f.type, f.payload, f.offset) for f in batch]
        d.gaps += list(zip(batch.gap_bytes.tolist(), batch.gap_rejected.tolist(), strict=True))
        prev = c
    return d, out


def test_hand_built_reply_frame():
    assert frame(4, b"OK") == OK_FRAME
    d, out = feed_all(OK_FRAME)
    assert out == [(FrameType.REPLY, b"OK", 0)]
    assert (d.rejected_frames, d.discarded_bytes, d.pending_bytes) == (0, 0, 0)


def test_hand_built_sample_frame_with_sync_in_payload():
    # seq 0x5AA5 is A5 5A 00 00 little-endian: a sync word inside the payload
    data = bytes.fromhex(
        "a5 5a 01 16 00 a5 5a 00 00 e8 03 00 00 00 00 00 00 39 30 00 00 30 f8 ff ff 00 00 3b 09")
    assert data == frame(1, sample_payload(0x5AA5, 1000, 12345, -2000))
    d, out = feed_all(data + OK_FRAME)
    assert out == [(1, data[5:-2], 0), (4, b"OK", len(data))]
    assert (d.rejected_frames, d.discarded_bytes) == (0, 0)


def test_frame_inside_payload_is_not_a_frame():
    inner = frame(4, b"PONG")
    outer = frame(2, b'{"x":"' + inner + b'"}')
    d, out = feed_all(outer)
    assert [f[0] for f in out] == [2]
    assert (d.rejected_frames, d.discarded_bytes) == (0, 0)


def test_length_over_1024_rejected():
    big = frame(2, bytes(1025))
    ok = frame(2, bytes(1024))
    d, out = feed_all(big + ok)
    assert out == [(2, bytes(1024), len(big))]
    assert d.rejected_frames == 1
    assert d.discarded_bytes == len(big)


def test_unknown_types_rejected():
    data = frame(0, b"x") + frame(5, b"x") + frame(0xFF, b"") + OK_FRAME
    d, out = feed_all(data)
    assert out == [(4, b"OK", len(data) - len(OK_FRAME))]
    assert d.rejected_frames == 3
    assert d.discarded_bytes == len(data) - len(OK_FRAME)


def test_bad_crc_rejected_and_resync_one_byte_past():
    # A candidate whose (corrupted) length swallows the next real frame: the CRC fails, the
    # receiver advances ONE byte past its sync and finds the frame that began inside it.
    fake = b"\xa5\x5a\x01\x0a\x00"  # SAMPLE header claiming 10 payload bytes
    data = fake + OK_FRAME + b"\x00" * 8
    d, out = feed_all(data)
    assert out == [(4, b"OK", 5)]
    assert d.rejected_frames == 1
    assert d.discarded_bytes == 5 + 8  # the fake header, then bytes with no sync
    bad = frame(4, b"OK", crc=0x0000)
    d, out = feed_all(bad + OK_FRAME)
    assert out == [(4, b"OK", len(bad))] and d.rejected_frames == 1


def test_double_sync_start():
    # A5 5A A5 5A ...: the first candidate has type A5 (unknown) → advance one byte
    d, out = feed_all(b"\xa5\x5a" + OK_FRAME)
    assert out == [(4, b"OK", 2)]
    assert (d.rejected_frames, d.discarded_bytes) == (1, 2)


def test_waits_for_whole_frame_byte_by_byte():
    data = frame(1, sample_payload(1, 2, 3, 4))
    d = Deframer()
    for i in range(len(data) - 1):
        assert d.feed(data[i : i + 1]).start.size == 0
        assert d.pending_bytes == i + 1
    assert len(d.feed(data[-1:])) == 1
    assert d.pending_bytes == 0


def test_trailing_a5_is_kept_and_garbage_discarded():
    d = Deframer()
    assert len(d.feed(b"junk\xa5")) == 0
    assert (d.discarded_bytes, d.pending_bytes) == (4, 1)
    assert len(d.feed(OK_FRAME[1:])) == 1
    assert (d.discarded_bytes, d.pending_bytes, d.rejected_frames) == (4, 0, 0)


def test_counters_add_up():
    data = b"xx" + OK_FRAME + frame(9, b"") + b"\xa5\x5a\x04"
    d, _ = feed_all(data)
    assert d.bytes_fed == d.frame_bytes + d.discarded_bytes + d.pending_bytes
    assert d.pending_bytes == 3  # an incomplete header waits


# -- equivalence with the reference rule ---------------------------------------------------
pieces = st.one_of(
    st.builds(lambda s, f, p, c: frame(1, sample_payload(s, 1000 * s, f, p, c)),
              st.integers(0, 2**32 - 1), st.integers(-(2**31), 2**31 - 1),
              st.sampled_from([0, 0x5AA5, -0x5A5B, 0x5AA50000]), st.integers(0, 255)),
    st.builds(lambda t, p: frame(t, p), st.sampled_from([2, 3, 4]), st.binary(max_size=40)),
    st.binary(max_size=24),  # garbage
    st.builds(lambda b: b"\xa5\x5a" + b, st.binary(max_size=6)),  # false sync + header
    st.builds(lambda t, n: b"\xa5\x5a" + bytes([t]) + struct.pack("<H", n),
              st.integers(0, 6), st.integers(0, 60)),  # header waiting for bytes
    st.builds(lambda p: frame(2, frame(4, p)), st.binary(max_size=8)),  # frame in a frame
    st.builds(lambda p, bit: _flip(frame(4, p), bit), st.binary(max_size=8), st.integers(0, 255)),
)


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


@st.composite
def streams(draw):
    data = b"".join(draw(st.lists(pieces, max_size=30)))
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=8))
    return data, cuts


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_fast_rule_equals_reference_rule(case):
    data, cuts = case
    ref = ReferenceDeframer()
    ref.feed(data)
    d, out = feed_all(data, cuts)
    assert out == ref.frames
    assert d.gaps == ref.gaps  # where the damage was: before which frame
    assert d.rejected_frames == ref.rejected_frames
    assert d.discarded_bytes == ref.discarded_bytes
    assert d.pending_bytes == len(ref.buf)
    assert d.bytes_fed == d.frame_bytes + d.discarded_bytes + d.pending_bytes


@settings(max_examples=200, deadline=None)
@given(streams(), st.lists(st.integers(0, 10_000), max_size=8))
def test_any_chunking_gives_identical_frames_and_counters(case, cuts2):
    data, cuts = case
    d1, out1 = feed_all(data, cuts)
    d2, out2 = feed_all(data, [c % (len(data) + 1) for c in cuts2])
    assert out1 == out2 and d1.gaps == d2.gaps
    assert (d1.rejected_frames, d1.discarded_bytes, d1.pending_bytes) == (
        d2.rejected_frames, d2.discarded_bytes, d2.pending_bytes)


def test_long_feed_scanned_in_windows_gives_same_result(monkeypatch):
    import numpy as np

    from ventbench.drivers.vbr1 import deframer

    rng = np.random.default_rng(3)
    parts = []
    for i in range(3000):
        parts.append(frame(1, sample_payload(i, i, int(rng.integers(-99, 99)), 0x5AA5)))
        if i % 97 == 0:
            parts.append(rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8).tobytes())
        if i % 301 == 0:
            parts.append(b"\xa5\x5a\x02\xff\x03")  # a header that waits 1030 bytes, then fails
    data = b"".join(parts)
    ref = ReferenceDeframer()
    ref.feed(data)
    monkeypatch.setattr(deframer, "WINDOW_BYTES", 1100)
    d, out = feed_all(data)
    assert out == ref.frames and d.gaps == ref.gaps
    assert (d.rejected_frames, d.discarded_bytes, d.pending_bytes) == (
        ref.rejected_frames, ref.discarded_bytes, len(ref.buf))
