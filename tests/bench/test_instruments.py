"""The instrument register, the device declaration and the environment record (bench/instruments.py,
bench/declaration.py, bench/environment.py): parsing with one clear error per bad field, the
traceability check, declared limits by range, environment ranges."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ventbench.analysis.limits import load_limits
from ventbench.bench.declaration import load_declaration
from ventbench.bench.environment import ambient_u, evaluate, phase_record
from ventbench.bench.instruments import load_register, reported_identity, traceability_problems
from ventbench.errors import ConfigError

REGISTER = """
[[instrument]]
name = "flow analyser"
model = "PF-300"
serial = "3012345"
firmware = "4.2.1"
port = "reference"
certificate = "CAL-0042"
lab = "Lab A"
calibrated = 2026-01-10
due = 2027-01-10

[[instrument.uncertainty]]
quantity = "flow"
unit = "L/min"
rel = 0.02
abs = 0.1
k = 2
resolution = 0.01
range = [0.5, 200]

[[instrument.uncertainty]]
quantity = "pressure"
unit = "hPa"
rel = 0.0
abs = 0.2
k = 2
resolution = 0.01

[[instrument]]
name = "thermometer"
model = "T-1"
serial = "T-77"
firmware = "n/a"
port = "none"
certificate = "CAL-0043"
lab = "Lab A"
calibrated = "2026-02-01"
due = "2027-02-01"

[[instrument.uncertainty]]
quantity = "t_amb"
unit = "°C"
rel = 0.0
abs = 0.4
k = 2
resolution = 0.1
"""


def write(tmp_path: Path, text: str, name: str = "register.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_register_parsed_units_converted_and_reference_built(tmp_path):
    reg = load_register(write(tmp_path, REGISTER))
    flow, pressure = reg.reference().accuracies
    assert (flow.measurand, flow.rel, flow.abs, flow.k, flow.range) == ("flow", 0.02, 0.1, 2.0, (0.5, 200.0))
    assert pressure.abs == pytest.approx(0.2 / 0.980665)  # hPa → cmH2O, never equated
    assert "certificate CAL-0042" in flow.source
    inst, unc = reg.ambient("t_amb")
    assert inst.serial == "T-77" and unc.standard(22.0) == pytest.approx(0.2)
    assert type(reg).from_json(reg.to_json()) == reg  # frozen in start.json, rebuilt by replay


@pytest.mark.parametrize(("old", "new", "message"), [
    ("due = 2027-01-10", 'due = "2027-13-01"', "instrument[1] 'flow analyser': due: expected a date YYYY-MM-DD, found '2027-13-01'"),
    ('certificate = "CAL-0042"\n', "", "instrument[1] 'flow analyser': certificate: missing"),
    ("k = 2\nresolution = 0.01\nrange", "k = 0\nresolution = 0.01\nrange", "uncertainty[1]: k: expected > 0, found 0"),
    ("rel = 0.02", "rel = -0.02", "uncertainty[1]: rel: expected ≥ 0 (an uncertainty is never negative), found -0.02"),
    ('unit = "L/min"', 'unit = "mL"', "uncertainty[1]: unit: 'mL' is not a unit of flow"),
    ("k = 2\nresolution = 0.01\nrange", "resolution = 0.01\nrange", "uncertainty[1]: k: missing"),
    ("due = 2027-01-10", "due = 2025-01-10", "due: 2025-01-10 is before the calibration date 2026-01-10"),
])
def test_register_bad_input_is_one_line_naming_file_entry_field(tmp_path, old, new, message):
    path = write(tmp_path, REGISTER.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_register(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_traceability_expired_mismatched_and_matching(tmp_path):
    reg = load_register(write(tmp_path, REGISTER))
    good = {"reference": reported_identity({"serial_number": "3012345", "firmware": "4.2.1"})}
    assert traceability_problems(reg, good, "2026-06-01") == []
    assert traceability_problems(reg, good, "2027-01-11") == [
        "not traceable: certificate CAL-0042 of 'flow analyser' expired on 2027-01-10"]
    assert "dated 2026-02-01, after the session" in traceability_problems(reg, good, "2026-01-20")[0]
    other = {"reference": {"serial": "999", "firmware": "4.2.1"}}
    assert traceability_problems(reg, other, "2026-06-01") == [
        "not traceable: 'flow analyser': the reference port reports serial 999, the register 3012345"]
    anonymous = {"reference": {}}
    assert "reports no serial number" in traceability_problems(reg, anonymous, "2026-06-01")[0]
    channel = load_register(write(tmp_path, REGISTER.replace('port = "reference"', 'port = "reference"\nchannel = "flow"'), "c.toml"))
    rig = reported_identity({"rig_id": "R1", "channels": [{"name": "flow", "serial": "3012345", "calibrated": "2026-01-10"}]})
    assert traceability_problems(channel, {"reference": rig}, "2026-06-01") == []
    rig["channels"]["flow"]["calibrated"] = "2025-01-01"
    assert "reports calibration 2025-01-01, the certificate 2026-01-10" in traceability_problems(
        channel, {"reference": rig}, "2026-06-01")[0]


DECLARATION = """
[device]
name = "Prototype V1"
serial = "SN-1"
firmware = "1.4"
document = "IFU rev 3"

[[accuracy]]
quantity = "vt"
abs = 10
rel = 0.05
unit = "mL"
range = [300, 2000]
source = "table 12-3"

[[accuracy]]
quantity = "peep"
abs = 1.0
rel = 0.0
unit = "hPa"
"""


def test_declaration_is_the_first_source_of_limits_by_range(tmp_path):
    decl = load_declaration(write(tmp_path, DECLARATION, "decl.toml"))
    base = load_limits("iso80601-2-12")
    limits, applied = decl.limits_for({"vt_ml": 500, "peep_cmh2o": 5, "rate_bpm": 20}, "vc", base)
    vt, peep = limits.get("vt"), limits.get("peep")
    assert (vt.abs, vt.rel) == (10.0, 0.05) and "declared by the manufacturer: IFU rev 3, table 12-3" in vt.source
    assert peep.abs == pytest.approx(1.0 / 0.980665) and peep.unit == "cmH2O"
    assert applied["vt"].startswith("declared (IFU rev 3, range 300–2000 mL") and applied["rate"].startswith("protocol")
    small, applied_small = decl.limits_for({"vt_ml": 200, "peep_cmh2o": 5}, "vc", base)
    assert small.get("vt") == base.get("vt") and applied_small["vt"] == "protocol (iso80601-2-12)"
    assert decl.identity_problems({"serial": "SN-2"}) == [
        f"declaration {tmp_path / 'decl.toml'} is for serial SN-1, the device tested has SN-2"]
    assert decl.identity_problems({"serial": "SN-1", "firmware": ""}) == []


@pytest.mark.parametrize(("old", "new", "message"), [
    ('serial = "SN-1"\n', "", "device: serial: missing or not text"),
    ("rel = 0.05", "rel = -0.05", "accuracy[1] 'vt': rel: expected ≥ 0, found -0.05"),
    ('unit = "hPa"', 'unit = "mL"', "accuracy[2] 'peep': unit:"),
    ("abs = 10\n", "", "accuracy[1] 'vt': abs: missing"),
])
def test_declaration_bad_input(tmp_path, old, new, message):
    path = write(tmp_path, DECLARATION.replace(old, new, 1), "decl.toml")
    with pytest.raises(ConfigError, match="^" + str(path).replace("\\", "\\\\")) as info:
        load_declaration(path)
    assert message in str(info.value)


def test_environment_ranges_sources_and_uncertainty(tmp_path):
    reg = load_register(write(tmp_path, REGISTER))
    start = phase_record({"t_amb_degc": 23.0, "rh_pct": 40.0}, reg)
    assert start["t_amb_degc"]["source"] == "entered" and start["t_amb_degc"]["u"] == pytest.approx(0.2)
    assert start["p_amb_hpa"]["source"] == "defaulted" and start["mains_v"]["source"] == "not recorded"
    end = phase_record({"t_amb_degc": 36.5}, reg, defaults=False)
    block = evaluate(start, end, {"t_amb_degc": (15, 35), "rh_pct": (30, 75)})
    assert block["problems"] == ["environment out of range: temperature 36.5 °C at end (entered) outside 15–35 °C (protocol)"]
    assert "relative humidity at end not recorded: range 30–75 % not verified" in block["notes"]
    u = ambient_u(start)
    assert (u.u_t_degc, u.u_p_hpa, u.u_rh_pct) == (pytest.approx(0.2), 30.0, 5.0)
    assert not math.isnan(u.u_t_degc) and "ambient pressure defaulted" in u.source


def test_operator_is_asked_for_what_no_flag_gave():
    from ventbench.bench.evidence import ask_environment

    answers, said = iter(["23.5", "warm", "40", "", "50"]), []
    got = ask_environment("end", {"p_amb_hpa": 1000.0}, ask=lambda prompt: next(answers), say=said.append)
    assert got == {"p_amb_hpa": 1000.0, "t_amb_degc": 23.5, "rh_pct": 40.0, "mains_hz": 50.0}
    assert said == ["  'warm' is not a number"]

    def eof(prompt):
        raise EOFError

    assert ask_environment("start", {}, ask=eof) == {}
