"""Identity and scope of a report (issue 14): report number and issue date, the laboratory
and its signatories, the ISO/IEC 17025 statements, how much of the protocol's table was run,
and the SIMULATION watermark of a session recorded on a simulated port.

The issue date is the session's start date (UTC): the report is issued for that session, and
re-rendering must give the same bytes (the manifest hashes the PDF).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.lab_config import LabConfig, report_number
from ventbench.bench.report.layout import CONTENT_W_IN, PAGE_H_IN, PAGE_W_IN, Column, Document
from ventbench.bench.report.page import Page, TextOp
from ventbench.bench.report.source import ReportData
from ventbench.errors import BenchError

__all__ = ["cover_block", "header_left", "is_simulation", "issue_date", "scope_text", "watermark"]

#: Command-line options that select rows of a protocol's table (``run``, ``demo``).
SELECTORS = ("--point", "--group")
SIM_SCHEME = "sim"


def issue_date(data: ReportData) -> str:
    """ISO date the report is issued: the session's start date (UTC)."""
    return data.started_utc.date().isoformat()


def header_left(data: ReportData, msgs: Messages, lab: LabConfig | None) -> str:
    """"Report VB-<session> · issued 2026-03-02": the left of every page's header."""
    return msgs("identity.header", number=report_number(data.session_id, lab), date=issue_date(data))


def _url(data: ReportData) -> str:
    """The session's port URL (``port`` is ``{url, driver, …}``, or a plain string)."""
    port = data.start.get("port")
    return str((port.get("url") if isinstance(port, dict) else port) or "")


def port_url(data: ReportData) -> str:
    """The session's port without its query string (``sim://rig``, ``/dev/ttyUSB0``)."""
    url = _url(data)
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme and parts.netloc else url.split("?")[0]


def is_simulation(data: ReportData) -> bool:
    """True for a session recorded on a simulated port (``sim://…``) or of a simulated device."""
    url = _url(data)
    return urlsplit(url).scheme == SIM_SCHEME or bool(data.dut.get("simulated"))


def _selection(argv: list[str]) -> str:
    """The selecting options as given ("--point vc-01 --point vc-02"), or ""."""
    out = []
    for i, arg in enumerate(argv):
        for flag in SELECTORS:
            if arg == flag and i + 1 < len(argv):
                out.append(f"{flag} {argv[i + 1]}")
            elif arg.startswith(flag + "="):
                out.append(f"{flag} {arg.split('=', 1)[1]}")
    return " ".join(out)


def _table_rows(data: ReportData) -> int | None:
    """Rows of the protocol's whole table, when the protocol read is the one the session ran
    (same SHA-256); None otherwise."""
    from ventbench.bench.protocol import load_protocol

    proto = data.protocol
    for name in (proto.get("id"), proto.get("path")):
        if not name:
            continue
        try:
            full = load_protocol(str(name))
        except (BenchError, OSError):
            continue
        if full.sha256 == proto.get("sha256"):
            return len(full.to_json()["points"])
    return None


def scope_text(data: ReportData, msgs: Messages) -> str:
    """"1 of 21 rows of the protocol's table, selected with --point vc-01" (or all rows)."""
    n = len(data.points)
    total = _table_rows(data)
    how = _selection([str(a) for a in data.start.get("argv") or []])
    if total is None:
        return msgs("identity.scope_unknown", n=n)
    if n >= total and not how:
        return msgs("identity.scope_all", total=total)
    command = next((str(a) for a in (data.start.get("argv") or [])[1:2]), "")
    return msgs("identity.scope_part", n=n, total=total, how=how or msgs("identity.by_command", command=command))


def cover_block(doc: Document, data: ReportData, msgs: Messages, lab: LabConfig | None) -> None:
    """Report identity, laboratory, scope, simulation notice, signatories and the ISO/IEC
    17025 statements, after the cover's conclusion."""
    missing = msgs("common.not_recorded")
    rows = [(msgs("identity.number"), report_number(data.session_id, lab)),
            (msgs("identity.issued"), issue_date(data)),
            (msgs("identity.lab"), lab.name if lab else str(data.start.get("lab") or "") or missing),
            (msgs("identity.address"), lab.address if lab else missing),
            (msgs("identity.accreditation"), lab.accreditation if lab else missing),
            (msgs("identity.scope"), scope_text(data, msgs))]
    if is_simulation(data):
        rows.append((msgs("identity.simulation"), msgs("identity.simulation_text", port=port_url(data))))
    signature = data.start.get("report_signature") or {}
    if signature.get("kind") == "demo key":  # bench.demo_signing
        rows.append((msgs("identity.demo_key"), msgs("identity.demo_key_text",
                                                     sha=str(signature.get("certificate_sha256", "")))))
    doc.heading(msgs("identity.heading"), 2, keep_in=1.2)
    doc.key_values(rows, size=8.5)
    doc.heading(msgs("identity.signatories"), 2, keep_in=2.0)  # the signature block never splits
    names = [lab.tested_by, lab.checked_by, lab.approved_by] if lab else ["", "", ""]
    roles = [msgs("identity.tested_by"), msgs("identity.checked_by"), msgs("identity.approved_by")]
    width = CONTENT_W_IN / 3
    doc.table([Column(r, width) for r in roles],
              [names, [msgs("identity.signature")] * 3, ["", "", ""], [msgs("identity.date")] * 3],
              size=8.5, zebra=False)
    doc.heading(msgs("identity.statements"), 3, keep_in=0.4)
    for key in ("identity.statement_item", "identity.statement_copy"):
        doc.paragraph(msgs(key), 8, after_in=0.02)


def watermark(pages: list[Page], msgs: Messages) -> None:
    """"SIMULATION" across every page, light grey, under everything else on it."""
    text = msgs("identity.watermark")
    for page in pages:
        page.ops.insert(0, TextOp(PAGE_W_IN / 2, PAGE_H_IN / 2, text, 80.0, bold=True, alpha=0.08,
                                  rotation_deg=55.0))
