"""``ventbench reanalyze SESSION... [--scheduler tcp://HOST:PORT] [--workers N]``.

Re-analyses an archive on Dask (a local cluster of worker processes by default) through the
code of ``ventbench replay``; each session's results go to
``SESSION/reanalysis/<analysis version>/results.json`` and to the history, marked with that
version. Exit 0 when every session was re-analysed (whatever the verdicts and differences:
after an analysis change they are the information sought), 4 when any could not be read or
analysed (each one listed).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ventbench.bench.args import number
from ventbench.bench.history_url import add_history_argument
from ventbench.errors import ConfigError
from ventbench.exit_codes import EXIT_DEVICE, EXIT_PASS

HELP = "re-analyse many sessions on a Dask cluster into SESSION/reanalysis/VERSION/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sessions", type=Path, nargs="+", metavar="SESSION",
                        help="session directories (or folders holding sessions)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="a running Dask scheduler (default: a local cluster)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, metavar="N",
                        help="worker processes of the local cluster (default: the cores)")
    parser.add_argument("--split-over", type=number(0, integer=True), default=512, metavar="MIB",
                        help="split a reliability session with more capture than this (MiB on disk) "
                             "in time over the workers (default 512; docs/history.md)")
    add_history_argument(parser)
    parser.add_argument("--no-history", action="store_true",
                        help="do not write the re-analysis to the history")


def expand(paths: list[Path]) -> list[Path]:
    """Session directories: each path that holds a start.json, else its children that do."""
    out = []
    for path in paths:
        if (path / "start.json").exists():
            out.append(path)
        elif path.is_dir() and any((c / "start.json").exists() for c in path.iterdir()):
            # every sub-folder: one without a start record is reported, not passed over
            out += sorted(c for c in path.iterdir() if c.is_dir() and not c.name.startswith("."))
        else:  # reported by the task as unreadable, not dropped here
            out.append(path)
    return out


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.reanalyze import reanalyze_archive

    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: expected at least 1")
    sessions = expand(args.sessions)
    report = reanalyze_archive(sessions, scheduler=args.scheduler, workers=args.workers,
                               history_url=args.history, write_history=not args.no_history,
                               split_bytes=int(args.split_over) * 1024 * 1024)
    changed = [e for e in report.done if e["differences"]]
    print(f"reanalyze: {len(report.done)} of {len(sessions)} session(s) re-analysed "
          f"(version {report.version}); {len(changed)} differ from the recorded results")
    for entry in changed:
        print(f"  {entry['session_id']}: {entry['recorded_verdict']} -> {entry['verdict']}; "
              + "; ".join(entry["differences"][:3]))
    for line in report.history_errors:
        print(f"  history not updated: {line}")
    if report.worker_peak_rss_mb:
        print("peak memory per worker: " + ", ".join(
            f"{v:.0f} MB" for v in report.worker_peak_rss_mb.values()))
    if report.failed:
        print(f"reanalyze: {len(report.failed)} session(s) NOT re-analysed:")
        for entry in report.failed:
            print(f"  {entry['session']}: {entry['error']}")
        return EXIT_DEVICE
    return EXIT_PASS
