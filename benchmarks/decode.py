"""Decode throughput of the VBR/1 host side (deframer + sample decoder), one core.

Builds a synthetic capture stream of ``--mb`` MB (default 100): a DESCRIBE, then 1 kHz
2-channel SAMPLE frames with a few EVENT/REPLY frames, corrupted now and then (bit flips,
garbage bursts with false sync words, dropped bytes), and feeds it to
:class:`drivers.rig.RigDriver` in ``--chunk`` byte pieces. Prints MB/s and the counters,
and checks the counters against what the generator knows it did.

Usage: ``python benchmarks/decode.py [--mb 100] [--chunk 1048576] [--seed 0]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ventbench.drivers.rig import RigDriver  # noqa: E402
from ventbench.drivers.vbr1.frames import (  # noqa: E402
    encode_describe,
    encode_event,
    encode_reply,
    encode_samples,
)

BLOCK_SAMPLES = 200_000
DESCRIBE = {"protocol": "VBR/1", "firmware": "bench", "rig_id": "BENCH", "rate_hz": 1000,
            "channels": [{"name": "flow", "unit": "L/min", "scale": 0.001, "condition": "STP20"},
                         {"name": "paw", "unit": "cmH2O", "scale": 0.001}]}


def build_stream(megabytes: float, seed: int = 0) -> tuple[bytes, dict[str, int]]:
    """A synthetic capture and what went into it (samples sent, frames corrupted)."""
    rng = np.random.default_rng(seed)
    parts = [encode_describe(DESCRIBE), encode_reply("OK")]
    size = sum(len(p) for p in parts)
    target = int(megabytes * 1e6)
    seq0 = 0
    corrupted = 0
    while size < target:
        n = BLOCK_SAMPLES
        seq = np.arange(seq0, seq0 + n)
        t = (seq + 1) * 1000
        phase = 2 * np.pi * seq / 3000.0
        ch = np.stack([np.round(30000 * np.sin(phase)), np.round(5000 + 10000 * (np.sin(phase) > 0))],
                      axis=1)
        status = np.where(rng.random(n) < 1e-3, 0b110000, 0)
        frames = np.frombuffer(encode_samples(seq, t, ch, status), dtype=np.uint8).reshape(n, -1)
        frames = frames.copy()
        # corruption: ~1 in 5000 frames gets a bit flip
        hit = np.flatnonzero(rng.random(n) < 2e-4)
        frames[hit, rng.integers(0, frames.shape[1], hit.size)] ^= np.uint8(0x10)
        corrupted += hit.size
        blob = frames.tobytes()
        # a garbage burst (with a false sync word) and an event every ~20 000 frames
        cut = sorted(rng.choice(n, size=max(1, n // 20000), replace=False).tolist())
        prev = 0
        for c in cut:
            parts.append(blob[prev * frames.shape[1] : c * frames.shape[1]])
            parts.append(b"\xa5\x5a\x01\x16\x00" + rng.integers(0, 256, 20, dtype=np.uint8).tobytes())
            parts.append(encode_event(int(t[c]), 3, "button"))
            prev = c
        parts.append(blob[prev * frames.shape[1] :])
        size += len(blob) + len(cut) * 40
        seq0 += n
    return b"".join(parts), {"sent": seq0, "corrupted": corrupted}


def run(data: bytes, chunk: int) -> tuple[float, float, RigDriver, int]:
    """Feed ``data`` in ``chunk`` pieces; return wall s, CPU s, the driver, samples."""
    driver = RigDriver()
    n = 0
    view = memoryview(data)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(data), chunk):
        n += len(driver.feed(view[i : i + chunk]))
    return time.perf_counter() - t0, time.process_time() - c0, driver, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0, help="stream size, MB (default 100)")
    ap.add_argument("--chunk", type=int, default=1 << 20, help="feed size, bytes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per chunk size (best kept)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data, truth = build_stream(args.mb, args.seed)
    print(f"built {len(data) / 1e6:.1f} MB, {truth['sent']} samples, "
          f"{truth['corrupted']} corrupted, in {time.perf_counter() - t0:.1f} s")
    mb = len(data) / 1e6
    for chunk in sorted({args.chunk, 65536}):
        runs = [run(data, chunk) for _ in range(max(1, args.repeat))]
        dt = min(r[0] for r in runs)
        cpu = min(r[1] for r in runs)
        _, _, driver, n = runs[-1]
        c = driver.counters
        print(f"chunk {chunk:>8} B: wall {dt:6.2f} s {mb / dt:6.1f} MB/s, CPU {cpu:6.2f} s "
              f"{mb / cpu:6.1f} MB/s, {n / cpu / 1e6:4.2f} M samples/s (best of {len(runs)})")
        print(f"    samples {c.samples} lost {c.lost_samples} "
              f"rejected {c.rejected_frames} discarded {c.discarded_bytes} B "
              f"events {len(c.events)} resets {c.resets}")
        ok = (c.samples + c.lost_samples == truth["sent"] and c.resets == 0
              and c.lost_samples <= truth["corrupted"])
        if not ok:
            print("counters do not match the generator", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
