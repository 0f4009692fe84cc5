"""``ventbench verify SESSION_OR_PDF``: do the files and the results still match the data?

Three checks, each reported:

1. every file named in ``stop.json`` has the SHA-256 recorded there (any changed byte in a
   capture, a trace, the results or the report is named);
2. the captures, re-decoded and re-analysed, give the recorded ``results.json``;
3. when ``bench.report`` exists and provides ``embedded_results_sha256(pdf)``, the report's
   embedded results hash equals the SHA-256 of ``results.json``.

A session without ``stop.json`` (killed with ``kill -9``) is reported as
"aborted: no stop record" — not a crash — and verify exits 2. Exit 0 only when everything
matches; 1 when something differs; 3 when the argument is not a session.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from ventbench.bench.session import STOP_FILE, check_hashes, load_session, read_json, sha256_file
from ventbench.errors import BenchError, ConfigError
from ventbench.exit_codes import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS

HELP = "recompute hashes and results of a session; say whether everything still matches"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", type=Path, metavar="SESSION_OR_PDF",
                        help="a session directory, or a report.pdf inside one")
    parser.add_argument("--no-reanalysis", action="store_true",
                        help="check the hashes only (fast)")


def _session_dir(path: Path) -> tuple[Path, Path | None]:
    if path.is_file() and path.suffix.lower() == ".pdf":
        return path.parent, path
    if path.is_dir():
        return path, None
    raise ConfigError(f"{path}: not a session directory or a report PDF")


def _report_hash_problem(session: Path, pdf: Path | None) -> str | None:
    """Problem with the report's embedded results hash, or None when fine or not checkable
    (what was or was not checked is printed)."""
    pdf = pdf or session / "report.pdf"
    if not pdf.exists():
        return None
    try:
        report = importlib.import_module("ventbench.bench.report")
        read_hash = report.embedded_results_sha256
    except (ImportError, AttributeError):
        print(f"  {pdf.name}: embedded results hash not checked "
              "(bench.report.embedded_results_sha256 is not available)")
        return None
    embedded = read_hash(pdf)
    actual = sha256_file(session / "results.json")
    if embedded != actual:
        return (f"{pdf.name}: embedded results sha256 {str(embedded)[:12]}… "
                f"does not match results.json {actual[:12]}…")
    print(f"  {pdf.name}: embedded results hash matches results.json")
    return None


def run(args: argparse.Namespace) -> int:
    session, pdf = _session_dir(args.session)
    problems: list[str] = []
    try:
        start, stop = load_session(session)
    except ConfigError as error:
        # An unreadable start record is itself a changed file: still check every hash.
        if not (session / STOP_FILE).is_file():
            raise
        start, stop = {}, read_json(session / STOP_FILE, "session stop record")
        problems.append(f"start record unreadable, nothing re-analysed: {error}")
    print(f"verify {session}")
    for problem in problems:
        print(f"  CHANGED: {problem}")
    if stop is None:
        print(f"  aborted: no stop record ({STOP_FILE} missing: the session was killed); "
              "no hashes to check")
    else:
        mismatches = check_hashes(session, stop)
        named = len(stop.get("files") or {})
        hard = [m for m in mismatches if m.problem != "not in stop record"]
        for m in mismatches:
            print(f"  {'CHANGED' if m in hard else 'note'}: {m}")
        problems += [str(m) for m in hard]
        if not hard:
            print(f"  hashes: {named} files match stop.json")
        report_problem = _report_hash_problem(session, pdf)
        if report_problem:
            print(f"  CHANGED: {report_problem}")
            problems.append(report_problem)
    if not start:
        pass  # no start record to re-analyse from (reported above)
    elif not args.no_reanalysis and start.get("kind") == "reliability":  # bench/reliability/replay.py
        from ventbench.bench.reliability.replay import replay_session

        diffs = replay_session(session)
        for d in diffs:
            print(f"  DIFFERS: {d}")
        if diffs:
            problems.append(f"{len(diffs)} reliability differences")
        else:
            print("  re-analysis: reliability captures re-decoded, breaths and events identical")
    elif not args.no_reanalysis:
        from ventbench.bench.reanalysis import reanalyze_session

        try:
            outcome = reanalyze_session(session, start)
        except BenchError as error:
            print(f"  re-analysis: cannot re-analyse ({error})")
            problems.append(str(error))
        else:
            if outcome.differences:
                for d in outcome.differences:
                    print(f"  DIFFERS: {d}")
                problems.append(f"{len(outcome.differences)} result differences")
            elif outcome.recorded is None:
                print(f"  re-analysis: {outcome.n_points} points re-analysed; "
                      "no recorded results.json to compare with")
            else:
                print(f"  re-analysis: {outcome.n_points} points re-analysed, results identical")
    if problems:
        print(f"verify: MISMATCH ({len(problems)} problem(s))")
        return EXIT_FAIL
    if stop is None:
        print("verify: aborted: no stop record — the recorded data is consistent but incomplete")
        return EXIT_INCONCLUSIVE
    print("verify: OK — every file and every result matches")
    return EXIT_PASS
