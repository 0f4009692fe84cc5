"""The reliability session's report.pdf: rendered by the run before stop.json, numbers equal
to results.json's block, every footer with the results hash, byte-identical re-renders, an
Indonesian render, ``ventbench verify`` / ``report`` / ``history`` on the session, and the
per-quantity check rows in the history index."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3

import pytest

from ventbench.bench.history import HISTORY_FILE, RELIABILITY_POINT
from ventbench.bench.live import Live
from ventbench.bench.reliability.config import load_reliability
from ventbench.bench.reliability.runner import ReliabilityRun
from ventbench.bench.report import render
from ventbench.bench.report.i18n import Messages
from ventbench.errors import ConfigError

from tests.bench.pdf_text import pdf_pages

pypdf = pytest.importorskip("pypdf")

URL = ("sim://rig?speed=max&seed=3&rate_hz=200&step_ms=2000&unplug_at_s=300&unplug_s=5"
       "&reset_at_s=600&skip_probability=0.01")


@pytest.fixture(scope="module")
def rel_session(tmp_path_factory):
    root = tmp_path_factory.mktemp("relrep")
    config = load_reliability(duration="15m", drift_limits={"vt_ml": 10.0})
    run = ReliabilityRun(config, URL, "rig", sessions_root=root, live=Live(tty=False), render=render)
    code = run.run()
    return run.session.root, code


def _pages(pdf) -> list[str]:
    return pdf_pages(pdf)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_renders_report_before_stop(rel_session):
    session, code = rel_session
    assert code == 1  # missed breaths: FAIL
    assert not (session / "reliability.pdf").exists()
    stop = json.loads((session / "stop.json").read_text())
    assert stop["report"] == "rendered" and stop["verdict"] == "FAIL"
    assert stop["files"]["report.pdf"]["sha256"] == _sha(session / "report.pdf")


def test_report_numbers_equal_the_results_block(rel_session):
    session, _ = rel_session
    block = json.loads((session / "results.json").read_text())["reliability"]
    pages = _pages(session / "report.pdf")
    text = " ".join(pages)
    m = Messages("en")
    assert block["verdict"] == "FAIL" and block["breaths"]["missed"] > 0
    # the cover's overall verdict in the laboratory's words (issue 14 item 4); JSON keeps FAIL
    assert "✗ Does not conform" in pages[0] and "Ventilator reliability test report" in pages[0]
    for reason in block["reasons"]:
        assert reason in pages[0]
    summary = next(p for p in pages if "2. Reliability run" in p)
    assert f"Uptime (data) {m.num(block['uptime_pct'], 4)} %" in summary
    assert f"Missed breaths {block['breaths']['missed']}" in summary
    assert f"{block['breaths']['total']} recorded, {block['breaths']['trusted']} unflagged" in summary
    for q, d in block["drift"].items():
        lo, hi = d["ci95_per_24h"]
        row = f"{m.sig(d['slope_per_24h'])} [{m.sig(lo)}, {m.sig(hi)}]"
        assert row in summary, (q, row)
    for q, o in block["out_of_limit"].items():
        assert f"[{m.sig(o['limit'][0], 6)}, {m.sig(o['limit'][1], 6)}] {o['breaths']} " in summary, q
    assert "Hourly trends" in text and "Event timeline" in text and "Every event" in text
    gas = json.loads((session / "results.json").read_text())["gas"]
    assert f"Conversion factor applied STP20 → BTPS: × {m.num(gas['btps_factor'], 4)}" in text
    n_events = sum(block["events"].values())
    assert f"{n_events} events in all" in text
    assert "3. Appendix" in pages[-1] or "3. Appendix" in text
    sha = _sha(session / "results.json")
    every_page = pdf_pages(session / "report.pdf", contents=True)
    assert len(every_page) == len(pages) + 1  # the table of contents
    for page in every_page:  # every page: the results hash in the footer, "page n of m"
        assert f"results.json SHA-256 {sha[:16]}…" in page
        assert f"of {len(every_page)}" in page
    from ventbench.bench.report import embedded_results_sha256

    assert embedded_results_sha256(session / "report.pdf") == sha


def test_rerender_is_byte_identical_and_indonesian(rel_session, tmp_path):
    from ventbench.bench.report import render

    session, _ = rel_session
    again = render(session, out=tmp_path / "again.pdf")
    assert again.read_bytes() == (session / "report.pdf").read_bytes()
    indonesian = render(session, lang="id", out=tmp_path / "id.pdf")
    text = " ".join(_pages(indonesian))
    for words in ("Laporan uji keandalan ventilator", "Ketersediaan data", "Napas terlewat",
                  "Linimasa kejadian", "Tren per jam", "✗ GAGAL", "3. Lampiran"):
        assert words in text, words
    assert "Missed breaths" not in text


def test_event_table_is_capped_and_says_so(rel_session, tmp_path, monkeypatch):
    from ventbench.bench.report import reliability_pages, render

    session, _ = rel_session
    monkeypatch.setattr(reliability_pages, "EVENT_TABLE_MAX_ROWS", 3)
    text = " ".join(_pages(render(session, out=tmp_path / "capped.pdf")))
    n = sum(json.loads((session / "results.json").read_text())["reliability"]["events"].values())
    assert n > 3 and f"{n} events in all; the table lists 3 of them in time order" in text


def test_capped_event_table_keeps_rare_events_before_frequent_ones(tmp_path):
    from ventbench.bench.reliability.events import EventLog
    from ventbench.bench.report.reliability_pages import table_events

    log = EventLog(tmp_path / "events.jsonl")
    kinds = ["corrupt_data"] * 5 + ["disconnect"] + ["out_of_limit"] * 3 + ["device_reset"]
    for i, kind in enumerate(kinds):
        log.write({"kind": kind, "t_s": float(i), "segment": 0})
    log.close()
    counts = {k: kinds.count(k) for k in set(kinds)}

    def table(max_rows):
        return [(e["kind"], e["t_s"]) for e in table_events(tmp_path / "events.jsonl", counts, max_rows)]

    assert table(4) == [("corrupt_data", 0.0), ("corrupt_data", 1.0), ("disconnect", 5.0),
                        ("device_reset", 9.0)]
    assert table(1) == [("disconnect", 5.0)]
    assert len(table(10)) == 10 and len(table(50)) == 10


def test_verify_passes_then_fails_on_changed_files(rel_session, tmp_path, capsys):
    from ventbench.bench.cli import main

    session, _ = rel_session
    assert main(["verify", str(session), "--no-reanalysis"]) == 0
    copy = tmp_path / session.name
    shutil.copytree(session, copy)
    results = copy / "results.json"
    results.write_text(results.read_text().replace('"verdict": "FAIL"', '"verdict": "PASS"', 1))
    assert main(["verify", str(copy), "--no-reanalysis"]) == 1
    out = capsys.readouterr().out
    assert "results.json: changed" in out and "report.pdf: embedded results sha256" in out
    shutil.copy(session / "results.json", results)
    pdf = bytearray((copy / "report.pdf").read_bytes())
    pdf[len(pdf) // 2] ^= 0x01
    (copy / "report.pdf").write_bytes(bytes(pdf))
    assert main(["verify", str(copy), "--no-reanalysis"]) == 1
    assert "report.pdf: changed" in capsys.readouterr().out


def test_report_command_and_clear_errors(rel_session, tmp_path, capsys):
    from ventbench.bench.cli import main

    session, _ = rel_session
    out = tmp_path / "cli.pdf"
    assert main(["report", str(session), "--out", str(out)]) == 0
    assert out.read_bytes() == (session / "report.pdf").read_bytes()
    broken = tmp_path / "broken"
    shutil.copytree(session, broken)
    doc = json.loads((broken / "results.json").read_text())
    del doc["reliability"]["drift"]
    (broken / "results.json").write_text(json.dumps(doc))
    from ventbench.bench.report import render

    with pytest.raises(ConfigError, match=r"results\.json: reliability: drift missing"):
        render(broken, out=tmp_path / "x.pdf")
    assert main(["report", str(broken), "--out", str(tmp_path / "x.pdf")]) == 3
    assert "Traceback" not in capsys.readouterr().err
    (broken / "results.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"results\.json:1:\d+: .*not valid JSON"):
        render(broken, out=tmp_path / "x.pdf")
    shutil.copy(session / "results.json", broken / "results.json")
    (broken / "reliability" / "events.jsonl").unlink()
    with pytest.raises(ConfigError, match="events.jsonl: event log not found"):
        render(broken, out=tmp_path / "x.pdf")


def test_history_has_the_session_and_one_check_per_quantity(rel_session, tmp_path, capsys):
    from ventbench.bench.cli import main

    session, _ = rel_session
    results = json.loads((session / "results.json").read_text())
    block = results["reliability"]
    config = json.loads((session / "start.json").read_text())["reliability"]
    with sqlite3.connect(session.parent / HISTORY_FILE) as con:
        con.row_factory = sqlite3.Row
        (row,) = con.execute("SELECT * FROM sessions").fetchall()
        checks = {r["quantity"]: dict(r) for r in con.execute("SELECT * FROM checks")}
    assert row["protocol"] == "reliability" and row["verdict"] == "FAIL" and row["status"] == "completed"
    assert row["results_sha256"] == _sha(session / "results.json")
    assert set(checks) == set(block["drift"]) == {"vt_ml", "peep_cmh2o", "pip_cmh2o", "rate_bpm"}
    vt = checks["vt_ml"]
    assert vt["point_id"] == RELIABILITY_POINT and vt["set_value"] == config["set"]["vt_ml"]
    assert vt["mean"] == block["variability"]["vt_ml"]["mean"]
    assert vt["mean_error"] == pytest.approx(vt["mean"] - vt["set_value"])
    extremes = block["hourly"]["vt_ml"]["min"] + block["hourly"]["vt_ml"]["max"]
    assert vt["max_abs_error"] == pytest.approx(max(abs(x - vt["set_value"]) for x in extremes))
    assert vt["n_breaths"] == block["drift"]["vt_ml"]["n"]
    assert vt["verdict"] == "INCONCLUSIVE"  # 15 min: too short for a drift verdict
    assert checks["pip_cmh2o"]["set_value"] is None and checks["pip_cmh2o"]["mean_error"] is None
    # re-indexing into another root through the CLI, and the listing with the trend
    assert main(["history", "--root", str(tmp_path), "--index", str(session)]) == 0
    out = capsys.readouterr().out
    assert "1 session(s)" in out and session.name in out
    trend = [line for line in out.splitlines() if line.startswith("reliability")]
    assert {line.split()[1] for line in trend} == set(checks)


@pytest.mark.parametrize("lang", ["en", "id"])
def test_reliability_pages_keep_text_inside_the_page_box(rel_session, lang):
    import matplotlib

    from ventbench.bench.report import build_pages
    from ventbench.bench.report.layout import RC, overflowing_texts
    from ventbench.bench.report.source import load_session

    session, _ = rel_session
    with matplotlib.rc_context(RC):
        figures = build_pages(load_session(session), Messages(lang))
        for n, figure in enumerate(figures, start=1):
            assert overflowing_texts(figure) == [], f"{lang} page {n}"
