"""``ventbench record --port2``: a flowmeter and a rig recorded together, combined."""

from __future__ import annotations

import json

import numpy as np

from ventbench.analysis.trace import SampleFlag
from ventbench.bench.cli import main
from ventbench.drivers.importers.trace_csv import read_trace_csv
from ventbench.drivers.importers.vbcap import read_vbcap


def test_tsi_flow_and_rig_pressure_make_one_trace_with_its_alignment(tmp_path):
    out = tmp_path / "r"
    code = main(["record", "--port", "sim://tsi?speed=4&seed=1", "--driver", "tsi",
                 "--option", "block_samples=200",
                 "--port2", "sim://rig?speed=4&seed=1", "--driver2", "rig",
                 "--duration", "3s", "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "record.json").read_text())
    assert doc["status"] == "completed" and doc["source2"]["driver"] == "rig"
    assert doc["source2"]["samples"] > 5 * doc["samples"] > 0  # 1 kHz against 100 Hz
    a = doc["alignment"]
    assert a["clock"] == "host" and a["method"] == "linear" and a["take"] == ["paw_cmh2o"]
    assert {"offset_s", "drift_ppm", "primary_clock", "secondary_clock"} <= set(a)
    assert "TSI" in a.get("warning", "TSI")  # its index × interval time base is no clock
    combined = read_trace_csv(out / "trace.csv")
    first = read_trace_csv(out / "trace1.csv")  # the flowmeter alone, streamed live
    second = read_trace_csv(out / "trace2.csv")  # the rig alone, streamed live
    np.testing.assert_array_equal(combined.t_s, first.t_s)
    np.testing.assert_array_equal(combined.flow_lpm, first.flow_lpm)  # flow from the TSI
    assert combined.flow_condition.value == "STP21" and np.isnan(first.paw_cmh2o).all()
    finite = np.isfinite(combined.paw_cmh2o)  # paw from the rig
    assert finite.mean() > 0.9 and a["finite_samples"] == finite.sum()
    assert np.nanmin(second.paw_cmh2o) <= np.nanmin(combined.paw_cmh2o)
    assert np.nanmax(combined.paw_cmh2o) <= np.nanmax(second.paw_cmh2o)
    assert not (combined.flags[finite] & SampleFlag.FAULT).any()
    assert json.loads(combined.meta["alignment"])["offset_s"] == a["offset_s"]
    assert json.loads(combined.meta["secondary"])["driver"] == "rig"
    # the live traces and the captures decoded again agree (one code path)
    again = read_vbcap(out / "capture2.vbcap")
    np.testing.assert_array_equal(again.t_s, second.t_s)
    np.testing.assert_array_equal(again.paw_cmh2o, second.paw_cmh2o)


def test_second_port_usage_errors_exit_3(tmp_path, capsys):
    code = main(["record", "--port", "sim://rig?speed=max", "--driver", "rig",
                 "--port2", "sim://rig?speed=max", "--out", str(tmp_path / "a")])
    assert code == 3 and "--driver2" in capsys.readouterr().err
    code = main(["record", "--port", "sim://rig?speed=max", "--driver", "rig",
                 "--port2", "sim://rig?speed=max", "--driver2", "rig", "--clock", "gps",
                 "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 3 and "argument --clock: 'gps'" in err, err
