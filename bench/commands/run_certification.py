"""Command-line part of ``ventbench run certification`` (dispatched from ``bench/commands/run.py``;
not a sub-command of its own).

::

    ventbench run certification --port URL --driver NAME --safety-record FILE
        [--point ID ...] [--duration 14d] [--instruments FILE] [--dut M --device-serial S --firmware V]
    ventbench run PLAN.toml --port URL --driver NAME ...
    ventbench run certification --port URL --driver NAME --resume SESSION

Chains the function stage (``run PROTOCOL``), the electrical-safety record and the endurance
stage (``run reliability``) into one session (:mod:`bench.certification`). Exit code: the
overall verdict (0 PASS, 1 FAIL, 2 INCONCLUSIVE or interrupted), 3 configuration, 4 device.
``VENTBENCH_CERT_STOP_AFTER=STAGE`` (a test hook) stops the run as a Ctrl-C would, right
after that stage's record is written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ventbench.errors import BenchError, ConfigError

STOP_AFTER_ENV = "VENTBENCH_CERT_STOP_AFTER"
#: options never written to start.json: --history may carry a database password (the stages
#: are not indexed in the history)
_NOT_STORED = ("history",)
#: options that are stage-specific in the stored run options (reset for every stage)
_STAGE_RESET = {"history": None, "point": None, "group": None, "duration": None, "set_values": [], "limit_values": [],
                "drift_values": [], "yes": False, "resume": None, "safety_record": None, "no_history": True}


def add_certification_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of certification runs (PROTOCOL certification or a plan file)."""
    group = parser.add_argument_group("certification runs (PROTOCOL certification or a plan file)")
    group.add_argument("--safety-record", type=Path, default=None, metavar="FILE",
                       help="electrical-safety analyser record (TOML) for the safety stage")


def is_certification(args: argparse.Namespace) -> bool:
    """``certification``, a plan file, or ``--resume`` of a certification session."""
    from ventbench.bench.certification import is_plan

    resume = getattr(args, "resume", None)
    if resume is not None and (Path(resume) / "start.json").is_file():
        import json

        try:
            return json.loads((Path(resume) / "start.json").read_text("utf-8")).get("kind") == "certification"
        except (OSError, ValueError):
            return False
    return is_plan(args.protocol)


def _options_json(args: argparse.Namespace) -> dict[str, Any]:
    values, paths = {}, []
    for key, value in vars(args).items():
        if callable(value) or key in _NOT_STORED:
            continue
        if isinstance(value, Path):
            paths.append(key)
            value = str(value)
        values[key] = value
    return {"values": values, "paths": paths}


def _namespace(stored: dict[str, Any], **changes: Any) -> argparse.Namespace:
    values = {k: (Path(v) if k in stored["paths"] and v is not None else v) for k, v in stored["values"].items()}
    values.update(_STAGE_RESET)
    values.update(changes)
    return argparse.Namespace(**values)


def _subsessions(stage_root: Path) -> list[Path]:
    return sorted(p for p in stage_root.iterdir() if p.is_dir() and (p / "start.json").exists()) \
        if stage_root.is_dir() else []


def _completed(sub: Path) -> bool:
    from ventbench.bench.session import STATUS_COMPLETED, read_json

    stop = sub / "stop.json"
    return stop.exists() and (sub / "results.json").exists() and \
        read_json(stop, "stage stop record").get("status") == STATUS_COMPLETED


class _Stopped(Exception):
    """A stage did not complete: (status, reason, exit code)."""


def run_certification(args: argparse.Namespace, run_protocol: Callable[[argparse.Namespace], int]) -> int:
    """Run (or resume) a certification session; ``run_protocol`` is ``run``'s own ``run``
    (the function stage), passed in so that this module does not import it."""
    from ventbench.bench.certification import (
        REGISTER_FILE,
        STAGE_DIR,
        STAGES,
        judge_safety,
        load_plan,
        load_safety,
        rederive,
        stage_intact,
        stage_records,
    )
    from ventbench.bench.commands.run_reliability import run_reliability
    from ventbench.bench.instruments import load_register
    from ventbench.bench.live import Live
    from ventbench.bench.session import (
        STATUS_COMPLETED,
        STATUS_FAILED,
        STATUS_INTERRUPTED,
        Session,
        read_json,
        sha256_file,
        software_info,
        write_json_atomic,
    )
    from ventbench.exit_codes import EXIT_INCONCLUSIVE, exit_code_for_error, exit_code_for_verdict

    live = Live()
    if args.resume is not None:
        root = Path(args.resume)
        start = read_json(root / "start.json", "session start record")
        if start.get("kind") != "certification":
            raise ConfigError(f"{root}: not a certification session (start.json kind {start.get('kind')!r})")
        given = [f for f, v in (("--safety-record", args.safety_record), ("--instruments", args.instruments),
                                ("--point", args.point), ("--group", args.group), ("--duration", args.duration))
                 if v]
        if given:
            raise ConfigError(f"{', '.join(given)}: fixed at the start of {root}; a resumed certification keeps them")
        stop_path = root / "stop.json"
        segment = len(list(root.glob("stop-*.json")))
        if stop_path.exists():
            stop = read_json(stop_path, "session stop record")
            if stop.get("status") == STATUS_COMPLETED:
                raise ConfigError(f"{root}: the certification is complete ({stop.get('reason', '')}); nothing to resume")
            stop_path.rename(root / f"stop-{segment:02d}.json")
            (root / "manifest.json").unlink(missing_ok=True)
        session = Session(root, start["session_id"])
        for name, rec in stage_records(root).items():  # a completed stage is skipped only when intact
            problems = stage_intact(root, rec)
            if problems:
                raise ConfigError(f"{root}: stage {name} cannot be skipped: " + "; ".join(problems))
        live.line(f"certification {session.session_id}: resumed -> {root}")
    else:
        plan = load_plan(args.protocol)
        func, endurance = dict(plan.function), dict(plan.endurance)
        if args.point:
            func.pop("groups", None)
            func["points"] = list(args.point)
        if args.group:
            func.pop("points", None)
            func["groups"] = list(args.group)
        if args.duration:
            endurance["duration"] = args.duration
        record_path = args.safety_record or plan.safety_record
        if record_path is None:
            raise ConfigError("--safety-record: the plan names no electrical-safety record "
                              "(certification.safety.record); give one")
        _record, record_bytes = load_safety(record_path)  # a bad record: exit 3 before anything
        _check_stages(func, endurance, args)
        register_bytes = None
        if args.instruments is not None:
            load_register(args.instruments)
            register_bytes = Path(args.instruments).read_bytes()
        dut = {"name": args.dut, "serial": args.device_serial, "firmware": args.firmware}
        if args.declaration is not None:  # the declared identity fills what was not given (as run does)
            from ventbench.bench.declaration import load_declaration

            declared = load_declaration(args.declaration).device
            dut = {k: v or declared.get(k, "") for k, v in dut.items()}
        session = Session.create(args.out, "certification")
        root = session.root
        (root / "plan.toml").write_bytes(plan.text.encode("utf-8"))
        (root / "safety-record.toml").write_bytes(record_bytes)
        if register_bytes is not None:
            (root / REGISTER_FILE).write_bytes(register_bytes)
        session.write_start({
            "kind": "certification", "plan": {**plan.to_json(), "function": func, "endurance": endurance,
                                              "safety_record": str(record_path)},
            "dut": dut,
            "port": args.port, "driver": args.driver,
            "options": _options_json(args)})
        start = read_json(root / "start.json", "session start record")
        live.line(f"certification {session.session_id} -> {root}")

    plan_json, stored = start["plan"], start["options"]
    status, reason, code = STATUS_COMPLETED, "every stage completed", None
    try:
        for name in STAGES:
            if (root / f"stage-{name}.json").exists():
                live.line(f"stage {name}: completed earlier, files intact: skipped")
                continue
            stage_root = root / STAGE_DIR / name
            stage_root.mkdir(parents=True, exist_ok=True)
            if name == "safety":
                (stage_root / "record.toml").write_bytes((root / "safety-record.toml").read_bytes())
                reg = root / REGISTER_FILE
                judged = judge_safety((stage_root / "record.toml").read_bytes(),
                                      f"{STAGE_DIR}/safety/record.toml", load_register(reg) if reg.exists() else None)
                write_json_atomic(stage_root / "safety.json", judged)
                sub, verdict = stage_root, judged["verdict"]
                live.line(f"stage safety: {verdict}" + (f" ({judged['reason']})" if judged.get("reason") else ""))
            else:
                sub = _run_stage(name, stage_root, plan_json, stored, args, run_protocol, run_reliability, live)
                verdict = read_json(sub / "results.json", f"{name} stage results").get("verdict")
            write_json_atomic(root / f"stage-{name}.json", {
                "stage": name, "dir": sub.relative_to(root).as_posix(), "verdict": verdict,
                "files": _files(sub)})
            if os.environ.get(STOP_AFTER_ENV) == name:
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        status, reason, code = STATUS_INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)", EXIT_INCONCLUSIVE
    except _Stopped as stopped:
        status, reason, code = stopped.args
    except (BenchError, OSError) as error:
        status, reason, code = STATUS_FAILED, str(error), exit_code_for_error(error)
        live.line(f"error: {error}")
    finally:
        block = rederive(root)
        verdict = block["verdict"]
        dut = start.get("dut") or {}
        missing = [k for k in ("name", "serial", "firmware") if not dut.get(k)]
        if verdict == "PASS" and missing:  # identity: a PASS needs model, serial and firmware
            verdict = block["verdict"] = "INCONCLUSIVE"
            block["reasons"].append("device identity incomplete: no " + ", ".join(missing))
        files = [{"path": p.relative_to(root).as_posix(), "sha256": sha256_file(p)}
                 for p in [root / "plan.toml", root / "safety-record.toml",
                           *sorted(root.glob(f"{STAGE_DIR}/*/*/results.json"))] if p.exists()]
        software = {k: v for k, v in software_info().items() if k in ("name", "version", "git_sha")}
        write_json_atomic(root / "results.json", {
            "schema": "ventbench.results/1", "software": software,
            "source": {"session": session.session_id, "files": files}, "dut": dut,
            "certification": block, "points": [], "verdict": verdict})
        if code is None:
            code = exit_code_for_verdict(verdict)
        extra = {"verdict": verdict, "report": "not rendered: --no-report"}
        if not stored["values"].get("no_report"):  # the one report, before stop.json hashes it
            try:
                from ventbench.bench.report import render

                render(root)
                extra["report"] = "rendered"
            except Exception as error:  # noqa: BLE001 - a report failure must not lose the session
                extra["report"] = f"failed: {error}"
                live.line(f"warning: report.pdf not rendered: {error}")
        session.write_stop(code, status, reason, extra)
        for row in block["stages"]:
            live.line(f"  {row['stage']:<10} {row['verdict'] or '-':<13} {row['status']}")
        live.line(f"certification {status}: overall {verdict} (exit {code}); {root}")
    return code


def _files(root: Path) -> dict[str, str]:
    from ventbench.bench.certification import files_sha256

    return files_sha256(root)


def _check_stages(func: dict[str, Any], endurance: dict[str, Any], args: argparse.Namespace) -> None:
    """The function protocol and its selection, and the endurance protocol, before any file."""
    from ventbench.bench.protocol import load_protocol
    from ventbench.bench.reliability.config import load_reliability

    try:
        protocol = load_protocol(func["protocol"])
        if func.get("points") or func.get("groups"):
            protocol = protocol.select(group=func.get("groups"), ids=func.get("points"))
    except ConfigError as error:
        raise ConfigError(f"certification.function: {error}") from None
    if not protocol.points:
        raise ConfigError(f"certification.function: protocol {protocol.id!r}: no points selected")
    try:
        load_reliability(endurance["protocol"], duration=endurance.get("duration"))
    except ConfigError as error:
        raise ConfigError(f"certification.endurance: {error}") from None


def _run_stage(name: str, stage_root: Path, plan: dict[str, Any], stored: dict[str, Any],
               args: argparse.Namespace, run_protocol: Callable[[argparse.Namespace], int],
               run_reliability: Callable[[argparse.Namespace], int], live: Any) -> Path:
    """Run (or continue) the function or endurance stage; returns its completed sub-session."""
    from ventbench.bench.session import STATUS_FAILED, STATUS_INTERRUPTED, read_json

    port = {"port": args.port} if args.port else {}
    subs = _subsessions(stage_root)
    if subs and _completed(subs[-1]):  # completed before its stage record was written
        live.line(f"stage {name}: {subs[-1].name} completed earlier: taken")
        return subs[-1]
    before = set(subs)
    if name == "function":
        ns = _namespace(stored, protocol=plan["function"]["protocol"], point=plan["function"].get("points"),
                        group=plan["function"].get("groups"), out=stage_root, **port)
        if plan["function"].get("limits"):
            ns.limits = plan["function"]["limits"]
        live.line(f"stage function: {ns.protocol} -> {stage_root}")
        code = run_protocol(ns)
    else:
        endurance = plan["endurance"]
        if subs and not _completed(subs[-1]):  # interrupted inside: the reliability run's own resume
            ns = _namespace(stored, protocol=endurance["protocol"], resume=subs[-1], instruments=None,
                            declaration=None, decision_rule=None, traceability_override=None, env=[], **port)
            before.discard(subs[-1])
            live.line(f"stage endurance: resuming {subs[-1].name}")
        else:
            ns = _namespace(stored, protocol=endurance["protocol"], duration=endurance.get("duration"),
                            out=stage_root, **port)
            live.line(f"stage endurance: {endurance['protocol']} {endurance.get('duration', '')} -> {stage_root}")
        code = run_reliability(ns)
    new = [p for p in _subsessions(stage_root) if p not in before]
    if not new:
        raise _Stopped(STATUS_FAILED, f"stage {name}: no session written (exit {code})", code or 4)
    sub = new[-1]
    if not _completed(sub):
        stop = read_json(sub / "stop.json", "stage stop record") if (sub / "stop.json").exists() else {}
        word = stop.get("status", "killed")
        status = STATUS_INTERRUPTED if word in ("interrupted", "aborted", "killed") else STATUS_FAILED
        raise _Stopped(status, f"stage {name} {word}: {stop.get('reason', '')}", code if code else 2)
    return sub
