"""Breath segmentation: settings, presets and the vectorised detection primitives.

How a breath is found (STANDARDS.md §3):

1. The flow is corrected: ``flow - base_flow_lpm - flow_offset_lpm`` (bias flow and a known
   sensor zero offset). Metrics integrate the same corrected flow.
2. For *detection only*, the corrected flow is smoothed by a centred moving average of
   ``smoothing_s`` (computed from a running sum, so it needs ``h`` samples of lookahead).
3. Hysteresis on the smoothed flow: the state turns "inspiration" when it rises above
   ``insp_threshold_lpm`` and "expiration" when it falls below ``exp_threshold_lpm``.
4. Each state change is refined on the *raw* corrected flow, from its leading edge in the
   samples around the threshold event (from ``4h + 4`` samples before it to the early
   peak of the smoothed flow within ``4h + 4`` samples after it): robust crossings of two
   levels relative to that peak, extrapolated back to zero flow for a ramp, the half-height
   crossing for a step (:func:`analysis.edges.refine_edges`). A breath starts there, and
   inspiration ends where the falling edge into expiration does. Where no edge is found,
   the boundary is the last upward (downward) zero crossing before the smoothed flow crossed
   the threshold (including the ``h`` samples the smoothing looked ahead, at most
   ``max_breath_s`` back), of the band ``±zero_band_lpm`` extrapolated to zero (:func:`refine_crossing`).
5. The start is moved to the last rise through the inspiratory threshold before the
   smoothed flow peaks, and the end of inspiration to the last fall through the expiratory
   threshold before the expiratory peak if no more than noise (``min_vti_ml``) was breathed
   out in between: noise in a long expiratory or end-inspiratory pause may switch the
   state early. Candidate inspirations shorter than ``min_insp_s``, with less than
   ``min_vti_ml``, or whose mean flow (VTi / Ti) is below ``min_mean_flow_lpm`` (by default
   ``insp_threshold_lpm``) are noise
   (ringing, valve oscillation, sensor noise) and are merged into the expiration around
   them. A candidate starting before the refined end of the previous accepted inspiration
   (its threshold event inside that end's edge window) is part of that inspiration, which
   then ends at the later end. A breath runs from one accepted inspiration to the next;
   breaths longer than ``max_breath_s`` (apnoea, idle) and incomplete first / last breaths
   are dropped.
6. Flags: ``"double_trigger"`` when the expiration is shorter than ``min_exp_s`` (the next
   breath started before this one really breathed out), ``"too_short"`` when the whole cycle
   is shorter than ``min_insp_s + min_exp_s``, and the names of any sample flags
   (:func:`analysis.trace.flag_names`) inside the breath.

The orchestration (state carried between chunks) is :class:`analysis.stream.BreathStream`;
this module holds the settings and the detection primitives it uses (hysteresis, zero
crossings); the leading-edge estimator of step 4 is :mod:`analysis.edges`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, replace

import numpy as np

from ventbench.analysis.vocabulary import AUTO
from ventbench.errors import ConfigError

#: Samples used to estimate the sample interval for the smoothing window.
RATE_ESTIMATE_SAMPLES = 17

_PRESETS: dict[str, dict[str, float]] = {
    # IMT PF-300 / Fluke VT305 adult trigger levels; smoothing and minimum phase durations
    # make real rig data (valve oscillation, ringing) segment cleanly.
    "adult": dict(
        insp_threshold_lpm=3.0,
        exp_threshold_lpm=-3.0,
        smoothing_s=0.05,
        min_insp_s=0.25,
        min_exp_s=0.3,
        min_vti_ml=20.0,
        zero_band_lpm=1.0,
    ),
    # VT 30-50 mL, Ti 0.6 s, 20-30 bpm: flows of 3-5 L/min.
    # Expiratory flows of these rows peak far higher (>= 12 L/min) than inspiratory flow in
    # VC, so a larger expiratory threshold keeps noise in end-inspiratory zero flow (PC,
    # pauses) from ending inspiration early.
    "paediatric": dict(
        insp_threshold_lpm=1.0,
        exp_threshold_lpm=-2.0,
        smoothing_s=0.04,
        min_insp_s=0.15,
        min_exp_s=0.2,
        min_vti_ml=3.0,
        zero_band_lpm=0.6,
    ),
    # VT 5 mL, Ti 0.4 s, 60 bpm: inspiratory flow about 0.75 L/min, noise ~0.3 L/min at 1 kHz.
    "neonatal": dict(
        insp_threshold_lpm=0.25,
        exp_threshold_lpm=-1.0,
        smoothing_s=0.03,
        min_insp_s=0.1,
        min_exp_s=0.1,
        min_vti_ml=0.5,
        zero_band_lpm=0.08,
    ),
}


#: Name of the adaptive settings (no preset), and every name :meth:`SegmentationSettings.preset` takes.
#: (:data:`analysis.vocabulary.SEGMENTATION_PRESETS` repeats it for ``--help``; a test checks.)
PRESETS = (AUTO, *_PRESETS)


@dataclass(frozen=True)
class SegmentationSettings:
    """How breaths are found in a flow signal (defaults: the adult preset).

    Parameters
    ----------
    insp_threshold_lpm : float
        Smoothed flow must rise above this to start an inspiration, L/min (> 0).
    exp_threshold_lpm : float
        Smoothed flow must fall below this to start an expiration, L/min (< 0).
    smoothing_s : float
        Centred moving-average window used for detection only, s (0 = none). Converted to
        an odd number of samples from the median interval of the first 17 samples.
    min_insp_s : float
        Shorter candidate inspirations are noise and merged into the expiration, s.
    min_exp_s : float
        Expirations shorter than this flag the breath ``"double_trigger"``, s.
    min_vti_ml : float
        Candidate inspirations with less volume are noise, mL (at the flow's condition).
    zero_band_lpm : float
        Noise band around zero used to refine boundaries, L/min (< both thresholds; 0 =
        plain last zero crossing): see :func:`refine_crossing`.
    base_flow_lpm : float
        Constant bias flow subtracted before detection and metrics, L/min.
    flow_offset_lpm : float
        Known sensor zero offset subtracted before detection and metrics, L/min.
    max_breath_s : float
        Longest breath cycle reported, s; also how far back a zero crossing is searched.
        Bounds the memory of streaming analysis.
    min_mean_flow_lpm : float
        Candidate inspirations whose mean flow (VTi / Ti) is lower are noise, L/min (0: the
        inspiratory threshold).
    adaptive : bool
        Detection levels come from the signal (:mod:`analysis.adaptive`): the thresholds,
        smoothing, minimum durations, minimum volume and zero band above are replaced by
        values derived from the first calibration block that shows breathing.
    set_ti_s, set_rate_bpm : float
        Set inspiratory time, s, and rate, bpm, used by adaptive settings when > 0 (0 =
        not given): Ti replaces the estimated one, the rate lengthens the calibration block
        to at least 2.5 set periods.
    """

    insp_threshold_lpm: float = 3.0
    exp_threshold_lpm: float = -3.0
    smoothing_s: float = 0.05
    min_insp_s: float = 0.25
    min_exp_s: float = 0.3
    min_vti_ml: float = 20.0
    zero_band_lpm: float = 1.0
    base_flow_lpm: float = 0.0
    flow_offset_lpm: float = 0.0
    max_breath_s: float = 60.0
    min_mean_flow_lpm: float = 0.0
    adaptive: bool = False
    set_ti_s: float = 0.0
    set_rate_bpm: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.adaptive, bool):
            raise ConfigError(f"segmentation setting adaptive: expected true or false, found {self.adaptive!r}")
        for f in fields(self):
            if f.name == "adaptive":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ConfigError(f"segmentation setting {f.name}: expected a finite number, found {value!r}")
            object.__setattr__(self, f.name, float(value))  # plain floats for JSON
        if not self.insp_threshold_lpm > 0:
            raise ConfigError(
                f"segmentation setting insp_threshold_lpm: expected > 0 L/min, found {self.insp_threshold_lpm}"
            )
        if not self.exp_threshold_lpm < 0:
            raise ConfigError(
                f"segmentation setting exp_threshold_lpm: expected < 0 L/min, found {self.exp_threshold_lpm}"
            )
        for name in ("smoothing_s", "min_insp_s", "min_exp_s", "min_vti_ml", "zero_band_lpm",
                     "min_mean_flow_lpm", "set_ti_s", "set_rate_bpm"):
            if getattr(self, name) < 0:
                raise ConfigError(f"segmentation setting {name}: expected >= 0, found {getattr(self, name)}")
        if not self.zero_band_lpm < min(self.insp_threshold_lpm, -self.exp_threshold_lpm):
            raise ConfigError(
                f"segmentation setting zero_band_lpm: expected below both thresholds, found "
                f"{self.zero_band_lpm} L/min"
            )
        if not self.max_breath_s > self.min_insp_s + self.min_exp_s:
            raise ConfigError(
                f"segmentation setting max_breath_s: expected > min_insp_s + min_exp_s "
                f"({self.min_insp_s + self.min_exp_s} s), found {self.max_breath_s}"
            )

    @classmethod
    def auto(cls, **overrides: float) -> SegmentationSettings:
        """Adaptive settings: detection levels from the signal (:mod:`analysis.adaptive`).

        Keyword arguments set the flow correction, ``max_breath_s`` and the set values
        ``set_ti_s`` / ``set_rate_bpm``.
        """
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown segmentation setting(s) {sorted(unknown)}")
        return cls(**{**overrides, "adaptive": True})

    @classmethod
    def preset(cls, name: str, **overrides: float) -> SegmentationSettings:
        """Settings for a patient size: ``"adult"``, ``"paediatric"`` or ``"neonatal"``, or
        ``"auto"`` (:meth:`auto`, no patient size: levels from the signal).

        Keyword arguments override single values of the preset.
        """
        key = str(name).strip().lower().replace("pediatric", "paediatric")
        if key == AUTO:
            return cls.auto(**overrides)
        if key not in _PRESETS:
            raise ConfigError(f"unknown segmentation preset {name!r}: expected one of {', '.join(PRESETS)}")
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown segmentation setting(s) {sorted(unknown)} for preset {name!r}")
        return replace(cls(**_PRESETS[key]), **overrides)

    @property
    def mean_flow_lpm(self) -> float:
        """Lowest mean flow (VTi / Ti) of a real inspiration, L/min."""
        return self.min_mean_flow_lpm if self.min_mean_flow_lpm > 0 else self.insp_threshold_lpm

    def half_window(self, t_s: np.ndarray) -> int:
        """Half width ``h`` (samples) of the detection smoothing window ``2h + 1``.

        Uses the median interval of the first :data:`RATE_ESTIMATE_SAMPLES` samples of
        ``t_s`` (s), so the answer does not depend on how a stream was chunked.
        """
        if self.smoothing_s <= 0 or t_s.shape[0] < 2:
            return 0
        dt_s = median_interval_s(t_s)
        return max(0, int(round(self.smoothing_s / dt_s / 2.0)))


def median_interval_s(t_s: np.ndarray) -> float:
    """Median interval of the first :data:`RATE_ESTIMATE_SAMPLES` samples of ``t_s`` (>= 2), s:
    ``np.median``'s value, without its first call's import of ``numpy.ma``."""
    d = np.sort(np.diff(t_s[:RATE_ESTIMATE_SAMPLES]))
    m = d.shape[0] // 2
    return float(d[m] if d.shape[0] % 2 else (d[m - 1] + d[m]) / 2.0)


def last_zero_crossing(
    flow_lpm: np.ndarray, lo: int, hi: int, rising: bool, band_lpm: float = 0.0
) -> int:
    """Index ``j`` in ``(lo, hi]`` of the last zero crossing between samples ``j-1`` and ``j``.

    Rising: ``flow[j-1] <= band < flow[j]``; falling: ``flow[j-1] >= -band > flow[j]``
    (``band_lpm`` >= 0, 0 for a plain zero crossing). Samples of exactly zero flow thus
    belong to the phase before them (a zero-flow pause after inspiration is part of it).
    Returns -1 when there is none.
    """
    lo = max(lo, 0)
    # The crossing is usually a few samples before ``hi``: search backwards in growing blocks.
    block = 64
    top = hi
    while top > lo:
        start = max(lo, top - block)
        seg = flow_lpm[start : top + 1]
        side = seg > band_lpm if rising else seg < -band_lpm
        hits = np.flatnonzero(side[1:] & ~side[:-1])
        if hits.size:
            return int(start + 1 + hits[-1])
        top = start
        block *= 4
    return -1


def crossing_time(t_s: np.ndarray, flow_lpm: np.ndarray, j: int) -> float:
    """Time where the straight line through samples ``j-1`` and ``j`` is zero, s.

    Between the two samples for a zero crossing; before ``t[j-1]`` when both have the
    same sign (extrapolation). A non-finite flow value counts as zero.
    """
    f0 = float(flow_lpm[j - 1])
    f1 = float(flow_lpm[j])
    f0 = f0 if math.isfinite(f0) else 0.0
    f1 = f1 if math.isfinite(f1) else 0.0
    t0 = float(t_s[j - 1])
    return t0 + (float(t_s[j]) - t0) * (f0 / (f0 - f1))


def refine_crossing(
    t_s: np.ndarray, flow_lpm: np.ndarray, lo: int, hi: int, rising: bool, band_lpm: float
) -> tuple[int, float] | None:
    """Refined phase boundary in ``(lo, hi]``: (index of the first sample after it, time s).

    The last crossing out of the band ``±band_lpm`` is found, and the zero of the straight
    line through its two samples taken as the boundary time. Noise inside the band just
    before a steep rise (or fall) thus does not move the boundary, as a plain "last zero
    crossing" would. The time is never earlier than the last plain zero crossing (so a
    flat, noisy segment cannot extrapolate far back). ``None`` when there is no crossing.
    """
    j = last_zero_crossing(flow_lpm, lo, hi, rising, band_lpm)
    if j < 0:
        return None
    t_c = crossing_time(t_s, flow_lpm, j)
    f0 = float(flow_lpm[j - 1])
    if band_lpm > 0 and math.isfinite(f0) and f0 != 0 and (f0 > 0) == rising:
        # the line's zero lies before sample j-1: bound it by the plain zero crossing
        j0 = last_zero_crossing(flow_lpm, lo, j, rising)
        t_raw = crossing_time(t_s, flow_lpm, j0) if j0 >= 0 else float(t_s[max(lo, 0)])
        t_c = max(t_c, t_raw)
        return max(lo, 0) + int(np.searchsorted(t_s[max(lo, 0) : j + 1], t_c, side="right")), t_c
    return j, t_c


def hysteresis_transitions(
    smooth_lpm: np.ndarray, insp_threshold_lpm: float, exp_threshold_lpm: float, state: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """State changes of the inspiration / expiration hysteresis.

    Parameters
    ----------
    smooth_lpm : ndarray
        Smoothed flow, L/min.
    insp_threshold_lpm, exp_threshold_lpm : float
        Upper and lower thresholds, L/min.
    state : int
        State before the first sample: 1 inspiration, 0 expiration, -1 unknown (then the
        first sample decides: above the inspiratory threshold is an inspiration already in
        progress, which yields no transition; anything else counts as expiration).

    Returns
    -------
    index : ndarray of int
        Sample index (into ``smooth_lpm``) of each transition.
    rising : ndarray of bool
        True where the transition is into inspiration.
    state : int
        State after the last sample.
    """
    n = smooth_lpm.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=bool), state
    above = smooth_lpm > insp_threshold_lpm
    below = smooth_lpm < exp_threshold_lpm
    return transitions_of_runs(
        run_starts(above) + 1, run_starts(below) + 1, bool(above[0]), bool(below[0]), state
    )


def run_starts(mask: np.ndarray) -> np.ndarray:
    """Indices ``j`` with ``mask[j]`` false and ``mask[j + 1]`` true (a run starts at ``j + 1``)."""
    return np.flatnonzero(mask[1:] > mask[:-1])  # True > False


def transitions_of_runs(
    up: np.ndarray, down: np.ndarray, above_first: bool, below_first: bool, state: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`hysteresis_transitions` from where the runs above the inspiratory threshold
    (``up``) and below the expiratory one (``down``) start after the first sample, and
    whether the first sample is above / below them."""
    if state == -1:
        state = int(above_first)
    # Only the first sample of a run above (below) a threshold can change the state; the
    # first sample of the array counts as a run start (a repeat is harmless).
    if above_first:
        up = np.concatenate(([0], up))
    if below_first:
        down = np.concatenate(([0], down))
    if up.size + down.size == 0:
        return up, np.zeros(0, dtype=bool), state
    index = np.concatenate((up, down))
    kind = np.concatenate((np.ones(up.size, dtype=bool), np.zeros(down.size, dtype=bool)))
    order = np.argsort(index, kind="stable")
    index, kind = index[order], kind[order]
    change = np.empty(kind.shape, dtype=bool)
    change[1:] = kind[1:] != kind[:-1]
    change[0] = bool(kind[0]) != bool(state)
    return index[change], kind[change], int(kind[-1])
