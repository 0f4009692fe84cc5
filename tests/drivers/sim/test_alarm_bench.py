"""The VBR/1 actuator extension on the simulated rig, at the byte level (docs/drivers/rig-actuators.md)."""

from __future__ import annotations

import json

import pytest

from ventbench.drivers.sim.alarm_bench import parse_late
from ventbench.drivers.sim.rig_device import SimulatedRig
from ventbench.drivers.vbr1.deframer import Deframer
from ventbench.drivers.vbr1.frames import FrameType, decode_event, encode_event, encode_reply


def _frames(rig: SimulatedRig, until_s: float) -> list:
    return list(Deframer().feed(rig.produce(until_s)))


def test_act_answers_event_8_then_ok_and_safe_returns_everything():
    rig = SimulatedRig({"alarms": "1", "seed": "1"})
    rig.receive(b"START\n")
    rig.produce(1.0)
    rig.receive(b"ACT disconnect 1\n")
    raw = rig.produce(1.0)  # no time passes: only the answers
    assert raw == encode_event(1_000_000, 8, "disconnect=1") + encode_reply("OK ACT disconnect 1")
    rig.receive(b"SAFE\r\n")
    raw = rig.produce(1.0)
    assert raw == encode_event(1_000_000, 8, "disconnect=0") + encode_reply("OK SAFE")
    for line, answer in ((b"ACT valve9 1\n", "ERR unknown actuator valve9"),
                         (b"ACT disconnect 2\n", "ERR usage: ACT NAME 0|1"),
                         (b"ACTS\n", "OK ACTS disconnect,occlude,stiff,leak,gas,apnoea,mains")):
        rig.receive(line)
        assert rig.produce(1.0) == encode_reply(answer)


def test_v1_rig_is_unchanged_and_refuses_act():
    rig = SimulatedRig({"seed": "1"})
    rig.receive(b"ACT disconnect 1\n")
    assert rig.produce(0.0) == encode_reply("ERR unknown command")
    rig.receive(b"HELLO\n")
    desc = [f for f in _frames(rig, 0.0) if f.type == FrameType.DESCRIBE][0]
    info = json.loads(desc.payload)
    assert [c["name"] for c in info["channels"]] == ["flow", "paw"] and "actuators" not in info
    rig.receive(b"START\n")
    samples = [f for f in _frames(rig, 0.1) if f.type == FrameType.SAMPLE]
    assert {len(f.payload) for f in samples} == {14 + 4 * 2}


def test_alarm_rig_describes_the_sound_channel_and_alarms_after_the_seeded_delay():
    rig = SimulatedRig({"alarms": "1", "seed": "2", "alarm_late": "mains:2"})
    rig.receive(b"START\n")
    frames = _frames(rig, 2.0)
    info = json.loads(next(f for f in frames if f.type == FrameType.DESCRIBE).payload)
    assert info["channels"][2] == {"name": "sound", "unit": "dBA", "scale": 0.01, "sensor": "SIM-MIC",
                                   "response_s": 0.0}
    assert {len(f.payload) for f in frames if f.type == FrameType.SAMPLE} == {14 + 4 * 3}
    rig.receive(b"ACT mains 1\n")
    frames = _frames(rig, 5.0)
    events = [decode_event(f.payload) for f in frames if f.type == FrameType.EVENT]
    assert events[0] == (2_000_000, 8, "mains=1")
    on = [e for e in events if e[1] == 4]
    assert on and on[0][0] == pytest.approx(2_000_000 + 2_300_000, abs=1000)  # 0.3 s + 2 s late


def test_parse_late_rejects_unknown_conditions():
    assert parse_late("disconnect:20, gas:1.5") == {"disconnect": 20.0, "gas": 1.5}
    with pytest.raises(ValueError, match="unknown condition 'fire'"):
        parse_late("fire:1")


def _alarm_log(actuator: str, step_s: float) -> dict:
    rig = SimulatedRig({"alarms": "1", "seed": "1"})
    rig.receive(b"START\n")
    rig.produce(9.7)  # 20 bpm, Ti 1 s: mid-inspiration
    rig.receive(f"ACT {actuator} 1\n".encode())
    t = 9.7
    while t < 30.0:
        t = min(30.0, t + step_s)
        rig.produce(t)
    (entry,) = rig.alarm_bench.log
    return {k: entry.get(k) for k in ("condition", "onset_us", "alarm_on_us")}


@pytest.mark.parametrize("actuator", ["disconnect", "occlude", "stiff", "leak", "gas", "apnoea", "mains"])
def test_every_actuator_acts_the_same_whatever_the_block_size(actuator):
    assert _alarm_log(actuator, 10.0) == _alarm_log(actuator, 0.01)  # one block or two thousand


def test_gas_shut_off_during_an_inspiration_stops_the_next_one():
    entry = _alarm_log("gas", 0.01)
    # the breath in progress is delivered; the next one (within a period, 3 s) is the first missed
    assert 9_700_000 + 1_000_000 < entry["onset_us"] <= 9_700_000 + 3_000_000
    assert entry["alarm_on_us"] - entry["onset_us"] == 800_000
