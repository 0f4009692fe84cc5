"""Throughput of streaming breath analysis on a long synthetic trace.

A synthetic adult ventilation trace (VC-like flow, 20 bpm, noise) at 1 kHz is generated
chunk by chunk — never held whole — and fed to :class:`analysis.stream.BreathStream`.
Printed: samples/s of the analysis alone, the ratio to one plain ``np.sum`` over the same
chunks (a memory-bandwidth reference), and the peak resident memory of the process.

Targets: >= 20 M samples/s on one core, peak RSS <= 500 MB for 24 h (86.4 M samples).

Usage::

    python benchmarks/analysis.py              # 24 h
    python benchmarks/analysis.py --hours 1    # a short run
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

# This script is named like the ``analysis`` package; keep its own folder off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from ventbench.analysis.stream import BreathStream  # noqa: E402

TARGET_SAMPLES_PER_S = 20e6
TARGET_RSS_MB = 500.0


def synthetic_chunk(i0: int, n: int, fs_hz: float, rng: np.random.Generator):
    """Samples ``i0 .. i0+n`` of an adult VC-like trace: (t_s, flow_lpm, paw_cmh2o)."""
    t = (i0 + np.arange(n)) / fs_hz
    cycle_s, ti_s = 3.0, 1.0
    u = np.mod(t, cycle_s)
    insp = u < ti_s
    ramp = np.minimum(1.0, np.minimum(u, ti_s - u) / 0.05)
    v = u - ti_s
    flow = np.where(insp, 30.0 * ramp, -90.0 * (1 - np.exp(-v / 0.05)) * np.exp(-v / 0.3))
    flow += rng.normal(0.0, 0.5, n)
    paw = np.where(insp, 5.0 + 15.0 * u, 5.0 + 15.0 * np.maximum(0.0, 1.0 - v / 0.4))
    return t, flow, paw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="trace length (default 24)")
    parser.add_argument("--fs-hz", type=float, default=1000.0, help="sample rate (default 1000)")
    parser.add_argument("--chunk-s", type=float, default=60.0, help="chunk length (default 60 s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    total = int(round(args.hours * 3600.0 * args.fs_hz))
    chunk = max(1, int(round(args.chunk_s * args.fs_hz)))
    rng = np.random.default_rng(args.seed)
    stream = BreathStream()
    # CPU time of this process: other jobs on the machine do not distort "one core" figures
    clock = time.process_time
    t_analysis = t_sum = wall = 0.0
    n_breaths = 0
    checksum = 0.0
    max_buffer = 0
    for i0 in range(0, total, chunk):
        t, flow, paw = synthetic_chunk(i0, min(chunk, total - i0), args.fs_hz, rng)
        c0 = clock()
        checksum += float(np.sum(flow))
        c1 = clock()
        w1 = time.perf_counter()
        n_breaths += len(stream.feed(t, flow, paw))
        c2 = clock()
        wall += time.perf_counter() - w1
        t_sum += c1 - c0
        t_analysis += c2 - c1
        max_buffer = max(max_buffer, stream.buffered_samples)
    c0 = clock()
    n_breaths += len(stream.finish())
    t_analysis += clock() - c0

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    rate = total / t_analysis
    print(f"samples            {total:,} ({args.hours:g} h at {args.fs_hz:g} Hz, chunks of {chunk:,})")
    print(f"breaths            {n_breaths:,} (expected about {int(total / args.fs_hz / 3.0) - 1:,})")
    print(f"analysis time      {t_analysis:.2f} s CPU ({wall:.2f} s wall)")
    print(f"throughput         {rate / 1e6:.1f} M samples/s (target >= {TARGET_SAMPLES_PER_S / 1e6:.0f})")
    print(f"np.sum reference   {total / t_sum / 1e6:.0f} M samples/s; analysis costs "
          f"{t_analysis / t_sum:.0f}x one np.sum")
    print(f"largest buffer     {max_buffer:,} samples")
    print(f"peak RSS           {rss_mb:.0f} MB (target <= {TARGET_RSS_MB:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
