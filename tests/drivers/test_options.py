"""drivers/options.py and each driver's option dataclass: parsed once, errors name the option,
and a session's plain ``driver_options`` dict round-trips."""

from __future__ import annotations

import json

import pytest

from ventbench.drivers.imt import ImtDriver, ImtOptions
from ventbench.drivers.lines import LinesDriver, LinesOptions
from ventbench.drivers.pirds import PirdsOptions
from ventbench.drivers.registry import DRIVERS, driver_class, driver_options, make_driver
from ventbench.drivers.rig import RigDriver, RigOptions
from ventbench.drivers.tsi import TsiOptions
from ventbench.errors import ConfigError


def test_command_line_text_becomes_typed_values():
    opts = driver_options("imt", [("fast_fields", "0,4,9"), ("signed", "no"), ("vt_scale_ml", "0.1")])
    assert opts == ImtOptions(fast_fields=(0, 4, 9), signed=False, vt_scale_ml=0.1)
    lines = driver_options("lines", {"units": "flow:l/s,paw:mbar", "separator": "none",
                                     "columns": "flow,paw", "fs_hz": "100"})
    assert lines.units == {"flow": "l/s", "paw": "mbar"} and lines.separator is None
    assert LinesDriver(lines).columns == ["flow", "paw"]


@pytest.mark.parametrize(("name", "pairs", "words"), [
    ("imt", {"fast_fields": "0,4"}, "fast_fields: expected 3 measurement ids"),
    ("imt", {"fast_fields": "0,x,9"}, "fast_fields: expected an integer"),
    ("imt", {"bogus": "1"}, "bogus: unknown option (known: byteorder,"),
    ("rig", {"rate_hz": "0"}, "rate_hz: expected 1 ≤ value ≤ 5000"),
    ("rig", {"hello_timeout_s": "inf"}, "hello_timeout_s: expected a finite number"),
    ("tsi", {"interval_ms": "2000"}, "interval_ms: expected 1 ≤ value ≤ 1000"),
    ("tsi", {"gas": "helium"}, "gas 'helium'"),
    ("pirds", {"stale_ms": "-1"}, "stale_ms"),
    ("lines", {"header": "maybe"}, "header: expected 1/0"),
    ("lines", {"time_column": "none"}, "give time_column or a positive fs_hz"),
])
def test_bad_options_are_config_errors_naming_the_option(name, pairs, words):
    with pytest.raises(ConfigError, match="--option") as info:
        driver_options(name, pairs)
    assert words in str(info.value)


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_options_round_trip_through_a_json_session_file(name):
    cls = driver_class(name)
    opts = cls.Options()
    stored = json.loads(json.dumps(opts.to_dict()))
    assert cls.Options.from_dict(stored) == opts
    assert make_driver(name, stored).opts == opts


def test_old_sessions_plain_dicts_still_build_drivers():
    # start.json of earlier versions: numbers from run, strings from record
    assert make_driver("rig", **{"rate_hz": 200}).rate_hz == 200
    assert make_driver("rig", **{"rate_hz": "200"}).rate_hz == 200
    assert RigDriver(rate_hz=500).opts == RigOptions(rate_hz=500)
    assert ImtDriver(fast_fields=[0, 4, 9]).fast_fields == (0, 4, 9)
    assert TsiOptions.from_dict({"units": "v", "mode": "c"}).units == "V"
    assert PirdsOptions.from_dict({"period_ms": 10}).period_ms == 10.0


def test_every_option_is_documented():
    for cls in (RigOptions, ImtOptions, TsiOptions, PirdsOptions, LinesOptions):
        for line in cls.describe():
            assert line.split(": ", 1)[1].strip(), line
