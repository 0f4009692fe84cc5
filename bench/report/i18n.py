"""Message catalogues: every fixed text of the report, one TOML file per language.

``messages_<lang>.toml`` holds nested tables of strings; keys are their dotted paths
(``cover.title``). Placeholders are ``str.format`` fields (``{device}``); the caller formats
numbers first with :meth:`Messages.num`, so the decimal separator follows the language while
units stay SI. Adding a language means adding one catalogue: no layout code changes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from ventbench.bench import numbers
from ventbench.bench.numbers import format_number
from ventbench.errors import ConfigError

#: Languages with a catalogue, default first.
LANGUAGES = ("en", "id")
DEFAULT_LANGUAGE = "en"
#: Shown for a missing number.
MISSING = numbers.MISSING
#: The minus sign used in numbers (U+2212, as matplotlib's tick labels).
MINUS = numbers.MINUS


#: The catalogue's array of ``[[reason]]`` tables (patterns for bench-generated sentences,
#: :mod:`bench.report.reasons`); kept apart from the keyed texts.
REASON_TABLE = "reason"


def _flatten(table: Mapping[str, Any], prefix: str, out: dict[str, str], where: str) -> None:
    for key, value in table.items():
        if not prefix and key == REASON_TABLE:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, name + ".", out, where)
        elif isinstance(value, str):
            out[name] = value
        else:
            raise ConfigError(f"{where}: {name}: expected a string, found {value!r}")


@cache
def _data(lang: str) -> dict[str, Any]:
    """The parsed catalogue of ``lang`` (ConfigError for an unknown language or a bad file)."""
    if lang not in LANGUAGES:
        raise ConfigError(f"report language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    where = f"bench/report/messages_{lang}.toml"
    try:
        text = resources.files("ventbench.bench.report").joinpath(f"messages_{lang}.toml").read_text("utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{where}: cannot read the message catalogue ({error})") from None
    return data


@cache
def _catalogue(lang: str) -> tuple[tuple[str, str], ...]:
    where = f"bench/report/messages_{lang}.toml"
    data = _data(lang)
    out: dict[str, str] = {}
    _flatten(data, "", out, where)
    return tuple(sorted(out.items()))


@cache
def reason_table(lang: str) -> tuple[tuple[str, str], ...]:
    """The ``[[reason]]`` (pattern, text) pairs of a language's catalogue, in file order."""
    where = f"bench/report/messages_{lang}.toml"
    out = []
    for i, entry in enumerate(_data(lang).get(REASON_TABLE) or []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("pattern"), str) \
                or not isinstance(entry.get("text"), str):
            raise ConfigError(f"{where}: reason {i + 1}: expected a table with pattern and text strings")
        out.append((entry["pattern"], entry["text"]))
    return tuple(out)


class Messages:
    """The fixed texts and number formatting of one language.

    Parameters
    ----------
    lang : str
        "en" (default) or "id".

    Examples
    --------
    >>> m = Messages("id")
    >>> m.num(3.14159, 2)
    '3,14'
    """

    def __init__(self, lang: str = DEFAULT_LANGUAGE) -> None:
        self.lang = lang
        self.texts = dict(_catalogue(lang))
        self.decimal = self.texts.get("format.decimal", ".")
        #: the ``[[reason]]`` tables: (pattern, text) pairs, first match wins
        self.reason_table: tuple[tuple[str, str], ...] = reason_table(lang)
        #: the conclusion's words: "statement" (``[statement]``: Conforms / Laik pakai …) or
        #: "verdict" (the PASS / FAIL words of the tables); ``words`` override either
        self.conclusion_style = "statement"
        self.conclusion_words: dict[str, str] = {}

    def with_lab(self, lab: Any) -> Messages:
        """These messages with the conclusion words of a lab config (``[conclusion]``, see
        :mod:`bench.report.lab_config`); unchanged for None."""
        if lab is not None:
            self.conclusion_style = lab.conclusion_style
            self.conclusion_words = dict((lab.conclusion_words or {}).get(self.lang) or {})
        return self

    def keys(self) -> set[str]:
        """Every message key of the catalogue."""
        return set(self.texts)

    def __call__(self, key: str, **values: Any) -> str:
        """The message ``key`` with ``values`` substituted; ConfigError when it is missing."""
        try:
            text = self.texts[key]
        except KeyError:
            raise ConfigError(f"bench/report/messages_{self.lang}.toml: message {key!r} missing") from None
        return text.format(**values) if values else text

    def get(self, key: str, default: str) -> str:
        """The message ``key``, or ``default`` when the catalogue has none (data-driven keys)."""
        return self.texts.get(key, default)

    def num(self, value: Any, decimals: int = 2) -> str:
        """``value`` with ``decimals`` digits after the language's decimal separator."""
        return format_number(_number(value), decimals=decimals, decimal_sep=self.decimal,
                             minus=MINUS)

    def sig(self, value: Any, digits: int = 4) -> str:
        """``value`` to ``digits`` significant digits (``g`` style), localised."""
        return format_number(_number(value), digits, trim=True, decimal_sep=self.decimal,
                             minus=MINUS)

    def pct(self, fraction: Any, decimals: int = 1) -> str:
        """A fraction as a percentage number (0.062 → "6.2"), localised, no % sign."""
        if fraction is None:
            return MISSING
        return self.num(float(fraction) * 100.0, decimals)

    def verdict(self, word: str | None) -> str:
        """The localised verdict word with its symbol, e.g. "✓ PASS" (never colour alone)."""
        word = (word or "INCONCLUSIVE").upper()
        key = word.replace(" ", "_")
        return f"{self.get('symbol.' + key, '?')} {self.get('verdict.' + key, word)}"

    def conclusion(self, word: str | None) -> str:
        """The overall verdict in the laboratory's words, with its symbol: "✗ Does not
        conform", "✗ Tidak laik pakai" (``[statement]``), or the table words ("✗ FAIL") when
        the lab config asks for them, or the lab config's own words. Machine verdicts (JSON,
        JUnit, exit codes) never change."""
        word = (word or "INCONCLUSIVE").upper()
        key = word.replace(" ", "_")
        if key in self.conclusion_words:
            return f"{self.get('symbol.' + key, '?')} {self.conclusion_words[key]}"
        if self.conclusion_style == "verdict":
            return self.verdict(word)
        return f"{self.get('symbol.' + key, '?')} {self.get('statement.' + key, word)}"

    def quantity(self, quantity: str) -> str:
        """Display name of a checked quantity (the code itself when the catalogue has none)."""
        return self.get(f"quantity.{quantity}", quantity)

    def join(self, items: list[str]) -> str:
        """Items joined with the language's list separator."""
        return self.get("format.list_separator", ", ").join(items)


def _number(value: Any) -> Any:
    """A numeric value (also a number written as text) as a float; anything else as it is."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
