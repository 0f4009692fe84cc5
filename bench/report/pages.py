"""Front sections of the report: cover and conclusion, test set-up, limits.

Each function appends its section to a :class:`~bench.report.layout.Document`; every
fixed text comes from the message catalogue, every value from the session files.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ventbench.bench.report.config_tables import detection_table
from ventbench.bench.report.evidence import cover_rows, register_table
from ventbench.bench.report.fmt import (
    FAIL_COLOR,
    limit_text,
    settings_text,
    short_list,
    time_text,
    verdict_style,
)
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, LEFT_IN, PAGE_W_IN, Column, Document, Style
from ventbench.bench.report.reasons import translate_reason
from ventbench.bench.report.source import NOT_TESTED, ReportData

VERDICT_ORDER = ("PASS", "FAIL", "INCONCLUSIVE", NOT_TESTED, "INFO")
#: Calibration interval assumed when an instrument states no due date (flagged as assumed).
DEFAULT_CAL_INTERVAL_DAYS = 365


def limit_source(tol: dict[str, Any], msgs: Messages) -> str:
    """A limit's source in the report's language: ``source_<lang>`` (``source_id``) when the
    limit set gives one, else ``source`` through :func:`translate_reason` (a citation no pattern
    matches stays as written; the bench's own "declared by the manufacturer: …" is translated)."""
    return str(tol.get(f"source_{msgs.lang}") or translate_reason(tol.get("source"), msgs))


def status_line(data: ReportData, msgs: Messages) -> str:
    """The "INCOMPLETE — …" banner, or "" for a whole session."""
    st = data.status
    if not st.incomplete:
        return ""
    if st.aborted_at:
        return msgs("status.aborted", point=st.aborted_at,
                    reason=translate_reason(st.reason, msgs) or msgs("common.missing"))
    return msgs("status.not_tested", n=len(st.not_tested), total=len(data.points))


def _checked_quantities(data: ReportData) -> list[str]:
    seen: list[str] = []
    for point in data.points:
        for check in point.get("checks") or []:
            if check.get("quantity") not in seen:
                seen.append(check.get("quantity"))
    return seen


def conclusion(data: ReportData, msgs: Messages) -> str:
    """One plain-language paragraph generated from the results."""
    counts = data.counts()
    planned, tested = len(data.points), len(data.points) - counts[NOT_TESTED]
    dut = data.dut.get("name") or msgs("common.device_unnamed")
    proto = data.protocol.get("title") or data.protocol.get("id") or msgs("common.missing")
    parts = [msgs("conclusion.tested", device=dut, protocol=proto, tested=tested, planned=planned)]

    def listed(word: str) -> list[str]:
        out = []
        for p in data.points:
            if str(p.get("verdict")).upper() != word:
                continue
            bad = [msgs.quantity(c["quantity"]) for c in p.get("checks") or [] if c.get("verdict") == word]
            out.append(f"{p['id']} ({', '.join(bad)})" if bad else str(p["id"]))
        return out

    fails, incs = listed("FAIL"), listed("INCONCLUSIVE")
    if tested and not fails and not incs:
        parts.append(msgs("conclusion.all_pass"))
    if fails:
        parts.append(msgs("conclusion.fail", n=len(fails), points=short_list(fails)))
    if incs:
        parts.append(msgs("conclusion.inconclusive", n=len(incs), points=short_list(incs)))
    if data.status.aborted_at:
        parts.append(msgs("conclusion.aborted", point=data.status.aborted_at,
                          reason=translate_reason(data.status.reason, msgs) or msgs("common.missing")))
    if counts[NOT_TESTED]:
        parts.append(msgs("conclusion.not_tested", n=counts[NOT_TESTED],
                          points=short_list(list(data.status.not_tested))))
    tolerances = (data.analysis.get("limits") or {}).get("tolerances") or {}
    unconfirmed = [msgs.quantity(q) for q in _checked_quantities(data)
                   if (tolerances.get(q) or {}).get("confidence") == "unconfirmed"]
    if unconfirmed:
        parts.append(msgs("conclusion.unconfirmed", quantities=", ".join(unconfirmed)))
    inspection = data.results.get("inspection") or {}
    if inspection.get("reason"):  # bench.inspection: failed or unanswered required items
        parts.append(msgs("conclusion.inspection", reason=translate_reason(inspection["reason"], msgs)))
    parts.append(msgs("conclusion.verdict", verdict=msgs.conclusion(data.results.get("verdict"))))
    return " ".join(parts)


def cover(doc: Document, data: ReportData, msgs: Messages) -> None:
    """The cover: what was tested, by whom, when, and the verdict in words and symbols."""
    doc.new_page()
    doc.put(LEFT_IN, doc.y, msgs("cover.title"), 20, bold=True)
    doc.y += 0.42
    doc.paragraph(data.protocol.get("title") or data.protocol.get("id") or "", 11)
    verdict = str(data.results.get("verdict", "INCONCLUSIVE"))
    style = verdict_style(verdict)
    doc.space(0.1)
    doc.put(LEFT_IN, doc.y, msgs("cover.overall"), 9)
    doc.y += 0.2
    doc.put(LEFT_IN, doc.y, msgs.conclusion(verdict), 34, bold=True, color=style.color)
    doc.y += 0.62
    banner = status_line(data, msgs)
    if banner:
        doc.paragraph(banner, 11, bold=True)
    counts = data.counts()
    width = CONTENT_W_IN / len(VERDICT_ORDER)
    doc.table([Column(msgs.verdict(w), width, "center") for w in VERDICT_ORDER],
              [[str(counts[w]) for w in VERDICT_ORDER]], size=9, zebra=False)
    dut, op, proto = data.dut, data.start.get("operator") or {}, data.protocol
    start = data.start
    rows = [
        (msgs("cover.device"), dut.get("name") or msgs("common.not_recorded")),
        (msgs("cover.serial"), dut.get("serial") or msgs("common.not_recorded")),
        (msgs("cover.firmware"), dut.get("firmware") or msgs("common.not_recorded")),
        (msgs("cover.lab"), str(start.get("lab") or (start.get("site") or "")) or msgs("common.not_recorded")),
        (msgs("cover.operator"), f"{op.get('name') or msgs('common.not_recorded')} ({op.get('kind', '?')})"),
        (msgs("cover.time_utc"), time_text(start.get("time_utc"))),
        (msgs("cover.time_local"), time_text(start.get("time_local"), utc=False)),
        (msgs("cover.protocol"), f"{proto.get('title') or ''} [{proto.get('id', '?')}]"),
        (msgs("cover.standard"), proto.get("standard") or msgs("common.not_recorded")),
        (msgs("cover.limits"), ((data.analysis.get("limits") or {}).get("limits") or {}).get("title")
         or msgs("common.not_recorded")),
        (msgs("cover.session"), data.session_id),
        (msgs("cover.results_sha"), data.results_sha256),
    ]
    if dut.get("simulated"):
        rows.insert(3, (msgs("cover.simulated"), msgs("cover.simulated_text")))
    rows[10:10] = cover_rows(data, msgs)  # decision rule, traceability, environment, limits' source
    doc.space(0.05)
    doc.key_values(rows, size=8.5)
    doc.heading(msgs("cover.conclusion"), 2, keep_in=0.6)
    doc.paragraph(conclusion(data, msgs), 9)
    if data.status.not_tested:
        doc.heading(msgs("cover.not_tested"), 3, keep_in=0.4)
        for pid in data.status.not_tested:
            point = next(p for p in data.points if str(p["id"]) == pid)
            doc.paragraph(f"○ {pid}: {translate_reason(point.get('reason'), msgs) or msgs('common.missing')}", 8, indent_in=0.1,
                          after_in=0.0)


def _instrument_rows(data: ReportData, msgs: Messages) -> tuple[list[list[str]], list[dict[int, Style]]]:
    rows, styles = [], []
    test_day = data.started_utc.date()

    def cal(entry: dict[str, Any]) -> tuple[str, str, str, bool]:
        done = entry.get("calibrated") or entry.get("last_calibration") or entry.get("calibration_date")
        due = entry.get("calibration_due") or entry.get("cal_due") or entry.get("due")
        status, warn = msgs("setup.cal_ok"), False
        try:
            done_day = date.fromisoformat(str(done)) if done else None
            due_day = date.fromisoformat(str(due)) if due else None
        except ValueError:
            return str(done or "—"), str(due or "—"), msgs("setup.cal_unreadable"), True
        if done_day is None:
            return "—", str(due or "—"), msgs("setup.cal_none"), True
        if due_day is None:
            assumed = done_day + timedelta(days=DEFAULT_CAL_INTERVAL_DAYS)
            if assumed < test_day:
                status, warn = msgs("setup.cal_old", days=DEFAULT_CAL_INTERVAL_DAYS), True
            else:
                status = msgs("setup.cal_no_due")
            return done_day.isoformat(), msgs("common.not_recorded"), status, warn
        if due_day < test_day:
            status, warn = msgs("setup.cal_overdue"), True
        return done_day.isoformat(), due_day.isoformat(), status, warn

    for key, info in sorted((data.instruments.get("instruments") or {}).items()):
        if not isinstance(info, dict):
            continue
        model = " ".join(str(info.get(k)) for k in ("model", "protocol", "driver") if info.get(k))
        serial = str(info.get("serial") or info.get("rig_id") or msgs("common.not_recorded"))
        done, due, status, warn = cal(info)
        rate = f"{msgs.sig(info['rate_hz'])} Hz" if info.get("rate_hz") else "—"
        rows.append([key, model, serial, str(info.get("firmware") or "—"), rate, done, due, status])
        styles.append({7: Style(bold=True)} if warn else {})
        for ch in info.get("channels") or []:
            name = f"  └ {ch.get('name', '?')} ({ch.get('unit', '')}{', ' + ch['condition'] if ch.get('condition') else ''})"
            done, due, status, warn = cal(ch)
            rows.append([name, str(ch.get("sensor") or "—"), str(ch.get("serial") or "—"), "—", "", done, due, status])
            styles.append({7: Style(bold=True)} if warn else {})
    return rows, styles


def setup(doc: Document, data: ReportData, msgs: Messages) -> None:
    """The set-up section: instruments, test points and lung, gas, detection, judgement rule."""
    doc.new_page()
    doc.heading(msgs("setup.title"))
    doc.heading(msgs("setup.instruments"), 2)
    rows, styles = _instrument_rows(data, msgs)
    declared = (data.start.get("instruments") or {}).get("declared") or {}
    port = data.start.get("port") or {}
    doc.paragraph(msgs("setup.port", url=port.get("url") or declared.get("port") or "—",
                       driver=port.get("driver") or declared.get("driver") or "—"), 8)
    if rows:
        widths = [1.25, 0.85, 0.8, 0.9, 0.45, 0.7, 0.7]
        cols = [Column(msgs(f"setup.col_{k}"), w) for k, w in zip(
            ("instrument", "model", "serial", "firmware", "rate", "calibrated", "due"), widths, strict=True)]
        cols.append(Column(msgs("setup.col_cal_status"), CONTENT_W_IN - sum(widths)))
        doc.table(cols, rows, size=6.5, styles=styles)
    else:
        doc.paragraph(msgs("setup.no_instruments"), 8, bold=True)
    register_table(doc, data.results, msgs)
    doc.heading(msgs("setup.points"), 2)
    pts = []
    for point in data.points:
        gas = point.get("gas") or {}
        factor = gas.get("btps_factor")
        conv = (f"{gas.get('flow_condition') or '—'} → {gas.get('analysis_condition') or '—'} "
                f"× {msgs.num(factor, 4)}" if factor is not None else "—")
        note = point.get("note") or (data.planned.get(str(point["id"])) or {}).get("note") or ""
        pts.append([str(point["id"]), str(point.get("mode", "")).upper(), settings_text(msgs, point.get("set") or {}),
                    settings_text(msgs, point.get("lung") or {}), conv, "⚑" if note else ""])
    widths = [0.55, 0.4, 2.45, 1.75, 1.6]
    cols = [Column(msgs(f"setup.col_{k}"), w) for k, w in zip(("point", "mode", "set", "lung", "gas"), widths, strict=True)]
    cols.append(Column(msgs("setup.col_note"), CONTENT_W_IN - sum(widths), "center"))
    doc.table(cols, pts, size=6.5, continued=msgs("common.continued"))
    notes = [(str(p["id"]), p.get("note") or (data.planned.get(str(p["id"])) or {}).get("note"))
             for p in data.points]
    for pid, note in notes:
        if note:
            doc.paragraph(f"⚑ {pid}: {note}", 7, indent_in=0.1, after_in=0.02)
    _gas_and_rules(doc, data, msgs)


def _gas_and_rules(doc: Document, data: ReportData, msgs: Messages) -> None:
    gas = data.results.get("gas") or {}
    amb = data.start.get("ambient") or (data.analysis.get("ambient") or {})
    factors = sorted({(str((p.get("gas") or {}).get("flow_condition")), (p.get("gas") or {}).get("btps_factor"))
                      for p in data.points if (p.get("gas") or {}).get("btps_factor") is not None},
                     key=lambda x: (x[0], x[1]))
    conv = "; ".join(f"{c} → {gas.get('analysis_condition', 'BTPS')}: × {msgs.num(f, 4)}" for c, f in factors)
    doc.heading(msgs("setup.gas"), 2)
    doc.key_values([
        (msgs("setup.analysis_condition"), str(gas.get("analysis_condition") or data.analysis.get("condition") or "—")),
        (msgs("setup.ambient_t"), f"{msgs.num(amb.get('t_amb_degc'), 1)} °C"),
        (msgs("setup.ambient_p"), f"{msgs.num(amb.get('p_amb_hpa'), 2)} hPa"),
        (msgs("setup.ambient_rh"), f"{msgs.num(amb.get('rh_pct'), 0)} %"),
        (msgs("setup.ambient_source"), str(amb.get("source") or gas.get("ambient_source") or "—")),
        (msgs("setup.factor"), conv or msgs("common.missing")),
    ])
    doc.paragraph(msgs("setup.gas_note"), 7.5)
    doc.heading(msgs("setup.detection"), 2)
    seg = data.analysis.get("segmentation") or {}
    detection_table(doc, seg, msgs)
    rule = data.analysis.get("rule") or {}
    doc.heading(msgs("setup.rule"), 2)
    ss = rule.get("steady_state")
    inst = rule.get("instrument")
    register = (data.analysis.get("register") or {}).get("instruments")
    if register:
        inst = {"name": ", ".join(f"{i['name']} {i['serial']} ({i['certificate']}, {i['lab']}, {i['calibrated']}"
                                  f" – {i['due']})" for i in register), "k": None}
    doc.key_values([
        (msgs("setup.settle"), msgs("setup.settle_text", n=rule.get("settle_breaths", "—"))
         + (" " + msgs("setup.steady_state", k=ss.get("k"), tol=msgs.sig(ss.get("tol_pct")), field=ss.get("field"))
            if ss else "")),
        (msgs("setup.measure"), msgs("setup.measure_text", n=rule.get("measure_breaths", "—"))),
        (msgs("setup.criterion"), msgs.get(f"setup.criterion_{rule.get('criterion')}", str(rule.get("criterion")))),
        (msgs("setup.decision"), msgs.get(f"setup.decision_{rule.get('decision_rule')}", str(rule.get("decision_rule")))),
        (msgs("setup.uncertainty"), msgs("setup.uncertainty_none") if not inst else
         msgs("setup.uncertainty_text", name=inst.get("name", "?"), k=msgs.sig(inst.get("k")),
              spec=", ".join(f"{k} {msgs.sig(v)}" for k, v in inst.items() if k not in ("name", "k"))
              or msgs("evidence.register"))),
        (msgs("setup.incomplete_rule"), msgs("setup.incomplete_rule_text")),
    ])


def limits(doc: Document, data: ReportData, msgs: Messages) -> None:
    """The limits section: each quantity's limit with its source and confidence."""
    doc.new_page()
    doc.heading(msgs("limits.title"))
    frozen = data.analysis.get("limits") or {}
    head = frozen.get("limits") or {}
    doc.key_values([(msgs("limits.set"), f"{head.get('title', '—')} [{head.get('id', '—')}]"),
                    (msgs("limits.origin"), str(frozen.get("origin") or "—"))])
    for note in head.get("notes") or []:
        doc.paragraph(f"• {note}", 7.5, indent_in=0.1, after_in=0.02)
    doc.space(0.08)
    checked = set(_checked_quantities(data))
    rows, styles = [], []
    for quantity, tol in sorted((frozen.get("tolerances") or {}).items()):
        conf = tol.get("confidence", "?")
        conf_text = msgs.get(f"limits.conf_{conf}", conf)
        if conf == "unconfirmed":
            conf_text = "⚠ " + conf_text + " — " + msgs("limits.not_verified")
        applies = msgs("limits.applies_above", value=msgs.sig(tol["applies_above"]), unit=tol.get("unit", "")) \
            if tol.get("applies_above") is not None else ""
        used = msgs("limits.used") if quantity in checked else msgs("limits.not_used")
        rows.append([f"{msgs.quantity(quantity)}\n({quantity})", limit_text(msgs, tol), applies, used, conf_text,
                     limit_source(tol, msgs) + (("\n" + translate_reason(tol["note"], msgs)) if tol.get("note") else "")])
        styles.append({4: Style(bold=True, color=FAIL_COLOR)} if conf == "unconfirmed" else {})
    widths = [0.95, 1.0, 0.8, 0.6, 1.0]
    cols = [Column(msgs(f"limits.col_{k}"), w) for k, w in zip(("quantity", "limit", "applies", "used", "confidence"),
                                                                 widths, strict=True)]
    cols.append(Column(msgs("limits.col_source"), CONTENT_W_IN - sum(widths)))
    doc.table(cols, rows, size=6.5, styles=styles, continued=msgs("common.continued"))
    doc.paragraph(msgs("limits.confidence_note"), 7.5)


__all__ = ["conclusion", "cover", "limits", "setup", "status_line", "PAGE_W_IN"]
