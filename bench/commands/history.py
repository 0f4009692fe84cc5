"""``ventbench history``: finished sessions, each check's trend across firmware, fleet views.

``--history URL`` picks the database (SQLite file by default, or a shared PostgreSQL);
``--sync`` indexes the sessions that were kept while that database was unreachable;
``--fleet`` shows per quantity the errors over units (yield, worst units, firmware drift),
``--fleet-pdf FILE`` the same as plots.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ventbench.bench.history import check_trend, list_sessions
from ventbench.bench.history_url import add_history_argument, resolve
from ventbench.bench.numbers import format_number
from ventbench.bench.session import default_sessions_root

HELP = "list indexed sessions and each check's trend across firmware versions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None,
                        help="sessions root holding ventbench-history.sqlite "
                             "(default $VENTBENCH_SESSIONS or ./sessions)")
    parser.add_argument("--device", help="only sessions of this device under test")
    parser.add_argument("--protocol", help="only sessions of this protocol id")
    parser.add_argument("--index", type=Path, nargs="*", metavar="SESSION",
                        help="(re)index these session directories first")
    add_history_argument(parser)
    parser.add_argument("--sync", action="store_true",
                        help="index the sessions kept while the history was unreachable "
                             "(SESSIONS_ROOT/.history-pending)")
    parser.add_argument("--fleet", action="store_true",
                        help="per quantity: errors over units (yield, worst units) and the "
                             "drift between firmware versions")
    parser.add_argument("--fleet-pdf", type=Path, default=None, metavar="FILE",
                        help="write the fleet views as plots to this PDF")


def _fmt(value: object, digits: int = 3) -> str:
    return format_number(value, digits, trim=True)


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.history_sync import _index_from_disk, pending, sync

    root = args.root if args.root is not None else default_sessions_root()
    target = resolve(args.history, root)
    if args.sync:
        report = sync(args.history, root)
        print(f"history --sync: {len(report.indexed)} session(s) indexed into {target}"
              + (f": {', '.join(report.indexed)}" if report.indexed else ""))
        for marker, reason in report.failed:
            print(f"  not indexed (kept in {marker}): {reason}")
    for session_dir in args.index or []:
        _index_from_disk(target, Path(session_dir))
    if target.path is not None and not target.path.exists():
        print(f"no history yet: {target.path} does not exist (sessions are indexed when they finish)")
        return 0
    sessions = list_sessions(target, args.device, args.protocol)
    print(f"{len(sessions)} session(s) in {target}")
    waiting = pending(root)
    if waiting:
        print(f"{len(waiting)} session(s) waiting to be synchronised "
              f"(ventbench history --sync): {', '.join(p.stem for p in waiting)}")
    header = ("session", "started (UTC)", "device", "serial", "firmware", "protocol", "operator",
              "verdict")
    rows = [
        (s["started_utc"] or "", s["device"] or "—", s["serial"] or "—", s["firmware"] or "—",
         s["protocol"] or "—", s["operator"] or "—",
         (s["verdict"] or s["status"] or "—") if s.get("integrity") in (None, "verified")
         else f"NOT VERIFIED ({s['verdict'] or s['status'] or '—'} recorded)",
         s["session_id"])
        for s in sessions
    ]
    _table(header, rows)
    for s in sessions:
        if s.get("integrity") not in (None, "verified"):
            print(f"  {s['session_id']}: {s['integrity']} — left out of the trends")
    trend = check_trend(target, args.device, args.protocol)
    if trend:
        print()
        print("trend of each check across firmware (worst over all points of the protocol):")
        header = ("protocol", "quantity", "firmware", "sessions", "mean err", "max|err|",
                  "achieved rel", "FAILs")
        rows = [
            (t["protocol"] or "—", t["quantity"], t["firmware"] or "—", str(t["sessions"]),
             _fmt(t["mean_error"]), _fmt(t["max_abs_error"]),
             "—" if t["achieved_rel"] is None else f"{100 * t['achieved_rel']:.1f} %",
             str(t["fails"]))
            for t in trend
        ]
        _table(header, rows)
    if args.fleet or args.fleet_pdf is not None:
        _fleet(args, target)
    return 0


def _fleet(args: argparse.Namespace, target: object) -> None:
    from ventbench.bench.fleet import fleet_rows, fleet_tables, summarise, write_fleet_pdf

    fleets, drifts = summarise(fleet_rows(target, args.device, args.protocol))
    if args.fleet:
        (head, rows), (dhead, drows) = fleet_tables(fleets, drifts)
        print()
        print("fleet: per quantity, the worst |error| of each unit's latest session "
              "(unit = serial number):")
        _table(head, rows)
        print()
        print("drift between firmware versions (mean signed error over units, each unit once):")
        _table(dhead, drows)
    if args.fleet_pdf is not None:
        title = f"ventbench fleet — {args.device or 'all devices'}"
        path = write_fleet_pdf(args.fleet_pdf, fleets, drifts, title)
        print(f"fleet report: {path}")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
