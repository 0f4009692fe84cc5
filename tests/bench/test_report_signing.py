"""Signed reports (docs/signing.md): a real demo session signed with real keys, verified
alone in another folder by real pyHanko validation, then tampered with in every way a
reviewer must be told about — each named, with the verify contract's exit code."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("pyhanko")

from ventbench.bench import signing  # noqa: E402

ATTACHED = ("results.json", "stop.json", "manifest.json")


def ventbench(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "VENTBENCH_KEY_PASSPHRASE"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "ventbench", *args], text=True, cwd=cwd,
                          capture_output=True, timeout=300, env=full, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """(session, lab A's key folder, lab B's key folder, report.signed.pdf signed by A)."""
    root = tmp_path_factory.mktemp("signing")
    demo = ventbench("demo", "--out", str(root / "sessions"), "--point", "vc-01", "--settle", "2",
                     "--measure", "4", "--no-history")
    (session,) = [p for p in (root / "sessions").iterdir() if p.is_dir()]
    assert (session / "manifest.json").exists(), demo.stdout[-2000:] + demo.stderr[-2000:]
    for lab, name in (("a", "Lab A"), ("b", "Lab B")):
        made = ventbench("keys", "create", "--out", str(root / lab), "--name", name)
        assert made.returncode == 0, made.stderr
    done = ventbench("report", str(session), "--sign-key", str(root / "a" / "lab-key.pem"),
                     "--sign-cert", str(root / "a" / "lab-cert.pem"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (session / "report.signed.pdf").exists()
    return session, root / "a", root / "b", session / "report.signed.pdf"


def verify_alone(pdf_bytes: bytes, folder, *args: str) -> subprocess.CompletedProcess:
    """verify a PDF copied into a folder with nothing else in it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "some.pdf").write_bytes(pdf_bytes)
    return ventbench("verify", "some.pdf", *args, cwd=folder)


def test_signed_copy_is_the_report_plus_attachments_and_the_session_still_verifies(signed):
    session, _, _, pdf = signed
    raw, report = pdf.read_bytes(), (session / "report.pdf").read_bytes()
    assert raw[: len(report)] == report  # the rendered pages, byte for byte, first
    manifest = json.loads((session / "manifest.json").read_text())
    assert "report.signed.pdf" not in manifest["files"]
    import pypdf

    attachments = pypdf.PdfReader(io.BytesIO(raw)).attachments
    assert {name: attachments[name][0] for name in ATTACHED} == {
        name: (session / name).read_bytes() for name in ATTACHED}
    done = ventbench("verify", str(session), "--no-reanalysis")
    assert done.returncode == 0, done.stdout
    assert "not in manifest.json" not in done.stdout
    assert "ok: report.signed.pdf: signature intact (O=Lab A,CN=Lab A" in done.stdout
    assert "note: report.signed.pdf: signed by O=Lab A" in done.stdout  # no --trust: a note


def test_a_stale_signed_copy_in_its_session_is_a_mismatch(signed, tmp_path):
    from ventbench.bench.records import write_manifest

    session = shutil.copytree(signed[0], tmp_path / "session")
    manifest = json.loads((session / "manifest.json").read_text())
    write_manifest(session, manifest["session_id"], "2030-01-01T00:00:00Z")  # the session moved on
    done = ventbench("verify", str(session), "--no-reanalysis")
    assert done.returncode == 1, done.stdout
    assert "MISMATCH: report.signed.pdf: carries manifest sha256" in done.stdout
    assert "signed before the session changed" in done.stdout


def test_verified_alone_with_the_labs_certificate(signed, tmp_path):
    session, lab_a, _, pdf = signed
    shutil.copy(lab_a / "lab-cert.pem", tmp_path / "lab.pem")
    done = verify_alone(pdf.read_bytes(), tmp_path, "--trust", "lab.pem")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "session start record not found" not in out
    assert "signature intact" in out and "signer trusted" in out
    assert re.search(r"signed by O=Lab A,CN=Lab A \(certificate sha256 [0-9a-f]{64}\)", out)
    for name in ("results.json", "stop.json"):
        assert f"ok: attached {name} is the one manifest.json records" in out
    assert "the pages are the session's report.pdf" in out
    assert "results hash printed in the report is the attached results.json's" in out
    assert "stop.json verdict, point verdicts and exit status agree" in out
    assert "attached results.json: verdict FAIL re-derived from its point, alarm and inspection verdicts" in out
    from ventbench.bench.records import sha256_file

    assert f"manifest sha256: {sha256_file(session / 'manifest.json')}" in out
    assert "verify: OK" in out


def test_self_signed_without_trust_is_said_plainly(signed, tmp_path):
    done = verify_alone(signed[3].read_bytes(), tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "NOT CHECKED: signer not trusted: O=Lab A,CN=Lab A (self-signed)" in done.stdout
    assert "--trust" in done.stdout and "Traceback" not in done.stdout + done.stderr


def _page_stream_offset(raw: bytes) -> int:
    """An offset inside the first page's content stream."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    page = PdfFileReader(io.BytesIO(raw), strict=False).root["/Pages"]["/Kids"][0].get_object()
    number = page.raw_get("/Contents").idnum
    obj = re.search(rb"(?<![0-9])%d 0 obj" % number, raw)
    return raw.index(b"stream", obj.end()) + 40


def test_a_byte_flipped_in_a_page_is_tampering(signed, tmp_path):
    _, lab_a, _, pdf = signed
    raw = bytearray(pdf.read_bytes())
    raw[_page_stream_offset(bytes(raw))] ^= 0x01
    done = verify_alone(bytes(raw), tmp_path, "--trust", str(lab_a / "lab-cert.pem"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISMATCH: tampered: the signed bytes changed after signing" in done.stdout


def _update(raw: bytes, change) -> bytes:
    """An incremental update appended by pyHanko after the signature."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(raw), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_attachment_changed_in_an_appended_update_is_detected(signed, tmp_path):
    _, lab_a, _, pdf = signed
    from pyhanko.pdf_utils import embed, generic

    def forge(writer):
        names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
        spec = names[list(names).index("results.json") + 1]
        results = json.loads(spec["/EF"]["/F"].data)
        results["verdict"] = "PASS" if results["verdict"] != "PASS" else "FAIL"
        stream = embed.EmbeddedFileObject.from_file_data(writer, json.dumps(results).encode())
        spec["/EF"] = generic.DictionaryObject({generic.pdf_name("/F"): writer.add_object(stream)})
        writer.update_container(spec)

    done = verify_alone(_update(pdf.read_bytes(), forge), tmp_path,
                        "--trust", str(lab_a / "lab-cert.pem"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISMATCH: modified after signing" in done.stdout
    assert "MISMATCH: attached results.json: sha256" in done.stdout


def test_attachments_stripped_are_detected(signed, tmp_path):
    session, lab_a, _, pdf = signed
    trust = ("--trust", str(lab_a / "lab-cert.pem"))

    def strip(writer):
        del writer.root["/Names"]
        writer.update_root()

    done = verify_alone(_update(pdf.read_bytes(), strip), tmp_path / "appended", *trust)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISMATCH: modified after signing" in done.stdout
    assert "attachment(s) missing: results.json, stop.json, manifest.json" in done.stdout
    # signed without them in the first place: the signature is fine, the records are not there
    bare = signing.sign((session / "report.pdf").read_bytes(),
                        signing.load_signer(key=lab_a / "lab-key.pem", cert=lab_a / "lab-cert.pem"))
    done = verify_alone(bare, tmp_path / "bare", *trust)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "signature intact" in done.stdout and "attachment(s) missing" in done.stdout


def test_signed_by_another_key_than_trust(signed, tmp_path):
    session, lab_a, lab_b, _ = signed
    other = tmp_path / "other.pdf"
    done = ventbench("report", str(session), "--sign-key", str(lab_b / "lab-key.pem"),
                     "--sign-cert", str(lab_b / "lab-cert.pem"), "--signed-out", str(other))
    assert done.returncode == 0, done.stderr
    done = verify_alone(other.read_bytes(), tmp_path / "v", "--trust", str(lab_a / "lab-cert.pem"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISMATCH: signed by another key than --trust: signer O=Lab B,CN=Lab B" in done.stdout
    assert "trusted: O=Lab A,CN=Lab A" in done.stdout
    # re-signed on top of lab A's signature: A's no longer covers the file, B is not trusted
    done = verify_alone(signing.sign(signed[3].read_bytes(), signing.load_signer(
        key=lab_b / "lab-key.pem", cert=lab_b / "lab-cert.pem")), tmp_path / "w",
        "--trust", str(lab_a / "lab-cert.pem"))
    assert done.returncode == 1
    assert "modified after signing" in done.stdout and "signed by another key" in done.stdout


def test_unsigned_pdfs_and_non_pdfs(signed, tmp_path):
    session, _, _, _ = signed
    report = (session / "report.pdf").read_bytes()
    files = {name: (session / name).read_bytes() for name in ATTACHED}
    done = verify_alone(signing.attach(report, files), tmp_path / "attached")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "NOT CHECKED: some.pdf: not signed" in done.stdout
    assert "ok: attached results.json is the one manifest.json records" in done.stdout
    forged = dict(files, **{"results.json": files["results.json"].replace(b"FAIL", b"PASS")})
    done = verify_alone(signing.attach(report, forged), tmp_path / "forged")
    assert done.returncode == 1 and "MISMATCH: attached results.json" in done.stdout
    done = verify_alone(report, tmp_path / "plain")  # report.pdf taken out of its session
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not signed" in done.stdout and "carries no attached records" in done.stdout
    done = verify_alone(b"%PDF-1.4\n" + b"\x00garbage" * 20, tmp_path / "damaged")
    assert done.returncode == 1 and "damaged or altered" in done.stdout, done.stdout
    (tmp_path / "notes.pdf").write_text("meeting notes\n")
    done = ventbench("verify", str(tmp_path / "notes.pdf"))
    assert done.returncode == 3 and "notes.pdf: not a PDF" in done.stderr
    for out in (done.stdout, done.stderr):
        assert "Traceback" not in out


def test_pkcs12_with_the_password_from_the_environment(signed, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    session, lab_a, _, _ = signed
    key = serialization.load_pem_private_key((lab_a / "lab-key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((lab_a / "lab-cert.pem").read_bytes())
    (tmp_path / "lab.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"lab", key, cert, None, serialization.BestAvailableEncryption(b"s3cret")))
    argv = ("report", str(session), "--sign-p12", str(tmp_path / "lab.p12"),
            "--signed-out", str(tmp_path / "p12.pdf"))
    done = ventbench(*argv, env={"VENTBENCH_KEY_PASSPHRASE": "wrong"})
    assert done.returncode == 3 and "lab.p12: cannot open the PKCS#12 file" in done.stderr
    done = ventbench(*argv)  # no variable, no terminal to ask on
    assert done.returncode == 3 and "VENTBENCH_KEY_PASSPHRASE" in done.stderr
    done = ventbench(*argv, env={"VENTBENCH_KEY_PASSPHRASE": "s3cret"})
    assert done.returncode == 0, done.stderr
    done = verify_alone((tmp_path / "p12.pdf").read_bytes(), tmp_path / "v",
                        "--trust", str(lab_a / "lab-cert.pem"))
    assert done.returncode == 0, done.stdout


def test_signing_refuses_a_report_the_manifest_does_not_record(signed, tmp_path):
    session, lab_a, lab_b, _ = signed
    key = ("--sign-key", str(lab_a / "lab-key.pem"), "--sign-cert", str(lab_a / "lab-cert.pem"))
    done = ventbench("report", str(session), "--lang", "id", "--out", str(tmp_path / "id.pdf"),
                     "--signed-out", str(tmp_path / "id.signed.pdf"), *key)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "is not the report.pdf that manifest.json records" in done.stderr
    assert not (tmp_path / "id.signed.pdf").exists()
    done = ventbench("report", str(session), "--sign-key", str(lab_a / "lab-key.pem"),
                     "--sign-cert", str(lab_b / "lab-cert.pem"), "--signed-out",
                     str(tmp_path / "x.pdf"))
    assert done.returncode == 3 and "the private key is not the certificate's" in done.stderr
    done = ventbench("report", str(session), "--sign-key", str(lab_a / "lab-key.pem"))
    assert done.returncode == 3 and "--sign-key and --sign-cert go together" in done.stderr


def test_the_results_verdict_is_re_derived_from_points_and_alarms(signed):
    from ventbench.bench.signed_report import rederived_verdict

    results = json.loads((signed[0] / "results.json").read_text())
    assert rederived_verdict(results) == results["verdict"]
    passing = {"points": [{"verdict": "PASS"}, {"verdict": "INFO"}], "verdict": "PASS"}
    assert rederived_verdict(passing) == "PASS"
    assert rederived_verdict(dict(passing, alarms=[{"verdict": "FAIL"}])) == "FAIL"
    assert rederived_verdict(dict(passing, alarms=[{"verdict": "INCONCLUSIVE"}])) == "INCONCLUSIVE"
    assert rederived_verdict({"points": [{"verdict": "PASS"}, {"verdict": "NOT TESTED"}]}) == \
        "INCONCLUSIVE"
    assert rederived_verdict({"reliability": {}, "points": [], "verdict": "PASS"}) is None


@pytest.mark.parametrize("inspection, alarm, expected", [
    (None, None, "PASS"),
    ("FAIL", None, "FAIL"),
    ("INCONCLUSIVE", None, "INCONCLUSIVE"),
    ("PASS", "INCONCLUSIVE", "INCONCLUSIVE"),
    ("INCONCLUSIVE", "FAIL", "FAIL"),
])
def test_rederived_verdict_folds_alarms_and_the_inspection_as_the_runner_does(inspection, alarm, expected):
    from ventbench.bench.signed_report import rederived_verdict

    results = {"points": [{"verdict": "PASS"}, {"verdict": "PASS"}]}
    if alarm:
        results["alarms"] = [{"verdict": alarm}]
    if inspection:
        results["inspection"] = {"verdict": inspection}
    assert rederived_verdict(results) == expected
