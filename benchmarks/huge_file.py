"""A huge Trace CSV through ``ventbench analyze``: peak memory, and what happens.

Writes a valid Trace CSV of ``--size-gb`` (default 2 GiB; 100 Hz, VC 500 mL / 20 bpm
with sensor noise) into a temporary directory, runs ``python -m ventbench analyze`` on it
as a child process and prints its exit status, its first error line and its peak RSS.

The importers read a whole file at once (none streams yet), so a file whose estimated
memory (200 MB + 12 × its size; ``drivers.importers.check_memory``) exceeds the budget
(``$VENTBENCH_MAX_MEMORY_MB``, default half the physical memory) is refused before it is
read, with a message naming the file, its size and what to do. Without the check the 2 GiB
file grew to 24 GB and was killed (issue 15).

Usage::

    python benchmarks/huge_file.py                  # 2 GiB: refused, peak RSS of the refusal
    python benchmarks/huge_file.py --size-gb 0.05   # analysed: peak RSS of a whole analysis
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HEADER = b"# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n"
CHUNK = 1_000_000  #: samples per block: 10 000 s at 100 Hz


def _blocks() -> tuple[bytes, list[bytes]]:
    """The first block's text, and the lines of every later one as ``"SSSS.SS,flow,paw\n"``
    (the time's last 4 integer digits zero-padded; the block number is put before them,
    so time keeps increasing). 10 000 s at 100 Hz of VC with sensor noise."""
    rng = np.random.default_rng(1)
    t = np.arange(CHUNK) / 100.0
    phase = t % 3.0
    flow = np.where(phase < 1, 30.0, -60 * np.exp(-(phase - 1) / 0.3)) + rng.normal(0, 0.3, CHUNK)
    paw = np.where(phase < 1, 5 + 12 * phase, 5.0) + rng.normal(0, 0.05, CHUNK)
    rows = list(zip(t.tolist(), flow.tolist(), paw.tolist(), strict=True))
    first = "".join(f"{a:.2f},{b:.3f},{c:.3f}\n" for a, b, c in rows).encode()
    return first, [f"{a:07.2f},{b:.3f},{c:.3f}\n".encode() for a, b, c in rows]


def write_trace(path: Path, size_bytes: int) -> int:
    """Write a Trace CSV of about ``size_bytes`` (whole lines); returns the samples written."""
    first, rest = _blocks()
    written, samples, block = 0, 0, 0
    with open(path, "wb") as out:
        out.write(HEADER)
        while written < size_bytes:
            prefix = str(block).encode()
            text = first if block == 0 else b"".join([prefix + line for line in rest])
            if written + len(text) > size_bytes:  # the last block: only what is needed
                text = text[: text.rfind(b"\n", 0, size_bytes - written) + 1]
                if not text:
                    break
            out.write(text)
            written += len(text)
            samples += text.count(b"\n")
            block += 1
    return samples


#: Runs ventbench and, at exit, writes the process's own peak RSS (VmHWM: reset at exec,
#: unlike ``ru_maxrss``, which a forked child inherits from a big parent) to $VB_PEAK_FILE.
_MEASURED = (
    "import atexit, os, runpy\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            open(os.environ['VB_PEAK_FILE'], 'w').write(line.split()[1])\n"
    "atexit.register(_peak)\n"
    "runpy.run_module('ventbench', run_name='__main__', alter_sys=True)\n"
)


def run_measured(args: list[str], env: dict[str, str] | None = None,
                 ) -> tuple[int, str, float]:
    """``python -m ventbench ARGS``: (exit status, stdout + stderr, peak RSS in MB)."""
    import os

    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        proc = subprocess.run([sys.executable, "-c", _MEASURED, *args], capture_output=True,
                              text=True, env={**(env or os.environ), "VB_PEAK_FILE": str(peak_file)})
        peak_mb = int(peak_file.read_text()) / 1024 if peak_file.exists() else float("nan")
    return proc.returncode, proc.stdout + proc.stderr, peak_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="file size, GiB (default 2)")
    parser.add_argument("--keep", type=Path, default=None, help="write the file here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ventbench-huge-") as tmp:
        path = args.keep or Path(tmp) / "huge.csv"
        t0 = time.monotonic()
        samples = write_trace(path, int(args.size_gb * 2**30))
        print(f"wrote {path}: {path.stat().st_size / 2**30:.2f} GiB, {samples:,} samples "
              f"in {time.monotonic() - t0:.0f} s")
        t0 = time.monotonic()
        code, text, peak_mb = run_measured(["analyze", str(path), "--mode", "vc", "--set",
                                            "vt_ml=500", "--set", "rate_bpm=20", "--set",
                                            "ti_s=1", "--set", "peep_cmh2o=5"])
        lines = text.strip().splitlines()
        print(f"analyze: exit {code} in {time.monotonic() - t0:.1f} s, peak RSS {peak_mb:.0f} MB")
        print(f"  {lines[-1] if lines else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
