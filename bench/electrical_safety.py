"""Electrical-safety record: readings from an electrical safety analyser, judged against
IEC 62353 limits.

The record is entered from the analyser's printout as TOML (or exported to it)::

    [record]
    analyser = "ESA615"            # name as in the instrument register
    analyser_serial = "1234567"
    standard = "IEC 62353"
    method = "direct"              # direct | differential | alternative (IEC 62353 measuring methods)
    equipment_class = "I"          # I | II (protection against electric shock)
    applied_part = "BF"            # B | BF | CF
    date = "2026-12-05"

    [readings]
    protective_earth_ohm = 0.12    # Class I only
    equipment_leakage_ua = 210
    patient_leakage_ua = 35        # applied-part leakage

``date`` is an ISO date (quoted, or a TOML date). A reading that is missing, not a number,
negative or beyond what an analyser can show is
refused with the field named (ConfigError → exit 3): a safety record is never judged on
half its readings. The limits (:data:`LIMITS`) are recollections of IEC 62353:2014 Table 2 —
no public source quoting them is in STANDARDS.md — so every one is ``unconfirmed`` and the
record says "limit not verified against the standard text". With an instrument register the
analyser must be in it (name and serial), else the record is INCONCLUSIVE (not traceable).
The safety stage of ``ventbench run certification`` (:mod:`bench.certification`) uses it.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ventbench.errors import ConfigError
from ventbench.tomlfile import TomlFile

SOURCE = "IEC 62353:2014 Table 2 as recalled (no public source quoting it in STANDARDS.md)"
CONFIDENCE = "unconfirmed"
METHODS = ("direct", "differential", "alternative")
CLASSES = ("I", "II")
APPLIED_PARTS = ("B", "BF", "CF")
#: field → (unit, largest value an analyser reports: beyond it the entry is a typing error)
FIELDS = {"protective_earth_ohm": ("Ω", 20.0), "equipment_leakage_ua": ("µA", 20000.0),
          "patient_leakage_ua": ("µA", 50000.0)}
#: (quantity, method or "*", class or applied part or "*") → limit (reading ≤ limit)
LIMITS: Mapping[tuple[str, str, str], float] = {
    ("protective_earth_ohm", "*", "I"): 0.3,
    ("equipment_leakage_ua", "alternative", "I"): 1000.0,
    ("equipment_leakage_ua", "alternative", "II"): 500.0,
    ("equipment_leakage_ua", "direct", "I"): 500.0,
    ("equipment_leakage_ua", "direct", "II"): 100.0,
    ("equipment_leakage_ua", "differential", "I"): 500.0,
    ("equipment_leakage_ua", "differential", "II"): 100.0,
    ("patient_leakage_ua", "*", "B"): 5000.0,
    ("patient_leakage_ua", "*", "BF"): 5000.0,
    ("patient_leakage_ua", "*", "CF"): 50.0,
}
_RECORD_KEYS = ("analyser", "analyser_serial", "standard", "method", "equipment_class", "applied_part", "date")


def _limit(quantity: str, method: str, cls: str, part: str) -> float | None:
    for key in ((quantity, method, cls), (quantity, "*", cls), (quantity, "*", part), (quantity, method, part)):
        if key in LIMITS:
            return LIMITS[key]
    return None


def parse_record(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate a record (parsed TOML); every problem names ``where`` and the field."""
    for table in data:
        if table not in ("record", "readings"):
            raise ConfigError(f"{where}: [{table}]: unknown table (expected [record], [readings])")
    head, readings = data.get("record"), data.get("readings")
    if not isinstance(head, dict):
        raise ConfigError(f"{where}: [record]: missing table")
    if not isinstance(readings, dict):
        raise ConfigError(f"{where}: [readings]: missing table")
    if isinstance(head.get("date"), datetime.date):  # an unquoted TOML date
        head = {**head, "date": head["date"].isoformat()}
    for key in _RECORD_KEYS:
        if not isinstance(head.get(key), str) or not head[key].strip():
            raise ConfigError(f"{where}: record.{key}: missing or not a string")
    for key, allowed in (("method", METHODS), ("equipment_class", CLASSES), ("applied_part", APPLIED_PARTS)):
        if head[key] not in allowed:
            raise ConfigError(f"{where}: record.{key}: expected one of {', '.join(allowed)}, found {head[key]!r}")
    try:
        datetime.date.fromisoformat(head["date"])
    except ValueError:
        raise ConfigError(f"{where}: record.date: expected an ISO date YYYY-MM-DD, found {head['date']!r}") from None
    if head["standard"] != "IEC 62353":
        raise ConfigError(f"{where}: record.standard: only 'IEC 62353' limits are known, found {head['standard']!r}")
    for key in readings:
        if key not in FIELDS:
            raise ConfigError(f"{where}: readings.{key}: unknown reading (expected some of {', '.join(FIELDS)})")
    needed = [k for k in FIELDS if not (k == "protective_earth_ohm" and head["equipment_class"] == "II")]
    out = {}
    for key in needed:
        if key not in readings:
            raise ConfigError(f"{where}: readings.{key}: missing reading ({FIELDS[key][0]})")
        value = readings[key]
        unit, top = FIELDS[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{where}: readings.{key}: expected a number in {unit}, found {value!r}")
        if not 0.0 <= value <= top:
            raise ConfigError(f"{where}: readings.{key}: out of range: expected 0 … {top:g} {unit}, found {value:g}")
        out[key] = float(value)
    return {"record": {k: head[k] for k in _RECORD_KEYS}, "readings": out}


def load_record(path: str | Path) -> dict[str, Any]:
    """Read and validate a record file (ConfigError naming the file on any problem)."""
    path = Path(path)
    return parse_record(TomlFile.read(path, "electrical-safety record")[0].data, str(path))


def judge_record(record: Mapping[str, Any], register: Any = None) -> dict[str, Any]:
    """Each reading against its limit; the record's verdict (FAIL if any reading is above its
    limit; INCONCLUSIVE when the analyser is not in a given register; else PASS)."""
    head = record["record"]
    checks = []
    for key, value in record["readings"].items():
        limit = _limit(key, head["method"], head["equipment_class"], head["applied_part"])
        unit = FIELDS[key][0]
        verdict = "PASS" if limit is not None and value <= limit else "FAIL" if limit is not None else "INFO"
        item = {"quantity": key, "value": value, "unit": unit,
                "limit": None if limit is None else {"max": limit, "unit": unit, "source": SOURCE,
                                                     "confidence": CONFIDENCE},
                "verdict": verdict}
        if verdict == "FAIL":
            item["reason"] = f"{value:g} {unit} above the limit {limit:g} {unit}"
        checks.append(item)
    verdict, reason = "PASS", ""
    if any(c["verdict"] == "FAIL" for c in checks):
        verdict = "FAIL"
        reason = "; ".join(f"{c['quantity']}: {c['reason']}" for c in checks if c["verdict"] == "FAIL")
    elif register is not None and not any(i.name == head["analyser"] and i.serial == head["analyser_serial"]
                                          for i in register.instruments):
        verdict = "INCONCLUSIVE"
        reason = (f"analyser {head['analyser']} {head['analyser_serial']} is not in the instrument register "
                  f"{register.path}: not traceable")
    out = {"record": dict(head), "checks": checks, "verdict": verdict,
           "note": "limit not verified against the standard text"}
    if reason:
        out["reason"] = reason
    return out
