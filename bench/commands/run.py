"""``ventbench run PROTOCOL --port URL --driver NAME``: a bench session with operator prompts.

Before each point the terminal shows the ventilator settings and the test lung to set and
waits: Enter = go, ``s`` = skip (NOT TESTED), ``r`` = redo the previous point, ``a`` =
abort, anything else is a note. ``--operator-mode auto`` lets the harness set up simulated
(``sim://``) points itself, as the demo and CI do. Exit code: the session verdict (0 PASS,
1 FAIL, 2 INCONCLUSIVE / aborted), 3 configuration, 4 device.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from analysis.gas import Ambient
from analysis.limits import load_limits
from analysis.segment import SegmentationSettings
from bench.analysis_config import AnalysisConfig
from bench.live import Live
from bench.operator import AutomatedOperator, Operator, Prototype, TerminalOperator
from bench.protocol import Protocol, load_protocol
from bench.runner import Runner, RunPlan

HELP = "run a protocol against a device: operator prompts, live breaths, a session record"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("protocol", metavar="PROTOCOL", help="built-in protocol id or TOML file")
    parser.add_argument("--port", required=True, metavar="URL",
                        help="reference instrument / rig port (/dev/ttyACM0, sim://rig …)")
    parser.add_argument("--driver", required=True, metavar="NAME", help="driver (rig, imt …)")
    parser.add_argument("--option", action="append", default=[], metavar="K=V",
                        help="driver option (repeatable)")
    parser.add_argument("--group", action="append", help="only points of this group (repeatable)")
    parser.add_argument("--point", action="append", help="only this point id (repeatable)")
    parser.add_argument("--limits", help="limit set or device profile (default: the protocol's)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="sessions root (default $VENTBENCH_SESSIONS or ./sessions)")
    parser.add_argument("--operator", default="", metavar="NAME", help="operator's name")
    parser.add_argument("--operator-mode", choices=("terminal", "auto"), default="terminal",
                        help="terminal prompts (default) or the automated operator (sim://)")
    parser.add_argument("--dut", "--device", dest="dut", default="", metavar="NAME",
                        help="device under test")
    parser.add_argument("--device-serial", default="", metavar="S")
    parser.add_argument("--firmware", default="", metavar="V")
    parser.add_argument("--t-amb", type=float, default=None, metavar="DEGC",
                        help="ambient temperature, °C (default 22, marked 'default')")
    parser.add_argument("--p-amb", type=float, default=None, metavar="HPA",
                        help="ambient pressure, hPa (default 1013.25)")
    parser.add_argument("--rh", type=float, default=None, metavar="PCT",
                        help="ambient relative humidity, %%")
    parser.add_argument("--settle", type=int, default=None, metavar="N",
                        help="override the protocol's settle breaths")
    parser.add_argument("--measure", type=int, default=None, metavar="N",
                        help="override the protocol's measured breaths")
    parser.add_argument("--no-history", action="store_true", help="do not index the session")
    parser.add_argument("--no-report", action="store_true",
                        help="do not render report.pdf (render it later with ventbench report)")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``K=V`` strings → dict (numbers parsed); ConfigError naming a bad pair."""
    from analysis.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def ambient_from_args(args: argparse.Namespace) -> Ambient:
    given = [v for v in (args.t_amb, args.p_amb, args.rh) if v is not None]
    base = Ambient()
    return Ambient(
        t_amb_degc=base.t_amb_degc if args.t_amb is None else args.t_amb,
        p_amb_hpa=base.p_amb_hpa if args.p_amb is None else args.p_amb,
        rh_pct=base.rh_pct if args.rh is None else args.rh,
        source="user" if given else "default",
    )


def analysis_config(protocol: Protocol, limits: str | None, ambient: Ambient,
                    settle: int | None = None, measure: int | None = None) -> AnalysisConfig:
    """The frozen analysis configuration of a session on ``protocol``."""
    overrides = {}
    if settle is not None:
        overrides["settle_breaths"] = settle
    if measure is not None:
        overrides["measure_breaths"] = measure
    segmentation = {"": SegmentationSettings.preset("adult")}
    for point in protocol.points:
        segmentation[point.group] = SegmentationSettings.preset(protocol.segmentation(point))
    return AnalysisConfig(
        limits=load_limits(limits or protocol.limits),
        rule=protocol.rule(**overrides),
        segmentation=segmentation,
        ambient=ambient,
    )


def make_plan(protocol: Protocol, *, port: str, driver: str, operator: Operator,
              config: AnalysisConfig, driver_options: dict[str, Any] | None = None,
              dut: dict[str, Any] | None = None, sessions_root: Path | None = None,
              index_history: bool = True, render_report: bool = True) -> RunPlan:
    """A :class:`RunPlan` for ``protocol`` (already selected)."""
    return RunPlan(protocol=protocol.to_json(), config=config, port_url=port, driver=driver,
                   operator=operator, driver_options=dict(driver_options or {}),
                   dut=dict(dut or {}), sessions_root=sessions_root,
                   index_history=index_history, render_report=render_report)


def run(args: argparse.Namespace) -> int:
    from analysis.errors import ConfigError

    protocol = load_protocol(args.protocol)
    if args.group or args.point:
        protocol = protocol.select(group=args.group, ids=args.point)
    if not protocol.points:
        raise ConfigError(f"protocol {protocol.id!r}: no points selected")
    from drivers.registry import driver_class

    driver_class(args.driver)  # an unknown driver is a usage error before any file is written
    config = analysis_config(protocol, args.limits, ambient_from_args(args), args.settle,
                             args.measure)
    dut = {"name": args.dut, "serial": args.device_serial, "firmware": args.firmware}
    if args.operator_mode == "auto":
        if not args.port.lower().startswith("sim://"):
            raise ConfigError(f"--operator-mode auto needs a sim:// port, found {args.port!r}")
        operator: Operator = AutomatedOperator(
            Prototype(name=args.dut or "simulated device", serial=args.device_serial,
                      firmware=args.firmware), name=args.operator or "automated operator")
    else:
        operator = TerminalOperator(args.operator or "unnamed operator", sys.stdin, sys.stdout)
    plan = make_plan(protocol, port=args.port, driver=args.driver, operator=operator,
                     config=config, driver_options=parse_options(args.option), dut=dut,
                     sessions_root=args.out, index_history=not args.no_history,
                     render_report=not args.no_report)
    return Runner(plan, Live()).run()
