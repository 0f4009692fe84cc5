"""Why a recording stops: the :class:`Stop` record and the stop conditions of the Recorder.

Every way a ``record``, a ``run`` point or a reliability run can end is one kind here,
with its status and exit code (DESIGN.md contract):

========== ========= ==== ==================================================================
kind       status    exit when
========== ========= ==== ==================================================================
duration   completed  —   the duration (wall time) is reached
samples    completed  —   the primary source gave N samples
sink       completed  —   a sink has what it needs (breaths of a point, a reliability run's
                          duration of device time)
port_ended completed  —   the port has nothing more (the end of a ``replay://``)
signal     aborted    2   SIGINT (Ctrl-C) or SIGTERM
no_data    error      4   no sample from a port for longer than its no-data limit, or none
                          at all in a completed recording
port_error error      4   the port failed and could not be recovered
write      error      4   a file could not be written (a full disk names the file)
disk_space error      4   less free space than the recording needs to stay whole
wall_limit error      4   the run's time is over in wall time but not in device time
========== ========= ==== ==================================================================

"—": the caller decides (``record`` exits 0, a run point goes on to its verdict).
SIGHUP (the terminal hung up) is not a stop: it is noted and ignored from then on.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ventbench.exit_codes import EXIT_DEVICE, EXIT_INCONCLUSIVE

if TYPE_CHECKING:
    from ventbench.bench.recorder import Recorder

DURATION, SAMPLES, SINK, PORT_ENDED = "duration", "samples", "sink", "port_ended"
SIGNAL = "signal"
NO_DATA, PORT_ERROR, WRITE_ERROR, DISK_SPACE, WALL_LIMIT = (
    "no_data", "port_error", "write", "disk_space", "wall_limit")
COMPLETED, ABORTED, ERROR = "completed", "aborted", "error"
_STATUS = {DURATION: COMPLETED, SAMPLES: COMPLETED, SINK: COMPLETED, PORT_ENDED: COMPLETED,
           SIGNAL: ABORTED}
_EXIT = {ABORTED: EXIT_INCONCLUSIVE, ERROR: EXIT_DEVICE}


def utc_text(t: float) -> str:
    """A wall time (``time.time()``) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass(frozen=True)
class Stop:
    """Why a recording ended: ``kind`` (above), a one-line ``reason``; ``status`` and
    ``exit_code`` follow from the kind (``exit_code`` None: the caller's verdict)."""

    kind: str
    reason: str
    error: BaseException | None = field(default=None, compare=False)

    @property
    def status(self) -> str:
        return _STATUS.get(self.kind, ERROR)

    @property
    def exit_code(self) -> int | None:
        return _EXIT.get(self.status)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "reason": self.reason}


class Condition:
    """A stop condition: ``check`` each tick; ``wait_s`` bounds the next wait."""

    def install(self) -> None:
        """Before the sources start (e.g. signal handlers)."""

    def uninstall(self) -> None:
        """After the loop, whatever happened."""

    def wait_s(self, rec: Recorder) -> float:
        return float("inf")

    def check(self, rec: Recorder) -> Stop | None:
        raise NotImplementedError


class Duration(Condition):
    """Stop after ``duration_s`` of wall time from the start of streaming."""

    def __init__(self, duration_s: float) -> None:
        self.duration_s = float(duration_s)

    def wait_s(self, rec: Recorder) -> float:
        return self.duration_s - rec.elapsed_s

    def check(self, rec: Recorder) -> Stop | None:
        if rec.elapsed_s >= self.duration_s:
            return Stop(DURATION, "duration reached")
        return None


class SampleCount(Condition):
    """Stop once the primary source gave ``n`` samples."""

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def check(self, rec: Recorder) -> Stop | None:
        if rec.samples >= self.n:
            return Stop(SAMPLES, f"{self.n} samples reached")
        return None


class WallLimit(Condition):
    """An error once ``limit_s`` of wall time passed (a device that sends too slowly);
    ``reason`` is the text or a callable giving it at that moment."""

    def __init__(self, limit_s: float, reason: str | Callable[[], str]) -> None:
        self.limit_s, self.reason = float(limit_s), reason

    def check(self, rec: Recorder) -> Stop | None:
        if rec.elapsed_s > self.limit_s:
            return Stop(WALL_LIMIT, self.reason() if callable(self.reason) else self.reason)
        return None


class DiskSpace(Condition):
    """An error when the directory's file system has less than ``min_free_mib`` free
    (checked every ``every_s``): the files stay whole instead of ending mid-record."""

    def __init__(self, directory: Path, min_free_mib: float = 32.0, every_s: float = 5.0) -> None:
        self.directory, self.min_free_mib, self.every_s = Path(directory), min_free_mib, every_s
        self._next = 0.0

    def check(self, rec: Recorder) -> Stop | None:
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.every_s
        try:
            free_mib = shutil.disk_usage(self.directory).free / 2**20
        except OSError:
            return None
        if free_mib < self.min_free_mib:
            return Stop(DISK_SPACE, f"disk full: {self.directory} has {free_mib:.0f} MiB free "
                                    f"(the recording stops below {self.min_free_mib:g} MiB)")
        return None


class Signals(Condition):
    """SIGINT and SIGTERM stop the recording (aborted); SIGHUP is noted and ignored.

    Handlers only set flags (main thread only; elsewhere this condition does nothing).
    After a SIGHUP the process keeps ignoring SIGHUP: the terminal is gone for good.
    """

    def __init__(self, note: Any = None) -> None:
        self.note = note  #: callable(text) for the log (a Console's ``note``)
        self._got: int | None = None
        self._hup = 0
        self._noted = 0
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        if signum == signal.SIGHUP:
            self._hup += 1
        elif self._got is None:
            self._got = signum

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, self._handler)

    def uninstall(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, signal.SIG_IGN if sig == signal.SIGHUP and self._hup else old)
        self._old.clear()

    def check(self, rec: Recorder) -> Stop | None:
        if self._hup > self._noted:
            self._noted = self._hup
            if self.note is not None:
                self.note("[console] SIGHUP: the terminal hung up; recording goes on")
        if self._got is not None:
            name = "SIGINT" if self._got == signal.SIGINT else "SIGTERM"
            return Stop(SIGNAL, f"interrupted ({name})")
        return None
