"""Steady points end to end: protocol files, ``ventbench run cpap`` on ``sim://cpap``, channels, replay."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ventbench.bench.protocol import load_protocol
from ventbench.bench.protocol_toml import parse_protocol
from ventbench.errors import ConfigError

CPAP = "sim://cpap?speed=max&fio2_low_pct=4"


def ventbench(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ventbench", *args], input=stdin, text=True,
                          capture_output=True, timeout=timeout)


MIXED = '''
[protocol]
id = "mixed"
limits = "iso80601-2-12"
[protocol.steady]
window_s = 5
record_s = 40
[protocol.channels]
o2_flow = "flow2_lpm"
[[points]]
id = "vc-1"
mode = "vc"
set = { vt_ml = 500, rate_bpm = 20, ti_s = 1.0, peep_cmh2o = 5 }
lung = { c_ml_per_hpa = 50, r_hpa_s_per_l = 5 }
[[points]]
id = "cpap-10"
mode = "steady"
checks = ["paw", "o2_flow"]
set = { cpap_cmh2o = 10, flow_lpm = 40 }
limits = { paw = { abs = 0.5, rel = 0, unit = "cmH2O", source = "test", confidence = "unconfirmed" } }
steady = { measure_windows = 4 }
'''


def test_point_types_mix_in_one_protocol():
    p = parse_protocol(MIXED, "mixed.toml")
    vc, steady = p.points
    assert vc.mode == "vc" and "limits" not in vc.to_json()  # breath points' JSON unchanged
    assert steady.mode == "steady" and steady.checks == ("paw", "o2_flow")
    assert steady.steady == {"window_s": 5, "record_s": 40, "measure_windows": 4}
    assert steady.channels == {"pressure": "paw_cmh2o", "o2_flow": "flow2_lpm"}
    assert p.to_json()["channels"] == {"o2_flow": "flow2_lpm"}


@pytest.mark.parametrize("bad,message", [
    ('checks = ["vt"]', "unknown steady quantity 'vt'"),
    ('set = { vt_ml = 500 }', "set.vt_ml: unknown key"),
    ('steady = { window_s = -1 }', "steady.window_s: expected a number > 0"),
    ('steady = { criterion = "every-breath" }', "criterion: expected mean or every-window"),
    ('limits = { vt = { abs = 1, rel = 0, unit = "mL", source = "x", confidence = "unconfirmed" } }',
     "limits.vt: not a steady quantity"),
    ('limits = { fio2 = { abs = 1, rel = 0, unit = "mL", source = "x", confidence = "unconfirmed" } }',
     "unit 'mL' is not a unit of fio2"),
])
def test_bad_steady_point_names_file_line_and_key(bad, message):
    text = '[protocol]\nid = "x"\n[[points]]\nid = "s"\nmode = "steady"\n' + bad + "\n"
    with pytest.raises(ConfigError, match=message) as info:
        parse_protocol(text, "x.toml")
    assert str(info.value).startswith("x.toml")


def test_bad_channel_role():
    text = '[protocol]\nid = "x"\n[protocol.channels]\noxygen = "o2_pct"\n[[points]]\nid = "s"\nmode = "steady"\n'
    with pytest.raises(ConfigError, match="protocol.channels.oxygen: unknown role"):
        parse_protocol(text, "x.toml")


def test_builtin_cpap_protocol_records_sources():
    p = load_protocol("cpap")
    assert len(p.points) == 14 and {pt.mode for pt in p.points} == {"steady"}
    table = {pt.id: pt for pt in p.points}
    cell = table["o2-table-peep05-40"]
    assert cell.set["fio2_pct"] == 30.8 and cell.limits["fio2"]["abs"] == 2
    assert "CPAP Bench Test Protocol V1.0" in cell.limits["fio2"]["source"]
    assert table["o2-max-60"].limits["fio2"]["min"] == 95
    assert table["leak-before"].limits["flow"]["max"] == 0.3
    assert all(pt.limits[q]["confidence"] for pt in p.points for q in pt.limits)


def test_missing_channel_fails_at_start_before_any_prompt(tmp_path):
    proc = ventbench("run", "cpap", "--port", "sim://rig?speed=max", "--driver", "rig", "--out", str(tmp_path),
                     "--no-history", stdin="\n" * 20)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Set up as above" not in proc.stdout
    assert "point o2-min: fio2 needs channel 'fio2_pct'" in proc.stderr
    assert not any(tmp_path.iterdir())  # no session started


def test_run_cpap_end_to_end_with_seeded_defect(tmp_path):
    proc = ventbench("run", "cpap", "--port", CPAP, "--driver", "rig", "--operator-mode", "auto",
                     "--dut", "OpenCPAP-1", "--device-serial", "C1-0007", "--firmware", "ocpap-fw 0.4.1",
                     "--point", "o2-table-peep05-40", "--point", "o2-table-peep05-120", "--point", "leak-after",
                     "--no-history", "--no-report", "--out", str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    session = next(p for p in tmp_path.iterdir() if p.is_dir())
    results = json.loads((session / "results.json").read_text())
    points = {p["id"]: p for p in results["points"]}
    assert points["o2-table-peep05-40"]["verdict"] == "PASS"
    assert points["leak-after"]["verdict"] == "PASS"
    high = points["o2-table-peep05-120"]
    assert high["verdict"] == "FAIL" and high["mode"] == "steady"
    fio2 = next(c for c in high["checks"] if c["quantity"] == "fio2")
    assert fio2["verdict"] == "FAIL" and abs(fio2["mean"] - 24.2) < 0.3 and fio2["n_windows"] == 3
    assert "CPAP Bench Test Protocol" in fio2["limit"]["source"]
    # oxygen accounting beside the delivered FiO2: 120 L/min at 24.2 % draws 120·3.3/79.1 L/min
    ox = high["oxygen"]
    assert abs(ox["o2_lpm"] - 120 * (24.2 - 20.9) / 79.1) < 0.1 and abs(ox["fio2_pct"] - 24.2) < 0.3
    assert high["channels"]["o2_flow"] == "o2_flow_lpm" and high["channels"]["fio2"] == "fio2_pct"
    assert high["settled_at_s"] is not None and len(high["windows"]) >= 8
    replay = ventbench("verify", str(session))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    # the report's steady page: channel roles, windows, oxygen beside FiO2, the window table
    report = ventbench("report", str(session), timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(session / "report.pdf").pages)
    page = text[text.index("Point o2-table-peep05-120"):]
    assert "Channel roles" in page and "o2_flow: o2_flow_lpm" in page
    assert "of O2 drawn at FiO2 24." in page and "Each window's value against time" in page
    assert "measured" in page and "supply_p" in page


def test_analyze_a_steady_point_from_a_trace_file(tmp_path):
    from ventbench.drivers.importers.trace_csv import write_trace_csv
    from ventbench.drivers.sim.cpap import CpapModel, CpapSettings

    trace = CpapModel(CpapSettings(flow_lpm=120, fio2_pct=28.2, cpap_cmh2o=5, fio2_low_pct=4), 100.0).trace(90.0)
    write_trace_csv(tmp_path / "t.csv", trace)
    out = tmp_path / "r.json"
    proc = ventbench("analyze", str(tmp_path / "t.csv"), "--protocol", "cpap", "--point", "o2-table-peep05-120",
                     "--json", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    point = json.loads(out.read_text())["points"][0]
    assert point["mode"] == "steady" and point["verdict"] == "FAIL"
    assert {c["quantity"]: c["verdict"] for c in point["checks"]}["fio2"] == "FAIL"
    assert abs(point["oxygen"]["fio2_pct"] - 24.2) < 0.2
    plot = ventbench("analyze", str(tmp_path / "t.csv"), "--protocol", "cpap", "--point", "o2-min",
                     "--plot", str(tmp_path / "p.png"))
    assert plot.returncode == 3 and "--plot: not for steady points" in plot.stderr


def test_cpap_demo_seeded_defect_with_its_register(tmp_path):
    proc = ventbench("demo", "--cpap", "--point", "o2-min", "--point", "o2-table-peep10-120", "--no-history",
                     "--no-report", "--out", str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    session = next(p for p in tmp_path.iterdir() if p.is_dir())
    results = json.loads((session / "results.json").read_text())
    verdicts = {p["id"]: p["verdict"] for p in results["points"]}
    assert verdicts == {"o2-min": "PASS", "o2-table-peep10-120": "FAIL"}
    fio2 = next(c for c in results["points"][1]["checks"] if c["quantity"] == "fio2")
    assert "missing" not in fio2["uncertainty"]  # the demo register states the O2 analyser's accuracy
    start = json.loads((session / "start.json").read_text())
    assert "FiO2 4 vol % low" in json.dumps(start["dut"])


def test_a_real_port_without_the_channels_exits_3_when_the_point_opens(tmp_path):
    import time

    link = tmp_path / "rig"
    server = subprocess.Popen([sys.executable, "-m", "ventbench", "simulate", "--link", str(link), "--device", "rig"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not link.exists():
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()
            time.sleep(0.05)
        proc = ventbench("run", "cpap", "--point", "o2-min", "--port", str(link), "--driver", "rig",
                         "--no-history", "--no-report", "--out", str(tmp_path / "s"), stdin="\n")
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "fio2 needs channel 'fio2_pct'" in proc.stdout + proc.stderr
        assert "(device channels: flow_lpm, paw_cmh2o)" in proc.stdout + proc.stderr
    finally:
        server.terminate()
        server.communicate(timeout=10)


def test_a_second_rig_channel_serves_as_the_o2_flow_by_role():
    from types import SimpleNamespace

    from ventbench.analysis.gas import GasCondition
    from ventbench.analysis.judgement import JudgementRule
    from ventbench.analysis.trace import Trace
    from ventbench.bench.steady_point import analyze_steady_trace
    from ventbench.drivers.sim.cpap import CpapModel, CpapSettings

    model = CpapModel(CpapSettings(flow_lpm=60, fio2_pct=60), 100.0)
    tr = model.trace(80.0)
    chans = {"fio2_pct": tr.channels["fio2_pct"], "flow2_lpm": tr.channels["o2_flow_lpm"]}  # no o2_flow_lpm
    trace = Trace(tr.t_s, tr.flow_lpm, tr.paw_cmh2o, tr.flow_condition, channels=chans).validated()
    point = parse_protocol(MIXED, "mixed.toml").points[1].to_json()
    config = SimpleNamespace(rule=JudgementRule(), condition=GasCondition.BTPS,
                             budget_context=lambda t: SimpleNamespace(reference=None))
    out = analyze_steady_trace(trace, point, config)
    o2 = next(c for c in out["checks"] if c["quantity"] == "o2_flow")
    assert abs(o2["mean"] - model.steady()["o2_flow"]) < 0.1 and out["channels"]["o2_flow"] == "flow2_lpm"
    point["channels"]["o2_flow"] = "o2_flow_lpm"  # without the role the channel is missing
    missing = analyze_steady_trace(trace, point, config)
    assert "no o2_flow_lpm channel" in next(c for c in missing["checks"] if c["quantity"] == "o2_flow")["reason"]
