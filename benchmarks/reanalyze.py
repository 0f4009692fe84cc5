"""Archive re-analysis and history throughput (figures for the README, not a test).

1. An archive of N one-hour reliability sessions from the simulated rig
   (``ventbench run reliability --port sim://rig?speed=max --duration 1h``; kept in
   ``--archive DIR`` between runs), re-analysed one by one with ``ventbench replay`` and then
   at once with ``ventbench reanalyze --workers W`` (a local Dask cluster): wall times, the
   speed-up, and the peak memory of each worker.
2. The history with 10 000 sessions (8 points × 5 checks each) in SQLite and in PostgreSQL
   (a throw-away server from the system's ``initdb``/``pg_ctl``, or ``--pg URL`` with the
   password in ``$VENTBENCH_HISTORY_PASSWORD``): write time per session, then the time of
   ``list_sessions``, ``check_trend`` and the fleet summary.

Usage: ``python benchmarks/reanalyze.py [--sessions 20] [--history-sessions 10000]``
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VB = [sys.executable, "-m", "ventbench"]


def make_archive(archive: Path, n: int) -> list[Path]:
    archive.mkdir(parents=True, exist_ok=True)
    have = sorted(p for p in archive.iterdir() if (p / "stop.json").exists())
    while len(have) < n:
        subprocess.run(VB + ["run", "reliability", "--port", "sim://rig?speed=max", "--driver",
                             "rig", "--duration", "1h", "--no-report", "--no-history", "--out",
                             str(archive)], check=False, capture_output=True)
        have = sorted(p for p in archive.iterdir() if (p / "stop.json").exists())
    return have[:n]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_reanalysis(sessions: list[Path], workers: int) -> None:
    """Wall and CPU time (user + system of all child processes) of both ways; the CPU time
    tells a loaded machine (wall ≫ CPU) from real work."""
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), _children_cpu_s()
    for s in sessions:
        subprocess.run(VB + ["replay", str(s)], check=False, capture_output=True)
    serial_s, serial_cpu_s = time.perf_counter() - t0, _children_cpu_s() - c0
    t0, c0 = time.perf_counter(), _children_cpu_s()
    proc = subprocess.run(VB + ["reanalyze", *map(str, sessions), "--workers", str(workers),
                                "--no-history"], capture_output=True, text=True)
    cluster_s, cluster_cpu_s = time.perf_counter() - t0, _children_cpu_s() - c0
    memory = re.search(r"peak memory per worker: (.*)", proc.stdout)
    print(f"re-analysis of {len(sessions)} one-hour sessions: replay one by one {serial_s:.1f} s "
          f"(CPU {serial_cpu_s:.1f} s); reanalyze --workers {workers} {cluster_s:.1f} s "
          f"(CPU {cluster_cpu_s:.1f} s, cluster start included; exit {proc.returncode}); "
          f"speed-up {serial_s / cluster_s:.2f}x; peak memory per worker: "
          f"{memory.group(1) if memory else '?'}; load average before {load:.1f}, after "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _results() -> dict:
    points = []
    for p in range(8):
        checks = [{"quantity": q, "set": 500.0, "mean": 500.0 + p * 0.1, "max_abs_error": 1.0 + p,
                   "achieved": {"abs": 4.0, "rel": 0.01}, "n_breaths": 30, "verdict": "PASS"}
                  for q in ("vt", "peep", "pinsp", "rate", "ti")]
        points.append({"id": f"p{p}", "checks": checks})
    return {"verdict": "PASS", "points": points}


def bench_history(url: str, n: int) -> None:
    from ventbench.bench import history, history_store
    from ventbench.bench.fleet import fleet_rows, summarise

    results = _results()
    t0 = time.perf_counter()
    for i in range(n):
        sid = f"2026{i:08d}-iso"
        start = {"session_id": sid, "time_utc": f"2026-01-01T00:00:00.{i:06d}Z",
                 "dut": {"name": "proto", "serial": f"U{i % 2000:04d}", "firmware": f"fw{i % 4}"},
                 "protocol": {"id": "iso"}}
        # no records on disk: indexed as verified (as the history tests do), else the
        # integrity rule would leave every check out and the queries would time nothing
        history.index_session(url, Path("/archive") / sid, start, {"status": "completed"}, results,
                              integrity=(history.VERIFIED, None))
    write_s = time.perf_counter() - t0
    timings = {}
    for name, call in (("list_sessions", lambda: history.list_sessions(url)),
                       ("check_trend", lambda: history.check_trend(url)),
                       ("fleet", lambda: summarise(fleet_rows(url)))):
        t0 = time.perf_counter()
        call()
        timings[name] = time.perf_counter() - t0
    kind = url.split(":", 1)[0]
    print(f"history {kind}: {n} sessions × 40 checks written in {write_s:.1f} s "
          f"({1000 * write_s / n:.1f} ms per session); "
          + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    history_store.dispose_all()


def throwaway_postgres(root: Path) -> tuple[str, Path, list[str]]:
    found = shutil.which("initdb") or (sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [None])[-1]
    if not found:
        raise SystemExit("no PostgreSQL (initdb) on this machine: pass --pg URL")
    bin_dir = Path(os.path.realpath(found)).parent
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    (root / "pw").write_text("bench\n")
    if as_user:
        shutil.chown(root / "pw", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *c: subprocess.run(as_user + [str(x) for x in c], check=True, capture_output=True)  # noqa: E731
    run(bin_dir / "initdb", "-D", root / "data", "-U", "vb", "--pwfile", root / "pw",
        "--auth-host=scram-sha-256", "--no-sync")
    run(bin_dir / "pg_ctl", "-D", root / "data", "-l", root / "log", "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")
    os.environ["VENTBENCH_HISTORY_PASSWORD"] = "bench"
    subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "vb",
                    "history"], env={**os.environ, "PGPASSWORD": "bench"}, check=True)
    stop = as_user + [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"]
    return f"postgresql://vb@127.0.0.1:{port}/history", bin_dir, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--archive", type=Path, default=Path(tempfile.gettempdir()) / "ventbench-archive")
    parser.add_argument("--history-sessions", type=int, default=10_000)
    parser.add_argument("--pg", default=None, help="an existing postgresql://USER@HOST/DB")
    parser.add_argument("--skip-reanalysis", action="store_true")
    parser.add_argument("--skip-history", action="store_true")
    args = parser.parse_args()
    if not args.skip_reanalysis:
        t0 = time.perf_counter()
        sessions = make_archive(args.archive, args.sessions)
        print(f"archive: {len(sessions)} one-hour sessions in {args.archive} "
              f"({time.perf_counter() - t0:.0f} s to make or find)")
        bench_reanalysis(sessions, args.workers)
    if args.skip_history:
        return
    with tempfile.TemporaryDirectory(prefix="ventbench-hbench-") as tmp:
        bench_history(f"sqlite:///{Path(tmp) / 'h.sqlite'}", args.history_sessions)
        stop = None
        url = args.pg
        if url is None:
            pg_root = Path(tempfile.mkdtemp(prefix="ventbench-hbench-pg-"))  # postgres-owned
            url, _, stop = throwaway_postgres(pg_root)
        try:
            bench_history(url, args.history_sessions)
        finally:
            if stop:
                subprocess.run(stop, capture_output=True)
                shutil.rmtree(pg_root, ignore_errors=True)


if __name__ == "__main__":
    main()
