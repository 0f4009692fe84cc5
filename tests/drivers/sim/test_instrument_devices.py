"""Each instrument driver against its simulated device, in-process (tests/drivers/loopback.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ventbench.analysis.gas import GasCondition
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.imt import ImtDriver
from ventbench.drivers.imt_codec import FastFormat, decode_fast_packet
from ventbench.drivers.pirds import PirdsDriver
from ventbench.drivers.sim.imt_device import ImtDevice
from ventbench.drivers.sim.instrument_source import FaultInjector, PressureControlSource
from ventbench.drivers.sim.pirds_device import PirdsDevice
from ventbench.drivers.sim.tsi_device import TsiDevice
from ventbench.drivers.tsi import TsiDriver
from ventbench.units import HPA_PER_CMH2O

from tests.drivers.loopback import LoopPort


def stream(driver, port: LoopPort, seconds: float, step_s: float = 0.1) -> SampleBlock:
    blocks = []
    for _ in range(int(round(seconds / step_s))):
        blocks.append(driver.feed(port.run(step_s)))
        driver.poll(port)
    return SampleBlock.concatenate(blocks)


# ---------------------------------------------------------------- IMT
@pytest.mark.parametrize("model", ["simple", "physics"])
def test_imt_driver_against_device(model):
    device = ImtDevice({"seed": "3", "model": model})
    port = LoopPort(device)
    driver = ImtDriver()
    info = driver.handshake(port)
    assert info["serial_number"] == 1234567 and info["flow_condition"] == "BTPS"
    driver.start(port)
    block = stream(driver, port, 6.0)
    driver.stop(port)
    assert len(block) == 1200 and driver.counters.rejected_frames == 0
    sent = [decode_fast_packet(p, FastFormat()) for p in device.sent_packets]
    np.testing.assert_allclose(block.flow_lpm, [p.values[0] * 0.1 for p in sent])
    np.testing.assert_allclose(block.paw_cmh2o, [p.values[1] * 0.01 / HPA_PER_CMH2O for p in sent])
    assert block.flow_lpm.max() > 10 and block.flow_lpm.min() < -10
    assert abs(np.percentile(block.paw_cmh2o, 5) - 5.0) < 0.6  # PEEP 5 cmH2O


def test_imt_device_answers_breath_values_and_invalid_commands():
    device = ImtDevice({"seed": "1", "model": "simple"})
    port = LoopPort(device)
    driver = ImtDriver()
    values = driver.poll_breath_values(port)
    assert values["vti_ml"] is None  # undefined until the device computes breaths
    port.write(b"%XX#1\r")
    assert port.read(10) == b"?"


def test_imt_faults_cost_samples_never_invent_them():
    device = ImtDevice({"seed": "7", "model": "simple", "ber": "2e-4", "drop": "0.01",
                        "garbage": "0.01"})
    port = LoopPort(device)
    driver = ImtDriver()
    driver.handshake(port)
    driver.start(port)
    block = stream(driver, port, 10.0)
    sent = {(p[0] << 8 | p[1], p[2:8]) for p in device.sent_packets}
    assert 0 < driver.counters.lost_samples and driver.counters.rejected_frames > 0
    assert len(block) > 1800
    flow_raw = np.round(block.flow_lpm / 0.1).astype(int)
    for seq, f in zip(block.seq, flow_raw, strict=True):
        matches = [v for t, v in sent if t == int(seq) & 0xFFFF]
        assert any(int.from_bytes(v[0:2], "big", signed=True) == f for v in matches)
    assert np.all(np.diff(block.t_s) > 0)


# ---------------------------------------------------------------- TSI
@pytest.mark.parametrize("mode", ["B", "C", "A"])
def test_tsi_driver_against_device(mode):
    device = TsiDevice({"seed": "2", "model": "simple"})
    port = LoopPort(device)
    driver = TsiDriver(mode=mode, block_samples=100, interval_ms=10)
    info = driver.handshake(port)
    assert info["flow_condition"] == GasCondition.STP21.value
    driver.start(port)
    block = stream(driver, port, 5.0)
    driver.stop(port)
    rows = np.concatenate(device.sent_rows[1:])  # [0]: the handshake's single read
    assert len(block) == rows.shape[0] >= 300
    np.testing.assert_allclose(block.flow_lpm, rows[:, 0])
    np.testing.assert_allclose(block.channels["p_abs_kpa"], rows[:, 2])
    assert np.all(np.isnan(block.paw_cmh2o))
    np.testing.assert_allclose(np.diff(block.t_s), 0.01)


def test_tsi_device_rejects_unknown_commands():
    port = LoopPort(TsiDevice({"model": "simple"}))
    port.write(b"XYZ\r")
    assert port.read(10) == b"ERR1\r\n"


# ---------------------------------------------------------------- PIRDS
@pytest.mark.parametrize("fmt", ["json", "binary", "mixed"])
def test_pirds_driver_against_device(fmt):
    device = PirdsDevice({"seed": "4", "format": fmt, "chatter": "1"})
    port = LoopPort(device)
    driver = PirdsDriver()
    driver.handshake(port)
    driver.start(port)
    block = stream(driver, port, 8.0)
    flows = [e for e in device.sent if e.event == "M" and e.type == "F"]
    assert len(block) >= len(flows) - 3  # binary start-up confirmation holds a record or two
    sent = {(e.ms, e.val) for e in flows}
    for t, f in zip(block.t_s, block.flow_lpm, strict=True):
        assert (int(round(t * 1000)), int(round(f * 1000))) in sent
    assert driver.info["device_name"] == "ventbench-sim-ventmon"
    assert any(a["name"] == "vt_ml" for a in driver.assertions)


def test_pirds_faults_never_raise():
    device = PirdsDevice({"seed": "5", "format": "json", "drop": "0.02", "garbage": "0.02",
                          "ber": "1e-4"})
    port = LoopPort(device)
    driver = PirdsDriver()
    block = stream(driver, port, 5.0)
    assert len(block) > 400 and driver.counters.discarded_bytes > 0
    assert np.all(np.diff(block.t_s) > 0)


# ---------------------------------------------------------------- shared pieces
def test_fault_injector_is_deterministic():
    a, b = FaultInjector({"seed": "9", "ber": "0.01"}), FaultInjector({"seed": "9", "ber": "0.01"})
    data = bytes(range(256)) * 4
    assert a.frame(data) == b.frame(data) != data
    assert FaultInjector({}).frame(data) == data


def test_simple_source_is_chunking_independent():
    s1, s2 = PressureControlSource(100.0), PressureControlSource(100.0)
    whole = s1.advance(700)
    parts = [s2.advance(n) for n in (1, 99, 300, 300)]
    np.testing.assert_array_equal(whole.flow_lpm, np.concatenate([p.flow_lpm for p in parts]))
