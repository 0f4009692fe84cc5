"""Formatting shared by the report pages: numbers by unit, limits, settings, verdict styles."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import INK, Style

#: Decimals shown per unit (well inside each quantity's limit; results.json keeps 7 digits).
DECIMALS = {"mL": 1, "cmH2O": 2, "bpm": 2, "s": 3, "%": 1, "1": 2, "L/min": 2}
#: Units of the settings and lung keys (the key's unit suffix).
SET_UNITS = {"vt_ml": "mL", "rate_bpm": "bpm", "ti_s": "s", "peep_cmh2o": "cmH2O",
             "dp_cmh2o": "cmH2O", "pinsp_cmh2o": "cmH2O", "fio2_pct": "%", "ie_ratio": "1",
             "c_ml_per_hpa": "mL/hPa", "r_hpa_s_per_l": "hPa·s/L", "leak_ml_min": "mL/min"}
FAIL_COLOR = "#8a2a00"  # dark vermillion: still black-like in greyscale, with the word and ✗


def value(msgs: Messages, x: Any, unit: str) -> str:
    """A measured value with the decimals of its unit (no unit)."""
    return msgs.num(x, DECIMALS.get(unit, 3))


#: joins the words of one expression, so that a table cell wraps between expressions, never
#: inside "±(2 cmH2O + 4 %)" (text extraction gives it back as a space)
NBSP = "\u00a0"


def unbroken(text: str) -> str:
    """``text`` with its spaces made non-breaking: one expression, one line."""
    return text.replace(" ", NBSP)


def limit_text(msgs: Messages, limit: Mapping[str, Any] | None) -> str:
    """"±(4 mL + 15 %)", "≤ 35 cmH2O", "≤ pplat + 2 cmH2O" — localised numbers, each
    expression :func:`unbroken`."""
    if not limit:
        return msgs("common.no_limit")
    unit = limit.get("unit", "")
    parts = []
    if limit.get("abs") is not None:
        parts.append(f"±({msgs.sig(limit['abs'])} {unit} + {msgs.sig(float(limit.get('rel') or 0) * 100)} %)")
    if limit.get("max") is not None:
        parts.append(f"≤ {msgs.sig(limit['max'])} {unit}")
    if limit.get("max_over") is not None:
        parts.append(f"≤ {limit['max_over']} + {msgs.sig(limit.get('max_over_by'))} {unit}")
    if limit.get("min") is not None:  # a floor (steady points: "maximum oxygen > 95 %")
        parts.append(f"≥ {msgs.sig(limit['min'])} {unit}")
    text = ", ".join(unbroken(part) for part in parts)
    if limit.get("of") == "actual":
        text += " " + msgs("limits.of_actual")
    return text


def achieved_text(msgs: Messages, check: Mapping[str, Any]) -> str:
    """The accuracy achieved: "bias ± U; max |e|" ("+8.6 ± 12.9 mL; max 9.3"), else the
    older "±(4 mL + 6.2 %)" form, or — when not computable. A narrow cell wraps only between
    the bias, "± U unit;" and "max …" (each :func:`unbroken`)."""
    ach = check.get("achieved") or {}
    unit = check.get("unit") or (check.get("limit") or {}).get("unit", "")
    if ach.get("bias") is not None and ach.get("U") is not None:
        return " ".join([f"{'+' if ach['bias'] >= 0 else ''}{msgs.sig(ach['bias'], 3)}",
                         unbroken(f"± {msgs.sig(ach['U'], 3)} {unit};"),
                         unbroken(f"max {msgs.sig(ach.get('max_abs_error'), 3)}")])
    if ach.get("abs") is None or ach.get("rel") is None:
        return msgs("common.missing")
    return unbroken(f"±({msgs.sig(ach['abs'])} {unit} + {msgs.pct(ach['rel'])} %)")


def settings_text(msgs: Messages, table: Mapping[str, Any]) -> str:
    """Settings or lung values as "VT 500 mL · f 20 bpm · …" (catalogue labels)."""
    parts = []
    for key, raw in table.items():
        if raw is None:
            continue
        label = msgs.get(f"setting.{key}", key)
        unit = SET_UNITS.get(key, "")
        number = msgs.sig(raw, 6) if isinstance(raw, int | float) and not isinstance(raw, bool) else str(raw)
        parts.append(f"{label} {number}{' ' + unit if unit and unit != '1' else ''}")
    return " · ".join(parts) or msgs("common.missing")


def verdict_style(word: str | None) -> Style:
    """FAIL bold and dark vermillion, INCONCLUSIVE and NOT TESTED bold, others plain."""
    word = (word or "").upper()
    if word == "FAIL":
        return Style(bold=True, color=FAIL_COLOR)
    if word in ("INCONCLUSIVE", "NOT TESTED"):
        return Style(bold=True, color=INK)
    return Style()


def short_list(items: list[str], limit: int = 12) -> str:
    """At most ``limit`` items, then "… (N in all)"."""
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" … ({len(items)})"


def time_text(text: Any, utc: bool = True) -> str:
    """An ISO 8601 time from a session record as ``2026-11-28 21:29:22 UTC`` (or with its
    UTC offset when ``utc`` is False); ``—`` when missing, the text itself when unparseable."""
    if not text:
        return "—"
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    suffix = " UTC" if utc else f" (UTC{moment.strftime('%z')[:3]}:{moment.strftime('%z')[3:]})"
    return moment.strftime("%Y-%m-%d %H:%M:%S") + suffix
