"""Session conditions a verdict rests on: traceability, environment, the declared device.

The measurements alone give each point's verdict (:mod:`bench.reanalysis`). A statement of
conformity also needs instruments traceable on the session date (the register's
certificates, matching the identity each instrument reported in its capture), an environment
inside the protocol's ranges at start and end, and — with a declaration — the declared device
being the one tested. :func:`apply_conditions` turns each tested point's PASS or FAIL into
INCONCLUSIVE with the reasons when one of these fails (the verdict of the data alone is kept
as ``verdict_data``), unless the operator overrode them with a recorded reason, and returns
the results' top-level ``instruments``, ``environment`` and ``declaration`` blocks.

Everything here is derived from ``start.json``, ``environment.json`` and the captures, so
``replay`` and ``verify`` recompute it exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ventbench.bench.declaration import Declaration
from ventbench.bench.environment import evaluate
from ventbench.bench.identity import apply_identity
from ventbench.bench.instruments import Register, reported_identity, traceability_problems
from ventbench.bench.session import read_json

ENVIRONMENT_FILE = "environment.json"
JUDGED = ("PASS", "FAIL", "INCONCLUSIVE")
NO_REGISTER = "traceability not established: no instrument register (--instruments)"


def environment_block(start: dict[str, Any], root: Path) -> dict[str, Any]:
    """The start and end records (``environment.json`` when written, else start.json's start)
    evaluated against the protocol's ranges."""
    env = start.get("environment") or {}
    path = Path(root) / ENVIRONMENT_FILE
    recorded = read_json(path, "environment record") if path.exists() else {}
    return evaluate(recorded.get("start") or env.get("start") or {}, recorded.get("end"),
                    env.get("ranges") or {})


def _reported(point: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    if point.get("instrument_identity") is not None:
        out["reference"] = point["instrument_identity"]
    dut = (point.get("monitoring") or {}).get("dut_instrument")
    if dut:
        out["dut"] = reported_identity(dut)
    return out


def apply_conditions(points: list[dict[str, Any]], start: dict[str, Any], root: Path) -> dict[str, Any]:
    """Apply the session conditions to ``points`` in place; the results' top-level blocks."""
    analysis = start.get("analysis") or {}
    register = Register.from_json(analysis["register"]) if analysis.get("register") else None
    declaration = Declaration.from_json(analysis["declaration"]) if analysis.get("declaration") else None
    override = str(start.get("traceability_override") or "")
    day = str(start.get("time_utc", ""))[:10]
    environment = environment_block(start, root)
    session_problems = list(environment["problems"])
    decl_problems = declaration.identity_problems(start.get("dut") or {}) if declaration else []
    session_problems += decl_problems
    trace_all: list[str] = []
    for point in points:
        if point.get("verdict") not in JUDGED:
            continue
        trace = traceability_problems(register, _reported(point), day) if register else []
        trace_all += [p for p in trace if p not in trace_all]
        problems = trace + session_problems
        if not problems:
            continue
        if override and trace:
            point["conditions_overridden"] = {"problems": trace, "reason": override}
            problems = session_problems
        if not problems:
            continue
        point["conditions"] = problems
        if point["verdict"] in ("PASS", "FAIL"):
            point["verdict_data"] = point["verdict"]
            point["verdict"] = "INCONCLUSIVE"
        point["reason"] = "; ".join(filter(None, [point.get("reason"), *problems]))
    if register is None:
        status = NO_REGISTER
    elif trace_all:
        status = ("overridden: " + override) if override else "not traceable"
    else:
        status = "established"
    instruments = {"register": None if register is None else register.path,
                   "register_sha256": None if register is None else register.sha256, "traceability": status,
                   "problems": trace_all, "override": override or None,
                   "entries": [] if register is None else [
                       {k: v for k, v in i.items() if k != "uncertainty"}
                       for i in register.to_json()["instruments"]]}
    out = {"instruments": instruments, "environment": environment}
    identity = apply_identity(points, start)  # a PASS needs the device's model, serial, firmware
    if identity:
        out["device_identity"] = {"problem": identity}
    if declaration is not None:
        applied: dict[str, list[str]] = {}
        for point in points:
            for quantity, how in (point.get("limits_applied") or {}).items():
                applied.setdefault(quantity, [])
                if how not in applied[quantity]:
                    applied[quantity].append(how)
        out["declaration"] = {"path": declaration.path, "sha256": declaration.sha256,
                              "device": declaration.device, "problems": decl_problems,
                              "applied": applied}
    return out
