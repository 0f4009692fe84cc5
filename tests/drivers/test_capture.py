"""The .vbcap capture format: round trip, torn tails, corrupt records, full disk, flushing."""

from __future__ import annotations

import errno
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.drivers import capture as cap
from ventbench.drivers.capture import (
    EVENT,
    REC_OVERHEAD,
    RX,
    SYNC,
    TX,
    CaptureError,
    CaptureReader,
    CaptureWriter,
    read_capture,
)
from ventbench.errors import FrameError, TransportError

records_st = st.lists(
    st.tuples(st.sampled_from([RX, TX, EVENT]), st.integers(0, 2**64 - 1),
              st.binary(max_size=300)),
    max_size=25,
)
KIND = {RX: "rx", TX: "tx", EVENT: "event"}


def write_capture(path, records, **kw):
    with CaptureWriter(path, {"driver": "test", "url": "loop://"}, **kw) as w:
        for kind, t_ns, data in records:
            w.write(kind, data, t_ns)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=records_st, write_through=st.booleans())
def test_round_trip(tmp_path_factory, records, write_through):
    path = tmp_path_factory.mktemp("rt") / "c.vbcap"
    write_capture(path, records, write_through=write_through)
    header, got, report = read_capture(path)
    assert header["driver"] == "test" and header["format"] == "vbcap/1"
    assert [(r.kind, r.t_ns, r.data) for r in got] == [(KIND[k], t, d) for k, t, d in records]
    assert report.clean and report.records == len(records)
    assert report.end_offset == path.stat().st_size


def small_capture(tmp_path):
    recs = [(RX, 10, b"\xa5\x5a" + SYNC + b"abc"), (TX, 20, b"HELLO\n"), (EVENT, 30, b"{}"),
            (RX, 40, b""), (RX, 50, bytes(range(40)))]
    path = write_capture(tmp_path / "small.vbcap", recs)
    return path, recs


def test_truncation_at_every_offset(tmp_path):
    path, recs = small_capture(tmp_path)
    data = path.read_bytes()
    first = CaptureReader(path).data_offset
    boundaries = [first]
    for _, _, d in recs:
        boundaries.append(boundaries[-1] + REC_OVERHEAD + len(d))
    assert boundaries[-1] == len(data)
    cut = tmp_path / "cut.vbcap"
    for n in range(len(data) + 1):
        cut.write_bytes(data[:n])
        if n < first:
            with pytest.raises(FrameError, match="cut.vbcap"):
                read_capture(cut)
            continue
        _, got, report = read_capture(cut)
        complete = sum(1 for b in boundaries[1:] if b <= n)
        assert [r.data for r in got] == [d for _, _, d in recs[:complete]], n
        assert not report.corrupt, (n, report)
        if n in boundaries:
            assert report.truncated_at is None
        else:
            assert report.truncated_at == boundaries[complete], n
        assert report.end_offset == (n if n in boundaries else boundaries[complete])


@pytest.mark.parametrize("where", ["payload", "crc", "sync", "kind", "length_huge",
                                   "length_past_eof", "length_short"])
def test_corrupt_record_is_skipped_and_reported(tmp_path, where):
    path, recs = small_capture(tmp_path)
    data = bytearray(path.read_bytes())
    reader = CaptureReader(path)
    offsets = [r.offset for r in reader]
    victim = offsets[1]  # the TX record
    pos = {"payload": victim + 17 + 2, "crc": victim + 17 + 6, "sync": victim,
           "kind": victim + 4}.get(where)
    if pos is not None:
        data[pos] ^= 0xFF
    else:
        value = {"length_huge": 2**31, "length_past_eof": len(data),
                 "length_short": 3}[where]
        data[victim + 13: victim + 17] = value.to_bytes(4, "little")
    bad = tmp_path / "bad.vbcap"
    bad.write_bytes(bytes(data))
    _, got, report = read_capture(bad)
    assert [r.offset for r in got] == [o for o in offsets if o != victim]
    assert len(report.corrupt) == 1 and report.corrupt[0]["offset"] == victim
    assert report.corrupt[0]["skipped_bytes"] == offsets[2] - victim
    assert report.truncated_at is None


def _rss_file_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no RssFile in /proc/self/status")


def test_reading_a_large_capture_keeps_resident_memory_bounded(tmp_path):
    """A replay of a 256 MiB part must not hold the whole mapped part resident."""
    chunk = bytes(range(256)) * 4096  # 1 MiB
    path = write_capture(tmp_path / "big.vbcap", [(RX, i, chunk) for i in range(64)])
    base = _rss_file_mb()
    peak, n = 0.0, 0
    for rec in CaptureReader(path):
        assert rec.data == chunk
        n += 1
        peak = max(peak, _rss_file_mb() - base)
    assert n == 64
    assert peak < 32, f"{peak:.0f} MB of the 64 MB file resident (releases every 16 MiB)"


def test_released_pages_read_back_identically_with_corruption(tmp_path, monkeypatch):
    monkeypatch.setattr(cap, "RELEASE_BYTES", 4096)
    recs = [(RX, i, bytes([i % 256]) * (1000 + 37 * i)) for i in range(60)]
    path = write_capture(tmp_path / "c.vbcap", recs)
    data = bytearray(path.read_bytes())
    offsets = [r.offset for r in CaptureReader(path)]
    data[offsets[40] + 20] ^= 0xFF  # a corrupt record far past the first released pages
    path.write_bytes(bytes(data))
    _, got, report = read_capture(path)
    assert [r.data for r in got] == [d for i, (_, _, d) in enumerate(recs) if i != 40]
    assert len(report.corrupt) == 1 and report.corrupt[0]["offset"] == offsets[40]


def test_garbage_tail_is_corrupt_not_torn(tmp_path):
    path, recs = small_capture(tmp_path)
    with open(path, "ab") as f:
        f.write(b"x" * 50)
    _, got, report = read_capture(path)
    assert len(got) == len(recs)
    assert report.corrupt and report.corrupt[0]["skipped_bytes"] == 50


def test_bad_magic_and_version(tmp_path):
    p = tmp_path / "x.vbcap"
    p.write_bytes(b"hello world, this is text" * 3)
    with pytest.raises(FrameError, match=r"x\.vbcap: not a \.vbcap"):
        CaptureReader(p)
    path, _ = small_capture(tmp_path)
    data = bytearray(path.read_bytes())
    data[8] = 9
    p.write_bytes(bytes(data))
    with pytest.raises(FrameError, match="version 9"):
        CaptureReader(p)


def test_existing_file_is_not_overwritten(tmp_path):
    path, _ = small_capture(tmp_path)
    before = path.read_bytes()
    with pytest.raises(CaptureError, match="small.vbcap"):
        CaptureWriter(path, {})
    assert path.read_bytes() == before


def test_full_disk_names_file_and_keeps_what_came_before(tmp_path, monkeypatch):
    real_write = os.write
    quota = {"left": 2000}

    def limited_write(fd, data):
        if quota["left"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_write(fd, bytes(data[: quota["left"]]))
        quota["left"] -= n
        return n

    path = tmp_path / "full.vbcap"
    w = CaptureWriter(path, {"driver": "test"})
    monkeypatch.setattr(cap.os, "write", limited_write)
    sent = []
    with pytest.raises(CaptureError) as info:
        for i in range(1000):
            chunk = bytes([i % 256]) * 37
            w.rx(chunk)
            sent.append(chunk)
    monkeypatch.setattr(cap.os, "write", real_write)
    error = info.value
    assert isinstance(error, TransportError) and isinstance(error, OSError)
    assert error.errno == errno.ENOSPC
    assert "full.vbcap" in str(error) and "disk full" in str(error)
    with pytest.raises(CaptureError):
        w.rx(b"more")
    with pytest.raises(CaptureError):
        w.close()
    _, got, report = read_capture(path)
    assert [r.data for r in got] == sent[: len(got)]
    assert len(got) >= len(sent) - 1 and len(got) > 10
    assert not report.corrupt


def test_idle_port_is_flushed_and_synced_by_the_timer(tmp_path, monkeypatch):
    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(cap.os, "fsync", lambda fd: (fsyncs.append(time.monotonic()),
                                                      real_fsync(fd)))
    path = tmp_path / "idle.vbcap"
    w = CaptureWriter(path, {}, write_through=False, flush_interval_s=0.1, fsync_interval_s=0.3)
    try:
        t0 = time.monotonic()
        fsyncs.clear()
        w.rx(b"one lonely chunk")
        size_now = path.stat().st_size
        time.sleep(0.25)  # no further write: only the timer can flush it
        assert path.stat().st_size > size_now
        _, got, _ = read_capture(path)
        assert [r.data for r in got] == [b"one lonely chunk"]
        time.sleep(0.4)
        assert fsyncs and fsyncs[0] - t0 < 0.6
    finally:
        w.close()


def test_write_through_puts_rx_in_the_file_before_returning(tmp_path):
    path = tmp_path / "wt.vbcap"
    with CaptureWriter(path, {}) as w:
        for i in range(5):
            w.rx(b"chunk%d" % i)
            assert path.read_bytes().endswith(b"chunk%d" % i + path.read_bytes()[-4:])
        w.event("note", text="hello")
    _, got, _ = read_capture(path)
    assert got[-1].event()["event"] == "note" and got[-1].event()["text"] == "hello"
