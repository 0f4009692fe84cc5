"""One report page: its text, rules and shaded boxes as drawing operations, and an optional
plot layer (a matplotlib Figure of the whole page) for the axes placed on it.

Text is measured and later drawn by ReportLab with the same TrueType fonts (DejaVu, the
font matplotlib ships, embedded as subsets), so a width measured here is the width drawn;
:mod:`bench.report.compose` writes the pages and lays each plot layer over its page.
Coordinates are inches, ``x`` from the paper's left edge and ``y`` from its top edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

PAGE_W_IN, PAGE_H_IN = 8.27, 11.69  # A4 portrait
FONT = "DejaVu Sans"
MONO = "DejaVu Sans Mono"
INK = "#000000"
#: Height of a line's tallest letters above its baseline, × font size: DejaVu Sans's "l"
#: (1556/2048 em), where matplotlib puts the top of a text aligned "top".
ASCENT_EM = 1556 / 2048


@lru_cache(maxsize=8)
def font_name(family: str, bold: bool) -> str:
    """The ReportLab name of ``family`` (``FONT`` or ``MONO``), registered on first use from
    the font file matplotlib ships — not a system copy, so the same versions of the
    libraries give the same pages on any machine."""
    name = f"{family.replace(' ', '')}{'-Bold' if bold else ''}"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{name}.ttf"
    pdfmetrics.registerFont(TTFont(name, str(path)))
    return name


@lru_cache(maxsize=8)
def _drawable_codes(family: str, bold: bool) -> frozenset[int]:
    """Characters the font draws as themselves: in its character map, in the Basic
    Multilingual Plane (ReportLab draws one beyond it as another glyph), not control codes."""
    glyphs = pdfmetrics.getFont(font_name(family, bold)).face.charToGlyph
    return frozenset(c for c in glyphs if 32 <= c <= 0xFFFF and not 0x7F <= c <= 0x9F)


def drawable(text: str, family: str = FONT, bold: bool = False) -> str:
    """``text`` as it can be drawn: a tab becomes a space, and every character the font cannot
    draw as itself (a control code, an emoji, a script DejaVu lacks) becomes U+FFFD, so
    that nothing on a page is silently another character or missing."""
    codes = _drawable_codes(family, bold)
    if all(ord(c) in codes for c in text):
        return text
    return "".join(c if ord(c) in codes else " " if c == "\t" else "\ufffd" for c in text)


def text_width_in(text: str, size: float, bold: bool = False, family: str = FONT) -> float:
    """Width of one line of ``text`` in inches at ``size`` points, as drawn."""
    if not text:
        return 0.0
    return pdfmetrics.stringWidth(text, font_name(family, bold), size) / 72.0


@dataclass(frozen=True, slots=True)
class TextOp:
    """One line of text; ``y_top_in`` is the top of its letters ("l"), ``ha`` is
    "left" | "right" | "center" about ``x_in``; ``rotation_deg`` turns it about its centre."""

    x_in: float
    y_top_in: float
    text: str
    size: float
    bold: bool = False
    color: str = INK
    ha: str = "left"
    family: str = FONT
    alpha: float = 1.0
    rotation_deg: float = 0.0

    def extent_in(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the line's box, inches (unrotated)."""
        width = text_width_in(self.text, self.size, self.bold, self.family)
        left = {"left": self.x_in, "right": self.x_in - width}.get(self.ha, self.x_in - width / 2)
        return left, self.y_top_in, left + width, self.y_top_in + self.size / 72.0  # one em tall


@dataclass(frozen=True, slots=True)
class RectOp:
    """A filled box without outline: top-left corner, width and height (inches)."""

    x_in: float
    y_top_in: float
    width_in: float
    height_in: float
    fill: str


@dataclass(frozen=True, slots=True)
class LineOp:
    """A straight rule from (x0, y0) to (x1, y1), inches; ``width_pt`` its thickness."""

    x0_in: float
    y0_in: float
    x1_in: float
    y1_in: float
    width_pt: float
    color: str = INK


@dataclass
class Page:
    """What one page holds: drawing operations in order, and the plot layer if any."""

    ops: list[TextOp | RectOp | LineOp] = field(default_factory=list)
    plot: Figure | None = None

    @property
    def texts(self) -> list[TextOp]:
        return [op for op in self.ops if isinstance(op, TextOp)]

    @property
    def axes(self) -> list:
        """The axes of the plot layer (empty without one)."""
        return list(self.plot.axes) if self.plot is not None else []

    def plot_layer(self) -> Figure:
        """The page's plot layer, created on first use: a transparent Figure of the whole
        page, on which axes are placed in page inches (:func:`bench.report.layout.axes_at`)."""
        if self.plot is None:
            self.plot = Figure(figsize=(PAGE_W_IN, PAGE_H_IN))
            self.plot.patch.set_visible(False)
        return self.plot
