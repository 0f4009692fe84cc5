"""``ventbench run PROTOCOL --port URL --driver NAME``: a bench session with operator prompts.

Before each point the terminal shows the ventilator settings and the test lung to set and
waits: Enter = go, ``s`` = skip (NOT TESTED), ``r`` = redo the previous point, ``a`` =
abort, anything else is a note. A protocol's inspection checklist is asked first (p / f / n
and a note per item), or answered from ``--inspection FILE``. ``--operator-mode auto`` lets the harness set up simulated
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
from typing import TYPE_CHECKING, Any

from ventbench.bench.args import (
    add_ambient_arguments,
    add_evidence_arguments,
    count,
    key_value,
    number,
    port_url,
    positive,
)
from ventbench.bench.commands.run_certification import add_certification_arguments, is_certification
from ventbench.bench.commands.run_reliability import (
    add_reliability_arguments,
    is_reliability,
    refuse_reliability_options,
    run_reliability,
)
from ventbench.bench.history_url import add_history_argument
from ventbench.bench.view.options import add_view_arguments
from ventbench.errors import ConfigError

if TYPE_CHECKING:
    from ventbench.analysis.gas import Ambient
    from ventbench.bench.analysis_config import AnalysisConfig
    from ventbench.bench.evidence import Evidence
    from ventbench.bench.live import Live
    from ventbench.bench.operator import Operator
    from ventbench.bench.protocol import Protocol
    from ventbench.bench.runner import RunPlan

HELP = "run a protocol against a device: operator prompts, live breaths, a session record"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("protocol", metavar="PROTOCOL", help="built-in protocol id or TOML file (reliability, certification or a plan: docs)")
    parser.add_argument("--port", required=True, metavar="URL", type=port_url,
                        help="reference instrument / rig port (/dev/ttyACM0, sim://rig …)")
    parser.add_argument("--driver", required=True, metavar="NAME", help="driver (rig, imt …)")
    parser.add_argument("--option", action="append", default=[], metavar="K=V", type=key_value(),
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
    parser.add_argument("--dut-port", default=None, metavar="URL", type=port_url,
                        help="the device under test's own telemetry port (monitoring accuracy)")
    parser.add_argument("--dut-driver", default=None, metavar="NAME",
                        help="driver of the DUT telemetry port (pirds)")
    parser.add_argument("--dut-option", action="append", default=[], metavar="K=V", type=key_value(),
                        help="DUT driver option (repeatable)")
    parser.add_argument("--dut-match-tol", type=positive, default=None, metavar="S",
                        help="a DUT report belongs to the reference breath whose end is "
                             "within ± S s (default 0.5; never more than 1/4 breath)")
    parser.add_argument("--device-serial", default="", metavar="S")
    parser.add_argument("--firmware", default="", metavar="V")
    add_ambient_arguments(parser)
    # instruments, declaration, decision rule, environment (read by bench/evidence.py)
    add_evidence_arguments(parser)
    parser.add_argument("--settle", type=number(0, integer=True), default=None, metavar="N",
                        help="override the protocol's settle breaths")
    parser.add_argument("--measure", type=count, default=None, metavar="N",
                        help="override the protocol's measured breaths")
    parser.add_argument("--inspection", type=Path, default=None, metavar="FILE",
                        help="answers to the protocol's inspection checklist (TOML, docs/inspection.md) "
                             "instead of asking them")
    parser.add_argument("--no-history", action="store_true", help="do not index the session")
    add_history_argument(parser)
    parser.add_argument("--no-report", action="store_true",
                        help="do not render report.pdf (render it later with ventbench report)")
    # -- reliability runs (bench/commands/run_reliability.py) --
    add_reliability_arguments(parser)
    # -- certification runs (bench/commands/run_certification.py) --
    add_certification_arguments(parser)
    add_view_arguments(parser)


def analysis_config(protocol: Protocol, limits: str | None, ambient: Ambient,
                    settle: int | None = None, measure: int | None = None,
                    evidence: Evidence | None = None) -> AnalysisConfig:
    """The frozen analysis configuration of a session on ``protocol`` (with the register,
    declaration, decision rule and ambient uncertainties of ``evidence`` when given)."""
    from ventbench.analysis.limits import load_limits
    from ventbench.analysis.segment import SegmentationSettings
    from ventbench.bench.analysis_config import AnalysisConfig

    overrides = {}
    if settle is not None:
        overrides["settle_breaths"] = settle
    if measure is not None:
        overrides["measure_breaths"] = measure
    if evidence is not None and evidence.decision_rule:
        overrides["decision_rule"] = evidence.decision_rule
    segmentation = {"": SegmentationSettings.auto()}
    for point in protocol.points:
        segmentation[point.group] = SegmentationSettings.preset(protocol.segmentation(point))
    extra: dict[str, Any] = {}
    if evidence is not None:
        extra = {"ambient_u": evidence.ambient_u(),
                 "register": None if evidence.register is None else evidence.register.to_json(),
                 "declaration": None if evidence.declaration is None else evidence.declaration.to_json()}
    return AnalysisConfig(
        limits=load_limits(limits or protocol.limits),
        rule=protocol.rule(**overrides),
        segmentation=segmentation,
        ambient=ambient,
        **extra,
    )


def make_plan(protocol: Protocol, *, port: str, driver: str, operator: Operator,
              config: AnalysisConfig, driver_options: dict[str, Any] | None = None,
              dut: dict[str, Any] | None = None, sessions_root: Path | None = None,
              index_history: bool = True, render_report: bool = True,
              dut_port: dict[str, Any] | None = None, lab: str = "",
              evidence: Evidence | None = None, history_url: str | None = None,
              inspection_answers: Any = None) -> RunPlan:
    """A :class:`RunPlan` for ``protocol`` (already selected); ``dut_port`` as
    :func:`bench.monitoring.dut_record`; ``evidence`` the environment record and override;
    ``inspection_answers`` an answers file (:func:`bench.inspection_model.load_answers`)."""
    from ventbench.bench.runner import RunPlan

    env = {} if evidence is None else {"environment": evidence.environment(),
                                       "environment_end": dict(evidence.env_end),
                                       "traceability_override": evidence.override}
    return RunPlan(protocol=protocol.to_json(), config=config, port_url=port, driver=driver,
                   operator=operator, driver_options=dict(driver_options or {}),
                   dut=dict(dut or {}), sessions_root=sessions_root,
                   index_history=index_history, render_report=render_report,
                   dut_port=dict(dut_port or {}), lab=lab, history_url=history_url,
                   inspection_answers=inspection_answers, **env)


def warn_evidence(evidence: Evidence, dut: dict[str, Any], live: Live) -> None:
    """Say before the first point what will make the verdicts INCONCLUSIVE (or unsupported)."""
    for line in evidence.warnings(dut):
        live.line(f"warning: {line}")


def dut_port_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The DUT telemetry port of ``--dut-port/--dut-driver/--dut-option`` (empty without
    one); ConfigError for an incomplete pair, a driver without telemetry, or a simulated
    port whose clock does not follow the host's (``speed=max``)."""
    from ventbench.analysis.monitoring import DEFAULT_TOL_S
    from ventbench.bench.monitoring import dut_record
    from ventbench.drivers.registry import driver_options
    from ventbench.drivers.telemetry import check_dut_driver

    if not args.dut_port and not args.dut_driver:
        return {}
    if not (args.dut_port and args.dut_driver):
        raise ConfigError("--dut-port and --dut-driver go together: give both or neither")
    options = driver_options(args.dut_driver, args.dut_option, flag="--dut-option")
    check_dut_driver(args.dut_driver)
    for flag, url in (("--port", args.port), ("--dut-port", args.dut_port)):
        if _sim_speed_max(url):
            raise ConfigError(
                f"{flag} {url!r}: speed=max runs a simulated device as fast as it is read, "
                "so its clock is unrelated to the host clock the DUT reports are aligned "
                "through; give both simulated ports a finite speed (e.g. speed=20)")
    tol = DEFAULT_TOL_S if args.dut_match_tol is None else args.dut_match_tol
    return dut_record(args.dut_port, args.dut_driver, options.to_dict(), tol)


def inspection_file(protocol: Protocol, path: Path | None) -> Any:
    """``--inspection FILE`` read and checked against the protocol's items (None without the
    option); ConfigError (exit 3) for a protocol without items or a bad, missing or extra answer."""
    if path is None:
        return None
    from ventbench.bench.inspection_model import load_answers

    if not protocol.inspection:
        raise ConfigError(f"--inspection {path}: protocol {protocol.id!r} has no [[inspection]] items")
    return load_answers(path, protocol.inspection)


def _sim_speed_max(url: str) -> bool:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    return parts.scheme.lower() == "sim" and query.get("speed", "1").strip().lower() == "max"


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.evidence import ask_environment, evidence_from_args, parse_env_pairs
    from ventbench.bench.live import Live
    from ventbench.bench.operator import AutomatedOperator, Prototype, TerminalOperator
    from ventbench.bench.protocol import load_protocol
    from ventbench.bench.runner import Runner
    from ventbench.bench.view.options import (
        keep_serving,
        session_view,
        start_view,
        terminal_questions,
        view_wanted,
    )
    from ventbench.drivers.registry import driver_options

    if is_certification(args):  # function, safety and endurance stages: bench/certification.py
        from ventbench.bench.commands.run_certification import run_certification

        if view_wanted(args):
            raise ConfigError("--view is not available on run certification yet")
        return run_certification(args, run)
    if args.safety_record is not None:
        raise ConfigError(f"--safety-record: protocol {args.protocol!r} is not a certification run; "
                          "it applies only to run certification or a certification plan")
    if is_reliability(args) and view_wanted(args):  # bench/view/ is not fed by it yet
        raise ConfigError("--view is not available on run reliability yet")
    if is_reliability(args) and args.inspection is not None:  # its runner asks no checklist yet
        raise ConfigError("--inspection is not available on run reliability yet")
    if is_reliability(args):  # a days-long run: bench/reliability/
        return run_reliability(args)
    refuse_reliability_options(args, args.protocol)
    protocol = load_protocol(args.protocol)
    if args.group or args.point:
        protocol = protocol.select(group=args.group, ids=args.point)
    if not protocol.points:
        raise ConfigError(f"protocol {protocol.id!r}: no points selected")
    # an unknown driver or a bad --option is a usage error before any file is written
    options = driver_options(args.driver, args.option)
    if any(p.mode == "steady" for p in protocol.points):  # channels the steady points need
        from ventbench.bench.steady_point import check_steady_channels

        check_steady_channels([p.to_json() for p in protocol.points], args.port, f"--port {args.port}")
    dut_port = dut_port_from_args(args)
    answers = inspection_file(protocol, args.inspection)
    interactive = args.operator_mode == "terminal" and sys.stdin.isatty()
    if interactive:  # what no flag gave is asked of the operator, at the start and the end
        given = parse_env_pairs(args.env, "--env")
        given.update({n: getattr(args, f) for n, f in (("t_amb_degc", "t_amb"), ("p_amb_hpa", "p_amb"),
                                                     ("rh_pct", "rh")) if getattr(args, f) is not None})
        args.env = [f"{k}={v}" for k, v in ask_environment("start", given).items()]
    evidence = evidence_from_args(args, dict(protocol.environment))
    config = analysis_config(protocol, args.limits, evidence.ambient(), args.settle,
                             args.measure, evidence)
    dut = {"name": args.dut, "serial": args.device_serial, "firmware": args.firmware}
    if evidence.declaration is not None:  # the declared identity fills what was not given
        for key in ("name", "serial", "firmware"):
            dut[key] = dut[key] or evidence.declaration.device.get(key, "")
    if args.operator_mode == "auto":
        if not args.port.lower().startswith("sim://"):
            raise ConfigError(f"--operator-mode auto needs a sim:// port, found {args.port!r}")
        operator: Operator = AutomatedOperator(
            Prototype(name=args.dut or "simulated device", serial=args.device_serial,
                      firmware=args.firmware), name=args.operator or "automated operator")
    else:
        operator = TerminalOperator(args.operator or "unnamed operator", sys.stdin, sys.stdout)
    view = start_view(args)  # --view: the live page (bench/view/)
    operator, live = session_view(view, operator, Live())
    plan = make_plan(protocol, port=args.port, driver=args.driver, operator=operator,
                     config=config, driver_options=options.to_dict(), dut=dut,
                     sessions_root=args.out, index_history=not args.no_history,
                     render_report=not args.no_report, dut_port=dut_port, lab=args.lab,
                     evidence=evidence, history_url=args.history, inspection_answers=answers)
    if interactive:
        plan.ask_environment_end = terminal_questions(operator, ask_environment)
    warn_evidence(evidence, dut, live)
    code = Runner(plan, live).run()
    keep_serving(view)
    return code
