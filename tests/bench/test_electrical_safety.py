"""Electrical-safety record (bench/electrical_safety.py): refusal with the field named, IEC 62353 limits."""

from __future__ import annotations

import pytest

from ventbench.bench.electrical_safety import judge_record, load_record, parse_record
from ventbench.bench.instruments import Instrument, Register
from ventbench.errors import ConfigError

RECORD = '''
[record]
analyser = "ESA615"
analyser_serial = "1234567"
standard = "IEC 62353"
method = "direct"
equipment_class = "I"
applied_part = "BF"
date = "2026-12-05"

[readings]
protective_earth_ohm = 0.12
equipment_leakage_ua = 210
patient_leakage_ua = 35
'''


def write(tmp_path, text):
    path = tmp_path / "esa.toml"
    path.write_text(text)
    return path


def test_pass_and_fail_against_iec62353(tmp_path):
    judged = judge_record(load_record(write(tmp_path, RECORD)))
    assert judged["verdict"] == "PASS" and len(judged["checks"]) == 3
    assert all(c["limit"]["confidence"] == "unconfirmed" for c in judged["checks"])
    bad = judge_record(load_record(write(tmp_path, RECORD.replace("= 0.12", "= 0.45"))))
    assert bad["verdict"] == "FAIL" and "protective_earth_ohm: 0.45 Ω above the limit 0.3 Ω" in bad["reason"]
    cf = judge_record(load_record(write(tmp_path, RECORD.replace('"BF"', '"CF"').replace("= 35", "= 60"))))
    assert cf["verdict"] == "FAIL" and "patient_leakage_ua" in cf["reason"]


@pytest.mark.parametrize("edit,message", [
    (("patient_leakage_ua = 35\n", ""), "readings.patient_leakage_ua: missing reading"),
    (("= 210", "= -3"), "readings.equipment_leakage_ua: out of range"),
    (("= 210", '= "210 uA"'), "readings.equipment_leakage_ua: expected a number in µA"),
    (("= 0.12", "= 120"), "readings.protective_earth_ohm: out of range"),
    (('"direct"', '"guess"'), "record.method: expected one of direct, differential, alternative"),
    (('analyser_serial = "1234567"\n', ""), "record.analyser_serial: missing"),
    (("patient_leakage_ua", "touch_current_ua"), "readings.touch_current_ua: unknown reading"),
])
def test_refused_with_the_field_named(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_record(write(tmp_path, RECORD.replace(*edit)))
    assert str(info.value).startswith(str(tmp_path / "esa.toml"))


def test_class_ii_needs_no_earth_and_analyser_must_be_registered():
    data = {"record": {"analyser": "ESA615", "analyser_serial": "9", "standard": "IEC 62353", "method": "direct",
                       "equipment_class": "II", "applied_part": "BF", "date": "2026-12-05"},
            "readings": {"equipment_leakage_ua": 90, "patient_leakage_ua": 10}}
    record = parse_record(data, "x")
    register = Register("reg.toml", (Instrument("FlowAnalyser", "PF-300", "1", "", "C-1", "lab", "2026-01-01",
                                                "2027-01-01"),))
    judged = judge_record(record, register)
    assert judged["verdict"] == "INCONCLUSIVE" and "not in the instrument register" in judged["reason"]
    assert judge_record(record)["verdict"] == "PASS"
