"""Certification-grade PDF reports of a session (issue 5): the renderer behind
:mod:`bench.report` (whose ``__init__`` loads this module, and matplotlib, on first use).

``render(session_dir)`` writes ``SESSION/report.pdf``: cover and conclusion, test set-up,
limits, results summary, accuracy across points, one page per point, appendix (files and
hashes, configuration, how to verify). A reliability session (``start.json`` kind
"reliability") gets cover and conclusion, set-up, the reliability section (summary, hourly
trends, histograms, event timeline and table) and the same appendix. A certification session
(kind "certification") gets one cover with the overall conclusion and the stages, the
electrical-safety record, each stage's own pages and the appendix (``certification_pages.py``).
A4 portrait, TrueType fonts embedded (text is real text), vector figures, Okabe-Ito colours
with words and symbols for every verdict. Text and tables are laid out by
:mod:`~bench.report.layout` and drawn by ReportLab, plots by matplotlib
(:mod:`~bench.report.compose`).

Deterministic: the same session renders byte-identical PDFs — the creation date is the
session's start, producer strings are fixed, nothing reads a clock. The SHA-256 of
``results.json`` is in the PDF metadata (``/ventbench:results_sha256`` and ``Subject``) and
in every page footer; :func:`embedded_results_sha256` reads it back for ``ventbench verify``.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

from ventbench.bench.report import (
    alarm_pages,
    appendix,
    certification_pages,
    identity,
    inspection_pages,
    pages,
    reliability_front,
    reliability_pages,
    results_pages,
)
from ventbench.bench.report.compose import write_pdf
from ventbench.bench.report.i18n import DEFAULT_LANGUAGE, LANGUAGES, Messages
from ventbench.bench.report.lab_config import LabConfig, load_lab_config
from ventbench.bench.report.layout import RC, Document
from ventbench.bench.report.source import ReportData, load_session
from ventbench.errors import ConfigError

__all__ = ["LANGUAGES", "REPORT_FILE", "build_pages", "embedded_results_sha256", "render",
           "results_sha256_in"]

REPORT_FILE = "report.pdf"
META_KEY = "ventbench:results_sha256"
CREATOR = "ventbench report"
PRODUCER = "ventbench report (ReportLab text, matplotlib plots, pypdf)"
_META_RE = re.compile(rb"/ventbench:results_sha256\s*\(([0-9a-f]{64})\)")


def build_pages(data: ReportData, msgs: Messages, lab: LabConfig | None = None) -> list:
    """Every page of the report (:class:`~bench.report.page.Page`), headers and footers
    stamped; a session on a simulated port is watermarked SIMULATION on every page."""
    doc = Document()
    if data.start.get("kind") == "certification":  # one report of the chained stages
        certification_pages.cover(doc, data, msgs)
        doc.contents_page(msgs("contents.title"))
        certification_pages.safety(doc, data, msgs)
        certification_pages.stages(doc, data, msgs)
        banner = certification_pages.status_line(data, msgs)
    elif data.is_reliability:
        reliability_front.cover(doc, data, msgs)
        doc.contents_page(msgs("contents.title"))
        reliability_front.setup(doc, data, msgs)
        reliability_pages.section(doc, data, msgs)
        banner = reliability_front.status_line(data, msgs)
    else:
        pages.cover(doc, data, msgs)
        identity.cover_block(doc, data, msgs, lab)
        doc.contents_page(msgs("contents.title"))  # numbered sections, drawn when all are placed
        inspection_pages.section(doc, data, msgs)  # [[inspection]] checklist (docs/inspection.md)
        pages.setup(doc, data, msgs)
        pages.limits(doc, data, msgs)
        results_pages.summary(doc, data, msgs)
        results_pages.accuracy(doc, data, msgs)
        results_pages.point_pages(doc, data, msgs)
        alarm_pages.section(doc, data, msgs)  # [[alarms]] tests, one page each (docs/alarms.md)
        banner = pages.status_line(data, msgs)
    appendix.appendix(doc, data, msgs)
    dut = data.dut
    device = " · ".join(str(x) for x in (dut.get("name"), dut.get("serial") and
                                         msgs("header.serial", serial=dut["serial"])) if x)
    left = identity.header_left(data, msgs, lab)
    sha = data.results_sha256

    finished = doc.finish(
        lambda n, m: (left, device or msgs("common.device_unnamed"), banner),
        lambda n, m: (msgs("footer.sha", sha=sha[:16]), msgs("footer.page", n=n, m=m)),
    )
    if identity.is_simulation(data):
        identity.watermark(finished, msgs)
    return finished


def _title_key(data: ReportData) -> str:
    if data.start.get("kind") == "certification":
        return "certification.title"
    return "reliability.title" if data.is_reliability else "cover.title"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the pages are built and drawn.

    Every page is kept until "page n of m" is stamped, so the heap only grows, and each
    collection rescans all of it: about 5 % of the render for a 38-page report, for a few
    MB of cycles left to the next collection (reference counting still frees the rest).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def render(session_dir: str | Path, *, lang: str = DEFAULT_LANGUAGE, out: str | Path | None = None,
           lab_config: str | Path | LabConfig | None = None) -> Path:
    """Render the report of a session directory to a PDF.

    Parameters
    ----------
    session_dir : str or Path
        The session (``start.json`` and ``results.json`` are required).
    lang : {"en", "id"}
        Language of the fixed text; numbers use its decimal separator, units stay SI.
    out : str or Path, optional
        The PDF to write; default ``SESSION/report.pdf``.
    lab_config : str, Path or LabConfig, optional
        The laboratory's name, address, accreditation, signatories and report-number prefix
        (:mod:`bench.report.lab_config`); without it those lines say "not recorded".

    Returns
    -------
    Path
        The PDF written.

    Raises
    ------
    ConfigError
        Missing or malformed session files (the message names the file), unknown language.
    """
    lab = load_lab_config(lab_config) if isinstance(lab_config, str | Path) else lab_config
    msgs = Messages(lang).with_lab(lab)  # the conclusion in the laboratory's words
    data = load_session(session_dir)
    target = Path(out) if out is not None else Path(session_dir) / REPORT_FILE
    started = data.started_utc
    metadata = {
        "Title": f"{msgs(_title_key(data))} — {data.session_id}",
        "Author": str((data.start.get("operator") or {}).get("name") or ""),
        "Subject": f"results.json sha256 {data.results_sha256}",
        "Keywords": f"ventbench; {data.protocol.get('id', '')}; {data.dut.get('name', '')}; lang={lang}",
        "Creator": CREATOR,
        "Producer": PRODUCER,
        "CreationDate": started,
        "ModDate": started,
        META_KEY: data.results_sha256,
    }
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with matplotlib.rc_context(RC), _gc_paused():
            write_pdf(build_pages(data, msgs, lab), tmp, metadata)
        tmp.replace(target)
    except OSError as error:
        raise ConfigError(f"{target}: cannot write the report: {error}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def embedded_results_sha256(pdf: str | Path) -> str | None:
    """The results SHA-256 a ventbench report carries in its metadata, or None."""
    try:
        raw = Path(pdf).read_bytes()
    except OSError as error:
        raise ConfigError(f"{pdf}: cannot read the report: {error}") from None
    return results_sha256_in(raw)


def results_sha256_in(raw: bytes) -> str | None:
    """The results SHA-256 in a report's bytes (the last one written), or None."""
    found = _META_RE.findall(raw)
    return found[-1].decode("ascii") if found else None
