"""Text of a report's pages for the tests (pypdf), whitespace folded; the table of contents
left out unless asked for, since its entries would be found before the pages they name."""

from __future__ import annotations

import re
from pathlib import Path

import pypdf

CONTENTS = re.compile(r"(SIMULA(TION|SI) )?(Contents|Daftar isi) 1\. ")


def is_contents(page: str) -> bool:
    """True for the table-of-contents page."""
    return CONTENTS.match(page) is not None


def pdf_pages(pdf: str | Path, contents: bool = False) -> list[str]:
    """Each page's text with whitespace folded to single spaces."""
    pages = [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(str(pdf)).pages]
    return pages if contents else [p for p in pages if not is_contents(p)]
