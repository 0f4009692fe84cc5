"""bench.json_text: the very text json.dumps(indent=2) writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.bench.json_text import dumps_indent2
from ventbench.bench.session import _json_default, dumps

from tests.bench.json_reference import reference_dumps

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text())
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.tuples(children, children)
    | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_same_text_as_json_dumps(document):
    assert dumps_indent2(document) == json.dumps(document, indent=2, allow_nan=False)


@given(st.dictionaries(st.integers() | st.booleans() | st.none()
                       | st.floats(allow_nan=False, allow_infinity=False), st.integers(), max_size=4))
def test_non_string_keys_as_json_dumps(document):
    assert dumps_indent2(document) == json.dumps(document, indent=2, allow_nan=False)


def test_default_and_errors_as_json_dumps():
    document = {"p": Path("a/b"), "s": {3}, "ok": [1, {"x": frozenset()}]}
    assert dumps_indent2(document, default=_json_default) == json.dumps(
        document, indent=2, default=_json_default, allow_nan=False)
    for bad in (math.nan, [1.0, math.inf], {"k": -math.inf}):
        with pytest.raises(ValueError):
            dumps_indent2(bad)
    with pytest.raises(TypeError):
        dumps_indent2({"k": object()})
    with pytest.raises(TypeError):
        dumps_indent2({(1, 2): 1})


def test_session_dumps_nan_as_null_unicode_escaped():
    text = dumps({"a": math.nan, "t": "23 °C", "n": [1.5, None]})
    assert text == json.dumps({"a": None, "t": "23 °C", "n": [1.5, None]}, indent=2) + "\n"
    assert "\\u00b0" in text


table_cells = (scalars | st.floats(allow_nan=False, allow_infinity=False) | st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3)
               | st.lists(st.text(max_size=3), max_size=2) | st.lists(scalars, max_size=2)
               | st.dictionaries(st.text(max_size=2), scalars, max_size=2))
tables = st.lists(st.dictionaries(st.sampled_from(["a", "b", "é", "c", "%s", "100%"]), table_cells, max_size=4),
                  min_size=8, max_size=25)


@settings(max_examples=300, deadline=None)
@given(tables, st.integers(0, 2))
def test_tables_of_dicts_same_text_as_json_dumps(table, depth):
    """A list of ≥ 8 dicts is written column by column: the same text, at any depth."""
    document = table
    for _ in range(depth):
        document = {"points": [document]}
    assert dumps_indent2(document) == json.dumps(document, indent=2, allow_nan=False)


def test_table_with_a_non_finite_value_raises_or_writes_null():
    table = [{"v": 1.0}] * 8 + [{"v": math.nan}]
    with pytest.raises(ValueError):
        dumps_indent2(table)
    assert json.loads(dumps_indent2(table, nan_as_null=True))[-1] == {"v": None}


lenient = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda children: st.lists(children, max_size=9) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=2) | st.integers() | st.booleans() | st.none(), children, max_size=4),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(lenient)
def test_session_dumps_as_cleaning_then_json_dumps(document):
    """NaN and ±inf as null, every key as str(key): what cleaning the document first gave."""
    assert dumps(document) == reference_dumps(document)


def test_session_dumps_numpy_scalars_as_items():
    import numpy as np

    document = {"f": np.float64(math.nan), "g": np.float32(1.5), "i": np.int64(3), "b": np.bool_(True),
                "rows": [{"x": np.float64(0.1), "n": np.float64(math.inf)}] * 9}
    assert dumps(document) == reference_dumps(document)
