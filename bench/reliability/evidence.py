"""A reliability run's evidence: instrument register, device declaration, environment.

The same options and files as ``run`` and ``demo`` sessions (:mod:`bench.evidence` reads the
options, :mod:`bench.conditions` judges them); this module only fits them to a reliability
session, whose one verdict is the ``reliability`` block's rather than one per point:

* :func:`start_fields` — what ``start.json`` freezes: the register and declaration (under
  ``analysis``, as run sessions), the decision rule, the environment's start record and
  ranges, the values entered for the end, the traceability override and the declared device;
* :func:`declared_limits` — the declaration as the first source of the per-breath limits:
  for each judged quantity with a set value that a declared entry covers, the interval
  ``set ± (abs + rel·|set|)`` (``of = "actual"``: the readings ``v`` with
  ``|v − set| ≤ abs + rel·|v|``) replaces the protocol's; which applied is recorded;
* :func:`write_environment` — ``environment.json`` at the end of every segment: the start
  record (what the instrument measured at the first handshake wins over entered values),
  the end record (``--env-end`` of this segment, else what the instrument measured at its
  handshake) and every segment's end;
* :func:`reported_identities` — the identity each segment's instrument reported at its
  handshake, read back from the first records of the segment's capture (hashed, replayed);
* :func:`apply_evidence` — :func:`bench.conditions.apply_conditions` on the run's verdict:
  an expired certificate, a serial that is not the register's, an environment out of the
  protocol's ranges or a declared device that is not the one tested turn PASS (or FAIL)
  into INCONCLUSIVE with the reasons (``verdict_data`` keeps the data's own), unless the
  traceability problems were overridden with a recorded reason.

Everything is derived from ``start.json``, ``environment.json`` and the captures, so
``results.json`` is re-derived identically by ``replay`` and ``verify``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ventbench.bench.conditions import ENVIRONMENT_FILE, apply_conditions
from ventbench.bench.environment import phase_record, with_measured
from ventbench.bench.instruments import Register, reported_identity
from ventbench.bench.reliability.config import ReliabilityConfig
from ventbench.bench.session import read_json, write_json_atomic

#: Declaration quantity → the reliability run's per-breath field (pip: the set inspiratory
#: pressure of a PC point; VC points have no set peak pressure, so the protocol's cap applies).
DECLARED_FIELDS = {"vt": "vt_ml", "peep": "peep_cmh2o", "pip": "pip_cmh2o", "pinsp": "pip_cmh2o",
                   "rate": "rate_bpm"}
#: The per-breath field → the set value it is judged around.
SET_KEYS = {"vt_ml": "vt_ml", "peep_cmh2o": "peep_cmh2o", "pip_cmh2o": "pip_cmh2o", "rate_bpm": "rate_bpm"}


def start_fields(evidence: Any, dut: dict[str, Any]) -> dict[str, Any]:
    """The fields a reliability ``start.json`` gains from a :class:`bench.evidence.Evidence`."""
    return {"analysis": {"register": None if evidence.register is None else evidence.register.to_json(),
                         "declaration": None if evidence.declaration is None else evidence.declaration.to_json(),
                         "decision_rule": evidence.decision_rule or "simple"},
            "environment": evidence.environment(), "environment_end": dict(evidence.env_end),
            "traceability_override": evidence.override, "dut": dict(dut)}


def declared_limits(config: ReliabilityConfig, declaration: Any) -> ReliabilityConfig:
    """``config`` with the declared per-breath limits (module doc) and ``extra["limits_applied"]``:
    per quantity ``"declared (DOCUMENT…)"`` or ``"protocol (ID)"``."""
    from ventbench.analysis.checks import derive_set_values
    from ventbench.analysis.tolerance import unit_factor

    sets = derive_set_values(config.set, config.mode)
    limits = dict(config.limits)
    applied = {q: f"protocol ({config.protocol_id})" for q in limits}
    if declaration is not None:
        done: set[str] = set()
        for entry in declaration.accuracy:
            field = DECLARED_FIELDS.get(entry.quantity)
            set_value = sets.get(SET_KEYS.get(field or "", ""))
            if field is None or field in done or set_value is None or not entry.covers(set_value):
                continue
            factor = unit_factor(entry.quantity, entry.unit)  # entry unit → the field's unit
            a, r = entry.abs * factor, entry.rel
            if entry.of == "actual":  # |v − s| ≤ a + r·|v|, v > 0
                lo, hi = (set_value - a) / (1.0 + r), (set_value + a) / (1.0 - r) if r < 1 else float("inf")
            else:
                half = a + r * abs(set_value)
                lo, hi = set_value - half, set_value + half
            limits[field] = (round(lo, 9), round(hi, 9))
            rng = f", range {entry.range[0]:g}–{entry.range[1]:g} {entry.unit}" if entry.range else ""
            applied[field] = (f"declared ({declaration.device['document']}{rng}): ±({entry.abs:g} {entry.unit} "
                              f"+ {100 * entry.rel:g} % of {entry.of})")
            done.add(field)
    return dataclasses.replace(config, limits=limits, extra={**config.extra, "limits_applied": applied})


def reported_identities(root: Path) -> dict[int, dict[str, Any]]:
    """Segment → the driver info its instrument reported at the first handshake (the
    ``handshake`` event of the segment's first capture part); segments without one left out."""
    from ventbench.bench.reliability.capture_parts import segment_parts
    from ventbench.drivers.capture import CaptureReader

    out = {}
    for seg, parts in segment_parts(Path(root) / "points" / "reliability").items():
        if not parts:
            continue
        for rec in CaptureReader(parts[0]):
            if rec.kind == "event":
                body = rec.event()
                if body.get("event") == "handshake":
                    out[seg] = dict(body.get("info") or {})
                    break
            elif rec.kind == "rx" and rec.offset > (1 << 20):  # no handshake near the start
                break
    return out


def write_environment(root: Path, start: dict[str, Any], segment: int, env_end: dict[str, float]) -> None:
    """``environment.json`` at the end of ``segment`` (module doc); ``env_end``: this
    segment's ``--env-end`` values."""
    root = Path(root)
    analysis = start.get("analysis") or {}
    register = Register.from_json(analysis["register"]) if analysis.get("register") else None
    path = root / ENVIRONMENT_FILE
    previous = read_json(path, "environment record") if path.exists() else {}
    env_start = dict((start.get("environment") or {}).get("start") or {})
    end = phase_record(env_end, register, "entered at the end", defaults=False)
    infos = reported_identities(root)
    if 0 in infos:
        env_start = with_measured(env_start, infos[0], register, f"{start.get('driver')} (segment 0)")
    if segment in infos:
        end = with_measured(end, infos[segment], register, f"{start.get('driver')} (segment {segment})")
    by_segment = dict(previous.get("end_by_segment") or {})
    by_segment[str(segment)] = end
    write_json_atomic(path, {"start": env_start, "end": end, "end_by_segment": by_segment})


def apply_evidence(results: dict[str, Any], root: Path, start: dict[str, Any]) -> dict[str, Any]:
    """Apply the session conditions to a reliability ``results`` document in place (module doc)."""
    block = results["reliability"]
    config = ReliabilityConfig.from_json(start["reliability"])
    applied = dict(config.extra.get("limits_applied") or {q: f"protocol ({config.protocol_id})"
                                                           for q in config.limits})
    block["limits_applied"] = applied
    block["decision_rule"] = (start.get("analysis") or {}).get("decision_rule") or "simple"
    identities = reported_identities(root)
    pseudo = [{"id": f"segment {seg}", "verdict": block["verdict"], "limits_applied": applied,
               "instrument_identity": reported_identity(info)} for seg, info in sorted(identities.items())]
    if not pseudo:  # no handshake recorded: the session conditions still apply
        pseudo = [{"id": "run", "verdict": block["verdict"], "limits_applied": applied}]
    blocks = apply_conditions(pseudo, start, Path(root))
    problems: list[str] = []
    overridden: dict[str, Any] | None = None
    for point in pseudo:
        problems += [p for p in point.get("conditions") or [] if p not in problems]
        overridden = overridden or point.get("conditions_overridden")
    if overridden:
        block["conditions_overridden"] = overridden
    if problems:
        block["conditions"] = problems
        if block["verdict"] in ("PASS", "FAIL"):
            block["verdict_data"] = block["verdict"]
            block["verdict"] = "INCONCLUSIVE"
        block["reasons"] = list(block.get("reasons") or []) + problems
    block["identity"] = {str(seg): reported_identity(info) for seg, info in sorted(identities.items())}
    results.update(blocks)
    results["verdict"] = block["verdict"]
    return results
