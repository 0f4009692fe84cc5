"""drivers.importers.decimal_text: plain decimals parsed as integers give ``float()``'s
doubles bit for bit, or None — never another number."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ventbench.drivers.importers.decimal_text import parse_decimal_rows


def bits(values) -> bytes:
    return np.asarray(values, dtype=np.float64).tobytes()


#: a plain decimal as recorders write it: [spaces][-]digits[.digits], ≤ 15 digits
PLAIN = st.builds(
    lambda spaces, sign, whole, point, fraction: spaces + sign + whole + point + fraction,
    st.sampled_from(["", "", " ", "  "]),
    st.sampled_from(["", "", "-"]),
    st.text("0123456789", min_size=1, max_size=8),
    st.sampled_from([".", ".", ""]),
    st.text("0123456789", min_size=0, max_size=7),
)
#: anything else a file may hold in a field
ODD = st.sampled_from(["1e3", "1E-2", "inf", "-nan", "", " ", "1.0 ", "\t1.5", "1_0", "1.2.3",
                       "--1", "- 1", "+-1", "+1.5", ".", "-.", "1-2", "0x10", "12345678901234567890",
                       "9007199254740993", "900719925474099.3", "1.000000000000000001", "١"])


def _rows(fields: list[str], columns: int, comma: str) -> str:
    rows = [comma.join(fields[i:i + columns]) for i in range(0, len(fields) - columns + 1, columns)]
    return "".join(row + "\n" for row in rows)


def _floats(text: str) -> list[float] | None:
    try:
        return [float(f) for line in text.splitlines() for f in line.split(",")]
    except ValueError:
        return None


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 4), st.lists(PLAIN, min_size=1, max_size=40), st.sampled_from([",", ", "]))
@example(2, ["-0.00", "0.10", "-0", "0.0"], ", ")
@example(1, ["999999999999999", "-0.000000000000001", "9007199254740992"], ",")
def test_plain_decimals_are_float_bit_for_bit(columns, fields, comma):
    fields = fields * columns  # at least one whole row
    text = _rows(fields, columns, comma)
    got = parse_decimal_rows(text.encode("ascii"), columns)
    assert got is not None, text
    assert got.shape == (text.count("\n"), columns)
    assert got.tobytes() == bits(_floats(text))  # sign of zero included


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 3), st.lists(PLAIN | PLAIN | ODD, min_size=1, max_size=30),
       st.sampled_from([",", ", ", " ,"]))
def test_anything_else_is_none_or_the_same_doubles(columns, fields, comma):
    text = _rows(fields, columns, comma)
    try:
        body = text.encode("ascii")
    except UnicodeEncodeError:
        body = text.encode("utf-8")
    got = parse_decimal_rows(body, columns)
    if got is None:
        return  # the caller's general parser decides
    expected = _floats(text)
    assert expected is not None, f"parsed text float() rejects: {text!r}"
    assert got.tobytes() == bits(expected), text


@pytest.mark.parametrize("body, columns", [
    (b"1.0, 2.0\n3.0\n", 2),          # a short row
    (b"1.0, 2.0, 3.0\n", 2),          # a long row
    (b"1.0, 2.0", 2),                 # no final newline
    (b"1.0,,2.0\n", 3),               # an empty field
    (b"1.0 , 2.0\n", 2),              # space before the separator
    (b"1.0, 2.0\r\n", 2),             # a carriage return
    (b"1.5e3, 2\n", 2),               # an exponent
    (b"+1.5, 2\n", 2),                # a plus sign (float() takes it; left to the general parser)
    (b"- 1, 2\n", 2),                 # a sign apart from its digits
    (b"nan, 2\n", 2),
    (b"1.2.3, 4\n", 2),               # two points
    (b"0.1.25\n7\n", 1),              # two points in one field, none in the next: as many
    (b"1.25, 12.5\n3.7.5, 6\n", 2),    # points as fields, one where a fixed 2 decimals are
    (b"12345678901234567890, 1\n", 2),  # would saturate int64
    (b"9007199254740993, 1\n", 2),    # above 2**53: not an exact double
    (b"", 2),
])
def test_unusual_text_returns_none(body, columns):
    assert parse_decimal_rows(body, columns) is None


def test_known_values():
    got = parse_decimal_rows(b"0.87, 7.04\n-12.5, 9.8\n-0.00, .5\n3, -.25\n", 2)
    assert got.tolist() == [[0.87, 7.04], [-12.5, 9.8], [0.0, 0.5], [3.0, -0.25]]
    assert math.copysign(1.0, got[2, 0]) == -1.0 and math.copysign(1.0, got[3, 0]) == 1.0


#: a field with exactly ``decimals`` digits after its point (the fixed-decimals path)
def _fixed(decimals: int):
    return st.builds(
        lambda spaces, sign, whole, fraction: f"{spaces}{sign}{whole}.{fraction}",
        st.sampled_from(["", " "]), st.sampled_from(["", "-"]),
        st.text("0123456789", min_size=0 if decimals else 1, max_size=6),
        st.text("0123456789", min_size=decimals, max_size=decimals),
    ).filter(lambda f: f.strip(" -") != ".")


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3), st.integers(0, 6).flatmap(lambda d: st.lists(_fixed(d), min_size=1, max_size=30)),
       st.sampled_from([",", ", "]), st.sampled_from([None, "7", "-0", "1.5", "2.25.", "-.0"]))
@example(2, ["-0.00", "0.00", "-.00", "12.00"], ", ", None)
@example(1, ["5.", "-0.", "12."], ",", None)
def test_fixed_decimals_are_float_bit_for_bit(columns, fields, comma, odd_one):
    """Every field with the same number of decimals (the usual recording), or all but one:
    float()'s doubles, bit for bit, or None where float() refuses the text."""
    fields = fields * columns
    if odd_one is not None:
        fields[len(fields) // 2] = odd_one
    text = _rows(fields, columns, comma)
    got = parse_decimal_rows(text.encode("ascii"), columns)
    expected = _floats(text)
    if got is None:
        assert odd_one == "2.25." or expected is None, text
        return
    assert got.tobytes() == bits(expected), text
