"""The one number formatter: every rule on values whose text is known."""

from __future__ import annotations

import math

import pytest

from ventbench.bench.numbers import MINUS, decimals_for, format_number


@pytest.mark.parametrize(("value", "kwargs", "text"), [
    (597.61, {}, "597.6"),
    (0.0123, {"decimals": 3}, "0.012"),
    (30, {}, "30"),
    (30, {"decimals": 2}, "30.00"),
    (4.0, {"trim": True}, "4"),
    (1.5e-05, {"digits": 3, "trim": True}, "1.5e-05"),
    (0.4, {"decimals": 1, "sign": True}, "+0.4"),
    (-0.0001, {"decimals": 2}, "0.00"),
    (-0.0001, {"decimals": 2, "sign": True}, "+0.00"),
    (-1.25, {"decimals": 2, "minus": MINUS, "decimal_sep": ","}, MINUS + "1,25"),
    (None, {}, "—"),
    (math.nan, {}, "—"),
    (math.inf, {"missing": "-"}, "-"),
    ("n/a", {}, "n/a"),
])
def test_known_texts(value, kwargs, text):
    assert format_number(value, **kwargs) == text


def test_decimals_follow_significant_digits_and_are_capped():
    assert decimals_for(597.61, 4) == 1
    assert decimals_for(0.000012345, 4) == 6
    assert decimals_for(12345.0, 4) == 0
    assert decimals_for(0.0) == 0 and decimals_for(math.nan) == 0
