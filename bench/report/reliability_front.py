"""Front pages of a reliability session's report: cover and conclusion, test set-up.

Same look as the protocol report's cover (``pages.py``): title, overall verdict in large
words with its symbol, identity of the session and device, a generated conclusion and the
verdict's reasons as recorded. The set-up page shows what ``start.json`` froze: port and
driver, mode, settings and lung, duration, the thresholds of the event detector, the
per-breath and drift limits, the verdict rules, the gas condition and ambient values.
"""

from __future__ import annotations

from typing import Any

from ventbench.bench.reliability.analysis import MIN_DRIFT_BREATHS, MIN_DRIFT_SPAN_S
from ventbench.bench.reliability.config import QUANTITIES
from ventbench.bench.report.evidence import register_table
from ventbench.bench.report.fmt import settings_text, time_text, verdict_style
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, LEFT_IN, Column, Document
from ventbench.bench.report.reasons import translate_reason
from ventbench.bench.report.source import ReportData

HOUR_S = 3600.0


def block(data: ReportData) -> dict[str, Any]:
    """The results' ``reliability`` block (checked by ``load_session``)."""
    return data.results["reliability"]


def config(data: ReportData) -> dict[str, Any]:
    """The frozen ``ReliabilityConfig`` of ``start.json`` (as JSON)."""
    return data.start["reliability"]


def hours(msgs: Messages, seconds: Any) -> str:
    """Seconds as hours with 3 decimals, localised."""
    return msgs.num(None if seconds is None else float(seconds) / HOUR_S, 3)


def status_line(data: ReportData, msgs: Messages) -> str:
    """"INCOMPLETE — ran x h of y h" when the run covered less than its duration (less two
    set breath periods, the analysis's own tolerance), else ""."""
    b, cfg = block(data), config(data)
    period_s = 60.0 / float((cfg.get("set") or {}).get("rate_bpm") or 60.0)
    if float(b["span_s"] or 0.0) >= float(b["duration_s"]) - 2 * period_s:
        return ""
    return msgs("reliability.incomplete", ran=hours(msgs, b["span_s"]), duration=hours(msgs, b["duration_s"]))


def cover(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Title, verdict in words and symbol, identity, conclusion and reasons."""
    b = block(data)
    doc.new_page()
    doc.put(LEFT_IN, doc.y, msgs("reliability.title"), 20, bold=True)
    doc.y += 0.42
    protocol = str(data.protocol.get("id") or "reliability")
    doc.paragraph(msgs("reliability.subtitle", protocol=protocol, duration=msgs.sig(b["duration_s"] / HOUR_S, 6)), 11)
    verdict = str(data.results.get("verdict") or b["verdict"])
    doc.space(0.1)
    doc.put(LEFT_IN, doc.y, msgs("cover.overall"), 9)
    doc.y += 0.2
    doc.put(LEFT_IN, doc.y, msgs.conclusion(verdict), 34, bold=True, color=verdict_style(verdict).color)
    doc.y += 0.62
    banner = status_line(data, msgs)
    if banner:
        doc.paragraph(banner, 11, bold=True)
    dut, start = data.dut, data.start
    op = start.get("operator") or {}
    rows = [
        (msgs("cover.device"), dut.get("name") or msgs("common.not_recorded")),
        (msgs("cover.serial"), dut.get("serial") or msgs("common.not_recorded")),
        (msgs("cover.firmware"), dut.get("firmware") or msgs("common.not_recorded")),
    ]
    if str(start.get("port", "")).lower().startswith("sim://") or dut.get("simulated"):
        rows.append((msgs("cover.simulated"), msgs("cover.simulated_text")))
    if op.get("name"):
        rows.append((msgs("cover.operator"), f"{op['name']} ({op.get('kind', '?')})"))
    rows += [
        (msgs("cover.time_utc"), time_text(start.get("time_utc"))),
        (msgs("cover.time_local"), time_text(start.get("time_local"), utc=False)),
        (msgs("cover.protocol"), protocol),
        (msgs("cover.session"), data.session_id),
        (msgs("cover.results_sha"), data.results_sha256),
    ]
    doc.space(0.05)
    doc.key_values(rows, size=8.5)
    doc.heading(msgs("cover.conclusion"), 2, keep_in=0.6)
    br = b["breaths"]
    doc.paragraph(" ".join([
        msgs("reliability.conclusion", device=dut.get("name") or msgs("common.device_unnamed"),
             protocol=protocol, ran=hours(msgs, b["span_s"]), duration=hours(msgs, b["duration_s"]),
             segments=b["segments"], breaths=br["total"], missed=br["missed"],
             uptime=msgs.num(b["uptime_pct"], 4)),
        msgs("conclusion.verdict", verdict=msgs.conclusion(verdict))]), 9)
    doc.heading(msgs("reliability.reasons"), 3, keep_in=0.4)
    if not b["reasons"]:
        doc.paragraph(msgs("reliability.no_reasons"), 8.5, indent_in=0.1)
    for reason in b["reasons"]:
        doc.paragraph(f"• {translate_reason(reason, msgs)}", 8.5, indent_in=0.1, after_in=0.02)


def setup(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Port, driver, settings, lung, duration, thresholds, limits, rules, gas and ambient."""
    cfg, start = config(data), data.start
    doc.new_page()
    doc.heading(msgs("setup.title"))
    doc.heading(msgs("reliability.setup_run"), 2)
    options = start.get("driver_options") or {}
    period_s = 60.0 / float((cfg.get("set") or {}).get("rate_bpm") or 60.0)
    doc.key_values([
        (msgs("reliability.port"), msgs("setup.port", url=start.get("port") or "—", driver=start.get("driver") or "—")),
        (msgs("reliability.driver_options"), " · ".join(f"{k} {v}" for k, v in options.items()) or msgs("reliability.none")),
        (msgs("reliability.mode"), f"{str(cfg.get('mode', '')).upper()} · {settings_text(msgs, cfg.get('set') or {})}"),
        (msgs("reliability.lung"), settings_text(msgs, cfg.get("lung") or {})),
        (msgs("reliability.duration"), msgs("reliability.duration_text", h=msgs.sig(cfg["duration_s"] / HOUR_S, 6),
                                            d=msgs.sig(cfg["duration_s"] / 86400.0, 4))),
        (msgs("reliability.missed_rule"), msgs("reliability.missed_rule_text", factor=msgs.sig(cfg.get("missed_factor")),
                                               period=msgs.sig(period_s))),
        (msgs("reliability.apnoea"), msgs("reliability.apnoea_text", s=msgs.sig(cfg.get("apnoea_s")))),
        (msgs("reliability.stall"), msgs("reliability.stall_text", s=msgs.sig(cfg.get("stall_s")))),
        (msgs("reliability.run_rule"), msgs("reliability.run_rule_text", n=cfg.get("run_breaths", "—"))),
        (msgs("reliability.rotate"), msgs("reliability.rotate_text", mib=msgs.sig(cfg.get("capture_rotate_mib")))),
    ])
    register_table(doc, data.results, msgs)
    doc.heading(msgs("reliability.limits"), 2)
    limits, drift = cfg.get("limits") or {}, cfg.get("drift_limit_per_24h") or {}
    rows = []
    for q in QUANTITIES:
        lo, hi = (limits.get(q) or (None, None))
        rows.append([msgs.get(f"reliability.quantity.{q}", q),
                     msgs.sig(lo, 6) if lo is not None else msgs("reliability.no_limit"),
                     msgs.sig(hi, 6) if hi is not None else msgs("reliability.no_limit"),
                     f"± {msgs.sig(drift[q], 6)}" if q in drift else msgs("reliability.no_drift_limit")])
    widths = [2.0, 1.2, 1.2]
    cols = [Column(msgs(f"reliability.col_{k}"), w, "left" if k == "quantity" else "right")
            for k, w in zip(("quantity", "min", "max"), widths, strict=True)]
    cols.append(Column(msgs("reliability.col_drift"), CONTENT_W_IN - sum(widths), "right"))
    doc.table(cols, rows, size=7.5)
    doc.heading(msgs("reliability.rules"), 2, keep_in=0.8)
    doc.paragraph(msgs("reliability.rules_text", h=msgs.sig(MIN_DRIFT_SPAN_S / HOUR_S), n=MIN_DRIFT_BREATHS), 8)
    amb = start.get("ambient") or {}
    gas = data.results.get("gas") or {}
    by_segment = gas.get("by_segment") or ({"": gas} if gas.get("btps_factor") is not None else {})
    conv = "; ".join(f"{msgs('reliability.col_segment')} {seg}: " * bool(seg)
                     + f"{g.get('flow_condition') or '—'} → BTPS: × {msgs.num(g['btps_factor'], 4)}"
                     for seg, g in by_segment.items())
    doc.heading(msgs("setup.gas"), 2)
    doc.key_values([
        (msgs("setup.analysis_condition"), "BTPS"),
        (msgs("setup.ambient_t"), f"{msgs.num(amb.get('t_amb_degc'), 1)} °C"),
        (msgs("setup.ambient_p"), f"{msgs.num(amb.get('p_amb_hpa'), 2)} hPa"),
        (msgs("setup.ambient_rh"), f"{msgs.num(amb.get('rh_pct'), 0)} %"),
        (msgs("setup.ambient_source"), str(amb.get("source") or "—")),
        (msgs("setup.factor"), conv or msgs("common.missing")),
    ])
    doc.paragraph(msgs("setup.gas_note"), 7.5)
