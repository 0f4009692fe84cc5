"""analysis.results.to_jsonable: the column-by-column path gives what value by value gives."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis import results
from ventbench.analysis.results import JsonRows, to_jsonable

floats = st.floats(allow_nan=True, allow_infinity=True)
cells = (st.none() | st.booleans() | st.integers() | floats | st.text(max_size=3)
         | st.tuples(floats, floats) | st.lists(floats, max_size=3) | st.lists(st.text(max_size=2), max_size=2)
         | st.dictionaries(st.text(max_size=2), floats, max_size=2))
keys = st.sampled_from(["a", "b", "c", 1, 2.5])
rows = st.lists(st.dictionaries(keys, cells, max_size=4), min_size=results.TABLE_MIN_ROWS, max_size=30)


def _text(value) -> str:
    return json.dumps(value, allow_nan=False)  # None and the exact floats, key order included


def _one_by_one(value):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(results, "TABLE_MIN_ROWS", math.inf)
        return to_jsonable(value)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_tables_as_one_value_at_a_time(table):
    assert _text(to_jsonable(table)) == _text(_one_by_one(table))


def test_breath_like_columns():
    rng = np.random.default_rng(3)
    table = [{"t_start_s": float(i) * 3.0001, "pplat_cmh2o": None if i % 7 == 0 else float(rng.normal(20, 1)),
              "flags": ("gap",) if i % 5 == 0 else (), "plateau_window_s": None if i % 7 == 0 else
              (float(rng.uniform()), math.nan), "index": i, "vt": np.float64(rng.normal(500, 5))}
             for i in range(200)]
    assert _text(to_jsonable(table)) == _text(_one_by_one(table))


def test_rows_already_made_are_not_made_again():
    made = JsonRows(to_jsonable([{"v": 1 / 3}] * 10))
    assert to_jsonable(made) is made
    assert to_jsonable({"breaths": made})["breaths"] is made
    assert to_jsonable(made, digits=3) == [{"v": 0.333}] * 10  # other digits: converted


@pytest.mark.parametrize("bad", [[{"a": 1}] * 9 + [[1.0]], [{"a": 1.23456789}] * 7])
def test_short_or_mixed_lists_go_value_by_value(bad):
    assert to_jsonable(bad) == [to_jsonable(v) for v in bad]
