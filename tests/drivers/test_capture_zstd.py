"""Compressed capture parts: raw bytes back exactly, same records and reports, damage detected."""

from __future__ import annotations

import hashlib

import pytest

from ventbench.drivers.capture import CaptureReader, CaptureWriter, read_capture
from ventbench.drivers.capture_zstd import compress_part, raw_copy, raw_sha256
from ventbench.errors import FrameError


def _capture(path, n=2000, corrupt_at=None):
    with CaptureWriter(path, {"driver": "rig"}) as writer:
        for i in range(n):
            writer.rx(b"S %d %.3f %.3f\n" % (i, i * 0.25, 5.0 + (i % 50) / 10), t_ns=1_000_000 * i)
        writer.event("stop", reason="done")
    if corrupt_at is not None:  # a flipped byte inside some record and a torn tail
        data = bytearray(path.read_bytes())
        data[corrupt_at] ^= 0xFF
        path.write_bytes(bytes(data[:-7]))
    return path


@pytest.mark.parametrize("corrupt_at", [None, 5000])
def test_compressed_part_reads_exactly_as_the_raw_one(tmp_path, corrupt_at):
    raw = _capture(tmp_path / "capture-00-0000.vbcap", corrupt_at=corrupt_at)
    raw_bytes = raw.read_bytes()
    before = read_capture(raw)
    zst, digest = compress_part(raw)
    assert not raw.exists() and zst.name == "capture-00-0000.vbcap.zst"
    assert digest == hashlib.sha256(raw_bytes).hexdigest() == raw_sha256(zst)
    assert raw_copy(zst).read() == raw_bytes
    assert zst.stat().st_size < len(raw_bytes) / 3
    after = read_capture(zst)
    assert after[0] == before[0] and after[1] == before[1]
    assert after[2] == before[2]
    if corrupt_at is not None:
        assert after[2].corrupt and after[2].truncated_at is not None


def test_damaged_zst_is_a_clear_error(tmp_path):
    zst, _ = compress_part(_capture(tmp_path / "c.vbcap"))
    data = bytearray(zst.read_bytes())
    data[len(data) // 2] ^= 0x55
    zst.write_bytes(bytes(data))
    with pytest.raises(FrameError, match="damaged zstd capture"):
        CaptureReader(zst)


def test_failed_compression_keeps_the_raw_part(tmp_path, monkeypatch):
    raw = _capture(tmp_path / "c.vbcap")
    monkeypatch.setattr("ventbench.drivers.capture_zstd._sha256_of_frame", lambda path: "0" * 64)
    with pytest.raises(FrameError, match="raw file kept"):
        compress_part(raw)
    assert raw.exists() and not list(tmp_path.glob("*.zst")) and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("size", [0, 1, 28, 29 * 7 + 3, 29 * 3 * 2 + 5])
def test_blocked_transposition_round_trips_any_bytes(tmp_path, monkeypatch, size):
    """Full blocks are transposed and the partial tail kept: every length comes back exactly."""
    import os

    monkeypatch.setattr("ventbench.drivers.capture_zstd.ROWS", 3)  # blocks of 87 bytes
    raw = tmp_path / "x.vbcap"
    data = os.urandom(size)
    raw.write_bytes(data)
    zst, digest = compress_part(raw)
    assert raw_copy(zst).read() == data and digest == hashlib.sha256(data).hexdigest()
