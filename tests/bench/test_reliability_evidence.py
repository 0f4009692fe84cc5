"""Reliability runs with an instrument register, a device declaration and an environment record:
an expired certificate, a serial that is not the register's and an environment out of the
protocol's ranges each turn a passing (short, simulated, time-accelerated) run INCONCLUSIVE;
an override with a reason keeps the PASS and records why; declared limits replace the
protocol's; verify re-derives the same results; a resumed run keeps its evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ventbench.bench.cli import main as cli_main
from ventbench.bench.reliability.analysis import session_results

ROOT = Path(__file__).resolve().parents[2]
DEMO_REGISTER = (ROOT / "bench" / "data" / "demo-instruments.toml").read_text("utf-8")
PORT = "sim://rig?speed=max&seed=4&rate_hz=200"
IN_RANGE = ["--env", "t_amb_degc=22", "--env", "rh_pct=50", "--env", "p_amb_hpa=1000",
            "--env-end", "t_amb_degc=23", "--env-end", "rh_pct=48", "--env-end", "p_amb_hpa=1001"]
# no drift limits: a 5-minute run can pass (drift needs 3 h to be judged)
PROTOCOL = """
[protocol]
id = "rel-evidence"
title = "five-minute reliability run"
limits = "iso80601-2-12"

[protocol.environment]
t_amb_degc = [15, 35]
rh_pct = [30, 75]
p_amb_hpa = [700, 1060]

[[points]]
id = "reliability"
mode = "vc"
set = { vt_ml = 500, rate_bpm = 20, ti_s = 1.0, peep_cmh2o = 5 }
lung = { c_ml_per_hpa = 50, r_hpa_s_per_l = 5, leak_ml_min = 0 }

[reliability]
duration = "5m"
no_data_s = 1.5
status_interval_s = 0.2

[reliability.limits]
vt_ml = [421.0, 579.0]
peep_cmh2o = [2.8, 7.2]
rate_bpm = [19.0, 21.0]
"""
DECLARATION = """
[device]
name = "Prototype V1"
serial = "SN-0001"
document = "IFU rev 3, section 12"

[[accuracy]]
quantity = "vt"
abs = 4.0
rel = 0.05
unit = "mL"
range = [100, 2000]
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("evidence")
    (d / "rel.toml").write_text(PROTOCOL, "utf-8")
    (d / "register.toml").write_text(DEMO_REGISTER, "utf-8")
    (d / "expired.toml").write_text(DEMO_REGISTER.replace("calibrated = 2026-01-01\ndue = 2031-01-01",
                                                          "calibrated = 2019-01-01\ndue = 2020-01-02", 1), "utf-8")
    (d / "serial.toml").write_text(DEMO_REGISTER.replace('serial = "SIM-RIG-01"', 'serial = "SIM-RIG-99"', 1),
                                   "utf-8")
    (d / "declaration.toml").write_text(DECLARATION, "utf-8")
    assert "2020-01-02" in (d / "expired.toml").read_text() and "SIM-RIG-99" in (d / "serial.toml").read_text()
    return d


#: the device tested, as the declaration names it (a PASS needs model, serial and firmware)
IDENTITY = ("--dut", "Prototype V1", "--device-serial", "SN-0001", "--firmware", "fw-1.0")


def _run(files: Path, out: Path, *extra: str) -> tuple[int, Path, dict]:
    code = cli_main(["run", str(files / "rel.toml"), "--port", PORT, "--driver", "rig", "--out", str(out),
                     "--no-report", "--no-history", *IDENTITY, *extra])
    (session,) = out.iterdir()
    return code, session, json.loads((session / "results.json").read_text())


@pytest.fixture(scope="module")
def passing(files, tmp_path_factory):
    return _run(files, tmp_path_factory.mktemp("pass"), "--instruments", str(files / "register.toml"), *IN_RANGE)


def test_a_traceable_run_in_range_passes(passing):
    code, session, doc = passing
    block = doc["reliability"]
    assert code == 0 and doc["verdict"] == block["verdict"] == "PASS", block["reasons"]
    assert doc["instruments"]["traceability"] == "established" and doc["instruments"]["problems"] == []
    assert block["identity"]["0"]["serial"] == "SIM-RIG-01"  # what the rig reported at its handshake
    assert doc["environment"]["problems"] == []
    assert doc["environment"]["end"]["t_amb_degc"]["value"] == 23.0
    start = json.loads((session / "start.json").read_text())
    assert start["analysis"]["register"]["sha256"] == doc["instruments"]["register_sha256"]
    assert start["environment"]["ranges"]["t_amb_degc"] == [15, 35]
    stop = json.loads((session / "stop.json").read_text())
    assert {"environment.json", "start.json", "results.json"} <= set(stop["files"])
    assert cli_main(["verify", str(session)]) == 0


@pytest.mark.parametrize("case, options, expected", [
    ("expired", ["--instruments", "expired.toml"], "certificate SIM-CAL-2026-001 of 'simulated bench rig' "
                                                   "expired on 2020-01-02"),
    ("serial", ["--instruments", "serial.toml"], "reports serial SIM-RIG-01, the register SIM-RIG-99"),
    ("environment", ["--instruments", "register.toml", "--env-end", "t_amb_degc=38"],
     "temperature 38 °C at end (entered) outside 15–35 °C"),
])
def test_a_condition_turns_the_pass_inconclusive(files, tmp_path, case, options, expected):
    opts = [str(files / o) if o.endswith(".toml") else o for o in options]
    code, session, doc = _run(files, tmp_path, *IN_RANGE, *opts)
    block = doc["reliability"]
    assert code == 2 and doc["verdict"] == block["verdict"] == "INCONCLUSIVE"
    assert block["verdict_data"] == "PASS"  # the data alone passed
    assert any(expected in c for c in block["conditions"]), block["conditions"]
    assert any(expected in r for r in block["reasons"])
    assert json.loads((session / "stop.json").read_text())["verdict"] == "INCONCLUSIVE"
    assert cli_main(["verify", str(session)]) == 0  # consistent: the verdict is re-derived
    again = session_results(session)
    assert again["verdict"] == "INCONCLUSIVE" and again["reliability"]["conditions"] == block["conditions"]


def test_an_override_keeps_the_pass_and_records_the_reason(files, tmp_path):
    code, session, doc = _run(files, tmp_path, *IN_RANGE, "--instruments", str(files / "expired.toml"),
                              "--traceability-override", "recalibrated, certificate in the post")
    block = doc["reliability"]
    assert code == 0 and block["verdict"] == "PASS" and "conditions" not in block
    assert block["conditions_overridden"]["reason"] == "recalibrated, certificate in the post"
    assert doc["instruments"]["traceability"] == "overridden: recalibrated, certificate in the post"
    assert cli_main(["verify", str(session)]) == 0


def test_without_a_register_traceability_is_said_not_established(files, tmp_path):
    code, _, doc = _run(files, tmp_path, *IN_RANGE)
    assert code == 0 and doc["verdict"] == "PASS"
    assert doc["instruments"]["traceability"].startswith("traceability not established")


def test_declared_limits_are_the_first_source(files, tmp_path):
    code, session, doc = _run(files, tmp_path, *IN_RANGE, "--instruments", str(files / "register.toml"),
                              "--declaration", str(files / "declaration.toml"))
    block = doc["reliability"]
    assert code == 0 and block["verdict"] == "PASS", block["reasons"]
    assert block["out_of_limit"]["vt_ml"]["limit"] == [471.0, 529.0]  # 500 ± (4 mL + 5 %)
    assert block["limits_applied"]["vt_ml"].startswith("declared (IFU rev 3, section 12, range 100–2000 mL)")
    assert block["limits_applied"]["peep_cmh2o"] == "protocol (rel-evidence)"
    assert block["out_of_limit"]["peep_cmh2o"]["limit"] == [2.8, 7.2]
    assert doc["declaration"]["applied"]["vt_ml"] == [block["limits_applied"]["vt_ml"]]
    assert cli_main(["verify", str(session)]) == 0


def test_tampered_environment_record_fails_verify(passing, tmp_path):
    import shutil

    _, session, _ = passing
    copy = tmp_path / session.name
    shutil.copytree(session, copy)
    env = json.loads((copy / "environment.json").read_text())
    env["end"]["t_amb_degc"]["value"] = 50.0
    (copy / "environment.json").write_text(json.dumps(env))
    assert cli_main(["verify", str(copy)]) == 1


def test_resume_keeps_the_evidence(files, tmp_path, capsys):
    register = str(files / "register.toml")
    silent = "sim://rig?speed=1&rate_hz=100&stall_at_s=2&stall_s=10000"  # stops sending after 2 s
    code = cli_main(["run", str(files / "rel.toml"), "--port", silent, "--driver", "rig", "--out", str(tmp_path),
                     "--no-report", "--no-history", "--instruments", register, *IN_RANGE])
    assert code == 4
    (session,) = tmp_path.iterdir()
    assert cli_main(["run", "reliability", "--port", PORT, "--driver", "rig", "--resume", str(session),
                     "--instruments", register, "--no-report", "--no-history"]) == 3
    assert "fixed at the start" in capsys.readouterr().err
    code = cli_main(["run", "reliability", "--port", PORT, "--driver", "rig", "--resume", str(session),
                     "--no-report", "--no-history", "--env-end", "t_amb_degc=24", "--env-end", "rh_pct=47",
                     "--env-end", "p_amb_hpa=1002"])
    assert code == 2  # the interruption is a data gap
    doc = json.loads((session / "results.json").read_text())
    block = doc["reliability"]
    assert block["segments"] == 2 and "conditions" not in block
    assert doc["instruments"]["traceability"] == "established"
    assert set(block["identity"]) == {"0", "1"}
    env = json.loads((session / "environment.json").read_text())
    assert set(env["end_by_segment"]) == {"0", "1"}
    assert env["end_by_segment"]["0"]["t_amb_degc"]["value"] == 23.0
    assert env["end"]["t_amb_degc"]["value"] == 24.0 == doc["environment"]["end"]["t_amb_degc"]["value"]
    assert doc["environment"]["start"]["t_amb_degc"]["value"] == 22.0
    assert cli_main(["verify", str(session)]) == 0


def test_guarded_rule_is_refused_not_ignored(files, tmp_path, capsys):
    assert cli_main(["run", str(files / "rel.toml"), "--port", PORT, "--driver", "rig", "--out", str(tmp_path),
                     "--no-report", "--no-history", "--decision-rule", "guarded"]) == 3
    assert "not supported for reliability runs" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
