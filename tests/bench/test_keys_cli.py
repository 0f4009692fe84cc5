"""``ventbench keys``: the laboratory's key (0600, encrypted from the environment only) and
self-signed certificate; ``keys show``; bad input named, exit 3."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization


def ventbench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "VENTBENCH_KEY_PASSPHRASE"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "ventbench", *args], text=True,
                          capture_output=True, timeout=60, env=full, stdin=subprocess.DEVNULL)


def test_create_writes_a_private_key_0600_and_a_self_signed_certificate(tmp_path):
    done = ventbench("keys", "create", "--out", str(tmp_path / "k"), "--name", "Bench Lab",
                     "--days", "30")
    assert done.returncode == 0, done.stderr
    key, cert = tmp_path / "k" / "lab-key.pem", tmp_path / "k" / "lab-cert.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "NOT encrypted" in done.stdout
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    assert certificate.subject == certificate.issuer
    assert "Bench Lab" in certificate.subject.rfc4514_string()
    assert certificate.public_key().public_numbers() == private.public_key().public_numbers()
    days = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days
    assert 30 <= days <= 31
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    assert fingerprint in done.stdout

    shown = ventbench("keys", "show", str(cert))
    assert shown.returncode == 0, shown.stderr
    assert f"sha256 fingerprint: {fingerprint}" in shown.stdout
    assert "subject: O=Bench Lab,CN=Bench Lab" in shown.stdout and "(self-signed)" in shown.stdout
    assert "valid: " in shown.stdout and " UTC" in shown.stdout


def test_key_is_encrypted_with_the_passphrase_from_the_environment(tmp_path):
    done = ventbench("keys", "create", "--out", str(tmp_path), "--algorithm", "rsa",
                     env={"VENTBENCH_KEY_PASSPHRASE": "correct horse"})
    assert done.returncode == 0, done.stderr
    raw = (tmp_path / "lab-key.pem").read_bytes()
    assert raw.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = serialization.load_pem_private_key(raw, b"correct horse")
    assert key.key_size == 3072
    assert "encrypted with a passphrase" in ventbench("keys", "show",
                                                      str(tmp_path / "lab-key.pem")).stdout


def test_existing_keys_are_never_overwritten(tmp_path):
    assert ventbench("keys", "create", "--out", str(tmp_path)).returncode == 0
    before = (tmp_path / "lab-key.pem").read_bytes()
    again = ventbench("keys", "create", "--out", str(tmp_path))
    assert again.returncode == 3
    assert "lab-key.pem: already exists" in again.stderr and "Traceback" not in again.stderr
    assert (tmp_path / "lab-key.pem").read_bytes() == before


def test_bad_input_is_named_with_exit_3(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cases = [
        (("keys", "show", str(junk)), "junk.pem: not an X.509 certificate"),
        (("keys", "show", str(tmp_path / "none.pem")), "none.pem: file not found"),
        (("keys", "create", "--out", str(tmp_path / "a"), "--days", "0"), "--days: 0"),
        (("keys", "create", "--out", str(tmp_path / "b"), "--name", " "), "--name"),
        (("keys",), "required"),
    ]
    for argv, said in cases:
        done = ventbench(*argv)
        assert done.returncode == 3, (argv, done.stdout, done.stderr)
        assert said in done.stderr and "Traceback" not in done.stderr, (argv, done.stderr)
