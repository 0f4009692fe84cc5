"""Fleet views on known data, the fleet PDF, and a session that finds its shared history
down: it runs, is queued, and ``history --sync`` brings it in later."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ventbench.bench import history
from ventbench.bench.fleet import fleet_rows, summarise
from ventbench.bench.history_sync import PENDING_DIR

#: (serial, firmware, vt mean error mL, verdict), in time order; U1 is re-tested on fw 2.0.
UNITS = [("U1", "1.0", 8.0, "FAIL"), ("U2", "1.0", 2.0, "PASS"), ("U3", "1.0", 4.0, "PASS"),
         ("U1", "2.0", 1.0, "PASS"), ("U4", "2.0", -3.0, "PASS"), ("U5", "2.0", 6.0, "FAIL")]

#: Synthetic session records (no files behind them): taken as verified, as
#: bench.integrity is tested on real sessions in test_integrity.py.
SYNTHETIC = ("verified", None)


def _index(db: Path) -> None:
    for n, (serial, fw, err, verdict) in enumerate(UNITS):
        sid = f"2026010{n}T000000Z-iso"
        start = {"session_id": sid, "time_utc": f"2026-01-0{n + 1}T00:00:00Z",
                 "dut": {"name": "proto", "serial": serial, "firmware": fw},
                 "protocol": {"id": "iso"}}
        check = {"quantity": "vt", "set": 500.0, "mean": 500.0 + err,
                 "max_abs_error": abs(err) + 1.0, "verdict": verdict}
        results = {"verdict": verdict, "points": [{"id": "p1", "checks": [check]}]}
        history.index_session(db, Path("/s") / sid, start, {"status": "completed"}, results, integrity=SYNTHETIC)


def test_fleet_yield_worst_units_and_firmware_drift_on_known_data(tmp_path):
    db = tmp_path / "h.sqlite"
    _index(db)
    (fleet,), drifts = summarise(fleet_rows(db))
    assert (fleet.quantity, fleet.unit, fleet.units) == ("vt", "mL", 5)
    # latest per unit: U1 2.0 (2), U2 (3), U3 (5), U4 (4), U5 (7, FAIL)
    assert (fleet.passing, fleet.judged) == (4, 5) and fleet.yield_fraction == pytest.approx(0.8)
    assert fleet.error_by_unit == {"U1": 2.0, "U2": 3.0, "U3": 5.0, "U4": 4.0, "U5": 7.0}
    assert fleet.median_abs_error == 4.0 and fleet.max_abs_error == 7.0
    assert fleet.worst == [("U5", 7.0), ("U3", 5.0), ("U4", 4.0)]
    assert [(d.firmware, d.units) for d in drifts] == [("1.0", 3), ("2.0", 3)]
    assert drifts[0].mean_error == pytest.approx((8 + 2 + 4) / 3)
    assert drifts[1].mean_error == pytest.approx((1 - 3 + 6) / 3)
    assert drifts[1].drift == pytest.approx((1 - 3 + 6) / 3 - (8 + 2 + 4) / 3)


def test_fleet_table_and_pdf_from_the_cli(tmp_path):
    from pypdf import PdfReader

    db = tmp_path / "h.sqlite"
    _index(db)
    pdf = tmp_path / "fleet.pdf"
    proc = subprocess.run([sys.executable, "-m", "ventbench", "history", "--history", str(db),
                           "--fleet", "--fleet-pdf", str(pdf)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "80.0 % (4/5)" in proc.stdout and "U5 (7)" in proc.stdout
    assert "+0.0" not in proc.stdout.split("drift between")[1].splitlines()[-1]
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1 and "yield 80.0 %" in reader.pages[0].extract_text()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_session_with_its_history_down_runs_is_queued_and_synchronised(tmp_path, postgres,
                                                                        pg_history):
    down = f"postgresql://vbtest@127.0.0.1:{_closed_port()}/history"
    root = tmp_path / "sessions"
    proc = subprocess.run(
        [sys.executable, "-m", "ventbench", "run", "iso80601-2-12-vc", "--port",
         "sim://rig?speed=max&step_ms=2000", "--driver", "rig", "--option", "rate_hz=100",
         "--settle", "2", "--measure", "4", "--no-report", "--point", "vc-01",
         "--operator-mode", "auto", "--history", down, "--out", str(root),
         "--dut", "P2", "--device-serial", "P2-0001", "--firmware", "0.9"],
        env=postgres.env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert proc.stdout.count("cannot connect") >= 2  # at the start, and at the end
    assert "history --sync" in proc.stdout
    (marker,) = (root / PENDING_DIR).glob("*.json")
    session_id = marker.stem
    assert (root / session_id / "stop.json").exists()
    proc = subprocess.run([sys.executable, "-m", "ventbench", "history", "--root", str(root),
                           "--sync", "--history", pg_history], env=postgres.env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"1 session(s) indexed into {pg_history}: {session_id}" in proc.stdout
    assert not marker.exists()
    assert [s["session_id"] for s in history.list_sessions(pg_history)] == [session_id]
