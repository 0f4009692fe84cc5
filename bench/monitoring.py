"""A point's device-under-test telemetry against its reference breaths (monitoring accuracy).

With ``ventbench run … --dut-port URL --dut-driver NAME`` each point has a second capture,
``points/ID/dut.vbcap``: the prototype's own reported values (PIRDS assertions …). After the
point's reference results are computed, :func:`add_monitoring` — called from
:func:`bench.reanalysis.analyze_capture`, so run, replay and verify share it —

1. decodes the DUT capture (:func:`drivers.telemetry.read_telemetry`) and the reference
   capture with host arrival times (:func:`drivers.importers.vbcap.read_vbcap`);
2. relates each device clock to the host clock (:func:`drivers.combine.estimate_clock_map`:
   the lower envelope of arrival − device time, a straight line: offset and rate) and maps
   every report onto the reference time base: ``t_ref = (offset_dut + rate_dut·t_dut −
   offset_ref) / rate_ref``;
3. matches each report to the reference breath whose end is nearest, within ± ``tol``
   (:func:`analysis.monitoring.match_reports`; default 0.5 s, at most 1/4 of the breath,
   frozen in ``start.json`` as ``dut_port.match_tol_s``) and judges ``vte_monitor``,
   ``peep_monitor``, ``pip_monitor`` and ``rate_monitor`` against the limit set
   (:func:`analysis.monitoring.monitoring_checks`).

The checks join the point's ``checks`` (and its verdict); the matching record is the
point's ``monitoring`` block. Anything that makes the matching untrustworthy — an
undecodable DUT capture, a DUT clock restart, a clock map whose scatter is more than a
quarter of the tolerance — makes every monitoring check INCONCLUSIVE with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ventbench.analysis.monitoring import DEFAULT_TOL_S, monitoring_checks
from ventbench.analysis.results import to_jsonable
from ventbench.bench.analysis_config import AnalysisConfig
from ventbench.errors import BenchError

#: The clock maps' combined scatter may be at most this fraction of the tolerance.
MAX_SCATTER_FRACTION = 0.25
#: The device-under-test telemetry capture, next to the point's reference capture.
DUT_CAPTURE_FILE = "dut.vbcap"


def dut_record(url: str, driver: str, options: dict[str, Any] | None = None,
               tol_s: float = DEFAULT_TOL_S) -> dict[str, Any]:
    """``start.json``'s ``dut_port`` block: what replay needs to decode and match."""
    return {"url": url, "driver": driver, "driver_options": dict(options or {}),
            "match_tol_s": tol_s, "capture": DUT_CAPTURE_FILE}


def _map_reports(capture: Path, dut_capture: Path, port: dict[str, Any],
                 dut: dict[str, Any]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                               dict[str, Any], list[str]]:
    """Reports on the reference time base, the clock record, and blocking reasons."""
    from ventbench.drivers.combine import estimate_clock_map
    from ventbench.drivers.importers.vbcap import HOST_TIME_CHANNEL, read_vbcap
    from ventbench.drivers.telemetry import by_quantity, read_telemetry

    try:
        tel = read_telemetry(dut_capture, dut["driver"], dut.get("driver_options"))
    except (BenchError, OSError) as error:
        return {}, {}, [f"DUT capture {dut_capture.name} not decodable: {error}"]
    record: dict[str, Any] = {"reports": len(tel.reports), "dut_samples": int(tel.device_t_s.size),
                              "dut_instrument": dict(tel.info)}
    if not tel.reports:
        return {}, record, ["the device under test reported no value"]
    if tel.device_t_s.size < 2:
        return {}, record, ["the DUT capture has no sample stream to relate its clock to the host"]
    if tel.resets:
        return {}, record, [f"the DUT clock restarted ({tel.resets}×): reports not matched"]
    try:  # corrupt records are skipped, as the replay:// reader the results came from does
        ref = read_vbcap(capture, driver=port.get("driver", "rig"), host_time=True,
                         skip_bad=True, **dict(port.get("driver_options") or {}))
    except (BenchError, OSError) as error:
        return {}, record, [f"reference capture {capture.name} not decodable with host "
                            f"times: {error}"]
    if len(ref) < 2:
        return {}, record, ["no reference samples"]
    ref_map = estimate_clock_map(ref.t_s, ref.channels[HOST_TIME_CHANNEL])
    dut_map = estimate_clock_map(tel.device_t_s, tel.host_t_s)
    rate_ref = 1.0 + ref_map.drift_ppm * 1e-6
    rate_dut = 1.0 + dut_map.drift_ppm * 1e-6
    scatter_s = (ref_map.residual_s + dut_map.residual_s) / rate_ref  # reference seconds
    record["clock"] = {"reference": ref_map.to_json(), "dut": dut_map.to_json(),
                       "scatter_s": scatter_s}
    reports = {}
    for quantity, (t_dev, values) in by_quantity(tel.reports).items():
        host = dut_map.offset_s + rate_dut * t_dev
        reports[quantity] = ((host - ref_map.offset_s) / rate_ref, values)
    blocking = []
    tol = float(dut.get("match_tol_s", DEFAULT_TOL_S))
    if not scatter_s <= MAX_SCATTER_FRACTION * tol:
        blocking.append(f"clock alignment uncertain: scatter {scatter_s:.3g} s > "
                        f"{MAX_SCATTER_FRACTION:g} × tolerance {tol:g} s")
    return reports, record, blocking


def add_monitoring(result: dict[str, Any], capture: Path, start: dict[str, Any],
                   config: AnalysisConfig) -> dict[str, Any]:
    """Add the monitoring checks of a point to its results dict (in place; returned).

    Does nothing when the session has no DUT port or the point has no ``dut.vbcap``.
    """
    dut = start.get("dut_port") or {}
    dut_capture = Path(capture).with_name(dut.get("capture") or DUT_CAPTURE_FILE)
    if not dut or not dut_capture.exists():
        return result
    reports, record, blocking = _map_reports(Path(capture), dut_capture,
                                             start.get("port") or {}, dut)
    tol = float(dut.get("match_tol_s", DEFAULT_TOL_S))
    checks, detail = monitoring_checks(result.get("breaths") or [], reports, config.limits,
                                       config.rule.criterion, tol, blocking)
    result["checks"] = list(result.get("checks") or []) + [c.to_json() for c in checks]
    result["monitoring"] = to_jsonable({
        "dut_capture": dut_capture.name, "driver": dut.get("driver"),
        "rule": "each report belongs to the reference breath whose end (start of the next "
                "breath) is nearest on the reference time base, within ± min(tol_s, 1/4 of "
                "the breath); times mapped through the host clock",
        **record, **detail, "blocking": blocking})
    verdict, reason = _verdict(result["checks"])
    result["verdict"] = verdict
    if verdict == "PASS":
        result.pop("reason", None)
    else:
        result["reason"] = reason
    return to_jsonable(result)


def _verdict(checks: list[dict[str, Any]]) -> tuple[str, str]:
    """As :func:`analysis.checks.point_verdict`, on check dicts."""
    judged = [c for c in checks if c.get("verdict") != "INFO"]
    if not judged:
        return "INFO", "no check with a verdict (all informative)"
    for word in ("FAIL", "INCONCLUSIVE"):
        hit = [c for c in judged if c.get("verdict") == word]
        if hit:
            return word, "; ".join(f"{c['quantity']}: {c.get('reason', '')}" for c in hit)
    return "PASS", ""
