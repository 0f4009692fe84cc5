"""SAMPLE decoding, DESCRIBE layouts, status flags, gaps/resets/segments, events; and the
loss-accounting properties under random corruption."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import DecodeCounters, SampleBlock
from ventbench.drivers.vbr1.deframer import Deframer
from ventbench.drivers.vbr1.frames import (
    encode_describe,
    encode_event,
    encode_reply,
    encode_samples,
)
from ventbench.drivers.vbr1.samples import SampleDecoder, parse_describe

from tests.drivers.vbr1.test_deframer import frame, sample_payload

SPEC_DESCRIBE = {  # the example of rig-protocol.md, plus a key the protocol does not define
    "protocol": "VBR/1", "firmware": "rig-fw 0.3.1", "rig_id": "RIG-07", "rate_hz": 1000,
    "channels": [
        {"name": "flow", "unit": "L/min", "scale": 0.001, "condition": "STP20",
         "sensor": "SFM3300-D", "serial": "2108-4471", "calibrated": "2026-09-14"},
        {"name": "paw", "unit": "cmH2O", "scale": 0.001, "sensor": "HSCDRRN100MDSA3",
         "serial": "n/a"},
        {"name": "o2", "unit": "%", "scale": 0.01, "sensor": "MOX-20"},
        {"name": "t_amb", "unit": "degC", "scale": 0.01},
        {"name": "p_amb", "unit": "hPa", "scale": 0.01}],
    "build": {"git": "abc123"},
}


def sample(seq, t_us=None, flow=0, paw=0, status=0) -> bytes:
    return frame(1, sample_payload(seq, 1000 * (seq + 1) if t_us is None else t_us, flow, paw,
                                   status))


def decode(data: bytes, decoder: SampleDecoder | None = None) -> tuple[SampleDecoder, SampleBlock]:
    dec = decoder or SampleDecoder()
    return dec, dec.decode(Deframer().feed(data))


def test_default_layout_values_and_time():
    dec, block = decode(sample(7, 1_000_000, 12345, -2000) + sample(8, 1_001_000, -1, 5000))
    assert block.seq.tolist() == [7, 8]
    np.testing.assert_array_equal(block.t_s, [1.0, 1.001])
    np.testing.assert_allclose(block.flow_lpm, [12.345, -0.001])
    np.testing.assert_allclose(block.paw_cmh2o, [-2.0, 5.0])
    assert block.flags.tolist() == [0, 0]
    assert dec.layout.flow_condition == "STP20"
    assert dec.counters.samples == 2


def test_t_us_is_not_unwrapped():
    big = 2**63 + 5
    _, block = decode(sample(0, big) + sample(1, 3))  # clock jumps back: no unwrap
    assert block.t_s.tolist() == [big / 1e6, 3e-6]


@pytest.mark.parametrize(("bit", "flag"), [
    (0, SampleFlag.FAULT), (1, SampleFlag.FAULT), (2, SampleFlag.SATURATED),
    (3, SampleFlag.SATURATED), (4, SampleFlag.STALE), (5, SampleFlag.STALE),
    (6, SampleFlag.RESET), (7, SampleFlag.GAP)])
def test_status_bits_become_flags(bit, flag):
    _, block = decode(sample(0) + sample(1, status=1 << bit) + sample(2, status=0xFF00))
    assert block.flags.tolist() == [0, int(flag), 0]  # reserved bits 8-15 ignored


def test_seq_gap_counts_lost_and_flags_next_sample():
    dec, block = decode(b"".join(sample(s) for s in (0, 1, 2, 6, 7, 9)))
    c = dec.counters
    assert c.lost_samples == 4
    assert c.gaps == [{"after_seq": 2, "missing": 3}, {"after_seq": 7, "missing": 1}]
    assert block.flags.tolist() == [0, 0, 0, SampleFlag.GAP, 0, SampleFlag.GAP]
    assert c.resets == 0 and dec.segments == []


def test_seq_backwards_without_start_is_a_reset():
    dec, block = decode(b"".join(sample(s) for s in (10, 11, 12, 0, 1)))
    assert dec.counters.resets == 1
    assert dec.counters.lost_samples == 0
    assert block.flags.tolist() == [0, 0, 0, SampleFlag.RESET, 0]
    assert dec.segments == [{"index": 3, "seq": 0, "t_us": 1000, "reason": "reset"}]
    # a repeated seq does not advance either: also a reset
    dec, block = decode(sample(5) + sample(5))
    assert dec.counters.resets == 1


def test_start_describe_restarts_seq_without_reset():
    describe = encode_describe(SPEC_DESCRIBE)
    # a START mid-stream (DESCRIBE, then seq from 0) is a new segment, not a reset
    dec, block = decode(sample(0) + sample(1) + describe + frame(1, b"\0" * 34))
    assert dec.counters.resets == 0
    data = b"".join(sample(s) for s in (0, 1, 2)) + encode_describe({
        **SPEC_DESCRIBE, "channels": SPEC_DESCRIBE["channels"][:2]}) + sample(0) + sample(1)
    dec, block = decode(data)
    assert dec.counters.resets == 0 and dec.counters.lost_samples == 0
    assert block.flags.tolist() == [0, 0, 0, SampleFlag.RESET, 0]
    assert dec.segments == [{"index": 3, "seq": 0, "t_us": 1000, "reason": "start"}]


def test_samples_lost_right_after_start_are_counted():
    describe = encode_describe({**SPEC_DESCRIBE, "channels": SPEC_DESCRIBE["channels"][:2]})
    dec, block = decode(describe + sample(3) + sample(4))
    assert dec.counters.gaps == [{"after_seq": -1, "missing": 3}]
    assert dec.counters.lost_samples == 3
    assert block.flags.tolist() == [SampleFlag.GAP, 0]
    # a DESCRIBE answering HELLO mid-stream does not restart the count
    dec, block = decode(sample(10) + describe + sample(11) + sample(13))
    assert dec.counters.gaps == [{"after_seq": 11, "missing": 1}]
    # without any DESCRIBE the first sample sets the origin
    dec, _ = decode(sample(100) + sample(101))
    assert dec.counters.lost_samples == 0


def test_describe_layout_channels_and_unknown_keys():
    info, layout, problems = parse_describe(json.dumps(SPEC_DESCRIBE).encode())
    assert problems == []
    assert info["build"] == {"git": "abc123"}  # unknown keys kept
    assert [c.key for c in layout.channels] == [
        "flow_lpm", "paw_cmh2o", "fio2_pct", "t_amb_degc", "p_amb_hpa"]
    assert layout.payload_length == 14 + 4 * 5
    assert layout.channels[0].meta["calibrated"] == "2026-09-14"
    payload = struct.pack("<IQ5iH", 0, 42, 30000, 5000, 2100, 2215, 101325, 0)
    dec, block = decode(encode_describe(SPEC_DESCRIBE) + frame(1, payload))
    assert dec.describe["build"] == {"git": "abc123"}
    np.testing.assert_allclose(block.flow_lpm, [30.0])
    np.testing.assert_allclose(block.paw_cmh2o, [5.0])
    np.testing.assert_allclose(block.channels["fio2_pct"], [21.0])
    np.testing.assert_allclose(block.channels["t_amb_degc"], [22.15])
    np.testing.assert_allclose(block.channels["p_amb_hpa"], [1013.25])


def test_describe_conditions_and_units():
    chans = [{"name": "flow", "unit": "mL/s", "scale": 1.0, "condition": "btps"},
             {"name": "paw", "unit": "hPa", "scale": 0.01}]
    _, layout, problems = parse_describe(json.dumps({"channels": chans}).encode())
    assert problems == [] and layout.flow_condition == "BTPS"
    assert layout.channels[0].factor == pytest.approx(0.06)
    assert layout.channels[1].factor == pytest.approx(0.01 / 0.980665)
    # an unknown condition: reported, STP20 assumed; a missing condition: STP20
    chans[0]["condition"] = "warm"
    _, layout, problems = parse_describe(json.dumps({"channels": chans}).encode())
    assert layout.flow_condition == "STP20" and "warm" in problems[0]
    # an unknown unit: values NaN and flagged FAULT (never silently trusted)
    bad = {"channels": [{"name": "flow", "unit": "furlongs", "scale": 1},
                        {"name": "paw", "unit": "cmH2O", "scale": 1}]}
    dec, block = decode(encode_describe(bad) + sample(0, flow=5))
    assert np.isnan(block.flow_lpm[0]) and block.flags[0] & SampleFlag.FAULT
    assert any("furlongs" in p for p in dec.describe_problems)


def test_bad_describe_keeps_layout_and_never_raises():
    dec, block = decode(frame(2, b"{not json") + frame(2, b"[1,2]") + frame(2, b"\xff\xfe")
                        + sample(0, flow=1000))
    assert dec.layout.n_channels == 2 and len(dec.describe_problems) == 1
    np.testing.assert_allclose(block.flow_lpm, [1.0])


def test_wrong_length_sample_is_malformed_and_its_seq_a_gap():
    dec, block = decode(sample(0) + frame(1, sample_payload(1, 2, 3, 4) + b"\0\0\0\0")
                        + sample(2))
    assert dec.malformed_frames == 1
    assert block.seq.tolist() == [0, 2] and dec.counters.lost_samples == 1


def test_events_and_replies():
    data = (encode_event(2_500_000, 6, "zeroed") + encode_event(10, 200)
            + frame(3, b"\x01\x02") + encode_reply("PONG"))
    dec, block = decode(data)
    assert dec.counters.events == [
        {"t_s": 2.5, "t_us": 2_500_000, "code": 6, "name": "zero_done", "text": "zeroed"},
        {"t_s": 1e-5, "t_us": 10, "code": 200, "name": "code_200", "text": ""}]
    assert dec.replies == ["PONG"]
    assert dec.malformed_frames == 1  # the 2-byte EVENT
    assert len(block) == 0


# -- properties under corruption ------------------------------------------------------------
N_SENT = 300
SENT_CH = np.stack([np.arange(N_SENT) * 7 - 1000, 5000 - np.arange(N_SENT)], axis=1)
SENT_T = (np.arange(N_SENT) + 1) * 1000 + 123
DESCRIBE2 = encode_describe({**SPEC_DESCRIBE, "channels": SPEC_DESCRIBE["channels"][:2]})
CLEAN = (DESCRIBE2 + encode_reply("OK") + encode_samples(np.arange(N_SENT), SENT_T, SENT_CH,
                                                        np.arange(N_SENT) % 3))
SENT = {(s, int(SENT_T[s]), int(SENT_CH[s, 0]), int(SENT_CH[s, 1]), s % 3) for s in range(N_SENT)}


def corrupt(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for kind, pos, arg in ops:
        pos %= len(b) + 1
        if kind == "flip" and pos < len(b):
            b[pos] ^= 1 << ((arg[0] if arg else 0) % 8)
        elif kind == "insert":
            b[pos:pos] = arg
        elif kind == "delete":
            del b[pos : pos + len(arg) + 1]
    return bytes(b)


ops = st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete"]),
                         st.integers(0, len(CLEAN)),
                         st.one_of(st.integers(0, 7).map(lambda i: bytes([i])), st.binary(max_size=12),
                                   st.just(b"\xa5\x5a\x01\x16\x00"))), max_size=12)


def run(data: bytes, cuts: list[int]) -> tuple[SampleDecoder, Deframer, list]:
    dec, dfr = SampleDecoder(DecodeCounters()), Deframer()
    raw = []
    prev = 0
    for c in [*sorted(x % (len(data) + 1) for x in cuts), len(data)]:
        dec.decode(dfr.feed(data[prev:c]))
        raw += [r for block in dec.raw for r in block.tolist()]
        prev = c
    got = [(int(s), int(t), int(ch[0]), int(ch[1]), int(st)) for s, t, ch, st in raw]
    return dec, dfr, got


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.lists(st.integers(0, 20_000), max_size=6), st.lists(st.integers(0, 20_000), max_size=6))
def test_corruption_never_invents_samples_and_accounting_holds(ops_, cuts1, cuts2):
    """Exact property proved here, for one START (DESCRIBE), samples seq 0 … N-1, and any
    corruption by bit flips, insertions and deletions (no CRC collision occurs in this
    derandomised run; a collision has probability 2^-16 per corrupted candidate):

    1. decoding never raises and any chunking gives identical samples and counters;
    2. every decoded sample (seq, t_us, values, status) was sent;
    3. received seqs increase; no resets;
    4. lost = (last − first + 1 − received) + (first if the DESCRIBE arrived else 0), i.e.
       every seq missing between the stream start and the last received sample is counted
       once, in a gap; and the gaps add up to ``lost_samples``;
    5. when the DESCRIBE and the last sample arrive: sent = received + lost, exactly.
    """
    data = corrupt(CLEAN, ops_)
    dec, dfr, got = run(data, cuts1)
    dec2, dfr2, got2 = run(data, cuts2)
    assert got == got2
    assert dec.counters.to_json() == dec2.counters.to_json()
    assert dec.corruptions == dec2.corruptions  # where the damage was, for any chunking
    # every discarded byte and rejected frame is located, carried, or after the last frame
    assert (sum(c[1] for c in dec.corruptions) + dec._damage[0] + dfr._offset - dfr._last_end
            == dfr.discarded_bytes)
    assert (sum(c[2] for c in dec.corruptions) + dec._damage[1] + dfr._rejected_since
            == dfr.rejected_frames + dec.malformed_frames)
    assert set(got) <= SENT
    seqs = [g[0] for g in got]
    assert seqs == sorted(set(seqs))
    c = dec.counters
    assert c.resets == 0 and c.samples == len(got)
    assert sum(g["missing"] for g in c.gaps) == c.lost_samples
    if got:
        first, last = seqs[0], seqs[-1]
        kinds = [f.type for f in Deframer().feed(data) if f.type in (1, 2)]
        start_seen = kinds.index(2) < kinds.index(1) if 2 in kinds else False
        assert c.lost_samples == (last - first + 1 - len(got)) + (first if start_seen else 0)
        if start_seen and last == N_SENT - 1:
            assert N_SENT == c.samples + c.lost_samples
    if not ops_:
        assert len(got) == N_SENT and c.lost_samples == 0
    assert dfr.bytes_fed == dfr.frame_bytes + dfr.discarded_bytes + dfr.pending_bytes


@pytest.mark.parametrize("cuts", [[], [1], [37, 38, 500], list(range(0, 2000, 7))])
def test_line_damage_is_located_at_the_sample_after_it(cuts):
    junk = bytes(range(40, 53))  # no sync word: 13 discarded bytes
    false_sync = b"\xa5\x5a\x01\x16\x00" + bytes(30)  # a SAMPLE header whose CRC fails
    bad_length = frame(1, b"\x00" * 5)  # good CRC, wrong SAMPLE length: malformed
    frames = [sample(i) for i in range(12)]
    data = b"".join([*frames[:5], junk, *frames[5:9], false_sync, *frames[9:11], bad_length,
                     frames[11], junk[:3]])
    dec, _, got = run(data, cuts)
    assert len(got) == 12
    # sample 5 after the junk; 9 after the false sync (rejected once, 35 bytes passed over);
    # 11 after the malformed frame (its bytes were a frame: none discarded)
    assert list(dec.corruptions) == [(5, 13, 0), (9, 35, 1), (11, 0, 1)]
    assert dec._damage == [0, 0]  # the trailing 3 bytes wait for the next frame
