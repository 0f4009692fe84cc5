"""``ventbench analyze`` end to end, through the CLI, on traces whose true answer is known."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from ventbench.analysis.gas import Ambient
from ventbench.bench.cli import main
from ventbench.drivers.importers.trace_csv import write_trace_csv

from tests.conftest import FIXTURES, LABCHART_RECORDING, ROOT

VC_SET = ["--mode", "vc", "--set", "vt_ml=500", "--set", "peep_cmh2o=5",
          "--set", "rate_bpm=20", "--set", "ti_s=1.0"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def simulated_trace(n_breaths: int, vt_gain_pct: float = 0.0):
    """A VC 500 mL / 20 bpm / PEEP 5 trace from the physics simulator (or, without it, the
    analytic generator of fixtures/traces/make_traces.py)."""
    try:
        from ventbench.drivers.sim import Imperfections, Lung, VentilatorSettings, simulate
    except ImportError:  # pragma: no cover - simulator not installed
        spec = importlib.util.spec_from_file_location("make_traces", FIXTURES / "traces" / "make_traces.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.vc_trace(n_breaths=n_breaths, vt_gain=1.0 + vt_gain_pct / 100.0)
    result = simulate(
        VentilatorSettings("vc", vt_ml=500, rate_bpm=20, ti_s=1.0, peep_cmh2o=5),
        Lung(50, 5), Imperfections(vt_gain_pct=vt_gain_pct), n_breaths=n_breaths, fs_hz=100, seed=3,
    )
    return result.trace


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """Trace CSVs: a good device, a device delivering +20 % VT, a too-short run."""
    root = tmp_path_factory.mktemp("traces")
    paths = {}
    for name, n_breaths, gain in (("good", 42, 0.0), ("plus20", 42, 20.0), ("short", 6, 0.0)):
        paths[name] = root / f"{name}.csv"
        write_trace_csv(paths[name], simulated_trace(n_breaths, gain))
    return paths


def run_cli(capsys, *argv):
    code = main(["analyze", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_good_device_passes(traces, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code, out, _ = run_cli(capsys, traces["good"], *VC_SET, "--json", out_json)
    assert code == 0, out
    assert "verdict: PASS" in out
    for quantity in ("vt", "peep", "rate", "ti"):
        assert any(line.startswith(quantity + " ") and "PASS" in line for line in out.splitlines())
    document = json.loads(out_json.read_text())
    assert document["verdict"] == "PASS"
    vt = next(c for c in document["points"][0]["checks"] if c["quantity"] == "vt")
    assert vt["n_breaths"] == 30 and abs(vt["mean"] - 500) < 10


def test_device_delivering_20_percent_more_fails(traces, capsys):
    code, out, _ = run_cli(capsys, traces["plus20"], *VC_SET)
    assert code == 1
    vt_line = next(line for line in out.splitlines() if line.startswith("vt "))
    assert "FAIL" in vt_line and "30 of 30 breaths outside" in vt_line
    assert "verdict: FAIL" in out


def test_too_short_a_trace_is_inconclusive(traces, capsys):
    code, out, _ = run_cli(capsys, traces["short"], *VC_SET)
    assert code == 2
    assert "INCONCLUSIVE" in out and "breaths measured after settling" in out


def test_without_set_values_reports_info(traces, tmp_path, capsys):
    out_json = tmp_path / "info.json"
    code, out, _ = run_cli(capsys, traces["good"], "--json", out_json)
    assert code == 0
    point = json.loads(out_json.read_text())["points"][0]
    assert point["verdict"] == "INFO"
    assert {c["verdict"] for c in point["checks"]} == {"INFO"}
    assert point["summary"]["vti_ml"]["n"] == len(point["breaths"]) >= 40


def test_criterion_and_window_options(traces, capsys):
    code, out, _ = run_cli(capsys, traces["short"], *VC_SET, "--settle", "1", "--breaths", "4",
                           "--criterion", "mean")
    assert code == 0, out


def test_gas_overrides_are_recorded(traces, tmp_path, capsys):
    out_json = tmp_path / "gas.json"
    code, _, _ = run_cli(capsys, traces["good"], "--flow-condition", "ATPD", "--t-amb-degc", "22",
                         "--p-amb-hpa", "1013.25", "--json", out_json)
    assert code == 0
    gas = json.loads(out_json.read_text())["gas"]
    assert gas["flow_condition"] == "ATPD" and gas["flow_condition_source"] == "user"
    assert gas["ambient_source"] == "user"
    assert gas["btps_factor"] == pytest.approx(1.12, abs=0.005)


BAD_FILES = {
    "magic.csv": ("t_s,flow_lpm,paw_cmh2o\n0,1,2\n", 1),
    "fields.csv": ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n"
                   "0,1,2\n0.01,1\n", 5),
    "number.csv": ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n"
                   "0,1,2\n0.01,1,2..5\n", 5),
    "time.csv": ("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n"
                 "0,1,2\n0,1,2\n", 5),
    "condition.csv": ("# ventbench-trace: 1\n# flow_condition: wet\nt_s,flow_lpm,paw_cmh2o\n", 2),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_malformed_file_exits_3_naming_file_and_line(tmp_path, capsys, name):
    text, line = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(text)
    code, _, err = run_cli(capsys, path, *VC_SET)
    assert code == 3
    assert f"{path}:{line}:" in err
    assert len(err.strip().splitlines()) == 1


def test_skip_bad_analyses_what_is_left(tmp_path, capsys):
    path = tmp_path / "holes.csv"
    path.write_text("# ventbench-trace: 1\n# flow_condition: BTPS\nt_s,flow_lpm,paw_cmh2o\n"
                    "0,1,2\n0.01,1\n0.02,1,2\n")
    out_json = tmp_path / "holes.json"
    code, _, _ = run_cli(capsys, path, "--skip-bad", "--json", out_json)
    assert code == 2  # no breath in three samples
    assert json.loads(out_json.read_text())["source"]["files"][0]["skipped_lines"] == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--set", "tidal=500"], "unknown key 'tidal'"),
        (["--set", "vt_ml=lots"], "value 'lots': expected a number"),
        (["--set", "vt_ml=-500"], "value '-500': expected ≥ 0"),
        (["--set", "vt_ml"], "expected KEY=VALUE"),
        (["--settle", "-1"], "argument --settle"),
        (["--t-amb-degc", "nan"], "argument --t-amb-degc"),
        (["--set", "vt_ml=500", "--limits", "no-such-limits"], "no-such-limits"),
        (["--limits", "rmvs"], "judge set values"),
        (["--plot-window", "5"], "START:END"),
        (["--protocol", "x"], "--protocol and --point go together"),
    ],
)
def test_bad_options_exit_3(traces, capsys, argv, words):
    code, _, err = run_cli(capsys, traces["good"], *argv)
    assert code == 3
    # one error line (after argparse's usage lines for a bad option value)
    last = err.strip().splitlines()[-1]
    assert words in last and ("argument --" in last or "usage:" not in err), err


def test_missing_file_exits_4(tmp_path, capsys):
    code, _, err = run_cli(capsys, tmp_path / "nowhere.csv", *VC_SET)
    assert code == 4
    assert "nowhere.csv" in err


def test_plot_of_simulated_trace(traces, tmp_path, capsys):
    png = tmp_path / "fig.png"
    code, out, _ = run_cli(capsys, traces["good"], *VC_SET, "--plot", png, "--plot-window", "30:45")
    assert code == 0
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_labchart_recording_gives_breaths_and_plot(tmp_path, capsys):
    png, out_json = tmp_path / "rw.png", tmp_path / "rw.json"
    code, out, err = run_cli(capsys, LABCHART_RECORDING, "--format", "labchart",
                             "--plot", png, "--json", out_json)
    assert code == 0, err  # measure only: INFO
    point = json.loads(out_json.read_text())["points"][0]
    assert len(point["breaths"]) >= 10  # 118 s at 10 bpm; the last breath is incomplete
    assert all(b["measured"] for b in point["breaths"])  # measure only: every breath reported
    assert "labchart" in out and "ATPD" in out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == PNG_MAGIC


BREATH_KEYS = ("t_start_s", "ti_s", "te_s", "rr_bpm", "ie_ratio", "vti_ml", "vte_ml", "pip_cmh2o",
               "pplat_cmh2o", "peep_cmh2o", "pmean_cmh2o", "leak_pct", "flags")
CHECK_KEYS = ("quantity", "set", "limit", "criterion", "n_breaths", "mean", "sd", "min", "max",
              "max_abs_error", "achieved", "verdict")


def test_results_json_has_every_contract_key(traces, tmp_path, capsys):
    out_json = tmp_path / "fail.json"
    code, _, _ = run_cli(capsys, traces["plus20"], *VC_SET, "--json", out_json)
    assert code == 1
    doc = json.loads(out_json.read_text())
    assert list(doc)[:4] == ["schema", "software", "source", "gas"]
    assert doc["schema"] == "ventbench.results/1" and doc["verdict"] == "FAIL"
    assert {"name", "version", "git_sha"} <= set(doc["software"])
    (entry,) = doc["source"]["files"]
    assert entry["path"] == traces["plus20"].as_posix() and len(entry["sha256"]) == 64
    assert entry["format"] == "csv" and entry["samples"] > 0 and entry["lines"] > entry["samples"]
    assert {"flow_condition", "analysis_condition", "t_amb_degc", "p_amb_hpa", "rh_pct",
            "ambient_source", "btps_factor"} <= set(doc["gas"])
    (point,) = doc["points"]
    for key in ("id", "mode", "set", "lung", "breaths", "summary", "checks", "verdict"):
        assert key in point
    assert point["mode"] == "vc" and point["set"]["vt_ml"] == 500
    for breath in point["breaths"]:
        assert set(BREATH_KEYS) <= set(breath)
    for check in point["checks"]:
        assert set(CHECK_KEYS) <= set(check)
        assert {"abs", "rel", "unit", "source", "confidence"} <= set(check["limit"])
        assert {"abs", "rel"} <= set(check["achieved"])
        if check["verdict"] != "PASS":
            assert check["reason"]
    vt = next(c for c in point["checks"] if c["quantity"] == "vt")
    assert vt["verdict"] == "FAIL" and vt["achieved"]["rel"] > 0.15


def test_python_m_bench_analyze(tmp_path):
    out_json = tmp_path / "sub.json"
    proc = subprocess.run(
        [sys.executable, "-m", "ventbench", "analyze", str(FIXTURES / "traces" / "vc-adult-short.csv"),
         "--json", str(out_json)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "verdict: INFO" in proc.stdout
    assert json.loads(out_json.read_text())["points"][0]["breaths"]


def test_trace_from_make_traces_is_analysed_exactly(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("make_traces", FIXTURES / "traces" / "make_traces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "analytic.csv"
    write_trace_csv(path, module.vc_trace(ambient=Ambient(source="test")))
    code, out, _ = run_cli(capsys, path, *VC_SET)
    assert code == 0, out


def test_protocol_point_supplies_set_values_and_limits(traces, tmp_path, capsys):
    out_json = tmp_path / "proto.json"
    code, out, _ = run_cli(capsys, traces["good"], "--protocol", "iso80601-2-12-vc", "--point", "vc-01",
                           "--json", out_json)
    assert code == 0, out
    point = json.loads(out_json.read_text())["points"][0]
    assert point["id"] == "vc-01" and point["set"]["vt_ml"] == 500
    assert point["lung"]["c_ml_per_hpa"] == 50
    code, out, _ = run_cli(capsys, traces["plus20"], "--protocol", "iso80601-2-12-vc", "--point", "vc-01")
    assert code == 1
    code, _, err = run_cli(capsys, traces["good"], "--protocol", "iso80601-2-12-vc", "--point", "vc-99")
    assert code == 3 and "vc-99" in err
    code, _, err = run_cli(capsys, traces["good"], "--protocol", "iso80601-2-12-vc", "--point", "vc-01",
                           "--set", "vt_ml=400")
    assert code == 3 and "not both" in err


def test_device_profile_overrides_limits(traces, tmp_path, capsys):
    out_json = tmp_path / "device.json"
    profile = ROOT / "analysis" / "data" / "limits-example-device.toml"
    code, out, _ = run_cli(capsys, traces["good"], *VC_SET, "--device-profile", profile, "--json", out_json)
    assert code == 0, out
    checks = {c["quantity"]: c for c in json.loads(out_json.read_text())["points"][0]["checks"]}
    assert checks["vt"]["limit"]["abs"] == 10 and "Example Vent X1" in checks["vt"]["limit"]["source"]
    assert "Example Vent X1" not in checks["rate"]["limit"]["source"]  # not overridden


def test_software_block_never_fails(monkeypatch):
    import ventbench.bench.results_doc as results_doc

    def broken(*_args, **_kwargs):
        raise RuntimeError("no git here")

    monkeypatch.setattr(results_doc, "git_sha", broken)
    block = results_doc.software_block()
    assert block["name"] == "ventbench" and block["git_sha"] is None and block["version"]


def test_summary_formats_limits_and_numbers():
    from ventbench.bench.summary import format_achieved, format_limit, format_number

    assert format_limit({"abs": 4.0, "rel": 0.15, "unit": "mL"}) == "±(4 mL + 15 %)"
    assert format_limit({"abs": None, "rel": None, "unit": "cmH2O", "max": 35.0}) == "≤ 35 cmH2O"
    assert format_achieved({"abs": 4.0, "rel": 0.0623}, "mL") == "±(4 mL + 6.23 %)"
    assert format_achieved({"abs": None, "rel": None}, "mL") == "-"
    assert format_number(None) == "-" and format_number(30) == "30"
    assert format_number(597.61) == "597.6" and format_number(0.0123, decimals=3) == "0.012"
