"""Worksheet of readings (issue 14): every judged reading per point and quantity, in the PDF
and in the .xlsx, with one breath numbering shared by the console, results.json, junit.xml,
the PDF and the spreadsheet."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pypdf
import pytest

from ventbench.bench.report import render
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.source import load_session
from ventbench.bench.report.worksheet import worksheet, worksheet_cells
from ventbench.bench.report.worksheet_xlsx import write_xlsx

from tests.bench.report_fixtures import build_session


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    # vc-06 has a sagging PEEP: a FAIL with failing breaths
    return build_session(tmp_path_factory.mktemp("ws"), ids=("vc-01", "vc-06"))


@pytest.fixture(scope="module")
def results(session) -> dict:
    return json.loads((session / "results.json").read_text())


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def test_readings_are_the_judged_breaths_and_their_mean_is_the_checks_mean(results):
    sheets = {s.point_id: s for s in worksheet(results["points"])}
    assert set(sheets) == {"vc-01", "vc-06"}
    for point in results["points"]:
        judged = [b["index"] for b in point["breaths"] if b["measured"]]
        sheet = sheets[point["id"]]
        assert list(sheet.breaths) == judged
        for entry, check in zip(sheet.entries, point["checks"], strict=True):
            field = check["measured_as"]
            values = [b[field] for b in point["breaths"] if b["measured"] and b.get(field) is not None]
            if not values:  # judged on its mean only (FiO2 from the rig's oxygen cell)
                assert not entry.readings
                continue
            assert [r[0] for r in entry.readings.values()] == values
            clean = [v for v, flagged, _ in entry.readings.values() if not flagged]
            assert sum(clean) / len(clean) == pytest.approx(check["mean"], rel=1e-6)
            assert entry.error == pytest.approx(check["mean"] - check["set"], abs=1e-6)
            assert entry.u_expanded == check["uncertainty"]["U"]


def test_failing_breaths_are_marked_with_the_reasons_breath_numbers(results):
    point = next(p for p in results["points"] if p["id"] == "vc-06")
    peep = next(c for c in point["checks"] if c["quantity"] == "peep")
    assert peep["verdict"] == "FAIL" and peep["failing_breaths"]
    for n in peep["failing_breaths"]:  # the reason names the same numbers the worksheet prints
        assert re.search(rf"\b{n}\b", peep["reason"])
    sheet = next(s for s in worksheet(results["points"]) if s.point_id == "vc-06")
    _, body, footer = worksheet_cells(sheet, Messages("en"))
    col = 1 + [e.quantity for e in sheet.entries].index("peep")
    marked = {int(row[0]) for row in body if row[col].endswith("✗")}
    assert marked == set(peep["failing_breaths"])
    assert footer[-1][col] == "✗ FAIL"


def test_pdf_point_page_carries_every_reading(session, results, tmp_path):
    pdf = render(session, out=tmp_path / "r.pdf")
    text = _pdf_text(pdf)
    assert text.count("Worksheet of readings") == 2
    point = results["points"][0]
    for b in point["breaths"]:
        if b["measured"]:
            assert re.search(rf"^{b['index']} {b['vti_ml']:.1f} {b['peep_cmh2o']:.2f}", text, re.M), b["index"]


def test_indonesian_worksheet_uses_the_catalogue(session, tmp_path):
    text = _pdf_text(render(session, lang="id", out=tmp_path / "id.pdf"))
    assert "Lembar kerja pembacaan" in text and "Nilai setelan" in text
    assert "Worksheet of readings" not in text and "Set value" not in text
    assert re.search(r"^Rata-rata \d+,\d", text, re.M)  # decimal comma in the numbers


def test_xlsx_holds_the_same_numbers_as_results_and_is_repeatable(session, results, tmp_path):
    data = load_session(session)
    a = write_xlsx(data, Messages("en"), tmp_path / "a.xlsx")
    b = write_xlsx(data, Messages("en"), tmp_path / "b.xlsx")
    rows = list(openpyxl.load_workbook(a).active.iter_rows(values_only=True))
    assert rows == list(openpyxl.load_workbook(b).active.iter_rows(values_only=True))
    point = results["points"][0]
    first = rows.index(next(r for r in rows if r[0] == "Breath"))  # the first point's block
    block = rows[first:rows.index(next(r for r in rows if r[0] == "Mean"))]
    by_number = {r[0]: r for r in block if isinstance(r[0], int)}
    header = rows[first]
    vt_col = header.index("VT delivered (mL)")
    for br in point["breaths"]:
        if br["measured"]:
            assert by_number[br["index"]][vt_col] == br["vti_ml"]
    means = [r for r in rows if r[0] == "Mean"]
    assert means[0][vt_col] == point["checks"][0]["mean"]


def test_report_command_writes_the_xlsx(session, tmp_path):
    out = tmp_path / "sheet.xlsx"
    proc = subprocess.run([sys.executable, "-m", "ventbench", "report", str(session), "--out",
                           str(tmp_path / "r.pdf"), "--xlsx", str(out), "--lang", "id"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert any(r[0] == "Napas" for r in rows) and any(r[0] == "Nilai setelan" for r in rows)


def test_console_breath_numbers_are_results_breath_numbers(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ventbench", "run", "iso80601-2-12-vc", "--port",
                           "sim://rig?speed=max&step_ms=2000", "--driver", "rig", "--option", "rate_hz=100",
                           "--settle", "2", "--measure", "4", "--no-history", "--no-report",
                           "--point", "vc-01", "--dut", "P2", "--device-serial", "P2-0001", "--firmware", "0.9",
                           "--out", str(tmp_path)],
                          input="\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    session = next(p for p in tmp_path.iterdir() if p.is_dir())
    live = [int(m) for m in re.findall(r"^\s+b\s*(\d+) measure", proc.stdout, re.M)]
    point = json.loads((session / "results.json").read_text())["points"][0]
    judged = [b["index"] for b in point["breaths"] if b["measured"]]
    assert live and live == judged
