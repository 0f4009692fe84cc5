"""Replay a reliability session: its captures → the same pipeline → a fresh store and events.

The captures are decoded in one pass (:mod:`bench.reliability.segment_feed`) or in worker
processes (:mod:`bench.reliability.parallel_replay`). The result is compared with the
recorded store and events: breath records must be bit-identical, events equal (in time order) except the wall-clock
fields of ``segment_start`` (``gap_s``, ``cause``), which the live run measured.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.bench.reliability.events import EVENTS_FILE, read_events
from ventbench.bench.reliability.parallel_replay import replay_parallel
from ventbench.bench.reliability.segment_feed import replay_serial
from ventbench.bench.reliability.store import read_breaths
from ventbench.bench.session import read_json
from ventbench.errors import BenchError

WALL_FIELDS = ("gap_s", "cause", "down_s", "attempts")


def replay_into(session: Path, out: Path, jobs: int = 1) -> dict[str, Any]:
    """Re-decode and re-analyse ``session``'s captures into ``out`` (store + events).

    ``jobs`` > 1 decodes time ranges of the captures in that many worker processes
    (:mod:`bench.reliability.parallel_replay`) with the same result. Returns counts:
    segments, samples, breaths (and ``fallbacks`` of a parallel replay).
    """
    if jobs > 1:
        return replay_parallel(session, out, jobs)
    return replay_serial(session, out)


def _event_key(event: dict[str, Any]) -> tuple[float, str]:
    """Events compare in time order: the live run and the replay may hand the pipeline the
    same samples in different blocks (samples a handshake read are delivered with the next
    read), which can change the order in which events of one block were written."""
    return float(event["t_s"]), json.dumps(event, sort_keys=True)


def compare(session: Path, replayed: Path) -> list[str]:
    """Differences between the recorded and the replayed store and events (empty: identical).

    Segment by segment. A segment the live run never closed (killed: no ``segment_end``)
    only has to be part of its replay (its breaths a prefix, its events among the replay's):
    the replay also decodes the bytes that reached the capture after the last write.
    """
    a, _ = read_breaths(Path(session) / "reliability")
    b, _ = read_breaths(Path(replayed))
    ea = [{k: v for k, v in e.items() if k not in WALL_FIELDS}
          for e in read_events(Path(session) / "reliability" / EVENTS_FILE)]
    eb = [{k: v for k, v in e.items() if k not in WALL_FIELDS}
          for e in read_events(Path(replayed) / EVENTS_FILE)]
    closed = {e["segment"] for e in ea if e["kind"] == "segment_end"}
    diffs = []
    for seg in sorted(set(a["segment"].tolist()) | set(b["segment"].tolist()) | {e["segment"] for e in ea}):
        ra, rb = a[a["segment"] == seg], b[b["segment"] == seg]
        sa = [e for e in ea if e["segment"] == seg]
        sb = [e for e in eb if e["segment"] == seg]
        sa, sb = sorted(sa, key=_event_key), sorted(sb, key=_event_key)
        if seg not in closed:  # killed: the recorded part must be a prefix of the replay
            rb = rb[: len(ra)]
            keys = {_event_key(e) for e in sa}
            sb = [e for e in sb if _event_key(e) in keys]
        if len(ra) != len(rb):
            diffs.append(f"segment {seg}: breaths recorded {len(ra)}, replayed {len(rb)}")
        n = min(len(ra), len(rb))
        width = ra.dtype.itemsize  # explicit: a segment without breaths (n = 0) has no -1 to infer
        rows_a, rows_b = ra[:n].view(np.uint8).reshape(n, width), rb[:n].view(np.uint8).reshape(n, width)
        bad = np.flatnonzero((rows_a != rows_b).any(axis=1))
        if bad.size:
            i = int(bad[0])
            diffs.append(f"segment {seg} breath {i}: recorded {ra[i]}, replayed {rb[i]}")
        if sa != sb:
            i = next((i for i, (x, y) in enumerate(zip(sa, sb, strict=False)) if x != y), None)
            diffs.append(f"segment {seg} events: recorded {len(sa)}, replayed {len(sb)}"
                         + ("" if i is None else f"; first difference: {sa[i]} / {sb[i]}"))
    return diffs


#: The parts of results.json re-derived from the session's records (``software`` may differ).
DERIVED_KEYS = ("verdict", "gas", "reliability", "instruments", "environment", "declaration")


def compare_results(session: Path, data_dir: Path | None = None) -> list[str]:
    """Differences between the recorded ``results.json`` and the one re-derived from the store,
    events, start record, environment record and captures (verdict, conditions, evidence)."""
    from ventbench.bench.reliability.analysis import session_results

    path = Path(session) / "results.json"
    if not path.exists():
        return []
    recorded = read_json(path, "results")
    derived = json.loads(json.dumps(session_results(Path(session), data_dir)))
    return [f"results.json {key}: recorded {json.dumps(recorded.get(key))[:300]}, "
            f"re-derived {json.dumps(derived.get(key))[:300]}"
            for key in DERIVED_KEYS if recorded.get(key) != derived.get(key)]


def replay_session(session: Path) -> list[str]:
    """Replay into a temporary directory and compare; the differences (empty: identical),
    then results.json re-derived from the recorded store (which the replay has just matched:
    a killed segment's store is only a prefix of its replay) and the session's records."""
    with tempfile.TemporaryDirectory(prefix="ventbench-rel-replay-") as tmp:
        replay_into(session, Path(tmp))
        diffs = compare(session, Path(tmp))
        return diffs or compare_results(session)  # from the recorded store, which the replay matched


def replay_command(session: Path, out: Path | None, stopped: bool = True, jobs: int = 1) -> int:
    """``ventbench replay`` of a reliability session: identical → the recorded verdict's
    exit code; any difference → the differences and exit 1. ``out`` keeps the replayed
    store, events and results.json. ``jobs`` > 1: decoding in that many processes."""
    from ventbench.bench.reliability.analysis import session_results
    from ventbench.bench.session import write_json_atomic

    session = Path(session)
    with tempfile.TemporaryDirectory(prefix="ventbench-rel-replay-") as tmp:
        target = Path(out) if out is not None else Path(tmp)
        counts = replay_into(session, target, jobs)
        diffs = compare(session, target)
        if out is not None:
            write_json_atomic(target / "results.json", session_results(session, target))
    print(f"replay {session}: {counts['segments']} segment(s), {counts['samples']} samples, "
          f"{counts['breaths']} breaths re-decoded and re-analysed")
    if jobs > 1 and counts.get("spans"):
        print(f"  {jobs} decoding processes: {counts['spans']} spans, "
              f"{counts.get('fallbacks', 0)} decoded again from the previous span's decoder")
    elif jobs > 1:
        print("  decoded in one pass: this driver's captures are not split (VBR/1 only)")
    if not stopped:
        print("  aborted: no stop record (the session was killed); replaying what was recorded")
    for line in diffs:
        print(f"  {line}")
    if diffs:
        return 1
    try:
        verdict = read_json(session / "results.json", "results")["verdict"]
    except (OSError, KeyError, ValueError, BenchError):
        return 2
    print(f"  identical; verdict {verdict}")
    return {"PASS": 0, "FAIL": 1}.get(verdict, 2)
