"""The laboratory's signing key and certificate (``ventbench keys``, ``report --sign-*``).

A laboratory without a PKI creates an EC P-256 (or RSA 3072) private key and a self-signed
X.509 certificate with :func:`create_keys`; a laboratory with one gives its own key and
certificate (PEM) or a PKCS#12 file. Passphrases never come from the command line: they
are read from the environment variable :data:`PASSPHRASE_ENV`, or asked for on a terminal
(:func:`passphrase`).

Every file problem (missing, not PEM, wrong passphrase) is a :class:`ConfigError` naming
the file, never a traceback. Fingerprints are the SHA-256 of the certificate's DER bytes,
lower-case hex, as every other hash of ventbench is written.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ventbench.errors import ConfigError

# pyHanko (bench/signing.py, bench/signed_report.py, which import this module) imports
# cryptography's DSA key types, deprecated in recent cryptography: a warning on every
# `report --sign-…` and `verify FILE.pdf` that says nothing about ventbench's own keys.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko\.")

#: The environment variable holding the key's passphrase (or the PKCS#12 file's password).
PASSPHRASE_ENV = "VENTBENCH_KEY_PASSPHRASE"
KEY_FILE = "lab-key.pem"
CERT_FILE = "lab-cert.pem"
ALGORITHMS = ("ec", "rsa")


@dataclass(frozen=True)
class KeyFiles:
    """The files :func:`create_keys` wrote."""

    key: Path
    cert: Path
    encrypted: bool


def passphrase(what: str, *, required: bool = False) -> bytes | None:
    """The passphrase from :data:`PASSPHRASE_ENV`, else asked on a terminal.

    Parameters
    ----------
    what : str
        The file it unlocks (named in the prompt and the error).
    required : bool
        Ask (or fail) when the variable is not set; otherwise return None.

    Raises
    ------
    ConfigError
        Required, not in the environment, and no terminal to ask on.
    """
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value.encode("utf-8")
    if not required:
        return None
    if not sys.stdin.isatty():
        raise ConfigError(f"{what}: needs a passphrase; set {PASSPHRASE_ENV} (never on the "
                          "command line) or run on a terminal to be asked")
    return getpass.getpass(f"passphrase for {what}: ").encode("utf-8")


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER bytes, lower-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def create_keys(out: Path, name: str, days: int = 1825, algorithm: str = "ec") -> KeyFiles:
    """Create a private key (mode 0600) and a self-signed certificate in ``out``.

    Parameters
    ----------
    out : Path
        Folder for ``lab-key.pem`` and ``lab-cert.pem`` (created; existing files are never
        overwritten).
    name : str
        The laboratory's name: the certificate's common and organisation name.
    days : int
        Validity of the certificate from now, days (1 to 36500).
    algorithm : {"ec", "rsa"}
        EC P-256 with SHA-256 (default) or RSA 3072.

    Returns
    -------
    KeyFiles
        The paths written; ``encrypted`` is True when :data:`PASSPHRASE_ENV` was set.

    Raises
    ------
    ConfigError
        Bad name, days or algorithm, or a key or certificate already there.
    """
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"--algorithm: {algorithm!r}, expected one of {', '.join(ALGORITHMS)}")
    if not 1 <= int(days) <= 36500:
        raise ConfigError(f"--days: {days}, expected 1 to 36500")
    if not name.strip():
        raise ConfigError("--name: the laboratory's name is empty")
    out = Path(out)
    key_path, cert_path = out / KEY_FILE, out / CERT_FILE
    for path in (key_path, cert_path):
        if path.exists():
            raise ConfigError(f"{path}: already exists; keys are never overwritten (choose "
                              "another --out, or move the old files away)")
    key = (ec.generate_private_key(ec.SECP256R1()) if algorithm == "ec"
           else rsa.generate_private_key(public_exponent=65537, key_size=3072))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name.strip()),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name.strip())])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                          decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=int(days)))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    secret = passphrase(str(key_path))
    encryption = (serialization.BestAvailableEncryption(secret) if secret
                  else serialization.NoEncryption())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                encryption)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    os.chmod(key_path, 0o600)  # whatever the umask
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return KeyFiles(key_path, cert_path, bool(secret))


def load_certificate(path: Path) -> x509.Certificate:
    """A certificate from a PEM or DER file.

    Raises
    ------
    ConfigError
        Missing, unreadable, or not a certificate (the file named).
    """
    raw = read_bytes(path, "certificate")
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as error:
        raise ConfigError(f"{path}: not an X.509 certificate (PEM or DER): {error}") from None


def describe(path: Path) -> list[str]:
    """Lines about a certificate (subject, issuer, SHA-256 fingerprint, validity) or a
    private key (encrypted with a passphrase or not).

    Raises
    ------
    ConfigError
        Neither a certificate nor a private key.
    """
    raw = read_bytes(path, "file")
    if b"PRIVATE KEY-----" in raw:
        encrypted = b"ENCRYPTED" in raw
        return [f"{path}: a private key ({'encrypted with a passphrase' if encrypted else 'NOT encrypted'}, "
                "PEM); keep it secret, mode 0600"]
    cert = load_certificate(path)
    self_signed = cert.issuer == cert.subject
    lines = [f"file: {path}",
             f"subject: {cert.subject.rfc4514_string()}",
             f"issuer: {cert.issuer.rfc4514_string()}" + (" (self-signed)" if self_signed else ""),
             f"sha256 fingerprint: {fingerprint(cert)}",
             f"valid: {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
             f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"]
    if dt.datetime.now(dt.UTC) > cert.not_valid_after_utc:
        lines.append("EXPIRED")
    return lines


def read_bytes(path: Path, what: str) -> bytes:
    """A file's bytes; a missing or unreadable file is a ConfigError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the {what}: {error.strerror or error}") from None
