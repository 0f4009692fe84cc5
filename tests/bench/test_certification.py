"""``ventbench run certification``: function points, an electrical-safety record and an endurance
run chained into one session with one overall verdict; interrupted after stage 1 and resumed →
the verdict of an uninterrupted run; a failing record → FAIL; bad plans and records → exit 3
with the field named; verify re-derives the overall verdict."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ventbench.bench.certification import judge_safety, overall
from ventbench.bench.cli import main
from ventbench.bench.instruments import load_register

from tests.bench.pdf_text import is_contents, pdf_pages

ROOT = Path(__file__).resolve().parents[2]
PORT = "sim://rig?speed=max&seed=1"
RECORD = """[record]
analyser = "ESA615"
analyser_serial = "1234567"
standard = "IEC 62353"
method = "direct"
equipment_class = "I"
applied_part = "BF"
date = "2026-12-05"

[readings]
protective_earth_ohm = 0.12
equipment_leakage_ua = {leak}
patient_leakage_ua = 35
"""
ANALYSER = """
[[instrument]]
name = "ESA615"
model = "Fluke ESA615 electrical safety analyser"
serial = "1234567"
firmware = "1.0"
port = "none"
certificate = "ESA-CAL-2026-7"
lab = "test calibration lab"
calibrated = 2026-01-01
due = 2031-01-01
"""


@pytest.fixture
def files(tmp_path):
    reg = tmp_path / "register.toml"
    reg.write_text((ROOT / "bench" / "data" / "demo-instruments.toml").read_text() + ANALYSER)
    ok = tmp_path / "safety-ok.toml"
    ok.write_text(RECORD.format(leak=210))
    bad = tmp_path / "safety-fail.toml"
    bad.write_text(RECORD.format(leak=800))  # > 500 µA, class I direct
    return {"register": reg, "ok": ok, "fail": bad, "tmp": tmp_path}


def _argv(files, out, record="ok", *extra):
    return ["run", "certification", "--port", PORT, "--driver", "rig", "--operator-mode", "auto",
            "--point", "vc-01", "--point", "vc-02", "--duration", "60s",
            "--safety-record", str(files[record]), "--instruments", str(files["register"]),
            "--dut", "SimVent", "--device-serial", "SN1", "--firmware", "1.0", "--no-report",
            "--out", str(out), *extra]


def _session(out: Path) -> Path:
    (session,) = [p for p in out.iterdir() if p.is_dir()]
    return session


def _results(session: Path) -> dict:
    return json.loads((session / "results.json").read_text())


def test_overall_rule():
    assert overall({"function": "PASS", "safety": "PASS", "endurance": "PASS"})[0] == "PASS"
    assert overall({"function": "PASS", "safety": "FAIL", "endurance": "INCONCLUSIVE"})[0] == "FAIL"
    assert overall({"function": "PASS", "safety": "PASS", "endurance": None})[0] == "INCONCLUSIVE"
    assert overall({"function": "PASS", "safety": "PASS", "endurance": "INCONCLUSIVE"})[0] == "INCONCLUSIVE"


@pytest.mark.slow
def test_interrupted_after_stage_one_and_resumed_gives_the_same_verdict(files, monkeypatch, capsys):
    whole = files["tmp"] / "whole"
    assert main(_argv(files, whole)) == 2
    a = _results(_session(whole))
    assert [r["verdict"] for r in a["certification"]["stages"]] == ["PASS", "PASS", "INCONCLUSIVE"]
    assert a["verdict"] == "INCONCLUSIVE"  # a 60 s endurance run cannot give a drift verdict

    parts = files["tmp"] / "parts"
    monkeypatch.setenv("VENTBENCH_CERT_STOP_AFTER", "function")
    assert main(_argv(files, parts)) == 2
    session = _session(parts)
    stop = json.loads((session / "stop.json").read_text())
    assert stop["status"] == "interrupted"
    assert (session / "stage-function.json").exists() and not (session / "stage-safety.json").exists()
    assert _results(session)["certification"]["stages"][1]["status"] == "not completed"
    assert main(["verify", str(session), "--no-reanalysis"]) == 0  # an interrupted session is whole
    monkeypatch.delenv("VENTBENCH_CERT_STOP_AFTER")
    function_dir = sorted((session / "stages" / "function").iterdir())
    capsys.readouterr()
    assert main(["run", "certification", "--port", PORT, "--driver", "rig", "--resume", str(session)]) == 2
    assert "stage function: completed earlier, files intact: skipped" in capsys.readouterr().out
    assert sorted((session / "stages" / "function").iterdir()) == function_dir  # not run again
    b = _results(session)
    assert b["verdict"] == a["verdict"]
    assert [r["verdict"] for r in b["certification"]["stages"]] == \
        [r["verdict"] for r in a["certification"]["stages"]]
    assert (session / "stop-00.json").exists()
    capsys.readouterr()
    assert main(["verify", str(session)]) == 0
    out = capsys.readouterr().out
    assert "certification: overall verdict INCONCLUSIVE re-derived" in out
    assert "stage endurance: re-analysis: reliability captures re-decoded" in out
    capsys.readouterr()
    assert main(["replay", str(session)]) == 2
    assert "replay: identical; overall verdict INCONCLUSIVE" in capsys.readouterr().out
    # nothing left to resume
    assert main(["run", "certification", "--port", PORT, "--driver", "rig", "--resume", str(session)]) == 3


@pytest.mark.slow
def test_a_changed_stage_file_is_not_skipped_on_resume(files, monkeypatch, capsys):
    out = files["tmp"] / "tamper"
    monkeypatch.setenv("VENTBENCH_CERT_STOP_AFTER", "safety")
    assert main(_argv(files, out)) == 2
    session = _session(out)
    (session / "stages" / "safety" / "safety.json").write_text("{}")
    monkeypatch.delenv("VENTBENCH_CERT_STOP_AFTER")
    capsys.readouterr()
    assert main(["run", "certification", "--port", PORT, "--driver", "rig", "--resume", str(session)]) == 3
    assert "stage safety cannot be skipped: stages/safety/safety.json: changed" in capsys.readouterr().err


@pytest.mark.slow
def test_a_failing_safety_record_fails_the_certification(files, monkeypatch):
    """Through a plan file: its points, its endurance duration, its record (relative to the plan)."""
    out = files["tmp"] / "fail"
    plan = files["tmp"] / "plan.toml"
    plan.write_text('[certification]\ntitle = "Type test"\n[certification.function]\n'
                    'protocol = "iso80601-2-12-vc"\npoints = ["vc-01"]\n'
                    '[certification.safety]\nrecord = "safety-fail.toml"\n'
                    '[certification.endurance]\nduration = "60s"\n')
    argv = _argv(files, out, "fail")
    for flag in ("--safety-record", "--duration"):
        i = argv.index(flag)
        del argv[i:i + 2]
    for _ in range(2):
        i = argv.index("--point")
        del argv[i:i + 2]
    argv[1] = str(plan)
    assert main(argv) == 1
    start = json.loads((_session(out) / "start.json").read_text())
    assert start["plan"]["function"]["points"] == ["vc-01"] and start["plan"]["endurance"]["duration"] == "60s"
    res = _results(_session(out))
    assert res["verdict"] == "FAIL" and res["certification"]["reasons"][0].startswith("stage safety: FAIL — ")
    judged = json.loads((_session(out) / "stages" / "safety" / "safety.json").read_text())
    assert judged["verdict"] == "FAIL" and "equipment_leakage_ua" in judged["reason"]


def test_bad_record_and_plan_are_usage_errors_naming_the_field(files, capsys):
    bad = files["tmp"] / "bad-record.toml"
    bad.write_text(RECORD.format(leak='"210"'))
    out = files["tmp"] / "none"
    argv = _argv(files, out)
    argv[argv.index("--safety-record") + 1] = str(bad)
    assert main(argv) == 3
    assert "readings.equipment_leakage_ua: expected a number" in capsys.readouterr().err
    assert not out.exists()  # refused before any session directory

    plan = files["tmp"] / "plan.toml"
    plan.write_text('[certification]\n[certification.function]\nprotocol = "iso80601-2-12-vc"\n'
                    '[certification.safety]\nrecord = "safety-ok.toml"\n'
                    '[certification.endurance]\nduration = "soon"\n')
    assert main(["run", str(plan), "--port", PORT, "--driver", "rig", "--operator-mode", "auto",
                 "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert f"{plan}:7: certification.endurance.duration" in err
    plan.write_text('[certification]\n[certification.function]\nprotocl = "x"\n'
                    '[certification.safety]\n[certification.endurance]\n')
    assert main(["run", str(plan), "--port", PORT, "--driver", "rig", "--out", str(out)]) == 3
    assert f"{plan}:3: certification.function.protocl: unknown key" in capsys.readouterr().err
    assert main(["run", "iso80601-2-12-vc", "--port", PORT, "--driver", "rig",
                 "--safety-record", str(files["ok"]), "--out", str(out)]) == 3
    assert "--safety-record" in capsys.readouterr().err


@pytest.mark.slow
def test_every_stage_passing_passes(files):
    """2 h of endurance at speed=max (≈ 10 s): enough breaths and time for the drift verdicts."""
    out = files["tmp"] / "pass"
    argv = _argv(files, out)
    argv[argv.index("--duration") + 1] = "2h"
    assert main(argv) == 0
    res = _results(_session(out))
    assert res["verdict"] == "PASS" and res["certification"]["reasons"] == []
    assert main(["verify", str(_session(out)), "--no-reanalysis"]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_interrupted_inside_the_endurance_stage_then_resume(files, sig, capsys):
    """Ctrl-C (or kill -9) inside stage 3: the session is verifiable (closed, or incomplete
    without a stop record) and replayable; --resume continues the same endurance session
    (the reliability run's own resume: a new segment)."""
    out = files["tmp"] / "sig"
    argv = _argv(files, out)
    argv[argv.index("--port") + 1] = "sim://rig?speed=20&seed=1"
    argv[argv.index("--duration") + 1] = "120s"
    i = argv.index("vc-02")
    del argv[i - 1:i + 1]  # one point
    proc = subprocess.Popen([sys.executable, "-m", "ventbench", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "reliability session" in line:  # the endurance stage is recording
            break
    import time

    time.sleep(2.0)
    proc.send_signal(sig)
    rest = proc.stdout.read()
    assert proc.wait(timeout=120) == (2 if sig == signal.SIGINT else -9), "".join(seen) + rest
    session = _session(out)
    (endurance,) = (session / "stages" / "endurance").iterdir()
    if sig == signal.SIGINT:
        assert json.loads((session / "stop.json").read_text())["status"] == "interrupted"
        rows = _results(session)["certification"]["stages"]
        assert [r["status"] for r in rows] == ["completed", "completed", "not completed"]
        assert main(["verify", str(session), "--no-reanalysis"]) == 0
    else:
        assert not (session / "stop.json").exists() and not (endurance / "stop.json").exists()
        assert main(["verify", str(session), "--no-reanalysis"]) == 2  # incomplete, consistent
    capsys.readouterr()
    assert main(["replay", str(session)]) == 2
    assert "endurance  not completed" in capsys.readouterr().out
    assert main(["run", "certification", "--port", "sim://rig?speed=max&seed=1", "--driver", "rig",
                 "--resume", str(session)]) == 2
    assert [p.name for p in (session / "stages" / "endurance").iterdir()] == [endurance.name]
    events = (endurance / "reliability" / "events.jsonl").read_text()
    assert '"segment": 1' in events  # the reliability run's own resume: segment 1
    res = _results(session)
    assert [r["verdict"] for r in res["certification"]["stages"]] == ["PASS", "PASS", "INCONCLUSIVE"]
    assert main(["verify", str(session)]) == 0


@pytest.mark.slow
def test_one_report_with_one_conclusion(files):
    pypdf = pytest.importorskip("pypdf")
    from ventbench.bench.report import render
    from ventbench.bench.report.i18n import Messages

    out = files["tmp"] / "report"
    argv = _argv(files, out, "fail")
    argv.remove("--no-report")
    assert main(argv) == 1
    session = _session(out)
    stop = json.loads((session / "stop.json").read_text())
    assert stop["report"] == "rendered" and "report.pdf" in stop["files"]
    pages = pdf_pages(session / "report.pdf")
    m = Messages("en")
    assert "Certification run" in pages[0] and m.conclusion("FAIL") in pages[0]
    assert "1. Function and accuracy points" in pages[0] and "3. Endurance (reliability) run" in pages[0]
    safety = next(p for p in pages if "Electrical safety (IEC 62353)" in p)
    assert "equipment_leakage_ua 800 µA ≤ 500 µA" in safety
    assert any(re.search(r"\b\d+\. Reliability run", p) for p in pages)  # the endurance stage's own section
    contents = next(p for p in pdf_pages(session / "report.pdf", contents=True) if is_contents(p))
    for title in ("Electrical safety (IEC 62353)", "Function and accuracy points", "Endurance (reliability) run"):
        assert re.search(rf"\b\d+\. {re.escape(title)}", contents), title
    assert sum(m.conclusion("FAIL") in p for p in pages) >= 1
    assert main(["verify", str(session), "--no-reanalysis"]) == 0
    indonesian = render(session, lang="id", out=files["tmp"] / "id.pdf")
    first = " ".join(pypdf.PdfReader(str(indonesian)).pages[0].extract_text().split())
    assert "Uji sertifikasi" in first and Messages("id").conclusion("FAIL") in first


def test_safety_stage_needs_a_register_and_a_certificate_valid_on_the_record_date(files):
    record = files["ok"].read_bytes()
    register = load_register(files["register"])
    assert judge_safety(record, "r.toml", register)["verdict"] == "PASS"
    none = judge_safety(record, "r.toml", None)
    assert none["verdict"] == "INCONCLUSIVE" and "no instrument register" in none["reason"]
    late = record.replace(b'date = "2026-12-05"', b'date = "2032-01-02"')
    expired = judge_safety(late, "r.toml", register)
    assert expired["verdict"] == "INCONCLUSIVE" and "not on the record's date 2032-01-02" in expired["reason"]
    failing = judge_safety(files["fail"].read_bytes(), "r.toml", None)
    assert failing["verdict"] == "FAIL"  # a reading above its limit fails whatever the traceability
    unquoted = record.replace(b'date = "2026-12-05"', b"date = 2026-12-05")
    assert judge_safety(unquoted, "r.toml", register)["verdict"] == "PASS"
    with pytest.raises(Exception, match=r"r.toml: record.date: expected an ISO date"):
        judge_safety(record.replace(b'date = "2026-12-05"', b'date = "5/12/2026"'), "r.toml", register)
