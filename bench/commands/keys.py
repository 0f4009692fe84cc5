"""``ventbench keys create --out DIR [--name "Lab"] [--days N] [--algorithm ec|rsa]`` and
``ventbench keys show FILE``: the laboratory's signing key and self-signed certificate.

``create`` writes ``DIR/lab-key.pem`` (mode 0600; encrypted when the environment variable
``VENTBENCH_KEY_PASSPHRASE`` is set — a passphrase is never an option) and
``DIR/lab-cert.pem``, for laboratories without a PKI; ``report --sign-key/--sign-cert``
signs with them and reviewers verify with ``verify REPORT.pdf --trust lab-cert.pem``
(docs/signing.md). ``show`` prints a certificate's subject, issuer, SHA-256 fingerprint and
validity. Exit codes: 0 done, 3 a bad option or file (named), 4 a file that cannot be
written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ventbench.exit_codes import EXIT_PASS

HELP = "create the laboratory's signing key and self-signed certificate, or show one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                parser_class=type(parser))
    create = sub.add_parser("create", help="a private key and a self-signed certificate")
    create.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder for lab-key.pem and lab-cert.pem (never overwritten)")
    create.add_argument("--name", default="ventbench laboratory",
                        help="the laboratory's name in the certificate")
    create.add_argument("--days", type=int, default=1825,
                        help="validity of the certificate, days (default 1825)")
    create.add_argument("--algorithm", choices=("ec", "rsa"), default="ec",
                        help="EC P-256 (default) or RSA 3072")
    show = sub.add_parser("show", help="subject, fingerprint and validity of a certificate")
    show.add_argument("file", type=Path, metavar="FILE", help="a certificate (PEM or DER)")


def run(args: argparse.Namespace) -> int:
    from ventbench.bench import keys

    if args.action == "show":
        for line in keys.describe(args.file):
            print(line)
        return EXIT_PASS
    made = keys.create_keys(args.out, args.name, args.days, args.algorithm)
    print(f"private key: {made.key} (mode 0600, "
          + ("encrypted with the passphrase in $" + keys.PASSPHRASE_ENV if made.encrypted
             else "NOT encrypted: set $" + keys.PASSPHRASE_ENV + " to encrypt it") + ")")
    print(f"certificate: {made.cert} (self-signed; give it to reviewers for "
          "`ventbench verify REPORT.pdf --trust CERT`)")
    for line in keys.describe(made.cert)[1:]:
        print(f"  {line}")
    return EXIT_PASS
