"""``ventbench replay SESSION --jobs N``: decode time ranges of the captures in N processes.

The replay of a reliability run has two stages with different kinds of state:

- **decoding** (bytes → samples, ~2/3 of the CPU time) forgets its past within a frame
  (:mod:`bench.reliability.decode_spans`): each capture part is cut into *spans* of
  :data:`~bench.reliability.decode_spans.SPAN_BYTES` on record boundaries, and spans are
  decoded in a :class:`~concurrent.futures.ProcessPoolExecutor` (``forkserver``, or
  ``spawn`` where there is none; a ``.vbcap.zst`` part is first decompressed to a temporary
  file by a worker too);
- **analysis** (run time, validity, :class:`analysis.stream.BreathStream`, events) does not:
  the stream's running sum of the flow is carried from the first sample, so a breath's
  numbers depend, to the last bit, on every sample before it. It runs here, in order, over
  the decoded spans, through the same :class:`~bench.reliability.segment_feed.SegmentFeed` as the
  single pass — so a breath across a part or span boundary is found once, as in one pass.

A span after the first of its capture segment is decoded from the driver as it was after
the segment's first samples (its DESCRIBE), fed a lead-in (the bytes before the span). It
is accepted only when its decoder state after the lead-in equals the state the previous
span ended with and its first record is the one the previous span stopped before. Otherwise it is decoded again here from the previous
span's exact driver (counted in ``fallbacks``): the result is the single pass's either way.

A worker process that dies raises :class:`ReplayWorkerError` naming the span (part, byte
range, capture segment) it was decoding (each worker marks its task in a file it removes
when done or when the pool terminates it); nothing is skipped and the caller writes no
results.json.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from ventbench.bench.reliability.capture_parts import segment_parts
from ventbench.bench.reliability.decode_spans import (
    DIE_ENV,
    SPAN_BYTES,
    DecodedSpan,
    DriverView,
    Span,
    decode_span,
    primed,
    supports,
)
from ventbench.bench.reliability.events import EVENTS_FILE, EventLog
from ventbench.bench.reliability.segment_feed import SegmentFeed, replay_serial, replay_setup
from ventbench.bench.reliability.store import BreathStore
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.capture import CaptureReader
from ventbench.drivers.capture_zstd import decompress_to, is_compressed
from ventbench.errors import BenchError, TransportError

_MARKS: Path | None = None  #: a worker's directory of task marks
_DIE_AT = ""  #: tests: a worker decoding a span of this part exits at once (DIE_ENV)


class ReplayWorkerError(TransportError):
    """A worker process of the parallel replay died (exit code 4)."""


def _init_worker(marks: str, die_at: str) -> None:
    global _MARKS, _DIE_AT
    _MARKS, _DIE_AT = Path(marks), die_at
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: Any) -> None:  # the pool ends the others when one dies
    mark(None)
    os._exit(128 + signum)


def mark(what: str | None) -> None:
    """In a worker: note what it is doing now (None: nothing)."""
    if _MARKS is not None:
        path = _MARKS / f"working-{os.getpid()}"
        if what is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(what, "utf-8")


def _materialize(part: str, tmp: str) -> tuple[str, int, int]:
    """(raw path, size, first record offset) of a part (a ``.zst`` one decompressed to ``tmp``)."""
    mark(f"decompressing {Path(part).name}")
    raw = str(decompress_to(part, Path(tmp) / Path(part).name[:-4])) if is_compressed(part) else part
    reader = CaptureReader(raw)
    mark(None)
    return raw, os.path.getsize(raw), reader.data_offset


def _decode(span: Span) -> DecodedSpan:
    mark(f"decoding {span.describe()}")
    if _DIE_AT and span.part == _DIE_AT:
        os._exit(70)  # a test's stand-in for a worker killed by the OS
    out = decode_span(span)
    use = resource.getrusage(resource.RUSAGE_SELF)
    out.worker = (os.getpid(), use.ru_utime + use.ru_stime, use.ru_maxrss * 1024)
    mark(None)
    return out


def executor(jobs: int, marks: str) -> ProcessPoolExecutor:
    """A pool of ``jobs`` workers (``forkserver``, else ``spawn``) that mark their tasks in
    ``marks`` (:func:`mark`, :func:`died`)."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":  # workers fork from a server with numpy loaded
        ctx.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                               initargs=(marks, os.environ.get(DIE_ENV, "")))


def died(marks: Path, fallback: str) -> ReplayWorkerError:
    """The error naming what the dead worker was doing: its mark is the one left once the
    pool has terminated the others (their SIGTERM handler removes theirs)."""
    time.sleep(0.5)
    left = sorted(p.read_text("utf-8") for p in marks.glob("working-*"))
    where = " or ".join(left) if left else fallback
    return ReplayWorkerError(f"a replay worker process died while {where}; "
                             "the replay was stopped and no results.json was written")


def _result(fut: Future, what: str, marks: Path) -> Any:
    try:
        return fut.result()
    except BrokenProcessPool:
        raise died(marks, what) from None


def _spans(pool: Executor, seg: int, parts: list[Path], tmp: str, marks: Path,
           driver: str, options: dict[str, Any], jobs: int, span_bytes: int) -> Iterator[DecodedSpan]:
    """Decoded spans of one capture segment, in order, verified (module doc)."""
    ready = deque(pool.submit(_materialize, str(p), tmp) for p in parts[: jobs + 1])
    todo = deque(parts[jobs + 1:])
    flight: deque[tuple[Span, Future]] = deque()
    start_driver = b""  # the segment's driver after its first samples (decode_spans.primed)
    prev_raw: tuple[str, int, int] | None = None  # previous part: raw path, first record, size
    number = 0

    def spans_of(part: Path) -> Iterator[Span]:
        nonlocal start_driver, prev_raw, number
        raw, size, data_offset = _result(ready.popleft(), f"decompressing {part.name}", marks)
        if todo:
            ready.append(pool.submit(_materialize, str(todo.popleft()), tmp))
        if not start_driver:
            start_driver = primed(raw, driver, options)
        cuts = list(range(data_offset, size, span_bytes)) or [data_offset]
        for i, a in enumerate(cuts):
            b = cuts[i + 1] if i + 1 < len(cuts) else size
            lead = (raw, data_offset, a) if i else (None if prev_raw is None else prev_raw)
            yield Span(seg, number, part.name, raw, a, b, driver, options,
                       first=number == 0, lead=lead, primed=start_driver if number else b"")
            number += 1
        prev_raw = (raw, data_offset, size)

    pending = (s for part in parts for s in spans_of(part))
    prev: DecodedSpan | None = None
    for span in pending:
        flight.append((span, pool.submit(_decode, span)))
        while len(flight) > 2 * jobs:
            prev = _take(flight, prev, marks, tmp)
            yield prev
    while flight:
        prev = _take(flight, prev, marks, tmp)
        yield prev
    if prev is not None:
        _drop(prev.span.raw, tmp)


def _take(flight: deque[tuple[Span, Future]], prev: DecodedSpan | None, marks: Path,
          tmp: str) -> DecodedSpan:
    """The next span's result, verified against the previous one (or decoded again)."""
    span, fut = flight.popleft()
    got: DecodedSpan = _result(fut, f"decoding {span.describe()}", marks)
    if prev is not None:
        same_part = prev.span.raw == span.raw
        if got.entry != prev.exit or (same_part and got.first_offset != prev.end_offset):
            start = prev.end_offset if same_part else span.start
            redo = Span(span.segment, span.number, span.part, span.raw, start, span.stop,
                        span.driver, span.driver_options)
            got = decode_span(redo, prev.driver_state)
            got.span, got.fallback = span, True
        if not same_part:  # the previous part's last span and this one's lead-in are done
            _drop(prev.span.raw, tmp)
    return got


def _drop(raw: str, tmp: str) -> None:
    if Path(raw).parent == Path(tmp):
        Path(raw).unlink(missing_ok=True)


def replay_parallel(session: Path, out: Path, jobs: int, span_bytes: int = SPAN_BYTES, *,
                    pool: Executor | None = None, workdir: Path | None = None) -> dict[str, Any]:
    """:func:`bench.reliability.replay.replay_into` with ``jobs`` decoding processes;
    the same store and events. Counts as there, plus ``spans`` (of ``span_bytes`` each),
    ``fallbacks`` (spans decoded again here), and the workers' CPU time (``worker_cpu_s``,
    summed up to each one's last span) and largest peak RSS (``worker_peak_rss_bytes``).

    ``pool``: another executor for the spans (``reanalyze``'s Dask cluster, through
    ``Client.get_executor()``), with ``jobs`` spans in flight per worker slot; its workers
    must see ``workdir`` (default a temporary folder here), where compressed parts are
    decompressed. A task it gives up on (Dask's ``KilledWorker`` after its retries) is a
    :class:`ReplayWorkerError` naming the failure.

    Raises
    ------
    ReplayWorkerError
        A worker process died; the message names what it was decoding.
    """
    session, out = Path(session), Path(out)
    start, config, ambient, starts = replay_setup(session)
    driver, options = start["driver"], dict(start.get("driver_options") or {})
    if not supports(driver):  # only VBR/1 decoders are known to forget (decode_spans)
        return {**replay_serial(session, out), "spans": 0, "fallbacks": 0}
    store = BreathStore(out)
    log = EventLog(out / EVENTS_FILE)
    samples = spans = fallbacks = 0
    workers: dict[int, tuple[float, int]] = {}  # pid -> CPU s, peak RSS bytes (last task)
    last_t = 0.0
    try:
        with (_workdir(workdir) as tmp, nullcontext(pool) if pool is not None else executor(jobs, tmp) as pool):
            marks = Path(tmp)
            try:
                for seg, parts in segment_parts(session / "points" / "reliability").items():
                    feed = SegmentFeed(config, store, log, seg,
                                       starts.get(seg, {"t_offset_s": last_t}), last_t, ambient)
                    view = DriverView(located=True)
                    for got in _spans(pool, seg, parts, tmp, marks, driver, options, jobs,
                                      span_bytes):
                        spans += 1
                        fallbacks += int(got.fallback)
                        if got.worker is not None:
                            workers[got.worker[0]] = got.worker[1:]
                        _feed(feed, view, got)
                    n, t_end = feed.finish()
                    samples += n
                    last_t = max(last_t, t_end)
            except BrokenProcessPool:  # found by a submit rather than by a result
                raise died(marks, "decoding (which span is unknown)") from None
            except (BenchError, KeyboardInterrupt):
                raise
            except Exception as error:
                if pool_is_ours(pool):
                    raise
                raise ReplayWorkerError(f"the cluster gave up decoding a span of {session}: "
                                        f"{type(error).__name__}: {error}; the replay was stopped "
                                        "and no results.json was written") from None
    finally:
        store.close()
        log.close()
    return {"segments": len(starts), "samples": samples, "breaths": store.records,
            "spans": spans, "fallbacks": fallbacks,
            "worker_cpu_s": sum(w[0] for w in workers.values()),
            "worker_peak_rss_bytes": max((w[1] for w in workers.values()), default=0)}


def pool_is_ours(pool: Executor) -> bool:
    """True for this module's process pool (whose own failures are :func:`died`)."""
    return isinstance(pool, ProcessPoolExecutor)


@contextmanager
def _workdir(workdir: Path | None) -> Iterator[str]:
    """``workdir`` (created, emptied afterwards) or a temporary folder."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="ventbench-replay-") as tmp:
            yield tmp
        return
    Path(workdir).mkdir(parents=True, exist_ok=True)
    try:
        yield str(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _feed(feed: SegmentFeed, view: DriverView, got: DecodedSpan) -> None:
    """Hand a decoded span's records to the segment, as the single pass does."""
    at = 0
    for item in got.items:
        if item[0] == "event":
            feed.event(item[1])
            continue
        n = view.apply(item)
        if n:
            sl = slice(at, at + n)
            at += n
            feed.rx(SampleBlock(got.t_s[sl], got.flow_lpm[sl], got.paw_cmh2o[sl], got.flags[sl]), view)
