"""Bench-generated sentences (reasons, recording statuses, notes) in the report's language.

``results.json`` keeps its reasons in English (a contract many tools read); the report
translates them as it prints them. A catalogue other than English carries an array of
``[[reason]]`` tables, each a regular expression over one English sentence (matched whole)
and the text that replaces it, with the expression's named groups as ``str.format`` fields::

    [[reason]]
    pattern = 'no alarm within the (?P<window>\\S+) s window after the condition'
    text = "tidak ada alarm dalam jendela {window} s setelah kondisi"

The first matching pattern wins. Reasons are often compound ("a; b; c"): such a text is
split at "; " and each part translated alone; when some part has no pattern, a pattern
matching the text whole is used instead (a few sentences have "; " inside). A group is
filled in as follows, by its name:

* ``…_reason``: translated itself (recursively), for nested sentences ("window 3: …");
* ``quantity`` or ``…_quantity``: the quantity's display name (``[quantity]``);
* ``…_nums``: every decimal number in it gets the language's decimal separator and minus;
* anything else: a plain decimal number ("2.715", "-0.5", "3.4e-05") gets the decimal
  separator and the minus sign of :meth:`Messages.num`; any other text (names, units,
  breath lists) stays as it is.

Text no pattern matches stays in English, so nothing is lost; :func:`untranslated` lists such
parts, and the tests require it to find none in real sessions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from ventbench.bench.report.i18n import MINUS, Messages

__all__ = ["SEPARATOR", "recording_text", "translate_all", "translate_reason", "untranslated"]

#: How the bench joins the parts of a compound reason.
SEPARATOR = "; "
_PLAIN_NUMBER = re.compile(r"[+\-−]?\d+\.\d+(?:e[+\-]\d+)?")
_EMBEDDED_NUMBER = re.compile(r"(?<=\d)\.(?=\d)")
_HYPHEN_MINUS = re.compile(r"(?<![\w.])-(?=\d)")


@cache
def _compiled(table: tuple[tuple[str, str], ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The patterns of one catalogue, compiled once (the table tuple is the cache key)."""
    return tuple((re.compile(pattern), text) for pattern, text in table)


def _match(text: str, msgs: Messages) -> tuple[re.Match[str], str] | None:
    for pattern, template in _compiled(msgs.reason_table):
        found = pattern.fullmatch(text)
        if found:
            return found, template
    return None


def _group(name: str, value: str | None, msgs: Messages, missed: list[str]) -> str:
    if value is None:
        return ""
    if name.endswith("_reason"):
        return _translate(value, msgs, missed)
    if name == "quantity" or name.endswith("_quantity"):
        return msgs.quantity(value)
    if name.endswith("_nums"):
        return _HYPHEN_MINUS.sub(MINUS, _EMBEDDED_NUMBER.sub(msgs.decimal, value))
    if _PLAIN_NUMBER.fullmatch(value):
        return value.replace(".", msgs.decimal).replace("-", MINUS)
    return value


def _one(text: str, msgs: Messages, missed: list[str]) -> str | None:
    """``text`` translated by the first pattern matching it whole, or None."""
    hit = _match(text, msgs)
    if hit is None:
        return None
    found, template = hit
    values = {name: _group(name, value, msgs, missed) for name, value in found.groupdict().items()}
    return template.format(**values)


def _split(text: str, msgs: Messages, missed: list[str]) -> str:
    """``text`` translated part by part (parts joined by "; ")."""
    out = []
    for part in text.split(SEPARATOR):
        got = _one(part, msgs, missed)
        if got is None:
            missed.append(part)
            got = part
        out.append(got)
    return SEPARATOR.join(out)


def _translate(text: str, msgs: Messages, missed: list[str]) -> str:
    """A compound text is translated part by part when every part has a pattern (a pattern's
    wide group must not swallow its neighbours), else whole when a pattern matches it whole
    (sentences with "; " inside), else part by part with the unknown parts left English."""
    if SEPARATOR in text:
        parts_missed: list[str] = []
        by_parts = _split(text, msgs, parts_missed)
        if not parts_missed:
            return by_parts
    whole_missed: list[str] = []
    whole = _one(text, msgs, whole_missed)
    if whole is not None:
        missed += whole_missed
        return whole
    if SEPARATOR in text:
        return _split(text, msgs, missed)
    missed.append(text)
    return text


def translate_reason(text: str | None, msgs: Messages) -> str:
    """A bench-generated sentence (reason, status, note) in the language of ``msgs``.

    Parameters
    ----------
    text : str or None
        The English text as ``results.json`` (or a point record) holds it.
    msgs : Messages
        The report's messages; English returns ``text`` unchanged.

    Returns
    -------
    str
        The translation; parts no ``[[reason]]`` pattern matches stay in English ("" for None).

    Examples
    --------
    >>> translate_reason("42 breaths recorded", Messages("id"))
    '42 napas terekam'
    >>> translate_reason("42 breaths recorded", Messages("en"))
    '42 breaths recorded'
    """
    if not text:
        return ""
    text = str(text)
    if msgs.lang == "en" or not msgs.reason_table:
        return text
    return _translate(text, msgs, [])


def translate_all(texts: Iterable[str], msgs: Messages) -> list[str]:
    """Each of ``texts`` through :func:`translate_reason`."""
    return [translate_reason(t, msgs) for t in texts]


def untranslated(text: str | None, msgs: Messages) -> list[str]:
    """The parts of ``text`` that no pattern of ``msgs`` translates (empty when all are).

    Parameters
    ----------
    text : str or None
        An English reason, status or note.
    msgs : Messages
        A non-English catalogue's messages.

    Returns
    -------
    list of str
        The English parts (whole sentences or "; "-separated parts, nested ones included)
        that would be printed untranslated.
    """
    if not text:
        return []
    missed: list[str] = []
    _translate(str(text), msgs, missed)
    return missed


def recording_text(record: Mapping[str, Any], msgs: Messages) -> str:
    """A point's recording line ("done (42 breaths recorded); attempt 1") in the report's language.

    Parameters
    ----------
    record : mapping
        The point's record (``points/<id>/point.json``): status, reason, attempt.
    msgs : Messages
        The report's messages.

    Returns
    -------
    str
        ``point.recording_text`` with the status and reason translated ("—" when missing).
    """
    return msgs("point.recording_text", status=translate_reason(record.get("status"), msgs) or "—",
                reason=translate_reason(record.get("reason"), msgs) or "—", attempt=record.get("attempt", "—"))
