"""The report inside a real session: the runner renders it before stop.json, verify checks
it, and rendering it again later gives the very same bytes (so stop.json stays valid)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest

pypdf = pytest.importorskip("pypdf")


@pytest.mark.slow
def test_demo_session_report_is_rendered_verified_and_reproducible(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ventbench", "demo", "--out", str(tmp_path), "--point", "vc-01", "--point", "vc-06",
         "--settle", "2", "--measure", "4", "--no-history"],
        text=True, capture_output=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]  # vc-06 FAILs (PEEP defect)
    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    report = session / "report.pdf"
    assert report.exists(), proc.stdout[-2000:]
    import json

    stop = json.loads((session / "stop.json").read_text())
    assert stop["report"] == "rendered"
    assert stop["files"]["report.pdf"]["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()

    from ventbench.bench.report import embedded_results_sha256, render

    assert embedded_results_sha256(report) == hashlib.sha256((session / "results.json").read_bytes()).hexdigest()
    again = render(session, out=tmp_path / "again.pdf")  # after stop.json exists: same bytes
    assert again.read_bytes() == report.read_bytes()

    from tests.bench.pdf_text import pdf_pages

    pages = pdf_pages(report)
    assert "✗ FAIL" in pages[0] and "OpenVent-P2" in pages[0]
    # the set-up page lists the register the session was traced to: certificates, labs, dates
    setup = next(p for p in pages if "Instrument register: calibration certificates" in p)
    for entry in json.loads((session / "results.json").read_text())["instruments"]["entries"]:
        assert entry["certificate"] in setup and entry["serial"] in setup and entry["due"] in setup
    page = next(p for p in pages if re.search(r"\d\.2 Point vc-06", p))  # the second point's subsection
    results = json.loads((session / "results.json").read_text())
    reason = next(p for p in results["points"] if p["id"] == "vc-06")["reason"]
    assert " ".join(reason.split()) in page

    verify = subprocess.run([sys.executable, "-m", "ventbench", "verify", str(report), "--no-reanalysis"],
                            text=True, capture_output=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
