"""Identity and scope of the report (issue 14): report number, issue date and page n of N on
every page, the laboratory and signatories from --lab-config, the ISO/IEC 17025 statements,
the scope of a partial run, and the SIMULATION watermark of a session on a simulated port."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

from ventbench.bench.report import render
from ventbench.bench.report.lab_config import load_lab_config
from ventbench.errors import ConfigError

from tests.bench.report_fixtures import build_session

LAB = """[laboratory]
name = "Ventilator Test Laboratory, Bench 2"
address = "Jl. Ganesa 10, Bandung 40132, Indonesia"
accreditation = "KAN LP-1234-IDN"
report_prefix = "VTL"

[signatories]
tested_by = "A. Tester"
checked_by = "B. Checker"
approved_by = "C. Approver"
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    root = build_session(tmp_path_factory.mktemp("id"), ids=("vc-01",))
    start = json.loads((root / "start.json").read_text())
    start["argv"] = ["/usr/bin/ventbench", "run", "iso80601-2-12-vc", "--port", "sim://rig", "--point", "vc-01"]
    (root / "start.json").write_text(json.dumps(start))
    return root


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lab") / "lab.toml"
    path.write_text(LAB)
    return path


def _pages(pdf: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(pdf).pages]


def test_every_page_has_report_number_issue_date_page_n_of_n_and_the_watermark(session, lab, tmp_path):
    pages = _pages(render(session, out=tmp_path / "r.pdf", lab_config=lab))
    number = f"VTL-{session.name}"
    for n, text in enumerate(pages, start=1):
        assert f"Test report {number} · issued 2026-03-02" in text
        assert f"page {n} of {len(pages)}" in text
        assert "SIMULATION" in text  # sim://rig: watermarked on every page
    cover = "\n".join(pages[:2])
    for item in ("Ventilator Test Laboratory, Bench 2", "Jl. Ganesa 10, Bandung 40132, Indonesia",
                 "KAN LP-1234-IDN", "A. Tester", "B. Checker", "C. Approver", "Tested by", "Approved by",
                 "The results in this report relate only to the item tested",
                 "shall not be reproduced except in full without the written approval of the laboratory",
                 "1 of 21 rows of the protocol's table, selected with --point vc-01",
                 "this session recorded a simulated port (sim://rig)"):
        assert item in cover, item
    assert "speed=max" not in cover  # the port without its query string


def test_a_hardware_port_has_no_watermark_and_a_whole_table_says_so(tmp_path):
    root = build_session(tmp_path, ids=("vc-01",))
    start = json.loads((root / "start.json").read_text())
    start["port"]["url"] = "/dev/ttyUSB0"
    start["argv"] = ["ventbench", "run", "iso80601-2-12-vc"]
    (root / "start.json").write_text(json.dumps(start))
    pages = _pages(render(root, out=tmp_path / "r.pdf"))
    assert not any("SIMULATION" in p for p in pages)
    assert "Report number VB-" in pages[0]  # default prefix without a lab config
    assert "Signature:" in "\n".join(pages[:2])  # lines to sign by hand, names not recorded


def test_indonesian_identity_block(session, lab, tmp_path):
    pages = _pages(render(session, lang="id", out=tmp_path / "id.pdf", lab_config=lab))
    cover = "\n".join(pages[:2])
    assert "Nomor laporan" in cover and "Diuji oleh" in cover and "SIMULASI" in pages[-1]
    assert "1 dari 21 baris tabel protokol, dipilih dengan --point vc-01" in cover


@pytest.mark.parametrize(("text", "message"), [
    (LAB.replace('accreditation = "KAN LP-1234-IDN"\n', ""), "[laboratory]: accreditation missing"),
    (LAB.replace('checked_by = "B. Checker"\n', 'checked_by = ""\n'), "[signatories]: checked_by missing"),
    (LAB.split("[signatories]")[0], "[signatories] missing"),
    (LAB.replace('approved_by = "C. Approver"', "approved_by = 3"), "approved_by: expected a string"),
    ("[laboratory\n", ":1: invalid TOML"),
])
def test_bad_lab_config_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_lab_config(path)


def test_cli_bad_lab_config_exits_3_naming_the_field(session, tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text(LAB.replace('name = "Ventilator Test Laboratory, Bench 2"\n', ""))
    proc = subprocess.run([sys.executable, "-m", "ventbench", "report", str(session), "--out",
                           str(tmp_path / "r.pdf"), "--lab-config", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "lab.toml: [laboratory]: name missing" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
