"""Detection levels from the signal itself: segmentation without a patient-size preset.

A breath stream with adaptive settings (:meth:`analysis.segment.SegmentationSettings.auto`)
holds its samples until the first *calibration block* that shows breathing, estimates the
flow's levels there (:func:`signal_levels`) and derives every detection setting from them
(:func:`settings_from_levels`); the segmentation of the whole trace then runs with those
settings, from its first held sample (STANDARDS.md §3 with docs/segmentation.md).

Blocks are fixed spans of time from the first sample (``t0 + k * block_s``), a block is
judged once a sample at or after its end has arrived (or the trace ended), and only the
samples of the block are read: the settings, and so the breaths, are the same for any
chunking of the stream.

Levels (all from the flow smoothed by a centred moving average of :data:`LEVEL_SMOOTHING_S`):

- noise floor: the white-noise standard deviation of the raw flow, from the median of the
  absolute second differences (they cancel a constant and a ramp; robust against the few
  samples on breath edges): ``σ = median|Δ²f| / 0.6745 / √6``;
- inspiratory amplitude: the 99th percentile of the smoothed flow minus its median (the
  median is the zero-flow level of the block, offset included); expiratory amplitude: the
  median minus the 1st percentile;
- inspiratory time: the sample-weighted median length of the runs of smoothed flow above
  half the inspiratory amplitude (a run of ringing is short and holds few samples).

A block shows breathing when its inspiratory amplitude exceeds :data:`BREATHING_NOISE_RATIO`
times the smoothed noise and :data:`MIN_AMPLITUDE_LPM`; a trace with no such block has no
breaths, and :attr:`SignalLevels.reason` says why ("no breathing found: flow within the
noise floor of 0.04 L/min").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ventbench.analysis.stats import median, percentiles
from ventbench.units import ML_PER_S_PER_LPM

#: Span of a calibration block, s (at least this, and at least 2.5 set breath periods).
CALIBRATION_BLOCK_S = 10.0
#: Smoothing of the flow the levels are read from, s.
LEVEL_SMOOTHING_S = 0.03
#: Percentiles of the smoothed flow taken as the inspiratory / expiratory amplitude.
AMPLITUDE_PERCENTILES = (1.0, 50.0, 99.0)
#: A block breathes when its inspiratory amplitude exceeds this many smoothed-noise σ ...
BREATHING_NOISE_RATIO = 5.0
#: ... and this flow, L/min (a stuck sensor's quantisation steps are no breathing).
MIN_AMPLITUDE_LPM = 0.1
#: Inspiratory threshold: this fraction of the inspiratory amplitude ...
INSP_FRACTION = 0.25
#: ... but at least this many σ of the detection-smoothed noise ...
THRESHOLD_NOISE_SD = 2.5
#: ... and at most the adult trigger level, L/min (real rigs ring far above it: RespiraWorks).
MAX_THRESHOLD_LPM = 3.0
#: Mean flow of an accepted inspiration: at least this fraction of the inspiratory amplitude
#: (pressure control: a peak many times the mean), or a positive zero-flow level (sensor
#: offset) plus the noise level above; at most the inspiratory threshold. Flow wandering
#: near an offset for seconds after a ventilator stops is no inspiration (RespiraWorks).
MEAN_FLOW_FRACTION = 0.02
#: Expiratory threshold: this fraction of the expiratory amplitude (at least the inspiratory one).
EXP_FRACTION = 0.1
#: Detection smoothing, minimum inspiration and double-trigger expiration as fractions of
#: the inspiratory time, with their bounds (s).
SMOOTHING_FRACTION, SMOOTHING_BOUNDS_S = 0.05, (0.03, 0.05)
MIN_INSP_FRACTION, MIN_INSP_BOUNDS_S = 0.25, (0.1, 0.25)
MIN_EXP_FRACTION, MIN_EXP_BOUNDS_S = 0.3, (0.1, 0.3)
#: Smallest inspiration kept, as a fraction of amplitude x inspiratory time, with bounds (mL).
MIN_VTI_FRACTION, MIN_VTI_BOUNDS_ML = 0.1, (0.3, 20.0)
#: Zero band: this fraction of the smaller threshold, at most this many raw noise σ.
ZERO_BAND_FRACTION, ZERO_BAND_NOISE_SD = 0.4, 3.0


@dataclass(frozen=True)
class SignalLevels:
    """Levels of one calibration block (see module doc).

    Attributes
    ----------
    noise_sd_lpm : float
        White-noise standard deviation of the raw flow, L/min.
    noise_floor_lpm : float
        Amplitude a breath must exceed: ``BREATHING_NOISE_RATIO`` σ of the smoothed flow, L/min.
    insp_amplitude_lpm, exp_amplitude_lpm : float
        Inspiratory / expiratory flow amplitude above / below the median flow, L/min (>= 0).
    median_lpm : float
        Median flow of the block (its zero-flow level, sensor offset included), L/min.
    ti_s : float
        Estimated inspiratory time, s (NaN when no breathing).
    dt_s : float
        Sample interval, s.
    t_from_s, t_to_s : float
        Span of the block the levels come from, s.
    """

    noise_sd_lpm: float
    noise_floor_lpm: float
    insp_amplitude_lpm: float
    exp_amplitude_lpm: float
    median_lpm: float
    ti_s: float
    dt_s: float
    t_from_s: float
    t_to_s: float

    @property
    def breathing(self) -> bool:
        """True when the block shows breathing above its noise floor."""
        return self.insp_amplitude_lpm > max(self.noise_floor_lpm, MIN_AMPLITUDE_LPM)

    @property
    def reason(self) -> str:
        """Why no breath can be found here ("" when the block breathes)."""
        if self.breathing:
            return ""
        if self.noise_sd_lpm == 0.0 and self.insp_amplitude_lpm == 0.0:
            return "no breathing found: the flow does not change (flat line or stuck sensor)"
        floor = max(self.noise_floor_lpm, MIN_AMPLITUDE_LPM)
        return f"no breathing found: flow within the noise floor of {floor:.2g} L/min"

    def to_json(self) -> dict[str, float]:
        return {k: (v if math.isfinite(v) else None) for k, v in self.__dict__.items()}


def _moving_average(x: np.ndarray, h: int) -> np.ndarray:
    """Centred moving average of ``2h + 1`` samples (valid part only)."""
    if h <= 0 or x.shape[0] < 2 * h + 1:
        return x
    c = np.cumsum(np.concatenate(([0.0], x)))
    return (c[2 * h + 1 :] - c[: -2 * h - 1]) / (2 * h + 1)


def _weighted_median_run_s(mask: np.ndarray, dt_s: float) -> float:
    """Sample-weighted median length of the runs of ``mask``, s (NaN without runs)."""
    m = np.concatenate(([False], mask, [False]))
    d = np.diff(m.astype(np.int8))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    if starts.size == 0:
        return math.nan
    lengths = np.sort(stops - starts)
    cum = np.cumsum(lengths)
    return float(lengths[int(np.searchsorted(cum, cum[-1] / 2.0))]) * dt_s


def signal_levels(t_s: np.ndarray, flow_lpm: np.ndarray) -> SignalLevels:
    """Noise floor, amplitudes and inspiratory time of one block of flow.

    Parameters
    ----------
    t_s : ndarray
        Sample times, s, strictly increasing (at least 3 samples).
    flow_lpm : ndarray
        Corrected flow, L/min (non-finite values count as zero).

    Returns
    -------
    SignalLevels
    """
    f = np.where(np.isfinite(flow_lpm), flow_lpm, 0.0)
    t0, t1 = (float(t_s[0]), float(t_s[-1])) if t_s.shape[0] else (math.nan, math.nan)
    if f.shape[0] < 3:
        return SignalLevels(0.0, 0.0, 0.0, 0.0, 0.0, math.nan, math.nan, t0, t1)
    dt_s = median(np.diff(t_s[:1025]))
    d2 = f[2:] - 2.0 * f[1:-1] + f[:-2]
    sd = median(np.abs(d2)) / 0.6745 / math.sqrt(6.0)
    h = max(0, int(round(LEVEL_SMOOTHING_S / dt_s / 2.0)))
    sm = _moving_average(f, h)
    lo, mid, hi = percentiles(sm, AMPLITUDE_PERCENTILES)
    floor = BREATHING_NOISE_RATIO * sd / math.sqrt(2 * h + 1)
    a_in, a_ex = float(hi - mid), float(mid - lo)
    ti = _weighted_median_run_s(sm - mid > 0.5 * a_in, dt_s) if a_in > 0 else math.nan
    return SignalLevels(sd, floor, a_in, a_ex, float(mid), ti, dt_s, t0, t1)


def settings_from_levels(levels: SignalLevels, template, ti_s: float | None = None):
    """Concrete segmentation settings for a breathing block.

    Parameters
    ----------
    levels : SignalLevels
        Levels of the block (``levels.breathing`` true).
    template : SegmentationSettings
        Adaptive settings: bias flow, offset and ``max_breath_s`` are kept.
    ti_s : float, optional
        Set inspiratory time, s; replaces the estimate when given.

    Returns
    -------
    SegmentationSettings
        Fixed (not adaptive) settings.
    """
    ti = ti_s if ti_s and ti_s > 0 else levels.ti_s
    if not math.isfinite(ti) or ti <= 0:
        ti = 1.0
    smoothing = float(np.clip(SMOOTHING_FRACTION * ti, *SMOOTHING_BOUNDS_S))
    h = max(0, int(round(smoothing / levels.dt_s / 2.0)))
    sd_smooth = levels.noise_sd_lpm / math.sqrt(2 * h + 1)
    a_in, a_ex = levels.insp_amplitude_lpm, levels.exp_amplitude_lpm
    insp = min(MAX_THRESHOLD_LPM, max(INSP_FRACTION * a_in, THRESHOLD_NOISE_SD * sd_smooth))
    exp = min(MAX_THRESHOLD_LPM, max(EXP_FRACTION * a_ex, insp))
    mean_flow = min(insp, max(MEAN_FLOW_FRACTION * a_in,
                              max(levels.median_lpm, 0.0) + THRESHOLD_NOISE_SD * sd_smooth))
    band = min(ZERO_BAND_FRACTION * min(insp, exp), ZERO_BAND_NOISE_SD * levels.noise_sd_lpm)
    vti = MIN_VTI_FRACTION * a_in * ML_PER_S_PER_LPM * ti
    return replace(
        template,
        adaptive=False,
        insp_threshold_lpm=insp,
        exp_threshold_lpm=-exp,
        smoothing_s=smoothing,
        min_insp_s=float(np.clip(MIN_INSP_FRACTION * ti, *MIN_INSP_BOUNDS_S)),
        min_exp_s=float(np.clip(MIN_EXP_FRACTION * ti, *MIN_EXP_BOUNDS_S)),
        min_vti_ml=float(np.clip(vti, *MIN_VTI_BOUNDS_ML)),
        min_mean_flow_lpm=mean_flow,
        zero_band_lpm=band,
    )
