"""A huge Trace CSV through ``ventbench analyze``: peak memory, and what happens.

Writes a valid Trace CSV of ``--size-gb`` (default 2 GiB; ``--rate-hz``, default 1 kHz;
VC 500 mL / 20 bpm with sensor noise) into a temporary directory, runs ``python -m ventbench analyze`` on it
as a child process and prints its exit status, its verdict line and its peak RSS.

A file whose estimated memory for a whole read (200 MB + 12 × its size;
``drivers.importers.check_memory``) exceeds the budget (``$VENTBENCH_MAX_MEMORY_MB``,
default half the physical memory) is analysed streamed when it is a Trace CSV
(``bench/trace_input.py``: blocks of rows into ``analysis.chunked.ChunkedAnalysis``), and
refused before it is read in the formats that are read whole. ``--budget-mb`` sets the
budget for the child (e.g. 250 to stream a small file).

Usage::

    python benchmarks/huge_file.py                  # 2 GiB, streamed: peak RSS and time
    python benchmarks/huge_file.py --size-gb 0.05   # read whole: peak RSS of a whole analysis
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
BLOCK_S = 3000  #: seconds of samples formatted at a time (a whole number of 3 s breaths)


def _block_text(start_s: float, rate_hz: float, rng: np.random.Generator) -> bytes:
    """``BLOCK_S`` of VC at ``rate_hz`` from ``start_s``: 20 bpm, Ti 1 s, sensor noise."""
    import io

    n = int(BLOCK_S * rate_hz)
    t = start_s + np.arange(n) / rate_hz
    phase = (t - start_s) % 3.0
    flow = np.where(phase < 1, 30.0, -60 * np.exp(-(phase - 1) / 0.3)) + rng.normal(0, 0.3, n)
    paw = np.where(phase < 1, 5 + 12 * phase, 5.0) + rng.normal(0, 0.05, n)
    digits = max(2, int(np.ceil(np.log10(rate_hz))))
    buf = io.BytesIO()
    np.savetxt(buf, np.column_stack([t, flow, paw]), fmt=[f"%.{digits}f", "%.3f", "%.3f"],
               delimiter=",")
    return buf.getvalue()


def write_trace(path: Path, size_bytes: int, rate_hz: float = 100.0) -> int:
    """Write a Trace CSV of about ``size_bytes`` (whole lines) sampled at ``rate_hz``;
    returns the samples written."""
    rng = np.random.default_rng(1)
    written, samples, block = 0, 0, 0
    with open(path, "wb") as out:
        out.write(HEADER)
        while written < size_bytes:
            text = _block_text(block * BLOCK_S, rate_hz, rng)
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
    parser.add_argument("--rate-hz", type=float, default=1000.0,
                        help="sample rate of the file, Hz (default 1000, a bench analyser's)")
    parser.add_argument("--budget-mb", type=float, default=None,
                        help="memory budget of the child, MB (default: $VENTBENCH_MAX_MEMORY_MB)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ventbench-huge-") as tmp:
        path = args.keep or Path(tmp) / "huge.csv"
        t0 = time.monotonic()
        samples = write_trace(path, int(args.size_gb * 2**30), args.rate_hz)
        print(f"wrote {path}: {path.stat().st_size / 2**30:.2f} GiB, {samples:,} samples "
              f"in {time.monotonic() - t0:.0f} s")
        t0 = time.monotonic()
        import os

        env = dict(os.environ)
        if args.budget_mb is not None:
            env["VENTBENCH_MAX_MEMORY_MB"] = str(args.budget_mb)
        code, text, peak_mb = run_measured(["analyze", str(path), "--mode", "vc", "--set",
                                            "vt_ml=500", "--set", "rate_bpm=20", "--set",
                                            "ti_s=1", "--set", "peep_cmh2o=5"], env=env)
        lines = text.strip().splitlines()
        print(f"analyze: exit {code} in {time.monotonic() - t0:.1f} s, peak RSS {peak_mb:.0f} MB")
        for line in lines:
            if line.startswith(("verdict:", "point ")) or "streamed" in line or "GiB" in line:
                print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
