"""JSON text with a 2-space indent, byte for byte what ``json.dumps(indent=2)`` writes, faster.

The standard library's C encoder is used only without ``indent``; with it, ``json`` falls back
to a generator-based pure-Python encoder (~0.3 s for the 4 000 breaths of a 3-hour
recording). :func:`dumps_indent2` builds the same text with one recursive function appending
to a list, using the same C string escaper (``encode_basestring_ascii``) and the same float and
int ``repr``; tests/bench/test_json_text.py checks the equality on generated documents.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

__all__ = ["dumps_indent2"]

_INDENT = "  "


def dumps_indent2(document: Any, default: Callable[[Any], Any] | None = None) -> str:
    """``json.dumps(document, indent=2, allow_nan=False, default=default)``, the same text.

    Parameters
    ----------
    document : Any
        dicts, lists, tuples, str, int, float, bool and None; anything else goes through
        ``default`` (TypeError when there is none), as in :func:`json.dumps`.
    default : callable, optional
        Turns an object JSON cannot hold into one it can.

    Raises
    ------
    ValueError
        A NaN or infinite float (JSON has neither).
    TypeError
        An object without ``default``, or a dict key that is not str, int, float, bool or None.
    """
    out: list[str] = []
    _encode(document, out, "\n", default)
    return "".join(out)


def _scalar(value: Any) -> str | None:
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
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return float.__repr__(value)
    return None


def _key(key: Any) -> str:
    if isinstance(key, str):
        return encode_basestring_ascii(key)
    if isinstance(key, float | int) or key is None:  # bool is an int: true/false
        text = _scalar(key)
        return encode_basestring_ascii(text)  # type: ignore[arg-type]
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _encode(value: Any, out: list[str], newline: str, default: Callable[[Any], Any] | None) -> None:
    """Append the text of ``value``; ``newline`` is "\\n" plus the current indent."""
    kind = type(value)
    if kind is str:
        out.append(encode_basestring_ascii(value))
        return
    if kind is float:
        if value - value != 0.0:  # NaN or infinity
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        out.append(float.__repr__(value))
        return
    text = _scalar(value)
    if text is not None:
        out.append(text)
        return
    if isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = newline + _INDENT
        out.append("[")
        separator = inner
        for item in value:
            out.append(separator)
            _encode(item, out, inner, default)
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
            out.append(separator + _key(key) + ": ")
            _encode(item, out, inner, default)
            separator = "," + inner
        out.append(newline + "}")
        return
    if default is None:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    _encode(default(value), out, newline, default)
