"""Single-pass vs parallel replay of a long reliability run (figures for the README, not a test).

A reliability run of ``--duration`` (default 1 day) at 1 kHz from the simulated rig
(``ventbench run reliability --port 'sim://rig?speed=max&rate_hz=1000'``; kept in
``--session-root DIR`` between runs) is replayed once with ``--jobs 1`` and once with
``--jobs N``, each in a fresh interpreter, which reports its wall time, its own CPU time and
peak RSS and, for the parallel replay, its workers' CPU time and largest peak RSS
(``resource.getrusage`` in each worker, after its last span). The store and events of both
replays must be byte-identical. The 14-day figure is an extrapolation by the number of
samples (1 209.6 M at 1 kHz), stated as such.

Usage: ``python benchmarks/replay_parallel.py [--duration 1d] [--jobs 2] [--session-root DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VB = [sys.executable, "-m", "ventbench"]
SAMPLES_14_D = 14 * 86400 * 1000

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from ventbench.bench.reliability.replay import replay_into
if __name__ == "__main__":
    t0, c0 = time.perf_counter(), time.process_time()
    counts = replay_into(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({**counts, "wall_s": time.perf_counter() - t0,
                      "cpu_s": time.process_time() - c0, "peak_rss_bytes": use.ru_maxrss * 1024}))
"""


def make_session(root: Path, duration: str) -> Path:
    """The newest complete session under ``root``, recorded first if there is none."""
    root.mkdir(parents=True, exist_ok=True)
    have = sorted(p for p in root.iterdir() if (p / "stop.json").exists())
    if not have:
        t0 = time.perf_counter()
        subprocess.run(VB + ["run", "reliability", "--port", "sim://rig?speed=max&rate_hz=1000",
                             "--driver", "rig", "--duration", duration, "--no-report",
                             "--no-history", "--out", str(root)], check=False, capture_output=True)
        print(f"recorded {duration} in {time.perf_counter() - t0:.0f} s")
        have = sorted(p for p in root.iterdir() if (p / "stop.json").exists())
    return have[-1]


def replay(session: Path, out: Path, jobs: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(session), str(out), str(jobs)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="1d")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--session-root", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vb-replay-bench-") as tmp:
        root = args.session_root or Path(tmp) / "sessions"
        session = make_session(root, args.duration)
        parts = sorted((session / "points" / "reliability").glob("capture-*"))
        size = sum(p.stat().st_size for p in parts)
        print(f"session {session.name}: {len(parts)} parts, {size / 1e6:.0f} MB stored")
        results = {}
        for jobs in (1, args.jobs):
            out = Path(tmp) / f"jobs{jobs}"
            load = os.getloadavg()[0]
            r = replay(session, out, jobs)
            r["load_before"] = load
            results[jobs] = (r, files(out))
            rate = r["samples"] / r["wall_s"] / 1e6
            cpu = r["cpu_s"] + r.get("worker_cpu_s", 0.0)
            extra = (f", workers {r['worker_cpu_s']:.1f} s CPU, worker peak RSS "
                     f"{r['worker_peak_rss_bytes'] / 1e6:.0f} MB, {r['spans']} spans, "
                     f"{r['fallbacks']} fallbacks") if jobs > 1 else ""
            print(f"--jobs {jobs}: {r['samples'] / 1e6:.1f} M samples, {r['breaths']} breaths, "
                  f"wall {r['wall_s']:.1f} s ({rate:.2f} M samples/s), CPU {cpu:.1f} s "
                  f"(this process {r['cpu_s']:.1f} s), peak RSS {r['peak_rss_bytes'] / 1e6:.0f} MB"
                  f"{extra}; load average before {load:.1f}")
            print(f"   14 days at 1 kHz by extrapolation: wall "
                  f"{SAMPLES_14_D / r['samples'] * r['wall_s']:.0f} s, CPU "
                  f"{SAMPLES_14_D / r['samples'] * cpu:.0f} s")
        one, many = results[1][1], results[args.jobs][1]
        print("store and events identical:", one == many)


if __name__ == "__main__":
    main()
