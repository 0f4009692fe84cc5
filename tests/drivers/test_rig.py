"""The ``rig`` driver: the exact byte exchange of HELLO / START / STOP / ZERO / PING with a
scripted port, the "no VBR/1 device" error, DESCRIBE metadata, and a simulated rig."""

from __future__ import annotations

import numpy as np
import pytest

from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.registry import make_driver
from ventbench.drivers.rig import RigDriver, hex_preview
from ventbench.drivers.sim.rig_device import SimulatedRig
from ventbench.drivers.vbr1.frames import (
    encode_describe,
    encode_event,
    encode_reply,
    encode_samples,
)
from ventbench.errors import TransportError

from tests.drivers.scripted import ScriptedPort

DESCRIBE = {
    "protocol": "VBR/1", "firmware": "rig-fw 0.3.1", "rig_id": "RIG-07", "rate_hz": 1000,
    "channels": [
        {"name": "flow", "unit": "L/min", "scale": 0.001, "condition": "BTPS",
         "sensor": "SFM3300-D", "serial": "2108-4471", "calibrated": "2026-09-14"},
        {"name": "paw", "unit": "cmH2O", "scale": 0.001, "sensor": "HSCDRRN100MDSA3",
         "serial": "n/a"}],
    "operator_note": "leak-tested 2026-11-01",
}
HELLO_ANSWER = encode_describe(DESCRIBE) + encode_reply("OK")


def samples(first: int, n: int, status: int = 0) -> bytes:
    seq = np.arange(first, first + n)
    return encode_samples(seq, (seq + 1) * 1000, np.stack([seq * 10, seq + 5000], 1), status)


def drain(driver: RigDriver, port: ScriptedPort, chunk: int = 7) -> SampleBlock:
    blocks = [driver.feed(b"")]
    while data := port.read(chunk):
        blocks.append(driver.feed(data))
    return SampleBlock.concatenate(blocks)


def test_registry_and_serial_defaults():
    driver = make_driver("rig")
    assert isinstance(driver, RigDriver) and driver.name == "rig"
    assert RigDriver.serial_defaults == {"baudrate": 921600, "bytesize": 8, "parity": "N",
                                         "stopbits": 1}
    assert driver.flow_condition == "STP20"  # the protocol's default without DESCRIBE


def test_handshake_reads_describe_metadata():
    port = ScriptedPort([(b"HELLO\n", HELLO_ANSWER)])
    port.port = "/dev/ttyACM0"
    driver = RigDriver()
    info = driver.handshake(port)
    port.assert_done()
    assert info is driver.info
    assert info["firmware"] == "rig-fw 0.3.1" and info["rig_id"] == "RIG-07"
    assert info["rate_hz"] == 1000 and info["port"] == "/dev/ttyACM0"
    assert info["channels"][0] == DESCRIBE["channels"][0]  # sensor, serial, calibrated, condition
    assert info["operator_note"] == "leak-tested 2026-11-01"  # unknown keys kept
    assert info["flow_condition"] == "BTPS" and driver.flow_condition == "BTPS"


def test_handshake_split_and_noisy_answer():
    answer = b"\x00boot\r\n" + HELLO_ANSWER
    port = ScriptedPort([(b"HELLO\n", answer[:10]), (None, answer[10:])])
    driver = RigDriver()
    driver.handshake(port)
    assert driver.info["rig_id"] == "RIG-07"
    assert driver.counters.discarded_bytes == 7 and driver.counters.rejected_frames == 0


def test_no_device_names_port_and_bytes():
    port = ScriptedPort([(b"HELLO\n", b"Welcome to MicroPython\r\n" * 3)])
    port.port = "/dev/ttyUSB7"
    driver = RigDriver(hello_timeout_s=0.2)
    with pytest.raises(TransportError) as err:
        driver.handshake(port)
    text = str(err.value)
    assert "no VBR/1 device on /dev/ttyUSB7" in text
    assert "72 bytes arrived: 57 65 6c 63 6f 6d 65" in text  # "Welcome" in hex
    assert "(+24 more)" in text  # truncated
    silent = ScriptedPort([(b"HELLO\n", b"")])
    silent.port = "COM3"
    with pytest.raises(TransportError, match=r"no VBR/1 device on COM3: .* no bytes arrived"):
        RigDriver(hello_timeout_s=0.1).handshake(silent)


def test_handshake_ok_without_describe_is_not_enough():
    port = ScriptedPort([(b"HELLO\n", encode_reply("OK"))])
    with pytest.raises(TransportError, match="no VBR/1 device on ScriptedPort"):
        RigDriver(hello_timeout_s=0.1).handshake(port)


def test_handshake_err_reply():
    port = ScriptedPort([(b"HELLO\n", encode_reply("ERR busy"))])
    with pytest.raises(TransportError, match="answered HELLO with 'ERR busy'"):
        RigDriver().handshake(port)


def test_hex_preview():
    assert hex_preview(b"") == "no bytes arrived"
    assert hex_preview(b"\xa5\x5a") == "2 bytes arrived: a5 5a"


def test_start_stream_stop():
    port = ScriptedPort([
        (b"HELLO\n", HELLO_ANSWER),
        (b"START 500\n", encode_describe({**DESCRIBE, "rate_hz": 500}) + encode_reply("OK")),
        (None, samples(0, 40)),
        (b"STOP\n", samples(40, 2) + encode_reply("OK")),
    ])
    driver = RigDriver(rate_hz=500)
    driver.handshake(port)
    driver.start(port)
    block = drain(driver, port)
    driver.stop(port)
    block = SampleBlock.concatenate([block, drain(driver, port)])
    port.assert_done()
    assert block.seq.tolist() == list(range(42))
    np.testing.assert_allclose(block.flow_lpm, np.arange(42) * 0.01)
    np.testing.assert_allclose(block.t_s, (np.arange(42) + 1) / 1000)
    assert driver.info["rate_hz"] == 500
    assert driver.decoder.replies == ["OK", "OK", "OK"]
    assert driver.counters.samples == 42 and driver.counters.lost_samples == 0


def test_start_without_rate_and_stop_on_dead_port():
    port = ScriptedPort([(b"START\n", None)])
    RigDriver().start(port)
    port.assert_done()

    class Dead:
        timeout = 0.1

        def write(self, data):
            raise OSError("device disconnected")

    RigDriver().stop(Dead())  # best effort: no exception


def test_zero_waits_for_event_and_ok_zero_keeping_samples():
    port = ScriptedPort([(b"ZERO\n", samples(0, 3) + encode_event(5_000_000, 6, "done")),
                         (None, samples(3, 2) + encode_reply("OK ZERO"))])
    driver = RigDriver()
    event = driver.zero(port)
    port.assert_done()
    assert event == {"t_s": 5.0, "t_us": 5_000_000, "code": 6, "name": "zero_done",
                     "text": "done"}
    assert driver.counters.events == [event]
    block = driver.feed(samples(5, 1))  # samples that came during ZERO are not lost
    assert block.seq.tolist() == [0, 1, 2, 3, 4, 5]


def test_zero_refused_and_ping():
    port = ScriptedPort([(b"ZERO\n", encode_reply("ERR flow present"))])
    with pytest.raises(TransportError, match="refused ZERO: 'ERR flow present'"):
        RigDriver().zero(port)
    port = ScriptedPort([(b"PING\n", encode_reply("PONG"))])
    rtt = RigDriver().ping(port)
    port.assert_done()
    assert 0 <= rtt < 1
    with pytest.raises(TransportError, match="no PONG"):
        RigDriver(reply_timeout_s=0.05).ping(ScriptedPort([(b"PING\n", b"")]))


def test_feed_flags_gaps_resets_and_events():
    driver = RigDriver()
    data = (samples(0, 3) + samples(5, 2, status=1 << 2) + encode_event(9000, 1, "flow")
            + samples(0, 2))
    block = driver.feed(data)
    c = driver.counters
    assert c.samples == 7 and c.lost_samples == 2 and c.resets == 1
    assert c.gaps == [{"after_seq": 2, "missing": 2}]
    assert block.flags.tolist() == [0, 0, 0, SampleFlag.GAP | SampleFlag.SATURATED,
                                    SampleFlag.SATURATED, SampleFlag.RESET, 0]
    assert c.events[0]["name"] == "sensor_fault"
    assert driver.segments == [{"index": 5, "seq": 0, "t_us": 1000, "reason": "reset"}]
    driver.feed(b"\xa5\x5a\xff\x00\x00" + b"junk")
    assert c.rejected_frames == 1 and c.discarded_bytes == 9


class DevicePort:
    """A minimal in-memory port in front of a SimulatedDevice (device time by steps)."""

    def __init__(self, device, step_s: float = 0.01):
        self.device, self.step_s, self.t_s, self.timeout = device, step_s, 0.0, 0.1
        self.port = "sim://rig"

    def write(self, data):
        self.device.receive(bytes(data))
        return len(data)

    def read(self, size=1):
        self.t_s += self.step_s
        return self.device.produce(self.t_s)

    def reset_input_buffer(self):
        pass


def test_against_simulated_rig():
    dev = SimulatedRig({"seed": "4", "rate_hz": "250", "reset_at_s": "0.5"})
    port = DevicePort(dev)
    driver = RigDriver()
    driver.handshake(port)
    assert driver.info["rig_id"] == "SIM-RIG-01" and driver.info["sim"] == {"seed": 4}
    assert driver.ping(port) >= 0
    driver.zero(port)
    driver.start(port, rate_hz=500)
    blocks = [driver.feed(port.read()) for _ in range(100)]
    driver.stop(port)
    block = SampleBlock.concatenate(blocks + [driver.feed(port.read())])
    sent = dev.sent_samples()
    assert driver.info["rate_hz"] == 500
    assert len(block) == len(sent["seq"]) == 500
    assert block.seq.tolist() == sent["seq"].tolist()
    assert driver.counters.resets == 1 and driver.counters.lost_samples == 0
    assert [e["name"] for e in driver.counters.events] == ["zero_done", "rig_reset"]
    i = driver.segments[0]["index"]
    assert block.flags[i] & SampleFlag.RESET and block.t_s[i] < block.t_s[i - 1]


def test_handshake_needs_ok_after_the_describe():
    # an OK in flight from an earlier command does not complete the handshake
    port = ScriptedPort([(b"HELLO\n", encode_reply("OK") + encode_describe(DESCRIBE))])
    with pytest.raises(TransportError, match="no VBR/1 device"):
        RigDriver(hello_timeout_s=0.1).handshake(port)


def test_dead_port_during_handshake_is_a_transport_error():
    class Unplugged:
        timeout = 0.1
        port = "/dev/ttyUSB0"

        def write(self, data):
            raise OSError(5, "Input/output error")

    with pytest.raises(TransportError, match="cannot send HELLO to /dev/ttyUSB0"):
        RigDriver().handshake(Unplugged())
