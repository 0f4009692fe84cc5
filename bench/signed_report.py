"""A report PDF checked alone, without its session folder (``ventbench verify FILE.pdf``).

What the PDF itself can prove (docs/signing.md):

1. **the signature** (pyHanko validation): the signed digest matches the bytes (nothing
   changed after signing), the signature covers the whole file (no update appended), who
   signed (subject, certificate SHA-256) and whether that certificate is trusted — it is
   when it is, or chains to, a certificate given with ``--trust``;
2. **the attachments** (``results.json``, ``stop.json``, ``manifest.json``): each one's
   SHA-256 is the one the attached manifest records;
3. **the pages**: the file's first ``bytes`` bytes (the report as rendered) have the
   SHA-256 the manifest records for ``report.pdf``, and the results hash printed in them
   is the attached results' hash;
4. **the records agree** (:func:`bench.integrity.stop_agrees`): the stop record's verdicts,
   results hash and exit status against the attached results, and the results' overall
   verdict re-derived from its point, alarm and inspection verdicts (:func:`rederived_verdict`).

Each problem is a :class:`~bench.integrity.Findings` line: a *mismatch* (tampered, another
signer than ``--trust``, attachments stripped: exit 1) or *unchecked* (not signed, signer
not trusted: exit 2). A file that is not a PDF is a usage error (exit 3).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.bench.integrity import RESULTS_FILE, STOP_FILE, Findings, stop_agrees
from ventbench.bench.keys import fingerprint, load_certificate
from ventbench.bench.records import MANIFEST_FILE, MANIFEST_SCHEMA
from ventbench.errors import ConfigError

ATTACHED = (RESULTS_FILE, STOP_FILE, MANIFEST_FILE)
REPORT_NAME = "report.pdf"


@dataclass
class PdfCheck:
    """What :func:`verify_pdf` found."""

    findings: Findings = field(default_factory=Findings)
    signed: bool = False
    attached: dict[str, bytes] = field(default_factory=dict)
    signer: str | None = None  #: "subject (sha256 …)"
    #: Why the signer is not trusted (also one of ``findings.unchecked``), or None.
    trust_problem: str | None = None


@contextmanager
def _quiet_pyhanko() -> Iterator[None]:
    """pyHanko logs every untrusted chain with a traceback; what matters is in the status."""
    loggers = [logging.getLogger(n) for n in ("pyhanko", "pyhanko_certvalidator")]
    saved = [(lg.propagate, lg.handlers[:]) for lg in loggers]
    for lg in loggers:
        lg.propagate, lg.handlers = False, [logging.NullHandler()]
    try:
        yield
    finally:
        for lg, (propagate, handlers) in zip(loggers, saved, strict=True):
            lg.propagate, lg.handlers = propagate, handlers


def verify_pdf(path: Path, trust: Sequence[Path] = ()) -> PdfCheck:
    """Check a report PDF on its own: signature, signer, attachments, pages, records.

    Parameters
    ----------
    path : Path
        The PDF.
    trust : sequence of Path
        Certificates (PEM or DER) trusted as signers or their issuers (``--trust``).

    Returns
    -------
    PdfCheck
        Findings (matched, mismatches, unchecked, notes), whether it is signed, the
        attachments found and the signer.

    Raises
    ------
    ConfigError
        Not a PDF, or a ``--trust`` file that is not a certificate.
    OSError
        The PDF cannot be read.
    """
    raw = Path(path).read_bytes()
    if b"%PDF-" not in raw[:1024]:
        raise ConfigError(f"{path}: not a PDF (no %PDF- header)")
    roots = [load_certificate(p) for p in trust]
    from pyhanko.pdf_utils.reader import PdfFileReader

    check = PdfCheck()
    found = check.findings
    name = Path(path).name
    try:
        reader = PdfFileReader(io.BytesIO(raw), strict=False)
        signatures = reader.embedded_signatures
    except Exception as error:  # noqa: BLE001 - any parse failure is a damaged file
        found.mismatches.append(f"{name}: damaged or altered: cannot be read as a PDF "
                                f"({type(error).__name__}: {error})")
        return check
    with _quiet_pyhanko():
        if not signatures:
            found.unchecked.append(f"{name}: not signed: nothing vouches for who made it or "
                                   "that it is unchanged")
        for signature in signatures:
            check.signed = True
            _signature(signature, roots, check)
    try:
        check.attached = _attachments(reader)
    except Exception as error:  # noqa: BLE001 - a damaged attachment is a finding
        found.mismatches.append(f"{name}: the attachments cannot be read ({error})")
        return check
    _records(raw, check, name)
    return check


def _signature(signature: Any, roots: list[Any], check: PdfCheck) -> None:
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    found = check.findings
    der = serialization.Encoding.DER
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(c.public_bytes(der))
                                             for c in roots], allow_fetching=False)
    try:
        status = validate_pdf_signature(signature, context)
    except Exception as error:  # noqa: BLE001 - a malformed signature is a finding
        found.mismatches.append(f"signature {signature.field_name}: cannot be validated, "
                                f"damaged or altered ({type(error).__name__}: {error})")
        return
    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    subject, print_ = cert.subject.rfc4514_string(), fingerprint(cert)
    check.signer = f"{subject} (certificate sha256 {print_})"
    when = status.signer_reported_dt
    found.notes.append(f"signed by {check.signer}"
                       + (f" at {when:%Y-%m-%d %H:%M:%S %Z} (the signer's clock)" if when else ""))
    if not status.intact:
        found.mismatches.append("tampered: the signed bytes changed after signing (their "
                                "SHA-256 digest is not the one signed)")
    elif not status.valid:
        found.mismatches.append("the signature value does not verify with the signer's "
                                "certificate (forged or damaged)")
    elif status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        level = getattr(status.modification_level, "name", status.modification_level)
        found.mismatches.append("modified after signing: an update was appended after the "
                                f"signature (pyHanko modification level {level}); the signed "
                                "revision is not what a reader shows")
    else:
        found.matched.append("signature intact: every byte of the file is the one signed "
                             "(PAdES, digest " + str(status.md_algorithm) + ")")
    trusted = {fingerprint(c) for c in roots}
    if status.trusted:
        found.matched.append(f"signer trusted: the certificate is, or chains to, a --trust "
                             f"certificate ({subject})")
    elif roots and print_ not in trusted and cert.issuer not in {c.subject for c in roots}:
        found.mismatches.append(f"signed by another key than --trust: signer {subject} "
                                f"(sha256 {print_}); trusted: "
                                + ", ".join(f"{c.subject.rfc4514_string()} (sha256 "
                                            f"{fingerprint(c)})" for c in roots))
    else:
        why = getattr(status.trust_problem_indic, "name", status.trust_problem_indic)
        self_signed = " (self-signed)" if cert.issuer == cert.subject else ""
        hint = ("; give the laboratory's certificate with --trust CERT.pem" if not roots
                else f" ({why})")
        check.trust_problem = f"signer not trusted: {subject}{self_signed}{hint}"
        found.unchecked.append(check.trust_problem)


def _attachments(reader: Any) -> dict[str, bytes]:
    """name → bytes of the document's embedded files (the latest revision's name tree)."""
    root = reader.root
    names = root["/Names"] if "/Names" in root else None
    tree = names["/EmbeddedFiles"] if names is not None and "/EmbeddedFiles" in names else None
    out: dict[str, bytes] = {}
    stack = [tree] if tree is not None else []
    while stack:
        node = stack.pop()
        if "/Kids" in node:
            stack.extend(kid.get_object() for kid in node["/Kids"])
        pairs = list(node["/Names"]) if "/Names" in node else []
        for key, spec in zip(pairs[::2], pairs[1::2], strict=True):
            out[str(key)] = spec.get_object()["/EF"]["/F"].data
    return out


def _records(raw: bytes, check: PdfCheck, name: str) -> None:
    """The attachments against each other and against the pages."""
    found, files = check.findings, check.attached
    missing = [n for n in ATTACHED if n not in files]
    if len(missing) == len(ATTACHED) and not check.signed:
        found.unchecked.append(f"{name}: carries no attached records, so its pages cannot be "
                               "checked against the data here (verify it in its session folder)")
        return
    if missing:
        found.mismatches.append(f"{name}: attachment(s) missing: {', '.join(missing)} "
                                "(stripped, or not a signed ventbench report)")
    if MANIFEST_FILE not in files:
        return
    manifest = _json(files[MANIFEST_FILE], MANIFEST_FILE, found)
    if manifest is None:
        return
    if manifest.get("schema") != MANIFEST_SCHEMA:
        found.mismatches.append(f"attached {MANIFEST_FILE}: schema {manifest.get('schema')!r}, "
                                f"expected {MANIFEST_SCHEMA!r}")
        return
    found.manifest_sha256 = hashlib.sha256(files[MANIFEST_FILE]).hexdigest()
    recorded = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    for attached in (n for n in ATTACHED if n != MANIFEST_FILE and n in files):
        expected = (recorded.get(attached) or {}).get("sha256")
        actual = hashlib.sha256(files[attached]).hexdigest()
        if actual == expected:
            found.matched.append(f"attached {attached} is the one {MANIFEST_FILE} records")
        else:
            found.mismatches.append(f"attached {attached}: sha256 {actual[:12]}… but "
                                    f"{MANIFEST_FILE} records {str(expected)[:12]}…")
    _pages(raw, recorded.get(REPORT_NAME), files.get(RESULTS_FILE), found)
    if RESULTS_FILE in files and STOP_FILE in files:
        results = _json(files[RESULTS_FILE], RESULTS_FILE, found)
        stop = _json(files[STOP_FILE], STOP_FILE, found)
        if results is not None and stop is not None:
            with tempfile.TemporaryDirectory() as tmp:  # stop_agrees hashes SESSION/results.json
                (Path(tmp) / RESULTS_FILE).write_bytes(files[RESULTS_FILE])
                agree = stop_agrees(stop, results, Path(tmp))
            found.extend(agree)
            _verdict_rederived(results, found)


def _pages(raw: bytes, entry: Any, results: bytes | None, found: Findings) -> None:
    """The first revision (the rendered report) against the manifest and the results."""
    from ventbench.bench.report.pdf import results_sha256_in

    if not isinstance(entry, dict) or not isinstance(entry.get("bytes"), int):
        found.mismatches.append(f"attached {MANIFEST_FILE} names no {REPORT_NAME} (hash and "
                                "size): the pages are tied to nothing")
        return
    pages = raw[: entry["bytes"]]
    if hashlib.sha256(pages).hexdigest() != entry.get("sha256"):
        found.mismatches.append(f"the pages (the file's first {entry['bytes']} bytes) are not "
                                f"the {REPORT_NAME} that {MANIFEST_FILE} records")
        return
    found.matched.append(f"the pages are the session's {REPORT_NAME} "
                         f"(sha256 {entry['sha256'][:12]}…, as {MANIFEST_FILE} records)")
    if results is None:
        return
    printed, actual = results_sha256_in(pages), hashlib.sha256(results).hexdigest()
    if printed == actual:
        found.matched.append(f"the results hash printed in the report is the attached "
                             f"{RESULTS_FILE}'s")
    else:
        found.mismatches.append(f"the report prints results sha256 {str(printed)[:12]}…, the "
                                f"attached {RESULTS_FILE} has {actual[:12]}…")


def rederived_verdict(results: dict[str, Any]) -> str | None:
    """A protocol session's overall verdict from its points', alarm tests' and inspection's
    verdicts (the runner's rule: :func:`analysis.results.overall_verdict` of the points, then
    any alarm FAIL → FAIL, any alarm INCONCLUSIVE turns a PASS INCONCLUSIVE, then the
    inspection as :func:`bench.inspection.fold_inspection` folds it); None when the document
    is not one to re-derive (a reliability run, no points, a point without a verdict)."""
    points = results.get("points")
    if "reliability" in results or not isinstance(points, list) or not points:
        return None
    words = [p.get("verdict") if isinstance(p, dict) else None for p in points]
    if not all(isinstance(w, str) for w in words):
        return None
    from ventbench.analysis.results import overall_verdict
    from ventbench.bench.inspection import fold_inspection

    verdict = overall_verdict(words)
    alarms = {a.get("verdict") for a in results.get("alarms") or [] if isinstance(a, dict)}
    if "FAIL" in alarms:
        verdict = "FAIL"
    elif "INCONCLUSIVE" in alarms and verdict == "PASS":
        verdict = "INCONCLUSIVE"
    block = results.get("inspection")
    if isinstance(block, dict) and block.get("verdict") in ("PASS", "FAIL", "INCONCLUSIVE"):
        verdict = fold_inspection({"verdict": verdict}, block)["verdict"]
    return verdict


def _verdict_rederived(results: dict[str, Any], found: Findings) -> None:
    derived = rederived_verdict(results)
    if derived is None:
        return
    if derived == results.get("verdict"):
        found.matched.append(f"attached {RESULTS_FILE}: verdict {derived} re-derived from its "
                             "point, alarm and inspection verdicts")
    else:
        found.mismatches.append(f"attached {RESULTS_FILE}: verdict {results.get('verdict')!r}, "
                                f"its point, alarm and inspection verdicts give {derived!r}")


def _json(data: bytes, what: str, found: Findings) -> dict[str, Any] | None:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        found.mismatches.append(f"attached {what}: not valid JSON ({error})")
        return None
    if not isinstance(document, dict):
        found.mismatches.append(f"attached {what}: not a JSON object")
        return None
    return document
