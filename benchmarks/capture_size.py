"""Bytes a reliability run stores per sample at 1 kHz, raw and zstd-compressed (a figure, not a test).

Runs ``ventbench run reliability --port "sim://rig?speed=max" --duration D`` (the simulated
rig at its default 1 kHz, as fast as the machine goes), then reads the session's capture
parts: the compressed ``.vbcap.zst`` size on disk and the raw size each frame declares.
Printed: bytes per sample raw and stored, the compression ratio, and the storage of one day
at 1 kHz extrapolated from the run (the rig's byte stream is stationary, so the ratio does
not depend on the run's length).

Target: ≤ 0.5 GB per day at 1 kHz.

Usage::

    python benchmarks/capture_size.py                   # a 20 min run
    python benchmarks/capture_size.py --duration 1h
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_GB_PER_DAY = 0.5
RATE_HZ = 1000


def main(argv: list[str] | None = None) -> int:
    import zstandard

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", default="20m", help="run length (default 20m)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "ventbench", "run", "reliability", "--port",
             f"sim://rig?speed=max&rate_hz={RATE_HZ}", "--driver", "rig", "--duration", args.duration,
             "--no-report", "--no-history", "--yes", "--out", tmp],
            capture_output=True, text=True)
        wall_s = time.perf_counter() - t0
        parts = sorted(Path(tmp).glob("*/points/reliability/capture-*.vbcap*"))
        if not parts:
            raise SystemExit(f"no capture written (exit {done.returncode}): {done.stderr[-500:]}")
        stored = sum(p.stat().st_size for p in parts)
        raw = 0
        for part in parts:
            if part.suffix == ".zst":
                with open(part, "rb") as handle:
                    raw += zstandard.frame_content_size(handle.read(18)) - 10  # VBZ1 head
            else:
                raw += part.stat().st_size
        session = parts[0].parents[2]
        events = (session / "reliability" / "events.jsonl").read_text().splitlines()
        samples = sum(json.loads(line).get("samples", 0) for line in events
                      if '"segment_end"' in line)
    if not samples:
        raise SystemExit("the events log names no sample count (segment_end)")
    day = 86400 * RATE_HZ
    print(f"run: {args.duration} at {RATE_HZ} Hz ({samples} samples) in {wall_s:.1f} s; "
          f"{len(parts)} part(s), {sum(p.suffix == '.zst' for p in parts)} compressed")
    print(f"raw capture     : {raw / samples:.2f} B/sample = {raw / samples * day / 1e9:.2f} GB/day")
    print(f"stored (zstd)   : {stored / samples:.2f} B/sample = {stored / samples * day / 1e9:.3f} GB/day "
          f"({raw / stored:.1f}× smaller)")
    verdict = "meets" if stored / samples * day / 1e9 <= TARGET_GB_PER_DAY else "MISSES"
    print(f"{verdict} the ≤ {TARGET_GB_PER_DAY} GB/day target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
