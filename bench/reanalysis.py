"""From a point's capture to its results: the one code path of ``run``, ``replay`` and ``verify``.

A point's numbers are never taken from the live display. When a point has been recorded,
its capture is read back through ``replay://`` and the same driver (exactly what
``ventbench replay`` does), the samples become a :class:`~analysis.trace.Trace`, and the
trace is analysed with the configuration frozen in ``start.json`` (limits, judgement rule,
segmentation — not the protocol file, which may have changed since). Replay is therefore
identical to the run by construction, and any difference it finds is real: a driver, an
analysis or a file that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ventbench.analysis.breath import channel_means
from ventbench.analysis.checks import derive_set_values, evaluate_point
from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.results import point_to_json, results_document, to_jsonable
from ventbench.analysis.trace import Trace
from ventbench.bench.analysis_config import AnalysisConfig
from ventbench.bench.compare import Difference, compare_results
from ventbench.bench.conditions import apply_conditions
from ventbench.bench.instruments import reported_identity
from ventbench.bench.monitoring import DUT_CAPTURE_FILE, add_monitoring
from ventbench.bench.session import POINTS_DIR, read_json, safe_name, sha256_file, software_info
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.timebase import ContinuousTime
from ventbench.errors import BenchError, ConfigError

CAPTURE_FILE = "capture.vbcap"
TRACE_FILE = "trace.csv"
POINT_FILE = "point.json"
RESULTS_FILE = "results.json"
NOT_TESTED = "NOT TESTED"


# -- samples → trace → point results ------------------------------------------------------------
def block_trace(block: SampleBlock, flow_condition: GasCondition | str, ambient: Ambient,
                meta: dict[str, Any] | None = None) -> Trace:
    """The samples of one point as a Trace at the source's own gas condition (device time
    kept increasing across device resets by :class:`drivers.timebase.ContinuousTime`, the
    same object the live recording uses); gaps, stuck sensors and impossible values
    flagged by :meth:`analysis.trace.Trace.validated`, as every importer does."""
    t, flags = ContinuousTime()(block.t_s, block.flags)
    return Trace(t, block.flow_lpm, block.paw_cmh2o, flow_condition, ambient, flags,
                 {k: v for k, v in block.channels.items() if k.endswith(("_pct", "_lpm", "_bar"))},
                 meta or {}).validated()


def analyze_trace(trace: Trace | None, point: dict[str, Any], config: AnalysisConfig
                  ) -> dict[str, Any]:
    """Analyse one point's trace: gas conversion once, breaths, checks, the point dict.

    ``trace`` None means no sample arrived: the point is judged on no breaths
    (INCONCLUSIVE, with the checks' reasons).
    """
    if point.get("mode") == "steady":  # judged over windows (bench.steady_point)
        from ventbench.bench.steady_point import analyze_steady_trace

        return analyze_steady_trace(trace, point, config)
    from ventbench.analysis.selfcheck import doubt_point, segmentation_doubts
    from ventbench.analysis.stream import analyze_breaths

    breaths: list = []
    factor = None
    per_breath = {}
    if trace is not None:
        settings = config.segmentation_for(point)
        analysis = analyze_breaths(trace, settings, condition=config.condition)
        breaths, factor = list(analysis.breaths), analysis.volume_factor
        if "fio2_pct" in trace.channels and breaths:
            per_breath["fio2_pct"] = channel_means(trace.t_s, trace.channels["fio2_pct"], breaths)
    limits, applied = config.limits_for(point)
    result = evaluate_point(
        breaths, point["set"], limits, config.rule, point.get("checks"), point["mode"],
        expected=point.get("expect") or None, per_breath=per_breath or None,
        context=config.budget_context(trace),
    )
    out = point_to_json(point["id"], point["mode"], point["set"], point["lung"], result,
                        note=point.get("note", ""), limits=limits.id)
    if trace is not None and breaths:  # the segmentation audits itself (analysis.selfcheck)
        converted = trace.converted(config.condition)[0]
        doubt_point(out, segmentation_doubts(converted.t_s, converted.flow_lpm, breaths,
                                             derive_set_values(point["set"], point["mode"]).get("rate_bpm")))
    out["limits_applied"] = {c.quantity: applied[c.quantity] for c in result.checks if c.quantity in applied}
    out["gas"] = {"flow_condition": None if trace is None else trace.flow_condition.value,
                  "analysis_condition": config.condition.value, "btps_factor": factor}
    out["samples"] = 0 if trace is None else len(trace)
    return out


INCOMPLETE_REASON = "incomplete: the session stopped while this point was being recorded"


def mark_incomplete(result: dict[str, Any]) -> dict[str, Any]:
    """Mark a point whose recording was cut short (Ctrl-C, kill, a dead port)."""
    result["incomplete"] = True
    result["reason"] = "; ".join(filter(None, [result.get("reason"), INCOMPLETE_REASON]))
    if result.get("verdict") == "PASS":  # never: a cut recording is not whole data
        result["verdict"] = "INCONCLUSIVE"
    return result


def apply_point_record(result: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    """Add what ``point.json`` says to an analysed point: the operator's notes, and
    ``incomplete`` unless the recording finished (status "done")."""
    if record is None or record.get("status") != "done":
        mark_incomplete(result)
    if record and record.get("notes"):
        result["operator_notes"] = list(record["notes"])
    return result


def not_tested_point(point: dict[str, Any], reason: str, notes: Any = ()) -> dict[str, Any]:
    """The results entry of a point that was skipped or never reached (with the
    operator's notes, if any)."""
    out = {"id": point["id"], "mode": point["mode"], "set": dict(point["set"]),
           "lung": dict(point["lung"]), "breaths": [], "summary": {}, "checks": [],
           "verdict": NOT_TESTED, "reason": reason, "note": point.get("note", "")}
    if notes:
        out["operator_notes"] = list(notes)
    return out


# -- reading a capture back ---------------------------------------------------------------------
@dataclass
class Decoded:
    """A capture decoded through ``replay://`` and the driver."""

    block: SampleBlock
    info: dict[str, Any]
    counters: dict[str, Any]
    flow_condition: GasCondition


def decode_capture(capture: Path, driver_name: str, driver_options: dict[str, Any] | None = None,
                   recapture: Path | None = None) -> Decoded:
    """Read a capture back through ``replay://`` and a fresh driver, like a live port.

    Parameters
    ----------
    capture : Path
        The ``.vbcap`` file.
    driver_name : str
        The ``--driver`` it was recorded with.
    driver_options : dict, optional
        Driver options recorded in ``start.json``.
    recapture : Path, optional
        Where the replay's own capture goes (a temporary file when omitted; deleted).
    """
    import tempfile

    from ventbench.drivers.registry import make_driver
    from ventbench.drivers.transport import Acquisition

    driver = make_driver(driver_name, **(driver_options or {}))
    tmpdir = None
    if recapture is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="ventbench-replay-")
        recapture = Path(tmpdir.name) / CAPTURE_FILE
    try:
        # barrier_ms: the last recorded command (STOP) is never re-sent before the end of
        # the replay, so do not wait the default 500 ms for it.
        url = f"replay://{Path(capture).resolve()}?barrier_ms=50"
        acquisition = Acquisition(url, driver, recapture, reconnect=False, batch_s=0.0)
        info = acquisition.start()
        blocks = list(acquisition)
        acquisition.stop(drain_s=0.0)
        if acquisition.error is not None:
            raise acquisition.error
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()
    return Decoded(SampleBlock.concatenate(blocks), dict(info), driver.counters.to_json(),
                   GasCondition.parse(getattr(driver, "flow_condition", GasCondition.BTPS)))


def analyze_capture(capture: Path, start: dict[str, Any], point: dict[str, Any],
                    config: AnalysisConfig, recapture: Path | None = None,
                    trace_csv: Path | None = None) -> tuple[dict[str, Any], Decoded]:
    """Decode a point's capture and analyse it; optionally write its trace CSV.

    With a DUT port in ``start.json`` the point's ``dut.vbcap`` beside ``capture`` is
    compared with the reference breaths (:func:`bench.monitoring.add_monitoring`).
    """
    port = start.get("port") or {}
    decoded = decode_capture(capture, port.get("driver", "rig"), port.get("driver_options"),
                             recapture)
    trace = None
    if len(decoded.block) >= 2:
        trace = block_trace(decoded.block, decoded.flow_condition, config.ambient)
    if trace_csv is not None and trace is not None:
        from ventbench.drivers.importers.trace_csv import write_trace_csv

        write_trace_csv(trace_csv, trace)
    result = analyze_trace(trace, point, config)
    result["instrument_identity"] = reported_identity(decoded.info)
    if start.get("dut_port"):  # device-under-test telemetry: monitoring-accuracy checks
        result = add_monitoring(result, Path(capture), start, config)
    return result, decoded


# -- a whole session ------------------------------------------------------------------------------
@dataclass
class Reanalysis:
    """Outcome of :func:`reanalyze_session`."""

    recorded: dict[str, Any] | None
    recomputed: dict[str, Any]
    differences: list[Difference]
    n_points: int
    incomplete: list[str]


def has_received_bytes(capture: Path) -> bool:
    """True when the capture holds at least one received byte (else: the port never spoke)."""
    from ventbench.drivers.capture import CaptureReader

    try:
        return any(r.kind == "rx" and r.data for r in CaptureReader(capture))
    except BenchError:
        return True  # let the decoder report what is wrong with it


def session_points(start: dict[str, Any]) -> list[dict[str, Any]]:
    """The planned points of a session, as frozen in ``start.json``."""
    points = (start.get("protocol") or {}).get("points")
    if not isinstance(points, list):
        raise ConfigError("start.json: protocol.points missing: not a ventbench run session")
    return points


def reanalyze_session(session: Path, start: dict[str, Any], out_dir: Path | None = None,
                      jobs: int = 1) -> Reanalysis:
    """Re-decode every point's capture, re-analyse, and compare with ``results.json``.

    A point whose ``point.json`` says it was not tested stays NOT TESTED; a point with a
    capture but no ``point.json`` (the session was killed while recording it) is analysed
    and marked ``incomplete``. ``jobs`` > 1: the points in that many processes
    (:mod:`bench.point_pool`), with the same results.
    """
    session = Path(session)
    config = AnalysisConfig.from_json(start.get("analysis") or {}, str(session / "start.json"))
    recorded_path = session / RESULTS_FILE
    recorded = read_json(recorded_path, "results") if recorded_path.exists() else None
    recorded_points = {str(p.get("id")): p for p in (recorded or {}).get("points", [])}
    points_out, incomplete, analysed = [], [], 0
    pending = []  # (slot in points_out, point, capture, point record, recapture)
    for point in session_points(start):
        pdir = session / POINTS_DIR / safe_name(point["id"])
        capture = pdir / CAPTURE_FILE
        status = read_json(pdir / POINT_FILE, "point record") if (pdir / POINT_FILE).exists() else None
        if (not capture.exists() or (status and status.get("status") == "not tested")
                or not has_received_bytes(capture)):
            old = recorded_points.get(str(point["id"]))
            reason = (old or {}).get("reason") or (status or {}).get("reason") or "not reached"
            points_out.append(not_tested_point(point, reason, (status or {}).get("notes")))
            continue
        recapture = None
        if out_dir is not None:
            recapture = Path(out_dir) / POINTS_DIR / safe_name(point["id"]) / CAPTURE_FILE
            recapture.parent.mkdir(parents=True, exist_ok=True)
            if recapture.exists():
                recapture.unlink()
        pending.append((len(points_out), point, capture, status, recapture))
        points_out.append(None)
    if jobs > 1 and len(pending) > 1:
        from ventbench.bench.point_pool import analyse_points  # worker processes: on demand

        results = analyse_points(analyze_capture, [(p, c, r) for _, p, c, _, r in pending], start,
                                 str(session / "start.json"), jobs)
    else:
        results = None
    for k, (slot, point, capture, status, recapture) in enumerate(pending):
        if results is not None:
            result = results[k]
        else:
            try:
                result, _ = analyze_capture(capture, start, point, config, recapture)
            except BenchError as error:
                raise type(error)(f"{capture}: {error}") from None
        analysed += 1
        if status is None or status.get("status") != "done":
            incomplete.append(str(point["id"]))
        points_out[slot] = apply_point_record(result, status)
    blocks = apply_conditions(points_out, start, session)
    recomputed = results_document(
        points_out, software={k: v for k, v in software_info().items()
                              if k in ("name", "version", "git_sha")},
        source=session_source(session, start.get("session_id"),
                              [p["id"] for p in session_points(start)]),
        gas=session_gas(config, points_out),
    )
    recomputed.update(to_jsonable(blocks))
    from ventbench.bench.alarm_session import fold_alarms, rederive_session_alarms

    fold_alarms(recomputed, rederive_session_alarms(session, start), session)
    from ventbench.bench.inspection import fold_inspection, judge

    fold_inspection(recomputed, judge(start, session))
    differences = compare_results(recorded, recomputed) if recorded is not None else []
    return Reanalysis(recorded, recomputed, differences, analysed, incomplete)


def session_source(session: Path, session_id: str | None, point_ids: list[str]
                   ) -> dict[str, Any]:
    """The ``source`` block: the session and every point capture (reference, and the
    device under test's ``dut.vbcap`` when there is one) with its SHA-256."""
    files = []
    for pid in point_ids:
        for name in (CAPTURE_FILE, DUT_CAPTURE_FILE):
            rel = f"{POINTS_DIR}/{safe_name(pid)}/{name}"
            path = Path(session) / rel
            if path.exists():
                files.append({"path": rel, "sha256": sha256_file(path), "format": "vbcap",
                              "bytes": path.stat().st_size})
    return {"session": session_id, "files": files}


def session_gas(config: AnalysisConfig, points: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The session-level ``gas`` block of the results contract.

    The flow condition and BTPS factor are each point's (in its own ``gas``); at session
    level they are stated once when every analysed point agrees, and otherwise set to null
    with ``btps_factor_by_point`` listing them, so nothing is averaged or guessed.
    """
    amb = config.ambient
    by_point = {p["id"]: p["gas"] for p in points if (p.get("gas") or {}).get("btps_factor")}
    conditions = sorted({g["flow_condition"] for g in by_point.values() if g.get("flow_condition")})
    factors = sorted({g["btps_factor"] for g in by_point.values()})
    out = {"flow_condition": conditions[0] if len(conditions) == 1 else None,
           "analysis_condition": config.condition.value, "t_amb_degc": amb.t_amb_degc,
           "p_amb_hpa": amb.p_amb_hpa, "rh_pct": amb.rh_pct, "ambient_source": amb.source,
           "btps_factor": factors[0] if len(factors) == 1 else None}
    if len(factors) > 1 or len(conditions) > 1:
        out["btps_factor_by_point"] = {pid: g["btps_factor"] for pid, g in by_point.items()}
    return out
