"""The options a statement of conformity rests on, shared by ``run``, ``demo`` and reliability runs.

``--instruments FILE`` (instrument register, :mod:`bench.instruments`), ``--declaration FILE``
(:mod:`bench.declaration`), ``--decision-rule simple|guarded`` (else the protocol's),
``--traceability-override REASON``, and the environment at start and end
(``--t-amb/--p-amb/--rh`` and ``--env NAME=VALUE``; ``--env-end NAME=VALUE``; names as
:data:`bench.environment.QUANTITIES`). :func:`evidence_from_args` reads and validates them
before anything is written (bad input: one line naming file, entry and field; exit 3).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ventbench.analysis.budget import AmbientUncertainty
from ventbench.analysis.gas import Ambient
from ventbench.bench.declaration import Declaration, load_declaration
from ventbench.bench.environment import QUANTITIES, ambient_u, phase_record
from ventbench.bench.instruments import Register, load_register, traceability_problems
from ventbench.errors import ConfigError


def ask_environment(phase: str, given: dict[str, float], ask=input, say=print) -> dict[str, float]:
    """Ask the operator for each ambient value not ``given`` (Enter: not recorded); a line that is
    not a number is asked again. Returns ``given`` with the answers."""
    out = dict(given)
    for name, q in QUANTITIES.items():
        while name not in out:
            try:
                text = ask(f"{q.label} at the {phase}, {q.unit} (Enter: not recorded): ").strip()
            except EOFError:
                return out
            if not text:
                break
            try:
                out[name] = float(text)
            except ValueError:
                say(f"  {text!r} is not a number")
    return out


def parse_env_pairs(pairs: list[str], flag: str) -> dict[str, float]:
    out = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in QUANTITIES:
            raise ConfigError(f"{flag} {pair!r}: expected NAME=VALUE with NAME one of {', '.join(QUANTITIES)}")
        try:
            out[name] = float(text)
        except ValueError:
            raise ConfigError(f"{flag} {pair!r}: {text!r} is not a number") from None
    return out


@dataclass(frozen=True)
class Evidence:
    register: Register | None
    declaration: Declaration | None
    decision_rule: str | None
    override: str
    env_start: dict[str, Any]
    env_end: dict[str, float]
    ranges: dict[str, tuple[float, float]]

    def ambient(self) -> Ambient:
        """The ambient the gas conversion uses (the start values; RH 0 when not given)."""
        values = {k: (self.env_start.get(k) or {}).get("value") for k in ("t_amb_degc", "p_amb_hpa", "rh_pct")}
        sources = {(self.env_start.get(k) or {}).get("source") for k in values}
        return Ambient(values["t_amb_degc"], values["p_amb_hpa"], values["rh_pct"] or 0.0,
                       "user" if sources & {"entered", "measured"} else "default")

    def ambient_u(self) -> AmbientUncertainty:
        return ambient_u(self.env_start)

    def environment(self) -> dict[str, Any]:
        """start.json's ``environment``: the start record and the protocol's ranges."""
        return {"start": self.env_start, "ranges": {k: list(v) for k, v in self.ranges.items()}}

    def warnings(self, dut: dict[str, Any]) -> list[str]:
        """What is known before the first byte to make the verdicts INCONCLUSIVE."""
        out = []
        if self.register is not None:
            today = datetime.now(UTC).date().isoformat()
            out += [p for p in traceability_problems(self.register, {}, today)]
        else:
            out.append("no instrument register (--instruments): traceability not established")
        if self.declaration is not None:
            out += self.declaration.identity_problems(dut)
        return out


def evidence_from_args(args: argparse.Namespace, ranges: dict[str, tuple[float, float]],
                       default_register: Path | None = None, entered_by: str = "operator") -> Evidence:
    """Read and validate the shared options (see module doc)."""
    if args.instruments is not None:
        register = load_register(args.instruments)
    elif default_register is not None:
        register = load_register(default_register, f"built-in {default_register.name}")
    else:
        register = None
    declaration = load_declaration(args.declaration) if args.declaration is not None else None
    entered = parse_env_pairs(args.env, "--env")
    for name, flag in (("t_amb_degc", "t_amb"), ("p_amb_hpa", "p_amb"), ("rh_pct", "rh")):
        value = getattr(args, flag, None)
        if value is not None:
            entered[name] = value
    start = phase_record(entered, register, entered_by)
    ambient_check = Ambient(start["t_amb_degc"]["value"], start["p_amb_hpa"]["value"],
                            start["rh_pct"]["value"] or 0.0)  # raises a ConfigError for an impossible value
    del ambient_check
    return Evidence(register, declaration, args.decision_rule, str(args.traceability_override or ""), start,
                    parse_env_pairs(args.env_end, "--env-end"), dict(ranges))
