"""bench/args.py: the one grammar of command-line values, with known-truth cases and
hypothesis properties (a duration written any way gives its seconds; bad text never passes)."""

from __future__ import annotations

import argparse
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ventbench.bench.args import (
    as_dict,
    duration,
    key_value,
    number,
    parse_clock,
    parse_duration_s,
    parse_interval,
    parse_key_value,
    parse_number,
)
from ventbench.errors import ConfigError


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("90s", 90.0), ("1m30s", 90.0), ("15m", 900.0), ("24h", 86400.0),
    ("14d", 14 * 86400.0), ("1d12h", 1.5 * 86400.0), ("250ms", 0.25), ("1.5h", 5400.0),
    ("2h30m15s", 9015.0), ("1s500ms", 1.5), (" 5 m ", 300.0), ("10min", 600.0), (45, 45.0),
])
def test_durations_with_any_unit_combination(text, seconds):
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [
    "", "inf", "nan", "-5m", "0", "0s", "3w", "h", "1m30", "30s1m", "1h1h", "soon", "1e9999",
    float("inf"), float("nan"), -1.0, True,
])
def test_bad_durations_are_refused(text):
    with pytest.raises(ConfigError, match="duration"):
        parse_duration_s(text)


def test_zero_only_where_it_means_something():
    assert parse_duration_s("0s", allow_zero=True) == 0.0
    with pytest.raises(ConfigError, match="non-negative"):
        parse_duration_s(-1.0, allow_zero=True)


@given(st.integers(0, 30), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
       st.integers(0, 999))
def test_duration_property(d, h, m, s, ms):
    parts = [(d, "d"), (h, "h"), (m, "m"), (s, "s"), (ms, "ms")]
    text = "".join(f"{v}{u}" for v, u in parts if v)
    total = d * 86400 + h * 3600 + m * 60 + s + ms / 1000
    if total == 0:
        with pytest.raises(ConfigError):
            parse_duration_s(text or "0")
    else:
        assert parse_duration_s(text) == pytest.approx(total)


@given(st.text(max_size=12))
def test_duration_never_crashes_and_is_finite_and_positive(text):
    try:
        value = parse_duration_s(text)
    except ConfigError:
        return
    assert math.isfinite(value) and value > 0


def test_numbers_in_range():
    assert parse_number("5", lo=0, hi=10) == 5.0
    assert parse_number("3", integer=True) == 3
    for bad, kw in [("inf", {}), ("nan", {}), ("-1", {"lo": 0}), ("0", {"lo": 0, "lo_open": True}),
                    ("11", {"hi": 10}), ("2.5", {"integer": True}), ("x", {})]:
        with pytest.raises(ConfigError):
            parse_number(bad, **kw)


def test_key_values_typed_and_known():
    assert parse_key_value("vt_ml=500", keys=("vt_ml",), value=float) == ("vt_ml", 500.0)
    assert parse_key_value(" a = b ") == ("a", "b")
    with pytest.raises(ConfigError, match=r"unknown key 'tidal' \(known: vt_ml\)"):
        parse_key_value("tidal=1", keys=("vt_ml",))
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_key_value("vt_ml")
    with pytest.raises(ConfigError, match="'vt_ml=-1'.*expected ≥ 0"):
        parse_key_value("vt_ml=-1", value=number(0.0))
    assert as_dict([("a", 1), ("b", 2), ("a", 3)]) == {"a": 3, "b": 2}


def test_intervals_and_clock():
    assert parse_interval("380:520") == (380.0, 520.0)
    for bad in ("520:380", "1", "a:b", "1:inf"):
        with pytest.raises(ConfigError):
            parse_interval(bad)
    assert parse_clock("host") == "host" and parse_clock("-0.25") == -0.25
    with pytest.raises(ConfigError, match="host, device or an offset"):
        parse_clock("gps")


def test_type_functions_are_usage_errors_naming_the_option(capsys):
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--duration", type=duration)
    parser.add_argument("--set", type=key_value(("vt_ml",), number(0.0)), action="append")
    assert parser.parse_args(["--duration", "1m30s"]).duration == 90.0
    for argv, words in ((["--duration", "inf"], "argument --duration: duration 'inf'"),
                        (["--set", "vt_ml=-500"], "argument --set: 'vt_ml=-500'")):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert words in capsys.readouterr().err


def test_env_help_names_every_ambient_quantity():
    from ventbench.bench.args import ENV_QUANTITIES
    from ventbench.bench.environment import QUANTITIES

    assert ENV_QUANTITIES == tuple(QUANTITIES)
