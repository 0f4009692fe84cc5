"""Command-line part of ``ventbench run reliability`` (dispatched from ``bench/commands/run.py``;
not a sub-command of its own).

::

    ventbench run reliability --port URL --driver NAME --duration 24h [--set vt_ml=450 ...]
        [--limit vt_ml=380:520 ...] [--drift-limit vt_ml=20 ...] [--out DIR] [--yes]
    ventbench run reliability --port URL --driver NAME --resume SESSION

A ``sim://`` port never prompts. A real port shows the setting and the test lung once and
waits for Enter (``--yes`` skips that, for unattended starts). Exit code: 0 PASS, 1 FAIL,
2 INCONCLUSIVE or interrupted, 3 configuration, 4 device or disk error.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from ventbench.bench.args import (
    as_dict,
    duration,
    interval,
    key_value,
    number,
    positive,
)
from ventbench.errors import ConfigError

#: Per-breath quantities a reliability run judges (``bench.reliability.config.QUANTITIES``;
#: repeated here so that ``--help`` loads nothing heavy, and checked equal by a test).
QUANTITIES = ("vt_ml", "peep_cmh2o", "pip_cmh2o", "rate_bpm")
#: Options that mean something only to a reliability run: refused on other protocols.
RELIABILITY_ONLY = {"duration": "--duration", "set_values": "--set", "limit_values": "--limit",
                    "drift_values": "--drift-limit", "yes": "--yes"}


def add_reliability_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of reliability runs (refused with other protocols)."""
    group = parser.add_argument_group("reliability runs (PROTOCOL reliability)")
    group.add_argument("--duration", default=None, metavar="D", type=duration,
                       help="run length: 90s, 15m, 24h, 14d, 1d12h (default: the protocol's)")
    group.add_argument("--set", dest="set_values", action="append", default=[], metavar="K=V",
                       type=key_value(value=number(0.0)),
                       help="ventilator setting (vt_ml, rate_bpm, ti_s, peep_cmh2o …), repeatable")
    group.add_argument("--limit", dest="limit_values", action="append", default=[],
                       type=key_value(QUANTITIES, interval),
                       metavar="Q=MIN:MAX", help="per-breath limit (vt_ml, peep_cmh2o, pip_cmh2o, rate_bpm)")
    group.add_argument("--drift-limit", dest="drift_values", action="append", default=[],
                       type=key_value(QUANTITIES, positive),
                       metavar="Q=V", help="drift limit per 24 h, in the quantity's unit")
    group.add_argument("--resume", type=Path, default=None, metavar="SESSION",
                       help="continue an interrupted reliability or certification session")
    group.add_argument("--yes", action="store_true", help="no prompt before a real port starts")


def is_reliability(args: argparse.Namespace) -> bool:
    """True for the built-in ``reliability`` protocol, a protocol file with a
    ``[reliability]`` table, or ``--resume``."""
    if getattr(args, "resume", None) is not None or args.protocol == "reliability":
        return True
    path = Path(args.protocol)
    if path.suffix == ".toml" and path.is_file():
        try:
            return "reliability" in tomllib.loads(path.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return False
    return False


def refuse_reliability_options(args: argparse.Namespace, protocol: str) -> None:
    """ConfigError naming the first reliability-only option given with ``protocol``, which
    is not a reliability protocol (it has no duration, no per-breath limits …)."""
    for dest, flag in RELIABILITY_ONLY.items():
        if getattr(args, dest, None):
            raise ConfigError(f"{flag}: protocol {protocol!r} is not a reliability run; {flag} "
                              "applies only to reliability protocols (PROTOCOL reliability)")


def run_reliability(args: argparse.Namespace) -> int:
    """Run (or resume) a reliability session from parsed ``ventbench run`` arguments."""
    from ventbench.bench.evidence import evidence_from_args, parse_env_pairs
    from ventbench.bench.live import Live
    from ventbench.bench.protocol import load_protocol
    from ventbench.bench.reliability.config import load_reliability
    from ventbench.bench.reliability.evidence import declared_limits, start_fields
    from ventbench.bench.reliability.runner import ReliabilityRun
    from ventbench.drivers.registry import driver_options

    render = None
    if not args.no_report:
        from ventbench.bench.report import render  # matplotlib: only when a run needs it
    # unknown driver or a bad --option: a usage error before any file is written
    options = driver_options(args.driver, args.option)
    # instruments, declaration, decision rule, environment: frozen at the start like run's
    # (bench/evidence.py); a resumed session keeps its own and takes only --env-end
    frozen = [flag for flag, given in (
        ("--instruments", args.instruments), ("--declaration", args.declaration),
        ("--decision-rule", args.decision_rule), ("--traceability-override", args.traceability_override),
        ("--env", args.env)) if given]
    if args.resume is not None and frozen:
        raise ConfigError(f"{', '.join(frozen)}: fixed at the start of {args.resume}; a resumed "
                          "reliability run keeps them (only --env-end is taken)")
    if args.decision_rule == "guarded":  # never accepted and silently ignored
        raise ConfigError("--decision-rule guarded: not supported for reliability runs (their per-breath "
                          "limits are judged breath by breath, without a guard band); use simple")
    live = Live()
    env_end = parse_env_pairs(args.env_end, "--env-end")
    if args.resume is not None:
        run = ReliabilityRun(None, args.port, args.driver, resume=args.resume, live=live,
                             render=render, history=not args.no_history,
                             history_url=args.history, env_end=env_end)
        return run.run()
    config = load_reliability(args.protocol, duration=args.duration,
                              set_values=as_dict(args.set_values),
                              limits=as_dict(args.limit_values),
                              drift_limits=as_dict(args.drift_values))
    evidence = evidence_from_args(args, dict(load_protocol(args.protocol).environment))
    config = declared_limits(config, evidence.declaration)
    dut = {"name": args.dut, "serial": args.device_serial, "firmware": args.firmware}
    if evidence.declaration is not None:  # the declared identity fills what was not given
        for key in ("name", "serial", "firmware"):
            dut[key] = dut[key] or evidence.declaration.device.get(key, "")
    if not args.port.lower().startswith("sim://") and not args.yes:
        print("Set the ventilator to: " + ", ".join(f"{k} {v:g}" for k, v in config.set.items()))
        print("Test lung: " + ", ".join(f"{k} {v:g}" for k, v in config.lung.items()))
        try:
            input("Press Enter to start the reliability run (Ctrl-C to cancel) ")
        except EOFError:
            print("no answer (end of input): not started", file=sys.stderr)
            return 2
    run = ReliabilityRun(config, args.port, args.driver, options.to_dict(),
                         sessions_root=args.out, live=live, ambient=evidence.ambient(),
                         render=render, history=not args.no_history,
                         history_url=args.history, evidence=start_fields(evidence, dut), env_end=env_end)
    for line in evidence.warnings(dut):  # what will make the verdict INCONCLUSIVE, said now
        live.line(f"warning: {line}")
    return run.run()
