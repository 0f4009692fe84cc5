"""``ventbench run reliability``: a days-long unattended run, streamed from the first breath.

Session layout (on top of the contract's ``start.json`` / ``stop.json`` / ``results.json``)::

    SESSION/points/reliability/capture-SS-PPPP.vbcap   raw bytes, rotated (capture_parts.py)
    SESSION/reliability/breaths-NNNNNN.bin             per-breath records (store.py)
    SESSION/reliability/events.jsonl                   events (events.py)
    SESSION/report.pdf                                 the report (bench/report, its reliability section)
    SESSION/stop-SS.json                               the stop record of an earlier segment

The acquisition is the :class:`~ventbench.bench.recorder.Recorder` (its stop kinds: the
duration of device time reached, Ctrl-C/SIGTERM → ``interrupted``, no sample for
``no_data_s`` → ``failed`` exit 4 "no data from PORT since TIME", a full disk, a device
too slow for the wall clock). The samples are processed in the acquisition's reader
thread (:class:`PipelineSink`), so a port that gives data faster than we analyse it
(``sim://…?speed=max``) is slowed down instead of queueing without bound. The main thread
only refreshes the status line and watches for the end. Every line shown also goes to
``SESSION/console.log``, and a lost terminal (EPIPE, SIGHUP) never ends the run.
``--resume SESSION`` starts a new segment of the same session: the run time continues
from the last breath or event on disk plus the wall time of the interruption (the
interruption is an event with its cause: the earlier ``stop.json`` status, or "killed: no
stop record"). A full disk raises from the store, the event log or the capture writer; the
session is then closed with status ``failed`` and everything written so far intact.
"""

from __future__ import annotations

import math
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ventbench.analysis.gas import Ambient
from ventbench.bench.console import LOG_FILE, Console
from ventbench.bench.live import Live
from ventbench.bench.recorder import Recorder, Source
from ventbench.bench.recorder_stops import SINK, DiskSpace, Signals, Stop, WallLimit
from ventbench.bench.reliability.capture_parts import (
    finish_compression,
    part_path,
    rotate,
    segment_parts,
)
from ventbench.bench.reliability.config import ReliabilityConfig
from ventbench.bench.reliability.events import EVENTS_FILE, EventDetector, EventLog, read_events
from ventbench.bench.reliability.pipeline import Pipeline
from ventbench.bench.reliability.store import BreathStore, chunk_paths, read_breaths
from ventbench.bench.session import (
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    Session,
    read_json,
    write_json_atomic,
)
from ventbench.errors import BenchError, ConfigError
from ventbench.exit_codes import EXIT_DEVICE

POINT_ID = "reliability"
DATA_DIR = "reliability"
#: Read size at ``speed=max``: one step's bytes in one read and one decode (fixed costs).
FAST_CHUNK_BYTES = 1 << 20
SIM_KEYS = ("mode", "vt_ml", "rate_bpm", "ti_s", "peep_cmh2o", "dp_cmh2o", "c_ml_per_hpa",
            "r_hpa_s_per_l", "leak_ml_min")


def sim_url(url: str, config: ReliabilityConfig) -> str:
    """A ``sim://`` URL with the run's setting and lung (keys the URL already has win),
    ``continuous=1`` (the simulated ventilator keeps running across reconnects), ``record=0``
    (the simulator keeps no copy of what it sent: bounded memory) and, at
    ``speed=max``, ``step_ms=30000`` (few, large reads: ~0.9 MB a read at 1 kHz; the bytes
    do not depend on the step)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "sim":
        return url
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    extra = {"mode": config.mode, **config.set, **config.lung, "continuous": "1", "record": "0"}
    if query.get("speed", "1").lower() == "max":
        extra["step_ms"] = "30000"
    # a device that takes its own settings (sim://cpap) gets none of the ventilator's keys
    from ventbench.drivers.registry import device_class

    try:
        ventilator = getattr(device_class(parts.netloc or parts.path.strip("/")), "simulates", True)
    except ConfigError:
        ventilator = True  # an unknown device is refused when the port opens
    for key, value in extra.items():
        if key in SIM_KEYS and not ventilator:
            continue
        if key in SIM_KEYS + ("continuous", "record", "step_ms"):
            query.setdefault(key, f"{value:g}" if isinstance(value, float) else str(value))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


#: Recorder stop status → session status.
STOP_STATUS = {"completed": STATUS_COMPLETED, "aborted": STATUS_INTERRUPTED,
               "error": STATUS_FAILED}


def _fmt_s(seconds: float) -> str:
    seconds = max(0, int(seconds))
    d, rest = divmod(seconds, 86400)
    return (f"{d}d" if d else "") + time.strftime("%H:%M:%S", time.gmtime(rest))


def status_line(pipeline: Pipeline, config: ReliabilityConfig) -> str:
    """elapsed / remaining, breaths, out-of-limit, missed, current VT/PEEP/rate, last event."""
    r, det = pipeline.rolling, pipeline.detector
    last = det.last_event
    last_text = "-" if last is None else f"{last['kind']} at {_fmt_s(last['t_s'])}"

    def num(x: float, d: int) -> str:
        return "-" if not math.isfinite(x) else f"{x:.{d}f}"

    return (f"{_fmt_s(r.t_run_s)} / -{_fmt_s(config.duration_s - r.t_run_s)}  breaths {r.breaths}"
            f"  out-of-limit {r.out_of_limit}  missed {det.missed_breaths}  VT {num(r.vt_ml, 0)}"
            f"  PEEP {num(r.peep_cmh2o, 1)}  RR {num(r.rate_bpm, 1)}  last: {last_text}")


class ReliabilityRun:
    """One recording process of a reliability session (new, or a ``--resume``).

    Parameters
    ----------
    config : ReliabilityConfig
    port, driver_name : str
    driver_options : dict
    sessions_root : Path, optional
    resume : Path, optional
        An existing reliability session to continue.
    live : Live, optional
    ambient : Ambient, optional
    render : callable, optional
        ``render(session_dir)`` writes ``report.pdf`` at the end (the command passes
        ``bench.report.render``; reliability does not import the report package, which
        imports reliability). None: no report.
    history : bool
        Index the session in the history.
    history_url : str, optional
        ``--history`` (default ``$VENTBENCH_HISTORY`` or the sessions root's SQLite file).
    evidence : dict, optional
        ``start.json`` fields of the register, declaration, environment and override
        (:func:`bench.reliability.evidence.start_fields`); a new run only.
    env_end : dict, optional
        Ambient values entered for the end of this segment (``--env-end``), by
        :data:`bench.environment.QUANTITIES` name.
    """

    def __init__(self, config: ReliabilityConfig | None, port: str, driver_name: str,
                 driver_options: dict[str, Any] | None = None, sessions_root: Path | None = None,
                 resume: Path | None = None, live: Live | None = None,
                 ambient: Ambient | None = None,
                 render: Callable[[Path], Any] | None = None, history: bool = True,
                 history_url: str | None = None, evidence: dict[str, Any] | None = None,
                 env_end: dict[str, float] | None = None) -> None:
        self.live = live or Live()
        #: this segment's --env-end values (bench/reliability/evidence.py writes environment.json)
        self.env_end = dict(env_end or {})
        self.render = render if callable(render) else None
        self.history = history
        self.history_url = history_url
        self.ambient = ambient or Ambient()
        if resume is not None:
            self._init_resume(Path(resume))
            if driver_name and driver_name != self.driver_name:
                raise ConfigError(f"{resume}: recorded with --driver {self.driver_name}, "
                                  f"not {driver_name}")
            if port:  # the device may be on another port now
                self.port = sim_url(port, self.config)
        else:
            if config is None:
                raise ConfigError("a new reliability run needs its configuration")
            self.config = config
            self.port = sim_url(port, config)
            self.driver_name, self.driver_options = driver_name, dict(driver_options or {})
            self.session = Session.create(sessions_root, POINT_ID)
            self.segment, self.base_s, self.cause, self.gap_s = 0, 0.0, "", 0.0
            self.session.write_start({
                "kind": "reliability", "protocol": {"id": config.protocol_id},
                "reliability": config.to_json(), "port": self.port, "driver": self.driver_name,
                "driver_options": self.driver_options, "ambient": vars(self.ambient).copy(),
                **(evidence or {})})
        # every live line also in SESSION/console.log: a lost terminal never ends the run
        self.console = self.live.stream
        if not isinstance(self.console, Console):
            self.console = self.live.stream = Console(self.live.stream)
        self.console.attach(self.session.root / LOG_FILE)

    def _init_resume(self, root: Path) -> None:
        start = read_json(root / "start.json", "session start record")
        if start.get("kind") != "reliability":
            raise ConfigError(f"{root}: not a reliability session (start.json kind "
                              f"{start.get('kind')!r})")
        self.config = ReliabilityConfig.from_json(start["reliability"])
        self.port, self.driver_name = start["port"], start["driver"]
        self.driver_options = dict(start.get("driver_options") or {})
        self.ambient = Ambient(**start["ambient"]) if start.get("ambient") else self.ambient
        self.session = Session(root, start["session_id"])
        data = root / DATA_DIR
        events = read_events(data / EVENTS_FILE)
        self.segment = 1 + max([e.get("segment", 0) for e in events if e["kind"] == "segment_start"],
                               default=-1)
        stop_path = root / "stop.json"
        if stop_path.exists():
            stop = read_json(stop_path, "session stop record")
            if stop.get("status") == STATUS_COMPLETED:
                raise ConfigError(f"{root}: the run is complete ({stop.get('reason', '')}); "
                                  f"nothing to resume")
            self.cause = f"{stop.get('status')}: {stop.get('reason', '')}"
            stop_path.rename(root / f"stop-{self.segment - 1:02d}.json")
        else:
            self.cause = "killed: no stop record"
        last_t = max([e.get("t_end_s", e["t_s"]) for e in events] or [0.0])
        if (data / "breaths.json").exists():
            rec, _ = read_breaths(data)
            if len(rec):
                last_t = max(last_t, float(rec["t_end_s"][-1]))
        files = chunk_paths(data) + [data / EVENTS_FILE] + [
            p for parts in segment_parts(root / "points" / POINT_ID).values() for p in parts]
        last_write = max((p.stat().st_mtime for p in files if p.exists()), default=time.time())
        self.gap_s = max(0.0, time.time() - last_write)
        self.last_t = last_t
        self.base_s = last_t + self.gap_s

    # -- the run -------------------------------------------------------------------------
    def run(self) -> int:
        """Record until the duration is reached; returns the contract's exit code."""
        from ventbench.drivers.registry import make_driver
        from ventbench.drivers.transport import Acquisition

        data = self.session.root / DATA_DIR
        cap_dir = self.session.point_dir(POINT_ID)
        store = BreathStore(data)
        log = EventLog(data / EVENTS_FILE)
        detector = EventDetector(self.config, log, self.segment)
        detector.emit("segment_start", self.base_s, t_offset_s=self.base_s, port=self.port,
                      **({"gap_s": round(self.gap_s, 3), "cause": self.cause} if self.segment else {}))
        if self.segment:
            detector.gap(self.last_t, self.base_s - self.last_t)
        pipeline = Pipeline(self.config, store, detector, self.segment, self.base_s, self.ambient)
        driver = make_driver(self.driver_name, **self.driver_options)
        fast = "speed=max" in self.port.lower()
        acq = Acquisition(self.port, driver, part_path(cap_dir, self.segment, 0), reconnect=True,
                          batch_s=0.0 if fast else 0.02,
                          chunk_bytes=FAST_CHUNK_BYTES if fast else 65536,
                          metadata={"session": self.session.session_id, "segment": self.segment})
        sink = PipelineSink(pipeline, driver, detector, acq, cap_dir, self.segment,
                            int(self.config.capture_rotate_mib * 1024 * 1024))
        # samples are processed in the reader thread: a port faster than the analysis
        # (speed=max) is slowed down instead of queueing without bound
        source = Source(acq, [sink], no_data_s=self.config.no_data_s, in_reader=True)
        conditions: list[Any] = [DiskSpace(self.session.root), Signals(self.console.note)]
        if not fast:  # a device that sends too slowly must not keep a real-time run open forever
            conditions.append(WallLimit(
                self.config.duration_s - self.base_s + 60.0,
                lambda: f"{self.port}: the run's duration has passed in wall time but the "
                        f"device sent only {pipeline.rolling.t_run_s:.0f} s of data"))

        def status(rec: Recorder) -> None:
            silent_s, _ = source.silence(time.monotonic())
            quiet = (f"  NO DATA for {silent_s:.0f} s"
                     if silent_s > max(2.0, self.config.stall_s) else "")
            self.live.progress(status_line(pipeline, self.config) + quiet)

        recorder = Recorder([source], conditions, tick_s=self.config.status_interval_s,
                            on_tick=status)
        self.live.line(f"reliability session {self.session.session_id} segment {self.segment}: "
                       f"{_fmt_s(self.config.duration_s - self.base_s)} to go -> {self.session.root}")
        if self.history:  # an unreachable shared history is said now, and never stops the run
            from ventbench.bench.history_sync import check_at_start

            check_at_start(self.history_url, self.session.sessions_root, self.live.line)
        status_word, reason, code = STATUS_FAILED, "", EXIT_DEVICE
        try:
            stop = recorder.run().stop
            status_word, reason = STOP_STATUS[stop.status], stop.reason
            code = stop.exit_code if stop.exit_code is not None else EXIT_DEVICE
        except (BenchError, OSError) as error:  # the port cannot be opened, the device is mute
            reason = str(error)
        finally:
            try:
                pipeline.finish()
                detector.emit("segment_end", pipeline.rolling.t_run_s, samples=pipeline.rolling.samples)
            except (BenchError, OSError):
                pass
            store.close()
            log.close()
            for problem in finish_compression(cap_dir):  # closed parts → .vbcap.zst
                self.live.line(f"warning: {problem}")
            self.live.line(status_line(pipeline, self.config))
            code = self._close(status_word, reason, code)
        return code

    def _close(self, status: str, reason: str, code: int) -> int:
        """results.json (reliability block), report.pdf, stop.json, the history index.

        The order of ``bench/runner.py``: the report is rendered from results.json before
        stop.json, so stop.json records the PDF's SHA-256 (``ventbench verify`` checks it);
        the report never reads stop.json, so a later ``ventbench report`` gives the same
        bytes. The session is then indexed in the history under its sessions root.
        """
        from ventbench.bench.history_sync import record_session
        from ventbench.bench.reliability.analysis import session_results
        from ventbench.bench.reliability.evidence import write_environment

        root = self.session.root
        try:  # the environment at the end of this segment (flags, else what the instrument said)
            write_environment(root, read_json(root / "start.json", "session start record"),
                              self.segment, self.env_end)
        except (BenchError, OSError, ValueError) as error:
            self.live.line(f"warning: environment.json not written: {error}")
        extra: dict[str, Any] = {"report": "not rendered: " + ("no results" if self.render
                                                               is not None else "--no-report")}
        results = None
        try:
            results = session_results(root)
            block = results["reliability"]
            write_json_atomic(root / "results.json", results)
            extra["verdict"] = block["verdict"]
            if status == STATUS_COMPLETED:
                code = {"PASS": 0, "FAIL": 1}.get(block["verdict"], 2)
        except (BenchError, OSError, ValueError) as error:
            extra["analysis_error"] = str(error)
            self.live.line(f"warning: reliability analysis failed: {error}")
        if self.render is not None and results is not None:
            try:
                self.render(root)
                extra["report"] = "rendered"
            except Exception as error:  # noqa: BLE001 - a report failure must not lose the session
                extra["report"] = f"failed: {error}"
                self.live.line(f"warning: report.pdf not rendered: {error}")
        self.session.write_stop(code, status, reason, extra)
        if self.history:
            # the session is whole without its index; an unreachable history queues it
            record_session(self.history_url, self.session.sessions_root, root, self.live.line)
        self.live.line(f"session {status}: {reason} (exit {code}); {root}")
        self.console.close()
        return code


class PipelineSink:
    """The Recorder sink of a reliability run (fed in the reader thread): disconnects become
    events, samples go through the :class:`Pipeline` (a Stop once the run's duration of
    device time is in), and the capture is rotated every ``rotate_bytes``."""

    def __init__(self, pipeline: Pipeline, driver: Any, detector: EventDetector, acq: Any,
                 cap_dir: Path, segment: int, rotate_bytes: int) -> None:
        self.pipeline, self.driver, self.detector, self.acq = pipeline, driver, detector, acq
        self.cap_dir, self.segment, self.rotate_bytes = cap_dir, segment, rotate_bytes
        self.path = cap_dir  #: named when a write fails (the store names its own files)
        self._seen = 0
        self._part = 0

    def open(self, info: dict[str, Any]) -> None:
        """Nothing to open: the store and the event log exist before the port."""

    def write(self, block: Any) -> Stop | None:
        for d in self.acq.disconnects[self._seen:]:
            self.detector.disconnect(d["error"], d["down_s"], d["attempts"])
        self._seen = len(self.acq.disconnects)
        done = not self.pipeline.feed(block, self.driver)
        if self.acq.capture.bytes_written >= self.rotate_bytes:
            self._part += 1
            rotate(self.acq, self.cap_dir, self.segment, self._part)
        return Stop(SINK, "duration reached") if done else None

    def close(self) -> None:
        """The pipeline is finished by the run (after the port has stopped)."""
