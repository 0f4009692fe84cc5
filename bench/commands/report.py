"""``ventbench report SESSION [--lang en|id] [--out PDF] [--xlsx FILE]``: (re)render a session's PDF report.

Rendering reads the session's files and never changes them (only the PDF is written). The
same session renders a byte-identical PDF, so re-rendering ``SESSION/report.pdf`` leaves the
SHA-256 recorded in ``stop.json`` and ``manifest.json`` valid; the manifest's own SHA-256
is printed. Exit code: 0 when written, 3 when the session's
files are missing or malformed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ventbench.bench.records import MANIFEST_FILE, sha256_file
from ventbench.exit_codes import EXIT_PASS

HELP = "(re)render the PDF report of a session (deterministic; --lang en|id)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ventbench.bench.report.i18n import DEFAULT_LANGUAGE, LANGUAGES

    parser.add_argument("session", type=Path, metavar="SESSION", help="session directory")
    parser.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE,
                        help=f"language of the fixed text (default {DEFAULT_LANGUAGE})")
    parser.add_argument("--out", type=Path, default=None, metavar="PDF",
                        help="PDF to write (default SESSION/report.pdf)")
    parser.add_argument("--lab-config", type=Path, default=None, metavar="FILE",
                        help="laboratory name, address, accreditation and signatories (TOML)")
    parser.add_argument("--xlsx", type=Path, default=None, metavar="FILE",
                        help="also write the worksheet of readings as a spreadsheet (.xlsx)")


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.report import render

    path = render(args.session, lang=args.lang, out=args.out, lab_config=args.lab_config)
    print(f"report: {path}")
    if args.xlsx is not None:
        from ventbench.bench.report.i18n import Messages
        from ventbench.bench.report.source import load_session
        from ventbench.bench.report.worksheet_xlsx import write_xlsx

        print(f"worksheet: {write_xlsx(load_session(args.session), Messages(args.lang), args.xlsx)}")
    manifest = Path(args.session) / MANIFEST_FILE
    if manifest.is_file():  # the one hash that vouches for every file, the report's included
        print(f"session manifest sha256: {sha256_file(manifest)} ({MANIFEST_FILE}; check with "
              f"`ventbench verify {args.session}`)")
    return EXIT_PASS
