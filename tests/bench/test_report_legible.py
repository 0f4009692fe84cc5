"""Legibility of the PDF (issue 14), checked on the PDF's own text: nothing under 8 pt, no
JSON-looking text (no raw dumps), no two words drawn over each other, no word broken in the
middle, and set-value and limit lines on the waveforms with a legend of only what is drawn."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pdfplumber
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from ventbench.bench.report import render
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import MIN_PT, RC
from ventbench.bench.report.pdf import build_pages
from ventbench.bench.report.source import load_session

from tests.bench.report_fixtures import build_session

#: JSON as a dump shows it: a quoted key and a colon, or a brace / bracket opening a quoted string.
JSON_LIKE = re.compile(r'"[A-Za-z_][\w ]*"\s*:|[{\[]\s*"')
#: The watermark is the only text this large; it is meant to lie under the page.
WATERMARK_PT = 30.0


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    return build_session(tmp_path_factory.mktemp("legible"), ids=("vc-01", "vc-06", "vc-09"))


@pytest.fixture(scope="module", params=["en", "id"])
def pdf(request, session, tmp_path_factory) -> Path:
    return render(session, lang=request.param, out=tmp_path_factory.mktemp("pdf") / f"{request.param}.pdf")


def _overlapping(words: list[dict], tol_pt: float = 0.6) -> list[tuple[str, str]]:
    """Pairs of words whose boxes overlap by more than ``tol_pt`` both ways."""
    out = []
    ordered = sorted(words, key=lambda w: w["x0"])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b["x0"] >= a["x1"] - tol_pt:
                break
            if min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > tol_pt:
                out.append((a["text"], b["text"]))
    return out


def test_no_text_under_8_pt_no_json_and_no_overlap(pdf):
    with pdfplumber.open(pdf) as doc:
        assert len(doc.pages) > 10
        for n, page in enumerate(doc.pages, start=1):
            small = {c["text"] for c in page.chars if c["upright"] and c["size"] < MIN_PT - 0.05}
            assert not small, f"page {n}: text under {MIN_PT} pt: {sorted(small)[:10]}"
            text = page.extract_text() or ""
            dumped = JSON_LIKE.findall(text)
            assert not dumped, f"page {n}: JSON-looking text {dumped[:5]}"
            words = [w for w in page.extract_words(extra_attrs=["size"]) if w["size"] < WATERMARK_PT]
            both = _overlapping(words)
            assert not both, f"page {n}: overlapping text {both[:5]}"


def test_every_drawn_text_is_at_least_8_pt_rotated_labels_included(session):
    # the PDF's rotated glyphs have no reliable size in pdfplumber: check the figures themselves
    data = load_session(session)
    with matplotlib.rc_context(RC):
        pages = build_pages(data, Messages("en"))
        for n, page in enumerate(pages, start=1):
            for line in page.texts:
                assert line.size >= MIN_PT, (n, line.text, line.size)
            if page.plot is None:
                continue
            FigureCanvasAgg(page.plot).draw()  # tick labels exist once drawn
            for text in page.plot.findobj(matplotlib.text.Text):
                if text.get_visible() and text.get_text().strip():
                    assert text.get_fontsize() >= MIN_PT, (n, text.get_text(), text.get_fontsize())


def test_no_word_is_broken_in_the_middle(pdf, session):
    # every word of a catalogue text must reach the page whole: a line never ends inside one
    msgs = Messages("id" if pdf.stem == "id" else "en")
    with pdfplumber.open(pdf) as doc:
        text = "\n".join(page.extract_text() or "" for page in doc.pages)
    lines = text.splitlines()
    words = {w for key in msgs.keys() for w in re.findall(r"[A-Za-z][a-z]{5,}", msgs(key) if "{" not in msgs.texts[key] else msgs.texts[key])}
    broken = []
    for line, nxt in zip(lines, lines[1:], strict=False):
        tail, head = (line.split() or [""])[-1], (nxt.split() or [""])[0]
        joined = tail + head
        if tail.isalpha() and head.isalpha() and head.islower() and joined in words and tail not in words:
            broken.append(f"{tail}|{head}")
    assert not broken, broken[:10]


def test_waveforms_draw_set_value_and_limit_lines_with_a_legend_of_what_is_drawn(session):
    data = load_session(session)
    with matplotlib.rc_context(RC):
        figures = build_pages(data, Messages("en"))
    legends = [t.get_text() for f in figures for ax in f.axes if ax.get_legend()
               for t in ax.get_legend().get_texts()]
    assert "set value" in legends and "limit" in legends
    assert "plateau window" not in legends  # volume control without a pause: no plateau drawn
    # PEEP's set value (5 cmH2O at vc-01) is a horizontal line on a pressure axis
    levels = {round(float(line.get_ydata()[0]), 3) for f in figures for ax in f.axes
              if ax.get_ylabel().startswith("Paw") for line in ax.get_lines()
              if line.get_linestyle() == ":" and len(set(line.get_ydata())) == 1}
    assert 5.0 in levels and 10.0 in levels  # vc-01 and vc-06 (PEEP 10, sagging to 7)
