"""Start-up time of the command line: ``ventbench --help`` and ``ventbench analyze --help``.

Each command runs as a fresh subprocess (``python -m ventbench ...``, the interpreter of
this script), ``--repeat`` times; printed: best and median wall time, best CPU time (user +
system of the child: steadier than wall time on a shared machine), the bare interpreter
(``python -c pass``) as the floor, and whether numpy, scipy or matplotlib were imported.

Target: ``--help`` ≤ 0.15 s.

Usage::

    python benchmarks/startup.py               # best of 15
    python benchmarks/startup.py --repeat 30
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

TARGET_S = 0.15
COMMANDS = (("python -c pass", ["-c", "pass"]),
            ("ventbench --help", ["-m", "ventbench", "--help"]),
            ("ventbench analyze --help", ["-m", "ventbench", "analyze", "--help"]))
HEAVY = ("numpy", "scipy", "matplotlib")
_PROBE = ("import runpy, sys\n"
          "sys.argv = ['ventbench'] + sys.argv[1:]\n"
          "try:\n    runpy.run_module('ventbench', run_name='__main__')\n"
          "except SystemExit:\n    pass\n"
          f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n")


def time_once(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU time of one ``python ARGV`` run, s (output discarded; must exit 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *argv], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str]) -> str:
    """Heavy packages imported by ``ventbench ARGS`` ("" when none)."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                          text=True, check=True)
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per command (default 15)")
    opts = parser.parse_args()
    worst = 0.0
    for label, argv in COMMANDS:
        runs = [time_once(argv) for _ in range(opts.repeat)]
        times = [wall for wall, _ in runs]
        best, median = min(times), statistics.median(times)
        cpu = min(c for _, c in runs)
        heavy = heavy_imports(argv[2:]) if argv[0] == "-m" else ""
        if argv[0] == "-m":
            worst = max(worst, best)
        print(f"{label:28s} best {best * 1000:7.1f} ms   median {median * 1000:7.1f} ms   "
              f"CPU best {cpu * 1000:7.1f} ms"
              + (f"   heavy imports: {heavy or 'none'}" if argv[0] == "-m" else ""))
    verdict = "met" if worst <= TARGET_S else "NOT met"
    print(f"target --help <= {TARGET_S * 1000:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
