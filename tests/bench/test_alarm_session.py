"""Alarm tests in a session: the demo runs the RMVS alarm tests after its points; results
JSON, JUnit and verify re-derive them from the alarm captures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ventbench.bench.alarm_session import fold_alarms


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory):
    out = tmp_path_factory.mktemp("alarm-demo")
    proc = subprocess.run([sys.executable, "-m", "ventbench", "demo", "--out", str(out), "--point", "vc-01",
                           "--no-history", "--no-report"], text=True, capture_output=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    (session,) = [p for p in out.iterdir() if p.is_dir()]
    return session, proc


def test_demo_alarm_tests_find_the_seeded_late_disconnection_alarm(demo_session):
    session, proc = demo_session
    assert proc.returncode == 1  # vc-01 passes; the 20 s late disconnection alarm fails
    results = json.loads((session / "results.json").read_text())
    alarms = {a["id"]: a for a in results["alarms"]}
    assert set(alarms) == {"alarm-disconnection", "alarm-occlusion", "alarm-high-pressure", "alarm-vt-low",
                           "alarm-gas-supply", "alarm-mains", "alarm-apnoea"}
    disc = alarms.pop("alarm-disconnection")
    assert disc["verdict"] == "FAIL" and disc["delay_s"] == pytest.approx(20.4, abs=0.05)
    assert disc["limit_s"] == 1.0 and disc["limit"]["confidence"] == "confirmed"
    for field in ("condition", "induced_s", "alarm_s", "delay_s", "limit_s", "verdict", "reason"):
        assert field in disc
    assert all(a["verdict"] == "PASS" for a in alarms.values()), alarms
    assert alarms["alarm-vt-low"]["limit"]["confidence"] == "laboratory"
    assert results["verdict"] == "FAIL"
    assert {f["path"] for f in results["source"]["files"]} >= {f"alarms/{i}/capture.vbcap" for i in alarms}
    junit = (session / "junit.xml").read_text()
    assert 'classname="' in junit and ".alarms.alarm-disconnection" in junit
    assert "alarm delay 20.4" in junit
    assert "alarm test alarm-disconnection: delay 20.4" in proc.stdout


def test_verify_re_derives_the_alarm_results_and_catches_an_edit(demo_session, tmp_path):
    session, _ = demo_session
    ok = subprocess.run([sys.executable, "-m", "ventbench", "verify", str(session)], text=True,
                        capture_output=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    import shutil

    copy = tmp_path / session.name
    shutil.copytree(session, copy)
    record = copy / "alarms" / "alarm-disconnection" / "alarm.json"
    doc = json.loads(record.read_text())
    doc["aborted"] = "edited"  # the record now disagrees with the data it was derived from
    record.write_text(json.dumps(doc))
    bad = subprocess.run([sys.executable, "-m", "ventbench", "verify", str(copy)], text=True,
                         capture_output=True, timeout=300)
    assert bad.returncode == 1 and "MISMATCH" in bad.stdout


def test_fold_alarms_rounds_as_every_number_of_the_results():
    folded = fold_alarms({"verdict": "PASS"}, [{"id": "a", "verdict": "PASS", "induced_s": 10.2, "alarm_s": 30.6,
                                                 "delay_s": 30.6 - 10.2, "limit_s": None}])
    assert 30.6 - 10.2 != 20.4 and folded["alarms"][0]["delay_s"] == 20.4
    assert folded["alarms"][0]["limit_s"] is None


def test_fold_alarms_takes_the_worst_verdict():
    assert fold_alarms({"verdict": "PASS"}, [{"id": "a", "verdict": "INCONCLUSIVE"}])["verdict"] == "INCONCLUSIVE"
    assert fold_alarms({"verdict": "INCONCLUSIVE"}, [{"id": "a", "verdict": "FAIL"}])["verdict"] == "FAIL"
    assert fold_alarms({"verdict": "FAIL"}, [{"id": "a", "verdict": "PASS"}])["verdict"] == "FAIL"
    assert "alarms" not in fold_alarms({"verdict": "PASS"}, [])


def test_history_has_one_check_row_per_alarm_test(demo_session):
    from ventbench.bench.history import session_rows

    session, _ = demo_session
    load = lambda name: json.loads((session / name).read_text())  # noqa: E731
    _, checks = session_rows(session, load("start.json"), load("stop.json"), load("results.json"))
    rows = {c["point_id"]: c for c in checks if c["point_id"].startswith("alarms/")}
    assert len(rows) == 7
    disc = rows["alarms/alarm-disconnection"]
    assert disc["quantity"] == "alarm_disconnection" and disc["set_value"] == 1.0
    assert disc["mean"] == pytest.approx(20.4, abs=0.05) and disc["verdict"] == "FAIL"


@pytest.mark.parametrize("lang, title, verdict", [("en", "Alarm test alarm-disconnection", "FAIL"),
                                                   ("id", "Uji alarm alarm-disconnection", "GAGAL")])
def test_report_has_one_alarm_page_per_test(demo_session, tmp_path, lang, title, verdict):
    from tests.bench.pdf_text import pdf_pages

    session, _ = demo_session
    pdf = tmp_path / f"report-{lang}.pdf"
    done = subprocess.run([sys.executable, "-m", "ventbench", "report", str(session), "--lang", lang,
                           "--out", str(pdf)], text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    texts = pdf_pages(pdf)
    pages = [t for t in texts if ("Alarm test alarm-" in t or "Uji alarm alarm-" in t)]
    assert len(pages) == 7
    disc = next(t for t in pages if title in t)
    assert "20.400 s" in disc.replace(",", ".") and verdict in disc
