"""A session's report signed by the laboratory: ``report.signed.pdf`` (docs/signing.md).

The signed copy is the session's ``report.pdf`` **byte for byte**, followed by two
incremental updates (pyHanko):

1. the attachments — ``results.json``, ``stop.json`` and ``manifest.json`` as PDF embedded
   files (a PDF reader lists them under "Attachments");
2. a PAdES baseline B-B signature (``ETSI.CAdES.detached``, SHA-256) whose byte range is
   the whole file: pages, attachments and all.

``report.pdf`` itself is never changed: its SHA-256 is in ``stop.json`` and
``manifest.json``, so a signed ``report.pdf`` would disagree with the very records it must
vouch for. The attached manifest names ``report.pdf`` with its hash *and size*, so
``ventbench verify`` recovers the original pages from the signed copy alone (its first
``bytes`` bytes) and checks them against the manifest. The signed copy is not in the
manifest (it embeds the manifest); its signature covers it (:data:`SIGNED_FILE` is one of
the files no hash list names, :data:`bench.records.UNHASHED`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from ventbench.bench.keys import load_certificate, passphrase, read_bytes
from ventbench.bench.records import MANIFEST_FILE, SIGNED_REPORT_FILE, read_json, sha256_file
from ventbench.errors import ConfigError

#: The signed copy, next to ``report.pdf``.
SIGNED_FILE = SIGNED_REPORT_FILE
REPORT_NAME = "report.pdf"
#: Attached in this order (each as it is on disk).
ATTACHED = ("results.json", "stop.json", MANIFEST_FILE)
FIELD_NAME = "ventbench-laboratory"


def load_signer(*, key: Path | None = None, cert: Path | None = None, p12: Path | None = None):
    """The laboratory's signer: a PEM key + certificate, or a PKCS#12 file.

    The key's passphrase (or the PKCS#12 password) comes from
    :data:`bench.keys.PASSPHRASE_ENV`, or is asked for on a terminal when the file is
    encrypted.

    Returns
    -------
    pyhanko.sign.signers.SimpleSigner

    Raises
    ------
    ConfigError
        Missing or unreadable files, a wrong passphrase, a key that is not the
        certificate's (each naming the file).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    if p12 is not None:
        raw = read_bytes(p12, "PKCS#12 file")
        try:
            private, certificate, extra = pkcs12.load_key_and_certificates(raw, passphrase(str(p12)))
        except (TypeError, ValueError):
            secret = passphrase(str(p12), required=True)
            try:
                private, certificate, extra = pkcs12.load_key_and_certificates(raw, secret)
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{p12}: cannot open the PKCS#12 file (wrong password, or not "
                                  f"PKCS#12): {error}") from None
        if private is None or certificate is None:
            raise ConfigError(f"{p12}: the PKCS#12 file holds no private key and certificate")
        chain = list(extra or [])
        source = p12
    else:
        if key is None or cert is None:
            raise ConfigError("signing needs --sign-key KEY.pem and --sign-cert CERT.pem, "
                              "or --sign-p12 FILE")
        raw = read_bytes(key, "private key")
        certificate, chain, source = load_certificate(cert), [], key
        secret = passphrase(str(key), required=True) if b"ENCRYPTED" in raw else None
        try:
            private = serialization.load_pem_private_key(raw, secret)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{key}: cannot open the private key (not a PEM private key, or "
                              f"a wrong passphrase): {error}") from None
    der = serialization.Encoding.DER
    if (private.public_key().public_bytes(der, serialization.PublicFormat.SubjectPublicKeyInfo)
            != certificate.public_key().public_bytes(
                der, serialization.PublicFormat.SubjectPublicKeyInfo)):
        raise ConfigError(f"{source}: the private key is not the certificate's "
                          f"({certificate.subject.rfc4514_string()})")
    return _simple_signer(private, certificate, chain)


def _simple_signer(private: Any, certificate: Any, chain: list[Any]):
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    der = serialization.Encoding.DER
    key_info = asn1_keys.PrivateKeyInfo.load(private.private_bytes(
        der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    certs = [asn1_x509.Certificate.load(c.public_bytes(der)) for c in [certificate, *chain]]
    return SimpleSigner(signing_cert=certs[0], signing_key=key_info,
                        cert_registry=SimpleCertificateStore.from_certs(certs))


def attach(pdf: bytes, files: dict[str, bytes]) -> bytes:
    """``pdf`` followed by an incremental update that embeds ``files`` as PDF attachments.

    Parameters
    ----------
    pdf : bytes
        The PDF; its bytes are kept, unchanged, as the result's first revision.
    files : dict of str to bytes
        Attachment name → content (JSON records: MIME type ``application/json``).

    Returns
    -------
    bytes
        The PDF with the attachments (unsigned).
    """
    from pyhanko.pdf_utils import embed
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for name, data in files.items():
        stream = embed.EmbeddedFileObject.from_file_data(writer, data=data,
                                                         mime_type="application/json")
        embed.embed_file(writer, embed.FileSpec(
            file_spec_string=name, file_name=name, embedded_data=stream,
            description=f"ventbench session record {name}"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign(pdf: bytes, signer: Any, *, location: str | None = None) -> bytes:
    """``pdf`` signed (PAdES B-B, SHA-256, incremental: the signature covers every byte).

    Parameters
    ----------
    pdf : bytes
        The PDF to sign (kept, unchanged, before the signature's update). A PDF signed
        already gets a further signature field (``ventbench-laboratory-2`` …).
    signer : pyhanko.sign.signers.Signer
        From :func:`load_signer`.
    location : str, optional
        The signature's location entry.

    Returns
    -------
    bytes
        The signed PDF.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    taken = {s.field_name for s in writer.prev.embedded_signatures}  # a countersignature
    name = next(n for n in (FIELD_NAME, *(f"{FIELD_NAME}-{i}" for i in range(2, 1000)))
                if n not in taken)
    meta = signers.PdfSignatureMetadata(
        field_name=name, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason="ventbench session report: pages, results and manifest", location=location)
    return signers.sign_pdf(writer, meta, signer=signer).getvalue()


def sign_session_report(session: Path, signer: Any, pdf: Path | None = None,
                        out: Path | None = None) -> Path:
    """Write the signed copy of a completed session's report.

    Parameters
    ----------
    session : Path
        A completed session (``manifest.json`` present).
    signer : pyhanko.sign.signers.Signer
        From :func:`load_signer`.
    pdf : Path, optional
        The report to sign (default ``SESSION/report.pdf``); it must be the one the manifest
        records (same SHA-256), or nothing would tie its pages to the session.
    out : Path, optional
        Default ``SESSION/report.signed.pdf``.

    Returns
    -------
    Path
        The signed copy.

    Raises
    ------
    ConfigError
        No manifest, a report the manifest does not record, missing records.
    """
    session = Path(session)
    pdf = Path(pdf) if pdf is not None else session / REPORT_NAME
    out = Path(out) if out is not None else session / SIGNED_FILE
    manifest = read_json(session / MANIFEST_FILE, "session manifest")
    entry = (manifest.get("files") or {}).get(REPORT_NAME)
    if not isinstance(entry, dict):
        raise ConfigError(f"{session / MANIFEST_FILE}: names no {REPORT_NAME}; nothing to sign")
    found = sha256_file(pdf)
    if found != entry.get("sha256"):
        raise ConfigError(f"{pdf}: sha256 {found[:12]}… is not the {REPORT_NAME} that "
                          f"{MANIFEST_FILE} records ({str(entry.get('sha256'))[:12]}…); render "
                          "with the options the session was rendered with (--lang, "
                          "--lab-config) to sign it")
    files = {name: read_bytes(session / name, name) for name in ATTACHED}
    signed = sign(attach(pdf.read_bytes(), files), signer)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(signed)
        os.replace(tmp, out)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{out}: cannot write the signed report: {error}") from None
    return out

