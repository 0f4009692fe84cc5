"""Limits as data: built-in sets, validation messages, device profiles, units."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ventbench.analysis.limits import (
    BUILTIN_LIMITS,
    CONFIDENCES,
    QUANTITY_UNITS,
    LimitSet,
    Tolerance,
    load_limits,
)
from ventbench.errors import ConfigError
from ventbench.units import HPA_PER_CMH2O


@pytest.mark.parametrize("name", BUILTIN_LIMITS)
def test_builtin_sets_load_with_source_and_confidence(name: str) -> None:
    limits = load_limits(name)
    assert limits.tolerances
    for quantity, tol in limits.tolerances.items():
        assert quantity in QUANTITY_UNITS
        assert tol.confidence in CONFIDENCES
        assert len(tol.source) > 20
        assert tol.unit  # explicit unit everywhere
        canonical = limits.get(quantity)
        assert canonical.unit == QUANTITY_UNITS[quantity]


def test_default_is_iso_80601_2_12_with_standards_numbers() -> None:
    limits = load_limits()
    assert limits.id == "iso80601-2-12"
    vt = limits.get("vt")
    assert (vt.abs, vt.rel, vt.unit, vt.applies_above, vt.confidence) == (4.0, 0.15, "mL", 50.0, "consistent")
    assert "Mechanical Ventilator Milano" in vt.source and "Trilogy" in vt.source
    peep = limits.get("peep")
    assert (peep.abs, peep.rel, peep.unit) == (2.0, 0.04, "cmH2O")
    assert (limits.get("pinsp").abs, limits.get("pinsp").rel) == (2.0, 0.04)
    rate = limits.get("rate")
    assert (rate.abs, rate.rel, rate.confidence) == (1.0, 0.10, "confirmed")
    ti = limits.get("ti")
    assert (ti.abs, ti.rel, ti.unit) == (0.1, 0.0, "s")
    assert limits.get("vte").confidence == "unconfirmed" and limits.get("vte").of == "actual"
    assert limits.get("fio2").confidence == "unconfirmed"
    assert limits.get("ie") is None


def test_rmvs_caps_and_vt_band() -> None:
    rmvs = load_limits("rmvs")
    vt = rmvs.get("vt")
    assert (vt.abs, vt.rel, vt.confidence) == (10.0, 0.0, "confirmed")
    pplat = rmvs.get("pplat")
    assert pplat.is_cap and not pplat.is_band and pplat.max == 35.0
    pip = rmvs.get("pip")
    assert (pip.max, pip.max_over, pip.max_over_by) == (40.0, "pplat", 2.0)
    assert pip.describe() == "≤ 40 cmH2O, ≤ pplat + 2 cmH2O"


def test_iso_80601_2_80_pressure_clause_is_quoted() -> None:
    limits = load_limits("iso80601-2-80")
    assert "201.12.4.101.1 c)" in limits.get("pinsp").source
    assert limits.get("vt").confidence == "unconfirmed"


def test_limit_band_and_applies() -> None:
    vt = load_limits().get("vt")
    assert vt.limit(500.0) == pytest.approx(79.0)
    assert vt.limit(-500.0) == pytest.approx(79.0)
    assert not vt.applies_to(50.0) and vt.applies_to(50.1)
    assert vt.to_json()["abs"] == 4.0 and vt.to_json()["confidence"] == "consistent"


def test_hpa_tolerance_is_converted_not_equated() -> None:
    tol = Tolerance("peep", 2.0, 0.05, "hPa", "x", "confirmed")
    c = tol.canonical()
    assert c.unit == "cmH2O"
    assert c.abs == pytest.approx(2.0 / HPA_PER_CMH2O)
    assert c.abs != 2.0
    assert c.rel == 0.05
    assert "converted" in c.note


def test_example_device_profile_overrides_quantity_by_quantity() -> None:
    profile = load_limits("example-device", resolve_base=False)
    assert profile.base == "iso80601-2-12" and set(profile.tolerances) == {"vt", "peep", "pinsp"}
    merged = load_limits("example-device")
    assert merged.id == "iso80601-2-12+example-device"
    assert merged.get("vt").abs == 10.0 and merged.get("vt").rel == 0.10
    assert merged.get("peep").abs == pytest.approx(2.0 / HPA_PER_CMH2O)
    assert merged.get("rate") == load_limits().get("rate")  # untouched quantities keep the base
    assert "Example Vent X1" in merged.get("vt").source
    assert any("overridden by profile" in n for n in merged.notes)
    # the same through the method, with an in-memory profile
    mine = LimitSet("mine", "My device", {"ti": Tolerance("ti", 0.05, 0.0, "s", "IFU p. 3", "confirmed")})
    over = load_limits("rmvs").overridden_by(mine)
    assert over.get("ti").abs == 0.05 and over.get("pplat").max == 35.0


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text('[limits]\nid = "dev"\ntitle = "Dev"\n' + body, encoding="utf-8")
    return path


GOOD = '[tolerances.vt]\nabs = 5.0\nrel = 0.1\nunit = "mL"\nsource = "IFU"\nconfidence = "confirmed"\n'


def test_user_file_loads(tmp_path: Path) -> None:
    limits = load_limits(_write(tmp_path, GOOD))
    assert limits.get("vt").abs == 5.0 and limits.origin.endswith("device.toml")
    with_base = load_limits(_write(tmp_path, 'base = "rmvs"\n' + GOOD))
    assert with_base.get("vt").abs == 5.0 and with_base.get("pplat").max == 35.0


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        (GOOD + "bogus = 1\n", "tolerances.vt.bogus", "unknown key"),
        (GOOD.replace("abs = 5.0\n", ""), "tolerances.vt.abs", "missing"),
        (GOOD.replace("rel = 0.1\n", ""), "tolerances.vt.rel", "missing"),
        (GOOD.replace("abs = 5.0", "abs = -5.0"), "tolerances.vt.abs", "≥ 0"),
        (GOOD.replace('"confirmed"', '"probably"'), "tolerances.vt.confidence", "expected one of"),
        (GOOD.replace('unit = "mL"', 'unit = "cmH2O"'), "tolerances.vt.unit", "not a unit of vt"),
        (GOOD.replace("[tolerances.vt]", "[tolerances.vtx]"), "tolerances.vtx", "unknown quantity"),
        (GOOD.replace('source = "IFU"\n', ""), "tolerances.vt.source", "missing"),
        (GOOD.replace("abs = 5.0", 'abs = "5"'), "tolerances.vt.abs", "finite number"),
    ],
)
def test_validation_errors_name_file_and_key(tmp_path: Path, body: str, key: str, words: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_limits(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert words in message


def test_invalid_toml_and_unknown_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "[tolerances.vt\n")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + r".*line 4"):
        load_limits(path)
    with pytest.raises(ConfigError, match="not a built-in set"):
        load_limits("iso-nonsense")
