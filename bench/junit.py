"""``junit.xml``: one testcase per point × check, so CI systems show bench results natively.

Mapping: PASS → a passing testcase; FAIL → ``<failure>``; INCONCLUSIVE → ``<error>`` (the
data could not decide: CI should not read it as a pass); INFO → passing, with the numbers
in ``system-out``; a point NOT TESTED (skipped by the operator, or never reached because
the session was aborted) → ``<skipped>``. Alarm tests and inspection items
(``results["alarms"]``, ``results["inspection"]["items"]``) are one testcase each. Deterministic output: the same results give the
same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ventbench.bench.numbers import format_number

NOT_TESTED = "NOT TESTED"


def _fmt(value: Any) -> str:
    return format_number(value, 4, trim=True)


def _check_text(check: dict[str, Any]) -> str:
    limit = check.get("limit") or {}
    achieved = check.get("achieved") or {}
    parts = [
        f"quantity={check.get('quantity')}",
        f"set={_fmt(check.get('set'))}",
        f"n_breaths={_fmt(check.get('n_breaths'))}",
        f"mean={_fmt(check.get('mean'))}",
        f"sd={_fmt(check.get('sd'))}",
        f"min={_fmt(check.get('min'))}",
        f"max={_fmt(check.get('max'))}",
        f"max_abs_error={_fmt(check.get('max_abs_error'))}",
        f"limit=±({_fmt(limit.get('abs'))} {limit.get('unit', '')} + {_fmt(limit.get('rel'))})",
        f"achieved=±({_fmt(achieved.get('abs'))} + {_fmt(achieved.get('rel'))})",
        f"criterion={check.get('criterion')}",
        f"source={limit.get('source')}",
    ]
    if check.get("failing_breaths"):  # breath numbers: results.json's `index`, as the console and PDF
        parts.append("failing_breaths=" + ",".join(str(int(i)) for i in check["failing_breaths"]))
    return " ".join(parts)


def junit_tree(results: dict[str, Any], suite_name: str, time_s: float = 0.0) -> ET.ElementTree:
    """Build the JUnit XML tree of a results document (``ventbench.results/1``).

    Parameters
    ----------
    results : dict
        The results document; ``points`` is read, each with ``checks`` and ``verdict``.
    suite_name : str
        Name of the test suite (the session id).
    time_s : float
        Duration of the session, s.
    """
    suites = ET.Element("testsuites", name="ventbench")
    suite = ET.SubElement(suites, "testsuite", name=suite_name)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for point in results.get("points", []):
        pid = str(point.get("id"))
        checks = point.get("checks") or []
        if point.get("verdict") == NOT_TESTED or not checks:
            case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.{pid}", name="point")
            counts["tests"] += 1
            verdict = point.get("verdict") or NOT_TESTED
            reason = point.get("reason") or "no checks"
            if verdict in (NOT_TESTED,):
                ET.SubElement(case, "skipped", message=f"NOT TESTED: {reason}")
                counts["skipped"] += 1
            elif verdict == "FAIL":
                ET.SubElement(case, "failure", message=reason, type="FAIL")
                counts["failures"] += 1
            elif verdict != "PASS" and verdict != "INFO":
                ET.SubElement(case, "error", message=reason, type=verdict)
                counts["errors"] += 1
            continue
        for check in checks:
            counts["tests"] += 1
            case = ET.SubElement(
                suite, "testcase", classname=f"{suite_name}.{pid}", name=str(check.get("quantity"))
            )
            verdict = check.get("verdict")
            text = _check_text(check)
            reason = check.get("reason") or ""
            if verdict == "FAIL":
                failure = ET.SubElement(case, "failure", message=reason or "FAIL", type="FAIL")
                failure.text = text
                counts["failures"] += 1
            elif verdict not in ("PASS", "INFO"):
                error = ET.SubElement(case, "error", message=reason or str(verdict), type=str(verdict))
                error.text = text
                counts["errors"] += 1
            out = ET.SubElement(case, "system-out")
            out.text = f"{verdict}: {text}"
    for alarm in results.get("alarms", []):  # one testcase per alarm test (bench.alarm_session)
        _alarm_case(suite, suite_name, alarm, counts)
    for item in (results.get("inspection") or {}).get("items", []):  # bench.inspection
        _inspection_case(suite, suite_name, item, counts)
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{time_s:.3f}")
    ET.indent(suites)
    return ET.ElementTree(suites)


def _verdict_case(suite: ET.Element, classname: str, name: str, verdict: Any, reason: str, text: str,
                  counts: dict[str, int]) -> None:
    """One testcase of a verdict: FAIL a failure, anything but PASS/INFO an error."""
    case = ET.SubElement(suite, "testcase", classname=classname, name=name)
    counts["tests"] += 1
    if verdict == "FAIL":
        ET.SubElement(case, "failure", message=reason or "FAIL", type="FAIL").text = text
        counts["failures"] += 1
    elif verdict not in ("PASS", "INFO"):
        ET.SubElement(case, "error", message=reason or str(verdict), type=str(verdict)).text = text
        counts["errors"] += 1
    ET.SubElement(case, "system-out").text = f"{verdict}: {text}"


def _alarm_case(suite: ET.Element, suite_name: str, alarm: dict[str, Any], counts: dict[str, int]) -> None:
    text = (f"condition={alarm.get('condition')} delay_s={_fmt(alarm.get('delay_s'))} "
            f"U_delay_s={_fmt(alarm.get('U_delay_s'))} limit_s={_fmt(alarm.get('limit_s'))} "
            f"window_s={_fmt(alarm.get('window_s'))} source={(alarm.get('limit') or {}).get('source')}")
    _verdict_case(suite, f"{suite_name}.alarms.{alarm.get('id')}", str(alarm.get("condition")),
                  alarm.get("verdict"), alarm.get("reason") or "", text, counts)


def _inspection_case(suite: ET.Element, suite_name: str, item: dict[str, Any], counts: dict[str, int]) -> None:
    """One testcase per inspection item: a failed required item is a failure, one not
    answered an error; not applicable and optional items pass with their answer."""
    text = (f"answer={item.get('answer') or 'none'} required={str(bool(item.get('required'))).lower()} "
            f"by={item.get('by') or '-'} note={item.get('note') or '-'}")
    _verdict_case(suite, f"{suite_name}.inspection.{item.get('id')}", str(item.get("kind")),
                  item.get("verdict"), item.get("reason") or "", text, counts)


def write_junit(path: Path, results: dict[str, Any], suite_name: str, time_s: float = 0.0) -> Path:
    """Write ``junit.xml`` for a results document; returns the path."""
    tree = junit_tree(results, suite_name, time_s)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path
