"""``ventbench demo`` signs its report with a key it created for itself (docs/signing.md).

The first demo of a user creates :func:`demo_key_dir` — ``$VENTBENCH_DEMO_KEY`` or
``${XDG_CONFIG_HOME:-~/.config}/ventbench/demo-key`` (``lab-key.pem`` mode 0600,
``lab-cert.pem`` self-signed, common name :data:`DEMO_KEY_NAME`) — with
:func:`bench.keys.create_keys`, in a temporary folder renamed into place, so that demos
started together agree on one key; later demos reuse it. It is kept out of the sessions
root, which holds only sessions. The key is loaded before the
session starts, so that ``start.json`` records the certificate's fingerprint as
``report_signature`` and the report's cover says, before anyone signs anything, that the
signed copy will carry a demo key: it shows that the file is unchanged since the demo
signed it, not who issued it. After the session, :func:`sign_demo_report` writes
``report.signed.pdf`` through the same code as ``report --sign-key`` and
:data:`bench.keys.PASSPHRASE_ENV` unlocks the key as it does there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ventbench.bench.keys import CERT_FILE, KEY_FILE, create_keys, fingerprint, load_certificate
from ventbench.errors import BenchError, ConfigError

#: Overrides the folder of the demo's key.
DEMO_KEY_ENV = "VENTBENCH_DEMO_KEY"
#: The demo certificate's subject: says on every signature panel what the key is.
DEMO_KEY_NAME = "ventbench demo key (not a laboratory's)"


@dataclass(frozen=True)
class DemoSigner:
    """The demo's signer, its certificate file and the ``report_signature`` start record."""

    signer: Any
    cert: Path
    record: dict[str, Any]


def demo_key_dir() -> Path:
    """``$VENTBENCH_DEMO_KEY``, else ``${XDG_CONFIG_HOME:-~/.config}/ventbench/demo-key``."""
    if os.environ.get(DEMO_KEY_ENV):
        return Path(os.environ[DEMO_KEY_ENV])
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "ventbench" / "demo-key"


def _create(folder: Path) -> None:
    """The key pair made in a sibling temporary folder and renamed to ``folder``: a demo
    started at the same moment either wins the rename or finds the other's whole pair."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".demo-key-", dir=folder.parent))
    try:
        create_keys(staging / "keys", DEMO_KEY_NAME)
        try:
            os.rename(staging / "keys", folder)
        except OSError:
            if not (folder / CERT_FILE).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def demo_signer(folder: Path | None = None) -> DemoSigner:
    """Load (or, the first time, create) the demo key in ``folder`` (:func:`demo_key_dir`).

    Raises
    ------
    ConfigError
        The folder cannot be written, a key file is missing beside its certificate, or the
        key cannot be unlocked; the message names the file.
    """
    from ventbench.bench.signing import load_signer

    folder = Path(folder) if folder is not None else demo_key_dir()
    key, cert = folder / KEY_FILE, folder / CERT_FILE
    if not folder.exists():
        try:
            _create(folder)
        except OSError as error:
            raise ConfigError(f"{folder}: cannot create the demo's signing key: {error}") from None
    signer = load_signer(key=key, cert=cert)
    certificate = load_certificate(cert)
    record = {"kind": "demo key", "subject": certificate.subject.rfc4514_string(),
              "certificate_sha256": fingerprint(certificate), "certificate": str(cert)}
    return DemoSigner(signer, cert, record)


def sign_demo_report(session: Path, demo: DemoSigner, say: Callable[[str], None]) -> Path | None:
    """Write ``SESSION/report.signed.pdf`` with the demo key, saying what was written.

    A session without a rendered report is said and skipped; a signing error is said and
    returns None — the session's own files and exit code stay as they are.
    """
    from ventbench.bench.signing import sign_session_report

    session = Path(session)
    if not (session / "report.pdf").exists():
        say("signed report: not written (no report.pdf)")
        return None
    try:
        signed = sign_session_report(session, demo.signer)
    except BenchError as error:
        say(f"signed report: not written: {error}")
        return None
    say(f"signed report: {signed} (demo key; check with `ventbench verify {signed} "
        f"--trust {demo.cert}`)")
    return signed
