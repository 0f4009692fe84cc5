"""Fitting text into widths: word wrap, ellipsis, and a table's column widths that keep
every word whole when they can. Widths are the ones the PDF draws (:func:`text_width_in`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ventbench.bench.report.page import FONT, INK, text_width_in

__all__ = ["Column", "Style", "ellipsize", "fit_widths", "wrap"]


@lru_cache(maxsize=16384)
def _advance_in(char: str, size: float, bold: bool, family: str) -> float:
    return text_width_in(char, size, bold, family)


def _fit_end(text: str, start: int, room_in: float, size: float, bold: bool, family: str) -> int:
    """End of the longest run ``text[start:end]`` no wider than ``room_in``; ``start`` when
    not even one character fits. Glyph advances add up (no kerning); only the characters up
    to the first that does not fit are measured, so a huge text costs what fits of it."""
    used = 0.0
    for end in range(start, len(text)):
        used += _advance_in(text[end], size, bold, family)
        if used > room_in:
            return end
    return len(text)


def _break_word(word: str, width: float, size: float, bold: bool, family: str) -> list[str]:
    """``word`` cut into the fewest pieces that each fit ``width`` (at least one character
    each), in time linear in its length."""
    parts, start = [], 0
    while start < len(word):
        end = max(_fit_end(word, start, width, size, bold, family), start + 1)
        parts.append(word[start:end])
        start = end
    return parts


def wrap(text: str, width_in: float, size: float, bold: bool = False, family: str = FONT) -> list[str]:
    """Greedy word wrap of ``text`` (explicit newlines kept) to ``width_in`` inches."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        body = paragraph.lstrip(" ")
        lead = paragraph[: len(paragraph) - len(body)]
        if lead:  # keep indentation (listings), on every wrapped line
            lead_w = text_width_in(lead, size, bold, family)
            if lead_w < width_in / 2:
                lines += [lead + line for line in wrap(body, width_in - lead_w, size, bold, family)]
                continue
        current = ""
        for word in body.split(" "):
            trial = f"{current} {word}" if current else word
            if text_width_in(trial, size, bold, family) <= width_in:
                current = trial
                continue
            if current:
                lines.append(current)
            pieces = _break_word(word, width_in, size, bold, family)
            lines.extend(pieces[:-1])
            current = pieces[-1] if pieces else ""
        lines.append(current)
    return lines


def ellipsize(text: str, width_in: float, size: float, bold: bool = False) -> str:
    """``text`` cut with "…" so that it fits in one line of ``width_in``."""
    if _fit_end(text, 0, width_in, size, bold, FONT) == len(text):
        return text
    return text[:_fit_end(text, 0, width_in - text_width_in("…", size, bold), size, bold, FONT)] + "…"


def _widest_word_in(text: str, size: float, bold: bool) -> float:
    return max((text_width_in(w, size, bold) for w in str(text).replace("\n", " ").split(" ") if w), default=0.0)


def fit_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]], size: float, pad: float,
               styles: Sequence[dict[int, Style]] | None = None) -> list[float]:
    """Column widths (inches) that keep every word of the header and cells whole when they can.

    A column narrower than its widest word grows, taking the room from the columns with room to
    spare (in proportion to it); the table's total width never changes. Words too long for any
    share of the table (a SHA-256) still break.
    """
    widths = [c.width_in for c in columns]
    total = sum(widths)
    need = []
    for j, column in enumerate(columns):
        widest = _widest_word_in(column.title, size, True)
        for i, row in enumerate(rows):
            bold = bool(styles and styles[i] and styles[i].get(j, Style()).bold)
            widest = max(widest, _widest_word_in(row[j], size, bold))
        need.append(min(widest + 2 * pad + 0.01, 0.5 * total))
    short = sum(max(0.0, n - w) for n, w in zip(need, widths, strict=True))
    if short <= 0:
        return widths
    spare = [max(0.0, w - n) for n, w in zip(need, widths, strict=True)]
    room = sum(spare)
    if room <= 0:
        return widths
    take = min(1.0, short / room)
    grow = min(1.0, room / short)
    return [w + max(0.0, n - w) * grow - s * take for n, w, s in zip(need, widths, spare, strict=True)]


@dataclass(frozen=True)
class Column:
    """A table column: title, width (inches) and alignment ("left" | "right" | "center")."""

    title: str
    width_in: float
    align: str = "left"


@dataclass(frozen=True)
class Style:
    """Text style of a table cell."""

    bold: bool = False
    color: str = INK
