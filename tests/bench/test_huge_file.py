"""A Trace CSV too big for memory is analysed streamed, in bounded memory, with the results
of a whole read; a format read whole is refused before it is read (measured on a real child
process)."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks.huge_file import run_measured, write_trace
from ventbench.drivers.importers import MEMORY_ENV, check_memory

VC = ["--mode", "vc", "--set", "vt_ml=500", "--set", "rate_bpm=20", "--set", "ti_s=1",
      "--set", "peep_cmh2o=5"]


def analyze(path, budget_mb, *extra):
    """Run analyze; returns (exit code, output, peak RSS of that process, MB)."""
    return run_measured(["analyze", str(path), *VC, *extra],
                        env=dict(os.environ, **{MEMORY_ENV: str(budget_mb)}))


@pytest.fixture(scope="module")
def trace_8mb(tmp_path_factory):
    path = tmp_path_factory.mktemp("huge") / "t.csv"
    write_trace(path, 8 * 2**20)
    return path


def test_a_csv_over_the_budget_is_streamed_with_the_results_of_a_whole_read(trace_8mb, tmp_path):
    whole, streamed = tmp_path / "whole.json", tmp_path / "streamed.json"
    code, text, _ = analyze(trace_8mb, 10_000, "--json", str(whole))
    assert code == 0 and "streamed" not in text, text
    code, text, peak_mb = analyze(trace_8mb, 250, "--json", str(streamed))
    assert code == 0, text
    assert "too big to read whole: streamed in blocks" in text and "Traceback" not in text
    a, b = (json.loads(p.read_text()) for p in (whole, streamed))
    assert a["points"][0]["breaths"] == b["points"][0]["breaths"]
    assert a["points"][0]["checks"] == b["points"][0]["checks"]
    assert a["source"]["files"][0]["samples"] == b["source"]["files"][0]["samples"] > 0
    assert (a["verdict"], a["gas"]) == (b["verdict"], b["gas"])
    assert peak_mb < 300


def test_a_format_read_whole_is_refused_before_it_is_read(trace_8mb, tmp_path):
    labchart = tmp_path / "t.txt"  # the same size, in a format that is read whole
    labchart.write_bytes(b"Interval=\t0.01 s\nChannelTitle=\tFlow\tPressure\n"
                         b"Range=\t1 V\t1 V\n" + trace_8mb.read_bytes()[:8 * 2**20])
    code, text, peak_mb = analyze(labchart, 250, "--format", "labchart")
    assert code == 3, text
    assert "Traceback" not in text
    assert f"{labchart}: 0.01 GiB would take about" in text and MEMORY_ENV in text
    assert peak_mb < 300  # the refusal itself stays small


def test_the_memory_estimate_bounds_a_real_analysis(trace_8mb):
    estimate = check_memory(trace_8mb, budget_mb=10_000)
    code, text, peak_mb = analyze(trace_8mb, budget_mb=10_000)
    assert code == 0, text
    assert peak_mb <= estimate, (peak_mb, estimate)
