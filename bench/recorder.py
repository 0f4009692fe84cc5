"""The one acquisition loop of ``record``, ``run`` points and reliability runs.

A :class:`Recorder` starts one or more :class:`Source` s (a transport
:class:`~ventbench.drivers.transport.Acquisition` each: every byte is in its capture before
it is decoded), hands each decoded block to the source's sinks, and ends at the first
:class:`~ventbench.bench.recorder_stops.Stop` that a stop condition, a sink or a port gives.
It returns a :class:`Result` with that stop: kind, status, reason and exit code are decided
here (and in :mod:`~ventbench.bench.recorder_stops`), not by each command.

Sinks (``open(info)``, ``write(block) -> Stop | None``, ``close()``) are fed in the main
thread from the acquisition's queue, or — for a source built with ``in_reader=True`` — in
the acquisition's reader thread, which slows a port that gives data faster than the sink
takes it (``sim://…?speed=max``) instead of queueing without bound. Conditions are checked
in the main thread every ``tick_s``.

Also defined once here: a no-data limit per source (the larger of the caller's and what
the driver says its longest normal silence is, :meth:`Driver.expected_silence_s`), a port
that ends or fails, a full disk (``OSError`` from a sink, ``CaptureError`` from a capture),
and a required source that ended with no sample at all.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ventbench.bench.recorder_stops import (
    NO_DATA,
    PORT_ENDED,
    PORT_ERROR,
    WRITE_ERROR,
    Condition,
    Signals,
    Stop,
    utc_text,
)
from ventbench.errors import BenchError

#: Margin on top of a driver's expected longest silence before a source counts as dead.
SILENCE_MARGIN = 1.5


class Sink(Protocol):
    """Where decoded samples go (trace file, live breaths, reliability pipeline …)."""

    def open(self, info: dict[str, Any]) -> None: ...

    def write(self, block: Any) -> Stop | None: ...

    def close(self) -> None: ...


class Source:
    """One port being recorded.

    Parameters
    ----------
    acquisition : Acquisition
        Not started yet; the Recorder starts and stops it.
    sinks : sequence of Sink
        Fed every non-empty block in order.
    label : str, optional
        The port as messages name it (default: its URL).
    no_data_s : float or None
        The caller's no-data limit, s (None: this source's silence never ends the record).
    required : bool
        A required source that fails ends the record; another one is only noted
        (``ended``), e.g. a device-under-test port.
    in_reader : bool
        Feed the sinks in the acquisition's reader thread.
    """

    def __init__(self, acquisition: Any, sinks: Sequence[Sink] = (), *, label: str = "",
                 no_data_s: float | None = None, required: bool = True,
                 in_reader: bool = False) -> None:
        self.acq = acquisition
        self.sinks = list(sinks)
        self.label = label or acquisition.url
        self.required = required
        self.in_reader = in_reader
        silence_s = float(acquisition.driver.expected_silence_s())
        self.no_data_s = no_data_s
        if no_data_s is not None and silence_s > 0:  # never shorter than what was asked for
            self.no_data_s = max(no_data_s, silence_s * SILENCE_MARGIN + 1.0)
        self.info: dict[str, Any] = {}
        self.started_wall: float | None = None
        self.last_data_wall: float | None = None
        self.last_data_utc: float | None = None
        self.blocks = 0
        self.ended = ""  #: why a not-required source stopped giving data
        self._stop: Stop | None = None
        self._wake: threading.Event | None = None  #: the Recorder's, set by a reader-thread Stop
        self._lock = threading.Lock()

    @property
    def samples(self) -> int:
        """Samples the driver decoded so far."""
        return int(self.acq.driver.counters.samples)

    def _feed(self, block: Any) -> Stop | None:
        """Write one block to every sink; a Stop from a sink or its failure."""
        if not len(block):
            return None
        with self._lock:
            self.last_data_wall, self.last_data_utc = time.monotonic(), time.time()
            self.blocks += 1
        for sink in self.sinks:
            try:
                stop = sink.write(block)
            except OSError as error:
                return write_error(sink, error)
            except BenchError as error:  # a sink's own error names its file
                return Stop(WRITE_ERROR, str(error), error=error)
            if stop is not None:
                return stop
        return None

    def _on_block(self, block: Any) -> None:  # the reader thread
        if self._stop is None:
            self._stop = self._feed(block)
            if self._stop is not None and self._wake is not None:
                self._wake.set()

    def silence(self, now: float) -> tuple[float, float | None]:
        """(seconds without a sample, wall time of the last one or None)."""
        with self._lock:
            last, last_utc = self.last_data_wall, self.last_data_utc
        return now - (last if last is not None else self.started_wall or now), last_utc

    def dead_port(self, now: float) -> Stop | None:
        """A Stop when this source gave no sample for longer than its no-data limit."""
        if self.no_data_s is None or self.ended:
            return None
        silent_s, last_utc = self.silence(now)
        if silent_s <= self.no_data_s:
            return None
        acq, c = self.acq, self.acq.driver.counters
        lost = getattr(acq, "lost_error", "")
        tries = getattr(acq, "reconnect_attempts", 0)
        port = (f"; port lost ({lost}), {tries} reconnection attempt{'s' * (tries != 1)}"
                if lost else "")
        if last_utc is None:
            return Stop(NO_DATA, f"no data from {self.label} in {silent_s:.1f} s "
                        f"({acq.driver.name} driver: {acq.rx_bytes} bytes received, "
                        f"{c.rejected_frames} frames rejected, {c.discarded_bytes} bytes "
                        f"discarded{port})")
        return Stop(NO_DATA, f"no data from {self.label} since {utc_text(last_utc)} "
                    f"({silent_s:.1f} s; no-data limit {self.no_data_s:g} s{port})")


def write_error(sink: Any, error: OSError) -> Stop:
    """A failed write as a Stop naming the file (a full disk says so)."""
    path = getattr(sink, "path", None) or getattr(error, "filename", None) or "?"
    what = "disk full" if error.errno == errno.ENOSPC else "write failed"
    return Stop(WRITE_ERROR, f"{what}: {path}: {error.strerror or error}")


@dataclass
class Result:
    """How a recording ended."""

    stop: Stop
    elapsed_s: float  #: wall time from streaming start to stop, s
    sources: list[Source]


class Recorder:
    """Record ``sources`` until a condition, a sink or a port stops it.

    Parameters
    ----------
    sources : sequence of Source
        Started in order (the first is the primary: sample counts refer to it).
    conditions : sequence of Condition
        Checked every tick (:mod:`~ventbench.bench.recorder_stops`). :class:`Signals` is
        added when none is given.
    tick_s : float
        Longest wait between two checks, s.
    on_tick : callable, optional
        Called with the Recorder after each check (status lines).
    on_started : callable, optional
        Called with each started Source (its ``info`` set), before the next one starts.
    require_samples : bool
        A completed recording whose required sources gave no sample is an error.
    """

    def __init__(self, sources: Sequence[Source], conditions: Sequence[Condition] = (), *,
                 tick_s: float = 0.2, on_tick: Callable[[Recorder], None] | None = None,
                 on_started: Callable[[Source], None] | None = None,
                 require_samples: bool = True) -> None:
        self.sources = list(sources)
        self.conditions = list(conditions)
        if not any(isinstance(c, Signals) for c in self.conditions):
            self.conditions.append(Signals())
        self.tick_s = tick_s
        self.on_tick = on_tick
        self.on_started = on_started
        self.require_samples = require_samples
        self.t_start = time.monotonic()
        self.t_stop: float | None = None
        self._wake = threading.Event()

    @property
    def primary(self) -> Source:
        return self.sources[0]

    @property
    def elapsed_s(self) -> float:
        """Wall time since the sources started streaming, s (until the stop, once stopped)."""
        return (self.t_stop if self.t_stop is not None else time.monotonic()) - self.t_start

    @property
    def samples(self) -> int:
        """Samples of the primary source."""
        return self.primary.samples

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> Result:
        """Start, record, stop; every sink closed and every capture closed whatever happens.

        Raises what a source's ``start`` raises (the port cannot be opened, the device does
        not answer) once the sources already started are stopped; errors after that are a
        :class:`Stop` in the result.
        """
        for condition in self.conditions:
            condition.install()
        started: list[Source] = []
        stop: Stop | None = None
        try:
            for source in self.sources:
                self._start(source)
                started.append(source)
            self.t_start = time.monotonic()
            for source in self.sources:
                source.started_wall = self.t_start
            while stop is None:
                stop = self._pump() or self._check()
                if stop is None and self.on_tick is not None:
                    self.on_tick(self)
        finally:
            self.t_stop = time.monotonic()
            for condition in self.conditions:
                condition.uninstall()
            tail = self._stop_sources(started)
            if tail is not None and (stop is None or stop.status == "completed"):
                stop = tail  # the files could not be closed whole: not a completion
        if stop is not None and stop.status == "completed" and self.require_samples:
            stop = self._no_samples() or stop
        return Result(stop, round(self.elapsed_s, 3), self.sources)

    def _start(self, source: Source) -> None:
        source._wake = self._wake
        if source.in_reader:
            source.acq.on_block = source._on_block
        source.info = source.acq.start()
        try:
            for sink in source.sinks:
                sink.open(source.info)
        except BaseException:
            source.acq.stop()
            raise
        if self.on_started is not None:
            self.on_started(source)

    def _wait_s(self) -> float:
        wait = self.tick_s
        for condition in self.conditions:
            wait = min(wait, condition.wait_s(self))
        return max(wait, 0.001)

    def _pump(self) -> Stop | None:
        """Feed what arrived (waiting up to one tick); a Stop from a sink or a port."""
        wait = self._wait_s()
        queued = [s for s in self.sources if not s.in_reader and not s.ended]
        if not queued:
            self._wake.wait(wait)
        for i, source in enumerate(queued):
            block = source.acq.get(timeout=wait if i == 0 else 0)
            while block is not None:
                stop = source._feed(block)
                if stop is not None:
                    return stop
                block = source.acq.get(timeout=0)
        for source in self.sources:
            if source._stop is not None:
                return source._stop
            ended = self._ended(source)
            if ended is not None:
                return ended
        return None

    def _ended(self, source: Source) -> Stop | None:
        acq = source.acq
        if source.ended or not acq.finished.is_set():
            return None
        if not source.in_reader and not acq.blocks.empty():  # blocks still to feed
            return None
        if acq.error is None:
            stop = Stop(PORT_ENDED, "port ended")
        elif isinstance(acq.error, OSError) and getattr(acq.error, "errno", None) == errno.ENOSPC:
            stop = Stop(WRITE_ERROR, f"disk full: {acq.error}")
        else:
            stop = Stop(PORT_ERROR, f"{source.label}: {acq.error}", error=acq.error)
        if source.required:
            return stop
        source.ended = stop.reason
        return None

    def _check(self) -> Stop | None:
        for condition in self.conditions:
            stop = condition.check(self)
            if stop is not None:
                return stop
        now = time.monotonic()
        for source in self.sources:
            stop = source.dead_port(now)
            if stop is not None and source.required:
                return stop
            if stop is not None:
                source.ended = stop.reason
        return None

    def _stop_sources(self, started: list[Source]) -> Stop | None:
        """Stop the ports (last started first), feed the tail, close the sinks."""
        stop: Stop | None = None
        for source in reversed(started):
            try:
                source.acq.stop(drain_s=0.0 if source.in_reader else 0.3)
            except (BenchError, OSError) as error:  # e.g. the capture's disk is full
                stop = stop or Stop(WRITE_ERROR, str(error), error=error)
            if not source.in_reader:
                while (block := source.acq.get(timeout=0)) is not None:
                    try:
                        source._feed(block)  # a Stop from a sink no longer matters
                    except (BenchError, OSError):
                        break
            for sink in source.sinks:
                try:
                    sink.close()
                except OSError as error:
                    stop = stop or write_error(sink, error)
        return stop

    def _no_samples(self) -> Stop | None:
        for source in self.sources:
            if source.required and source.samples == 0:
                acq, c = source.acq, source.acq.driver.counters
                return Stop(NO_DATA, f"no samples from {source.label} in {self.elapsed_s:.1f} s "
                            f"({acq.driver.name} driver: {acq.rx_bytes} bytes received, "
                            f"{c.rejected_frames} frames rejected, {c.discarded_bytes} bytes "
                            f"discarded)")
        return None
