"""Run a protocol: per point, operator → record → settle → measure → verdict; a session record.

Before the first point the protocol's inspection checklist is answered (:mod:`bench.inspection`).
For each point the runner asks the operator, records the point live (:mod:`bench.recording`:
every byte in ``points/ID/capture.vbcap`` before it is decoded, a line per breath, settle,
measure, stop), and then computes the point's results from the capture read back through
``replay://`` (:mod:`bench.reanalysis`: the same path as ``ventbench replay``). A failing
point does not stop the session. With a DUT port (``RunPlan.dut_port``) the device under
test's own telemetry is captured beside each point (``points/ID/dut.vbcap``) and judged
as monitoring-accuracy checks (:mod:`bench.monitoring`).

Whatever happens — the last point, an abort, Ctrl-C, a dead port — the ``finally`` writes
``results.json`` (points not reached are NOT TESTED), ``junit.xml``, the report when the
reports module exists, and ``stop.json`` with status, reason and every file's SHA-256.
"""

from __future__ import annotations

import importlib
import signal
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.analysis.results import results_document, to_jsonable
from ventbench.bench.analysis_config import AnalysisConfig
from ventbench.bench.conditions import ENVIRONMENT_FILE, apply_conditions
from ventbench.bench.console import LOG_FILE, Console
from ventbench.bench.environment import QUANTITIES, phase_record, with_measured
from ventbench.bench.history_sync import check_at_start, record_session
from ventbench.bench.inspection import fold_inspection
from ventbench.bench.inspection import judge as judge_inspection
from ventbench.bench.instruments import Register
from ventbench.bench.junit import write_junit
from ventbench.bench.live import Live
from ventbench.bench.monitoring import DUT_CAPTURE_FILE
from ventbench.bench.operator import Decision, Operator
from ventbench.bench.reanalysis import (
    CAPTURE_FILE,
    NOT_TESTED,
    POINT_FILE,
    RESULTS_FILE,
    TRACE_FILE,
    analyze_capture,
    apply_point_record,
    not_tested_point,
    session_gas,
    session_source,
)
from ventbench.bench.recording import DutPort, Limits, record_point
from ventbench.bench.session import (
    STATUS_ABORTED,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    Session,
    iso_utc,
    read_json,
    safe_name,
    sha256_file,
    software_info,
    utc_now,
)
from ventbench.errors import BenchError
from ventbench.exit_codes import (
    EXIT_DEVICE,
    EXIT_INCONCLUSIVE,
    exit_code_for_error,
    exit_code_for_verdict,
)


class SessionAborted(Exception):
    """The operator aborted the session (not an error: a decision)."""


@dataclass
class RunPlan:
    """Everything a session needs, fixed before ``start.json`` is written."""

    protocol: dict[str, Any]  #: id, title, standard, file, sha256, points (dicts) …
    config: AnalysisConfig
    port_url: str
    driver: str
    operator: Operator
    driver_options: dict[str, Any] = field(default_factory=dict)
    dut: dict[str, Any] = field(default_factory=dict)
    sessions_root: Path | None = None
    limits: Limits = field(default_factory=Limits)  #: when a point's recording stops
    index_history: bool = True
    render_report: bool = True  #: False: no report.pdf (fast CI sessions); stop.json says so
    #: the device under test's telemetry port (bench.monitoring.dut_record), or empty
    dut_port: dict[str, Any] = field(default_factory=dict)
    lab: str = ""  #: laboratory or site, as the operator gave it
    #: the environment record: {"start": phase record, "ranges": protocol's} (bench.environment)
    environment: dict[str, Any] = field(default_factory=dict)
    #: values entered for the end of the session (CLI flags), by bench.environment name
    environment_end: dict[str, float | None] = field(default_factory=dict)
    traceability_override: str = ""  #: the operator's recorded reason to accept untraceable data
    #: asks the operator for the end values not given (bench.evidence.ask_environment), or None
    ask_environment_end: Any = None
    history_url: str | None = None  #: --history (None: $VENTBENCH_HISTORY or the sessions root)
    #: ``run --inspection FILE`` (bench.inspection_model.AnswersFile), or None: the operator answers
    inspection_answers: Any = None
    #: how report.signed.pdf will be signed, said on the cover (``demo`` only: bench.demo_signing)
    report_signature: dict[str, Any] = field(default_factory=dict)


@dataclass
class PointOutcome:
    point: dict[str, Any]
    result: dict[str, Any]
    attempt: int
    notes: tuple[str, ...] = ()


class Runner:
    """One session. Build with a :class:`RunPlan`, call :meth:`run` → exit code."""

    def __init__(self, plan: RunPlan, live: Live | None = None) -> None:
        self.plan = plan
        self.live = live or Live()
        self.session: Session | None = None
        self.outcomes: dict[str, PointOutcome] = {}
        self.current: str | None = None
        self.instruments: dict[str, Any] = {}
        self.measured_env: list[dict[str, Any]] = []  #: handshake infos with ambient values

    # -- the session --------------------------------------------------------------------------
    def start_record(self) -> dict[str, Any]:
        p = self.plan
        return {
            "protocol": p.protocol,
            "analysis": p.config.to_json(),
            "port": {"url": p.port_url, "driver": p.driver, "driver_options": p.driver_options},
            "dut": p.dut,
            **({"dut_port": p.dut_port} if p.dut_port else {}),
            "operator": {"name": p.operator.name, "kind": p.operator.kind},
            "lab": p.lab,
            "ambient": p.config.ambient.__dict__,
            "environment": p.environment,
            "traceability_override": p.traceability_override,
            **({"report_signature": p.report_signature} if p.report_signature else {}),
            "instruments": {"declared": {"driver": p.driver, "port": p.port_url},
                            "note": "instrument identity and calibration as reported at "
                                    "handshake: instruments.json and each capture header"},
        }

    def run(self) -> int:
        """Run the whole session; never raises for a device, operator or Ctrl-C ending."""
        p = self.plan
        self.session = Session.create(p.sessions_root, p.protocol["id"])
        self.session.write_start(self.start_record())
        # every line also in SESSION/console.log; a lost terminal never stops the session
        console = self.live.stream
        if not isinstance(console, Console):
            console = self.live.stream = Console(self.live.stream)
        console.attach(self.session.root / LOG_FILE)
        points = p.protocol["points"]
        self.live.session_header(self.session.session_id, p.protocol["id"], len(points),
                                 str(self.session.root))
        if p.index_history:  # an unreachable shared history is said now, and never stops us
            check_at_start(p.history_url, self.session.sessions_root, self.live.line)
        status, reason, exit_code = STATUS_COMPLETED, "all points done", None
        previous_term = None
        if threading.current_thread() is threading.main_thread():
            previous_term = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        try:
            self._inspection()
            self._loop(points)
            self._alarms()
        except SessionAborted as abort:
            status, reason, exit_code = STATUS_ABORTED, str(abort), EXIT_INCONCLUSIVE
        except KeyboardInterrupt:
            status, reason = STATUS_INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)"
            exit_code = EXIT_INCONCLUSIVE
        except BenchError as error:
            status, reason = STATUS_FAILED, f"{type(error).__name__}: {error}"
            exit_code = exit_code_for_error(error)
        except OSError as error:
            status, reason, exit_code = STATUS_FAILED, f"I/O error: {error}", EXIT_DEVICE
        except Exception as error:  # noqa: BLE001 - a bug still leaves a record
            status, reason = STATUS_FAILED, f"internal error: {error!r}"
            exit_code = EXIT_INCONCLUSIVE
            (self.session.root / "error.txt").write_text(traceback.format_exc())
        finally:
            exit_code = self._finish(status, reason, exit_code)
            if previous_term is not None:
                signal.signal(signal.SIGTERM, previous_term)
            console.close()
        return exit_code

    def _loop(self, points: list[dict[str, Any]]) -> None:
        index = 0
        attempts: dict[str, int] = {}
        while index < len(points):
            point = points[index]
            self.live.point_header(index + 1, len(points), _PointView(point), point.get("note"))
            answer = self.plan.operator.ask(_PointView(point), index + 1, len(points), index > 0)
            if answer.decision is Decision.ABORT:
                self._point_record(point, "not tested", answer.reason, answer.notes)
                raise SessionAborted(f"{answer.reason} before point {point['id']}")
            if answer.decision is Decision.REDO:
                index -= 1
                self._archive_attempt(points[index])
                continue
            if answer.decision is Decision.SKIP:
                self._point_record(point, "not tested", answer.reason, answer.notes)
                result = not_tested_point(point, answer.reason, answer.notes)
                self.outcomes[point["id"]] = PointOutcome(point, result, 0, answer.notes)
                self.live.point_verdict(point["id"], NOT_TESTED, [], answer.reason)
                index += 1
                continue
            attempts[point["id"]] = attempts.get(point["id"], 0) + 1
            self.record_point(point, attempts[point["id"]], answer.notes)
            index += 1

    def _inspection(self) -> None:
        """The protocol's inspection checklist, before the points (bench.inspection)."""
        from ventbench.bench.inspection import record

        record(self, lambda: iso_utc(utc_now()))

    def _alarms(self) -> None:
        """The protocol's alarm tests, after the points (bench.alarm_session)."""
        from ventbench.bench.alarm_session import run_session_alarms

        self.alarm_results = run_session_alarms(self, _PointView)

    def _archive_attempt(self, point: dict[str, Any]) -> None:
        """Keep an earlier attempt as evidence: points/ID → points/ID.attemptN (first free N)."""
        pdir = self.session.root / "points" / safe_name(point["id"])
        if pdir.exists():
            n = 1
            while pdir.with_name(f"{pdir.name}.attempt{n}").exists():
                n += 1
            pdir.rename(pdir.with_name(f"{pdir.name}.attempt{n}"))
        self.outcomes.pop(point["id"], None)

    def _point_record(self, point: dict[str, Any], status: str, reason: str = "",
                      notes: tuple[str, ...] | None = None, **extra: Any) -> dict[str, Any]:
        """Update ``points/ID/point.json`` (notes kept unless given); returns the record."""
        pdir = self.session.point_dir(point["id"])
        path = pdir / POINT_FILE
        record = read_json(path, "point record") if path.exists() else {"id": point["id"]}
        record.update({"status": status, "reason": reason, "time_utc": iso_utc(utc_now())})
        if notes is not None:
            record["notes"] = list(notes)
        record.setdefault("notes", [])
        record.update(extra)
        self.session.write_json(f"points/{pdir.name}/{POINT_FILE}", record)
        return record

    # -- one point ----------------------------------------------------------------------------
    def record_point(self, point: dict[str, Any], attempt: int, notes: tuple[str, ...]) -> None:
        """Record one point (:func:`bench.recording.record_point`), then compute its
        results from the capture read back (:func:`bench.reanalysis.analyze_capture`)."""
        from ventbench.drivers.registry import make_driver

        p = self.plan
        pid = point["id"]
        pdir = self.session.point_dir(pid)
        url = p.operator.port_url(_PointView(point), p.port_url)
        self.current = pid
        self._point_record(point, "recording", "", notes, url=url, attempt=attempt,
                           start_utc=iso_utc(utc_now()))
        dut = None
        if p.dut_port:
            dut = DutPort(p.operator.port_url(_PointView(point), p.dut_port["url"]),
                          make_driver(p.dut_port["driver"], **p.dut_port["driver_options"]),
                          pdir / DUT_CAPTURE_FILE)
            self._point_record(point, "recording", "", dut_url=dut.url)
        recording = record_point(
            url, make_driver(p.driver, **p.driver_options), pdir / CAPTURE_FILE, point,
            p.config, self.live, limits=p.limits, on_info=self._note_instrument,
            metadata={"session": self.session.session_id, "point": pid}, dut=dut)
        self._point_record(point, "analysing", recording.stop_reason, **vars(recording))
        result, decoded = analyze_capture(pdir / CAPTURE_FILE, self._start(), point, p.config,
                                          trace_csv=pdir / TRACE_FILE)
        record = self._point_record(point, "done", recording.stop_reason,
                                    verdict=result["verdict"], samples=len(decoded.block),
                                    counters_replay=decoded.counters)
        self.outcomes[pid] = PointOutcome(point, apply_point_record(result, record), attempt,
                                          notes)
        self.current = None
        self.live.point_verdict(pid, result["verdict"], result.get("checks", []),
                                result.get("reason"))

    def _salvage(self, pid: str, reason: str) -> None:
        """Analyse what was recorded of a point cut short; it stays evidence."""
        point = next(pt for pt in self.plan.protocol["points"] if pt["id"] == pid)
        record = self._point_record(point, "interrupted", reason, incomplete=True)
        capture = self.session.root / "points" / safe_name(pid) / CAPTURE_FILE
        if not capture.exists():
            return
        try:
            result, _ = analyze_capture(capture, self._start(), point, self.plan.config,
                                        trace_csv=capture.with_name(TRACE_FILE))
        except (BenchError, OSError) as error:
            self.live.line(f"point {pid}: recording cut short and not analysable: {error}")
            return
        self.outcomes[pid] = PointOutcome(point, apply_point_record(result, record), 0)
        self.current = None

    def _start(self) -> dict[str, Any]:
        return read_json(self.session.root / "start.json", "start record")

    def _note_instrument(self, info: dict[str, Any]) -> None:
        key = f"{self.plan.driver}@{self.plan.port_url.split('?')[0]}"
        if self.instruments.get(key) != info:
            self.instruments[key] = info
            self.session.write_json("instruments.json", {"instruments": self.instruments})
        if any(name in info for name in QUANTITIES):
            self.measured_env.append({"instrument": key, **{n: info[n] for n in QUANTITIES if n in info}})

    def _write_environment(self, completed: bool) -> None:
        """``environment.json``: the start record (with what instruments measured at the first
        handshake) and the end record (flags, else what they measured last, else not recorded)."""
        p = self.plan
        register = Register.from_json(p.config.register) if p.config.register else None
        start = dict((p.environment or {}).get("start") or {})
        entered_end = dict(p.environment_end)
        if completed and p.ask_environment_end is not None:
            entered_end = p.ask_environment_end("end", entered_end)
        end = phase_record(entered_end, register, "entered at the end", defaults=False)
        if self.measured_env:
            first, last = self.measured_env[0], self.measured_env[-1]
            start = with_measured(start, first, register, first["instrument"])
            end = with_measured(end, last, register, last["instrument"])
        self.session.write_json(ENVIRONMENT_FILE, {"start": start, "end": end})

    # -- the end ------------------------------------------------------------------------------
    def _finish(self, status: str, reason: str, exit_code: int | None) -> int:
        previous = _ignore_sigint()
        try:
            return self._write_records(status, reason, exit_code)
        finally:
            _restore_sigint(previous)

    def _write_records(self, status: str, reason: str, exit_code: int | None) -> int:
        session = self.session
        if self.current is not None:
            self._salvage(self.current, reason)
        points = []
        for point in self.plan.protocol["points"]:
            outcome = self.outcomes.get(point["id"])
            if outcome is not None:
                points.append(outcome.result)
            else:
                why = "not reached: " + reason if status != STATUS_COMPLETED else "not run"
                record = session.root / "points" / safe_name(point["id"]) / POINT_FILE
                notes = read_json(record).get("notes") if record.exists() else ()
                points.append(not_tested_point(point, why, notes))
        software = {k: v for k, v in software_info().items() if k in ("name", "version", "git_sha")}
        self._write_environment(status == STATUS_COMPLETED)
        blocks = apply_conditions(points, self._start(), session.root)
        results = results_document(
            points, software=software,
            source=session_source(session.root, session.session_id, list(self.outcomes)),
            gas=session_gas(self.plan.config, points),
        )
        results.update(to_jsonable(blocks))
        if getattr(self, "alarm_results", None):
            from ventbench.bench.alarm_session import fold_alarms

            fold_alarms(results, self.alarm_results, session.root)
        fold_inspection(results, judge_inspection(self._start(), session.root))
        session.write_json(RESULTS_FILE, results)
        duration_s = (utc_now() - session.started).total_seconds()
        write_junit(session.root / "junit.xml", results, session.session_id, duration_s)
        verdict = results["verdict"]
        if exit_code is None:
            exit_code = exit_code_for_verdict(verdict)
        extra = {"verdict": verdict, "points": {
            "planned": len(points),
            "tested": sum(1 for pt in points if pt["verdict"] != NOT_TESTED),
            "verdicts": {pt["id"]: pt["verdict"] for pt in points}},
            "report": "pending",
            "results_sha256": sha256_file(session.root / RESULTS_FILE)}
        # The report reads the stop record (an aborted session says so on every page), and
        # the stop record hashes the report: stop → render → stop again with the report.
        session.write_stop(exit_code, status, reason, extra)
        extra["report"] = (render_report(session.root) if self.plan.render_report
                           else "not rendered (--no-report)")
        session.write_stop(exit_code, status, reason, extra)
        if self.plan.index_history:
            # the session is complete without the index; an unreachable one queues it
            record_session(self.plan.history_url, session.sessions_root, session.root,
                           self.live.line)
        rows = [(pt["id"], pt["verdict"], _detail(pt)) for pt in points]
        if results.get("inspection"):  # bench.inspection: its share of the session verdict
            block = results["inspection"]
            self.live.line(f"inspection checklist: {block['verdict']}"
                           + (f" ({block['reason']})" if block["reason"] else ""))
        self.live.summary(rows, verdict)
        if status != STATUS_COMPLETED:
            self.live.line(f"session {status}: {reason}")
        self.live.line(f"session directory: {session.root}")
        self.live.line(f"session manifest sha256: {session.manifest_sha256} (manifest.json: "
                       "every file's hash; `ventbench verify` checks it)")
        return exit_code


def _ignore_sigint():
    """Ignore Ctrl-C while the records are written (main thread only); the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def _restore_sigint(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def _sigterm_as_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def render_report(session_dir: Path) -> str:
    """Render ``report.pdf`` with :func:`bench.report.render` when that module exists.

    Returns a note for ``stop.json``: "rendered", "not available (…)" or the error.
    """
    try:
        report = importlib.import_module("ventbench.bench.report")
    except ImportError:
        return "not available: bench.report is not installed yet (the reports issue)"
    render = getattr(report, "render", None)
    if render is None:
        return "not available: bench.report has no render(session_dir)"
    try:
        render(session_dir)
    except Exception as error:  # noqa: BLE001 - a report failure must not lose the session
        return f"failed: {error}"
    return "rendered"


def _detail(point: dict[str, Any]) -> str:
    if point["verdict"] == "PASS":
        return ", ".join(f"{c['quantity']} {c['verdict']}" for c in point.get("checks", [])
                         if c.get("verdict") != "INFO") or "-"
    reason = point.get("reason") or ""
    return reason if len(reason) <= 100 else reason[:97] + "..."


class _PointView:
    """Attribute access to a point dict (what operators and the live display read)."""

    def __init__(self, point: dict[str, Any]) -> None:
        self._point = point
        self.id = point["id"]
        self.mode = point["mode"]
        self.set = point["set"]
        self.lung = point["lung"]
        self.note = point.get("note", "")

    def __getitem__(self, key: str) -> Any:
        return self._point[key]


