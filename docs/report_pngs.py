"""Re-render the report pages shown in docs/: the demo's cover and a point page, in English
and Indonesian (``report-cover.png``, ``report-point.png``, ``report-cover-id.png``,
``report-point-id.png``).

Runs ``ventbench demo`` (seed 1, unsigned, no history) in a temporary folder, renders the
Indonesian report beside the English one, finds the first point page by its text (pypdf)
and rasterises the pages with poppler's ``pdftoppm``. Usage: ``python docs/report_pngs.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pypdf

DOCS = Path(__file__).resolve().parent
#: the first point's heading, "5.1 Point vc-01" / "5.1 Titik vc-01" (its page, not the contents')
POINT_HEADING = re.compile(r"^\d+\.1 (Point|Titik) vc-01 — ", re.M)
CONTENTS = re.compile(r"^(Contents|Daftar isi)$", re.M)


def _page_of_first_point(pdf: Path) -> int:
    for number, page in enumerate(pypdf.PdfReader(str(pdf)).pages, start=1):
        text = page.extract_text()
        if POINT_HEADING.search(text) and not CONTENTS.search(text):
            return number
    raise SystemExit(f"{pdf}: no point page found")


def _png(pdf: Path, page: int, out: Path, dpi: int = 70) -> None:
    stem = out.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page),
                    "-singlefile", str(pdf), str(stem)], check=True)
    print(f"{out} (page {page} of {pdf.name})")


def main() -> int:
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm (poppler-utils) is needed")
    with tempfile.TemporaryDirectory(prefix="ventbench-docs-") as tmp:
        subprocess.run([sys.executable, "-m", "ventbench", "demo", "--out", tmp, "--no-history",
                        "--no-sign"], check=False, stdout=subprocess.DEVNULL)
        (session,) = [p for p in Path(tmp).iterdir() if (p / "start.json").exists()]
        english = session / "report.pdf"
        indonesian = Path(tmp) / "report-id.pdf"
        subprocess.run([sys.executable, "-m", "ventbench", "report", str(session), "--lang", "id",
                        "--out", str(indonesian)], check=True, stdout=subprocess.DEVNULL)
        for pdf, suffix in ((english, ""), (indonesian, "-id")):
            _png(pdf, 1, DOCS / f"report-cover{suffix}.png")
            _png(pdf, _page_of_first_point(pdf), DOCS / f"report-point{suffix}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
