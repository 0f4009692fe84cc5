"""``ventbench replay SESSION [--out DIR]``: re-decode, re-analyse, compare with the record.

Every point's capture is read back through ``replay://`` and the driver it was recorded
with, analysed with the configuration frozen in ``start.json``, and compared with the
recorded ``results.json``. Identical → the exit code of the session's verdict (0 PASS,
1 FAIL, 2 INCONCLUSIVE); any difference → each one listed as (point, quantity, old, new)
and exit 1. With ``--out DIR`` the replay writes its own results.json, junit.xml, the
re-captures and a replay.json there.

A session killed mid-point (no ``stop.json``) still replays: the last point is marked
incomplete.

A reliability session's captures are replayed by ``bench/reliability/replay.py``; with
``--jobs N`` (N > 1) their decoding is spread over N worker processes with the same results
(``bench/reliability/parallel_replay.py``); a worker that dies ends the replay with exit 4,
naming the capture part and byte range it was decoding. A protocol session's points are
independent: ``--jobs N`` analyses them in N processes (``bench/point_pool.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ventbench.bench.view.options import add_view_arguments, speed
from ventbench.exit_codes import EXIT_FAIL, exit_code_for_verdict

HELP = "re-decode a session's captures, re-analyse, and compare with its recorded results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", type=Path, metavar="SESSION", help="a session directory")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="write the replay's results, junit.xml and re-captures here")
    parser.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                        help="N worker processes: a reliability run's captures decoded in time "
                             "spans, a protocol session's points analysed apart (same results; "
                             "default 1: one pass in this process)")
    parser.add_argument("--speed", default="max", metavar="X|max", type=speed,
                        help="with --view: play the captures to the page at this time factor "
                             "(default max)")
    add_view_arguments(parser)


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of processes 1 … 64, found {text!r}")
    return n


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.view.options import keep_serving, start_view

    view = start_view(args)  # --view: the captures played to the live page (bench/view/)
    code = _replay(args, view)
    keep_serving(view)
    return code


def _replay(args: argparse.Namespace, view: Any = None) -> int:
    from ventbench.bench.junit import write_junit
    from ventbench.bench.reanalysis import RESULTS_FILE, reanalyze_session
    from ventbench.bench.session import iso_utc, load_session, utc_now, write_json_atomic

    start, stop = load_session(args.session)
    if start.get("kind") == "certification":  # stages chained: bench/certification.py
        from ventbench.bench.certification import replay_certification

        return replay_certification(args.session, args.out)
    if start.get("kind") == "reliability":  # a days-long run: bench/reliability/replay.py
        from ventbench.bench.reliability.replay import replay_command

        return replay_command(args.session, args.out, stop is not None, getattr(args, "jobs", 1))
    if view is not None:
        from ventbench.bench.view.replay import play_session

        play_session(args.session, start, view.hub, args.speed)
    out = args.out
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    outcome = reanalyze_session(args.session, start, out, getattr(args, "jobs", 1))
    new = outcome.recomputed
    print(f"replay {args.session}: {outcome.n_points} point(s) re-decoded and re-analysed")
    if stop is None:
        print("  aborted: no stop record (the session was killed); replaying what was recorded")
    for pid in outcome.incomplete:
        print(f"  point {pid}: incomplete (recording stopped mid-point)")
    for point in new["points"]:
        reason = f" — {point['reason']}" if point.get("reason") else ""
        print(f"  {point['id']:<8} {point['verdict']:<12}{reason[:110]}")
    if out is not None:
        write_json_atomic(out / RESULTS_FILE, new)
        write_junit(out / "junit.xml", new, f"replay-{start.get('session_id')}")
        write_json_atomic(out / "replay.json", {
            "schema": "ventbench.replay/1", "session": str(args.session.resolve()),
            "session_id": start.get("session_id"), "time_utc": iso_utc(utc_now()),
            "identical": not outcome.differences and outcome.recorded is not None,
            "differences": [d.__dict__ for d in outcome.differences],
        })
    if outcome.recorded is None:
        print("replay: no recorded results.json to compare with; verdict of the replay: "
              f"{new['verdict']}")
        return exit_code_for_verdict(new["verdict"])
    if outcome.differences:
        print(f"replay: {len(outcome.differences)} difference(s) from the recorded results:")
        print(f"  {'point':<6} {'quantity':<36} old / new")
        for d in outcome.differences:
            print(f"  {d}")
        return EXIT_FAIL
    print(f"replay: identical to the recorded results; session verdict {new['verdict']}")
    return exit_code_for_verdict(new["verdict"])
