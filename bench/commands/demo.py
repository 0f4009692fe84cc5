"""``ventbench demo``: a whole protocol against a simulated prototype, through the real stack.

ISO 80601-2-12 volume control, adult rows 1–8, against a simulated prototype ventilator
behind ``sim://rig`` and the VBR/1 driver — the bytes go through the same transport, capture
files, driver and analysis as a real rig on a serial port — time-accelerated
(``speed=max``), set up point by point by the automated operator, which first answers the
RMVS inspection checklist (every item passes; docs/inspection.md). The prototype has one
realistic defect (its PEEP sags 3 cmH2O with a high-resistance lung, R = 50 hPa/(L/s)), so
the session shows FAILs honestly next to PASSes. Writes a complete session directory,
prints a summary table and the session's path; the exit code is the session verdict.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ventbench.bench.args import add_ambient_arguments, add_evidence_arguments, count, number
from ventbench.bench.commands.run import analysis_config, make_plan, warn_evidence
from ventbench.bench.history_url import add_history_argument
from ventbench.bench.view.options import add_view_arguments, demo_port, speed

if TYPE_CHECKING:
    from ventbench.bench.evidence import Evidence

HELP = "run ISO 80601-2-12 VC adult rows 1-8 against a simulated prototype (accelerated)"

DEMO_PROTOCOL = "iso80601-2-12-vc"
DEMO_GROUP = "adult"
DEMO_ALARMS = "rmvs"  #: the protocol whose [[alarms]] the demo runs after its points
#: the protocol whose [[inspection]] checklist the demo's automated operator answers first
DEMO_INSPECTION = "rmvs"
#: Sample rate asked of the simulated rig: 200 Hz keeps the demo fast and its captures
#: small, and is well above what ISO breath metrics need (PEEP window 100 ms = 20 samples).
DEMO_RATE_HZ = 200
#: The register of the simulated instruments, shipped as package data.
DEMO_REGISTER = "data/demo-instruments.toml"
#: The simulated rig: device time as fast as it is read (2 s of it per read), and sensors
#: with the noise of a real bench rig (flow σ 0.3 L/min, pressure σ 0.05 cmH2O).
DEMO_PORT = ("sim://rig?speed=max&step_ms=2000"
             "&flow_noise_sd_lpm=0.3&paw_noise_sd_cmh2o=0.05")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="sessions root (default $VENTBENCH_SESSIONS or ./sessions)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--point", action="append",
                        help="only this point id (repeatable; default: adult rows 1-8)")
    parser.add_argument("--no-defect", action="store_true",
                        help="a prototype without its PEEP defect (a passing session)")
    parser.add_argument("--no-alarms", action="store_true",
                        help="skip the alarm tests after the points (docs/alarms.md)")
    parser.add_argument("--rate-hz", type=number(1, 5000, integer=True), default=DEMO_RATE_HZ,
                        help=f"rig sample rate (default {DEMO_RATE_HZ})")
    parser.add_argument("--settle", type=number(0, integer=True), default=None, metavar="N",
                        help="override the protocol's settle breaths (10)")
    parser.add_argument("--measure", type=count, default=None, metavar="N",
                        help="override the protocol's measured breaths (30)")
    parser.add_argument("--no-history", action="store_true", help="do not index the session")
    add_history_argument(parser)
    parser.add_argument("--no-report", action="store_true", help="do not render report.pdf")
    parser.add_argument("--no-sign", action="store_true",
                        help="do not sign the report with the demo's own key "
                             "($VENTBENCH_DEMO_KEY or ~/.config/ventbench/demo-key)")
    parser.add_argument("--cpap", action="store_true",
                        help="the CPAP protocol against a simulated CPAP device (FiO2 4 %% low at high flow)")
    # -- instruments (default: the shipped register of the simulated bench), declaration,
    #    decision rule, environment (bench/evidence.py) --
    add_ambient_arguments(parser)
    add_evidence_arguments(parser)
    parser.add_argument("--speed", default=None, metavar="X|max", type=speed,
                        help="simulated time factor (default: max, or 1 = real time with --view)")
    add_view_arguments(parser)


#: The simulated bench's environment, entered by the demo at start and end unless flags say otherwise.
DEMO_ENVIRONMENT = {"t_amb_degc": 22.0, "p_amb_hpa": 1013.25, "rh_pct": 45.0, "mains_v": 230.0,
                    "mains_hz": 50.0}


def demo_evidence(args: argparse.Namespace, protocol, register_file: str = DEMO_REGISTER) -> Evidence:
    """The shared options with the demo's defaults: its shipped register, its environment."""
    from importlib import resources

    from ventbench.bench.evidence import evidence_from_args

    register = Path(str(resources.files("ventbench.bench").joinpath(register_file)))
    given = {(pair.partition("=")[0]) for pair in args.env}
    given |= {n for n, f in (("t_amb_degc", "t_amb"), ("p_amb_hpa", "p_amb"), ("rh_pct", "rh"))
              if getattr(args, f) is not None}
    args.env = [f"{k}={v}" for k, v in DEMO_ENVIRONMENT.items() if k not in given] + list(args.env)
    given_end = {(pair.partition("=")[0]) for pair in args.env_end}
    args.env_end = [f"{k}={v}" for k, v in DEMO_ENVIRONMENT.items() if k not in given_end] + list(args.env_end)
    return evidence_from_args(args, dict(protocol.environment), register, "demo (simulated bench)")


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.live import Live
    from ventbench.bench.operator import AutomatedOperator, demo_prototype
    from ventbench.bench.protocol import load_protocol
    from ventbench.bench.runner import Runner
    from ventbench.bench.session import read_json
    from ventbench.bench.view.options import keep_serving, session_view, start_view

    t0 = time.monotonic()
    port = DEMO_PORT
    if args.cpap:  # steady points on sim://cpap (bench.cpap_demo)
        from ventbench.bench.cpap_demo import (
            CPAP_DEMO_PORT,
            CPAP_DEMO_PROTOCOL,
            cpap_demo_prototype,
        )

        protocol = load_protocol(CPAP_DEMO_PROTOCOL)
        protocol = protocol.select(ids=args.point) if args.point else protocol
        prototype, port = cpap_demo_prototype(), CPAP_DEMO_PORT
    else:
        protocol = load_protocol(DEMO_PROTOCOL).select(group=DEMO_GROUP, ids=args.point)
        if not args.no_alarms:  # the RMVS alarm tests after the points (docs/alarms.md)
            protocol = replace(protocol, alarms=load_protocol(DEMO_ALARMS).alarms)
        # the RMVS inspection checklist before the points, answered by the automated operator
        # (every item passes: the simulated prototype declares none failing; docs/inspection.md)
        protocol = replace(protocol, inspection=load_protocol(DEMO_INSPECTION).inspection)
        prototype = demo_prototype()
    if args.no_defect:
        prototype = replace(prototype, defects=(), alarm_params={
            k: v for k, v in prototype.alarm_params.items() if k != "alarm_late"})
    operator = AutomatedOperator(prototype, seed=args.seed)
    evidence = demo_evidence(args, protocol, "data/demo-cpap-instruments.toml" if args.cpap else DEMO_REGISTER)
    config = analysis_config(protocol, None, evidence.ambient(), args.settle, args.measure,
                             evidence)
    dut = {"name": prototype.name, "serial": prototype.serial, "firmware": prototype.firmware,
           "simulated": prototype.describe()}
    demo_key = None
    if not (args.no_report or args.no_sign):  # report.signed.pdf with the demo's own key
        from ventbench.bench.demo_signing import demo_signer
        from ventbench.errors import ConfigError

        try:
            demo_key = demo_signer()
        except ConfigError as error:  # a demo without a signed copy is still a demo
            print(f"warning: the report will not be signed: {error}")
    view = start_view(args)  # --view: the live page, in real time (bench/view/)
    plan = make_plan(
        protocol, port=demo_port(port, args.speed, view is not None), driver="rig", operator=operator, config=config,
        driver_options={"rate_hz": args.rate_hz},
        dut=dut, sessions_root=args.out, index_history=not args.no_history,
        render_report=not args.no_report, evidence=evidence, history_url=args.history,
    )
    if demo_key is not None:
        plan.report_signature = demo_key.record
    operator, live = session_view(view, operator, Live())
    warn_evidence(evidence, dut, live)
    runner = Runner(plan, live)
    code = runner.run()
    session = runner.session.root
    live = runner.live
    report = session / "report.pdf"
    if report.exists():
        live.line(f"report: {report}")
    else:
        live.line(f"report: {read_json(session / 'stop.json').get('report', 'not rendered')}")
    if demo_key is not None:
        from ventbench.bench.demo_signing import sign_demo_report

        sign_demo_report(session, demo_key, live.line)
    live.line(f"demo finished in {time.monotonic() - t0:.1f} s; session: {session}")
    keep_serving(view)
    return code
