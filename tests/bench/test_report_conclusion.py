"""The conclusion in the laboratory's words (issue 14 item 4): the cover's overall verdict and
the conclusion sentence say "Conforms" / "Does not conform" / "Inconclusive" (Indonesian: "Laik
pakai" / "Tidak laik pakai" / "Tidak dapat disimpulkan"), the lab config may keep the verdict
words or give its own, and the tables, results.json, JUnit and exit codes keep PASS / FAIL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.lab_config import load_lab_config
from ventbench.errors import ConfigError

from tests.bench.report_fixtures import build_session

pypdf = pytest.importorskip("pypdf")

LAB = """[laboratory]
name = "Ventilator Test Laboratory, Bench 2"
address = "Jl. Ganesa 10, Bandung 40132, Indonesia"
accreditation = "KAN LP-1234-IDN"

[signatories]
tested_by = "A. Tester"
checked_by = "B. Checker"
approved_by = "C. Approver"
"""


def test_catalogue_words_en_and_id():
    en, ident = Messages("en"), Messages("id")
    assert [en.conclusion(w) for w in ("PASS", "FAIL", "INCONCLUSIVE")] == [
        "✓ Conforms", "✗ Does not conform", "? Inconclusive"]
    assert [ident.conclusion(w) for w in ("PASS", "FAIL", "INCONCLUSIVE")] == [
        "✓ Laik pakai", "✗ Tidak laik pakai", "? Tidak dapat disimpulkan"]
    assert en.verdict("FAIL") == "✗ FAIL" and ident.verdict("FAIL") == "✗ GAGAL"  # the tables' words


def _lab(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(LAB + extra)
    return path


def test_lab_config_keeps_the_verdict_words_or_gives_its_own(tmp_path):
    plain = load_lab_config(_lab(tmp_path, '\n[conclusion]\nwords = "verdict"\n'))
    assert Messages("en").with_lab(plain).conclusion("FAIL") == "✗ FAIL"
    assert Messages("id").with_lab(plain).conclusion("PASS") == "✓ LULUS"
    own = load_lab_config(_lab(tmp_path, '\n[conclusion.en]\nPASS = "Meets the requirements"\n'
                                         '\n[conclusion.id]\nFAIL = "Tidak memenuhi syarat"\n'))
    assert Messages("en").with_lab(own).conclusion("PASS") == "✓ Meets the requirements"
    assert Messages("en").with_lab(own).conclusion("FAIL") == "✗ Does not conform"  # not overridden
    assert Messages("id").with_lab(own).conclusion("FAIL") == "✗ Tidak memenuhi syarat"
    assert Messages("en").with_lab(None).conclusion("PASS") == "✓ Conforms"


@pytest.mark.parametrize("extra, message", [
    ('\n[conclusion]\nwords = "plain"\n', "[conclusion]: words: expected one of statement, verdict, found 'plain'"),
    ('\n[conclusion.fr]\nPASS = "Conforme"\n', "[conclusion]: fr: unknown key"),
    ('\n[conclusion.en]\nOK = "fine"\n', "[conclusion].en: OK: unknown verdict"),
    ('\n[conclusion.en]\nPASS = ""\n', "[conclusion].en: PASS missing"),
])
def test_bad_conclusion_table_is_one_line(tmp_path, extra, message):
    with pytest.raises(ConfigError) as err:
        load_lab_config(_lab(tmp_path, extra))
    assert message in str(err.value) and "lab.toml" in str(err.value), str(err.value)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    return build_session(tmp_path_factory.mktemp("words"), ids=("vc-01", "vc-06"))


def _cover(pdf: Path) -> str:
    return " ".join(pypdf.PdfReader(str(pdf)).pages[0].extract_text().split())


def test_cover_says_the_conclusion_in_words_tables_and_json_keep_pass_fail(session, tmp_path):
    from ventbench.bench.report import render

    results = json.loads((session / "results.json").read_text())
    assert results["verdict"] == "FAIL"  # the machine verdict never changes
    en = _cover(render(session, out=tmp_path / "en.pdf"))
    assert "Overall verdict ✗ Does not conform" in en and "Overall verdict: ✗ Does not conform." in en
    assert "✓ PASS ✗ FAIL" in en  # the counts table keeps the verdict words
    ident = _cover(render(session, lang="id", out=tmp_path / "id.pdf"))
    assert "✗ Tidak laik pakai" in ident and "Kesimpulan: ✗ Tidak laik pakai." in ident
    assert "✓ LULUS ✗ GAGAL" in ident
    lab = _lab(tmp_path, '\n[conclusion]\nwords = "verdict"\n')
    plain = _cover(render(session, out=tmp_path / "plain.pdf", lab_config=lab))
    assert "Overall verdict ✗ FAIL" in plain and "Does not conform" not in plain
