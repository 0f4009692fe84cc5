"""``analyze`` end to end: the fast reader, rounding and JSON writer change no byte of the results."""

from __future__ import annotations

import json
import math

import numpy as np

from ventbench.analysis import results
from ventbench.bench import session
from ventbench.bench.cli import main
from ventbench.drivers.importers import ventmap
from ventbench.drivers.importers.ventmap_write import write_ventmap
from ventbench.drivers.sim.lung import Lung
from ventbench.drivers.sim.simulation import simulate
from ventbench.drivers.sim.ventilator import VentilatorSettings

from tests.bench.json_reference import reference_dumps


def test_results_identical_to_line_reader_and_stdlib_json(tmp_path, monkeypatch, capsys):
    result = simulate(VentilatorSettings(mode="pc", rate_bpm=15.0, dp_cmh2o=12.0), Lung(leak_ml_min=2000.0),
                      duration_s=240.0, fs_hz=50.0, seed=5)
    trace = result.trace
    starts = np.unique(np.searchsorted(trace.t_s, [b.t_start_s for b in result.truth]))
    path = write_ventmap(tmp_path / "pb840.txt", trace.flow_lpm, trace.paw_cmh2o, starts)
    fast, slow = tmp_path / "fast.json", tmp_path / "slow.json"
    args = ["analyze", str(path), "--set", "peep_cmh2o=5", "--set", "rate_bpm=15", "--mode", "pc"]
    code_fast = main([*args, "--json", str(fast)])
    monkeypatch.setattr(ventmap, "_fast_rows", lambda raw: None)
    monkeypatch.setattr(session, "dumps", reference_dumps)
    monkeypatch.setattr(results, "TABLE_MIN_ROWS", math.inf)  # round value by value
    monkeypatch.setattr(results, "_rounded_column", lambda column: [results.to_jsonable(v) for v in column])
    code_slow = main([*args, "--json", str(slow)])
    capsys.readouterr()
    assert code_fast == code_slow
    assert fast.read_bytes() == slow.read_bytes()
    document = json.loads(fast.read_text())
    assert len(document["points"][0]["breaths"]) >= 55
