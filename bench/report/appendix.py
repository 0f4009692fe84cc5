"""The appendix (the last section): every file with its SHA-256, software, the full configuration,
and how to verify that this PDF matches the recorded data."""

from __future__ import annotations

from ventbench import __version__
from ventbench.bench.report.config_tables import config_tables
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, MONO, Column, Document, Style
from ventbench.bench.report.source import ReportData

#: Keys of start.json shown in the configuration tables, in this order (the rest follow).
CONFIG_ORDER = ("protocol", "analysis", "port", "dut", "operator", "ambient", "instruments")


def appendix(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Files and hashes, software, configuration, verification."""
    doc.new_page()
    reliability = data.is_reliability
    doc.heading(msgs("reliability.appendix_title" if reliability else "appendix.title"))
    doc.heading(msgs("appendix.verify"), 2, keep_in=1.5)
    session = data.session_id
    doc.paragraph(msgs("appendix.verify_intro"), 8)
    for key, command in (("appendix.verify_step1", f"ventbench verify {session}"),
                         ("appendix.verify_step2", f"sha256sum {session}/results.json"),
                         ("appendix.verify_step3", f"ventbench report {session} --out check.pdf"
                                                   f"{'' if msgs.lang == 'en' else ' --lang ' + msgs.lang}")):
        doc.paragraph(msgs(key, sha=data.results_sha256), 8, after_in=0.02)
        doc.paragraph(command, 7.5, family=MONO, indent_in=0.25, after_in=0.06)
    doc.paragraph(msgs("appendix.verify_meta", sha=data.results_sha256), 8)
    doc.heading(msgs("appendix.software"), 2)
    soft = data.results.get("software") or {}
    run_soft = data.start.get("software") or {}
    doc.key_values([
        (msgs("appendix.results_by"), f"{soft.get('name', '?')} {soft.get('version', '?')} · git {soft.get('git_sha') or '—'}"),
        (msgs("appendix.run_env"), " · ".join(f"{k} {run_soft[k]}" for k in ("python", "platform", "host") if run_soft.get(k))
         or "—"),
        (msgs("appendix.renderer"), f"ventbench {__version__} (matplotlib)"),
        (msgs("appendix.argv"), " ".join(str(a) for a in data.start.get("argv") or []) or "—"),
    ], size=7.5)
    doc.heading(msgs("appendix.files"), 2)
    doc.paragraph(msgs("appendix.files_intro"), 7.5)
    rows = [[f.path, str(f.size), f.sha256] for f in data.files]
    styles = [{2: Style()} for _ in rows]
    doc.table([Column(msgs("appendix.col_path"), 2.4), Column(msgs("appendix.col_bytes"), 0.7, "right"),
               Column(msgs("appendix.col_sha"), CONTENT_W_IN - 3.1)], rows, size=6.3, styles=styles,
              continued=msgs("common.continued"))
    doc.heading(msgs("appendix.config"), 2)
    doc.paragraph(msgs("reliability.config_intro" if reliability else "appendix.config_intro"), 7.5)
    start = data.start
    keys = [k for k in CONFIG_ORDER if k in start] + [k for k in start if k not in CONFIG_ORDER
                                                     and k not in ("schema", "argv", "software")]
    config_tables(doc, {k: start[k] for k in keys}, msgs)
