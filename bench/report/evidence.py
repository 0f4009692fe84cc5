"""What a verdict rests on, in the report: cover lines and each check's uncertainty budget.

The cover states the decision rule, whether traceability is established (and why not), the
environment at start and end with each value's origin, and which limits applied to each
quantity (the manufacturer's declaration or the protocol's). Each point page prints the GUM
budget of every judged check (:mod:`analysis.budget`) so that a reviewer can recompute u_c,
ν_eff, k and U by hand from the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, Column, Document
from ventbench.bench.report.reasons import translate_all, translate_reason

ENV_ORDER = ("t_amb_degc", "rh_pct", "p_amb_hpa", "mains_v", "mains_hz")


def _env_phase(values: Mapping[str, Any] | None, msgs: Messages) -> str:
    parts = []
    for name in ENV_ORDER:
        rec = (values or {}).get(name) or {}
        label = msgs(f"evidence.env_{name}")
        if rec.get("value") is None:
            parts.append(f"{label} {msgs('evidence.not_recorded')}")
        else:
            parts.append(f"{label} {msgs.sig(rec['value'], 5)} {rec.get('unit', '')} "
                         f"({msgs.get('evidence.source_' + str(rec.get('source')), str(rec.get('source')))})")
    return "; ".join(parts)


def cover_rows(data: Any, msgs: Messages) -> list[tuple[str, str]]:
    """Rows for the cover: decision rule, traceability, environment, limits' source."""
    results, rule = data.results, data.analysis.get("rule") or {}
    decision = str(rule.get("decision_rule", "simple"))
    rows = [(msgs("evidence.decision"), msgs.get(f"evidence.decision_{decision}", decision))]
    inst = results.get("instruments")
    if inst is None:
        rows.append((msgs("evidence.traceability"), msgs("evidence.trace_unknown")))
    else:
        status = str(inst.get("traceability") or "")
        problems = "; ".join(translate_reason(p, msgs) for p in inst.get("problems") or [])
        if status == "established":
            text = msgs("evidence.trace_established", register=inst.get("register") or "")
        elif status.startswith("overridden"):
            text = msgs("evidence.trace_overridden", reason=inst.get("override") or "", problems=problems)
        elif status == "not traceable":
            text = msgs("evidence.trace_not", problems=problems)
        else:
            text = msgs("evidence.trace_none")
        rows.append((msgs("evidence.traceability"), text))
    env = results.get("environment")
    if env is not None:
        text = (f"{msgs('evidence.phase_start')}: {_env_phase(env.get('start'), msgs)}. "
                f"{msgs('evidence.phase_end')}: {_env_phase(env.get('end'), msgs)}. ")
        if env.get("problems"):
            text += msgs("evidence.env_problems", problems="; ".join(translate_reason(p, msgs) for p in env["problems"]))
        elif env.get("ranges"):
            text += msgs("evidence.env_ok")
        if env.get("notes"):
            text += " " + msgs("evidence.env_notes", notes="; ".join(translate_reason(n, msgs) for n in env["notes"]))
        rows.append((msgs("evidence.environment"), text))
    applied: dict[str, list[str]] = {}
    for point in data.points:
        for quantity, how in (point.get("limits_applied") or {}).items():
            if how not in applied.setdefault(quantity, []):
                applied[quantity].append(how)
    if applied:
        rows.append((msgs("evidence.limits_source"), "; ".join(
            f"{msgs.quantity(q)}: {' / '.join(translate_all(how, msgs))}" for q, how in applied.items())))
    decl = results.get("declaration")
    if decl:
        device = decl.get("device") or {}
        text = msgs("evidence.declaration_text", path=decl.get("path", ""),
                    device=" ".join(str(device.get(k)) for k in ("name", "serial", "firmware") if device.get(k)))
        if decl.get("problems"):
            text += " — " + "; ".join(translate_all(decl["problems"], msgs))
        rows.append((msgs("evidence.declaration"), text))
    return rows


def _dof(value: Any, msgs: Messages) -> str:
    return "∞" if value is None or (isinstance(value, float) and math.isinf(value)) else msgs.sig(value, 4)


def budget_tables(doc: Document, point: Mapping[str, Any], msgs: Messages) -> None:
    """One table per judged check: each component, then u_c, ν_eff, k and U."""
    checks = [c for c in point.get("checks") or [] if c.get("uncertainty")]
    if not checks:
        return
    doc.heading(msgs("evidence.budget_heading"), 3, keep_in=0.8)
    doc.paragraph(msgs("evidence.budget_intro"), 7)
    for check in checks:
        doc.keep_together(partial(_budget_block, check=check, msgs=msgs))


def _budget_block(doc: Document, *, check: Mapping[str, Any], msgs: Messages) -> None:
    """One check's budget: its title, the components, u_c … U, what is missing, the achieved."""
    unc = check["uncertainty"]
    unit = unc.get("unit", "")
    at = unc.get("at") or {}
    where = (msgs("evidence.budget_at_mean") if at.get("value") == "mean" else
             msgs("evidence.budget_at_breath", breath=at.get("breath", "—"), value=msgs.sig(at.get("value"), 6),
                  unit=unit))
    widths = [1.55, 0.35, 0.75, 0.5]
    cols = [Column(msgs("evidence.col_component"), widths[0]), Column(msgs("evidence.col_type"), widths[1]),
            Column(msgs("evidence.col_u", unit=unit), widths[2], "right"),
            Column(msgs("evidence.col_dof"), widths[3], "right"),
            Column(msgs("evidence.col_source"), CONTENT_W_IN - sum(widths))]
    rows = [[translate_reason(c["name"], msgs), c["type"], msgs.sig(c["u"], 4), _dof(c.get("dof"), msgs),
             translate_reason(c.get("source"), msgs)]
            for c in unc.get("components") or []]
    doc.paragraph(msgs("evidence.budget_title", quantity=msgs.quantity(check["quantity"]), at=where), 7.5,
                  bold=True, after_in=0.02)
    doc.table(cols, rows, size=6.2)
    doc.paragraph(msgs("evidence.budget_total", u_c=msgs.sig(unc.get("u_c"), 4), nu=_dof(unc.get("nu_eff"), msgs),
                       k=msgs.sig(unc.get("k"), 4), U=msgs.sig(unc.get("U"), 4), unit=unit), 7, after_in=0.02)
    if unc.get("missing"):
        doc.paragraph(msgs("evidence.budget_missing", missing="; ".join(translate_all(unc["missing"], msgs))), 7, bold=True,
                      after_in=0.02)
    ach = check.get("achieved") or {}
    if ach.get("bias") is not None:
        doc.paragraph(msgs("evidence.achieved", bias=msgs.sig(ach["bias"], 4), U=msgs.sig(ach.get("U"), 4),
                           worst=msgs.sig(ach.get("max_abs_error"), 4), unit=unit), 7, after_in=0.06)


def register_table(doc: Document, results: Mapping[str, Any], msgs: Messages) -> None:
    """The instrument register the session was traced to (ISO/IEC 17025 7.8.2: the
    measuring instruments with serial numbers and calibration certificates): one row per
    entry — instrument, model, serial, certificate, calibrating laboratory, calibrated, due;
    a plain line when the session has no register (nothing for a session recorded before
    registers existed: its cover says so)."""
    inst = results.get("instruments")
    if inst is None:  # a session made before registers: the cover says so
        return
    entries = [e for e in inst.get("entries") or [] if isinstance(e, Mapping)]
    doc.heading(msgs("evidence.register_heading"), 3, keep_in=0.6)
    if not entries:
        doc.paragraph(msgs("evidence.trace_none"), 8, bold=True)
        return
    keys = ("name", "model", "serial", "certificate", "lab", "calibrated", "due")
    widths = (1.2, 1.1, 0.8, 0.95, 1.1, 0.8)  # dates whole on one line
    cols = [Column(msgs(f"evidence.col_{k}"), w) for k, w in zip(keys, widths, strict=False)]
    cols.append(Column(msgs("evidence.col_due"), CONTENT_W_IN - sum(widths)))
    doc.table(cols, [[str(e.get(k) or "—") for k in keys] for e in entries], size=8)
    doc.paragraph(f"{inst.get('register') or ''} · SHA-256 {str(inst.get('register_sha256') or '')[:16]}…", 8)
