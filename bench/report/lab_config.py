"""The laboratory's identity for its reports (issue 14): ``--lab-config FILE`` (TOML).

::

    [laboratory]
    name = "Ventilator Test Laboratory, Bench 2"
    address = "Jl. Ganesa 10, Bandung 40132, Indonesia"
    accreditation = "KAN LP-1234-IDN (ISO/IEC 17025:2017)"
    report_prefix = "VTL"            # optional: report numbers are PREFIX-SESSION

    [signatories]
    tested_by = "A. Tester"
    checked_by = "B. Checker"
    approved_by = "C. Approver"

    [conclusion]                     # optional: the words of the overall conclusion
    words = "statement"              # "statement" (default: Conforms / Laik pakai …) or
                                     # "verdict" (the tables' PASS / FAIL, LULUS / GAGAL)
    [conclusion.id]                  # optional, per language: the laboratory's own words
    PASS = "Laik pakai"
    FAIL = "Tidak laik pakai"
    INCONCLUSIVE = "Tidak dapat disimpulkan"

Every field but ``report_prefix`` and ``[conclusion]`` is required: a missing one is a
:class:`ConfigError` naming the file, the table and the field (``ventbench`` exits 3). Only
the report's words change: results.json, junit.xml and exit codes keep PASS / FAIL /
INCONCLUSIVE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.errors import ConfigError
from ventbench.tomlfile import TomlFile

__all__ = ["DEFAULT_PREFIX", "LabConfig", "load_lab_config", "report_number"]

#: Report-number prefix without a lab config (or without ``report_prefix``).
DEFAULT_PREFIX = "VB"
CONCLUSION_STYLES = ("statement", "verdict")
CONCLUSION_VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "NOT_TESTED")
REQUIRED = {"laboratory": ("name", "address", "accreditation"),
            "signatories": ("tested_by", "checked_by", "approved_by")}


@dataclass(frozen=True)
class LabConfig:
    """Laboratory name, address, accreditation number, signatories and report-number prefix."""

    path: str
    name: str
    address: str
    accreditation: str
    tested_by: str
    checked_by: str
    approved_by: str
    report_prefix: str = DEFAULT_PREFIX
    conclusion_style: str = "statement"  #: "statement" or "verdict" ([conclusion] words)
    #: language → verdict (PASS, FAIL, INCONCLUSIVE, NOT_TESTED) → the laboratory's word
    conclusion_words: dict[str, dict[str, str]] = field(default_factory=dict)


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{where}: {key} missing (expected a non-empty string)")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key}: expected a string, found {type(value).__name__} {value!r}")
    return value.strip()


def load_lab_config(path: str | Path) -> LabConfig:
    """Read and check a lab config file.

    Raises
    ------
    ConfigError
        Unreadable or not TOML; a table or a required field missing or not a string. The
        message names the file and the field.
    """
    p = Path(path)
    data = TomlFile.read(p, "lab config")[0].data
    values: dict[str, str] = {}
    for table, keys in REQUIRED.items():
        section = data.get(table)
        if not isinstance(section, dict):
            raise ConfigError(f"{p}: [{table}] missing (expected the table with {', '.join(keys)})")
        for key in keys:
            values[key] = _text(section, key, f"{p}: [{table}]")
    prefix = (data.get("laboratory") or {}).get("report_prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix.strip():
        raise ConfigError(f"{p}: [laboratory]: report_prefix: expected a non-empty string, found {prefix!r}")
    style, words = _conclusion(data.get("conclusion", {}), p)
    return LabConfig(path=str(p), report_prefix=prefix.strip(), conclusion_style=style,
                     conclusion_words=words, **values)


def _conclusion(table: Any, p: Path) -> tuple[str, dict[str, dict[str, str]]]:
    """``[conclusion]``: the style and the per-language words; ConfigError naming the key."""
    from ventbench.bench.report.i18n import LANGUAGES

    where = f"{p}: [conclusion]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, found {table!r}")
    style = table.get("words", "statement")
    if style not in CONCLUSION_STYLES:
        raise ConfigError(f"{where}: words: expected one of {', '.join(CONCLUSION_STYLES)}, found {style!r}")
    words: dict[str, dict[str, str]] = {}
    for key, value in table.items():
        if key == "words":
            continue
        if key not in LANGUAGES or not isinstance(value, dict):
            raise ConfigError(f"{where}: {key}: unknown key (expected words or a language table: "
                              f"{', '.join(LANGUAGES)})")
        for verdict in value:
            if verdict not in CONCLUSION_VERDICTS:
                raise ConfigError(f"{where}.{key}: {verdict}: unknown verdict (expected some of "
                                  f"{', '.join(CONCLUSION_VERDICTS)})")
            words.setdefault(key, {})[verdict] = _text(value, verdict, f"{where}.{key}")
    return style, words


def report_number(session_id: str, lab: LabConfig | None) -> str:
    """The report number: the lab's prefix and the session id ("VTL-20260302T081530Z-demo")."""
    return f"{lab.report_prefix if lab else DEFAULT_PREFIX}-{session_id}"
