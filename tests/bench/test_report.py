"""The PDF report (issue 5): every section's required items, determinism, the embedded
results hash, pagination inside the page box, Indonesian, incomplete sessions."""

from __future__ import annotations

import hashlib
import json
import re

import matplotlib
import pytest

pypdf = pytest.importorskip("pypdf")

from ventbench.bench.report import embedded_results_sha256, render  # noqa: E402
from ventbench.bench.report.i18n import Messages  # noqa: E402

from tests.bench.pdf_text import is_contents, pdf_pages  # noqa: E402
from tests.bench.report_fixtures import DUT, build_session  # noqa: E402


def _flat(text: str) -> str:
    return " ".join(str(text).split())


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return build_session(tmp_path_factory.mktemp("report"), ids=("vc-01", "vc-06", "vc-09"))


@pytest.fixture(scope="module")
def rendered(session):
    return render(session)


@pytest.fixture(scope="module")
def rendered_id(session, tmp_path_factory):
    """The Indonesian report, rendered through the command line."""
    from ventbench.bench.cli import main

    out = tmp_path_factory.mktemp("id") / "laporan.pdf"
    assert main(["report", str(session), "--lang", "id", "--out", str(out)]) == 0
    return out


def test_every_section_has_its_required_items(session, rendered):
    pages = pdf_pages(rendered)
    results = json.loads((session / "results.json").read_text())
    sha = hashlib.sha256((session / "results.json").read_bytes()).hexdigest()
    text = "\n".join(pages)
    cover = pages[0]
    for item in (DUT["name"], DUT["serial"], DUT["firmware"], "Bench lab 2, Bandung", "A. Tester",
                 "2026-03-02 08:15:30 UTC", "Session start (local)", "ISO 80601-2-12:2020", "Overall verdict",
                 "✗ FAIL", "✓ PASS", "? INCONCLUSIVE", "○ NOT TESTED", "ℹ INFO", "Conclusion",
                 "1 point(s) failed: vc-06 (PEEP)", sha):
        assert item in cover, item
    # the overall verdict in the laboratory's words (issue 14 item 4); the counts table above
    # keeps the verdict words ("✗ FAIL" … checked just before), results.json keeps "FAIL"
    assert "Overall verdict ✗ Does not conform" in cover and "Overall verdict: ✗ Does not conform." in cover
    # set-up: instruments with calibration, warning when old, gas, detection, rule
    for item in ("1. Test set-up", "RIG-01", "F-77", "2024-11-20", "older than 365 days", "2026-12-01",
                 "STP20 → BTPS", "22.5 °C", "1009.00 hPa", "45 %", "insp_threshold_lpm", "Settle",
                 "the first 3 breaths are not judged", "the next 8 breaths are judged", "every breath",
                 "Measurement uncertainty", "C 50 mL/hPa"):
        assert item in text, item
    # limits with source and confidence; unconfirmed flagged
    assert "2. Limits applied" in text and "limit not verified against the standard text" in text
    assert "MVM code (RMVS v4)" in text
    # summary: every point × check
    summary = next(p for p in pages if "3. Results summary" in p)
    for point in results["points"]:
        assert point["id"] in summary
    # accuracy: disclosure sentences per band
    assert "VT delivered accuracy achieved (set ≥ 300 mL): ±(4 mL +" in text
    assert "4. Accuracy across all points" in text
    # one page per tested point; a failing point states its reason
    for n, point in enumerate(results["points"], start=1):  # 5.1, 5.2 …: one subsection each
        first = next(i for i, p in enumerate(pages) if f"5.{n} Point {point['id']}" in p)
        page = "\n".join(pages[first:first + 2])  # the worksheet of readings takes the point to 2 pages
        if point["verdict"] == "FAIL":
            assert "✗ FAIL" in page and _flat(point["reason"]) in page
        assert "Worksheet of readings" in page
        assert "Waveform excerpt" in page and "error / limit" in page
    assert "test lung replaced before this point" in text  # operator notes
    assert "Row 9" in text or "⚑" in text  # protocol notes (doubts) shown
    # appendix: files with hashes, software, configuration, how to verify
    appendix = "\n".join(p for p in pages if "6. Appendix" in p or "Full configuration" in p)
    assert "ventbench verify" in appendix and "How to verify this report" in appendix
    for rel in ("start.json", "results.json", "instruments.json", "points/vc-06/trace.csv"):
        assert rel in text
    digest = hashlib.sha256((session / "points/vc-06/trace.csv").read_bytes()).hexdigest()
    assert digest in text.replace(" ", "")
    assert "protocol › settle_breaths" in text  # the configuration as a labelled table, not a JSON dump
    # every page: header with session and device, footer with page n of m and the hash prefix
    every = pdf_pages(rendered, contents=True)
    for n, page in enumerate(every, start=1):
        assert session.name in page and DUT["name"] in page
        assert f"page {n} of {len(every)}" in page and sha[:16] in page
    assert "INCOMPLETE" not in text


def test_two_renders_are_byte_identical_and_carry_the_results_hash(session, rendered, tmp_path):
    again = render(session, out=tmp_path / "again.pdf")
    assert again.read_bytes() == rendered.read_bytes()
    sha = hashlib.sha256((session / "results.json").read_bytes()).hexdigest()
    assert embedded_results_sha256(rendered) == sha
    meta = pypdf.PdfReader(str(rendered)).metadata
    assert meta["/ventbench:results_sha256"] == sha and sha in meta["/Subject"]
    assert meta["/CreationDate"].startswith("D:20260302081530")
    reader = pypdf.PdfReader(str(rendered))
    for page in reader.pages:  # A4 portrait
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    fonts = {f["/BaseFont"] for p in reader.pages for f in (p["/Resources"].get("/Font") or {}).values()}
    assert any("DejaVuSans" in str(f) for f in fonts)


def test_changing_one_breath_changes_the_hash_shown(tmp_path):
    copy = build_session(tmp_path, ids=("vc-05",), label="one")
    old = hashlib.sha256((copy / "results.json").read_bytes()).hexdigest()
    results = json.loads((copy / "results.json").read_text())
    results["points"][0]["breaths"][5]["vti_ml"] += 0.001
    (copy / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    new = hashlib.sha256((copy / "results.json").read_bytes()).hexdigest()
    pdf = render(copy)
    assert embedded_results_sha256(pdf) == new != old
    pages = pdf_pages(pdf)
    assert all(new[:16] in p and old[:16] not in p for p in pages)


def _text_positions_inside(pdf) -> None:
    """Every text drawn in the PDF starts inside the page box, off the outer 0.2 in."""
    for n, page in enumerate(pypdf.PdfReader(str(pdf)).pages, start=1):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        where = []

        def visit(text, cm, tm, font_dict, font_size, where=where):
            if text.strip():
                x, y = tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                where.append((text, x, y))

        page.extract_text(visitor_text=visit)
        assert where, f"page {n}: no text"
        for text, x, y in where:
            assert 14 <= x <= width - 14 and 14 <= y <= height - 14, f"page {n}: {text!r} at ({x:.0f}, {y:.0f})"


def test_pages_keep_text_inside_the_page_box(rendered):
    _text_positions_inside(rendered)


def test_sixty_points_paginate_inside_the_page_box(tmp_path):
    from ventbench.bench.report import pages, results_pages
    from ventbench.bench.report.layout import RC, Document, overflowing_texts
    from ventbench.bench.report.source import load_session

    root = build_session(tmp_path, ids=("vc-01", "vc-06", "vc-09"), copies=20, label="sixty")
    data = load_session(root)
    assert len(data.points) == 60
    msgs = Messages("en")
    with matplotlib.rc_context(RC):  # the sections with a row per point: set-up and summary
        doc = Document()
        pages.setup(doc, data, msgs)
        first_summary = len(doc.pages)
        results_pages.summary(doc, data, msgs)
        n_summary = len(doc.pages) - first_summary
        figures = doc.finish(lambda n, m: ("left", "right", ""), lambda n, m: ("sha", f"page {n} of {m}"))
        assert n_summary >= 5  # 60 × 5 checks cannot fit on one page: it paginates
        for n, figure in enumerate(figures, start=1):
            assert overflowing_texts(figure) == [], f"page {n}"
        text, table_pages = [], 0
        for figure in figures[first_summary:first_summary + n_summary]:
            page = [t.text for t in figure.texts]
            table_pages += any(p["id"] in page for p in data.points)  # the reasons' notes may follow alone
            text += page
    for point in data.points:  # every point × check row is there, none lost at a page break
        assert text.count(point["id"]) == len(point["checks"]), point["id"]
    assert text.count("Point") == table_pages  # the header row repeats on every page of the table


def test_sections_are_numbered_and_the_contents_page_gives_each_ones_page(rendered):
    pages = pdf_pages(rendered, contents=True)
    (contents,) = [p for p in pages if is_contents(p)]
    assert pages.index(contents) in (1, 2)  # after the cover (which may take two pages)
    entries = [(f"{number} {text}", page) for number, text, page in re.findall(
        r"(\d+\.\d*) (.+?) (\d+)(?= \d+\.\d* | Test report)", contents)]
    sections = [label.split(" ", 1)[1] for label, _ in entries if re.match(r"\d+\. ", label)]
    assert sections == ["Test set-up", "Limits applied", "Results summary", "Accuracy across all points",
                        "Points", "Appendix"]
    points = [label for label, _ in entries if re.match(r"5\.\d Point ", label)]
    assert points == ["5.1 Point vc-01 — ✓ PASS", "5.2 Point vc-06 — ✗ FAIL", "5.3 Point vc-09 — ✓ PASS"]
    for label, page in entries:  # each entry's heading is on the page the contents give
        assert label.strip() in pages[int(page) - 1], (label, page)


def test_indonesian_has_the_same_pages_and_numbers_with_indonesian_text(rendered, rendered_id):
    en, ident = pdf_pages(rendered), pdf_pages(rendered_id)
    assert len(en) == len(ident)
    number = re.compile(r"\d+(?:[.,]\d+)?")
    for page_en, page_id in zip(en, ident, strict=True):
        normal_id = re.sub(r"(\d),(\d)", r"\1.\2", page_id)
        assert number.findall(page_en) == number.findall(normal_id)
    text_id = "\n".join(ident)
    assert "Laporan uji akurasi ventilator" in text_id and "Ventilator accuracy test report" not in text_id
    assert "✗ GAGAL" in ident[0] and "Kesimpulan" in ident[0] and "halaman 1 dari" in ident[0]
    # the conclusion in the words of Indonesian test worksheets; "✗ GAGAL" is the counts table's
    assert "✗ Tidak laik pakai" in ident[0] and "Kesimpulan: ✗ Tidak laik pakai." in ident[0]
    assert "Cara memverifikasi laporan ini" in text_id
    assert re.search(r"\d,\d", text_id)  # decimal comma
    assert Messages("en").keys() == Messages("id").keys()


def test_aborted_session_says_so_on_the_cover_and_every_header(tmp_path):
    root = build_session(tmp_path, ids=("vc-01", "vc-03", "vc-04"), abort_at="vc-03", label="aborted")
    pages = pdf_pages(render(root))
    banner = "INCOMPLETE — aborted at point vc-03: operator abort before point vc-03"
    assert banner in pages[0]
    for page in pages:
        assert "INCOMPLETE — aborted at point vc-03" in page
    assert "Points not tested" in pages[0] and "○ vc-03" in pages[0] and "○ vc-04" in pages[0]
    assert "2 point(s) were not tested: vc-03, vc-04" in pages[0]
    assert "5.1 Point vc-01" in "\n".join(pages)
    assert "○ NOT TESTED" in "\n".join(pages)
    assert not any("Point vc-04 —" in p for p in pages)  # no page pretends it was measured


def test_cut_short_and_skipped_points(tmp_path):
    root = build_session(tmp_path, ids=("vc-03", "vc-05"), cut_short="vc-05", skip=("vc-03",), label="cut")
    pages = pdf_pages(render(root))
    assert "INCOMPLETE — aborted at point vc-05: interrupted (Ctrl-C or SIGTERM)" in pages[0]
    page = next(p for p in pages if re.search(r"5\.\d+ Point vc-05", p))
    assert "? INCONCLUSIVE" in page and "the session stopped while this point was being recorded" in page
    assert "skipped by the operator" in pages[0]


def test_missing_results_is_a_clear_error(tmp_path, capsys):
    from ventbench.bench.cli import main

    root = build_session(tmp_path, ids=("vc-01",), label="nores")
    (root / "results.json").unlink()
    assert main(["report", str(root)]) == 3
    assert "results.json" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 3




def test_trace_excerpt_reads_only_its_window(session, monkeypatch):
    import numpy as np

    from ventbench.bench.report import traces
    from ventbench.drivers.importers.trace_csv import read_trace_csv

    path = session / "points" / "vc-01" / "trace.csv"
    whole = read_trace_csv(path)
    monkeypatch.setattr(traces, "_BISECT_STOP", 256)  # bisect even in a small file
    part = traces.read_excerpt(path, 5.0, 7.5)
    keep = (whole.t_s >= 5.0) & (whole.t_s <= 7.5)
    assert np.array_equal(part.t_s, whole.t_s[keep]) and np.array_equal(part.flow_lpm, whole.flow_lpm[keep])
    assert np.array_equal(part.paw_cmh2o, whole.paw_cmh2o[keep]) and part.flow_condition == "STP20"
    assert traces.read_excerpt(path, 1e6, 1e6 + 1).t_s.size == 0
