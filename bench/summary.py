"""Plain-text summary of a results document: one table per point, then the overall verdict.

Works on the JSON-ready dicts of the ``ventbench.results/1`` contract only, so it prints a
fresh analysis and a stored ``results.json`` alike. Plain ASCII-aligned columns; no colour,
so the output is the same in a terminal, a CI log and a pasted issue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ventbench.bench import numbers
from ventbench.bench.numbers import decimals_for

#: Units of check quantities, for the table (analysis judges in these units).
QUANTITY_UNITS = {
    "vt": "mL", "vte": "mL", "peep": "cmH2O", "pinsp": "cmH2O", "pplat": "cmH2O",
    "pip": "cmH2O", "pmean": "cmH2O", "rate": "bpm", "ti": "s", "te": "s", "ie": "1",
    "fio2": "%", "leak": "%",
}
COLUMNS = ("quantity", "unit", "n", "mean", "sd", "min", "max", "set", "limit", "achieved",
           "verdict", "reason")


def format_number(value: Any, digits: int = 4, decimals: int | None = None) -> str:
    """A number for the plain-text table: ``digits`` significant digits or fixed ``decimals``;
    "-" for None/NaN (see :func:`ventbench.bench.numbers.format_number`)."""
    return numbers.format_number(value, digits, decimals=decimals, missing="-")


def format_limit(limit: Mapping[str, Any] | None) -> str:
    """``±(4 mL + 15 %)`` or ``≤ 35 cmH2O`` from a contract limit dict; "-" when none."""
    if not limit:
        return "-"
    unit = limit.get("unit") or ""
    parts = []
    if limit.get("abs") is not None:
        rel_pct = 100.0 * float(limit.get("rel") or 0.0)
        parts.append(f"±({limit['abs']:.4g} {unit} + {rel_pct:.4g} %)")
    if limit.get("max") is not None:
        parts.append(f"≤ {limit['max']:.4g} {unit}")
    if limit.get("max_over") is not None:
        parts.append(f"≤ {limit['max_over']} + {float(limit.get('max_over_by') or 0):.4g} {unit}")
    return ", ".join(parts) or "-"


def format_achieved(achieved: Mapping[str, Any] | None, unit: str) -> str:
    """``±(4 mL + 6.2 %)`` from a contract ``achieved`` dict; "-" when not computed."""
    if not achieved or achieved.get("abs") is None:
        return "-"
    rel = achieved.get("rel")
    rel_text = "-" if rel is None else f"{100.0 * float(rel):.3g}"
    return f"±({float(achieved['abs']):.4g} {unit} + {rel_text} %)"


def check_row(check: Mapping[str, Any]) -> list[str]:
    """The table cells of one contract check dict."""
    quantity = str(check.get("quantity", "?"))
    limit = check.get("limit") or {}
    unit = limit.get("unit") or check.get("unit") or QUANTITY_UNITS.get(quantity, "")
    reference = check.get("mean") if check.get("mean") is not None else check.get("set")
    places = decimals_for(reference) if reference is not None else None
    return [
        quantity,
        unit,
        format_number(check.get("n_breaths", check.get("n_windows"))),  # windows: steady points
        format_number(check.get("mean"), decimals=places),
        format_number(check.get("sd"), decimals=places if places is None else places + 1),
        format_number(check.get("min"), decimals=places),
        format_number(check.get("max"), decimals=places),
        f"{check['set']:g}" if isinstance(check.get("set"), int | float) else "-",
        format_limit(limit),
        format_achieved(check.get("achieved"), unit),
        str(check.get("verdict", "-")),
        str(check.get("reason") or ""),
    ]


def table(rows: Sequence[Sequence[str]], header: Sequence[str] = COLUMNS) -> list[str]:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    all_rows = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
    lines = []
    for row in all_rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths[:-1]) + "  " + "-" * max(6, widths[-1]))
    return lines


def point_lines(point: Mapping[str, Any]) -> list[str]:
    """Heading, counts and check table of one point."""
    breaths = point.get("breaths") or []
    measured = point.get("measured")
    if measured is None:
        measured = [i for i, b in enumerate(breaths) if b.get("measured")]
    skipped = point.get("skipped", measured[0] if measured else len(breaths))
    flagged = sum(1 for i in measured if i < len(breaths) and breaths[i].get("flags"))
    settings = ", ".join(f"{k}={v:g}" if isinstance(v, int | float) else f"{k}={v}"
                         for k, v in (point.get("set") or {}).items())
    lines = [
        f"point {point.get('id', '?')} ({point.get('mode') or 'mode not given'}): "
        f"set {settings or 'none (measure only)'}",
        f"  {len(breaths)} breaths found, {skipped} skipped while settling, {len(measured)} judged"
        f" ({flagged} of them flagged); limits {point.get('limits') or '-'}",
    ]
    if point.get("mode") == "steady":  # judged over windows (analysis.steady)
        settled = point.get("settled_at_s")
        ox = point.get("oxygen") or {}
        lines[1] = (f"  {len(point.get('windows') or [])} windows, settled at "
                    f"{'never' if settled is None else f'{settled:.3g} s'}, "
                    f"{len(point.get('measured_windows') or [])} measured; limits {point.get('limits') or '-'}"
                    + (f"; O2 drawn {ox['o2_lpm']:.4g} L/min at FiO2 {ox['fio2_pct']:.4g} %"
                       if ox.get("o2_lpm") is not None and ox.get("fio2_pct") is not None else ""))
    checks = point.get("checks") or []
    if checks:
        lines += table([check_row(c) for c in checks])
    else:
        lines.append("(no checks)")
    verdict = f"point {point.get('id', '?')}: {point.get('verdict', '-')}"
    reason = point.get("reason") or ""
    from_checks = any(c.get("reason") and c["reason"] in reason for c in checks)
    if point.get("verdict") != "PASS" and reason and not from_checks:
        verdict += f" — {reason}"
    lines.append(verdict)
    return lines


def summary_lines(document: Mapping[str, Any]) -> list[str]:
    """The whole summary of a results document as lines (no trailing newlines)."""
    lines = []
    for entry in (document.get("source") or {}).get("files") or []:
        lines.append(
            f"source: {entry.get('path')} ({entry.get('format')}, "
            f"{entry.get('samples', '?')} samples, sha256 {str(entry.get('sha256'))[:16]}…)"
        )
    gas = document.get("gas") or {}
    if gas:
        lines.append(
            f"gas: flow recorded at {gas.get('flow_condition')} (condition from: {gas.get('flow_condition_source', 'file')}), "
            f"analysed at {gas.get('analysis_condition')}, factor {format_number(gas.get('btps_factor'), 5)} "
            f"(t_amb {format_number(gas.get('t_amb_degc'), 3)} °C, "
            f"p_amb {format_number(gas.get('p_amb_hpa'), 5)} hPa, {gas.get('ambient_source')})"
        )
    for point in document.get("points") or []:
        lines.append("")
        lines += point_lines(point)
    lines.append("")
    lines.append(f"verdict: {document.get('verdict', '-')}")
    return lines


def print_summary(document: Mapping[str, Any], stream: TextIO) -> None:
    """Print :func:`summary_lines` to ``stream``."""
    stream.write("\n".join(summary_lines(document)) + "\n")
