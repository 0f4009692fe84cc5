"""A device clock against the host clock, from host arrival times: the lower-envelope fit.

Each received sample arrives at the host after it was taken, so arrival − device time is
the clock offset plus a latency that is never negative. :func:`estimate_clock_map` fits
the lower envelope of that difference; :func:`drivers.combine.combine` relates two
sources' device clocks through their maps. Method and accuracy: ``docs/drivers/combining.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ventbench.errors import AnalysisError

#: Channel holding each sample's host arrival time, s on the host monotonic clock
#: (``read_vbcap(..., host_time=True)``: the time of the rx record it was decoded from).
HOST_TIME_CHANNEL = "t_host_s"


@dataclass(frozen=True)
class ClockMap:
    """A device clock against the host clock: ``host_s = offset_s + device_s·(1 + drift_ppm·1e-6)``.

    Attributes
    ----------
    offset_s : float
        Host time at device time 0 (including the least transport latency), s.
    drift_ppm : float
        How much faster the host clock runs than the device clock, parts per million.
    residual_s : float
        RMS distance of the envelope points from the fitted line, s.
    n_windows : int
        Envelope points the line was fitted to.
    """

    offset_s: float
    drift_ppm: float
    residual_s: float = 0.0
    n_windows: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def estimate_clock_map(device_t_s: np.ndarray, host_t_s: np.ndarray, *,
                       window_s: float | None = None) -> ClockMap:
    """Fit the lower envelope of host arrival time against device time.

    Each sample arrives at the host after it was taken: ``host = offset + device·(1 + d) +
    latency`` with latency ≥ 0 (transmission, buffering, the reader's batching). The
    samples that arrived fastest lie on a line below all others. The device time span is
    cut into windows, the sample with the least ``host − device`` of each window is taken,
    a straight line is fitted to those minima by least squares, minima far *above* it (a
    window in which nothing arrived promptly) are dropped (3 × the robust spread) and the
    line is fitted again.

    Parameters
    ----------
    device_t_s, host_t_s : array_like
        Device time and host arrival time of the same samples, s.
    window_s : float, optional
        Window length, s (default: the span / 32, at least 1 s).

    Returns
    -------
    ClockMap

    Raises
    ------
    AnalysisError
        Mismatched lengths or no finite pair.
    """
    dev = np.asarray(device_t_s, dtype=np.float64)
    host = np.asarray(host_t_s, dtype=np.float64)
    if dev.shape != host.shape or dev.ndim != 1:
        raise AnalysisError(f"clock map: device times {dev.shape} and host times {host.shape} "
                            "must be 1-D arrays of one length")
    ok = np.isfinite(dev) & np.isfinite(host)
    if not ok.any():
        raise AnalysisError("clock map: no sample has both a device and a host time")
    dev, lag = dev[ok], host[ok] - dev[ok]
    span = float(dev.max() - dev.min())
    width = window_s if window_s is not None else max(span / 32.0, 1.0)
    if not width > 0:
        raise AnalysisError(f"clock map: window_s must be positive, found {window_s!r}")
    window = np.floor((dev - dev.min()) / width).astype(np.int64)
    order = np.lexsort((lag, window))  # by window, then by lag: first of each = minimum
    first = order[np.concatenate(([True], np.diff(window[order]) != 0))]
    x, y = dev[first], lag[first]
    keep = np.ones(x.size, dtype=bool)
    for _ in range(3):
        slope, intercept, centre = _line(x[keep], y[keep])
        resid = y - (intercept + slope * (x - centre))
        spread = 1.4826 * float(np.median(np.abs(resid[keep] - np.median(resid[keep]))))
        new = resid <= 3.0 * spread + 1e-9
        if np.array_equal(new, keep) or new.sum() < 1:
            break
        keep = new
    slope, intercept, centre = _line(x[keep], y[keep])
    resid = y[keep] - (intercept + slope * (x[keep] - centre))
    return ClockMap(offset_s=float(intercept - slope * centre), drift_ppm=float(slope * 1e6),
                    residual_s=float(np.sqrt(np.mean(resid**2))), n_windows=int(keep.sum()))


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``y = intercept + slope·(x − centre)``; slope 0 for a single point."""
    centre = float(np.mean(x))
    dx = x - centre
    denom = float(np.dot(dx, dx))
    slope = float(np.dot(dx, y - np.mean(y)) / denom) if x.size > 1 and denom > 0 else 0.0
    return slope, float(np.mean(y)), centre
