"""The runner's live lines, also sent to the view: :class:`ViewLive` is a
:class:`~ventbench.bench.live.Live` that writes every line to the terminal as before and
copies each event — samples, breaths, the point, progress, verdicts — into a
:class:`~ventbench.bench.view.hub.ViewHub`.

Samples arrive through :meth:`ViewLive.view_samples`, which the run point's breath sink
(:class:`~ventbench.bench.recording.BreathSink`) calls with every decoded block it has just
validated and analysed: the page shows exactly what the live analysis saw, on the same
device time base, never anything read from the port a second time.
"""

from __future__ import annotations

import math
import time
from typing import Any, TextIO

from ventbench.bench.live import Cell, Live
from ventbench.bench.recording import expected_breath_s
from ventbench.bench.view.hub import ViewHub

#: Live-line label → (quantity of the limit set, set key) (bench.recording.LIVE_QUANTITIES).
LABEL_QUANTITY = {"VT": ("vt", "vt_ml"), "PEEP": ("peep", "peep_cmh2o"), "PIP": ("pip", None),
                  "Pinsp": ("pinsp", None), "RR": ("rate", "rate_bpm"), "Ti": ("ti", "ti_s")}
#: Least time between two copies of the link counters into the hub, s.
COUNTERS_EVERY_S = 0.2


def link_counters(driver: Any, disconnects: int | None = None) -> dict[str, Any]:
    """The link-health counters of ``record.json`` from a driver's counters."""
    c = driver.counters
    out = {"samples": int(c.samples), "lost_samples": int(c.lost_samples),
           "rejected_frames": int(c.rejected_frames), "discarded_bytes": int(c.discarded_bytes),
           "gaps": len(c.gaps), "resets": int(c.resets)}
    if disconnects is not None:
        out["reconnects"] = int(disconnects)
    return out


def cell_limit(sink: Any, cell: Cell) -> float | None:
    """The ± limit of a live cell at its set value (its unit), or None when none applies."""
    quantity, _ = LABEL_QUANTITY.get(cell.label, (None, None))
    if quantity is None or cell.value is None or cell.error is None:
        return None
    set_value = cell.value - cell.error
    tol = sink.config.limits.get(quantity)
    if tol is None or not tol.is_band or not tol.applies_to(set_value):
        return None
    try:
        tol = tol.canonical()
        return float(tol.limit(abs(cell.value) if tol.of == "actual" else abs(set_value)))
    except (ValueError, KeyError):
        return None


class ViewLive(Live):
    """Live lines to ``stream`` and into ``hub``.

    Parameters
    ----------
    hub : ViewHub
    stream : text file, optional
        The terminal (stdout by default), as :class:`Live`.
    """

    def __init__(self, hub: ViewHub, stream: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self.hub = hub
        self._sink: Any = None
        self._point_index = 0
        self._means: dict[str, list[float]] = {}
        self._counters_at = 0.0

    # -- samples (from the breath sink) -----------------------------------------------------
    def view_samples(self, sink: Any, t_s: Any, flow_lpm: Any, paw_cmh2o: Any,
                     breaths: list[Any]) -> None:
        """One analysed block: its samples (device time, s; flow at the analysis condition,
        L/min; cmH2O) and the breaths it completed."""
        hub = self.hub
        if sink is not self._sink:
            self._sink, self._means = sink, {}
        hub.add_samples(sink, t_s, flow_lpm, paw_cmh2o)
        for breath in breaths:
            flags = list(breath.flags)
            label = ", ".join(flags)
            hub.add_breath(sink, breath.t_start_s, breath.ti_s, flags, label)
        now = time.monotonic()
        if breaths or now - self._counters_at >= COUNTERS_EVERY_S:
            self._counters_at = now
            n = sink.out.live_breaths + len(breaths)
            elapsed = float(t_s[-1]) - (sink.t_first or 0.0)
            remaining = max(0, sink.need - n) * expected_breath_s(sink.point)
            progress = {"breaths": n, "need": sink.need, "settle": sink.settle,
                        "measure": sink.measure, "elapsed_s": round(elapsed, 1),
                        "remaining_s": round(remaining, 1)}
            acq = getattr(sink, "acquisition", None)
            reconnects = len(acq.disconnects) if acq is not None else None
            hub.update(counters=link_counters(sink.driver, reconnects),
                       protocol={**hub.protocol, "progress": progress})

    # -- events ----------------------------------------------------------------------------
    def point_header(self, index: int, total: int, point: Any, note: str | None = None) -> None:
        super().point_header(index, total, point, note)
        self._point_index = index
        self.hub.update(protocol={
            "index": index, "total": total, "id": str(point.id), "mode": str(point.mode),
            "set": dict(point.set), "lung": dict(point.lung), "note": note or "",
            "started_wall": time.time(), "progress": None})

    def breath(self, n: int, phase: str, cells: list[Cell]) -> None:
        super().breath(n, phase, cells)
        row_cells = []
        for c in cells:
            limit = cell_limit(self._sink, c) if self._sink is not None else None
            if phase == "measure" and c.value is not None and math.isfinite(c.value):
                self._means.setdefault(c.label, []).append(c.value)
            values = self._means.get(c.label) or []
            row_cells.append({
                "label": c.label, "value": _finite(c.value), "error": _finite(c.error),
                "set": _finite(c.value - c.error) if c.value is not None and c.error is not None
                else None,
                "limit": limit, "ok": c.ok, "digits": c.digits,
                "mean": sum(values) / len(values) if values else None})
        point = self.hub.protocol.get("id", "")
        self.hub.add_row({"point": point, "n": n, "phase": phase, "cells": row_cells})

    def point_verdict(self, point_id: str, verdict: str, checks: list[dict[str, Any]],
                      reason: str | None = None) -> None:
        super().point_verdict(point_id, verdict, checks, reason)
        self.hub.add_verdict({"point": point_id, "verdict": verdict, "reason": reason or "",
                              "checks": [{k: check.get(k) for k in
                                          ("quantity", "mean", "set", "max_abs_error", "verdict")}
                                         for check in checks]})

    def line(self, text: str = "") -> None:
        super().line(text)
        if text.strip():
            self.hub.add_line(text)

    def summary(self, rows: list[tuple[str, str, str]], verdict: str) -> None:
        super().summary(rows, verdict)
        self.hub.update(state="ended", session_verdict=verdict)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
