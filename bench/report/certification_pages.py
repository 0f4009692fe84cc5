"""The report of a certification session (``start.json`` kind "certification"): one cover with
the one overall conclusion and the stage table, the electrical-safety record and its checks,
then each completed stage's own pages (the function points' summary and point pages, the
endurance run's reliability section), and the appendix of the whole session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ventbench.bench.report import pages, reliability_front, reliability_pages, results_pages
from ventbench.bench.report.fmt import verdict_style
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import LEFT_IN, Column, Document
from ventbench.bench.report.reasons import translate_reason
from ventbench.bench.report.source import ReportData, load_session
from ventbench.bench.session import read_json


def _block(data: ReportData) -> dict[str, Any]:
    return dict(data.results.get("certification") or {})


def status_line(data: ReportData, msgs: Messages) -> str:
    """A banner on every page while a stage is not completed (the report never reads stop.json)."""
    rows = _block(data).get("stages") or []
    return msgs("certification.banner_incomplete") if any(not r.get("verdict") for r in rows) else ""


def cover(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Title, the overall conclusion, identity, the stages and the reasons."""
    b = _block(data)
    doc.new_page()
    doc.put(LEFT_IN, doc.y, msgs("certification.title"), 20, bold=True)
    doc.y += 0.42
    plan = data.start.get("plan") or {}
    if plan.get("title"):
        doc.paragraph(str(plan["title"]), 11)
    verdict = str(data.results.get("verdict") or b.get("verdict"))
    doc.space(0.1)
    doc.put(LEFT_IN, doc.y, msgs("cover.overall"), 9)
    doc.y += 0.2
    doc.put(LEFT_IN, doc.y, msgs.conclusion(verdict), 34, bold=True, color=verdict_style(verdict).color)
    doc.y += 0.62
    doc.paragraph(msgs("certification.rule"), 8.5)
    dut = data.dut
    doc.key_values([
        (msgs("cover.device"), dut.get("name") or msgs("common.not_recorded")),
        (msgs("cover.serial"), dut.get("serial") or msgs("common.not_recorded")),
        (msgs("cover.firmware"), dut.get("firmware") or msgs("common.not_recorded")),
        (msgs("certification.session"), str(data.start.get("session_id", ""))),
        (msgs("certification.plan"), f"{plan.get('path', '')} (sha256 {str(plan.get('sha256', ''))[:16]}…)"),
    ], size=8.5, key_in=2.0)
    doc.heading(msgs("certification.stages"), 2)
    rows = [[f"{k}. " + msgs(f"certification.stage.{r['stage']}"),
             msgs.verdict(r["verdict"]) if r.get("verdict") else msgs("certification.not_completed"),
             r.get("dir", "")] for k, r in enumerate(b.get("stages") or [], start=1)]
    doc.table([Column(msgs("certification.col_stage"), 2.2), Column(msgs("certification.col_verdict"), 1.5),
               Column(msgs("certification.col_dir"), 3.0)], rows, size=8)
    if b.get("reasons"):
        doc.heading(msgs("certification.reasons"), 2)
        for reason in b["reasons"]:
            doc.paragraph(f"• {translate_reason(reason, msgs)}", 8.5)


def safety(doc: Document, data: ReportData, msgs: Messages) -> None:
    """The electrical-safety record: analyser, method, class, each reading against its limit."""
    rows = {r["stage"]: r for r in _block(data).get("stages") or []}
    row = rows.get("safety") or {}
    doc.new_page()
    doc.heading(msgs("certification.safety_section"))
    if not row.get("dir"):
        doc.paragraph(msgs("certification.not_completed"), 9)
        return
    judged = read_json(Path(data.root) / row["dir"] / "safety.json", "safety judgement")
    head = judged["record"]
    doc.key_values([(msgs(f"certification.record.{k}"), str(v)) for k, v in head.items()], size=8.5, key_in=2.0)
    doc.table([Column(msgs("certification.col_quantity"), 2.0), Column(msgs("certification.col_value"), 1.2, "right"),
               Column(msgs("certification.col_limit"), 1.2, "right"), Column(msgs("certification.col_verdict"), 1.4)],
              [[c["quantity"], f"{msgs.sig(c['value'])} {c['unit']}",
                "—" if c["limit"] is None else f"≤ {msgs.sig(c['limit']['max'])} {c['unit']}",
                msgs.verdict(c["verdict"])] for c in judged["checks"]], size=8)
    doc.paragraph(msgs("certification.safety_verdict", verdict=msgs.verdict(judged["verdict"])), 9, bold=True)
    if judged.get("reason"):
        doc.paragraph(translate_reason(judged["reason"], msgs), 8.5)
    doc.paragraph(msgs("certification.limits_unconfirmed", source=judged["checks"][0]["limit"]["source"]
                       if judged["checks"] and judged["checks"][0]["limit"] else ""), 8)


def stages(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Each completed function or endurance stage's own pages."""
    for row in _block(data).get("stages") or []:
        if not row.get("dir") or row["stage"] == "safety":
            continue
        sub = load_session(Path(data.root) / row["dir"])
        doc.new_page()
        doc.heading(msgs(f"certification.stage.{row['stage']}") + f" — {row['dir']}")
        if sub.is_reliability:
            reliability_front.setup(doc, sub, msgs)
            reliability_pages.section(doc, sub, msgs)
        else:
            pages.setup(doc, sub, msgs)
            results_pages.summary(doc, sub, msgs)
            results_pages.point_pages(doc, sub, msgs)
