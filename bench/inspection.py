"""The inspection checklist in a session: asked before the points, recorded, re-derivable.

A protocol's ``[[inspection]]`` items (:mod:`ventbench.bench.inspection_model`) are answered
before the first performance point:

- on the terminal, item by item: ``p`` = pass, ``f`` = fail, ``n`` = not applicable, ``s`` =
  skip (not answered), then a note line (Enter for none); a closed input leaves the rest
  not answered;
- by the :class:`~ventbench.bench.operator.AutomatedOperator` on ``sim://`` setups (all pass,
  unless the simulated prototype declares a failing item);
- from an answers file (``run --inspection FILE``), checked before anything is recorded.

The answers go to ``SESSION/inspection.json`` (hashed in ``stop.json`` and the manifest like
every session file). :func:`judge` derives the ``inspection`` block of ``results.json`` from
the items frozen in ``start.json`` and that record alone, and :func:`fold_inspection` puts it
into the overall verdict: a failed required item → FAIL, a required item not answered →
INCONCLUSIVE with the reason. Per-point verdicts are untouched. ``run``, ``replay`` and
``verify`` all call these two, so they agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ventbench.bench.inspection_model import AnswersFile, InspectionItem, item_from_json

__all__ = ["INSPECTION_FILE", "answer_items", "fold_inspection", "judge", "record",
           "session_items", "terminal_answers"]

INSPECTION_FILE = "inspection.json"
SCHEMA = "ventbench.inspection/1"
KEYS = {"p": "pass", "pass": "pass", "f": "fail", "fail": "fail", "n": "na", "na": "na",
        "s": None, "skip": None}
PROMPT = "  p = pass, f = fail, n = not applicable, s = skip (not answered): "
NOTE_PROMPT = "  note (Enter for none): "


def session_items(start: dict[str, Any]) -> tuple[InspectionItem, ...]:
    """The inspection items frozen in ``start.json``'s protocol."""
    return tuple(item_from_json(raw) for raw in (start.get("protocol") or {}).get("inspection", []))


def _answer(item: InspectionItem, answer: str | None, note: str, by: str, time_utc: str) -> dict[str, Any]:
    return {"id": item.id, "answer": answer, "note": note, "by": by, "time_utc": time_utc}


def terminal_answers(items: Sequence[InspectionItem], readline: Callable[[], str],
                     write: Callable[[str], Any], by: str, now: Callable[[], str]) -> list[dict[str, Any]]:
    """Ask each item on a terminal; ``readline`` returns "" at end of input (the rest are
    then not answered), ``write`` shows the prompts, ``now`` gives the UTC time text."""
    out: list[dict[str, Any]] = []
    closed = False
    for k, item in enumerate(items, start=1):
        if closed:
            out.append(_answer(item, None, "operator input closed", by, now()))
            continue
        need = "required" if item.required else "optional"
        write(f"inspection {k}/{len(items)} [{item.id}, {item.kind}, {need}]: {item.text}\n")
        while True:
            write(PROMPT)
            line = readline()
            if line == "":
                closed = True
                write("\n")
                out.append(_answer(item, None, "operator input closed", by, now()))
                break
            key = line.strip().lower()
            if key not in KEYS:
                write(f"  expected p, f, n or s, found {line.strip()!r}\n")
                continue
            write(NOTE_PROMPT)
            note = readline()
            closed = note == ""
            out.append(_answer(item, KEYS[key], note.strip() or ("skipped by the operator" if KEYS[key] is None
                                                                else ""), by, now()))
            break
    return out


def _terminal_io(operator: Any) -> tuple[Callable[[], str], Callable[[str], Any]]:
    """readline / write of a terminal operator (through the view operator's reader when
    there is one: a second reader of stdin would steal its lines)."""
    def write(text: str) -> None:
        operator.stdout.write(text)
        operator.stdout.flush()

    if hasattr(operator, "terminal_input"):
        def readline() -> str:
            try:
                return operator.terminal_input() + "\n"
            except EOFError:
                return ""
        return readline, write
    return operator.stdin.readline, write


def answer_items(items: Sequence[InspectionItem], operator: Any, answers_file: AnswersFile | None,
                 now: Callable[[], str]) -> dict[str, Any]:
    """The inspection record (``inspection.json``): from the answers file when given, else
    the automated operator's answers, else the terminal's."""
    if answers_file is not None:
        by = answers_file.inspector or operator.name
        answers = [_answer(item, a["answer"], a["note"], a["by"] or by, now())
                   for item in items for a in [answers_file.answers[item.id]]]
        return {"schema": SCHEMA, "answered_by": "file", "file": answers_file.path,
                "file_sha256": answers_file.sha256, "answers": answers}
    if getattr(operator, "kind", "") == "automated":
        failing = dict(getattr(getattr(operator, "prototype", None), "inspection_failures", {}) or {})
        answers = [_answer(item, "fail" if item.id in failing else "pass",
                           failing.get(item.id, "automated answer (simulated device)"),
                           operator.name, now()) for item in items]
        return {"schema": SCHEMA, "answered_by": "automated", "answers": answers}
    readline, write = _terminal_io(operator)
    return {"schema": SCHEMA, "answered_by": "terminal",
            "answers": terminal_answers(items, readline, write, operator.name, now)}


def record(runner: Any, now: Callable[[], str]) -> dict[str, Any] | None:
    """Runner hook: ask the protocol's items, write ``inspection.json``; the record (None
    when the protocol has no inspection items)."""
    items = session_items({"protocol": runner.plan.protocol})
    if not items:
        return None
    runner.live.line(f"inspection: {len(items)} item(s) before the performance points")
    doc = answer_items(items, runner.plan.operator, runner.plan.inspection_answers, now)
    runner.session.write_json(INSPECTION_FILE, doc)
    for answer in doc["answers"]:
        word = answer["answer"] or "not answered"
        runner.live.line(f"inspection {answer['id']}: {word}" + (f" ({answer['note']})" if answer["note"] else ""))
    return doc


def judge(start: dict[str, Any], session: Path) -> dict[str, Any] | None:
    """The ``inspection`` block of ``results.json`` from ``start.json``'s items and
    ``inspection.json`` (absent: every item not answered); None without items."""
    from ventbench.bench.session import read_json

    items = session_items(start)
    if not items:
        return None
    path = Path(session) / INSPECTION_FILE
    doc = read_json(path, "inspection record") if path.exists() else {}
    given = {a.get("id"): a for a in doc.get("answers") or []}
    rows, failed, open_ = [], [], []
    for item in items:
        a = given.get(item.id) or {}
        answer = a.get("answer")
        if answer == "pass":
            verdict, reason = "PASS", ""
        elif answer == "fail":
            verdict, reason = ("FAIL", "failed") if item.required else ("INFO", "failed (optional item)")
        elif answer == "na":
            verdict, reason = "INFO", "not applicable"
        else:
            verdict, reason = ("INCONCLUSIVE", "not answered") if item.required else ("INFO", "not answered")
        if verdict == "FAIL":
            failed.append(item.id)
        elif verdict == "INCONCLUSIVE":
            open_.append(item.id)
        rows.append({**item.to_json(), "answer": answer, "note": a.get("note", ""), "by": a.get("by", ""),
                     "time_utc": a.get("time_utc", ""), "verdict": verdict, "reason": reason})
    reasons = []
    if failed:
        reasons.append(f"inspection failed: {', '.join(failed)}")
    if open_:
        reasons.append(f"inspection not answered: {', '.join(open_)}")
    verdict = "FAIL" if failed else "INCONCLUSIVE" if open_ else "PASS"
    return {"verdict": verdict, "reason": "; ".join(reasons), "answered_by": doc.get("answered_by"),
            "file": doc.get("file"), "file_sha256": doc.get("file_sha256"), "items": rows}


def fold_inspection(results: dict[str, Any], block: dict[str, Any] | None) -> dict[str, Any]:
    """Put the inspection block into a results document; the overall verdict takes it into
    account (FAIL wins; INCONCLUSIVE turns a PASS into INCONCLUSIVE)."""
    if block is None:
        return results
    results["inspection"] = block
    if block["verdict"] == "FAIL":
        results["verdict"] = "FAIL"
    elif block["verdict"] == "INCONCLUSIVE" and results.get("verdict") == "PASS":
        results["verdict"] = "INCONCLUSIVE"
    return results
