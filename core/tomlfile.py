"""One reader and one declarative check for the TOML files ventbench takes.

Protocols (:mod:`bench.protocol_toml`), limit sets (:mod:`analysis.limits`) and reliability
settings (:mod:`bench.reliability.config`) are read with :class:`TomlFile`, and each table's
keys are checked against a schema of :class:`Key` by :func:`check_table`. Every error is
one :class:`~ventbench.errors.ConfigError` line::

    protocols/mine.toml:42: points[3] (id 'vc-04').set.vt_ml: expected a number, found '500'

naming the file, the line (found in the text by :meth:`TomlFile.line`: tomllib keeps no
positions, so the line is that of the key, else of its table's header) and the key path.
Checks that relate several keys (a Ti within the breath cycle, a band with both ``abs``
and ``rel``) stay with the file's own parser and report through :meth:`TomlFile.error`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ventbench.errors import ConfigError

__all__ = ["Key", "TomlFile", "check_table"]

#: What a :class:`Key` may hold, and how the error says it.
KINDS = {
    "number": "a finite number",
    "integer": "an integer",
    "text": "a non-empty string",
    "string": "a string",
    "bool": "true or false",
    "table": "a table",
    "strings": "a list of strings",
    "numbers": "a list of numbers",
    "interval": "[min, max]",
}


class TomlFile:
    """A parsed TOML text that can say on which line a key is.

    Parameters
    ----------
    text : str
        The file's text.
    where : str
        How errors name the file (a path, or ``bench/protocols/NAME.toml`` for a built-in).

    Raises
    ------
    ConfigError
        The text is not TOML (``where:LINE: invalid TOML: …``).
    """

    _header = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?")

    def __init__(self, text: str, where: str) -> None:
        import tomllib  # ~6 ms: paid only by commands that read TOML, not by every import

        self.where = where
        try:
            self.data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"line (\d+)", str(exc))
            at = f"{where}:{found.group(1)}" if found else where
            raise ConfigError(f"{at}: invalid TOML: {exc}") from None
        self.lines = text.splitlines()
        self.headers = [(i, m.group(1), line.lstrip().startswith("[["))
                        for i, line in enumerate(self.lines) if (m := self._header.match(line))]

    @classmethod
    def read(cls, path: str | Path, what: str, where: str | None = None) -> tuple[TomlFile, bytes]:
        """Read and parse a TOML file; returns it and its bytes (for a hash).

        Raises
        ------
        ConfigError
            ``PATH: WHAT not found``, ``cannot read the WHAT``, or invalid TOML with its line.
        """
        path = Path(path)
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: {what} not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read the {what}: {error}") from None
        return cls(text, where or str(path)), raw

    @classmethod
    def of_data(cls, data: dict[str, Any], where: str) -> TomlFile:
        """A document already parsed (e.g. frozen in a session's JSON): errors name ``where``
        and the key path, without a line."""
        self = cls.__new__(cls)
        self.where, self.data, self.lines, self.headers = where, data, [], []
        return self

    def _span(self, table: str, index: int | None) -> tuple[int, int] | None:
        """Line range (0-based, end exclusive) of ``[table]`` or of the ``index``-th ``[[table]]``."""
        starts = [i for i, name, array in self.headers
                  if name == table and array == (index is not None)]
        if index is not None:
            starts = starts[index:index + 1]
        if not starts:
            return None
        start, end = starts[0], len(self.lines)
        for i, name, _ in self.headers:
            if i > start and not name.startswith(table + "."):
                end = i
                break
        return start, end

    def line(self, key: str | None, table: str | None = None, index: int | None = None) -> int | None:
        """1-based line of ``key`` inside ``table`` (the ``index``-th ``[[table]]`` when
        given; a dotted ``table`` such as ``tolerances.vt`` may be a header of its own or a
        key of its parent's, e.g. an inline table), else the table's line, else None."""
        span = (0, len(self.lines)) if not table else self._span(table, index)
        if span is None and table and "." in table:  # [a] with b = {…}, or a.b.key = … lines
            parent, _, name = table.rpartition(".")
            outer = self.line(name, parent, index)
            if outer is None:
                return None
            end = next((i for i, _, _ in self.headers if i > outer - 1), len(self.lines))
            span = (outer - 1, end)
        if span is None:
            return None
        if key:
            pattern = re.compile(r"(^|[\s{,.])" + re.escape(key) + r"\s*=")
            for i in range(*span):
                if pattern.search(self.lines[i].split("#", 1)[0]):
                    return i + 1
        return span[0] + 1 if table else None

    def error(self, path: str, message: str, key: str | None = None, table: str | None = None,
              index: int | None = None) -> ConfigError:
        """``ConfigError("where:LINE: path: message")``, the line that of ``key`` in ``table``."""
        line = self.line(key, table, index)
        at = f"{self.where}:{line}" if line else self.where
        return ConfigError(f"{at}: {path}: {message}")


@dataclass(frozen=True)
class Key:
    """What one key of a table may hold.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    required : bool
        The key must be present.
    choices : tuple of str
        For strings: the allowed values (empty: any).
    lo, hi : float, optional
        For numbers and intervals: the inclusive bounds (``lo_open``: lo itself excluded).
    """

    kind: str
    required: bool = False
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit, or None."""
        expected = KINDS[self.kind]
        if self.kind in ("number", "integer"):
            if not _is_number(value) or (self.kind == "integer" and not isinstance(value, int)):
                return f"expected {expected}, found {value!r}"
            return self._range(value)
        if self.kind in ("text", "string"):
            if not isinstance(value, str) or (self.kind == "text" and not value.strip()):
                return f"expected {expected}, found {value!r}"
            if self.choices and value not in self.choices:
                return f"expected one of {', '.join(self.choices)}, found {value!r}"
            return None
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"expected {expected}, found {value!r}"
        if self.kind == "table":
            return None if isinstance(value, dict) else f"expected {expected}, found {value!r}"
        if self.kind == "strings":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            return None if ok else f"expected {expected}, found {value!r}"
        if self.kind == "numbers":
            ok = isinstance(value, list) and all(_is_number(v) for v in value)
            return (self._range(min(value)) or self._range(max(value)) if ok and value
                    else None if ok else f"expected {expected}, found {value!r}")
        ok = isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)
        if not ok:
            return f"expected {expected}, found {value!r}"
        if value[0] > value[1]:
            return f"expected min ≤ max, found {value!r}"
        return self._range(value[0]) or self._range(value[1])

    def _range(self, value: float) -> str | None:
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return f"expected {'>' if self.lo_open else '≥'} {self.lo:g}, found {value!r}"
        if self.hi is not None and value > self.hi:
            return f"expected ≤ {self.hi:g}, found {value!r}"
        return None


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def check_table(toml: TomlFile, raw: Any, schema: Mapping[str, Key], path: str, table: str | None,
                index: int | None = None) -> dict[str, Any]:
    """Check one table against ``schema``: unknown keys, missing required keys, kinds,
    choices and bounds. Returns ``raw``.

    Parameters
    ----------
    toml : TomlFile
        The file, for the line numbers.
    raw : Any
        The table as parsed.
    schema : mapping of str to Key
        Every key the table may have.
    path : str
        The table's path as errors show it (``protocol``, ``points[3] (id 'vc-04')``).
    table, index : str and int, optional
        Where the table is in the text (``points`` and 3 for the fourth ``[[points]]``).

    Raises
    ------
    ConfigError
        The first problem, with the file, line and key path.
    """
    if not isinstance(raw, dict):
        raise toml.error(path, f"expected a table, found {raw!r}", None, table, index)
    for key in raw:
        if key not in schema:
            raise toml.error(f"{path}.{key}",
                             f"unknown key (expected some of {', '.join(sorted(schema))})",
                             key, table, index)
    for key, rule in schema.items():
        if key not in raw:
            if rule.required:
                raise toml.error(f"{path}.{key}", "missing", None, table, index)
            continue
        why = rule.problem(raw[key])
        if why:
            raise toml.error(f"{path}.{key}", why, key, table, index)
    return raw
