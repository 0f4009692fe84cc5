"""The inspection checklist (issue 14 item 3): [[inspection]] parsing with file:line errors,
terminal / automated / file answers, inspection.json, the overall verdict (a failed required
item → FAIL, not answered → INCONCLUSIVE, per-point verdicts kept), replay / verify, JUnit and
the report's table in English and Indonesian."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ventbench.bench.inspection import terminal_answers
from ventbench.bench.inspection_model import InspectionItem, parse_answers
from ventbench.bench.protocol import load_protocol
from ventbench.bench.protocol_toml import parse_protocol
from ventbench.errors import ConfigError

SIM = "sim://rig?speed=max&step_ms=2000"
FAST = ["--option", "rate_hz=100", "--settle", "2", "--measure", "4", "--no-history",
        "--device-serial", "P2-0001", "--firmware", "0.9", "--dut", "P2"]

HEAD = '''[protocol]
id = "mini"
title = "one point and an inspection"
limits = "iso80601-2-12"

[[points]]
id = "vc-01"
mode = "vc"
checks = ["vt", "peep", "rate"]
set = { vt_ml = 500, rate_bpm = 20, ti_s = 1.0, peep_cmh2o = 5 }
lung = { c_ml_per_hpa = 50, r_hpa_s_per_l = 5 }
'''
ITEMS = '''
[[inspection]]
id = "labelling"
kind = "physical"
text = "Labelling present and legible"
text_id = "Penandaan ada dan terbaca"
source = "test item"

[[inspection]]
id = "casing"
kind = "physical"
text = "Casing intact"
text_id = "Casing utuh"

[[inspection]]
id = "display"
kind = "functional"
text = "Display readable from 1 m"
required = false
'''


@pytest.fixture(scope="module")
def protocol_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("proto") / "mini.toml"
    path.write_text(HEAD + ITEMS)
    return path


def _answers(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "answers.toml"
    path.write_text(body)
    return path


def _run(protocol: Path, out: Path, monkeypatch, *extra: str, stdin: str = "", report: bool = False) -> int:
    from ventbench.bench.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["run", str(protocol), "--port", SIM, "--driver", "rig", *FAST, "--out", str(out),
                 *([] if report else ["--no-report"]), *extra])


def _session(root: Path) -> Path:
    (session,) = [p for p in root.iterdir() if p.is_dir()]
    return session


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


# -- the protocol's items -------------------------------------------------------------------------
@pytest.mark.parametrize("item, message", [
    ('id = "x"\nkind = "visual"\ntext = "t"', 'mine.toml:15: inspection[0].kind: expected one of physical, '
     "functional, found 'visual'"),
    ('id = "x"\nkind = "physical"', "mine.toml:13: inspection[0].text: missing"),
    ('id = "x"\nkind = "physical"\ntext = "t"\nrequired = "yes"', "mine.toml:17: inspection[0].required: "
     "expected true or false"),
    ('id = "x"\nkind = "physical"\ntext = "t"\ncolour = 1', "mine.toml:17: inspection[0].colour: unknown key"),
    ('id = "x"\nkind = "physical"\ntext = "t"\n\n[[inspection]]\nid = "x"\nkind = "physical"\ntext = "u"',
     "mine.toml:19: inspection[1].id: duplicate inspection item id 'x'"),
])
def test_protocol_item_errors_name_file_line_and_key(item, message):
    with pytest.raises(ConfigError) as err:
        parse_protocol(HEAD + "\n[[inspection]]\n" + item + "\n", "mine.toml")
    assert str(err.value).startswith(message), str(err.value)


def test_protocol_items_parsed_and_frozen_in_start_json_form():
    protocol = parse_protocol(HEAD + ITEMS, "mine.toml")
    assert [i.id for i in protocol.inspection] == ["labelling", "casing", "display"]
    assert protocol.inspection[2].required is False and protocol.inspection[0].text_id == "Penandaan ada dan terbaca"
    assert protocol.to_json()["inspection"][1] == {"id": "casing", "text": "Casing intact", "kind": "physical",
                                                   "required": True, "text_id": "Casing utuh", "source": ""}
    rmvs = load_protocol("rmvs").inspection  # the built-in list: sources marked, none verified
    assert {"labelling", "user-manual", "casing", "gas-inlet", "power", "alarm-silence"} <= {i.id for i in rmvs}
    assert all("not verified" in i.source or "laboratory's own" in i.source for i in rmvs)
    assert not load_protocol("iso80601-2-12-vc").inspection  # the demo's protocol asks nothing


# -- answers -------------------------------------------------------------------------------------
ITEMS3 = (InspectionItem("labelling", "L", "physical"), InspectionItem("casing", "C", "physical"),
          InspectionItem("display", "D", "functional", required=False))
GOOD = '''inspector = "B. Checker"

[[answers]]
id = "labelling"
answer = "pass"

[[answers]]
id = "casing"
answer = "fail"
note = "crack at the hinge"

[[answers]]
id = "display"
answer = "na"
by = "C. Other"
'''


def test_answers_file_good():
    answers = parse_answers(GOOD, "a.toml", ITEMS3)
    assert answers.inspector == "B. Checker"
    assert answers.answers["casing"] == {"answer": "fail", "note": "crack at the hinge", "by": ""}
    assert answers.answers["display"]["by"] == "C. Other" and len(answers.sha256) == 64


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('"na"', '"ok"'), "a.toml:14: answers[2].answer: expected one of pass, fail, na, found 'ok'"),
    (GOOD.replace('id = "display"', 'id = "labelling"'), "a.toml:13: answers[2].id: item 'labelling' answered twice"),
    (GOOD.replace('id = "display"', 'id = "battery"'), "a.toml:13: answers[2].id: no inspection item 'battery'"),
    (GOOD.split("[[answers]]\nid = \"display\"")[0], "a.toml:7: answers: no answer for inspection item(s) display"),
    ('inspector = "x"\n', "a.toml: answers: expected [[answers]] tables"),
    ("colour = 1\n" + GOOD, "a.toml:1: answers file.colour: unknown key"),
    ("[[answers]\n", "a.toml:1: invalid TOML"),
])
def test_answers_file_bad_is_one_line_with_file_and_line(text, message):
    with pytest.raises(ConfigError) as err:
        parse_answers(text, "a.toml", ITEMS3)
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


def test_terminal_answers_scripted():
    out = io.StringIO()
    lines = io.StringIO("P\n\nx\nf\ncrack at the hinge\n")  # pass; a wrong key asked again; fail; then EOF
    answers = terminal_answers(ITEMS3, lines.readline, out.write, "ana", lambda: "2026-12-05T10:00:00Z")
    assert [(a["id"], a["answer"], a["note"]) for a in answers] == [
        ("labelling", "pass", ""), ("casing", "fail", "crack at the hinge"),
        ("display", None, "operator input closed")]
    assert all(a["by"] == "ana" and a["time_utc"] == "2026-12-05T10:00:00Z" for a in answers)
    text = out.getvalue()
    assert "inspection 1/3 [labelling, physical, required]: L" in text and "expected p, f, n or s, found 'x'" in text
    skipped = terminal_answers(ITEMS3[:1], io.StringIO("s\n\n").readline, out.write, "ana", lambda: "t")
    assert skipped[0]["answer"] is None and skipped[0]["note"] == "skipped by the operator"


# -- sessions ------------------------------------------------------------------------------------
def test_cli_bad_answers_file_exits_3_before_any_session(protocol_file, tmp_path, monkeypatch, capsys):
    path = _answers(tmp_path, GOOD.replace('"na"', '"maybe"'))
    assert _run(protocol_file, tmp_path / "s", monkeypatch, "--inspection", str(path)) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "answers.toml:14: answers[2].answer: expected one of pass, fail, na" in err
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())
    assert _run("iso80601-2-12-vc", tmp_path / "t", monkeypatch, "--inspection", str(path), "--point",
                "vc-01") == 3
    assert "has no [[inspection]] items" in capsys.readouterr().err
    assert _run("reliability", tmp_path / "r", monkeypatch, "--inspection", str(path)) == 3
    assert "not available on run reliability" in capsys.readouterr().err


@pytest.fixture(scope="module")
def failed_session(protocol_file, tmp_path_factory):
    """A session whose answers file fails a required item; the report rendered."""
    root = tmp_path_factory.mktemp("failed")
    mp = pytest.MonkeyPatch()
    try:
        code = _run(protocol_file, root / "s", mp, "--inspection", str(_answers(root, GOOD)), report=True,
                    stdin="\n")
    finally:
        mp.undo()
    return code, _session(root / "s")


def test_failed_required_item_fails_the_session_points_keep_their_verdicts(failed_session):
    code, session = failed_session
    results, stop = _load(session / "results.json"), _load(session / "stop.json")
    assert code == 1 and stop["exit_status"] == 1 and stop["verdict"] == results["verdict"] == "FAIL"
    assert results["points"][0]["verdict"] == "PASS"  # the data's verdict stays
    block = results["inspection"]
    assert block["verdict"] == "FAIL" and block["reason"] == "inspection failed: casing"
    items = {i["id"]: i for i in block["items"]}
    assert items["casing"]["verdict"] == "FAIL" and items["casing"]["note"] == "crack at the hinge"
    assert items["labelling"]["by"] == "B. Checker" and items["display"]["by"] == "C. Other"
    assert items["display"]["verdict"] == "INFO" and block["answered_by"] == "file"
    record = _load(session / "inspection.json")
    assert record["schema"] == "ventbench.inspection/1" and record["file_sha256"] == block["file_sha256"]
    assert "inspection.json" in _load(session / "manifest.json")["files"]
    suite = ET.parse(session / "junit.xml").getroot().find("testsuite")
    cases = {c.get("classname").rsplit(".", 1)[-1]: c for c in suite if "inspection" in c.get("classname")}
    assert set(cases) == {"labelling", "casing", "display"} and cases["casing"].find("failure") is not None
    assert int(suite.get("failures")) >= 1


def test_replay_and_verify_rederive_the_inspection(failed_session, capsys):
    from ventbench.bench.cli import main

    _, session = failed_session
    assert main(["verify", str(session)]) == 0
    assert "verdict FAIL" in capsys.readouterr().out
    assert main(["replay", str(session)]) == 1
    assert "identical to the recorded results; session verdict FAIL" in capsys.readouterr().out


def test_tampered_inspection_record_is_a_verify_mismatch(failed_session, tmp_path, capsys):
    import shutil

    from ventbench.bench.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(failed_session[1], copy)
    record = _load(copy / "inspection.json")
    record["answers"][1]["answer"] = "pass"
    (copy / "inspection.json").write_text(json.dumps(record))
    assert main(["verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "inspection.json" in out and "inspection.verdict" in out and "MISMATCH" in out


def test_report_shows_the_table_in_english_and_indonesian(failed_session, tmp_path):
    pytest.importorskip("pypdf")
    from ventbench.bench.report import render

    from tests.bench.pdf_text import pdf_pages as pages

    en = pages(failed_session[1] / "report.pdf")
    page = next(p for p in en if "Inspection checklist" in p)
    for item in ("Item Kind Req. Answer Note By / when (UTC)", "labelling: Labelling present and legible",
                 "✓ pass", "✗ fail", "crack at the hinge", "– not applicable", "B. Checker", "C. Other",
                 "Answered from the file", "Inspection: ✗ FAIL — inspection failed: casing", "test item"):
        assert item in page, item
    assert "inspection failed: casing" in en[0] and "✗ Does not conform" in en[0]
    ident = pages(render(failed_session[1], lang="id", out=tmp_path / "id.pdf"))
    page = next(p for p in ident if "Butir Jenis Wajib" in p)
    assert "Daftar periksa inspeksi" in page
    for item in ("Butir Jenis Wajib Jawaban", "labelling: Penandaan ada dan terbaca", "casing: Casing utuh",
                 "display: Display readable from 1 m", "✓ baik", "✗ tidak baik", "– tidak berlaku",
                 "Inspeksi: ✗ GAGAL"):
        assert item in page, item
    assert "✗ Tidak laik pakai" in ident[0]


def test_terminal_answers_and_an_unanswered_required_item_is_inconclusive(protocol_file, tmp_path, monkeypatch,
                                                                          capsys):
    # labelling: pass with a note; casing: skipped (not answered); display: fail (optional); then go
    stdin = "p\nlabel on the rear panel\ns\n\nf\ndim\n\n"
    code = _run(protocol_file, tmp_path, monkeypatch, "--operator", "ana", stdin=stdin)
    session = _session(tmp_path)
    results = _load(session / "results.json")
    assert code == 2 and results["verdict"] == "INCONCLUSIVE" and results["points"][0]["verdict"] == "PASS"
    block = results["inspection"]
    assert block["verdict"] == "INCONCLUSIVE" and block["reason"] == "inspection not answered: casing"
    items = {i["id"]: i for i in block["items"]}
    assert items["labelling"]["note"] == "label on the rear panel" and items["labelling"]["by"] == "ana"
    assert items["display"]["verdict"] == "INFO" and items["display"]["reason"] == "failed (optional item)"
    assert _load(session / "inspection.json")["answered_by"] == "terminal"
    out = capsys.readouterr().out
    assert "inspection 2/3 [casing, physical, required]: Casing intact" in out
    assert out.index("inspection 3/3") < out.index("Set up as above")  # before the point
    assert "inspection checklist: INCONCLUSIVE (inspection not answered: casing)" in out


def test_protocols_show_lists_the_checklist(capsys):
    from ventbench.bench.cli import main

    assert main(["protocols", "show", "rmvs"]) == 0
    out = capsys.readouterr().out
    assert "inspection checklist (before the points):" in out and "alarm-silence  functional  yes" in out


def test_no_inspection_record_means_not_answered(protocol_file, tmp_path, monkeypatch):
    from ventbench.bench.inspection import INSPECTION_FILE, judge

    _run(protocol_file, tmp_path, monkeypatch, "--inspection", str(_answers(tmp_path, GOOD)), stdin="\n")
    session = _session(tmp_path)
    (session / INSPECTION_FILE).unlink()
    block = judge(_load(session / "start.json"), session)
    assert block["verdict"] == "INCONCLUSIVE"
    assert block["reason"] == "inspection not answered: labelling, casing"


def test_automated_operator_passes_unless_the_prototype_fails_an_item(protocol_file, tmp_path):
    from ventbench.analysis.gas import Ambient
    from ventbench.bench.commands.run import analysis_config, make_plan
    from ventbench.bench.live import Live
    from ventbench.bench.operator import AutomatedOperator, Prototype
    from ventbench.bench.runner import Runner

    protocol = load_protocol(str(protocol_file))
    config = analysis_config(protocol, None, Ambient(), settle=2, measure=4)
    codes = {}
    for name, failures in (("good", {}), ("bad", {"casing": "simulated crack"})):
        proto = Prototype(name="P2", serial="S1", firmware="1", inspection_failures=failures)
        plan = make_plan(protocol, port=SIM, driver="rig", operator=AutomatedOperator(proto),
                         config=config, driver_options={"rate_hz": 100},
                         dut={"name": "P2", "serial": "S1", "firmware": "1"},
                         sessions_root=tmp_path / name, index_history=False, render_report=False)
        codes[name] = Runner(plan, Live(io.StringIO())).run()
        block = _load(_session(tmp_path / name) / "results.json")["inspection"]
        assert block["answered_by"] == "automated"
        if failures:
            assert block["verdict"] == "FAIL" and block["items"][1]["note"] == "simulated crack"
        else:
            assert block["verdict"] == "PASS"
    assert codes == {"good": 0, "bad": 1}
