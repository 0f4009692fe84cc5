"""A file too big for memory is refused before it is read; the memory model behind the
refusal is conservative (measured on a real child process)."""

from __future__ import annotations

import os

import pytest

from benchmarks.huge_file import run_measured, write_trace
from ventbench.drivers.importers import MEMORY_ENV, check_memory

VC = ["--mode", "vc", "--set", "vt_ml=500", "--set", "rate_bpm=20", "--set", "ti_s=1",
      "--set", "peep_cmh2o=5"]


def analyze(path, budget_mb):
    """Run analyze; returns (exit code, output, peak RSS of that process, MB)."""
    return run_measured(["analyze", str(path), *VC],
                        env=dict(os.environ, **{MEMORY_ENV: str(budget_mb)}))


@pytest.fixture(scope="module")
def trace_8mb(tmp_path_factory):
    path = tmp_path_factory.mktemp("huge") / "t.csv"
    write_trace(path, 8 * 2**20)
    return path


def test_a_file_over_the_budget_is_refused_before_it_is_read(trace_8mb):
    code, text, peak_mb = analyze(trace_8mb, budget_mb=250)
    assert code == 3, text
    assert "Traceback" not in text
    assert f"{trace_8mb}: 0.01 GiB would take about" in text and MEMORY_ENV in text
    assert peak_mb < 300  # the refusal itself stays small


def test_the_memory_estimate_bounds_a_real_analysis(trace_8mb):
    estimate = check_memory(trace_8mb, budget_mb=10_000)
    code, text, peak_mb = analyze(trace_8mb, budget_mb=10_000)
    assert code == 0, text
    assert peak_mb <= estimate, (peak_mb, estimate)
