"""A :class:`~ventbench.bench.recorder.Recorder` sink that feeds the view (``record --view``).

:class:`ViewSink` takes the decoded blocks the Recorder hands to every sink — the very
samples that go to ``trace.csv`` — puts them on the view's time axis and runs them through a
:class:`~ventbench.analysis.stream.BreathStream` (adaptive segmentation) for the breath
marks. It is a display: any error in it is logged once and the view stops being fed; it
never returns a Stop, so it never ends or slows a recording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ventbench.bench.view.hub import ViewHub
from ventbench.bench.view.live import link_counters


class ViewSink:
    """Decoded blocks → the view's hub (samples, breath marks, link counters).

    Parameters
    ----------
    hub : ViewHub
    driver : Driver
        Its counters are the page's link health.
    acquisition : Acquisition, optional
        Its disconnects are the page's reconnects.
    log : callable
        Where the one line about a failure goes.
    """

    def __init__(self, hub: ViewHub, driver: Any, acquisition: Any = None,
                 log: Callable[[str], None] = print) -> None:
        from ventbench.analysis.segment import SegmentationSettings
        from ventbench.analysis.stream import BreathStream
        from ventbench.drivers.timebase import ContinuousTime

        self.hub, self.driver, self.acquisition, self.log = hub, driver, acquisition, log
        self.stream = BreathStream(SegmentationSettings.auto())
        self.clock = ContinuousTime()
        self.failed = ""
        self.n_breaths = 0

    def open(self, info: dict[str, Any]) -> None:  # noqa: ARG002 - sink interface
        if self.hub.protocol:  # a replayed point says itself what it is
            return
        self.hub.update(protocol={"id": "record", "index": 1, "total": 1, "mode": "record",
                                  "set": {}, "lung": {}, "note": "no protocol: capture only"})

    def write(self, block: Any) -> None:
        if self.failed:
            return
        try:
            t_s, flags = self.clock(block.t_s, block.flags)
            self.hub.add_samples(self, t_s, block.flow_lpm, block.paw_cmh2o)
            for breath in self.stream.feed(t_s, block.flow_lpm, block.paw_cmh2o, flags):
                self.n_breaths += 1
                self.hub.add_breath(self, breath.t_start_s, breath.ti_s, list(breath.flags),
                                    ", ".join(breath.flags))
            reconnects = (len(self.acquisition.disconnects)
                          if self.acquisition is not None else None)
            self.hub.update(counters=link_counters(self.driver, reconnects))
        except Exception as error:  # noqa: BLE001 - a display never ends a recording
            self.failed = f"{type(error).__name__}: {error}"
            self.log(f"view: stopped feeding the live page ({self.failed}); still recording")

    def close(self) -> None:
        self.hub.update(state="ended")
