"""JSON text with a 2-space indent, byte for byte what ``json.dumps(indent=2)`` writes, faster.

The standard library's C encoder is used only without ``indent``; with it, ``json`` falls back
to a generator-based pure-Python encoder (~0.3 s for the 4 000 breaths of a 3-hour
recording). :func:`dumps_indent2` builds the same text with one recursive function appending
to a list, using the same C string escaper (``encode_basestring_ascii``) and the same float and
int ``repr``; a list of dicts (a point's breaths) is written column by column, each column of
one type turned into text by one ``map`` (:func:`_table`). tests/bench/test_json_text.py checks
the equality on generated documents.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from json.encoder import encode_basestring_ascii
from typing import Any

__all__ = ["dumps_indent2"]

_INDENT = "  "
#: A list of at least this many dicts is written column by column.
_TABLE_MIN_ROWS = 8
_LISTS = frozenset({list, type(None)})
_BY_TYPE: dict[type, Callable[[Any], str]] = {
    str: encode_basestring_ascii, int: int.__repr__, bool: {True: "true", False: "false"}.__getitem__,
}


def dumps_indent2(document: Any, default: Callable[[Any], Any] | None = None, *,
                  nan_as_null: bool = False, str_keys: bool = False) -> str:
    """``json.dumps(document, indent=2, allow_nan=False, default=default)``, the same text.

    Parameters
    ----------
    document : Any
        dicts, lists, tuples, str, int, float, bool and None; anything else goes through
        ``default`` (TypeError when there is none), as in :func:`json.dumps`.
    default : callable, optional
        Turns an object JSON cannot hold into one it can.
    nan_as_null : bool
        Write NaN and ±inf as ``null`` instead of raising ValueError.
    str_keys : bool
        Write every dict key as ``str(key)`` (``True`` → ``"True"``), never a TypeError.

    Raises
    ------
    ValueError
        A NaN or infinite float (JSON has neither), unless ``nan_as_null``.
    TypeError
        An object without ``default``, or a dict key that is not str, int, float, bool or
        None (unless ``str_keys``).
    """
    out: list[str] = []
    _Encoder(default, nan_as_null, str_keys).encode(document, out, "\n")
    return "".join(out)


def _scalar(value: Any, nan_as_null: bool) -> str | None:
    """The JSON text of a scalar, in the order ``json`` tests types; None for a container."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            if nan_as_null:
                return "null"
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return float.__repr__(value)
    return None


def _plain_writer(values: list[Any] | tuple[Any, ...]) -> Callable[[Any], str] | None:
    """The one function that writes every item of ``values`` (non-empty), when they are all
    of one plain type (str, int, bool, finite float); None otherwise."""
    kinds = set(map(type, values))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind is float:
        return float.__repr__ if all(map(math.isfinite, values)) else None
    return _BY_TYPE.get(kind)


@dataclass(frozen=True)
class _Encoder:
    default: Callable[[Any], Any] | None
    nan_as_null: bool
    str_keys: bool

    def key(self, key: Any) -> str:
        if isinstance(key, str):
            return encode_basestring_ascii(key)
        if self.str_keys:
            return encode_basestring_ascii(str(key))
        if isinstance(key, float | int) or key is None:  # bool is an int: true/false
            return encode_basestring_ascii(_scalar(key, False))  # type: ignore[arg-type]
        raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")

    def text(self, value: Any, newline: str) -> str:
        out: list[str] = []
        self.encode(value, out, newline)
        return "".join(out)

    def encode(self, value: Any, out: list[str], newline: str) -> None:
        """Append the text of ``value``; ``newline`` is "\\n" plus the current indent."""
        kind = type(value)
        if kind is str:
            out.append(encode_basestring_ascii(value))
            return
        if kind is float and value - value == 0.0:  # finite
            out.append(float.__repr__(value))
            return
        text = _scalar(value, self.nan_as_null)
        if text is not None:
            out.append(text)
            return
        if isinstance(value, list | tuple):
            if not value:
                out.append("[]")
                return
            inner = newline + _INDENT
            if len(value) >= _TABLE_MIN_ROWS and type(value[0]) is dict:
                items = self.table(value, inner)
                if items is not None:
                    out.append("[" + inner + ("," + inner).join(items) + newline + "]")
                    return
            write = _plain_writer(value)
            if write is not None:  # a flat list of one plain type (a point's measured breaths)
                out.append("[" + inner + ("," + inner).join(map(write, value)) + newline + "]")
                return
            out.append("[")
            separator = inner
            for item in value:
                out.append(separator)
                self.encode(item, out, inner)
                separator = "," + inner
            out.append(newline + "]")
            return
        if isinstance(value, dict):
            if not value:
                out.append("{}")
                return
            inner = newline + _INDENT
            out.append("{")
            separator = inner
            for key, item in value.items():
                out.append(separator + self.key(key) + ": ")
                self.encode(item, out, inner)
                separator = "," + inner
            out.append(newline + "}")
            return
        if self.default is None:
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
        self.encode(self.default(value), out, newline)

    def table(self, rows: list[Any] | tuple[Any, ...], newline: str) -> list[str] | None:
        """The text of each dict of ``rows`` (at indent ``newline``), column by column.

        Rows with the same keys form one table; a column whose values are all of one of the
        types ``json`` writes with a plain ``repr`` or escaper becomes text in one ``map``,
        any other column value by value. None when a row is not a plain dict.
        """
        if set(map(type, rows)) != {dict}:
            return None
        inner = newline + _INDENT
        joiner = "," + inner
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, keys in enumerate(map(tuple, rows)):
            groups.setdefault(keys, []).append(i)
        texts: list[str] = ["{}"] * len(rows)
        for keys, members in groups.items():
            if not keys:
                continue
            # one %-template per row: '{' + '"key": %s' joined + '}' ("%" in a key doubled)
            template = ("{" + inner + joiner.join(self.key(k).replace("%", "%%") + ": %s" for k in keys)
                        + newline + "}")
            columns = [self.column(column, inner)
                       for column in zip(*(rows[i].values() for i in members), strict=True)]
            for i, text in zip(members, map(template.__mod__, zip(*columns, strict=True)), strict=True):
                texts[i] = text
        return texts

    def column(self, values: tuple[Any, ...], newline: str) -> list[str]:
        write = _plain_writer(values)
        if write is not None:
            return list(map(write, values))
        kinds = set(map(type, values))
        if kinds <= _LISTS:
            texts = self.flat_lists(values, newline)
            if texts is not None:
                return texts
        return [self.short(v, newline) for v in values]

    def flat_lists(self, values: tuple[Any, ...], newline: str) -> list[str] | None:
        """A column of lists (or None) whose items are all of one plain type — a breath's
        windows, its flags — written in one ``map`` over all the items; None otherwise."""
        flat = [x for v in values if v is not None for x in v]
        inside = set(map(type, flat))
        if not inside:
            write: Callable[[Any], str] | None = str
        elif inside == {float}:
            write = float.__repr__ if all(map(math.isfinite, flat)) else None
        else:
            write = _BY_TYPE.get(inside.pop()) if len(inside) == 1 else None
        if write is None:
            return None
        items = iter(list(map(write, flat)))
        inner = newline + _INDENT
        joiner = "," + inner
        return ["null" if v is None else "[" + inner + joiner.join(islice(items, len(v))) + newline + "]" if v
                else "[]" for v in values]

    def short(self, value: Any, newline: str) -> str:
        """The text of a scalar or of a flat list of one type (a breath's window, its flags)."""
        kind = type(value)
        if kind is float and value - value == 0.0:
            return float.__repr__(value)
        if value is None:
            return "null"
        if kind is list and value:
            kinds = set(map(type, value))
            if len(kinds) == 1:
                item = kinds.pop()
                fast = _BY_TYPE.get(item)
                if item is float and all(map(math.isfinite, value)):
                    fast = float.__repr__
                if fast is not None:
                    inner = newline + _INDENT
                    return "[" + inner + ("," + inner).join(map(fast, value)) + newline + "]"
        return self.text(value, newline)
