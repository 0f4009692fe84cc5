"""Writing the pages to one PDF: text, rules and boxes by ReportLab, plots by matplotlib,
each page's plot layer laid over its page as a Form XObject (pypdf), vector throughout.

Deterministic: ReportLab runs in its invariant mode (no clock, fixed document id), the plot
layers carry no date, and pypdf writes the merged file with the identifier derived from the
content; the same pages give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.colors import to_rgba
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
)
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from ventbench.bench.report.page import (
    ASCENT_EM,
    PAGE_H_IN,
    PAGE_W_IN,
    LineOp,
    Page,
    RectOp,
    TextOp,
    font_name,
)

PAGE_SIZE_PT = (PAGE_W_IN * 72.0, PAGE_H_IN * 72.0)
_PLOT = NameObject("/VentbenchPlot")


def write_pdf(pages: Sequence[Page], target: Path, metadata: dict[str, str | datetime]) -> None:
    """Write ``pages`` to ``target`` with the document information ``metadata`` (PDF Info
    keys without the slash; datetimes become PDF dates)."""
    text = _text_layer(pages)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text)))
    plotted = [k for k, page in enumerate(pages) if page.plot is not None]
    plot = _plot_layers([pages[k].plot for k in plotted]) if plotted else b""
    if plotted:
        plots = PdfReader(io.BytesIO(plot))
        for k, plot_page in zip(plotted, plots.pages, strict=True):
            _overlay(writer, writer.pages[k], plot_page)
    writer.add_metadata({f"/{key}": _info_value(value) for key, value in metadata.items()})
    digest = ByteStringObject(hashlib.md5(text + plot + repr(sorted(metadata.items())).encode(),
                                          usedforsecurity=False).digest())
    writer._ID = ArrayObject([digest, digest])  # noqa: SLF001 — the file identifier from the content, not at random
    with open(target, "wb") as out:
        writer.write(out)


def _info_value(value: str | datetime) -> str:
    """A PDF date, or the text with any lone UTF-16 surrogate (which JSON can carry and no
    PDF text string can) as U+FFFD."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in str(value))


def _text_layer(pages: Sequence[Page]) -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=PAGE_SIZE_PT, invariant=1, pageCompression=1)
    for page in pages:
        for op in page.ops:
            _draw(canvas, op)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _draw(canvas: Canvas, op: TextOp | RectOp | LineOp) -> None:
    top_pt = PAGE_SIZE_PT[1]
    if isinstance(op, TextOp):
        red, green, blue, _ = to_rgba(op.color)
        canvas.setFillColorRGB(red, green, blue, op.alpha)
        font = font_name(op.family, op.bold)
        # most lines are left-aligned: measured only when the anchor is not the left edge
        width = 0.0 if op.ha == "left" and not op.rotation_deg else stringWidth(op.text, font, op.size)
        left = op.x_in * 72.0 - {"left": 0.0, "right": width}.get(op.ha, width / 2)
        baseline = top_pt - op.y_top_in * 72.0 - ASCENT_EM * op.size
        if op.rotation_deg:  # about the line's centre (the watermark)
            canvas.saveState()
            canvas.translate(op.x_in * 72.0, top_pt - op.y_top_in * 72.0)
            canvas.rotate(op.rotation_deg)
            left, baseline = -width / 2, -ASCENT_EM * op.size / 2
        # a text object shown without drawString's trailing line feed (T*), so that text
        # extraction joins the cells of a row as the reader sees them
        line = canvas.beginText(left, baseline)
        line.setFont(font, op.size)
        line.textOut(op.text)
        canvas.drawText(line)
        if op.rotation_deg:
            canvas.restoreState()
    elif isinstance(op, RectOp):
        red, green, blue, alpha = to_rgba(op.fill)
        canvas.setFillColorRGB(red, green, blue, alpha)
        canvas.rect(op.x_in * 72.0, top_pt - (op.y_top_in + op.height_in) * 72.0, op.width_in * 72.0,
                    op.height_in * 72.0, stroke=0, fill=1)
    else:
        red, green, blue, alpha = to_rgba(op.color)
        canvas.setStrokeColorRGB(red, green, blue, alpha)
        canvas.setLineWidth(op.width_pt)
        canvas.line(op.x0_in * 72.0, top_pt - op.y0_in * 72.0, op.x1_in * 72.0, top_pt - op.y1_in * 72.0)


def _plot_layers(figures: Sequence) -> bytes:
    out = io.BytesIO()
    with PdfPages(out, metadata={"Creator": None, "Producer": None, "CreationDate": None}) as pdf:
        for figure in figures:
            pdf.savefig(figure)
    return out.getvalue()


def _overlay(writer: PdfWriter, page, plot_page) -> None:
    """Draw ``plot_page`` over ``page`` as a Form XObject: its content stream is copied as
    it is (still compressed), never parsed."""
    content = plot_page.get_object()["/Contents"].get_object()
    form = content.clone(writer)  # the compressed stream and its /Filter, unchanged
    form.update({
        NameObject("/Type"): NameObject("/XObject"),
        NameObject("/Subtype"): NameObject("/Form"),
        NameObject("/BBox"): ArrayObject(FloatObject(v) for v in plot_page.mediabox),
        NameObject("/Resources"): plot_page["/Resources"].clone(writer),
    })
    resources = page["/Resources"].get_object()
    xobjects = resources.get("/XObject")
    if xobjects is None:
        xobjects = DictionaryObject()
        resources[NameObject("/XObject")] = xobjects
    xobjects.get_object()[_PLOT] = form.indirect_reference or writer._add_object(form)  # noqa: SLF001
    contents = page.raw_get("/Contents")  # the reference: a stream in an array must stay indirect
    parts = list(contents.get_object()) if isinstance(contents.get_object(), ArrayObject) else [contents]
    # the text layer's graphics state is closed before the plot is drawn in the page's own
    before, after = DecodedStreamObject(), DecodedStreamObject()
    before.set_data(b"q\n")
    after.set_data(b"\nQ q " + _PLOT.encode() + b" Do Q\n")
    page[NameObject("/Contents")] = ArrayObject([writer._add_object(before), *parts,  # noqa: SLF001
                                                 writer._add_object(after)])  # noqa: SLF001
