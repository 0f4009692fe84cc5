"""Do a session's records agree with each other and with its data?

Two levels, both used by ``verify`` and the first by the history index:

* :func:`record_check` — hashes and recorded verdicts, no analysis (fast): every file
  against ``manifest.json`` (or, in a session recorded before manifests, against
  ``stop.json``, with a note that the stop record itself is then covered by nothing), and
  the stop record against the results: its verdict, its per-point verdicts, its
  ``results_sha256`` and its ``exit_status`` (the verdict's code for a completed session,
  a non-zero code for any other).
* :func:`verdict_problems` — the recorded verdicts against results re-derived from the
  captures (``bench.reanalysis``): the overall verdict, each point's verdict, and the
  exit status the re-derived verdict implies.

A problem is a *mismatch* (a record disagrees with its data: ``verify`` exit 1) or
*unchecked* (something could not be read or checked: exit 2); never silently fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.bench.records import (
    MANIFEST_FILE,
    UNHASHED,
    HashMismatch,
    RecordError,
    check_files,
    check_manifest,
    read_json,
    sha256_file,
)
from ventbench.exit_codes import EXIT_PASS, exit_code_for_verdict

RESULTS_FILE = "results.json"
STOP_FILE = "stop.json"
START_FILE = "start.json"
COMPLETED = "completed"


@dataclass
class Findings:
    """What a check found: hard mismatches, things it could not check, and notes."""

    mismatches: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest_sha256: str | None = None
    matched: list[str] = field(default_factory=list)  #: what was checked and agreed

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.unchecked

    def extend(self, other: Findings) -> None:
        self.mismatches += other.mismatches
        self.unchecked += other.unchecked
        self.notes += other.notes
        self.matched += other.matched


def _hash_lines(problems: list[HashMismatch], findings: Findings) -> None:
    for m in problems:
        (findings.mismatches if m.hard else findings.notes).append(str(m))


def read_record(path: Path, what: str, findings: Findings) -> dict[str, Any] | None:
    """A record through the one reader; a record that cannot be read is unchecked."""
    try:
        return read_json(path, what)
    except RecordError as error:
        findings.unchecked.append(str(error))
        return None


def record_check(session: Path) -> tuple[Findings, dict[str, Any] | None, dict[str, Any] | None]:
    """Hashes and recorded verdicts of a session, without re-analysis.

    Returns (findings, stop record or None, results or None).
    """
    session = Path(session)
    findings = Findings()
    try:
        manifest = check_manifest(session)
    except RecordError as error:
        findings.mismatches.append(f"{MANIFEST_FILE}: {error}")
        manifest = None
    except OSError as error:
        findings.unchecked.append(f"{MANIFEST_FILE}: a file could not be read ({error})")
        manifest = None
    if manifest is not None:
        findings.manifest_sha256, problems = manifest
        _hash_lines(problems, findings)
        if not any(m.hard for m in problems):
            findings.matched.append(f"every file matches {MANIFEST_FILE} "
                                    f"(sha256 {findings.manifest_sha256})")
    stop = results = None
    changed = {line.split(":", 1)[0] for line in findings.mismatches}
    if (session / STOP_FILE).exists():
        stop = read_record(session / STOP_FILE, "session stop record", findings)
    if (session / RESULTS_FILE).exists():
        results = read_record(session / RESULTS_FILE, "results", findings)
    if stop is not None:
        try:
            problems = check_files(session, stop.get("files") or {}, "stop record",
                                   exclude=(STOP_FILE, *UNHASHED))
        except OSError as error:
            findings.unchecked.append(f"a file named in {STOP_FILE} could not be read ({error})")
            problems = []
        hard = [m for m in problems if m.hard and m.path not in changed]
        _hash_lines(hard + [m for m in problems if not m.hard and manifest is None], findings)
        if not hard:
            findings.matched.append(f"{len(stop.get('files') or {})} files match {STOP_FILE}")
        if manifest is None and (session / STOP_FILE).exists():
            findings.notes.append(f"no {MANIFEST_FILE} (a session recorded before manifests): "
                                  f"{STOP_FILE} itself is covered by no hash; its verdicts are "
                                  "checked against the results instead")
        findings.extend(stop_agrees(stop, results, session))
    return findings, stop, results


def stop_agrees(stop: dict[str, Any], results: dict[str, Any] | None, session: Path) -> Findings:
    """The stop record against the results it summarises (verdicts, hash, exit status)."""
    out = Findings()
    status = stop.get("status")
    exit_status = stop.get("exit_status")
    if not isinstance(exit_status, int) or isinstance(exit_status, bool):
        out.mismatches.append(f"{STOP_FILE}: exit_status {exit_status!r} is not an exit code")
        return out
    if status != COMPLETED and exit_status == EXIT_PASS:
        out.mismatches.append(f"{STOP_FILE}: status {status!r} with exit_status 0 "
                              "(only a completed session can exit 0)")
    if results is None:
        return out
    recorded_sha = stop.get("results_sha256")
    if recorded_sha is not None and (session / RESULTS_FILE).exists():
        if sha256_file(session / RESULTS_FILE) != recorded_sha:
            out.mismatches.append(f"{RESULTS_FILE}: sha256 differs from {STOP_FILE} results_sha256")
    verdict = results.get("verdict")
    if "verdict" in stop and stop.get("verdict") != verdict:
        out.mismatches.append(f"{STOP_FILE}: verdict {stop.get('verdict')!r} but "
                              f"{RESULTS_FILE} says {verdict!r}")
    by_point = ((stop.get("points") or {}).get("verdicts") if isinstance(stop.get("points"), dict)
                else None)
    if isinstance(by_point, dict):
        listed = results.get("points")
        result_points = {str(p.get("id")): p.get("verdict") for p in (listed if isinstance(listed, list) else [])
                         if isinstance(p, dict)}
        for pid, word in sorted(by_point.items()):
            if result_points.get(str(pid)) != word:
                out.mismatches.append(f"{STOP_FILE}: point {pid} verdict {word!r} but "
                                      f"{RESULTS_FILE} says {result_points.get(str(pid))!r}")
    if status == COMPLETED and isinstance(verdict, str) and "verdict" in stop:
        expected = exit_code_for_verdict(verdict)
        if exit_status != expected:
            out.mismatches.append(f"{STOP_FILE}: exit_status {exit_status} but verdict "
                                  f"{verdict} means exit {expected}")
    if not out.mismatches:
        out.matched.append(f"{STOP_FILE} verdict, point verdicts and exit status agree with "
                           f"{RESULTS_FILE}")
    return out


def verdict_problems(recomputed: dict[str, Any], stop: dict[str, Any] | None) -> list[str]:
    """Recorded verdicts (stop record) that the re-derived results contradict."""
    out: list[str] = []
    verdict = recomputed.get("verdict")
    if stop is None:
        return out
    if "verdict" in stop and stop.get("verdict") != verdict:
        out.append(f"{STOP_FILE}: verdict {stop.get('verdict')!r}, re-derived from the data: "
                   f"{verdict!r}")
    points = {str(p.get("id")): p.get("verdict") for p in recomputed.get("points") or []}
    recorded = (stop.get("points") or {}).get("verdicts") if isinstance(stop.get("points"), dict) else None
    for pid, word in sorted((recorded or {}).items()):
        if str(pid) in points and points[str(pid)] != word:
            out.append(f"{STOP_FILE}: point {pid} verdict {word!r}, re-derived: {points[str(pid)]!r}")
    if stop.get("status") == COMPLETED and isinstance(verdict, str):
        expected = exit_code_for_verdict(verdict)
        if stop.get("exit_status") != expected:
            out.append(f"{STOP_FILE}: exit_status {stop.get('exit_status')!r}, the re-derived "
                       f"verdict {verdict} means exit {expected}")
    return out
