"""CPU share of live VBR/1 reception over a pseudo-terminal (target ≤ 10 % of one core).

A ``ventbench simulate`` child process serves the simulated rig on a pty at speed 1
(``--rate`` Hz, default 1000); this process receives it exactly as ``ventbench record``
does — :class:`drivers.transport.Acquisition` (reader thread, capture before decode,
:class:`drivers.rig.RigDriver`) and the streamed trace CSV — and measures its own CPU
time (user + system, all threads) over wall time in the steady state, after a warm-up.
The simulator's CPU is not counted (another process).

Also runs the real command (``python -m ventbench record``) as a child for the same duration and
reports its total CPU including interpreter start-up and imports.

``--reliability SECONDS`` instead runs ``python -m ventbench run reliability`` on the pty for that
long (the reliability issue's "CPU ≤ 10 % of one core at 1 kHz": capture, decode, streaming
breath analysis, breath store, events, status line) and reports the child's CPU in the steady
state (from /proc, between ``--warmup`` s and 5 s before the end) and in total (wait4,
including start-up and the closing analysis).

Usage: ``python benchmarks/live_cpu.py [--seconds 20] [--rate 1000] [--no-subprocess]``
       ``python benchmarks/live_cpu.py --reliability 300 [--warmup 15]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ventbench.drivers.importers.trace_csv import TraceCsvStream  # noqa: E402
from ventbench.drivers.registry import make_driver  # noqa: E402
from ventbench.drivers.transport import Acquisition  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def start_simulator(link: Path, rate_hz: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ventbench", "simulate", "--link", str(link), "--device", "rig",
         "--speed", "1", "--set", f"rate_hz={rate_hz}"], env=ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not link.is_symlink():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"simulate did not start: {proc.communicate()[1]!r}")
        time.sleep(0.05)
    return proc


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def in_process(link: Path, out: Path, seconds: float, warmup_s: float = 2.0,
               **acq_options) -> dict:
    driver = make_driver("rig")
    acq = Acquisition(str(link), driver, out / "capture.vbcap", **acq_options)
    acq.start()
    trace = TraceCsvStream(out / "trace.csv", driver.flow_condition.value, {})
    t0 = time.monotonic()
    mark = None
    while time.monotonic() - t0 < warmup_s + seconds:
        if mark is None and time.monotonic() - t0 >= warmup_s:
            mark = (time.monotonic(), cpu_s(), driver.counters.samples)
        block = acq.get(timeout=0.2)
        if block is not None:
            trace.append(block)
    wall, cpu, n = time.monotonic() - mark[0], cpu_s() - mark[1], driver.counters.samples - mark[2]
    acq.stop()
    trace.close()
    return {"wall_s": wall, "cpu_s": cpu, "cpu_pct": 100 * cpu / wall, "samples": n,
            "reads": acq.reads,
            "rate_hz": n / wall, "lost": driver.counters.lost_samples,
            "rejected": driver.counters.rejected_frames}


def as_command(link: Path, out: Path, seconds: float) -> dict:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ventbench", "record", "--port", str(link), "--driver", "rig",
         "--duration", f"{seconds}s", "--out", str(out)], env=ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "cpu_pct": 100 * cpu / wall,
            "exit": os.waitstatus_to_exitcode(status)}


def proc_cpu_s(pid: int) -> float:
    """User + system CPU of a running process, s (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def as_reliability(link: Path, out: Path, seconds: float, warmup_s: float) -> dict:
    """``ventbench run reliability`` on the pty for ``seconds``: steady-state and total CPU."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ventbench", "run", "reliability", "--port", str(link), "--driver",
         "rig", "--duration", f"{seconds:g}s", "--out", str(out), "--no-report", "--no-history",
         "--yes"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(warmup_s)
    a = (time.monotonic(), proc_cpu_s(proc.pid))
    time.sleep(max(1.0, seconds - warmup_s - 5.0))
    b = (time.monotonic(), proc_cpu_s(proc.pid))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    cpu = usage.ru_utime + usage.ru_stime
    results = [json.loads(p.read_text()) for p in out.glob("*/results.json")]
    block = results[0]["reliability"] if results else {}
    return {"steady_pct": 100 * (b[1] - a[1]) / (b[0] - a[0]), "steady_wall_s": b[0] - a[0],
            "wall_s": wall, "cpu_s": cpu, "cpu_pct": 100 * cpu / wall,
            "exit": os.waitstatus_to_exitcode(status), "stderr": proc.stderr.read().decode()[-300:],
            "verdict": block.get("verdict"), "reasons": block.get("reasons", []),
            "breaths": (block.get("breaths") or {}).get("total")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--no-subprocess", action="store_true")
    parser.add_argument("--batch-ms", type=float, default=None,
                        help="override Acquisition.batch_s (ms)")
    parser.add_argument("--reliability", type=float, default=None, metavar="SECONDS",
                        help="measure `ventbench run reliability` for this long instead")
    parser.add_argument("--warmup", type=float, default=15.0,
                        help="with --reliability: seconds before the steady state is measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sim = start_simulator(tmp / "rig", args.rate)
        try:
            if args.reliability is not None:
                rel = as_reliability(tmp / "rig", tmp / "r", args.reliability, args.warmup)
                print(f"`ventbench run reliability` child at {args.rate} Hz: steady state "
                      f"{rel['steady_pct']:.1f} % of one core (over {rel['steady_wall_s']:.0f} s); "
                      f"total incl. start-up and the closing analysis {rel['cpu_pct']:.1f} % "
                      f"({rel['cpu_s']:.2f} s CPU / {rel['wall_s']:.1f} s wall), exit {rel['exit']}"
                      f"  [target ≤ 10 %]")
                print(f"  {rel['breaths']} breaths, verdict {rel['verdict']}: "
                      + "; ".join(rel["reasons"]))
                if rel["exit"] not in (0, 1, 2):
                    print(rel["stderr"])
                return 0 if rel["steady_pct"] <= 10.0 and rel["exit"] in (0, 1, 2) else 1
            (tmp / "a").mkdir()
            opts = {} if args.batch_ms is None else {"batch_s": args.batch_ms / 1000}
            res = in_process(tmp / "rig", tmp / "a", args.seconds, **opts)
            print(f"receiver in process, steady state: {res['cpu_pct']:.1f} % of one core "
                  f"({res['cpu_s']:.2f} s CPU / {res['wall_s']:.1f} s wall), "
                  f"{res['rate_hz']:.0f} samples/s, lost {res['lost']}, "
                  f"rejected {res['rejected']}, {res['reads']} reads  [target ≤ 10 %]")
            if not args.no_subprocess:
                cmd = as_command(tmp / "rig", tmp / "b", args.seconds)
                print(f"`ventbench record` child, incl. start-up: {cmd['cpu_pct']:.1f} % "
                      f"({cmd['cpu_s']:.2f} s CPU / {cmd['wall_s']:.1f} s wall), "
                      f"exit {cmd['exit']}")
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(timeout=10)
    return 0 if res["cpu_pct"] <= 10.0 and res["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
