"""Typed options of drivers and simulated devices: a frozen dataclass per class.

A driver declares its options as a frozen dataclass deriving from :class:`Options`; each
field has a type (``int``, ``float``, ``bool``, ``str``, ``X | None``, ``tuple[int, ...]``,
``tuple[str, ...]``, ``dict[str, str]`` or ``dict[str, float]``), a default and, through
:func:`option`, a documented unit, range or choice. The command line's ``--option K=V``
strings, a ``sim://`` URL's query values and an old session's ``driver_options`` (a plain
JSON dict: numbers, strings, lists) are all parsed by :meth:`Options.from_dict`, once:

- an unknown key is a :class:`~ventbench.errors.ConfigError` listing the known ones;
- a value of the wrong type, not finite, or outside its range is a ConfigError naming the
  key, what was expected and what was found.

:meth:`Options.to_dict` gives the plain dict stored in ``start.json`` / ``record.json``;
``from_dict(to_dict(o)) == o``. Text forms: lists ``0,4,9``; mappings ``flow:l/s,paw:mbar``;
booleans ``1/0``, ``true/false``, ``yes/no``, ``on/off``; ``none`` (or nothing) for None.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Self

from ventbench.errors import ConfigError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def option(default: Any = None, doc: str = "", *, lo: float | None = None,
           hi: float | None = None, lo_open: bool = False,
           choices: Iterable[Any] | None = None, finite: bool = True) -> Any:
    """A dataclass field with its documentation and constraints (see module docstring).

    Parameters
    ----------
    default : object
        The default value (a tuple or None for sequences; mappings default to empty).
    doc : str
        One line for error messages and listings, with the unit.
    lo, hi : float, optional
        Closed range of a number (``lo_open``: ``lo < value``).
    choices : iterable, optional
        The values allowed (compared after conversion).
    finite : bool
        Refuse ``inf`` and ``nan`` (default).
    """
    meta = {"doc": doc, "lo": lo, "hi": hi, "lo_open": lo_open,
            "choices": None if choices is None else tuple(choices), "finite": finite}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of every option dataclass (no options of its own)."""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, where: str = "option") -> Self:
        """Parse ``raw`` (text or JSON values) into the dataclass.

        Parameters
        ----------
        raw : mapping
            Option name → value (a string from the command line or a URL, or a JSON value
            from a session file).
        where : str
            What to name in errors, e.g. ``"--option"`` or ``"sim://rig"``.

        Raises
        ------
        ConfigError
            Unknown key, bad type or out-of-range value (named), or a combination the
            dataclass's ``__post_init__`` refuses.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        hints = _hints(cls)
        values = {}
        for key, value in dict(raw or {}).items():
            if key not in known:
                names = ", ".join(sorted(known)) or "none"
                raise ConfigError(f"{where} {key}: unknown option (known: {names})")
            values[key] = _convert(value, hints[key], known[key].metadata, f"{where} {key}")
        try:
            return cls(**values)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, Any]], where: str = "--option") -> Self:
        """:meth:`from_dict` of ``(key, text)`` pairs (``--option`` given several times)."""
        return cls.from_dict(dict(pairs), where)

    def to_dict(self) -> dict[str, Any]:
        """Every option as a plain JSON value (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else (
                dict(value) if isinstance(value, Mapping) else value)
        return out

    @classmethod
    def describe(cls) -> list[str]:
        """One line per option: ``name (type, default …): doc``."""
        hints = _hints(cls)
        lines = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            lines.append(f"{f.name} ({_type_name(hints[f.name])}, default {default!r}): "
                         f"{f.metadata.get('doc', '')}")
        return lines


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "") if not isinstance(hint, type) else hint.__name__


def _convert(value: Any, hint: Any, meta: Mapping[str, Any], where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, meta, where)
    if origin is tuple:
        items = _split(value, where)
        return tuple(_scalar(v, args[0], meta, where) for v in items)
    if origin is dict:
        return {str(k): _scalar(v, args[1], {}, f"{where}.{k}") for k, v in _mapping(value, where).items()}
    return _scalar(value, hint, meta, where)


def _split(value: Any, where: str) -> list[Any]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise ConfigError(f"{where}: expected a list (a,b,c), found {value!r}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        out = {}
        for item in (v.strip() for v in value.split(",") if v.strip()):
            key, sep, val = item.partition(":")
            if not sep or not key.strip():
                raise ConfigError(f"{where}: expected key:value,key:value, found {value!r}")
            out[key.strip()] = val.strip()
        return out
    raise ConfigError(f"{where}: expected key:value,key:value, found {value!r}")


def _scalar(value: Any, hint: Any, meta: Mapping[str, Any], where: str) -> Any:
    if typing.get_origin(hint) is typing.Literal:
        meta = {**meta, "choices": typing.get_args(hint)}
        hint = type(typing.get_args(hint)[0])
    if hint is bool:
        out = _bool(value, where)
    elif hint is int:
        out = _int(value, where)
    elif hint is float:
        out = _float(value, where, bool(meta.get("finite", True)))
    elif hint is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected text, found {value!r}")
        out = str(value)
    else:  # pragma: no cover - a dataclass declared with a type this module does not know
        raise TypeError(f"{where}: unsupported option type {hint!r}")
    _check_range(out, meta, where)
    return out


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{where}: expected 1/0, true/false, yes/no or on/off, found {value!r}")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected an integer, found {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: expected an integer, found {value!r}") from None


def _float(value: Any, where: str, finite: bool) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, found {value!r}")
    try:
        out = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, found {value!r}") from None
    if finite and not math.isfinite(out):
        raise ConfigError(f"{where}: expected a finite number, found {value!r}")
    if math.isnan(out):
        raise ConfigError(f"{where}: expected a number, found {value!r}")
    return out


def _check_range(value: Any, meta: Mapping[str, Any], where: str) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(map(str, choices))}, "
                          f"found {value!r}")
    lo, hi, lo_open = meta.get("lo"), meta.get("hi"), meta.get("lo_open", False)
    if isinstance(value, int | float) and not isinstance(value, bool):
        below = lo is not None and (value <= lo if lo_open else value < lo)
        if below or (hi is not None and value > hi):
            low = "" if lo is None else f"{lo:g} {'<' if lo_open else '≤'} "
            high = "" if hi is None else f" ≤ {hi:g}"
            raise ConfigError(f"{where}: expected {low}value{high}, found {value!r}")
