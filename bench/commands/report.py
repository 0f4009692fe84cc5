"""``ventbench report SESSION [--lang en|id] [--out PDF] [--xlsx FILE]``: (re)render a session's PDF report.

Rendering reads the session's files and never changes them (only the PDF is written). The
same session renders a byte-identical PDF, so re-rendering ``SESSION/report.pdf`` leaves the
SHA-256 recorded in ``stop.json`` and ``manifest.json`` valid; the manifest's own SHA-256
is printed.

Signing (docs/signing.md): ``--sign-key KEY.pem --sign-cert CERT.pem`` or ``--sign-p12
FILE`` also writes ``SESSION/report.signed.pdf``: ``report.pdf`` byte for byte, with
``results.json``, ``stop.json`` and ``manifest.json`` attached and a PAdES signature over
every byte. ``report.pdf`` is left as the manifest records it. The passphrase (or PKCS#12
password) comes from ``VENTBENCH_KEY_PASSPHRASE`` or a terminal prompt, never an option.

Exit code: 0 when written, 3 when the session's files are missing or malformed, or the
signing files are bad (each named).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ventbench.bench.records import MANIFEST_FILE, sha256_file
from ventbench.errors import ConfigError
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
    sign = parser.add_argument_group(
        "signing", "write SESSION/report.signed.pdf: the report, its records attached, signed "
        "by the laboratory (passphrase from $VENTBENCH_KEY_PASSPHRASE or a prompt)")
    sign.add_argument("--sign-key", type=Path, default=None, metavar="KEY.pem",
                      help="the laboratory's private key (PEM; with --sign-cert)")
    sign.add_argument("--sign-cert", type=Path, default=None, metavar="CERT.pem",
                      help="its certificate (PEM or DER)")
    sign.add_argument("--sign-p12", type=Path, default=None, metavar="FILE",
                      help="key and certificate in one PKCS#12 file (instead of the two above)")
    sign.add_argument("--signed-out", type=Path, default=None, metavar="PDF",
                      help="where to write the signed copy (default SESSION/report.signed.pdf)")


def _signer(args: argparse.Namespace):
    """The signer the options name (checked before rendering), or None."""
    if args.sign_p12 is not None and (args.sign_key or args.sign_cert):
        raise ConfigError("--sign-p12 replaces --sign-key and --sign-cert: give one or the other")
    if args.sign_p12 is None and bool(args.sign_key) != bool(args.sign_cert):
        raise ConfigError("--sign-key and --sign-cert go together")
    if args.sign_p12 is None and args.sign_key is None:
        if args.signed_out is not None:
            raise ConfigError("--signed-out needs --sign-key/--sign-cert or --sign-p12")
        return None
    from ventbench.bench.signing import load_signer

    return load_signer(key=args.sign_key, cert=args.sign_cert, p12=args.sign_p12)


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.report import render

    signer = _signer(args)
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
    if signer is not None:
        from ventbench.bench.signing import sign_session_report

        signed = sign_session_report(args.session, signer, pdf=path, out=args.signed_out)
        print(f"signed report: {signed} (report.pdf with results.json, stop.json and "
              f"manifest.json attached, signed; check with `ventbench verify {signed} "
              "--trust CERT.pem`)")
    return EXIT_PASS
