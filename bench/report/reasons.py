"""Bench-generated sentences (reasons, recording statuses, notes) in the report's language.

``results.json`` keeps its reasons in English (a contract many tools read); the report
translates them as it prints them. A catalogue other than English carries an array of
``[[reason]]`` tables, each a regular expression over one English sentence (matched whole)
and the text that replaces it, with the expression's named groups as ``str.format`` fields::

    [[reason]]
    pattern = 'no alarm within the (?P<window>\\S+) s window after the condition'
    text = "tidak ada alarm dalam jendela {window} s setelah kondisi"

The first matching pattern wins. Reasons are often compound ("a; b; c"): a text no pattern
matches whole is split at "; " and each part translated alone. A group is filled in as
follows, by its name:

* ``…_reason``: translated itself (recursively), for nested sentences ("window 3: …");
* ``quantity`` or ``…_quantity``: the quantity's display name (``[quantity]``);
* ``…_nums``: every decimal number in it gets the language's decimal separator;
* anything else: a plain decimal number ("2.715", "-0.5") gets the decimal separator (and
  the minus sign of :meth:`Messages.num`), any
  other text (names, units, breath lists) stays as it is.

Text no pattern matches stays in English, so nothing is lost; :func:`untranslated` lists such
parts, and the tests require it to find none in real sessions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from ventbench.bench.report.i18n import MINUS, Messages

__all__ = ["SEPARATOR", "translate_reason", "translate_all", "untranslated"]

#: How the bench joins the parts of a compound reason.
SEPARATOR = "; "
_PLAIN_NUMBER = re.compile(r"[+\-−]?\d+\.\d+")
_EMBEDDED_NUMBER = re.compile(r"(?<=\d)\.(?=\d)")


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
        return _EMBEDDED_NUMBER.sub(msgs.decimal, value)
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


def _translate(text: str, msgs: Messages, missed: list[str]) -> str:
    whole = _one(text, msgs, missed)
    if whole is not None:
        return whole
    parts = text.split(SEPARATOR)
    if len(parts) == 1:
        missed.append(text)
        return text
    out = []
    for part in parts:
        got = _one(part, msgs, missed)
        if got is None:
            missed.append(part)
            got = part
        out.append(got)
    return SEPARATOR.join(out)


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
