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
