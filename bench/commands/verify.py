"""``ventbench verify SESSION_OR_PDF``: do the files, the records and the verdicts still
match the data?

Checks, each reported (:mod:`bench.integrity`):

1. every file against ``manifest.json`` — ``stop.json`` included — and against the hashes
   in ``stop.json`` (a session recorded before manifests: ``stop.json`` only, with a note);
2. the stop record against ``results.json``: verdict, point verdicts, results hash, and
   the exit status the verdict implies;
3. the captures, re-decoded and re-analysed, give the recorded ``results.json``, and the
   re-derived verdicts give the verdicts and exit status in ``stop.json``;
4. a report PDF's embedded results hash equals the SHA-256 of ``results.json``.

A PDF that is signed or carries attached records (``report.signed.pdf``, from ``report
--sign-…``) is verified **alone**, wherever it is (:mod:`bench.signed_report`): signature
intact and covering the whole file, the signer (trusted when it is, or chains to, a
``--trust`` certificate), the attachments against the attached manifest, the pages against
the manifest's ``report.pdf``, the stop record against the results. An unsigned PDF without
attachments is verified in its session folder as before (or, outside one, said to be
unverifiable: exit 2). Not a PDF: exit 3. In a session folder, ``report.signed.pdf`` is
checked the same way and must carry the session's own manifest.

Fails closed: what cannot be checked (an unreadable or malformed record, a report whose
hash cannot be read because ``bench.report`` does not import) is said, and verify exits 2.
Exit codes (DESIGN.md): 0 everything matches, whatever the verdict; 1 a mismatch — a file,
a hash or a recorded verdict disagrees with the data; 2 incomplete (no stop record: the
session was killed) or not checkable; 3 the argument is not a session.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from ventbench.bench.integrity import (
    START_FILE,
    STOP_FILE,
    Findings,
    read_record,
    record_check,
    verdict_problems,
)
from ventbench.bench.records import SIGNED_REPORT_FILE
from ventbench.bench.session import START_SCHEMA, sha256_file
from ventbench.errors import BenchError, ConfigError
from ventbench.exit_codes import VERIFY_INCOMPLETE, VERIFY_MISMATCH, VERIFY_OK

HELP = "recompute hashes and results of a session; say whether everything still matches"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", type=Path, metavar="SESSION_OR_PDF",
                        help="a session directory, or a report.pdf inside one")
    parser.add_argument("--no-reanalysis", action="store_true",
                        help="check the hashes and records only (fast)")
    parser.add_argument("--trust", type=Path, action="append", default=[], metavar="CERT.pem",
                        help="a certificate trusted as a signed PDF's signer, or its issuer "
                             "(repeatable; e.g. the laboratory's lab-cert.pem)")


def _is_session(path: Path) -> bool:
    return path.is_dir() and ((path / START_FILE).exists() or (path / STOP_FILE).exists())


def _session_dir(path: Path) -> tuple[Path, Path | None]:
    if path.is_file() and path.suffix.lower() == ".pdf":
        return path.parent, path
    if path.is_dir() and ((path / START_FILE).exists() or (path / STOP_FILE).exists()):
        return path, None
    if path.is_dir():
        raise ConfigError(f"{path}: not a session directory (no {START_FILE} or {STOP_FILE})")
    raise ConfigError(f"{path}: not a session directory or a report PDF")


def _report_hash(session: Path, pdf: Path | None, findings: Findings) -> None:
    """The report's embedded results hash against results.json (unchecked when it cannot
    be read: never counted as fine)."""
    pdf = pdf or session / "report.pdf"
    if not pdf.exists():
        return
    try:
        report = importlib.import_module("ventbench.bench.report")
        read_hash = report.embedded_results_sha256
    except Exception as error:  # noqa: BLE001 - any import failure: the hash is not checked
        findings.unchecked.append(f"{pdf.name}: embedded results hash not checked (the report "
                                  f"package does not import: {type(error).__name__}: {error})")
        return
    results = session / "results.json"
    try:
        embedded = read_hash(pdf)
        actual = sha256_file(results)
    except (BenchError, OSError) as error:
        findings.unchecked.append(f"{pdf.name}: embedded results hash not checked ({error})")
        return
    if embedded is None:
        findings.mismatches.append(f"{pdf.name}: carries no results hash (not a ventbench "
                                   "report, or altered)")
    elif embedded != actual:
        findings.mismatches.append(f"{pdf.name}: embedded results sha256 {str(embedded)[:12]}… "
                                   f"does not match results.json {actual[:12]}…")
    else:
        findings.matched.append(f"{pdf.name}: embedded results hash matches results.json")


def _certification(session: Path, stop: dict | None, findings: Findings) -> None:
    """A certification session: the overall verdict re-derived from the stage records (each
    completed stage's files against its recorded hashes, the safety record judged again),
    then every stage session re-analysed as a session of its own."""
    from ventbench.bench.certification import rederive
    from ventbench.bench.session import read_json

    try:
        block = rederive(session)
        recorded = read_json(session / "results.json", "results")
    except (BenchError, OSError) as error:
        findings.unchecked.append(f"certification: cannot re-derive the verdict ({error})")
        return
    findings.mismatches += [f"certification: {p}" for p in block["problems"]]
    rec_block = recorded.get("certification") or {}
    stages = {r["stage"]: r.get("verdict") for r in rec_block.get("stages") or []}
    again = {r["stage"]: r.get("verdict") for r in block["stages"]}
    for name, word in again.items():
        if stages.get(name) != word:
            findings.mismatches.append(f"certification: stage {name} verdict {stages.get(name)!r} in results.json, "
                                       f"re-derived: {word!r}")
    verdict = block["verdict"]
    if verdict == "PASS" and recorded.get("verdict") == "INCONCLUSIVE" and any(
            r.startswith("device identity incomplete") for r in rec_block.get("reasons") or []):
        verdict = "INCONCLUSIVE"
    if recorded.get("verdict") != verdict:
        findings.mismatches.append(f"results.json: overall verdict {recorded.get('verdict')!r}, re-derived: {verdict!r}")
    findings.mismatches += verdict_problems({"verdict": verdict}, stop)
    for row in block["stages"]:
        if row.get("dir") and row["stage"] != "safety":
            sub = session / row["dir"]
            sub_findings = Findings()
            sub_start = read_record(sub / START_FILE, "stage start record", sub_findings)
            sub_stop = read_record(sub / STOP_FILE, "stage stop record", sub_findings) \
                if (sub / STOP_FILE).exists() else None
            if sub_start is not None:
                _reanalysis(sub, sub_start, sub_stop, sub_findings)
            for kind in ("matched", "notes", "mismatches", "unchecked"):
                getattr(findings, kind).extend(f"stage {row['stage']}: {line}" for line in getattr(sub_findings, kind))
    if not findings.mismatches:
        findings.matched.append(f"certification: overall verdict {verdict} re-derived from the stages")


def _reanalysis(session: Path, start: dict, stop: dict | None, findings: Findings) -> None:
    if start.get("kind") == "certification":
        _certification(session, stop, findings)
        return
    if start.get("kind") == "reliability":  # bench/reliability/replay.py
        from ventbench.bench.reliability.replay import replay_session

        try:
            diffs = replay_session(session)
        except (BenchError, OSError) as error:
            findings.unchecked.append(f"re-analysis: cannot re-analyse ({error})")
            return
        findings.mismatches += [f"re-analysis differs: {d}" for d in diffs]
        if not diffs:
            findings.matched.append("re-analysis: reliability captures re-decoded, "
                                    "breaths, events and results identical")
        return
    from ventbench.bench.reanalysis import reanalyze_session

    try:
        outcome = reanalyze_session(session, start)
    except (BenchError, OSError) as error:
        findings.unchecked.append(f"re-analysis: cannot re-analyse ({error})")
        return
    findings.mismatches += [f"re-analysis differs: {d}" for d in outcome.differences]
    disagree = verdict_problems(outcome.recomputed, stop)
    findings.mismatches += disagree
    if outcome.differences or disagree:
        return
    if outcome.recorded is None:
        findings.notes.append(f"re-analysis: {outcome.n_points} points re-analysed; "
                              "no recorded results.json to compare with")
    else:
        findings.matched.append(f"re-analysis: {outcome.n_points} points re-analysed; results, "
                                f"verdict {outcome.recomputed.get('verdict')} and exit status "
                                "identical")


def _signed_copy(session: Path, trust: list[Path], findings: Findings) -> None:
    """The laboratory's signed copy in the session folder, when there is one: verified as
    alone, and its attached manifest must be the session's (not a stale copy)."""
    path = session / SIGNED_REPORT_FILE
    if not path.is_file():
        return
    from ventbench.bench.signed_report import verify_pdf

    try:
        check = verify_pdf(path, trust)
    except (BenchError, OSError) as error:
        findings.unchecked.append(f"{SIGNED_REPORT_FILE}: not checked ({error})")
        return
    found = check.findings
    findings.mismatches += [f"{SIGNED_REPORT_FILE}: {line}" for line in found.mismatches]
    for line in found.unchecked:
        if line == check.trust_problem and not trust:  # the session itself is checked anyway
            findings.notes.append(f"{SIGNED_REPORT_FILE}: signed by {check.signer}, not checked "
                                  "against a trusted certificate (give --trust CERT.pem)")
        else:
            findings.unchecked.append(f"{SIGNED_REPORT_FILE}: {line}")
    if (found.manifest_sha256 and findings.manifest_sha256
            and found.manifest_sha256 != findings.manifest_sha256):
        findings.mismatches.append(
            f"{SIGNED_REPORT_FILE}: carries manifest sha256 {found.manifest_sha256[:12]}…, the "
            f"session's is {findings.manifest_sha256[:12]}… (signed before the session changed)")
    elif not found.mismatches:
        findings.matched.append(f"{SIGNED_REPORT_FILE}: signature intact ({check.signer}); its "
                                "pages and attached records are this session's")


def _pdf_alone(path: Path, trust: list[Path]) -> int | None:
    """Verify a signed (or attached) PDF on its own; None: an unsigned plain report inside
    its session folder, checked with the session."""
    from ventbench.bench.signed_report import verify_pdf

    check = verify_pdf(path, trust)
    if not check.signed and not check.attached and _is_session(path.parent):
        return None
    print(f"verify {path} (the PDF alone)")
    return _conclude(check.findings, alone=True)


def _conclude(findings: Findings, stop: dict | None = None, *, alone: bool = False) -> int:
    for line in findings.matched:
        print(f"  ok: {line}")
    for line in findings.notes:
        print(f"  note: {line}")
    for line in findings.mismatches:
        print(f"  MISMATCH: {line}")
    for line in findings.unchecked:
        print(f"  NOT CHECKED: {line}")
    if findings.manifest_sha256:
        print(f"  manifest sha256: {findings.manifest_sha256}")
    if findings.mismatches:
        print(f"verify: MISMATCH ({len(findings.mismatches)} problem(s)) — the records do not "
              "match the data")
        return VERIFY_MISMATCH
    if findings.unchecked:
        print(f"verify: INCOMPLETE — {len(findings.unchecked)} thing(s) could not be checked; "
              "nothing is vouched for")
        return VERIFY_INCOMPLETE
    if alone:  # reached only when signed and trusted (otherwise unchecked)
        print("verify: OK — signed by a trusted signer, unchanged since; the pages, the "
              "attached results, stop record and manifest agree")
        return VERIFY_OK
    if stop is None:
        print(f"verify: aborted: no stop record ({STOP_FILE} missing: the session was killed) — "
              "the recorded data is consistent but incomplete")
        return VERIFY_INCOMPLETE
    print("verify: OK — every file, every record and every result matches")
    return VERIFY_OK


def run(args: argparse.Namespace) -> int:
    if args.session.is_file():
        code = _pdf_alone(args.session, args.trust)
        if code is not None:
            return code
    session, pdf = _session_dir(args.session)
    print(f"verify {session}")
    findings, stop, _ = record_check(session)
    start = None
    if (session / START_FILE).exists():
        start = read_record(session / START_FILE, "session start record", findings)
        if start is not None and start.get("schema") != START_SCHEMA:
            findings.unchecked.append(f"{session / START_FILE}: schema {start.get('schema')!r}, "
                                      f"expected {START_SCHEMA!r}")
            start = None
    else:
        findings.unchecked.append(f"{session / START_FILE}: session start record not found")
    if stop is not None:
        _report_hash(session, pdf, findings)
        _signed_copy(session, args.trust, findings)
    if start is None:
        findings.unchecked.append("nothing re-analysed: no readable start record")
    elif not args.no_reanalysis:
        _reanalysis(session, start, stop, findings)
    return _conclude(findings, stop)
