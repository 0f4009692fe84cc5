"""``replay --view``: a recorded session played to the page at any speed.

Each point's capture is read back through ``replay://PATH?speed=S`` and a fresh driver —
the same transport, driver, :class:`~ventbench.bench.recorder.Recorder` and sink path as a
live point — into a :class:`~ventbench.bench.view.sink.ViewSink`. It only shows: the
verdicts still come from ``ventbench replay``'s own re-analysis, which runs afterwards.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ventbench.bench.view.hub import ViewHub
from ventbench.bench.view.sink import ViewSink


def play_session(session: Path, start: dict[str, Any], hub: ViewHub, speed: str,
                 log: Callable[[str], None] = print) -> int:
    """Play every recorded point of ``session`` to ``hub`` at ``speed`` ("max" or a time
    factor); the number of points played. Ctrl-C ends the playing (KeyboardInterrupt)."""
    from ventbench.bench.reanalysis import CAPTURE_FILE, session_points
    from ventbench.bench.recorder import Recorder, Source
    from ventbench.bench.session import safe_name
    from ventbench.drivers.registry import make_driver
    from ventbench.drivers.transport import Acquisition

    port = start.get("port") or {}
    points = list(session_points(start))
    played = 0
    with tempfile.TemporaryDirectory(prefix="ventbench-view-") as tmp:
        for index, point in enumerate(points, 1):
            capture = Path(session) / "points" / safe_name(point["id"]) / CAPTURE_FILE
            if not capture.exists():
                continue
            hub.update(protocol={"index": index, "total": len(points), "id": str(point["id"]),
                                 "mode": str(point.get("mode", "")),
                                 "set": dict(point.get("set") or {}),
                                 "lung": dict(point.get("lung") or {}),
                                 "note": f"replay of {session.name} at speed {speed}",
                                 "progress": None})
            driver = make_driver(port.get("driver", "rig"), **(port.get("driver_options") or {}))
            url = f"replay://{capture.resolve()}?speed={speed}&barrier_ms=50"
            acq = Acquisition(url, driver, Path(tmp) / f"{index}.vbcap", reconnect=False)
            sink = ViewSink(hub, driver, acq, log)
            result = Recorder([Source(acq, [sink])], require_samples=False).run()
            if result.stop.kind == "signal":
                raise KeyboardInterrupt
            played += 1
    hub.update(state="ended")
    return played
