"""IMT FlowAnalyser / CITREX driver: scripted exchanges from the interface description,
fast-packet framing, chunking and corruption properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.imt import ImtDriver
from ventbench.drivers.imt_codec import (
    AnswerFramer,
    FastFormat,
    FastPacketFramer,
    checksum_byte,
    encode_fast_packet,
)
from ventbench.errors import ConfigError, TransportError
from ventbench.units import CMH2O_PER_HPA

from tests.drivers.chunking import feed_chunks
from tests.drivers.scripted import ScriptedPort

FMT = FastFormat()


def packets(ticks, values=None, fmt=FMT) -> list[bytes]:
    values = values or [(10 * k, 100 + k, 210) for k in range(len(ticks))]
    return [encode_fast_packet(t, v, fmt) for t, v in zip(ticks, values, strict=True)]


def decode_all(driver: ImtDriver, data: bytes, chunks=None) -> SampleBlock:
    if chunks is None:
        return driver.feed(data)
    return feed_chunks(driver, data, chunks)


# ---------------------------------------------------------------- request / answer
def test_read_measurement_differential_pressure_from_the_manual():
    port = ScriptedPort([(b"%RM#3\r", b"%RM#3$1273\r")])
    assert ImtDriver().read_measurement(port, 3) == pytest.approx(12.73)  # mbar
    port.assert_done()


def test_undefined_value_is_none_never_a_number():
    port = ScriptedPort([(b"%RM#27\r", b"%RM#27$-2147483648\r")])
    assert ImtDriver().read_measurement(port, 27) is None
    port.assert_done()


def test_invalid_command_answer_is_a_clear_error():
    port = ScriptedPort([(b"%RM#99\r", b"?")])
    driver = ImtDriver()
    with pytest.raises(ConfigError, match="unknown measurement id 99"):
        driver.read_measurement(port, 99)  # refused before sending: not in the table
    with pytest.raises(TransportError, match=r"answered '\?' \(invalid command\)"):
        driver.read_raw(port, "RM", 99)


def test_write_setting_checks_the_echoed_value():
    port = ScriptedPort([(b"%WS#3$2\r", b"%WS#3$2\r"), (b"%WS#3$5\r", b"%WS#3$2\r")])
    driver = ImtDriver()
    assert driver.write_setting(port, 3, 2) == 2
    with pytest.raises(TransportError, match="wrote setting 3 = 5, the analyser read back 2"):
        driver.write_setting(port, 3, 5)


def test_answer_to_another_request_is_an_error():
    port = ScriptedPort([(b"%RM#4\r", b"%RM#3$12\r")])
    with pytest.raises(TransportError, match=r"expected an answer %RM#4"):
        ImtDriver().read_measurement(port, 4)


def test_no_answer_names_the_port():
    port = ScriptedPort([(b"%RI#8\r", b"")], timeout=0.01)
    with pytest.raises(TransportError, match="no answer to"):
        ImtDriver().read_raw(port, "RI", 8)


def test_answer_framer_ignores_noise_and_any_chunking():
    data = b"noise%RS#12$124\r\x00%RM#25$100\r?%WS#25$100\r"
    whole = AnswerFramer().feed(data)
    framer = AnswerFramer()
    pieces = [a for i in range(len(data)) for a in framer.feed(data[i : i + 1])]
    assert [(a.kind, a.ident, a.value) for a in whole] == [
        ("RS", 12, "124"), ("RM", 25, "100"), ("?", None, None), ("WS", 25, "100")]
    assert pieces == whole


def test_breath_values_convert_pressures_and_keep_mbar_names():
    answers = {23: "512", 24: "498", 27: "254", 29: "50", 22: "150", 19: "100", 20: "300",
               28: "101", 41: "-2147483648"}
    port = ScriptedPort([(f"%RM#{i}\r".encode(), f"%RM#{i}${v}\r".encode())
                         for i, v in answers.items()])
    values = ImtDriver().poll_breath_values(port)
    port.assert_done()
    assert values["vti_ml"] == 512 and values["vte_ml"] == 498
    assert values["ppeak_mbar"] == pytest.approx(25.4)
    assert values["ppeak_cmh2o"] == pytest.approx(25.4 * CMH2O_PER_HPA)
    assert values["peep_cmh2o"] == pytest.approx(5.0 * CMH2O_PER_HPA)
    assert values["rr_bpm"] == pytest.approx(15.0) and values["ti_s"] == pytest.approx(1.0)
    assert values["pplat_mbar"] is None and values["pplat_cmh2o"] is None


# ---------------------------------------------------------------- handshake
def handshake_script(gas: int, p_amb: str = "1008") -> list[tuple[bytes, bytes]]:
    return [
        (b"%RI#8\r", b"%RI#8$1234567\r"),
        (b"%RI#5\r", b"%RI#5$15\r"), (b"%RI#6\r", b"%RI#6$3\r"), (b"%RI#7\r", b"%RI#7$2026\r"),
        (b"%RS#3\r", f"%RS#3${gas}\r".encode()),
        (b"%RM#14\r", f"%RM#14${p_amb}\r".encode()),
        (b"%WS#64$0\r", b"%WS#64$0\r"), (b"%WS#65$4\r", b"%WS#65$4\r"),
        (b"%WS#66$9\r", b"%WS#66$9\r"),
    ]


def test_scripted_handshake():
    port = ScriptedPort(handshake_script(2))
    info = ImtDriver().handshake(port)
    port.assert_done()
    assert info["serial_number"] == 1234567
    assert info["last_calibration"] == "2026-03-15"
    assert info["flow_condition"] == "BTPS" and info["p_amb_hpa"] == 1008
    assert info["fast_format"]["verified"] is False


@pytest.mark.parametrize(("gas", "condition"), [(1, GasCondition.STP21), (2, GasCondition.BTPS),
                                                (11, GasCondition.ATPD), (12, GasCondition.ATPS),
                                                (0, GasCondition.ATPD), (3, GasCondition.BTPS)])
def test_gas_standard_maps_to_a_condition(gas, condition):
    driver = ImtDriver()
    port = ScriptedPort(handshake_script(gas))
    driver.handshake(port)
    assert driver.flow_condition is condition
    if gas == 3:  # BTPD → BTPS: P / (P - 47 mmHg)
        assert driver.flow_factor == pytest.approx(1008 / (1008 - 62.66), rel=1e-4)
    if gas in (0, 3):
        assert "gas_note" in driver.info


def test_gas_standard_without_condition_is_rejected():
    port = ScriptedPort(handshake_script(5))
    with pytest.raises(ConfigError, match="gas standard 5"):
        ImtDriver().handshake(port)


# ---------------------------------------------------------------- fast packets
def test_packet_checksum_makes_the_sum_zero():
    pkt = encode_fast_packet(0x1234, (-5, 1000, 210), FMT)
    assert len(pkt) == 9 and sum(pkt) % 256 == 0
    assert pkt[:2] == b"\x12\x34" and pkt[2:4] == b"\xff\xfb"
    assert checksum_byte(pkt[:8]) == pkt[8]


def test_fast_stream_decodes_flow_and_pressure_with_resolutions():
    driver = ImtDriver()
    block = driver.feed(b"".join(packets([1, 2], [(123, 1273, 210), (-45, 500, 209)])))
    np.testing.assert_allclose(block.flow_lpm, [12.3, -4.5])
    np.testing.assert_allclose(block.channels["p_hf_mbar"], [12.73, 5.0])
    np.testing.assert_allclose(block.paw_cmh2o, np.array([12.73, 5.0]) * CMH2O_PER_HPA)
    np.testing.assert_allclose(block.t_s, [0.005, 0.010])
    np.testing.assert_allclose(block.channels["o2_pct"], [21.0, 20.9])


def test_corrupt_packet_is_rejected_and_the_stream_resyncs():
    stream = packets(list(range(1, 11)))
    bad = bytearray(stream[4])
    bad[3] ^= 0x10
    stream[4] = bytes(bad)
    driver = ImtDriver()
    block = driver.feed(b"".join(stream))
    assert list(block.seq) == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert driver.counters.rejected_frames == 1
    assert driver.counters.discarded_bytes == 9
    assert driver.counters.gaps == [{"after_seq": 4, "missing": 1}]
    assert block.flags[4] & SampleFlag.GAP


def test_tick_counter_wraps_and_is_unwrapped():
    driver = ImtDriver()
    block = driver.feed(b"".join(packets([65534, 65535, 0, 1, 3])))
    assert list(block.seq) == [65534, 65535, 65536, 65537, 65539]
    assert np.all(np.diff(block.t_s) > 0)
    assert driver.counters.gaps == [{"after_seq": 65537, "missing": 1}]
    assert driver.counters.lost_samples == 1


def test_little_endian_unsigned_layout_option():
    fmt = FastFormat("little", signed=False)
    driver = ImtDriver(byteorder="little", signed=False)
    block = driver.feed(b"".join(packets([7, 8], [(600, 1000, 210), (601, 1001, 210)], fmt)))
    np.testing.assert_allclose(block.flow_lpm, [60.0, 60.1])


def test_fast_undefined_field_flags_fault():
    driver = ImtDriver()
    block = driver.feed(b"".join(packets([1, 2], [(-32768, 100, 0), (5, 100, 0)])))
    assert math.isnan(block.flow_lpm[0]) and block.flags[0] & SampleFlag.FAULT
    assert block.flags[1] == 0


def test_scripted_start_and_stop():
    stream = b"".join(packets([1, 2, 3]))
    port = ScriptedPort([(b"%CM#64\r", b"%CM#64$0\r"), (None, stream), (b"%CM#65\r", b"")])
    driver = ImtDriver()
    driver.start(port)
    block = driver.feed(port.read(1000))
    driver.stop(port)
    port.assert_done()
    assert len(block) == 3


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 40), max_size=30))
def test_any_chunking_gives_identical_samples(cuts):
    data = b"".join(packets(list(range(100, 160))))
    whole = ImtDriver().feed(data)
    chunked = decode_all(ImtDriver(), data, cuts)
    np.testing.assert_array_equal(whole.seq, chunked.seq)
    np.testing.assert_array_equal(whole.flow_lpm, chunked.flow_lpm)
    np.testing.assert_array_equal(whole.flags, chunked.flags)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corruption_never_raises_nor_invents_samples(data):
    ticks = list(range(1, 81))
    values = [(k * 7 - 200, 3000 - k, 210) for k in ticks]
    stream = packets(ticks, values)
    sent = {(t, *v[:2]) for t, v in zip(ticks, values, strict=True)}
    out = bytearray()
    for pkt in stream:
        action = data.draw(st.sampled_from(["ok", "ok", "ok", "flip", "garbage", "drop"]))
        if action == "flip":
            pkt = bytearray(pkt)
            pkt[data.draw(st.integers(0, 8))] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "garbage":
            out += data.draw(st.binary(min_size=1, max_size=12))
        elif action == "drop":
            continue
        out += pkt
    driver = ImtDriver()
    cuts = data.draw(st.lists(st.integers(1, 50), max_size=10))
    block = decode_all(driver, bytes(out), cuts)
    flow_raw = np.round(block.channels["flow_high_lpm"] / 0.1).astype(int)
    p_raw = np.round(block.channels["p_hf_mbar"] / 0.01).astype(int)
    for seq, f, p in zip(block.seq, flow_raw, p_raw, strict=True):
        assert (int(seq) & 0xFFFF, int(f), int(p)) in sent
    assert np.all(np.diff(block.t_s) > 0)


def test_framer_counts_every_discarded_byte():
    framer = FastPacketFramer()
    good = b"".join(packets(list(range(1, 6))))
    out = framer.feed(b"\x01\x02\x03" + good)
    assert len(out) == 5 and framer.discarded_bytes == 3
