"""Soak test of a reliability run: a simulated multi-day run at 1 kHz at full speed.

The whole live path runs — ``sim://rig`` port, capture (rotated), VBR/1 driver, continuous
time base, BreathStream, breath store, events, analysis, report pages — exactly as
``ventbench run reliability`` does it, with a few injected faults (a cable pull every 6 h,
rare garbage bursts, a device reset on day 1, skipped breaths, a slow VT drift).

Printed (and written as JSON with ``--json``): wall time, samples/s, peak RSS, the RSS
sampled every few seconds (flat = bounded memory), the session's size per simulated day
(captures and the rest separately) and the run's verdict.

Target: peak RSS ≤ 300 MB for any ``--days``. Not a timed test.

Usage::

    python benchmarks/soak.py --days 14             # the issue's figure (hours of wall time)
    python benchmarks/soak.py --days 1 --out /tmp/soak
    python benchmarks/soak.py --days 0.25 --no-faults
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

# benchmarks/analysis.py is named like the ``analysis`` package; keep this folder off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

TARGET_RSS_MB = 300.0


def rss_mb() -> float:
    """Current resident set of this process, MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def fault_query(days: float) -> str:
    """Injected faults: unplugs every 6 h (5 s), garbage, one reset, skips, VT drift."""
    unplugs = ",".join(str(int(h * 3600)) for h in range(6, int(days * 24), 6))
    parts = ["garbage=0.001", "skip_probability=0.0005", "vt_drift_pct_per_h=0.01", "unplug_s=5",
             "reset_at_s=30000"]
    if unplugs:
        parts.append(f"unplug_at_s={unplugs}")
    return "&".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=14.0, help="simulated days (default 14)")
    parser.add_argument("--rate-hz", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="keep the session here")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--no-report", action="store_true", help="skip report.pdf")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from ventbench.bench.live import Live
    from ventbench.bench.reliability.config import load_reliability
    from ventbench.bench.reliability.runner import ReliabilityRun

    root = args.out or Path(tempfile.mkdtemp(prefix="ventbench-soak-"))
    url = f"sim://rig?speed=max&seed={args.seed}&rate_hz={args.rate_hz}"
    if not args.no_faults:
        url += "&" + fault_query(args.days)
    config = load_reliability(duration=f"{args.days * 86400:.0f}s")
    samples_rss: list[tuple[float, float]] = []
    stop = threading.Event()
    t0 = time.monotonic()

    def sample() -> None:
        while not stop.wait(5.0):
            samples_rss.append((round(time.monotonic() - t0, 1), round(rss_mb(), 1)))

    threading.Thread(target=sample, daemon=True).start()
    run = ReliabilityRun(config, url, "rig", sessions_root=root, live=Live(progress_every_s=30),
                         render=not args.no_report)
    cpu0 = time.process_time()
    code = run.run()
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    stop.set()
    session = run.session.root
    captures = sum(p.stat().st_size for p in (session / "points").rglob("*.vbcap"))
    total = sum(p.stat().st_size for p in session.rglob("*") if p.is_file())
    results = json.loads((session / "results.json").read_text())["reliability"]
    samples = int(args.days * 86400 * args.rate_hz)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    figures = {
        "command": f"python benchmarks/soak.py --days {args.days:g} --rate-hz {args.rate_hz}",
        "url": url, "days": args.days, "rate_hz": args.rate_hz, "exit_code": code,
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "samples": samples,
        "samples_per_s": round(samples / wall), "simulated_s_per_wall_s": round(args.days * 86400 / wall, 1),
        "peak_rss_mb": round(peak, 1), "rss_target_mb": TARGET_RSS_MB, "rss_samples_mb": samples_rss[::6],
        "capture_mb_per_day": round(captures / 1e6 / args.days, 1),
        "other_mb_per_day": round((total - captures) / 1e6 / args.days, 3),
        "breaths": results["breaths"], "verdict": results["verdict"], "uptime_pct": results["uptime_pct"],
        "events": results["events"], "session": str(session),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    if args.out is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if peak <= TARGET_RSS_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
