"""``ventbench run PROTOCOL --port URL --driver NAME``: a bench session with operator prompts.

Before each point the terminal shows the ventilator settings and the test lung to set and
waits: Enter = go, ``s`` = skip (NOT TESTED), ``r`` = redo the previous point, ``a`` =
abort, anything else is a note. ``--operator-mode auto`` lets the harness set up simulated
(``sim://``) points itself, as the demo and CI do (and passes the same settings and seed
to a ``sim://`` DUT port). ``--dut-port URL --dut-driver NAME`` also records the device
under test's own telemetry and judges its monitoring accuracy (:mod:`bench.monitoring`).
Exit code: the session verdict (0 PASS, 1 FAIL, 2 INCONCLUSIVE / aborted), 3
configuration, 4 device.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ventbench.analysis.gas import Ambient
from ventbench.analysis.limits import load_limits
from ventbench.analysis.segment import SegmentationSettings
from ventbench.bench.analysis_config import AnalysisConfig
from ventbench.bench.history_url import add_history_argument
from ventbench.bench.live import Live
from ventbench.bench.operator import AutomatedOperator, Operator, Prototype, TerminalOperator
from ventbench.bench.protocol import Protocol, load_protocol
from ventbench.bench.runner import Runner, RunPlan

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
    parser.add_argument("--lab", default="", metavar="NAME",
                        help="laboratory or site where the test is run (shown in the report)")
    parser.add_argument("--operator-mode", choices=("terminal", "auto"), default="terminal",
                        help="terminal prompts (default) or the automated operator (sim://)")
    parser.add_argument("--dut", "--device", dest="dut", default="", metavar="NAME",
                        help="device under test")
    parser.add_argument("--dut-port", default=None, metavar="URL",
                        help="the device under test's own telemetry port (monitoring accuracy)")
    parser.add_argument("--dut-driver", default=None, metavar="NAME",
                        help="driver of the DUT telemetry port (pirds)")
    parser.add_argument("--dut-option", action="append", default=[], metavar="K=V",
                        help="DUT driver option (repeatable)")
    parser.add_argument("--dut-match-tol", type=float, default=None, metavar="S",
                        help="a DUT report belongs to the reference breath whose end is "
                             "within ± S s (default 0.5; never more than 1/4 breath)")
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
    add_history_argument(parser)
    parser.add_argument("--no-report", action="store_true",
                        help="do not render report.pdf (render it later with ventbench report)")
    # -- reliability runs (bench/reliability/command.py) --
    from ventbench.bench.reliability.command import add_reliability_arguments

    add_reliability_arguments(parser)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``K=V`` strings → dict (numbers parsed); ConfigError naming a bad pair."""
    from ventbench.errors import ConfigError

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
              index_history: bool = True, render_report: bool = True,
              dut_port: dict[str, Any] | None = None, lab: str = "",
              history_url: str | None = None) -> RunPlan:
    """A :class:`RunPlan` for ``protocol`` (already selected); ``dut_port`` as
    :func:`bench.monitoring.dut_record`."""
    return RunPlan(protocol=protocol.to_json(), config=config, port_url=port, driver=driver,
                   operator=operator, driver_options=dict(driver_options or {}),
                   dut=dict(dut or {}), sessions_root=sessions_root,
                   index_history=index_history, render_report=render_report,
                   dut_port=dict(dut_port or {}), lab=lab, history_url=history_url)


def dut_port_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The DUT telemetry port of ``--dut-port/--dut-driver/--dut-option`` (empty without
    one); ConfigError for an incomplete pair, a driver without telemetry, or a simulated
    port whose clock does not follow the host's (``speed=max``)."""
    from ventbench.analysis.monitoring import DEFAULT_TOL_S
    from ventbench.bench.monitoring import dut_record
    from ventbench.drivers.registry import driver_class
    from ventbench.drivers.telemetry import check_dut_driver

    from ventbench.errors import ConfigError

    if not args.dut_port and not args.dut_driver:
        return {}
    if not (args.dut_port and args.dut_driver):
        raise ConfigError("--dut-port and --dut-driver go together: give both or neither")
    driver_class(args.dut_driver)
    check_dut_driver(args.dut_driver)
    for flag, url in (("--port", args.port), ("--dut-port", args.dut_port)):
        if _sim_speed_max(url):
            raise ConfigError(
                f"{flag} {url!r}: speed=max runs a simulated device as fast as it is read, "
                "so its clock is unrelated to the host clock the DUT reports are aligned "
                "through; give both simulated ports a finite speed (e.g. speed=20)")
    tol = DEFAULT_TOL_S if args.dut_match_tol is None else args.dut_match_tol
    if not tol > 0:
        raise ConfigError(f"--dut-match-tol {args.dut_match_tol!r}: expected a positive time, s")
    return dut_record(args.dut_port, args.dut_driver, parse_options(args.dut_option), tol)


def _sim_speed_max(url: str) -> bool:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    return parts.scheme.lower() == "sim" and query.get("speed", "1").strip().lower() == "max"


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.reliability.command import is_reliability, run_reliability

    from ventbench.errors import ConfigError

    if is_reliability(args):  # a days-long run: bench/reliability/
        return run_reliability(args)
    protocol = load_protocol(args.protocol)
    if args.group or args.point:
        protocol = protocol.select(group=args.group, ids=args.point)
    if not protocol.points:
        raise ConfigError(f"protocol {protocol.id!r}: no points selected")
    from ventbench.drivers.registry import driver_class

    driver_class(args.driver)  # an unknown driver is a usage error before any file is written
    dut_port = dut_port_from_args(args)
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
                     render_report=not args.no_report, dut_port=dut_port, lab=args.lab,
                     history_url=args.history)
    return Runner(plan, Live()).run()
