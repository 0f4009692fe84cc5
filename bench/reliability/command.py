"""Command-line part of ``ventbench run reliability`` (dispatched from ``bench/commands/run.py``).

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

from ventbench.errors import ConfigError


def add_reliability_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of reliability runs (ignored by other protocols)."""
    group = parser.add_argument_group("reliability runs (PROTOCOL reliability)")
    group.add_argument("--duration", default=None, metavar="D",
                       help="run length: 90s, 15m, 24h, 14d, 1d12h (default: the protocol's)")
    group.add_argument("--set", dest="set_values", action="append", default=[], metavar="K=V",
                       help="ventilator setting (vt_ml, rate_bpm, ti_s, peep_cmh2o …), repeatable")
    group.add_argument("--limit", dest="limit_values", action="append", default=[],
                       metavar="Q=MIN:MAX", help="per-breath limit (vt_ml, peep_cmh2o, pip_cmh2o, rate_bpm)")
    group.add_argument("--drift-limit", dest="drift_values", action="append", default=[],
                       metavar="Q=V", help="drift limit per 24 h, in the quantity's unit")
    group.add_argument("--resume", type=Path, default=None, metavar="SESSION",
                       help="continue an interrupted reliability session")
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


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{option} {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def run_reliability(args: argparse.Namespace) -> int:
    """Run (or resume) a reliability session from parsed ``ventbench run`` arguments."""
    from ventbench.bench.commands.run import ambient_from_args, parse_options
    from ventbench.bench.live import Live
    from ventbench.bench.reliability.config import load_reliability
    from ventbench.bench.reliability.runner import ReliabilityRun
    from ventbench.drivers.registry import driver_class

    driver_class(args.driver)  # unknown driver: a usage error before any file is written
    live = Live()
    if args.resume is not None:
        run = ReliabilityRun(None, args.port, args.driver, resume=args.resume, live=live,
                             render=not args.no_report, history=not args.no_history,
                             history_url=args.history)
        return run.run()
    sets = {}
    for key, value in _pairs(args.set_values, "--set").items():
        try:
            sets[key] = float(value)
        except ValueError:
            raise ConfigError(f"--set {key}={value!r}: expected a number") from None
    config = load_reliability(args.protocol, duration=args.duration, set_values=sets,
                              limits=_pairs(args.limit_values, "--limit"),
                              drift_limits=_pairs(args.drift_values, "--drift-limit"))
    if not args.port.lower().startswith("sim://") and not args.yes:
        print("Set the ventilator to: " + ", ".join(f"{k} {v:g}" for k, v in config.set.items()))
        print("Test lung: " + ", ".join(f"{k} {v:g}" for k, v in config.lung.items()))
        try:
            input("Press Enter to start the reliability run (Ctrl-C to cancel) ")
        except EOFError:
            print("no answer (end of input): not started", file=sys.stderr)
            return 2
    run = ReliabilityRun(config, args.port, args.driver, parse_options(args.option),
                         sessions_root=args.out, live=live, ambient=ambient_from_args(args),
                         render=not args.no_report, history=not args.no_history,
                         history_url=args.history)
    return run.run()
