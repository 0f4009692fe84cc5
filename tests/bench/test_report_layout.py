"""The report's page layout (bench/report/layout.py, page.py) and how pages become a PDF
(compose.py): cells stay in their columns, no two lines are drawn over each other, blocks kept
together, plots laid over their page, the same pages give the same bytes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import matplotlib
import pdfplumber
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from ventbench.bench.report.compose import write_pdf
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import (
    CONTENT_W_IN,
    LEFT_IN,
    MIN_PT,
    RC,
    TOP_IN,
    Column,
    Document,
    axes_at,
    ellipsize,
    fit_widths,
    overflowing_texts,
    wrap,
)
from ventbench.bench.report.page import TextOp, drawable, text_width_in
from ventbench.bench.report.pdf import build_pages
from ventbench.bench.report.source import load_session

from tests.bench.report_fixtures import build_session


def _overlaps(a: TextOp, b: TextOp, tol_in: float = 0.005) -> bool:
    ax0, ay0, ax1, ay1 = a.extent_in()
    bx0, by0, bx1, by1 = b.extent_in()
    return min(ax1, bx1) - max(ax0, bx0) > tol_in and min(ay1, by1) - max(ay0, by0) > tol_in


def _overlapping(page) -> list[tuple[str, str]]:
    lines = [t for t in page.texts if t.text.strip() and not t.rotation_deg]
    return [(a.text, b.text) for a, b in itertools.combinations(lines, 2) if _overlaps(a, b)]


def test_a_column_widened_for_a_long_word_moves_the_columns_after_it():
    doc = Document()
    long_word = "±(4\u00a0mL\u00a0+\u00a015\u00a0%)"  # kept whole: the column must grow
    columns = [Column("Quantity", 1.0), Column("Limit", 0.5), Column("Applies", 1.0, "right"),
               Column("Source", CONTENT_W_IN - 2.5)]
    rows = [["VTe monitored", f"{long_word} of the reading", "set > 50 mL", "a source " * 12]] * 3
    doc.table(columns, rows, size=8)
    (page,) = doc.pages
    widths = fit_widths(columns, rows, MIN_PT, 0.03)
    assert widths[1] > 0.5 and sum(widths) == pytest.approx(CONTENT_W_IN)
    edges = [LEFT_IN + sum(widths[:j]) for j in range(len(widths) + 1)]
    assert [t.text for t in page.texts if t.text.startswith("±")] == [long_word] * 3  # whole
    for line in page.texts:  # every line inside one column: none runs into its neighbour
        left, _, right, _ = line.extent_in()
        assert any(edges[j] - 1e-6 <= left and right <= edges[j + 1] + 1e-6 for j in range(len(widths))), (
            line.text, left, right, edges)
    assert _overlapping(page) == []


def test_a_block_kept_together_moves_whole_to_the_next_page_or_flows_when_taller_than_a_page():
    doc = Document()
    doc.new_page()
    doc.space(8.5)  # little room left on the first page
    doc.keep_together(lambda d: [d.paragraph(f"line {k}", 9) for k in range(12)])
    assert len(doc.pages) == 2 and [t.text for t in doc.pages[1].texts][:2] == ["line 0", "line 1"]
    assert doc.pages[0].texts == []
    tall = Document()
    tall.new_page()
    tall.space(1.0)
    tall.keep_together(lambda d: [d.paragraph(f"row {k}", 9) for k in range(200)])
    assert tall.pages[0].texts[0].text == "row 0"  # started where it was: it cannot fit anywhere
    assert tall.pages[0].texts[0].y_top_in == pytest.approx(TOP_IN + 1.0)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return build_session(tmp_path_factory.mktemp("layout"), ids=("vc-01", "vc-06", "vc-09"), label="layout")


@pytest.mark.parametrize("lang", ["en", "id"])
def test_no_two_lines_of_a_report_are_drawn_over_each_other_nor_leave_the_page(session, lang):
    with matplotlib.rc_context(RC):
        pages = build_pages(load_session(session), Messages(lang))
    assert len(pages) > 10
    for n, page in enumerate(pages, start=1):
        assert _overlapping(page) == [], f"{lang} page {n}"
        assert [t.text for t in page.texts if t.size < MIN_PT] == []
    for n in (1, len(pages) // 2):
        assert overflowing_texts(pages[n]) == [], f"{lang} page {n + 1}"


def _two_pages(label: str) -> list:
    doc = Document()
    doc.heading("Plots", 1)
    figure, top, _ = doc.block(2.0)
    ax = axes_at(figure, LEFT_IN + 0.6, top - 1.8, CONTENT_W_IN - 0.8, 1.5)
    ax.plot([0, 1, 2], [0, 1, 0])
    ax.set_xlabel(label)
    doc.paragraph("Text under the plot.")
    doc.new_page()
    doc.paragraph("A page without a plot.")
    return doc.finish(lambda n, m: ("left", "right", ""), lambda n, m: ("footer", f"page {n} of {m}"))


def test_a_plot_is_laid_over_its_own_page_and_the_same_pages_give_the_same_bytes(tmp_path):
    started = datetime(2026, 3, 2, 8, 15, 30, tzinfo=UTC)
    meta = {"Title": "t", "ventbench:results_sha256": "ab" * 32, "CreationDate": started}
    with matplotlib.rc_context(RC):
        write_pdf(_two_pages("time, s"), tmp_path / "a.pdf", meta)
        write_pdf(_two_pages("time, s"), tmp_path / "b.pdf", meta)
        write_pdf(_two_pages("volume, mL"), tmp_path / "c.pdf", meta)
    a, b, c = ((tmp_path / f"{k}.pdf").read_bytes() for k in "abc")
    assert a == b and a != c
    reader = PdfReader(tmp_path / "a.pdf")
    assert reader.metadata["/ventbench:results_sha256"] == "ab" * 32
    assert reader.metadata["/CreationDate"] == "D:20260302081530Z"
    assert reader.trailer["/ID"][0] == reader.trailer["/ID"][1]
    with pdfplumber.open(tmp_path / "a.pdf") as pdf:
        first, second = (p.extract_text() for p in pdf.pages)
        assert pdf.pages[0].width == pytest.approx(8.27 * 72)
    assert "time, s" in first and "Text under the plot." in first and "page 1 of 2" in first
    assert "time, s" not in second and "A page without a plot." in second


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_is_drawn_as_itself_or_as_a_replacement_character_never_as_another(text):
    shown = drawable(text)
    assert len(shown) == len(text)
    for wrote, drew in zip(text, shown, strict=True):
        assert drew == wrote or drew == "\ufffd" or (wrote == "\t" and drew == " ")
    assert shown == drawable(shown)  # what is drawable stays as it is


def test_a_device_name_with_an_emoji_control_codes_and_cjk_reads_back_with_replacement_characters(tmp_path):
    doc = Document()
    doc.paragraph("Vent\x00 😀 中文 (P2)\\ ≤5 µL\tend")
    pages = doc.finish(lambda n, m: ("", "", ""), lambda n, m: ("", ""))
    write_pdf(pages, tmp_path / "odd.pdf", {"Title": "odd"})
    with pdfplumber.open(tmp_path / "odd.pdf") as pdf:
        text = pdf.pages[0].extract_text()
    assert "Vent\ufffd \ufffd \ufffd\ufffd (P2)\\ ≤5 µL end" in text


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from("iiWW m.±%–\u00a0漢"), min_size=1, max_size=400),
       st.floats(0.05, 3.0), st.sampled_from([8.0, 11.0]))
def test_a_long_word_breaks_into_the_fewest_pieces_that_fit_and_ellipsis_keeps_the_longest_prefix(
        text, width_in, size):
    word = text.replace(" ", "")
    if word:
        lines = wrap(word, width_in, size)
        assert "".join(lines) == word
        for line, nxt in itertools.pairwise(lines):
            assert text_width_in(line, size) <= width_in + 1e-9 or len(line) == 1  # a glyph wider than the room
            assert text_width_in(line + nxt[0], size) > width_in  # nothing more would have fitted
    cut = ellipsize(text, width_in, size)
    if cut != text:
        kept = cut[:-1]
        assert cut.endswith("…") and text.startswith(kept)
        assert text_width_in(cut, size) <= width_in + 1e-9 or kept == ""
        assert text_width_in(text[:len(kept) + 1] + "…", size) > width_in


def test_a_huge_device_name_costs_linear_time():
    # a 200 000-character name in start.json is ellipsized in every header and wrapped on the
    # cover: both take time in proportion to its length, not its square (it took ~20 s per
    # header at 20 000 characters)
    name = "x" * 200_000
    assert ellipsize(name, 3.0, MIN_PT).endswith("…")
    assert len(wrap(name, CONTENT_W_IN, MIN_PT)) > 100


def test_a_lone_surrogate_from_json_in_the_metadata_becomes_a_replacement_character(tmp_path):
    # JSON can carry "\ud800" (start.json's device or operator name); a PDF text string cannot
    doc = Document()
    doc.paragraph("Vent\ud800X")
    pages = doc.finish(lambda n, m: ("", "", ""), lambda n, m: ("", ""))
    write_pdf(pages, tmp_path / "s.pdf", {"Title": "Vent\ud800X", "Author": "op\udfff"})
    reader = PdfReader(tmp_path / "s.pdf")
    assert reader.metadata["/Title"] == "Vent\ufffdX" and reader.metadata["/Author"] == "op\ufffd"
    assert "Vent\ufffdX" in reader.pages[0].extract_text()
