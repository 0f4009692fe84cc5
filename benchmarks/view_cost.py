"""Cost of the live view: CPU of a 1 kHz live session with one page open, and latency.

Runs ``ventbench run iso80601-2-12-vc --point vc-01`` against ``sim://rig?speed=1`` (real
time) at ``--rate`` Hz (default 1000) with the automated operator, twice: without the view,
and with ``--view`` and one headless Chromium page open on it (Selenium; the browser's own
CPU is not counted — it is another process). For each, the session process's CPU (user +
system, all threads, from /proc/PID/stat) over wall time in the steady state: from
``--warmup`` s after start to the last live breath line (the closing re-analysis, the
report and start-up are excluded; the total, from getrusage, is printed too).

Latency: the page records, for every frame it draws, the wall time of the draw minus the
wall time at which the newest block in that frame reached the view's hub (the breath sink
hands each block over right after it is decoded and analysed); median, 95th percentile and
maximum over the steady state. Goals: whole session ≤ 15 % of one core, latency ≤ 200 ms.

Usage: ``python benchmarks/view_cost.py [--breaths 12] [--rate 1000] [--warmup 8]``
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def session(args: argparse.Namespace, view: bool) -> dict:
    out = tempfile.mkdtemp(prefix="ventbench-viewcost-")
    cmd = [sys.executable, "-m", "ventbench", "run", "iso80601-2-12-vc", "--point", "vc-01",
           "--port", "sim://rig?speed=1", "--driver", "rig", "--option", f"rate_hz={args.rate}",
           "--operator-mode", "auto", "--settle", "1", "--measure", str(args.breaths - 2),
           "--no-report", "--no-history", "--out", out] + (["--view"] if view else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    events: dict[str, float] = {}
    url: list[str] = []

    def read(stream, name):
        for line in stream:
            if name == "err" and (m := re.search(r"live view: (http://\S+)", line)):
                url.append(m.group(1))
            if name == "out" and re.match(r"\s+b\s*\d+ ", line):
                events["last_breath"] = time.monotonic()
            if "session ended" in line:
                events["ended"] = time.monotonic()

    for stream, name in ((proc.stdout, "out"), (proc.stderr, "err")):
        threading.Thread(target=read, args=(stream, name), daemon=True).start()
    browser = None
    if view:
        while not url and proc.poll() is None:
            time.sleep(0.05)
        browser = open_page(url[0])
        page_open = time.monotonic()
    samples: list[tuple[float, float]] = []
    while proc.poll() is None and "ended" not in events:
        try:
            samples.append((time.monotonic(), cpu_s(proc.pid)))
        except OSError:
            break
        time.sleep(0.25)
    latencies: list[float] = []
    frames = 0
    if browser is not None:
        latencies = browser.execute_script("return window.vbView.state.latencies")
        frames = browser.execute_script("return window.vbView.state.frames")
        browser.quit()
        proc.send_signal(signal.SIGINT)
    proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    end = events.get("last_breath", samples[-1][0])
    steady = [(t, c) for t, c in samples if t0 + args.warmup <= t <= end]
    (ta, ca), (tb, cb) = steady[0], steady[-1]
    wall = tb - ta
    result = {"view": view, "steady_wall_s": wall, "steady_cpu_pct": 100 * (cb - ca) / wall,
              "total_cpu_s": total_cpu_s, "total_wall_s": time.monotonic() - t0}
    if view:
        n = len(latencies)
        # keep the steady state: drop the first frames (page start-up) and the last ones
        lat = sorted(latencies[n // 10: n - n // 20] or latencies)
        result.update(frames=frames, fps=frames / (end - page_open),
                      latency_median_ms=1000 * statistics.median(lat),
                      latency_p95_ms=1000 * lat[int(0.95 * (len(lat) - 1))],
                      latency_max_ms=1000 * lat[-1])
    return result


def open_page(url: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get(url)
    return driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--breaths", type=int, default=12, help="breaths recorded (≥ 4)")
    parser.add_argument("--rate", type=int, default=1000, help="sample rate, Hz")
    parser.add_argument("--warmup", type=float, default=8.0, help="start of the steady state, s")
    args = parser.parse_args()
    for view in (False, True):
        r = session(args, view)
        line = (f"{'with --view + 1 page' if view else 'without the view   '}: steady "
                f"{r['steady_cpu_pct']:5.1f} % of one core over {r['steady_wall_s']:.0f} s; "
                f"total {r['total_cpu_s']:.1f} s CPU in {r['total_wall_s']:.0f} s")
        if view:
            line += (f"; {r['frames']} frames ({r['fps']:.0f}/s); sample-to-draw latency "
                     f"median {r['latency_median_ms']:.0f} ms, p95 {r['latency_p95_ms']:.0f} ms, "
                     f"max {r['latency_max_ms']:.0f} ms")
        print(line, flush=True)
    print("goals: whole session ≤ 15 % of one core, latency ≤ 200 ms")


if __name__ == "__main__":
    main()
