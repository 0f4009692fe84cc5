"""``.vbcap`` import: the same samples as live, torn tails, corrupt records, ``analyze``."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from ventbench.analysis.trace import SampleFlag
from ventbench.bench.cli import main
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.capture import CaptureWriter
from ventbench.drivers.importers import read_trace, sniff_format
from ventbench.drivers.importers.vbcap import HOST_TIME_CHANNEL, read_vbcap
from ventbench.drivers.pty_server import PtyServer
from ventbench.drivers.registry import make_device, make_driver
from ventbench.drivers.timebase import ContinuousTime
from ventbench.drivers.transport import Acquisition
from ventbench.errors import FrameError

from tests.drivers.fake_stream import FakeDevice


def record_live(url, name, path, seconds=1.0, **options):
    """Acquire ``seconds`` of wall time; the live blocks as ``ventbench record`` sees them."""
    driver = make_driver(name, **options)
    acq = Acquisition(url, driver, path, metadata={"driver_options": options})
    acq.start()
    blocks, t0 = [], time.monotonic()
    while time.monotonic() - t0 < seconds:
        if (block := acq.get(timeout=0.1)) is not None:
            blocks.append(block)
    acq.stop()
    while (block := acq.get(timeout=0)) is not None:
        blocks.append(block)
    assert acq.error is None
    return driver, ContinuousTime().apply(SampleBlock.concatenate(blocks))


def assert_same_samples(trace, block):
    assert len(trace) == len(block) > 0
    for a, b in ((trace.t_s, block.t_s), (trace.flow_lpm, block.flow_lpm),
                 (trace.paw_cmh2o, block.paw_cmh2o), (trace.flags, block.flags)):
        np.testing.assert_array_equal(a, b)
    for name, values in block.channels.items():
        np.testing.assert_array_equal(trace.channels[name], values)


@pytest.mark.parametrize(("url", "name", "options"), [
    ("sim://rig?speed=max&seed=1&reset_at_s=0.5", "rig", {}),
    ("sim://tsi?speed=max&seed=2", "tsi", {"block_samples": "50"}),
    ("sim://pirds?speed=max&seed=3", "pirds", {}),
])
def test_import_gives_exactly_the_live_samples(tmp_path, url, name, options):
    driver, live = record_live(url, name, tmp_path / "c.vbcap", **options)
    trace = read_vbcap(tmp_path / "c.vbcap", host_time=True)  # driver + options from header
    assert_same_samples(trace, live)
    assert trace.meta["counters"] == driver.counters.to_json()
    assert trace.meta["instrument"] == json.loads(json.dumps(driver.info, default=str))
    assert trace.flow_condition == driver.flow_condition and trace.meta["connections"] == 1
    assert trace.meta["capture"]["corrupt"] == [] and trace.meta["capture"]["truncated_at"] is None
    host = trace.channels[HOST_TIME_CHANNEL]
    assert np.all(np.diff(host) >= 0) and host[0] > 0
    if name == "rig":  # the device reset: time shifted on, flagged, listed
        assert trace.meta["counters"]["resets"] == 1 and len(trace.meta["time_shifts"]) == 1
        row = trace.meta["time_shifts"][0]["at_row"]
        assert trace.flags[row] & SampleFlag.RESET and trace.flags[row] & SampleFlag.GAP


def test_a_reconnect_is_replayed_as_live_with_its_gap(tmp_path):
    link = tmp_path / "dev"
    driver = make_driver("tests.drivers.fake_stream:FakeDriver")
    acq = Acquisition(str(link), driver, tmp_path / "c.vbcap", backoff_s=0.05)
    servers = []

    def serve():
        server = PtyServer(FakeDevice({"rate_hz": "1000"}), link=link)
        server.open()
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        servers.append((server, thread))

    def unplug():
        server, thread = servers.pop()
        server.stop()
        thread.join()
        server.close()

    blocks = []
    serve()
    try:
        acq.start()
        time.sleep(0.4)
        unplug()
        time.sleep(0.3)
        serve()
        deadline = time.monotonic() + 5
        while not acq.disconnects and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.4)
        acq.stop()
        while (b := acq.get(timeout=0)) is not None:
            blocks.append(b)
    finally:
        while servers:
            unplug()
    live = ContinuousTime().apply(SampleBlock.concatenate(blocks))
    trace = read_vbcap(tmp_path / "c.vbcap", driver="tests.drivers.fake_stream:FakeDriver")
    assert_same_samples(trace, live)
    assert trace.meta["disconnects"] == 1 and trace.meta["connections"] == 2
    assert np.count_nonzero(trace.flags & SampleFlag.GAP) >= 1


def hand_built_capture(path, seconds=10.0, chunk=997, **params):
    """A capture written directly from the simulated rig's bytes (no events, no handshake)."""
    device = make_device("rig", {"seed": "5", **params})
    device.receive(b"START\n")
    data = device.produce(seconds)
    with CaptureWriter(path, {"driver": "rig", "url": "hand-built"}) as writer:
        for i in range(0, len(data), chunk):
            writer.rx(data[i:i + chunk], t_ns=1_000_000 + i)
    return device.sent_samples()


def test_a_raw_capture_is_fed_in_order_and_the_torn_tail_is_reported(tmp_path):
    path = tmp_path / "c.vbcap"
    sent = hand_built_capture(path, seconds=3.0)
    trace = read_vbcap(path)
    np.testing.assert_array_equal(trace.t_s, sent["t_us"] / 1e6)
    np.testing.assert_allclose(trace.paw_cmh2o, sent["ch"][:, 1] / 1000.0)
    assert trace.meta["capture"]["truncated_at"] is None and trace.meta["connections"] == 0
    whole = path.read_bytes()
    path.write_bytes(whole[:-500])  # a crash in the middle of the last record
    torn = read_vbcap(path)
    assert torn.meta["capture"]["truncated_at"] is not None
    assert 0 < len(trace) - len(torn) <= 997 // 20 + 1
    np.testing.assert_array_equal(torn.t_s, trace.t_s[:len(torn)])


def test_a_corrupt_record_names_its_offset_unless_skipped(tmp_path):
    path = tmp_path / "c.vbcap"
    hand_built_capture(path, seconds=3.0)
    whole = bytearray(path.read_bytes())
    at = len(whole) // 2
    whole[at] ^= 0xFF
    path.write_bytes(bytes(whole))
    with pytest.raises(FrameError, match=r"c\.vbcap: corrupt record at byte offset \d+"):
        read_vbcap(path)
    trace = read_vbcap(path, skip_bad=True)
    (bad,) = trace.meta["capture"]["corrupt"]
    assert bad["offset"] <= at < bad["offset"] + bad["skipped_bytes"]
    assert trace.meta["counters"]["lost_samples"] > 0  # the driver saw the hole
    assert trace.flags[np.diff(trace.t_s, prepend=0) > 0.0015].any()


def test_analyze_reads_a_capture_by_its_magic(tmp_path, capsys):
    path = tmp_path / "point.bin"
    hand_built_capture(path, seconds=10.0, rate_bpm="30")
    assert sniff_format(path) == "vbcap"
    assert read_trace(path).meta["format"] == "vbcap"
    out = tmp_path / "r.json"
    code = main(["analyze", str(path), "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert len(doc["points"][0]["breaths"]) >= 3


def test_record_and_import_agree_on_a_device_reset(tmp_path):
    """``ventbench record``'s trace.csv and its capture read back: the same samples."""
    out = tmp_path / "r"
    assert main(["record", "--port", "sim://rig?speed=max&seed=9&reset_at_s=0.7",
                 "--driver", "rig", "--duration", "1.5s", "--out", str(out)]) == 0
    doc = json.loads((out / "record.json").read_text())
    recorded = read_trace(out / "trace.csv")
    imported = read_trace(out / "capture.vbcap")
    assert doc["resets"] == 1 and imported.meta["time_shifts"] == doc["time_shifts"]
    for name in ("t_s", "flow_lpm", "paw_cmh2o", "flags"):
        np.testing.assert_array_equal(getattr(imported, name), getattr(recorded, name))
    assert imported.meta["counters"]["samples"] == doc["samples"] == len(recorded)
