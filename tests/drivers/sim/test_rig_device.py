"""The simulated VBR/1 rig: its answers to every command, its timing, its fault injection,
and the exact record of what it sent — against which the host's accounting is proved."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.registry import make_device
from ventbench.drivers.rig import RigDriver
from ventbench.drivers.sim.rig_device import SimulatedRig
from ventbench.drivers.vbr1.deframer import Deframer
from ventbench.drivers.vbr1.frames import FrameType
from ventbench.errors import ConfigError


def frames_of(data: bytes) -> list[tuple[int, bytes]]:
    return [(f.type, f.payload) for f in Deframer().feed(data)]


def replies(data: bytes) -> list[str]:
    return [p.decode() for t, p in frames_of(data) if t == FrameType.REPLY]


def test_registry_builds_it():
    assert isinstance(make_device("rig", {"seed": "1"}), SimulatedRig)


def test_hello_ping_unknown_and_line_endings():
    dev = SimulatedRig({})
    dev.receive(b"HEL")
    assert dev.produce(0.0) == b""
    dev.receive(b"LO\r\nPING\nping\nSTART x\nFOO BAR\r\n\n")
    out = frames_of(dev.produce(0.0))
    assert out[0][0] == FrameType.DESCRIBE
    info = json.loads(out[0][1])
    assert info["protocol"] == "VBR/1" and [c["name"] for c in info["channels"]] == ["flow", "paw"]
    assert info["channels"][0]["condition"] == "STP20"
    assert [p.decode() for t, p in out[1:]] == [
        "OK", "PONG", "ERR unknown command", "ERR bad rate_hz", "ERR unknown command",
        "ERR unknown command"]
    assert dev.idle()


def test_start_stop_timing_and_seq():
    dev = SimulatedRig({"seed": "2"})
    dev.produce(1.0)
    dev.receive(b"START 200\n")
    out = frames_of(dev.produce(1.1))
    assert out[0][0] == FrameType.DESCRIBE and json.loads(out[0][1])["rate_hz"] == 200
    assert out[1] == (FrameType.REPLY, b"OK")
    payloads = [p for t, p in out if t == FrameType.SAMPLE]
    assert len(payloads) == 20  # 0.1 s at 200 Hz
    seq = [int.from_bytes(p[:4], "little") for p in payloads]
    t_us = [int.from_bytes(p[4:12], "little") for p in payloads]
    assert seq == list(range(20))
    assert t_us == [1_000_000 + 5000 * (k + 1) for k in range(20)]  # device clock since boot
    dev.receive(b"STOP\n")
    assert replies(dev.produce(2.0)) == ["OK"]
    assert dev.produce(3.0) == b"" and dev.idle()
    dev.receive(b"START\n")  # default rate 1000, seq restarts
    out = frames_of(dev.produce(3.01))
    assert [int.from_bytes(p[:4], "little") for t, p in out if t == 1] == list(range(10))


def test_zero_sends_event_then_ok_zero():
    dev = SimulatedRig({})
    dev.produce(2.5)
    dev.receive(b"ZERO\n")
    out = frames_of(dev.produce(2.5))
    assert [t for t, _ in out] == [FrameType.EVENT, FrameType.REPLY]
    assert out[0][1][8] == 6 and int.from_bytes(out[0][1][:8], "little") == 2_500_000
    assert out[1][1] == b"OK ZERO"


def _stream(params: dict[str, str], steps: list[float]) -> tuple[SimulatedRig, bytes]:
    dev = SimulatedRig(params)
    dev.receive(b"START\n")
    return dev, b"".join(dev.produce(t) for t in steps)


def test_output_does_not_depend_on_produce_steps():
    params = {"seed": "9", "ber": "2e-4", "drop": "1e-4", "garbage": "5", "reset_at_s": "0.7",
              "sensor_fault_at_s": "0.2", "stall_s": "0.1", "stall_at_s": "0.4"}
    _, a = _stream(params, list(np.arange(1, 101) * 0.01))
    _, b = _stream(params, [0.333, 0.5, 1.0])
    assert a == b
    _, c = _stream({**params, "seed": "10"}, [1.0])
    assert c != a


def decode_all(data: bytes, chunk: int = 997) -> tuple[RigDriver, SampleBlock]:
    driver = RigDriver()
    blocks = [driver.feed(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    return driver, SampleBlock.concatenate(blocks)


def test_clean_stream_round_trip_values():
    dev, data = _stream({"seed": "1", "mode": "vc", "vt_ml": "500"}, [2.0])
    driver, block = decode_all(data)
    sent = dev.sent_samples()
    assert len(block) == 2000 and driver.counters.lost_samples == 0
    np.testing.assert_array_equal(block.seq, sent["seq"])
    np.testing.assert_array_equal(block.t_s, sent["t_us"] / 1e6)
    np.testing.assert_allclose(block.flow_lpm, sent["ch"][:, 0] / 1000)
    assert block.flow_lpm.max() > 20  # a breath, not a flat line


def test_corrupted_stream_accounting_is_exact():
    params = {"seed": "5", "ber": "3e-5", "drop": "2e-5", "garbage": "4"}
    dev, data = _stream(params, list(np.arange(1, 61) * 0.05))  # 3 s at 1 kHz
    driver, block = decode_all(data)
    sent = dev.sent_samples()
    c = driver.counters
    assert dev.injected["bit_flips"] > 0 and dev.injected["dropped_bytes"] > 0
    assert dev.injected["garbage_bursts"] > 0
    assert sent["corrupted"].sum() > 0
    rows = list(zip(sent["seq"].tolist(), sent["t_us"].tolist(), sent["ch"][:, 0].tolist(),
                    sent["ch"][:, 1].tolist(), strict=True))
    good = {r for r, bad in zip(rows, sent["corrupted"], strict=True) if not bad}
    got = set(zip(block.seq.tolist(), np.round(block.t_s * 1e6).astype(np.int64).tolist(),
                  np.round(block.flow_lpm * 1000).astype(np.int64).tolist(),
                  np.round(block.paw_cmh2o * 1000).astype(np.int64).tolist(), strict=True))
    # every frame that was not corrupted arrives, and nothing that was corrupted does
    assert got == good
    assert c.samples == len(good)
    assert not sent["corrupted"][-1]  # so the loss is fully counted:
    assert len(rows) == c.samples + c.lost_samples
    assert c.resets == 0 and c.rejected_frames > 0 and c.discarded_bytes > 0


def test_stall_drops_on_device_and_flags_overflow():
    dev, data = _stream({"stall_at_s": "0.2", "stall_s": "0.05"}, [0.5])
    driver, block = decode_all(data)
    assert len(dev.device_dropped) == 50
    assert driver.counters.lost_samples == 50
    assert driver.counters.gaps == [{"after_seq": dev.device_dropped[0] - 1, "missing": 50}]
    i = int(np.flatnonzero(block.flags & SampleFlag.GAP)[0])
    assert block.seq[i] == dev.device_dropped[-1] + 1


def test_reset_is_a_new_segment():
    dev, data = _stream({"reset_at_s": "0.3"}, [0.6])
    driver, block = decode_all(data)
    c = driver.counters
    assert c.resets == 1 and c.lost_samples == 0 and len(block) == 600
    seg = driver.segments[0]
    assert seg["reason"] == "reset" and seg["seq"] == 0
    i = seg["index"]
    assert block.flags[i] & SampleFlag.RESET
    assert block.t_s[i] < 0.01 and block.t_s[i - 1] > 0.29  # the clock restarted
    assert [e["name"] for e in c.events] == ["rig_reset"]
    assert dev.sent_samples()["epoch"][i] == 1


@pytest.mark.parametrize(("channel", "bits"), [("flow", 0b01), ("paw", 0b10), ("both", 0b11)])
def test_sensor_fault_bits_and_events(channel, bits):
    dev, data = _stream({"sensor_fault_at_s": "0.1", "sensor_fault_duration_s": "0.05",
                         "sensor_fault_channel": channel}, [0.3])
    driver, block = decode_all(data)
    faulty = (block.flags & SampleFlag.FAULT) != 0
    assert faulty.sum() == 50
    status = dev.sent_samples()["status"]
    assert set(status[faulty].tolist()) == {bits}
    assert [e["name"] for e in driver.counters.events] == ["sensor_fault", "sensor_recovered"]


def test_saturation():
    dev, data = _stream({"saturate": "10"}, [3.0])
    driver, block = decode_all(data)
    sat = (block.flags & SampleFlag.SATURATED) != 0
    assert sat.any() and np.all(np.abs(block.flow_lpm) <= 10.0)
    assert np.all(np.abs(block.flow_lpm[sat]) == 10.0)


def test_bad_params_raise():
    for params in ({"rate_hz": "0"}, {"ber": "2"}, {"sensor_fault_channel": "o2"}, {"seed": "x"}):
        with pytest.raises(ValueError):
            SimulatedRig(params)
    for params in ({"condition": "warm"}, {"ti_s": "9", "rate_bpm": "20"}):
        with pytest.raises(ConfigError):
            SimulatedRig(params)


def test_condition_reaches_describe():
    dev = SimulatedRig({"condition": "btps"})
    dev.receive(b"HELLO\n")
    info = json.loads(frames_of(dev.produce(0.0))[0][1])
    assert info["channels"][0]["condition"] == "BTPS"
