"""sim:// and replay:// through serial.serial_for_url, like any other port."""

from __future__ import annotations

import time

import numpy as np
import pytest
import serial

from ventbench.drivers import registry
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.capture import read_capture
from ventbench.drivers.transport import Acquisition, open_port
from ventbench.errors import TransportError

from tests.drivers.fake_stream import FakeDriver


@pytest.fixture(autouse=True)
def fake_device(monkeypatch):
    monkeypatch.setitem(registry.DEVICES, "fake", "tests.drivers.fake_stream:FakeDevice")
    monkeypatch.setitem(registry.DRIVERS, "fake", "tests.drivers.fake_stream:FakeDriver")


def read_until(port, marker: bytes, timeout_s: float = 2.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout_s
    while marker not in out and time.monotonic() < deadline:
        out += port.read(max(1, port.in_waiting))
    return out


def test_sim_url_is_a_pyserial_port():
    port = serial.serial_for_url("sim://fake?speed=max&rate_hz=1000&seed=3", timeout=0.1)
    assert port.device.params == {"rate_hz": "1000", "seed": "3"}
    port.write(b"HELLO\n")
    assert read_until(port, b"\n") == b"OK fake\n"
    port.write(b"START\n")
    data = read_until(port, b"S,99,")
    assert data.startswith(b"OK\nS,0,")
    # max: time advances only as fast as we read — at most one reader-sized chunk ahead
    # (MAX_SPEED_FILL_BYTES at ~16 bytes per fake sample is about 1 s of device time)
    assert port.device_time_s <= 1.05
    port.close()


def test_sim_speed_relates_device_time_to_wall_clock():
    port = serial.serial_for_url("sim://fake?speed=10&rate_hz=100", timeout=0.05)
    port.write(b"START\n")
    t0 = time.monotonic()
    data = b""
    while time.monotonic() - t0 < 0.5:
        data += port.read(4096)
    n = data.count(b"\nS,")
    assert 400 <= n <= 560, n  # 0.5 s wall × 10 × 100 Hz ≈ 500 samples
    port.close()


def test_unknown_simulated_device_is_a_clear_error():
    with pytest.raises(serial.SerialException, match="no simulated device 'nosuch'"):
        serial.serial_for_url("sim://nosuch")
    with pytest.raises(TransportError, match=r"cannot open port sim://nosuch.*no simulated"):
        open_port("sim://nosuch")
    with pytest.raises(TransportError, match="speed must be"):
        open_port("sim://fake?speed=fast")


def test_sim_rig_through_serial_for_url():
    """The real simulated rig answers HELLO with DESCRIBE + OK (VBR/1 frames)."""
    pytest.importorskip("ventbench.drivers.sim.rig_device")
    port = serial.serial_for_url("sim://rig?speed=max&seed=1", timeout=0.1)
    port.write(b"HELLO\n")
    data = read_until(port, b"OK")
    assert data[:2] == b"\xa5\x5a" and b'"VBR/1"' in data
    port.close()


def record(url: str, path, seconds: float = 10.0) -> tuple[SampleBlock, Acquisition]:
    driver = FakeDriver()
    acq = Acquisition(url, driver, path)
    acq.start()
    blocks = []
    t0 = time.monotonic()
    for block in acq:
        blocks.append(block)
        if time.monotonic() - t0 > seconds:
            break
    acq.stop()
    while (b := acq.get(timeout=0)) is not None:
        blocks.append(b)
    assert acq.error is None
    return SampleBlock.concatenate(blocks), acq


def test_replay_gives_the_same_samples(tmp_path):
    live, _ = record("sim://fake?speed=max&rate_hz=1000&drop_every=97", tmp_path / "a.vbcap", 0.5)
    assert len(live) > 1000
    again, acq = record(f"replay://{tmp_path / 'a.vbcap'}", tmp_path / "b.vbcap")
    assert acq.finished.is_set()  # the replay ended by itself, not by timeout
    np.testing.assert_array_equal(again.seq, live.seq)
    np.testing.assert_array_equal(again.t_s, live.t_s)
    np.testing.assert_array_equal(again.flow_lpm, live.flow_lpm)
    assert acq.driver.counters.lost_samples == live.seq[-1] + 1 - len(live)
    # the replay's own capture holds exactly the live rx bytes
    rx = [b"".join(r.data for r in read_capture(p)[1] if r.kind == "rx")
          for p in (tmp_path / "a.vbcap", tmp_path / "b.vbcap")]
    assert rx[0] == rx[1]


def test_replay_serves_answers_after_questions_and_skips_discarded_input(tmp_path):
    """A handshake driver reads the recorded answer; bytes drained live are skipped."""
    from ventbench.drivers.capture import CaptureWriter

    path = tmp_path / "h.vbcap"
    with CaptureWriter(path, {}) as w:
        w.event("discard_begin")
        w.rx(b"stale junk from before\n")
        w.event("discard_end", bytes=23)
        w.tx(b"HELLO\n")
        w.rx(b"OK fake\n")
        w.tx(b"START\n")
        w.rx(b"S,0,0.0,1,2\nS,1,1.0,1,2\n")
    port = serial.serial_for_url(f"replay://{path}", timeout=0.05)
    assert port.in_waiting == 0  # gated: nothing before the first answer's question...
    port.reset_input_buffer()  # ...and the drained junk is skipped by the reset
    port.write(b"HELLO\n")
    assert read_until(port, b"\n") == b"OK fake\n"
    assert port.read(100) == b""  # START not yet written
    port.write(b"START\n")
    assert read_until(port, b"S,1") == b"S,0,0.0,1,2\nS,1,1.0,1,2\n"
    assert port.finished and port.read(10) == b""
    port.close()


def test_replay_barrier_times_out_for_a_driver_that_never_writes(tmp_path):
    from ventbench.drivers.capture import CaptureWriter

    path = tmp_path / "t.vbcap"
    with CaptureWriter(path, {}) as w:
        w.tx(b"START\n")
        w.rx(b"data")
    port = serial.serial_for_url(f"replay://{path}?barrier_ms=50", timeout=0.3)
    assert port.read(10) == b"data" and port.forced_barriers == 1


def test_replay_paced_by_recorded_time(tmp_path):
    from ventbench.drivers.capture import CaptureWriter

    path = tmp_path / "p.vbcap"
    with CaptureWriter(path, {}) as w:
        w.rx(b"a", t_ns=0)
        w.rx(b"b", t_ns=2_000_000_000)  # 2 s later
    port = serial.serial_for_url(f"replay://{path}?speed=10", timeout=1.0)
    t0 = time.monotonic()
    assert port.read(1) == b"a"
    assert port.read(1) == b"b"
    assert 0.15 < time.monotonic() - t0 < 0.5  # 2 s / 10


def test_replay_of_a_missing_or_bad_file(tmp_path):
    with pytest.raises(TransportError, match="nothere.vbcap"):
        open_port(f"replay://{tmp_path / 'nothere.vbcap'}")
    (tmp_path / "text.vbcap").write_text("not a capture")
    with pytest.raises(TransportError, match=r"text\.vbcap: not a \.vbcap"):
        open_port(f"replay://{tmp_path / 'text.vbcap'}")
