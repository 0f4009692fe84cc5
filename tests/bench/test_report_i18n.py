"""Complete translation (issue 14 item 6): the reasons, recording statuses and notes the bench
writes in English (results.json keeps them so) are printed in the report's language, through
the ``[[reason]]`` pattern table of the catalogue (bench/report/reasons.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pypdf = pytest.importorskip("pypdf")

from ventbench.bench.report import render  # noqa: E402
from ventbench.bench.report.i18n import Messages  # noqa: E402
from ventbench.bench.report.reasons import recording_text, translate_reason, untranslated  # noqa: E402

from tests.bench.pdf_text import pdf_pages  # noqa: E402
from tests.bench.report_fixtures import build_session  # noqa: E402

ID = Messages("id")
EN = Messages("en")
#: English words and phrases of the bench's sentences that no Indonesian text contains.
ENGLISH = (" breaths recorded", "not measured", " no ", " the ", " within ", " expected ", " missing",
           " outside ", " of ", " breath ", " done", " recorded", " skipped", " not reached", "interrupted",
           " device ", " identified", " limit ", " worst ", " mean ", " measured ", " settled")
#: keys whose values are bench-written sentences (one string, or a list of them)
REASON_KEYS = {"reason", "reasons", "status", "stop_reason", "notes", "problems"}
#: where these keys hold authored text (protocol and limit-set notes, operator notes)
AUTHORED = ("protocol", "limits", "operator_notes", "dut", "planned")
#: keys of the points' own records (point.json) that are the bench's ("notes" are the operator's)
RECORD_KEYS = ("status", "reason", "stop_reason")


def _demo(out: Path, *args: str) -> Path:
    """A demo session (its exit status is the verdict's: a FAIL exits 1)."""
    subprocess.run([sys.executable, "-m", "ventbench", "demo", "--out", str(out), "--no-history", "--no-sign",
                    *args], capture_output=True, timeout=120)
    session = next(out.iterdir())
    assert (session / "results.json").is_file()
    return session


@pytest.fixture(scope="module")
def demo_fail(tmp_path_factory) -> Path:
    """The demo: vc-06 FAILs through a seeded PEEP defect, FiO2 not measured (INFO); its alarm
    tests (one FAILs on its delay) and inspection."""
    return _demo(tmp_path_factory.mktemp("demo"), "--point", "vc-01", "--point", "vc-06", "--settle", "2",
                 "--measure", "6")


@pytest.fixture(scope="module")
def demo_cpap(tmp_path_factory) -> Path:
    """Steady (CPAP) points: a FiO2 FAIL, quantities without a limit (INFO)."""
    return _demo(tmp_path_factory.mktemp("cpap"), "--cpap", "--point", "o2-min", "--point",
                 "o2-table-peep10-120")


@pytest.fixture(scope="module")
def unidentified(tmp_path_factory) -> Path:
    """A run without --dut: "device not identified" makes a PASS INCONCLUSIVE."""
    out = tmp_path_factory.mktemp("noid")
    subprocess.run([sys.executable, "-m", "ventbench", "run", "iso80601-2-12-vc", "--port", "sim://rig?speed=max",
                    "--driver", "rig", "--operator-mode", "auto", "--point", "vc-01", "--settle", "1",
                    "--measure", "2", "--no-history", "--no-report", "--out", str(out)],
                   capture_output=True, timeout=120)
    session = next(out.iterdir())
    assert (session / "results.json").is_file()
    return session


@pytest.fixture(scope="module")
def incomplete(tmp_path_factory) -> list[Path]:
    """Fixture sessions with NOT TESTED points (skipped, aborted) and a recording cut short."""
    root = tmp_path_factory.mktemp("incomplete")
    return [build_session(root, ids=("vc-03", "vc-05"), cut_short="vc-05", skip=("vc-03",), label="cut"),
            build_session(root, ids=("vc-01", "vc-03", "vc-04"), abort_at="vc-03", label="aborted")]


def _sentences(value: Any, key: str = "") -> Iterator[str]:
    """Every bench-written sentence under the reason keys of a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in AUTHORED:
                continue
            if k in REASON_KEYS or k.endswith("_reason"):
                if isinstance(v, str) and v:
                    yield v
                elif isinstance(v, list):
                    yield from (x for x in v if isinstance(x, str) and x)
            yield from _sentences(v, k)
    elif isinstance(value, list):
        for x in value:
            yield from _sentences(x, key)


def _session_sentences(session: Path) -> set[str]:
    """The bench's sentences of a session: results.json's reasons, statuses and notes (the
    inspection's automatic answer notes too), the points' recording statuses and reasons."""
    results = json.loads((session / "results.json").read_text("utf-8"))
    out = set(_sentences(results))
    out |= {str(i["note"]) for i in (results.get("inspection") or {}).get("items") or [] if i.get("note")}
    for point in results.get("points") or []:  # which limits applied; the uncertainty budgets
        out |= {str(v) for v in (point.get("limits_applied") or {}).values()}
        for check in point.get("checks") or []:
            unc = check.get("uncertainty") or {}
            out |= {str(c[k]) for c in unc.get("components") or [] for k in ("name", "source") if c.get(k)}
            out |= set(unc.get("missing") or [])
    for record in session.glob("points/*/point.json"):
        point = json.loads(record.read_text("utf-8"))
        out |= {str(point[k]) for k in RECORD_KEYS if point.get(k)}
    return out


# -- translate_reason ------------------------------------------------------------------------


def test_english_and_unknown_text_unchanged():
    text = "peep: 6 of 6 breaths outside ±(2 cmH2O + 4 %) of 10 cmH2O: breaths 2, 3; worst error -2.715 cmH2O (breath 4)"
    assert translate_reason(text, EN) == text
    assert translate_reason("the operator's own words", ID) == "the operator's own words"
    assert untranslated("the operator's own words", ID) == ["the operator's own words"]
    assert translate_reason(None, ID) == "" and untranslated("", ID) == []


def test_compound_reason_with_decimal_comma_and_quantity_names():
    text = "peep: 6 of 6 breaths outside ±(2 cmH2O + 4 %) of 10 cmH2O: breaths 2, 3; worst error -2.715 cmH2O (breath 4)"
    assert translate_reason(text, ID) == ("PEEP: 6 dari 6 napas di luar ±(2 cmH2O + 4 %) dari 10 cmH2O: napas 2, 3; "
                                          "galat terbesar −2,715 cmH2O (napas 4)")
    assert untranslated(text, ID) == []
    # parts joined by "; " translated one by one
    assert translate_reason("not measured: no fio2_pct channel; device not identified: no serial", ID) == \
        "tidak diukur: tidak ada kanal fio2_pct; perangkat tidak teridentifikasi: tanpa serial"


def test_nested_reasons_and_partly_unknown_parts():
    text = ("flagged measured windows 2, 3 (window 2: 12 samples, expected 1000 (gap); "
            "window 3: saturated in 4 samples of paw_cmh2o)")
    assert translate_reason(text, ID) == ("jendela terukur bertanda 2, 3 (jendela 2: 12 sampel, diharapkan 1000 (celah); "
                                          "jendela 3: saturated pada 4 sampel paw_cmh2o)")
    # an unknown nested part stays English and is reported, the rest is translated
    got = translate_reason("fio2: something new happened", ID)
    assert got == "FiO2: something new happened"
    assert untranslated("fio2: something new happened", ID) == ["something new happened"]
    assert untranslated("not reached: aborted by the operator before point vc-03", ID) == []
    assert translate_reason("alarm delay 20.400 s > limit 1 s", ID) == "tunda alarm 20,400 s > batas 1 s"


def test_budget_sources_and_alarm_limit_source():
    source = ("±(2 % + 0.05 L/min) (certificate, k = 2; simulated bench rig SIM-RIG-01, certificate SIM-CAL-1); "
              "at 509.286 mL, T 1.0009 s, gas factor 1.1277")
    assert translate_reason(source, ID) == ("±(2 % + 0,05 L/min) (sertifikat, k = 2; simulated bench rig SIM-RIG-01, "
                                            "certificate SIM-CAL-1); pada 509,286 mL, T 1,0009 s, faktor gas 1,1277")
    assert translate_reason("s = 3.39267e-05 s of n = 6 breaths, one breath: s", ID) == \
        "s = 3,39267e−05 s dari n = 6 napas, satu napas: s"
    assert translate_reason("repeatability (Type A)", ID) == "keterulangan (Tipe A)"
    assert translate_reason("Laboratory's limit, set in the protocol (alarms[3])", ID) == \
        "Batas laboratorium, ditetapkan dalam protokol (alarms[3])"


def test_limit_source_id_printed_for_indonesian():
    from ventbench.analysis.limits import parse_limits
    from ventbench.bench.report.pages import limit_source

    doc = {"limits": {"id": "ours", "title": "Our limits"},
           "tolerances": {"peep": {"abs": 1.0, "rel": 0.0, "unit": "cmH2O", "confidence": "unconfirmed",
                                   "source": "Our own limit, chosen by the laboratory.",
                                   "source_id": "Batas kami sendiri, dipilih oleh laboratorium."},
                          "rate": {"abs": 1.0, "rel": 0.1, "unit": "bpm", "confidence": "confirmed",
                                   "source": "ISO 80601-2-12 201.12.4 (quoted)"}}}
    tols = parse_limits(doc, "test").to_json()["tolerances"]
    assert tols["peep"]["source_id"] == "Batas kami sendiri, dipilih oleh laboratorium."
    assert "source_id" not in tols["rate"]  # the contract unchanged for a limit without one
    assert limit_source(tols["peep"], ID) == "Batas kami sendiri, dipilih oleh laboratorium."
    assert limit_source(tols["peep"], EN) == "Our own limit, chosen by the laboratory."
    assert limit_source(tols["rate"], ID) == "ISO 80601-2-12 201.12.4 (quoted)"  # a citation stays


def test_recording_line_translated():
    record = {"status": "done", "reason": "42 breaths recorded", "attempt": 1}
    assert recording_text(record, ID) == "selesai (42 napas terekam); percobaan 1"
    assert recording_text(record, EN) == "done (42 breaths recorded); attempt 1"


def test_patterns_compile_and_have_their_groups():
    for pattern, text in ID.reason_table:
        names = set(re.compile(pattern).groupindex)
        fields = set(re.findall(r"\{(\w+)\}", text))
        assert fields <= names, (pattern, fields - names)


# -- real sessions ---------------------------------------------------------------------------


def test_every_reason_of_real_sessions_has_a_pattern(demo_fail, demo_cpap, unidentified, incomplete):
    sessions = [demo_fail, demo_cpap, unidentified, *incomplete]
    found = set().union(*(_session_sentences(s) for s in sessions))
    # the sessions do reach the kinds of reasons this test is about
    for expected in ("breaths recorded", "not measured: no fio2_pct channel", "device not identified", "protocol (",
                     "outside", "skipped by the operator", "not reached", "no limit for"):
        assert any(expected in s for s in found), expected
    missed = {s: untranslated(s, ID) for s in sorted(found)}
    assert {s: m for s, m in missed.items() if m} == {}


def _point_texts(pages: list[str], msgs: Messages) -> list[str]:
    """The bench-written part of each point page: from the point's heading to its worksheet
    (settings, recording line, reason, the check table and its numbered notes)."""
    text = "\n".join(pages)
    head = re.escape(msgs("point.title", id="@@")).replace("@@", r"\S+")
    starts = [m.start() for m in re.finditer(head + " — ", text)]
    assert starts, "no point page found"
    end = msgs("worksheet.heading")
    return [text[s:text.index(end, s)] if end in text[s:] else text[s:s + 3000] for s in starts]


def _english_in(texts: list[str]) -> list[str]:
    return [f"{marker!r} in …{t[max(0, t.index(marker) - 60):t.index(marker) + 60]}…"
            for t in texts for marker in ENGLISH if marker in t]


@pytest.fixture(scope="module")
def demo_pages_id(demo_fail, tmp_path_factory) -> list[str]:
    return pdf_pages(render(demo_fail, lang="id", out=tmp_path_factory.mktemp("pdf") / "id.pdf"))


def test_indonesian_point_pages_have_no_english_reason(demo_pages_id):
    texts = _point_texts(demo_pages_id, ID)
    assert len(texts) == 2
    assert _english_in(texts) == []
    joined = "\n".join(texts)
    assert "9 napas terekam" in joined or "napas terekam" in joined
    assert "tidak diukur: tidak ada kanal fio2_pct" in joined
    assert "galat terbesar −2,715 cmH2O" in joined or re.search(r"galat terbesar −\d+,\d+ cmH2O", joined)


def test_no_english_reason_anywhere_in_the_indonesian_report(demo_fail, demo_pages_id):
    """Every bench sentence of the session (of more than one word: single words such as
    "analysis" occur in file names) whose translation differs is absent, in English,
    from every page (cover, summary, point pages, alarm and inspection pages, appendix)."""
    text = "\n".join(demo_pages_id)
    english = {s for s in _session_sentences(demo_fail) if " " in s and translate_reason(s, ID) != s}
    assert any(s.startswith("alarm delay") for s in english)  # the alarm pages are covered too
    assert len(english) > 10
    assert sorted(s for s in english if s in text) == []


def test_alarm_pages_in_indonesian(demo_pages_id):
    page = next(p for p in demo_pages_id if "Uji alarm alarm-vt-low" in p)
    assert "Kondisi VT di luar rentang" in page and "Alarm (telemetri)" in page and "[laboratorium]" in page
    assert "Batas laboratorium, ditetapkan dalam protokol (alarms[" in page
    assert "tunda alarm" in "\n".join(demo_pages_id)  # the FAILed alarm's reason


def test_the_scan_catches_an_untranslated_reason(demo_fail, tmp_path, monkeypatch):
    """Without the "not measured" pattern the FiO2 note stays English, and the scan finds it."""
    msgs = Messages("id")
    table = tuple(p for p in msgs.reason_table if not p[0].startswith("not measured"))
    assert len(table) == len(msgs.reason_table) - 1
    monkeypatch.setattr("ventbench.bench.report.i18n.reason_table", lambda lang: table)
    pages = pdf_pages(render(demo_fail, lang="id", out=tmp_path / "id.pdf"))
    found = _english_in(_point_texts(pages, ID))
    assert any("not measured" in f for f in found)


def test_incomplete_sessions_cover_and_summary_in_indonesian(incomplete, tmp_path):
    pages = pdf_pages(render(incomplete[0], lang="id", out=tmp_path / "cut.pdf"))
    text = "\n".join(pages)
    assert "○ vc-03: dilewati oleh operator: lung not available" in text  # the note is the operator's
    assert "terputus (Ctrl-C atau SIGTERM)" in text
    assert "skipped by the operator" not in text and "interrupted (" not in text
