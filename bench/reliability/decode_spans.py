"""Byte ranges of a capture decoded in a worker process: the parallel replay's first stage.

A *span* is a byte range ``[start, stop)`` of one raw capture part (a ``.vbcap``, or the
decompressed copy of a ``.vbcap.zst``). :func:`decode_span` reads the records that start in
it (:meth:`drivers.capture.CaptureReader.records`) and decodes their rx bytes with a driver
of the recorded kind, returning the samples and, per record, what the pipeline reads from
the driver besides the samples (located line damage, device resets, counter changes, the
flow condition) relative to the record's first sample — so the analysing process can
rebuild the single pass's view of the driver (:class:`DriverView`) with its own numbering.

Decoding is *forgetful*: what a VBR/1 decoder does with the next bytes depends only on a
small state — the bytes of an incomplete frame, the damage counted since the last frame,
the last sequence number, the DESCRIBE layout — not on how many bytes came before. So a
span that is not the first of its capture segment starts with a fresh driver fed the
segment's first record that decoded to samples (:func:`primed`: the DESCRIBE, as the single
pass saw it) and then a *lead-in*: the last :data:`LEAD_BYTES` received before ``start``
(possibly the tail of a record). Its decoder state after the
lead-in (:func:`driver_digest`) must equal the state the previous span ended with; the
parallel replay checks that, and that the previous span's scan stopped at the record this
one started with, and re-decodes the span from the previous span's exact driver otherwise.
"""

from __future__ import annotations

import pickle
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ventbench.drivers.capture import CaptureReader
from ventbench.drivers.registry import make_driver

#: Bytes of the previous span read (and thrown away) before a span, to settle the decoder.
LEAD_BYTES = 64 * 1024
#: Target span size: ~1 M samples of the rig at 1 kHz (~25 MB of decoded arrays).
SPAN_BYTES = 16 << 20
#: Environment variable naming a capture part (or a protocol point's id): a worker decoding
#: a span of it (analysing it) exits at once — tests; read when the pool starts.
DIE_ENV = "VENTBENCH_TEST_REPLAY_WORKER_DIES_AT"


@dataclass(frozen=True)
class Span:
    """One byte range to decode, with what a worker needs to start it (see module doc)."""

    segment: int  #: capture segment (0, then one more per resume)
    number: int  #: position in the replay (spans are analysed in this order)
    part: str  #: the capture part's file name (for messages)
    raw: str  #: path of the part's raw bytes
    start: int  #: byte range [start, stop) of ``raw``
    stop: int
    driver: str
    driver_options: dict[str, Any] = field(default_factory=dict)
    first: bool = True  #: first span of its capture segment: a fresh driver is exact
    #: lead-in: (raw path, its first record's offset, the offset it ends before)
    lead: tuple[str, int, int] | None = None
    primed: bytes = b""  #: the pickled driver after the segment's first record (:func:`primed`)

    def describe(self) -> str:
        """``"capture-00-0003.vbcap.zst bytes 16777216–33554432 (segment 0)"``."""
        return f"{self.part} bytes {self.start}–{self.stop} (segment {self.segment})"


@dataclass
class DecodedSpan:
    """What :func:`decode_span` returns (arrays concatenated over the span's records)."""

    span: Span
    t_s: np.ndarray
    flow_lpm: np.ndarray
    paw_cmh2o: np.ndarray
    flags: np.ndarray
    #: per record, in order: ("rx", n_samples, corruptions, resets, counter deltas, flow
    #: condition) with corruption and reset rows relative to the record's first sample,
    #: or ("event", body)
    items: list[tuple[Any, ...]]
    first_offset: int  #: offset of the first record read
    end_offset: int  #: offset of the first record not read (the next span's first)
    entry: bytes | None  #: decoder state after the lead-in (None: first span)
    exit: bytes  #: decoder state after the span
    driver_state: bytes  #: the pickled driver after the span (to re-decode the next one)
    fallback: bool = False  #: decoded again from the previous span's driver (not accepted)
    #: the worker after it: (pid, CPU time used so far in s, peak resident memory in bytes)
    worker: tuple[int, float, int] | None = None


def driver_digest(driver: Any) -> bytes:
    """The decoder state that decides what the next bytes decode to (module doc), without
    the counts of bytes and samples seen, which differ after a lead-in."""
    de, dec = driver.deframer, driver.decoder
    state = (de._pending, de._offset - de._last_end, de._rejected_since, dec.last_seq,
             dec.after_describe, list(dec._damage), dec.describe, dec.layout,
             list(dec.describe_problems), str(driver.flow_condition), list(driver._held))
    return pickle.dumps(state)


def supports(driver_name: str) -> bool:
    """Whether spans of this driver's captures can be decoded apart (a VBR/1 decoder)."""
    driver = make_driver(driver_name)
    return hasattr(driver, "deframer") and hasattr(driver, "decoder")


class _Decoder:
    """A driver and the bookkeeping that makes its side outputs relative to each record."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.seen_resets = len(getattr(driver, "segments", None) or [])
        self.counters = self._counters()

    def _counters(self) -> tuple[int, int]:
        c = self.driver.counters
        return c.discarded_bytes, c.rejected_frames

    def feed(self, data: bytes) -> tuple[Any, tuple[Any, ...]]:
        base = self.driver.counters.samples  # the driver numbers damage and resets by it
        block = self.driver.feed(data)
        n = len(block)
        located = self.driver.corruptions
        corr = tuple((i - base, b, r) for i, b, r in located)
        located.clear()
        segs = self.driver.segments
        resets = tuple({**s, "index": int(s.get("index", 0)) - base} for s in segs[self.seen_resets:])
        self.seen_resets = len(segs)
        now = self._counters()
        delta = (now[0] - self.counters[0], now[1] - self.counters[1])
        self.counters = now
        return block, (n, corr, resets, delta, self.driver.flow_condition)


def _read(decoder: _Decoder, raw: str, start: int, stop: int, keep: bool,
          out: list[Any], items: list[tuple[Any, ...]]) -> tuple[int, int]:
    """Feed the records starting in ``[start, stop)`` of ``raw``; with ``keep``, collect
    blocks and items (indices relative to each record's first sample). Returns the offsets
    of the first record read and of the first not read."""
    reader = CaptureReader(raw)
    first = None
    for rec in reader.records(start, stop):
        if first is None:
            first = rec.offset
        if rec.kind == "rx":
            block, item = decoder.feed(rec.data)
            if keep:
                if item[0]:
                    out.append(block)
                items.append(("rx", *item))
        elif rec.kind == "event" and keep:
            items.append(("event", rec.event()))
    end = reader.report.end_offset
    return (end if first is None else first), end


def _lead_in(raw: str, lo: int, hi: int) -> bytes:
    """The last :data:`LEAD_BYTES` received before offset ``hi`` (records from ``lo`` on):
    the decoder needs a few frames to settle, not the records they came in."""
    width = LEAD_BYTES
    while True:
        start = max(lo, hi - width)
        data = b"".join(r.data for r in CaptureReader(raw).records(start, hi) if r.kind == "rx")
        if start == lo or len(data) >= LEAD_BYTES:
            return data[-LEAD_BYTES:]
        width *= 4


def decode_span(span: Span, driver_state: bytes | None = None) -> DecodedSpan:
    """Decode ``span`` (see module doc); from ``driver_state`` (a previous span's exact
    driver, pickled) instead of the primed driver and the lead-in when given."""
    entry = None
    if driver_state is not None:
        decoder = _Decoder(pickle.loads(driver_state))
    else:
        primed = span.primed if not span.first else None
        decoder = _Decoder(pickle.loads(primed) if primed else
                           make_driver(span.driver, **dict(span.driver_options)))
        if not span.first:
            if span.lead is not None:
                decoder.feed(_lead_in(*span.lead))
            entry = driver_digest(decoder.driver)
    decoder.counters = decoder._counters()
    blocks: list[Any] = []
    items: list[tuple[Any, ...]] = []
    first, end = _read(decoder, span.raw, span.start, span.stop, True, blocks, items)
    driver = decoder.driver
    driver.decoder.raw = []  # the last batch's frames: not state

    def cat(name: str, dtype: type) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in blocks]) if blocks else np.zeros(0, dtype)

    return DecodedSpan(span, cat("t_s", np.float64), cat("flow_lpm", np.float64),
                       cat("paw_cmh2o", np.float64), cat("flags", np.uint8), items, first, end,
                       entry, driver_digest(driver), pickle.dumps(driver))


class DriverView:
    """What :class:`bench.reliability.pipeline.Pipeline` reads from a driver, rebuilt in the
    analysing process from the items of decoded spans with the single pass's numbering."""

    def __init__(self, located: bool) -> None:
        from ventbench.drivers.base import DecodeCounters
        from ventbench.drivers.vbr1.samples import MAX_CORRUPTIONS

        self.corruptions: deque[tuple[int, int, int]] | None = (
            deque(maxlen=MAX_CORRUPTIONS) if located else None)
        self.segments: list[dict[str, Any]] = []
        self.counters = DecodeCounters()
        self.flow_condition: Any = None
        self.decoded = 0  #: samples decoded so far in this capture segment

    def apply(self, item: tuple[Any, ...]) -> int:
        """Take one rx item's side outputs; returns its number of samples."""
        _, n, corr, resets, delta, cond = item
        base = self.decoded
        if self.corruptions is not None:
            self.corruptions.extend((i + base, b, r) for i, b, r in corr)
        self.segments.extend({**s, "index": s["index"] + base} for s in resets)
        self.counters.discarded_bytes += delta[0]
        self.counters.rejected_frames += delta[1]
        self.flow_condition = cond
        self.decoded += n
        return n



def primed(raw: str, driver: str, options: dict[str, Any]) -> bytes:
    """A fresh driver fed a segment's records up to the first that decodes to samples
    (its DESCRIBE), pickled: where every later span of the segment starts."""
    drv = make_driver(driver, **options)
    for rec in CaptureReader(raw):
        if rec.kind == "rx" and len(drv.feed(rec.data)):
            break
    drv.decoder.raw = []
    drv.corruptions.clear()
    return pickle.dumps(drv)
