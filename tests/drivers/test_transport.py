"""Transport over real pseudo-terminals: capture before decode, reader thread, reconnect."""

from __future__ import annotations

import os
import threading
import time
import tty

import numpy as np
import pytest

from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.capture import CaptureWriter, read_capture
from ventbench.drivers.pty_server import PtyServer
from ventbench.drivers.transport import Acquisition, CapturedPort, open_port
from ventbench.errors import TransportError

from tests.drivers.fake_stream import FakeDevice, FakeDriver


def serve(server: PtyServer) -> threading.Thread:
    server.open()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    return thread


def test_captured_port_records_before_returning(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    path = tmp_path / "c.vbcap"
    try:
        with CaptureWriter(path, {}) as w:
            port = CapturedPort(open_port(name, timeout=0.5), w)
            assert port.port == name
            port.write(b"HELLO\n")
            assert os.read(master, 100) == b"HELLO\n"
            os.write(master, b"OK dev\n")
            data = port.read(7)
            assert data == b"OK dev\n"
            assert path.read_bytes().count(b"OK dev\n") == 1  # on disk before we saw it
            os.write(master, b"stale bytes")
            time.sleep(0.05)
            port.reset_input_buffer()  # drained into the capture, not thrown away unseen
            port.close()
        _, recs, report = read_capture(path)
        assert report.clean
        kinds = [(r.kind, r.data if r.kind != "event" else r.event()["event"]) for r in recs]
        assert kinds == [("tx", b"HELLO\n"), ("rx", b"OK dev\n"), ("event", "discard_begin"),
                         ("rx", b"stale bytes"), ("event", "discard_end")]
    finally:
        os.close(master)
        os.close(slave)


class CheckingDriver(FakeDriver):
    """Asserts that every chunk it decodes is already in the capture file."""

    capture_path = None

    def feed(self, data: bytes) -> SampleBlock:
        on_disk = self.capture_path.read_bytes()
        assert data in on_disk[-len(data) - 4:], "decoded before it was captured"
        self.checked = getattr(self, "checked", 0) + 1
        return super().feed(data)


def test_acquisition_on_a_pty_captures_before_decoding_and_loses_nothing(tmp_path):
    server = PtyServer(FakeDevice({"rate_hz": "5000"}), speed=1.0, link=tmp_path / "dev")
    thread = serve(server)
    driver = CheckingDriver()
    driver.capture_path = tmp_path / "c.vbcap"
    acq = Acquisition(str(tmp_path / "dev"), driver, driver.capture_path)
    try:
        acq.start()
        blocks = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5:
            if (b := acq.get(timeout=0.2)) is not None:
                blocks.append(b)
        acq.stop()
        while (b := acq.get(timeout=0)) is not None:
            blocks.append(b)
    finally:
        server.stop()
        thread.join()
        server.close()
    assert acq.error is None and driver.checked > 10
    s = SampleBlock.concatenate(blocks)
    assert 6000 < len(s) and driver.counters.lost_samples == 0
    np.testing.assert_array_equal(s.seq, np.arange(len(s)))
    assert not (tmp_path / "dev").exists()  # the server removed its link
    _, recs, report = read_capture(tmp_path / "c.vbcap")
    events = [r.event()["event"] for r in recs if r.kind == "event"]
    assert events[0] == "open" and events[-1] == "close"
    tx = [r.data for r in recs if r.kind == "tx"]
    assert tx == [b"HELLO\n", b"START\n", b"STOP\n"]
    assert b"".join(r.data for r in recs if r.kind == "rx").endswith(b"OK\n")  # tail read


def test_unplugged_port_reconnects_and_the_gap_is_visible(tmp_path):
    link = tmp_path / "dev"
    server = PtyServer(FakeDevice({"rate_hz": "1000"}), link=link)
    thread = serve(server)
    acq = Acquisition(str(link), FakeDriver(), tmp_path / "c.vbcap", backoff_s=0.05)
    blocks = []
    try:
        acq.start()
        time.sleep(0.5)
        server.stop()
        thread.join()
        server.close()  # the "USB cable" is pulled: master and link gone
        time.sleep(0.5)
        server = PtyServer(FakeDevice({"rate_hz": "1000"}), link=link)  # plugged back in
        thread = serve(server)
        deadline = time.monotonic() + 5
        while not acq.disconnects and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        acq.stop()
        while (b := acq.get(timeout=0)) is not None:
            blocks.append(b)
    finally:
        server.stop()
        thread.join()
        server.close()
    assert acq.error is None
    assert len(acq.disconnects) == 1 and acq.disconnects[0]["down_s"] >= 0.4
    _, recs, _ = read_capture(tmp_path / "c.vbcap")
    events = [r.event()["event"] for r in recs if r.kind == "event"]
    assert events.count("disconnect") == 1 and events.count("reconnect") == 1
    assert events.index("disconnect") < events.index("reconnect")
    assert [r.data for r in recs if r.kind == "tx"].count(b"HELLO\n") == 2
    s = SampleBlock.concatenate(blocks)
    restart = int(np.flatnonzero(np.diff(s.seq) < 0)[0]) + 1  # the new device counts from 0
    assert s.flags[restart] & SampleFlag.GAP
    assert np.count_nonzero(s.flags) == 1


def test_port_that_cannot_be_opened_or_does_not_answer(tmp_path):
    with pytest.raises(TransportError, match="cannot open port /nonexistent/tty"):
        Acquisition("/nonexistent/tty", FakeDriver(), tmp_path / "a.vbcap").start()
    _, recs, _ = read_capture(tmp_path / "a.vbcap")  # the attempt is evidence too
    assert [r.event()["event"] for r in recs] == ["error"]
    master, slave = os.openpty()  # a port where nobody answers
    try:
        driver = FakeDriver()
        acq = Acquisition(os.ttyname(slave), driver, tmp_path / "b.vbcap")
        t0 = time.monotonic()
        with pytest.raises(TransportError, match="no fake device"):
            acq.start()
        assert time.monotonic() - t0 < 3
    finally:
        os.close(master)
        os.close(slave)


def test_pty_server_survives_a_reader_that_does_not_read(tmp_path):
    """EAGAIN on a full pty, a bounded backlog (overflow counted), then normal service."""
    device = FakeDevice({"rate_hz": "20000"})
    device.receive(b"START\n")
    server = PtyServer(device, link=tmp_path / "dev", max_pending_bytes=10_000)
    server.open()
    try:
        server.serve(duration_s=0.5)  # ~300 kB produced, nobody reading
        assert server.write_stalls > 0 and server.bytes_dropped > 0
        thread = threading.Thread(target=server.serve, kwargs={"duration_s": 1.0})
        thread.start()
        port = open_port(str(tmp_path / "dev"), timeout=0.3)  # pyserial flushes stale input
        data = port.read(100_000)
        port.close()  # the reader goes away again: serving goes on
        thread.join()
        assert data.count(b"\nS,") > 1000  # fresh samples for a late reader
        stats = server.stats()
        assert stats["device"] == {"class": "FakeDevice"} and stats["bytes_dropped"] > 0
    finally:
        server.close()
