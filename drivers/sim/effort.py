"""Patient effort: a breathing patient triggers the ventilator, with per-breath truth.

A muscle pressure ``Pmus(t)`` (negative: it lowers the alveolar pressure) acts on the single
RC lung of :mod:`drivers.sim.lung` (no leak, no circuit compliance)::

    P_alv = V / C + Pmus(t),    Q = (P_source - P_alv) / R_path

Each effort is a triangle: from its onset ``Pmus`` falls linearly to ``-depth`` over
``rise_fraction * duration``, then returns linearly to 0 at ``onset + duration``. Efforts
come at the patient's own rate.

The ventilator:

- **expiration** through the expiratory valve: a PEEP source behind ``valve_r_hpa_s_per_l``
  (``P_aw = PEEP - R_valve * Q``), so an effort draws inspiratory flow *and* dips the airway
  pressure;
- **trigger**: flow trigger (``Q >= trigger_flow_lpm``) or pressure trigger (``P_aw <=
  PEEP - trigger_dp_cmh2o``), enabled ``refractory_s`` after the start of expiration; the
  delivery starts ``response_s`` after the trigger (the ventilator's latency);
- **delivery**: the set mode: volume control (square flow ``VT / Ti``) or pressure control
  (``PEEP + ΔP`` after a linear rise), time-cycled at ``ti_s``; or pressure support
  (``support="ps"``): pressure control cycled off when the flow falls below
  ``cycle_fraction`` of its peak (at most ``ti_s``);
- **backup**: without a trigger the next mandatory breath starts one set period after the
  last delivery.

An effort that outlasts the delivery triggers again right after it: a **double trigger**
(two deliveries, little or no expiration between).

Truth per delivered breath (:class:`EffortTruth`): delivery start and end of inspiration,
exact VTi / VTe (integrals of the port flow over the delivery / the following expiration),
and for a triggered breath the effort's onset, the patient's first inspiratory flow
(``t_effort_s``: the first time at or after the onset with port flow ≥ 0) and
``trigger_delay_s = t_start_s - t_effort_s``. A delivery triggered by an effort that began
before the previous inspiration ended is a double trigger (no ``t_effort_s`` of its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ventbench.analysis.trace import Trace
from ventbench.drivers.sim.lung import LinearPhase, Lung, flow_source_phase, pressure_source_phase
from ventbench.drivers.sim.sensors import SensorChain, SensorModel
from ventbench.drivers.sim.ventilator import VentilatorSettings
from ventbench.errors import ConfigError
from ventbench.units import CMH2O_PER_HPA, HPA_PER_CMH2O, ML_PER_S_PER_LPM

#: Resolution of the trigger / cycling event search, s.
EVENT_STEP_S = 1e-4
#: Start of the first mandatory breath when no effort triggers earlier, s.
FIRST_BREATH_S = 0.5


@dataclass(frozen=True)
class PatientEffort:
    """The patient's efforts and how the ventilator answers them (see module doc)."""

    rate_bpm: float = 25.0
    depth_cmh2o: float = 5.0
    duration_s: float = 0.8
    rise_fraction: float = 0.4
    onset_s: float = 0.7
    trigger: Literal["flow", "pressure"] = "flow"
    trigger_flow_lpm: float = 2.0
    trigger_dp_cmh2o: float = 1.0
    response_s: float = 0.05
    refractory_s: float = 0.15
    valve_r_hpa_s_per_l: float = 10.0
    support: Literal["assist", "ps"] = "assist"
    cycle_fraction: float = 0.25

    def __post_init__(self) -> None:
        if not (self.rate_bpm > 0 and self.duration_s > 0 and self.depth_cmh2o >= 0):
            raise ConfigError("patient effort: expected rate > 0, duration > 0, depth >= 0")
        if not self.duration_s < 60.0 / self.rate_bpm:
            raise ConfigError(f"patient effort: duration {self.duration_s} s must be shorter than "
                              f"the patient's period {60.0 / self.rate_bpm:.3g} s")
        if not 0 < self.rise_fraction < 1:
            raise ConfigError(f"patient effort: rise_fraction {self.rise_fraction}: expected 0 < f < 1")
        if self.trigger not in ("flow", "pressure") or self.support not in ("assist", "ps"):
            raise ConfigError(f"patient effort: trigger {self.trigger!r} / support {self.support!r} unknown")
        if not (self.valve_r_hpa_s_per_l > 0 and self.response_s >= 0 and self.refractory_s >= 0):
            raise ConfigError("patient effort: expected valve resistance > 0, response and refractory >= 0")

    @property
    def trigger_flow_ml_s(self) -> float:
        """The trigger as a port flow, mL/s (a pressure trigger through the valve resistance)."""
        if self.trigger == "flow":
            return self.trigger_flow_lpm * ML_PER_S_PER_LPM
        return self.trigger_dp_cmh2o * HPA_PER_CMH2O / (self.valve_r_hpa_s_per_l / 1000.0)


@dataclass(frozen=True)
class EffortTruth:
    """Exact truth of one delivered breath (times s, volumes mL BTPS at the port)."""

    index: int
    t_start_s: float  #: the ventilator's delivery starts
    t_insp_end_s: float
    t_end_s: float  #: the next delivery starts
    ti_s: float
    te_s: float
    vti_ml: float
    vte_ml: float
    patient_triggered: bool
    double_trigger: bool
    t_onset_s: float = math.nan  #: onset of the effort that triggered it
    t_effort_s: float = math.nan  #: the patient's first inspiratory flow of that effort
    trigger_delay_s: float = math.nan  #: t_start_s - t_effort_s


@dataclass(frozen=True, eq=False)
class EffortResult:
    trace: Trace
    truth: tuple[EffortTruth, ...]


@dataclass(frozen=True, eq=False)
class _Piece:
    phase: LinearPhase
    paw: str  #: "valve" (PEEP - R_v Q), "plus_pmus" (output + Pmus)


class _Patient:
    def __init__(self, effort: PatientEffort, t_end_s: float) -> None:
        period = 60.0 / effort.rate_bpm
        self.onsets = np.arange(effort.onset_s, t_end_s + period, period)
        self.e = effort
        d = effort.duration_s
        self.t_peak = effort.rise_fraction * d

    def pmus_hpa(self, t: np.ndarray) -> np.ndarray:
        """Muscle pressure at ``t``, hPa (<= 0)."""
        t = np.asarray(t, dtype=float)
        k = np.searchsorted(self.onsets, t, side="right") - 1
        tau = t - np.where(k >= 0, self.onsets[np.maximum(k, 0)], -np.inf)
        e, tp = self.e, self.t_peak
        depth = e.depth_cmh2o * HPA_PER_CMH2O
        up = -depth * tau / tp
        down = -depth * (e.duration_s - tau) / (e.duration_s - tp)
        out = np.where(tau < tp, up, down)
        return np.where((tau >= 0) & (tau < e.duration_s), out, 0.0)

    def breakpoints(self, a: float, b: float) -> list[float]:
        """Times in (a, b) where Pmus changes slope."""
        pts = np.concatenate((self.onsets, self.onsets + self.t_peak, self.onsets + self.e.duration_s))
        pts = np.sort(pts[(pts > a) & (pts < b)])
        return pts.tolist()

    def onset_at(self, t: float) -> float:
        """Onset of the effort active at ``t`` (NaN if none)."""
        k = int(np.searchsorted(self.onsets, t, side="right")) - 1
        if k >= 0 and t - self.onsets[k] < self.e.duration_s:
            return float(self.onsets[k])
        return math.nan


class EffortSimulator:
    """Deliveries of a ventilator to a breathing patient (see module doc)."""

    def __init__(self, settings: VentilatorSettings, lung: Lung, effort: PatientEffort,
                 t_end_s: float) -> None:
        if lung.leak_ml_min or lung.circuit_c_ml_per_hpa:
            raise ConfigError("patient effort model: expected a lung without leak and circuit compliance")
        self.s, self.lung, self.e = settings, lung, effort
        self.patient = _Patient(effort, t_end_s)
        self.t_end_s = t_end_s
        self.peep = settings.peep_cmh2o * HPA_PER_CMH2O
        self.valve_lung = Lung(lung.c_ml_per_hpa, lung.r_hpa_s_per_l + effort.valve_r_hpa_s_per_l)
        self.pieces: list[_Piece] = []

    # -- phases split where Pmus changes slope -------------------------------------------
    def _segments(self, kind: str, t_a: float, t_b: float, v0: float, stop=None):
        """Run phase ``kind`` from ``t_a`` to at most ``t_b``; ``stop(t, q_ml_s, state)`` returns
        the index of the first stopping sample (or -1). Returns (t_stop, v_end, stopped)."""
        edges = [t_a, *self.patient.breakpoints(t_a, t_b), t_b]
        v = v0
        state: dict = {}
        for a, b in zip(edges[:-1], edges[1:], strict=False):
            if b <= a:
                continue
            ph = self._phase(kind, a, b - a, v)
            tau = np.arange(0.0, b - a, EVENT_STEP_S)
            if stop is not None and tau.size:
                q = ph.outputs(tau)[0]
                j = stop(a + tau, q, state)
                if j >= 0:
                    dur = max(float(tau[j]), EVENT_STEP_S / 2)
                    ph = self._phase(kind, a, dur, v)
                    self.pieces.append(_Piece(ph, "valve" if kind == "exp" else "plus_pmus"))
                    return a + dur, float(ph.end_state()[0]), True
            self.pieces.append(_Piece(ph, "valve" if kind == "exp" else "plus_pmus"))
            v = float(ph.end_state()[0])
        return t_b, v, False

    def _phase(self, kind: str, t0: float, dur: float, v: float) -> LinearPhase:
        p = self.patient
        m0 = float(p.pmus_hpa(np.array([t0]))[0])
        m1 = (float(p.pmus_hpa(np.array([t0 + dur / 2]))[0]) - m0) / (dur / 2) if dur > 0 else 0.0
        s = self.s
        if kind == "exp":
            return pressure_source_phase(self.valve_lung, t0, dur, self.peep - m0, -m1, v)
        if kind == "vc":
            q = s.vt_ml / s.ti_s
            return flow_source_phase(self.lung, t0, dur, q, 0.0, v, self.peep)
        # pressure control / support: the ramp's piece at t0 (kind "pc:<t_delivery>")
        t_d = float(kind.split(":")[1])
        dp = s.dp_cmh2o * HPA_PER_CMH2O
        rise = max(s.rise_time_s, 0.0)
        u = t0 - t_d
        if rise > 0 and u < rise:
            p0, p1 = self.peep + dp * u / rise, dp / rise
        else:
            p0, p1 = self.peep + dp, 0.0
        return pressure_source_phase(self.lung, t0, dur, p0 - m0, p1 - m1, v)

    def run(self) -> list[EffortTruth]:
        s, e = self.s, self.e
        period = 60.0 / s.rate_bpm
        q_trig = e.trigger_flow_ml_s
        v = self.lung.c_ml_per_hpa * self.peep
        t = 0.0
        t_last_delivery = -math.inf
        t_next_mandatory = FIRST_BREATH_S  # mandatory unless an effort comes first
        deliveries: list[tuple[float, float, bool, float]] = []  # start, insp end, triggered, onset
        while t < self.t_end_s:
            # expiration: until a trigger (then the response latency) or the backup breath
            enable = t + e.refractory_s

            def trig(tt, q, state, enable=enable):
                hit = np.flatnonzero((tt >= enable) & (q >= q_trig))
                return int(hit[0]) if hit.size else -1

            t_stop_max = min(t_next_mandatory, self.t_end_s)
            t_trig, v, triggered = self._segments("exp", t, max(t_stop_max, t), v, trig)
            if triggered:
                t_deliver = min(t_trig + e.response_s, self.t_end_s)
                if t_deliver > t_trig:
                    _, v, _ = self._segments("exp", t_trig, t_deliver, v)
                onset = self.patient.onset_at(t_trig)
            else:
                t_deliver, onset = t_trig, math.nan
            if t_deliver >= self.t_end_s:
                break
            # delivery
            kind = "vc" if s.mode == "vc" else f"pc:{t_deliver}"
            if e.support == "ps" and s.mode != "vc":
                def cycle(tt, q, state):
                    peak = max(state.get("peak", 0.0), float(q.max(initial=0.0)))
                    run_peak = np.maximum.accumulate(np.maximum(q, state.get("peak", 0.0)))
                    state["peak"] = peak
                    hit = np.flatnonzero((q < e.cycle_fraction * run_peak) & (run_peak > 0) & (q < run_peak))
                    return int(hit[0]) if hit.size else -1
                t_end_insp, v, _ = self._segments(kind, t_deliver, t_deliver + s.ti_s, v, cycle)
            else:
                t_end_insp, v, _ = self._segments(kind, t_deliver, t_deliver + s.ti_s, v)
            deliveries.append((t_deliver, t_end_insp, triggered, onset))
            t_last_delivery = t_deliver
            t_next_mandatory = t_last_delivery + period
            t = t_end_insp
        return self._truths(deliveries)

    # -- truth -----------------------------------------------------------------------------
    def _flow_integral(self, a: float, b: float) -> float:
        total = 0.0
        for pc in self.pieces:
            ph = pc.phase
            lo, hi = max(a, ph.t0_s), min(b, ph.t0_s + ph.dur_s)
            if hi > lo:
                total += float(ph.output_integral(lo - ph.t0_s, hi - ph.t0_s)[0])
        return total

    def _first_flow_at_least_zero(self, a: float, b: float) -> float:
        for pc in self.pieces:
            ph = pc.phase
            lo, hi = max(a, ph.t0_s), min(b, ph.t0_s + ph.dur_s)
            if hi <= lo:
                continue
            tau = np.arange(lo - ph.t0_s, hi - ph.t0_s, EVENT_STEP_S / 10)
            q = ph.outputs(tau)[0]
            hit = np.flatnonzero(q >= 0.0)
            if hit.size:
                j = int(hit[0])
                if j == 0:
                    return ph.t0_s + float(tau[0])
                q0, q1 = q[j - 1], q[j]
                return ph.t0_s + float(tau[j - 1] + (tau[j] - tau[j - 1]) * (-q0 / (q1 - q0)))
        return math.nan

    def _truths(self, deliveries) -> list[EffortTruth]:
        out = []
        used_onsets: set[float] = set()
        t_prev_ie = -math.inf
        for i in range(len(deliveries) - 1):
            t0, t_ie, trig, onset = deliveries[i]
            t1 = deliveries[i + 1][0]
            # the effort began before the previous inspiration ended: it outlasted that breath
            double = trig and (onset in used_onsets or onset < t_prev_ie)
            t_prev_ie = t_ie
            t_eff = delay = math.nan
            if trig and not double:
                t_eff = self._first_flow_at_least_zero(onset, t0)
                delay = t0 - t_eff
            if trig:
                used_onsets.add(onset)
            out.append(EffortTruth(
                index=i, t_start_s=t0, t_insp_end_s=t_ie, t_end_s=t1, ti_s=t_ie - t0, te_s=t1 - t_ie,
                vti_ml=self._flow_integral(t0, t_ie), vte_ml=-self._flow_integral(t_ie, t1),
                patient_triggered=trig, double_trigger=double, t_onset_s=onset if trig else math.nan,
                t_effort_s=t_eff, trigger_delay_s=delay))
        return out

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True port flow, L/min, and airway pressure, cmH2O, at ``t_s``."""
        flow = np.zeros(t_s.shape)
        paw = np.full(t_s.shape, self.peep)
        starts = np.array([pc.phase.t0_s for pc in self.pieces])
        k = np.searchsorted(starts, t_s, side="right") - 1
        for j in np.unique(k[k >= 0]):
            m = k == j
            pc = self.pieces[j]
            y = pc.phase.outputs(t_s[m] - pc.phase.t0_s)
            flow[m] = y[0]
            if pc.paw == "valve":
                paw[m] = self.peep - self.e.valve_r_hpa_s_per_l / 1000.0 * y[0]
            else:
                paw[m] = y[1] + self.patient.pmus_hpa(t_s[m])
        return flow / ML_PER_S_PER_LPM, paw * CMH2O_PER_HPA


def simulate_efforts(settings: VentilatorSettings, lung: Lung, effort: PatientEffort,
                     sensors: SensorModel | None = None, *, duration_s: float = 30.0,
                     fs_hz: float = 1000.0, seed: int = 0) -> EffortResult:
    """A trace of a ventilator answering a breathing patient, and the truth of each breath.

    Parameters
    ----------
    settings : VentilatorSettings
        Mode (VC/PC), VT or ΔP, Ti (the maximum in pressure support), backup rate, PEEP.
    lung : Lung
        Without leak and circuit compliance.
    effort : PatientEffort
    sensors : SensorModel, optional
        Noise, lag and resolution of the reported samples (ideal if omitted).
    duration_s : float
        Trace length, s.
    fs_hz : float
        Sample rate, Hz.
    seed : int
        Seed of the sensor noise.

    Returns
    -------
    EffortResult
        The trace and one :class:`EffortTruth` per breath completed inside it.
    """
    sim = EffortSimulator(settings, lung, effort, duration_s)
    truths = sim.run()
    sensors = sensors or SensorModel()
    os_ = int(sensors.oversample)
    n = int(math.ceil(duration_s * fs_hz - 1e-9))
    m = np.arange(n * os_)
    t_int = m / (fs_hz * os_) + (0.5 / os_ - 0.5) / fs_hz
    flow, paw = sim.sample(np.maximum(t_int, 0.0))
    t, f, p, flags = SensorChain(sensors, fs_hz, seed).process(0, flow, paw)
    trace = Trace(t, f, p, sensors.trace_condition, sensors.ambient, flags, {},
                  {"source": "ventbench.drivers.sim.effort", "seed": seed, "fs_hz": fs_hz})
    return EffortResult(trace, tuple(truths))
