"""TSI 4000/4100 driver: the manual's worked examples, scripted exchanges, block framing,
chunking and corruption properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.tsi import TsiDriver
from ventbench.drivers.tsi_codec import StreamRequest, TsiBlockFramer, encode_binary_block
from ventbench.errors import ConfigError, TransportError

from tests.drivers.chunking import feed_chunks
from tests.drivers.scripted import ScriptedPort

MANUAL_BINARY = bytes.fromhex("00 33 09 33 1F 33 25 33 2D 33 2E FF FF")


def test_manual_binary_example_decodes_exactly():
    # 0x3309 = 13065 → 130.65 slpm, 0x331F = 13087 → 130.87, 0x3325 → 130.93,
    # 0x332D = 13101 → 131.01, 0x332E = 13102 → 131.02.
    port = ScriptedPort([(b"DBFxx0005\r", MANUAL_BINARY)])
    driver = TsiDriver(mode="B", fields="F", block_samples=5)
    driver.start(port)
    block = driver.feed(port.read(100))
    port.assert_done()
    np.testing.assert_allclose(block.flow_lpm, [130.65, 130.87, 130.93, 131.01, 131.02],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(block.t_s, np.arange(5) * 0.010)
    assert encode_binary_block(block.flow_lpm[:, None], "F") == MANUAL_BINARY


def test_manual_ascii_example_decodes_exactly():
    port = ScriptedPort([(b"DAFxx0005\r", b"OK\r\n1.10,1.20,1.30,1.40,1.50\r\n")])
    driver = TsiDriver(mode="A", fields="F", block_samples=5)
    driver.start(port)
    block = driver.feed(port.read(100))
    np.testing.assert_allclose(block.flow_lpm, [1.10, 1.20, 1.30, 1.40, 1.50])


def test_no_airway_pressure_from_a_flowmeter():
    driver = TsiDriver(mode="C", fields="FTP", block_samples=2)
    driver.framer.expect(driver.request)
    block = driver.feed(b"OK\r\n10.00,23.10,101.52\r\n-0.50,23.20,101.60\r\n")
    assert np.all(np.isnan(block.paw_cmh2o))
    assert np.all(block.flags & SampleFlag.FAULT)
    np.testing.assert_allclose(block.channels["p_abs_kpa"], [101.52, 101.60])
    np.testing.assert_allclose(block.channels["t_gas_degc"], [23.1, 23.2])


def test_binary_temperature_is_signed():
    req = StreamRequest("B", "FT", 2)
    rows = np.array([[10.0, -5.25], [11.0, 21.5]])
    framer = TsiBlockFramer()
    framer.expect(req)
    (block,) = framer.feed(encode_binary_block(rows, "FT"))
    np.testing.assert_allclose(block.values, rows)


def test_scripted_handshake_and_condition():
    port = ScriptedPort([
        (b"SSR0010\r", b"OK\r\n"), (b"SG1\r", b"OK\r\n"), (b"SUS\r", b"OK\r\n"),
        (b"DCFTP0001\r", b"OK\r\n12.34,22.50,101.30\r\n"),
    ])
    driver = TsiDriver(gas="o2")
    info = driver.handshake(port)
    port.assert_done()
    assert driver.flow_condition is GasCondition.STP21
    assert info["first_sample"] == {"flow_lpm": 12.34, "t_gas_degc": 22.5, "p_abs_kpa": 101.3}
    assert "0.025 %" in info["reference"]


def test_volumetric_units_are_atpd():
    assert TsiDriver(units="V").flow_condition is GasCondition.ATPD


def test_err_answer_names_command_and_code():
    port = ScriptedPort([(b"SSR0010\r", b"ERR3\r\n")])
    with pytest.raises(TransportError, match=r"'SSR0010' answered 'ERR3' \(error code 3\)"):
        TsiDriver().handshake(port)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="interval_ms"):
        TsiDriver(interval_ms=2000)
    with pytest.raises(ConfigError, match="fields must include F"):
        TsiDriver(fields="TP")


def test_poll_requests_the_next_block_when_one_completes():
    block = encode_binary_block(np.array([[1.0], [2.0]]), "F")
    port = ScriptedPort([(b"DBFxx0002\r", block), (b"DBFxx0002\r", block)])
    driver = TsiDriver(mode="B", fields="F", block_samples=2)
    driver.start(port)
    driver.poll(port)  # block not complete yet: nothing sent
    first = driver.feed(port.read(100))
    driver.poll(port)
    second = driver.feed(port.read(100))
    port.assert_done()
    np.testing.assert_allclose(np.r_[first.t_s, second.t_s], [0.0, 0.01, 0.02, 0.03])


def test_err_during_stream_is_counted_not_raised():
    driver = TsiDriver(mode="C", fields="F", block_samples=2)
    driver.framer.expect(driver.request)
    driver.framer.expect(driver.request)
    block = driver.feed(b"ERR5\r\nOK\r\n1.0\r\n2.0\r\n")
    assert len(block) == 2 and block.flags[0] & SampleFlag.GAP
    assert driver.counters.events[0]["code"] == "ERR5"
    assert driver.counters.lost_samples == 2


def test_malformed_line_loses_one_sample_and_flags_the_next():
    driver = TsiDriver(mode="C", fields="F", block_samples=3)
    driver.framer.expect(driver.request)
    block = driver.feed(b"OK\r\n1.0\r\n1.x\r\n3.0\r\n")
    np.testing.assert_allclose(block.flow_lpm, [1.0, 3.0])
    np.testing.assert_allclose(block.t_s, [0.0, 0.02])
    assert block.flags[1] & SampleFlag.GAP and driver.counters.rejected_frames == 1


def _blocks(n_blocks: int, n: int, fields: str = "FTP") -> tuple[list[np.ndarray], list[bytes]]:
    rng = np.random.default_rng(n_blocks * 100 + n)
    rows, data = [], []
    for _ in range(n_blocks):
        r = np.column_stack([rng.uniform(0, 250, n), rng.uniform(15, 35, n),
                             rng.uniform(95, 110, n)])[:, : len(fields)]
        r = np.round(r, 2)
        rows.append(r)
        data.append(encode_binary_block(r, fields))
    return rows, data


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 30), max_size=20), st.sampled_from(["A", "B", "C"]))
def test_any_chunking_gives_identical_samples(cuts, mode):
    rows, data = _blocks(3, 7)
    if mode != "B":
        if mode == "C":
            data = [b"OK\r\n" + b"".join((",".join(f"{v:.2f}" for v in row) + "\r\n").encode()
                                         for row in r) for r in rows]
        else:
            data = [b"OK\r\n" + (",".join(f"{v:.2f}" for v in r.ravel()) + "\r\n").encode()
                    for r in rows]
    stream = b"".join(data)

    def run(chunks):
        driver = TsiDriver(mode=mode, block_samples=7)
        for _ in range(3):
            driver.framer.expect(driver.request)
        return feed_chunks(driver, stream, chunks)

    whole, chunked = run([]), run(cuts)
    np.testing.assert_array_equal(whole.flow_lpm, chunked.flow_lpm)
    np.testing.assert_array_equal(whole.t_s, chunked.t_s)
    np.testing.assert_allclose(whole.flow_lpm, np.concatenate(rows)[:, 0])


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corruption_never_raises_nor_invents_samples(data):
    rows, blocks = _blocks(6, 5)
    sent = {tuple(np.round(r, 2)) for rr in rows for r in rr}
    stream = bytearray()
    for blk in blocks:
        action = data.draw(st.sampled_from(["ok", "ok", "drop_byte", "garbage", "truncate"]))
        if action == "drop_byte":
            k = data.draw(st.integers(1, len(blk) - 3))
            blk = blk[:k] + blk[k + 1 :]
        elif action == "truncate":
            blk = blk[: data.draw(st.integers(1, len(blk) - 1))] + b"\xff\xff"
        elif action == "garbage":
            stream += data.draw(st.binary(min_size=1, max_size=6).filter(lambda b: 0 not in b))
        stream += blk
    driver = TsiDriver(mode="B", block_samples=5)
    for _ in range(6):
        driver.framer.expect(driver.request)
    out = feed_chunks(driver, bytes(stream), data.draw(st.lists(st.integers(1, 40), max_size=8)))
    got = np.column_stack([out.flow_lpm, out.channels["t_gas_degc"], out.channels["p_abs_kpa"]])
    for row in got:
        assert tuple(np.round(row, 2)) in sent
    assert np.all(np.diff(out.t_s) > 0)
