"""Protocol files: built-in tables equal to STANDARDS.md §2, selection, validation messages."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

import pytest

from ventbench.analysis.checks import JudgementRule
from ventbench.analysis.limits import load_limits
from ventbench.bench.protocol import builtin_protocol_names, builtin_protocols, load_protocol
from ventbench.errors import ConfigError

STANDARDS = Path("/work/shared/STANDARDS.md")


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every markdown table whose header starts with '| #', as (header, rows)."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("| #"):
            current = [line]
            tables.append(current)
        elif current is not None and line.startswith("|"):
            current.append(line)
        else:
            current = None
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for t in tables for line in t]
    out, i = [], 0
    for t in tables:
        out.append((cells[i], cells[i + 2: i + len(t)]))
        i += len(t)
    return out


@pytest.fixture(scope="module")
def standards_tables():
    if not STANDARDS.is_file():
        pytest.skip("STANDARDS.md not present next to the checkout")
    tables = markdown_tables(STANDARDS.read_text(encoding="utf-8"))
    assert len(tables) == 3, "expected the VC, PC and ISO 80601-2-80 tables"
    return {"vc": tables[0], "pc": tables[1], "eua": tables[2]}


def test_builtins() -> None:
    assert builtin_protocol_names() == ("cpap", "high-flow", "iso80601-2-12-pc", "iso80601-2-12-vc",
                                       "iso80601-2-80-pc", "reliability", "rmvs")
    protocols = builtin_protocols()
    assert {n: len(p.points) for n, p in protocols.items()} == {
        "iso80601-2-12-pc": 21, "iso80601-2-12-vc": 21, "iso80601-2-80-pc": 12, "reliability": 1,
        "rmvs": 10, "cpap": 14, "high-flow": 6}
    for p in protocols.values():
        load_limits(p.limits)  # every protocol names a loadable limit set
        assert p.settle_breaths == 10 and p.measure_breaths == 30 and p.criterion == "every-breath"
        data = resources.files("ventbench.bench").joinpath("protocols", f"{p.id}.toml").read_bytes()
        assert p.sha256 == hashlib.sha256(data).hexdigest()
        assert any("cmH2O" in n for n in p.notes)  # the hPa / cmH2O note


def test_vc_table_equals_standards(standards_tables) -> None:
    header, rows = standards_tables["vc"]
    assert header == ["#", "VT", "C", "R", "f", "Ti", "PEEP", "FiO2"]
    protocol = load_protocol("iso80601-2-12-vc")
    assert len(rows) == len(protocol.points) == 21
    for row, point in zip(rows, protocol.points, strict=True):
        n, vt, c, r, f, ti, peep, fio2 = (float(x) for x in row)
        assert point.row == n and point.id == f"vc-{int(n):02d}" and point.mode == "vc"
        assert dict(point.set) == {"vt_ml": vt, "rate_bpm": f, "ti_s": ti, "peep_cmh2o": peep, "fio2_pct": fio2}
        assert dict(point.lung) == {"c_ml_per_hpa": c, "r_hpa_s_per_l": r, "leak_ml_min": 0.0}


def test_pc_table_equals_standards(standards_tables) -> None:
    header, rows = standards_tables["pc"]
    assert header == ["#", "VT", "C", "R", "f", "Ti", "ΔP", "PEEP", "FiO2"]
    protocol = load_protocol("iso80601-2-12-pc")
    assert len(rows) == len(protocol.points) == 21
    for row, point in zip(rows, protocol.points, strict=True):
        n, vt, c, r, f, ti, dp, peep, fio2 = (float(x) for x in row)
        assert point.row == n and point.mode == "pc"
        assert dict(point.set) == {"dp_cmh2o": dp, "peep_cmh2o": peep, "rate_bpm": f, "ti_s": ti, "fio2_pct": fio2}
        assert dict(point.lung) == {"c_ml_per_hpa": c, "r_hpa_s_per_l": r, "leak_ml_min": 0.0}
        assert dict(point.expect) == {"vt_ml": vt}  # informative, never a setting
        assert "vt_ml" not in point.set


def test_iso_80601_2_80_table_equals_standards(standards_tables) -> None:
    header, rows = standards_tables["eua"]
    assert header == ["#", "VT", "C", "R", "leak", "f", "ΔP", "PEEP"]
    protocol = load_protocol("iso80601-2-80-pc")
    assert protocol.limits == "iso80601-2-80"
    for row, point in zip(rows, protocol.points, strict=True):
        n, vt, c, r, leak, f, dp, peep = (float(x) for x in row)
        assert point.row == n
        assert dict(point.set) == {"dp_cmh2o": dp, "peep_cmh2o": peep, "rate_bpm": f, "ti_s": 1.0}
        assert dict(point.lung) == {"c_ml_per_hpa": c, "r_hpa_s_per_l": r, "leak_ml_min": leak}
        assert point.expect["vt_ml"] == vt


def test_spot_values_and_groups() -> None:
    vc = load_protocol("iso80601-2-12-vc")
    assert dict(vc.point("vc-01").set) == {"vt_ml": 500, "rate_bpm": 20, "ti_s": 1.0, "peep_cmh2o": 5, "fio2_pct": 30}
    assert vc.point("vc-20").lung["r_hpa_s_per_l"] == 200
    pc = load_protocol("iso80601-2-12-pc")
    assert pc.point("pc-20").lung["r_hpa_s_per_l"] == 50
    assert pc.point("pc-07").set["dp_cmh2o"] == 30 and pc.point("pc-07").set["peep_cmh2o"] == 5
    assert load_protocol("iso80601-2-80-pc").point("eua-06").lung["leak_ml_min"] == 10000
    for proto in (vc, pc):
        groups = {p.row: p.group for p in proto.points}
        assert {r for r, g in groups.items() if g == "adult"} == set(range(1, 9))
        assert {r for r, g in groups.items() if g == "paediatric"} == set(range(9, 16))
        assert {r for r, g in groups.items() if g == "neonatal"} == set(range(16, 22))
        # no preset needed: every group's breaths are found with levels from the signal
        assert {proto.segmentation(p) for p in proto.points} == {"auto"}
        assert "RespiraWorks" in proto.source
        assert any("21 %" in n and "100 %" in n for n in proto.notes)  # FiO2 substitution
    rmvs = load_protocol("rmvs")
    assert {p.set["rate_bpm"] for p in rmvs.points} >= {10, 22, 30}
    assert {p.set["peep_cmh2o"] for p in rmvs.points} >= {5, 10, 15, 20, 25}
    assert all(p.set["vt_ml"] == 400 for p in rmvs.points if p.mode == "vc")
    assert all("Constructed" in p.note for p in rmvs.points)


def test_doubts_are_notes_on_their_rows() -> None:
    pc = load_protocol("iso80601-2-12-pc")
    vc = load_protocol("iso80601-2-12-vc")
    for p in pc.points:
        assert ("25 %" in p.note) == (p.row in (11, 13, 19, 21))
    for proto in (vc, pc):
        for p in proto.points:
            assert ("differs between Tables" in p.note) == (p.row in (7, 8, 20))
    assert "R 50 (here 200)" in vc.point("vc-20").note


def test_select_and_rule() -> None:
    pc = load_protocol("iso80601-2-12-pc")
    neo = pc.select(group="neonatal")
    assert [p.row for p in neo.points] == list(range(16, 22)) and neo.sha256 == pc.sha256
    assert [p.id for p in pc.select(ids=["pc-03", "pc-01"]).points] == ["pc-01", "pc-03"]
    assert [p.id for p in pc.select(group=["adult", "neonatal"], ids=["pc-01", "pc-21"]).points] == ["pc-01", "pc-21"]
    with pytest.raises(ConfigError, match="no point 'pc-99'"):
        pc.select(ids=["pc-99"])
    with pytest.raises(ConfigError, match="unknown group 'infant'"):
        pc.select(group="infant")
    rule = pc.rule()
    assert rule == JudgementRule(settle_breaths=10, measure_breaths=30)
    assert pc.to_json()["sha256"] == pc.sha256


GOOD = """\
[protocol]
id = "mine"
title = "Mine"
limits = "rmvs"

[protocol.settle]
breaths = 5
steady_k = 4
steady_tol_pct = 3.0

[groups.adult]
segmentation = "adult"

[[points]]
id = "a"
mode = "vc"
group = "adult"
checks = ["vt", "peep"]
set = { vt_ml = 400, rate_bpm = 20, ti_s = 1.0, peep_cmh2o = 5 }
lung = { c_ml_per_hpa = 50, r_hpa_s_per_l = 5 }

[[points]]
id = "b"
mode = "pc"
group = "adult"
set = { dp_cmh2o = 10, rate_bpm = 20, ie_ratio = 2.0, peep_cmh2o = 5 }
lung = { c_ml_per_hpa = 50, r_hpa_s_per_l = 5 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proto.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_protocol_loads(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    p = load_protocol(path)
    assert p.path == str(path) and p.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert p.steady_state.k == 4 and p.rule().steady_state.tol_pct == 3.0 and p.settle_breaths == 5
    assert p.point("b").checks == ("pinsp", "peep", "rate", "ti", "vt")  # mode default
    assert p.point("b").line == 22


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "words"),
    [
        ("vt_ml = 400", "vt_l = 0.4", 19, "vt_l", "wrong unit: expected 'vt_ml'"),
        ("c_ml_per_hpa = 50, r_hpa_s_per_l = 5 }\n\n[[points]]",
         "c_ml_per_cmh2o = 50, r_hpa_s_per_l = 5 }\n\n[[points]]", 20, "c_ml_per_cmh2o", "wrong unit"),
        ('checks = ["vt", "peep"]', 'checks = ["vt", "peep"]\ncolour = "red"', 19, "colour", "unknown key"),
        ("c_ml_per_hpa = 50, r_hpa_s_per_l = 5 }\n\n[[points]]",
         "c_ml_per_hpa = -50, r_hpa_s_per_l = 5 }\n\n[[points]]", 20, "c_ml_per_hpa", "impossible value"),
        ("ti_s = 1.0", "ti_s = 3.0", 19, "ti_s", "< 60/rate_bpm = 3 s"),
        ("vt_ml = 400, ", "", 19, "vt_ml", "missing setting"),
        ('["vt", "peep"]', '["vt", "peeps"]', 18, "checks", "unknown quantity 'peeps'"),
        ('id = "b"', 'id = "a"', 23, "id", "duplicate point id"),
        ('mode = "pc"', 'mode = "cpap"', 24, "mode", "expected one of vc, pc"),
        ("ie_ratio = 2.0", "ti_s = 1.0, ie_ratio = 3.0", 26, "ie_ratio", "consistent with rate_bpm and ti_s"),
        ('limits = "rmvs"', 'limits = "nope"', 4, "limits", "built-in limit set"),
        ("steady_tol_pct = 3.0", "steady_pct = 3.0", 9, "steady_pct", "unknown key"),
        ('segmentation = "adult"', 'segmentation = "infant"', 12, "segmentation", "expected one of auto, adult"),
    ],
)
def test_validation_errors_name_file_line_and_key(tmp_path: Path, old, new, line, key, words) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_protocol(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert key in message and words in message


def test_invalid_toml_and_unknown_names(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("breaths = 5", "breaths = = 5"))
    with pytest.raises(ConfigError, match=re.escape(f"{path}:7: invalid TOML")):
        load_protocol(path)
    with pytest.raises(ConfigError, match="not a built-in"):
        load_protocol("iso-nothing")
    with pytest.raises(ConfigError, match=r"\[protocol\]: missing"):
        load_protocol(write(tmp_path, "[[points]]\nid = 'x'\n"))
