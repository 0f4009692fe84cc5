"""One TOML reader and declarative check: every error names file, line and key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.limits import load_limits
from ventbench.bench.protocol import load_protocol
from ventbench.bench.reliability.config import load_reliability
from ventbench.errors import ConfigError
from ventbench.tomlfile import Key, TomlFile, check_table

PROTOCOL = """\
[protocol]
id = "mine"
title = "A protocol"

[[points]]
id = "a"
mode = "vc"
set = { vt_ml = 500, rate_bpm = 20, ti_s = 1.0, peep_cmh2o = 5 }
lung = { c_ml_per_hpa = 50, r_hpa_s_per_l = 5 }

[[points]]
id = "b"
mode = "vc"
set = { vt_ml = 400, rate_bpm = 20, ti_s = 1.0, peep_cmh2o = 5 }
lung = { c_ml_per_hpa = 50, r_hpa_s_per_l = 5 }
"""

LIMITS = """\
[limits]
id = "dev"
title = "Device"

[tolerances.vt]
abs = 4
rel = 0.15
unit = "mL"
source = "IFU"
confidence = "confirmed"
"""

RELIABILITY = PROTOCOL.split("\n[[points]]\nid = \"b\"")[0] + """
[reliability]
duration = "1h"

[reliability.limits]
vt_ml = [450, 550]
peep_cmh2o = [4, 6]
"""


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def _error(load, path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    return str(info.value)


@pytest.mark.parametrize(("text", "old", "new", "key"), [
    (PROTOCOL, 'mode = "vc"\nset = { vt_ml = 400', 'mode = "vcx"\nset = { vt_ml = 400', "mode"),
    (PROTOCOL, 'id = "b"', 'id = "b"\nrows = 3', "rows"),
    (PROTOCOL, 'title = "A protocol"', 'title = "A protocol"\nmeasure_breaths = 0',
     "measure_breaths"),
    (PROTOCOL, "vt_ml = 400", "vt_ml = -400", "vt_ml"),
])
def test_protocol_errors_name_the_line_of_the_key(tmp_path, text, old, new, key):
    path = tmp_path / "p.toml"
    path.write_text(text.replace(old, new, 1))
    message = _error(load_protocol, path)
    line = _line_of(path, new.splitlines()[-1] if key != "mode" else 'mode = "vcx"')
    assert message.startswith(f"{path}:{line}: "), message
    assert key in message


@pytest.mark.parametrize(("old", "new", "key", "words"), [
    ('confidence = "confirmed"', 'confidence = "sure"', "confidence", "expected one of"),
    ("rel = 0.15", "rel = -0.15", "rel", "≥ 0"),
    ('unit = "mL"', 'unit = "mL"\nspan = 3', "span", "unknown key"),
    ("abs = 4", 'abs = "4"', "abs", "finite number"),
])
def test_limits_errors_name_the_line_of_the_key(tmp_path, old, new, key, words):
    path = tmp_path / "l.toml"
    path.write_text(LIMITS.replace(old, new, 1))
    message = _error(load_limits, path)
    assert message.startswith(f"{path}:{_line_of(path, new.splitlines()[-1])}: "), message
    assert f"tolerances.vt.{key}" in message and words in message


@pytest.mark.parametrize(("old", "new", "key"), [
    ("vt_ml = [450, 550]", "vt_ml = [550, 450]", "reliability.limits.vt_ml"),
    ("peep_cmh2o = [4, 6]", "peep_cmh2o = [4, 6]\nfio2 = [20, 30]", "reliability.limits.fio2"),
    ('duration = "1h"', 'duration = "1 fortnight"', "reliability.duration"),
    ('duration = "1h"', 'duration = "1h"\nstall_s = 0', "reliability.stall_s"),
])
def test_reliability_errors_name_the_line_of_the_key(tmp_path, old, new, key):
    path = tmp_path / "r.toml"
    path.write_text(RELIABILITY.replace(old, new, 1))
    message = _error(load_reliability, path)
    assert message.startswith(f"{path}:{_line_of(path, new.splitlines()[-1])}: "), message
    assert key in message


def test_invalid_toml_names_its_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(PROTOCOL.replace('title = "A protocol"', "title = A protocol"))
    assert re.match(rf"{re.escape(str(path))}:3: invalid TOML", _error(load_protocol, path))


def test_a_document_without_text_names_the_key_without_a_line():
    toml = TomlFile.of_data({"t": {"x": "1"}}, "results.json")
    with pytest.raises(ConfigError, match=r"^results.json: t.x: expected a finite number, found '1'$"):
        check_table(toml, toml.data["t"], {"x": Key("number")}, "t", "t")


@pytest.mark.parametrize(("key", "value", "problem"), [
    (Key("number", lo=0, lo_open=True), 0, "expected > 0"),
    (Key("number", hi=100), 101, "expected ≤ 100"),
    (Key("number"), True, "expected a finite number"),
    (Key("number"), float("inf"), "expected a finite number"),
    (Key("integer"), 2.5, "expected an integer"),
    (Key("text"), "  ", "expected a non-empty string"),
    (Key("string", choices=("a", "b")), "c", "expected one of a, b"),
    (Key("strings"), ["a", 1], "expected a list of strings"),
    (Key("interval", lo=0), [-1, 2], "expected ≥ 0"),
    (Key("interval"), [3, 2], "expected min ≤ max"),
    (Key("interval"), [1, 2, 3], "expected [min, max]"),
    (Key("table"), 3, "expected a table"),
])
def test_each_kind_refuses_what_does_not_fit(key, value, problem):
    assert problem in key.problem(value)


@pytest.mark.parametrize(("key", "value"), [
    (Key("number", lo=0), 0), (Key("integer", lo=1), 1), (Key("string"), ""),
    (Key("interval"), [1, 1]), (Key("numbers"), []), (Key("bool"), False),
])
def test_each_kind_takes_what_fits(key, value):
    assert key.problem(value) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta"]), min_size=1, max_size=4,
                unique=True), st.integers(0, 3), st.integers(0, 3))
def test_the_line_found_is_the_line_of_the_key(keys, blank_lines, index):
    """Whatever the order and spacing of the keys, the line named is the key's own."""
    body = []
    for n in range(index + 1):
        body += ["[[item]]", *([""] * blank_lines)]
        body += [f"{k} = {n}" for k in keys]
    toml = TomlFile("\n".join(body), "f.toml")
    for key in keys:
        line = toml.line(key, "item", index)
        assert toml.lines[line - 1] == f"{key} = {index}"


def test_reading_a_file_names_what_is_wrong_with_it(tmp_path):
    with pytest.raises(ConfigError, match=r"x.toml: instrument register not found$"):
        TomlFile.read(tmp_path / "x.toml", "instrument register")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"latin.toml: cannot read the device declaration: 'utf-8'"):
        TomlFile.read(latin, "device declaration")
    broken = tmp_path / "broken.toml"
    broken.write_text('a = 1\nb = "unterminated\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(broken))}:2: invalid TOML"):
        TomlFile.read(broken, "device declaration")
    good = tmp_path / "ok.toml"
    good.write_text("a = 1\n")
    toml, raw = TomlFile.read(good, "limits file")
    assert (toml.data, raw, toml.where) == ({"a": 1}, b"a = 1\n", str(good))
