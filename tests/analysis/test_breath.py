"""analysis.breath.breaths_to_json: the columns give what Breath.to_json gives breath by breath."""

from __future__ import annotations

import json
import math
from dataclasses import astuple, dataclass, fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis import results
from ventbench.analysis.breath import Breath, breaths_from_columns, breaths_to_json
from ventbench.analysis.results import to_jsonable

floats = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def breaths(draw):
    def one(i):
        return Breath(t_start_s=draw(floats), ti_s=1.0, te_s=2.0, rr_bpm=20.0, ie_ratio=2.0, vti_ml=draw(floats),
                      vte_ml=500.0, pip_cmh2o=25.0, pplat_cmh2o=draw(st.none() | floats), peep_cmh2o=5.0,
                      pmean_cmh2o=10.0, leak_pct=0.0, flags=tuple(draw(st.lists(st.sampled_from(
                          ["gap", "patient_triggered"]), max_size=2))),
                      plateau_window_s=draw(st.none() | st.tuples(floats, floats)), index=i,
                      t_effort_s=draw(st.sampled_from([math.nan, 1.5])), trigger_delay_s=draw(floats))
    return [one(i) for i in range(draw(st.integers(0, 12)))]


def _text(value) -> str:
    return json.dumps(value, allow_nan=True)


@settings(max_examples=200, deadline=None)
@given(breaths())
def test_same_rows_as_to_json(items):
    assert _text(breaths_to_json(items)) == _text([b.to_json() for b in items])


@settings(max_examples=200, deadline=None)
@given(breaths(), st.booleans())
def test_from_columns_are_the_breaths_of_the_rows(items, leave_out_defaults):
    names = [f.name for f in fields(Breath)]
    columns = {name: [getattr(b, name) for b in items] for name in names}
    if leave_out_defaults:  # fields with a default may be omitted: all get the default
        columns.pop("t_effort_s")
        items = [replace(b, t_effort_s=math.nan) for b in items]
    made = breaths_from_columns(columns)
    assert [type(b) for b in made] == [Breath] * len(items)
    assert _text([astuple(b) for b in made]) == _text([astuple(b) for b in items])  # NaN too


def test_from_columns_refuses_unknown_missing_and_ragged_columns():
    full = {f.name: [getattr(Breath(*[0.0] * 12), f.name)] * 2 for f in fields(Breath)}
    for bad, match in (({**full, "vt": [1.0, 2.0]}, "unknown"), ({k: v for k, v in full.items() if k != "ti_s"}, "missing"),
                       ({**full, "ti_s": [1.0]}, "unequal")):
        with pytest.raises(ValueError, match=match):
            breaths_from_columns(bad)


@settings(max_examples=200, deadline=None)
@given(breaths())
def test_rounded_rows_as_rounding_each_row(items):
    rows = breaths_to_json(items, convert=results._rounded_column)
    assert _text(rows) == _text([to_jsonable(b.to_json()) for b in items])


def test_mixed_classes_go_breath_by_breath():
    @dataclass(frozen=True, slots=True)
    class Tagged(Breath):
        tag: str = "x"

    base = Breath(0.0, 1.0, 2.0, 20.0, 2.0, 1 / 3, 500.0, 25.0, None, 5.0, 10.0, 0.0)
    items = [base, Tagged(*astuple(base)[:13])]
    assert breaths_to_json(items) == [b.to_json() for b in items]
    rows = breaths_to_json(items, convert=results._rounded_column)
    assert rows[1]["tag"] == "x" and rows[0]["vti_ml"] == rows[1]["vti_ml"] == 0.3333333


def test_trigger_fields_only_where_finite_and_last():
    base = Breath(0.0, 1.0, 2.0, 20.0, 2.0, 500.0, 500.0, 25.0, None, 5.0, 10.0, 0.0)
    rows = breaths_to_json([base, replace(base, t_effort_s=0.9, trigger_delay_s=0.1)])
    assert "t_effort_s" not in rows[0]
    assert list(rows[1])[-2:] == ["t_effort_s", "trigger_delay_s"]
    assert rows[0]["pplat_cmh2o"] is None and all(map(math.isnan, rows[0]["peep_window_s"]))  # as to_json
