"""``ventbench history``: finished sessions and the trend of each check across firmware."""

from __future__ import annotations

import argparse
from pathlib import Path

from ventbench.bench.history import check_trend, history_path, index_session, list_sessions
from ventbench.bench.numbers import format_number
from ventbench.bench.session import default_sessions_root, load_session, read_json

HELP = "list indexed sessions and each check's trend across firmware versions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None,
                        help="sessions root holding ventbench-history.sqlite "
                             "(default $VENTBENCH_SESSIONS or ./sessions)")
    parser.add_argument("--device", help="only sessions of this device under test")
    parser.add_argument("--protocol", help="only sessions of this protocol id")
    parser.add_argument("--index", type=Path, nargs="*", metavar="SESSION",
                        help="(re)index these session directories first")


def _fmt(value: object, digits: int = 3) -> str:
    return format_number(value, digits, trim=True)


def run(args: argparse.Namespace) -> int:
    root = args.root if args.root is not None else default_sessions_root()
    db = history_path(root)
    for session_dir in args.index or []:
        start, stop = load_session(session_dir)
        results_path = Path(session_dir) / "results.json"
        results = read_json(results_path, "results") if results_path.exists() else None
        index_session(db, session_dir, start, stop, results)
    if not db.exists():
        print(f"no history yet: {db} does not exist (sessions are indexed when they finish)")
        return 0
    sessions = list_sessions(db, args.device, args.protocol)
    print(f"{len(sessions)} session(s) in {db}")
    header = ("started (UTC)", "device", "serial", "firmware", "protocol", "operator", "verdict", "session")
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
    trend = check_trend(db, args.device, args.protocol)
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
    return 0


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
