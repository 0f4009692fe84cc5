"""Page frame and flowing layout: A4 portrait pages, header and footer, wrapped text and
tables that paginate.

Everything is placed in inches on a :class:`~bench.report.page.Page` (text, rules and boxes
as drawing operations; axes on the page's matplotlib plot layer). Widths are measured with
the font metrics the PDF is drawn with, so wrapped text and table cells stay inside their
boxes whatever the content; :func:`overflowing_texts` checks that after the fact (tests use
it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from matplotlib.figure import Figure

from ventbench.bench.report.page import (
    FONT,
    INK,
    MONO,
    PAGE_H_IN,
    PAGE_W_IN,
    LineOp,
    Page,
    RectOp,
    TextOp,
    drawable,
    text_width_in,
)
from ventbench.bench.report.page_checks import overflowing_texts
from ventbench.bench.report.textfit import Column, Style, ellipsize, fit_widths, wrap

__all__ = ["CONTENT_W_IN", "FONT", "INK", "LEFT_IN", "MIN_PT", "MONO", "PAGE_H_IN", "PAGE_W_IN", "RC",
           "Column", "Document", "Style", "axes_at", "ellipsize", "fit_widths", "overflowing_texts",
           "text_width_in", "wrap"]

LEFT_IN = RIGHT_IN = 0.6
TOP_IN = 1.0  #: content starts here (below the header band)
BOTTOM_IN = 0.75  #: content ends this far above the paper's lower edge (footer band)
CONTENT_W_IN = PAGE_W_IN - LEFT_IN - RIGHT_IN
LINE = 1.25  #: line height, × font size
GREY = "#555555"
ZEBRA = "#eeeeee"
#: matplotlib settings of the plots (TrueType fonts embedded: text stays text).
RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "font.family": FONT, "font.size": 8,
      "axes.linewidth": 0.6, "lines.linewidth": 1.0, "axes.unicode_minus": True,
      "pdf.compression": 6, "path.simplify": True, "hatch.linewidth": 0.6,
      "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.labelsize": 8, "axes.titlesize": 8,
      "legend.fontsize": 8}
#: Smallest text on a page, pt (issue 14: nothing under 8 pt); smaller requests are raised to it.
MIN_PT = 8.0


class Document:
    """Pages being filled top to bottom; a block that does not fit starts a new page."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.y = TOP_IN
        #: numbered headings: (number, text, level, page index), for the table of contents
        self.outline: list[tuple[str, str, int, int]] = []
        self._numbers = [0, 0]  # current section, subsection
        self._section_text = ""
        self._contents: tuple[int, str] | None = None  # the reserved page and its title

    # -- pages ------------------------------------------------------------------------------
    def new_page(self) -> Page:
        page = Page()
        self.pages.append(page)
        self.y = TOP_IN
        return page

    @property
    def page(self) -> Page:
        return self.pages[-1] if self.pages else self.new_page()

    def room(self) -> float:
        """Height left on the current page, inches."""
        return PAGE_H_IN - BOTTOM_IN - self.y

    def ensure(self, height_in: float) -> None:
        """Start a new page unless ``height_in`` fits (an empty page always takes it)."""
        if not self.pages or (height_in > self.room() and self.y > TOP_IN + 1e-6):
            self.new_page()

    def keep_together(self, draw: Callable[[Document], None]) -> None:
        """Draw a block with ``draw(doc)`` on one page when it fits on one: it is laid out
        first on a scratch page to measure its height (a block taller than a page flows)."""
        scratch = Document()
        scratch.new_page()
        draw(scratch)
        if len(scratch.pages) == 1:
            self.ensure(scratch.y - TOP_IN)
        draw(self)

    def space(self, height_in: float) -> None:
        self.y = min(self.y + height_in, PAGE_H_IN - BOTTOM_IN)

    # -- text -------------------------------------------------------------------------------
    def put(self, x_in: float, y_top_in: float, text: str, size: float, *, bold: bool = False,
            color: str = INK, ha: str = "left", family: str = FONT, page: Page | None = None) -> None:
        """One line of text with its top at ``y_top_in`` from the paper's top edge."""
        (page or self.page).ops.append(TextOp(x_in, y_top_in, drawable(str(text), family, bold), max(size, MIN_PT),
                                              bold, color, ha, family))

    def rule(self, y_in: float, width_pt: float, color: str = INK, page: Page | None = None) -> None:
        """A horizontal rule across the content width at ``y_in`` from the paper's top edge."""
        (page or self.page).ops.append(LineOp(LEFT_IN, y_in, PAGE_W_IN - RIGHT_IN, y_in, width_pt, color))

    def shade(self, y_in: float, width_in: float, height_in: float, fill: str) -> None:
        """A filled box from the left margin, its top at ``y_in``."""
        self.page.ops.append(RectOp(LEFT_IN, y_in, width_in, height_in, fill))

    def heading(self, text: str, level: int = 1, keep_in: float = 1.2) -> None:
        """A section heading kept together with ``keep_in`` inches of what follows.

        Level 1 is numbered "N." and level 2 "N.M" (a level 2 before the first section, on
        the cover, is not); both go into :attr:`outline` for the table of contents."""
        size = {1: 14.0, 2: 11.0, 3: 9.5}.get(level, 9.5)
        number = self._number(level, text)
        lines = wrap(f"{number} {text}" if number else text, CONTENT_W_IN, size, True)
        self.ensure(len(lines) * size * LINE / 72 + keep_in)
        if number:
            self.outline.append((number, text, level, len(self.pages) - 1))
        self.space(0.08 if level > 1 and self.y > TOP_IN else 0.0)
        for line in lines:
            self.put(LEFT_IN, self.y, line, size, bold=True)
            self.y += size * LINE / 72
        if level == 1:
            self.rule(self.y, 0.6)
        self.space(0.06)

    def _number(self, level: int, text: str) -> str:
        if level == 1:
            self._numbers = [self._numbers[0] + 1, 0]
            self._section_text = text
            return f"{self._numbers[0]}."
        if level == 2 and self._numbers[0]:
            self._numbers[1] += 1
            return f"{self._numbers[0]}.{self._numbers[1]}"
        return ""

    def section(self, text: str) -> None:
        """A level-1 heading unless ``text`` is already the current section (the first of a
        run of pages that each start with their own level-2 heading)."""
        if text != self._section_text or not self._numbers[0]:
            self.heading(text, 1, keep_in=1.5)

    def contents_page(self, title: str) -> None:
        """Reserve the next page for the table of contents, drawn by :meth:`finish` once
        every heading's page is known."""
        self.new_page()
        self._contents = (len(self.pages) - 1, title)

    def _draw_contents(self) -> None:
        index, title = self._contents
        contents, size = self.pages[index], 9.0
        step = size * LINE / 72 + 0.04
        room = int((PAGE_H_IN - BOTTOM_IN - TOP_IN - 0.5) // step)
        entries = self.outline if len(self.outline) <= room else [e for e in self.outline if e[2] == 1]
        y = TOP_IN
        self.put(LEFT_IN, y, title, 14.0, bold=True, page=contents)
        y += 14.0 * LINE / 72 + 0.15
        for number, text, level, page_index in entries[:room]:
            indent = 0.0 if level == 1 else 0.35
            label = f"{number} {text}"
            page_text = str(page_index + 1)
            width = CONTENT_W_IN - indent - text_width_in(page_text, size) - 0.3
            self.put(LEFT_IN + indent, y, ellipsize(label, width, size, level == 1), size, bold=level == 1,
                     page=contents)
            self.put(PAGE_W_IN - RIGHT_IN, y, page_text, size, ha="right", bold=level == 1, page=contents)
            y += step

    def paragraph(self, text: str, size: float = 8.5, *, bold: bool = False, color: str = INK,
                  indent_in: float = 0.0, family: str = FONT, after_in: float = 0.06) -> None:
        """Wrapped text; breaks across pages between lines."""
        size = max(size, MIN_PT)
        height = size * LINE / 72
        for line in wrap(text, CONTENT_W_IN - indent_in, size, bold, family):
            self.ensure(height)
            self.put(LEFT_IN + indent_in, self.y, line, size, bold=bold, color=color, family=family)
            self.y += height
        self.space(after_in)

    def key_values(self, rows: Sequence[tuple[str, str]], size: float = 8.0, key_in: float = 1.9) -> None:
        """Label / value rows (a two-column table without rules)."""
        self.table([Column("", key_in), Column("", CONTENT_W_IN - key_in)], [list(r) for r in rows],
                   size=size, header=False, zebra=False, styles=[{0: Style(bold=True)}] * len(rows))

    # -- tables -----------------------------------------------------------------------------
    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], *, size: float = 7.0,
              header: bool = True, zebra: bool = True, styles: Sequence[dict[int, Style]] | None = None,
              continued: str = "") -> None:
        """A table that paginates: rows never split; the header row repeats on each page.

        A row taller than a whole page is cut to the lines that fit, ending in "…".
        """
        pad = 0.03
        size = max(size, MIN_PT)
        line_h = size * LINE / 72
        widths = fit_widths(columns, rows, size, pad, styles)
        columns = [Column(c.title, w, c.align) for c, w in zip(columns, widths, strict=True)]
        head = [wrap(c.title, w - 2 * pad, size, True) for c, w in zip(columns, widths, strict=True)]
        head_h = max((len(h) for h in head), default=1) * line_h + 2 * pad if header else 0.0

        def draw_header() -> None:
            if not header:
                return
            self.shade(self.y, sum(widths), head_h, "#d0d0d0")
            self._cells(head, columns, [Style(bold=True)] * len(columns), pad, size, line_h)
            self.y += head_h

        max_body = PAGE_H_IN - BOTTOM_IN - TOP_IN - head_h - 0.3
        self.ensure(head_h + line_h + 2 * pad)
        draw_header()
        for i, row in enumerate(rows):
            style = (styles[i] if styles else {}) or {}
            cells = [wrap(str(text), w - 2 * pad, size, style.get(j, Style()).bold)
                     for j, (text, w) in enumerate(zip(row, widths, strict=True))]
            n = max((len(c) for c in cells), default=1)
            max_lines = max(1, int((max_body - 2 * pad) / line_h))
            if n > max_lines:
                cells = [c[:max_lines - 1] + ["…"] if len(c) > max_lines else c for c in cells]
                n = max_lines
            height = n * line_h + 2 * pad
            if height > self.room():
                self.new_page()
                if continued:
                    self.put(LEFT_IN, self.y, continued, size, color=GREY)
                    self.y += line_h
                draw_header()
            if zebra and i % 2 == 1:
                self.shade(self.y, sum(widths), height, ZEBRA)
            self._cells(cells, columns, [style.get(j, Style()) for j in range(len(columns))], pad, size, line_h)
            self.y += height
        self.space(0.1)

    def _cells(self, cells, columns, styles, pad, size, line_h) -> None:
        x = LEFT_IN
        for lines, column, style in zip(cells, columns, styles, strict=True):
            if column.align == "right":
                tx, ha = x + column.width_in - pad, "right"
            elif column.align == "center":
                tx, ha = x + column.width_in / 2, "center"
            else:
                tx, ha = x + pad, "left"
            for k, line in enumerate(lines):
                if line:
                    self.put(tx, self.y + pad + k * line_h, line, size, bold=style.bold,
                             color=style.color, ha=ha)
            x += column.width_in

    # -- figures ----------------------------------------------------------------------------
    def block(self, height_in: float) -> tuple[Figure, float, float]:
        """Reserve ``height_in`` of full content width; returns (the page's plot layer, top,
        bottom), top and bottom in inches from the paper's lower edge, for placing axes with
        :func:`axes_at`."""
        self.ensure(height_in)
        top = PAGE_H_IN - self.y
        self.y += height_in
        return self.page.plot_layer(), top, top - height_in

    # -- finishing --------------------------------------------------------------------------
    def finish(self, header: Callable[[int, int], tuple[str, str, str]],
               footer: Callable[[int, int], tuple[str, str]]) -> list[Page]:
        """Draw the table of contents (when a page was reserved) and stamp header (left,
        right, banner) and footer (left, right) on every page."""
        if self._contents is not None:
            self._draw_contents()
        total = len(self.pages)
        width = CONTENT_W_IN
        for n, page in enumerate(self.pages, start=1):
            left, right, banner = header(n, total)
            right = ellipsize(right, width * 0.45, MIN_PT)
            self.put(LEFT_IN, 0.4, ellipsize(left, width - text_width_in(right, MIN_PT) - 0.2, MIN_PT),
                     MIN_PT, color=GREY, page=page)
            self.put(PAGE_W_IN - RIGHT_IN, 0.4, right, MIN_PT, color=GREY, ha="right", page=page)
            if banner:
                self.put(LEFT_IN, 0.58, ellipsize(banner, width, 8.0, True), 8.0, bold=True, page=page)
            self.rule(0.82, 0.5, GREY, page=page)
            self.rule(PAGE_H_IN - 0.58, 0.5, GREY, page=page)
            f_left, f_right = footer(n, total)
            f_right_w = text_width_in(f_right, MIN_PT)
            self.put(LEFT_IN, PAGE_H_IN - 0.5, ellipsize(f_left, width - f_right_w - 0.2, MIN_PT), MIN_PT,
                     color=GREY, page=page)
            self.put(PAGE_W_IN - RIGHT_IN, PAGE_H_IN - 0.5, f_right, MIN_PT, color=GREY, ha="right", page=page)
        return self.pages


def axes_at(figure: Figure, left_in: float, bottom_in: float, width_in: float, height_in: float):
    """Axes at a rectangle given in inches from the paper's lower-left corner."""
    return figure.add_axes((left_in / PAGE_W_IN, bottom_in / PAGE_H_IN, width_in / PAGE_W_IN,
                            height_in / PAGE_H_IN))
