"""Checks of laid-out pages (the tests use them): text that leaves the page's printable area."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from ventbench.bench.report.page import PAGE_H_IN, PAGE_W_IN, Page

__all__ = ["overflowing_texts"]


def overflowing_texts(page: Page) -> list[str]:
    """Texts of ``page`` (its lines, and the plot layer's figure and axes text and tick
    labels) that leave the paper or cross into the margins' outer 0.2 in; empty when every
    text is inside."""
    margin, slack = 0.2, 0.5 / 72
    bad = []
    for op in page.texts:
        left, top, right, bottom = op.extent_in()
        if op.text.strip() and not op.rotation_deg and (
                left < margin - slack or top < margin - slack or right > PAGE_W_IN - margin + slack
                or bottom > PAGE_H_IN - margin + slack):
            bad.append(op.text)
    return bad + (_overflowing_plot_texts(page.plot) if page.plot is not None else [])


def _overflowing_plot_texts(figure: Figure) -> list[str]:
    canvas = FigureCanvasAgg(figure)
    renderer = canvas.get_renderer()
    dpi = figure.dpi
    margin = 0.2 * dpi
    x1, y1 = PAGE_W_IN * dpi - margin, PAGE_H_IN * dpi - margin
    bad = []
    canvas.draw()  # tick labels and legends are placed at draw time
    texts: list[Text] = list(figure.texts)
    for legend in figure.legends:
        texts += list(legend.get_texts())
    for ax in figure.axes:
        texts += [*ax.texts, ax.xaxis.label, ax.yaxis.label, ax.title]
        legend = ax.get_legend()
        if legend is not None:
            texts += list(legend.get_texts())
        (xa, xb), (ya, yb) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        texts += [t for t in ax.get_xticklabels() if xa <= t.get_position()[0] <= xb]
        texts += [t for t in ax.get_yticklabels() if ya <= t.get_position()[1] <= yb]
    for artist in texts:
        if not artist.get_visible() or not artist.get_text().strip():
            continue
        box = artist.get_window_extent(renderer)
        if box.x0 < margin - 0.5 or box.y0 < margin - 0.5 or box.x1 > x1 + 0.5 or box.y1 > y1 + 0.5:
            bad.append(artist.get_text())
    return bad
