"""The demo signs its report with a key it made for itself (bench/demo_signing.py): one key
per user however many demos start at once, the cover saying so with the certificate's
fingerprint before anything is signed, and a signed copy that verifies alone only when that
certificate is trusted."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

pytest.importorskip("pyhanko")

from ventbench.bench.demo_signing import DEMO_KEY_NAME, demo_key_dir, demo_signer  # noqa: E402
from ventbench.bench.keys import CERT_FILE, KEY_FILE  # noqa: E402

from tests.bench.pdf_text import pdf_pages  # noqa: E402


def test_the_key_is_made_once_and_demos_started_together_share_it(tmp_path):
    folder = tmp_path / "cfg" / "demo-key"
    found, errors = [], []

    def load():
        try:
            found.append(demo_signer(folder).record["certificate_sha256"])
        except Exception as error:  # noqa: BLE001 - any failure of a racing demo is the bug
            errors.append(error)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(found)) == 1
    assert demo_signer(folder).record["certificate_sha256"] == found[0]
    assert oct((folder / KEY_FILE).stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["demo-key"]  # no staging left
    record = demo_signer(folder).record
    assert record["kind"] == "demo key" and DEMO_KEY_NAME in record["subject"]


def test_the_key_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("VENTBENCH_DEMO_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert demo_key_dir() == tmp_path / "ventbench" / "demo-key"
    monkeypatch.setenv("VENTBENCH_DEMO_KEY", str(tmp_path / "k"))
    assert demo_key_dir() == tmp_path / "k"


def _ventbench(*args, cwd=None, env=None):
    full = {k: v for k, v in os.environ.items() if k != "VENTBENCH_KEY_PASSPHRASE"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "ventbench", *args], text=True, capture_output=True,
                          timeout=300, cwd=cwd, env=full, stdin=subprocess.DEVNULL)


def test_demo_signs_its_report_and_says_so_on_the_cover(tmp_path):
    keys = tmp_path / "keys"
    demo = _ventbench("demo", "--out", str(tmp_path / "s"), "--point", "vc-01", "--settle", "2",
                      "--measure", "4", "--no-history", "--no-alarms", env={"VENTBENCH_DEMO_KEY": str(keys)})
    (session,) = list((tmp_path / "s").iterdir())  # the sessions root holds only the session
    signed = session / "report.signed.pdf"
    assert signed.exists(), demo.stdout[-2000:] + demo.stderr[-2000:]
    assert f"--trust {keys / CERT_FILE}" in demo.stdout
    sha = demo_signer(keys).record["certificate_sha256"]
    cover = " ".join(pdf_pages(session / "report.pdf")[:2])
    assert "Signature (demo key)" in cover and sha in cover
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "r.pdf").write_bytes(signed.read_bytes())
    trusted = _ventbench("verify", "r.pdf", "--trust", str(keys / CERT_FILE), cwd=alone)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert f"certificate sha256 {sha}" in trusted.stdout
    untrusted = _ventbench("verify", "r.pdf", cwd=alone)
    assert untrusted.returncode == 2, untrusted.stdout  # a demo key vouches for no one
    again = _ventbench("demo", "--out", str(tmp_path / "n"), "--point", "vc-01", "--settle", "2",
                       "--measure", "4", "--no-history", "--no-alarms", "--no-sign",
                       env={"VENTBENCH_DEMO_KEY": str(keys)})
    (plain,) = list((tmp_path / "n").iterdir())
    assert (plain / "report.pdf").exists() and not (plain / "report.signed.pdf").exists(), again.stdout
    assert "Signature (demo key)" not in " ".join(pdf_pages(plain / "report.pdf")[:2])
