"""Inspection checklists as protocol data: the ``[[inspection]]`` tables and an answers file.

A protocol may list physical and functional inspection items, asked before its performance
points (docs/inspection.md)::

    [[inspection]]
    id = "labelling"
    kind = "physical"                       # physical | functional
    text = "Labelling present and legible"  # English
    text_id = "Label terpasang dan terbaca" # Indonesian (optional)
    required = true                         # default: a failed item fails the session
    source = "RMVS001 v1, labelling (paraphrased)"

An unattended run answers them from a file (``run --inspection answers.toml``)::

    inspector = "A. Tester"                 # optional: who answered (default: the operator)

    [[answers]]
    id = "labelling"
    answer = "pass"                         # pass | fail | na
    note = "label on the rear panel"
    by = "B. Checker"                       # optional, per answer

Both are read with :class:`ventbench.tomlfile.TomlFile` and :func:`check_table`: every error
is one line ``FILE:LINE: key.path: problem``. How items are asked, recorded and judged is
:mod:`ventbench.bench.inspection`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ventbench.tomlfile import Key, TomlFile, check_table

__all__ = ["ANSWERS", "KINDS", "AnswersFile", "InspectionItem", "item_from_json", "load_answers",
           "parse_answers", "parse_inspection"]

#: What an inspection item is about.
KINDS = ("physical", "functional")
#: The answers: passed, failed, not applicable.
ANSWERS = ("pass", "fail", "na")

#: one [[inspection]] entry of a protocol
_ITEM_KEYS = {"id": Key("text", required=True), "text": Key("text", required=True),
              "text_id": Key("text"), "kind": Key("string", required=True, choices=KINDS),
              "required": Key("bool"), "source": Key("string")}
#: the answers file: its top level and one [[answers]] entry
_FILE_KEYS = {"inspector": Key("text")}
_ANSWER_KEYS = {"id": Key("text", required=True), "answer": Key("string", required=True, choices=ANSWERS),
                "note": Key("string"), "by": Key("text")}


@dataclass(frozen=True)
class InspectionItem:
    """One inspection item of a protocol.

    Attributes
    ----------
    id : str
        Unique within the protocol.
    text, text_id : str
        What to inspect, in English and (optionally) Indonesian.
    kind : {"physical", "functional"}
        Looked at, or operated.
    required : bool
        A failed required item makes the session FAIL; one not answered, INCONCLUSIVE.
    source : str
        Where the requirement comes from (and how sure we are of it).
    """

    id: str
    text: str
    kind: str
    required: bool = True
    text_id: str = ""
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def item_from_json(raw: dict[str, Any]) -> InspectionItem:
    """An :class:`InspectionItem` from its ``to_json`` form (start.json's protocol)."""
    return InspectionItem(**{k: raw[k] for k in ("id", "text", "kind", "required", "text_id", "source")
                             if k in raw})


def parse_inspection(toml: TomlFile) -> tuple[InspectionItem, ...]:
    """The ``[[inspection]]`` tables of a protocol file; ConfigError naming the file, line and key."""
    raw_list = toml.data.get("inspection", [])
    if not isinstance(raw_list, list):
        raise toml.error("inspection", "expected [[inspection]] tables", "inspection")
    items, seen = [], set()
    for i, raw in enumerate(raw_list):
        path = f"inspection[{i}]"
        check_table(toml, raw, _ITEM_KEYS, path, "inspection", i)
        if raw["id"] in seen:
            raise toml.error(f"{path}.id", f"duplicate inspection item id {raw['id']!r}", "id", "inspection", i)
        seen.add(raw["id"])
        items.append(InspectionItem(id=raw["id"], text=raw["text"].strip(), kind=raw["kind"],
                                    required=raw.get("required", True), text_id=raw.get("text_id", "").strip(),
                                    source=raw.get("source", "")))
    return tuple(items)


@dataclass(frozen=True)
class AnswersFile:
    """An answers file read and checked against the protocol's items."""

    path: str
    sha256: str
    inspector: str
    answers: dict[str, dict[str, str]]  #: item id → {answer, note, by}


def parse_answers(text: str, where: str, items: tuple[InspectionItem, ...]) -> AnswersFile:
    """Check an answers file against ``items``: every item answered once, no unknown id,
    only ``pass`` / ``fail`` / ``na``.

    Raises
    ------
    ConfigError
        One line ``FILE:LINE: answers[i].key: problem`` (a missing answer names the item).
    """
    toml = TomlFile(text, where)
    data = dict(toml.data)
    raw_list = data.pop("answers", None)
    check_table(toml, data, _FILE_KEYS, "answers file", None)
    if not isinstance(raw_list, list) or not raw_list:
        raise toml.error("answers", "expected [[answers]] tables (one per inspection item)", "answers")
    known = {item.id for item in items}
    answers: dict[str, dict[str, str]] = {}
    for i, raw in enumerate(raw_list):
        path = f"answers[{i}]"
        check_table(toml, raw, _ANSWER_KEYS, path, "answers", i)
        if raw["id"] not in known:
            raise toml.error(f"{path}.id", f"no inspection item {raw['id']!r} in the protocol (items: "
                             f"{', '.join(sorted(known)) or 'none'})", "id", "answers", i)
        if raw["id"] in answers:
            raise toml.error(f"{path}.id", f"item {raw['id']!r} answered twice", "id", "answers", i)
        answers[raw["id"]] = {"answer": raw["answer"], "note": raw.get("note", ""), "by": raw.get("by", "")}
    missing = [item.id for item in items if item.id not in answers]
    if missing:
        raise toml.error("answers", f"no answer for inspection item(s) {', '.join(missing)} "
                         "(answer each: pass, fail or na)", None, "answers", len(raw_list) - 1)
    return AnswersFile(path=where, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                       inspector=data.get("inspector", ""), answers=answers)


def load_answers(path: str | Path, items: tuple[InspectionItem, ...]) -> AnswersFile:
    """Read ``path`` (``run --inspection FILE``) and check it against ``items``."""
    _, raw = TomlFile.read(path, "inspection answers file")  # not found / unreadable / not TOML
    return parse_answers(raw.decode("utf-8"), str(path), items)
