"""Small, fast session directories for the report tests, built from the real pieces.

Each point is simulated (:mod:`drivers.sim`), written as ``trace.csv``, and analysed with
:func:`bench.reanalysis.analyze_trace` — the function ``run`` and ``replay`` use — so the
``results.json`` has exactly the runner's shape. Captures are not produced (the report does
not read them). A session can be aborted at a point (later points NOT TESTED, as the runner
records them), have points skipped, and be multiplied to many points by copying.
"""

from __future__ import annotations

import copy
import shutil
from datetime import UTC, datetime
from pathlib import Path

from ventbench.analysis.gas import Ambient
from ventbench.analysis.results import results_document
from ventbench.bench.commands.run import analysis_config
from ventbench.bench.protocol import load_protocol
from ventbench.bench.reanalysis import analyze_trace, mark_incomplete, not_tested_point, session_gas
from ventbench.bench.session import Session, safe_name, write_json_atomic
from ventbench.drivers.importers.trace_csv import write_trace_csv
from ventbench.drivers.sim import Imperfections, SensorModel, settings_from_point, simulate

STARTED = datetime(2026, 3, 2, 8, 15, 30, tzinfo=UTC)
DUT = {"name": "OpenVent-P2 test unit", "serial": "P2-0007", "firmware": "ov-fw 0.9.3"}


def build_session(root: Path, *, ids: tuple[str, ...] = ("vc-01", "vc-05", "vc-06", "vc-09"),
                  protocol: str = "iso80601-2-12-vc", settle: int = 3, measure: int = 8,
                  fs_hz: float = 100.0, defect: tuple[str, ...] = ("vc-06",), abort_at: str | None = None,
                  cut_short: str | None = None, skip: tuple[str, ...] = (), copies: int = 1,
                  label: str = "fixture") -> Path:
    """Write a session directory under ``root`` and return it.

    Parameters
    ----------
    ids : point ids of the protocol to run, in order.
    defect : points where the device's PEEP sags 3 cmH2O (they FAIL).
    abort_at : the operator aborts before this point; it and later points are NOT TESTED.
    cut_short : this point's recording was cut short (marked incomplete, never PASS).
    skip : points skipped by the operator (NOT TESTED, the session still completes).
    copies : repeat the points this many times (ids suffixed ``-rN``), copying their files.
    """
    proto = load_protocol(protocol).select(ids=list(ids))
    config = analysis_config(proto, None, Ambient(22.5, 1009.0, 45.0, "user"), settle, measure)
    session_id = f"{STARTED:%Y%m%dT%H%M%SZ}-{label}"
    session = Session(Path(root) / session_id, session_id, started=STARTED)
    session.root.mkdir(parents=True)
    plan = proto.to_json()
    base_points = plan["points"]
    points = []
    for k in range(copies):
        for point in base_points:
            p = copy.deepcopy(point)
            if copies > 1:
                p["id"] = f"{point['id']}-r{k + 1}"
            points.append(p)
    plan["points"] = points
    session.write_start({
        "protocol": plan, "analysis": config.to_json(),
        "port": {"url": "sim://rig?speed=max", "driver": "rig", "driver_options": {"rate_hz": fs_hz}},
        "dut": dict(DUT), "operator": {"name": "A. Tester", "kind": "terminal"},
        "ambient": config.ambient.__dict__, "lab": "Bench lab 2, Bandung",
        "instruments": {"declared": {"driver": "rig", "port": "sim://rig"}},
    })
    session.write_json("instruments.json", {"instruments": {"rig@sim://rig": {
        "driver": "rig", "protocol": "VBR/1", "firmware": "sim-rig 1.0", "rig_id": "RIG-01", "rate_hz": fs_hz,
        "channels": [
            {"name": "flow", "unit": "L/min", "condition": "STP20", "sensor": "SFM3300", "serial": "F-77",
             "calibrated": "2024-11-20"},
            {"name": "paw", "unit": "cmH2O", "sensor": "HSC", "serial": "P-78", "calibrated": "2025-12-01",
             "calibration_due": "2026-12-01"}]}}})
    results, reached = [], True
    simulated: dict[str, dict] = {}
    for i, point in enumerate(points):
        pid, base = point["id"], point["id"].split("-r")[0]
        pdir = session.point_dir(pid)
        if abort_at is not None and pid == abort_at:
            reached = False
        if abort_at is not None and not reached:
            results.append(not_tested_point(point, f"not reached: operator abort before point {abort_at}"))
            session.write_json(f"points/{safe_name(pid)}/point.json", {"id": pid, "status": "not tested"})
            continue
        if pid in skip:
            results.append(not_tested_point(point, "skipped by the operator: lung not available"))
            session.write_json(f"points/{safe_name(pid)}/point.json", {"id": pid, "status": "not tested"})
            continue
        if base in simulated and copies > 1:
            src = simulated[base]
            shutil.copy(src["dir"] / "trace.csv", pdir / "trace.csv")
            result = copy.deepcopy(src["result"])
            result["id"] = pid
        else:
            settings, lung = settings_from_point(point)
            imperfect = Imperfections(vt_gain_pct=1.5, vt_offset_ml=2.0, period_jitter_s=0.01,
                                      peep_offset_cmh2o=-3.0 if base in defect else 0.3)
            sensors = SensorModel(flow_noise_sd_lpm=0.2, paw_noise_sd_cmh2o=0.02, condition="STP20",
                                  ambient=config.ambient)
            sim = simulate(settings, lung, imperfect, sensors, n_breaths=settle + measure + 1, fs_hz=fs_hz,
                           seed=11 + i)
            write_trace_csv(pdir / "trace.csv", sim.trace)
            result = analyze_trace(sim.trace, point, config)
            simulated[base] = {"dir": pdir, "result": result}
        status = {"id": pid, "status": "done", "reason": f"{settle + measure + 1} breaths recorded",
                  "notes": [], "attempt": 1}
        if pid == cut_short:
            result = mark_incomplete(copy.deepcopy(result))
            status.update(status="interrupted", reason="interrupted (Ctrl-C or SIGTERM)")
        if i == 0:
            result["operator_notes"] = ["test lung replaced before this point"]
            status["notes"] = result["operator_notes"]
        session.write_json(f"points/{safe_name(pid)}/point.json", status)
        results.append(result)
    document = results_document(results, software={"name": "ventbench", "version": "0.1.0", "git_sha": "f" * 40},
                                source={"session": session_id, "files": []}, gas=session_gas(config))
    write_json_atomic(session.root / "results.json", document)
    return session.root
