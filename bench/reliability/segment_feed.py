"""One capture segment of a replayed reliability session → the pipeline; the single pass.

Each segment's capture parts are read in order (:class:`drivers.capture.CaptureReader`) and
their rx bytes fed, as recorded, to a fresh driver of the recorded kind; ``disconnect`` /
``reconnect`` event records become the same detector calls the live run made from
:attr:`drivers.transport.Acquisition.disconnects`. The segment's run-time base is taken from
its ``segment_start`` event. :class:`SegmentFeed` is shared by the single pass here and the
parallel replay (:mod:`bench.reliability.parallel_replay`); :mod:`bench.reliability.replay`
chooses between them and compares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ventbench.analysis.gas import Ambient
from ventbench.bench.reliability.capture_parts import segment_parts
from ventbench.bench.reliability.config import ReliabilityConfig
from ventbench.bench.reliability.events import EVENTS_FILE, EventDetector, EventLog, read_events
from ventbench.bench.reliability.pipeline import Pipeline
from ventbench.bench.reliability.store import BreathStore
from ventbench.bench.session import read_json
from ventbench.drivers.capture import CaptureReader


class SegmentFeed:
    """One capture segment of a replay: its records' effects, in order, on the pipeline.

    The single pass (:func:`replay_serial`) and the parallel replay
    (:mod:`bench.reliability.parallel_replay`) both hand every record here: ``rx`` with the
    block its bytes decoded to and the driver (or a stand-in holding the same decoder
    state), ``event`` with a capture event body. Emits ``segment_start`` (and the resume
    gap) on creation and ``segment_end`` in :meth:`finish`.
    """

    def __init__(self, config: ReliabilityConfig, store: BreathStore | None, log: EventLog | None,
                 seg: int, start_event: dict[str, Any], last_t: float, ambient: Ambient) -> None:
        ev = start_event
        self.detector = EventDetector(config, log, seg)
        extra = {k: ev[k] for k in ("port", "gap_s", "cause") if k in ev}
        self.detector.emit("segment_start", ev["t_offset_s"], t_offset_s=ev["t_offset_s"], **extra)
        if seg:
            self.detector.gap(last_t, ev["t_offset_s"] - last_t)
        self.pipeline = Pipeline(config, store, self.detector, seg, ev["t_offset_s"], ambient)
        self.pending: list[dict[str, Any]] = []  #: disconnects waiting for the next samples

    def rx(self, block: Any, driver: Any) -> None:
        """The samples one rx record decoded to (possibly none) and the driver after it."""
        if len(block):
            for d in self.pending:
                self.detector.disconnect(d["error"], d.get("down_s"), d.get("attempts", 0))
            self.pending = []
            self.pipeline.feed(block, driver)

    def event(self, body: dict[str, Any]) -> None:
        """A capture ``event`` record's body (disconnects and reconnects matter)."""
        if body.get("event") == "disconnect":
            self.pending.append({"error": body.get("error", "")})
        elif body.get("event") == "reconnect" and self.pending:
            self.pending[-1].update(down_s=round(float(body["down_s"]), 3),
                                    attempts=int(body.get("attempts", 0)))

    def finish(self) -> tuple[int, float]:
        """Close the segment; its samples and the run time of its last sample."""
        self.pipeline.finish()
        rolling = self.pipeline.rolling
        self.detector.emit("segment_end", rolling.t_run_s, samples=rolling.samples)
        return rolling.samples, rolling.t_run_s


def replay_setup(session: Path) -> tuple[dict[str, Any], ReliabilityConfig, Ambient, dict[int, Any]]:
    """``start.json``, the frozen config, the ambient and the recorded ``segment_start``
    events by segment: what every replay of ``session`` starts from."""
    start = read_json(Path(session) / "start.json", "session start record")
    config = ReliabilityConfig.from_json(start["reliability"])
    ambient = Ambient(**start["ambient"]) if start.get("ambient") else Ambient()
    recorded = read_events(Path(session) / "reliability" / EVENTS_FILE)
    starts = {e["segment"]: e for e in recorded if e["kind"] == "segment_start"}
    return start, config, ambient, starts


def replay_serial(session: Path, out: Path) -> dict[str, Any]:
    """Re-decode and re-analyse ``session``'s captures into ``out`` (store + events) in one
    pass. Returns counts: segments, samples, breaths."""
    from ventbench.drivers.registry import make_driver

    session, out = Path(session), Path(out)
    start, config, ambient, starts = replay_setup(session)
    store = BreathStore(out)
    log = EventLog(out / EVENTS_FILE)
    samples = 0
    last_t = 0.0
    try:
        for seg, parts in segment_parts(session / "points" / "reliability").items():
            feed = SegmentFeed(config, store, log, seg, starts.get(seg, {"t_offset_s": last_t}),
                               last_t, ambient)
            driver = make_driver(start["driver"], **dict(start.get("driver_options") or {}))
            for path in parts:
                for rec in CaptureReader(path):
                    if rec.kind == "rx":
                        feed.rx(driver.feed(rec.data), driver)
                    elif rec.kind == "event":
                        feed.event(rec.event())
            n, t_end = feed.finish()
            samples += n
            last_t = max(last_t, t_end)
    finally:
        store.close()
        log.close()
    return {"segments": len(starts), "samples": samples, "breaths": store.records}
