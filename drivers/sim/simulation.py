"""Streaming simulation of ventilator + test lung + sensors, with exact per-breath truth.

:class:`Simulation` produces samples on demand (``advance(n_samples)``), breath by breath,
holding at most one breath of internal samples: a days-long run streams in bounded memory,
and the samples do not depend on how the calls are chunked. :func:`simulate` runs one to a
:class:`~analysis.trace.Trace` plus the truth of every complete breath.

Truth (:class:`BreathTruth`) comes from the closed-form solution of the noise-free, lag-free
signal at the patient port (BTPS), integrated exactly; phases are the ventilator's own
(inspiration = ``ti_s`` including any pause).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ventbench.analysis.trace import Trace
from ventbench.drivers.sim.lung import LinearPhase, Lung, flow_source_phase, pressure_source_phase
from ventbench.drivers.sim.sensors import SensorChain, SensorModel
from ventbench.drivers.sim.ventilator import (
    BreathPlan,
    BreathScheduler,
    Imperfections,
    VentilatorSettings,
)
from ventbench.errors import ConfigError
from ventbench.units import CMH2O_PER_HPA, HPA_PER_CMH2O, ML_PER_S_PER_LPM

#: Window of expiration over which the true PEEP is averaged, s (STANDARDS.md §3).
PEEP_WINDOW_S = 0.1
#: Window at the end of a pause over which the true plateau pressure is averaged, s.
PLATEAU_WINDOW_S = 0.1
#: |flow| below this is floating-point residue of an equilibrium (≈1e-15), set to 0, L/min.
FLOW_RESIDUE_LPM = 1e-9
#: Points of the coarse and of the refining grid used to find a phase's peak pressure.
PEAK_GRID_POINTS = 257


def _peak_pressure_hpa(ph: LinearPhase) -> float:
    """Maximum airway pressure of a phase, hPa (ends included; smooth inside).

    Imposed pressures are linear in time (extremes at the ends). Flow-driven phases are
    sums of exponentials and a polynomial: a coarse grid, then a fine grid around its best
    point (resolution ``dur / 2^15``).
    """
    if ph.pressure_imposed:
        return float(ph.outputs(np.array([0.0, ph.dur_s]))[1].max())
    tau = np.linspace(0.0, ph.dur_s, PEAK_GRID_POINTS)
    p = ph.outputs(tau)[1]
    i = int(np.argmax(p))
    step = tau[1] - tau[0]
    fine = np.linspace(max(0.0, tau[i] - step), min(ph.dur_s, tau[i] + step), PEAK_GRID_POINTS)
    return max(float(p.max()), float(ph.outputs(fine)[1].max()))


@dataclass(frozen=True)
class BreathTruth:
    """Exact metrics of one delivered breath (names as in :class:`analysis.breath.Breath`).

    Times in s, volumes in mL BTPS at the patient port, pressures in cmH2O at the port.
    ``vti_ml`` / ``vte_ml`` integrate the port flow over the ventilator's inspiratory /
    expiratory phase; ``peep_cmh2o`` is the mean over the last 100 ms of expiration;
    ``pplat_cmh2o`` the mean over the last 100 ms of a pause (None without a pause).
    """

    index: int
    t_start_s: float
    ti_s: float
    te_s: float
    rr_bpm: float
    ie_ratio: float
    vti_ml: float
    vte_ml: float
    pip_cmh2o: float
    pplat_cmh2o: float | None
    peep_cmh2o: float
    pmean_cmh2o: float
    leak_pct: float
    t_insp_end_s: float
    t_end_s: float
    mv_lpm: float
    vt_delivered_ml: float  #: volume the ventilator pushed out (VC), or NaN in PC
    skipped_after: int = 0  #: scheduled breaths not delivered after this one


@dataclass(frozen=True, eq=False)
class SimChunk:
    """Samples from one :meth:`Simulation.advance` call and the breaths completed by them."""

    t_s: np.ndarray
    flow_lpm: np.ndarray
    paw_cmh2o: np.ndarray
    flags: np.ndarray
    channels: Mapping[str, np.ndarray]
    truths: tuple[BreathTruth, ...]


@dataclass(frozen=True, eq=False)
class SimResult:
    """A finished simulation: the trace as a sensor reported it and the exact truth."""

    trace: Trace
    truth: tuple[BreathTruth, ...] = field(default_factory=tuple)


class Simulation:
    """Ventilator + lung + sensors, generated on demand.

    Parameters
    ----------
    settings : VentilatorSettings
    lung : Lung
    imperfections : Imperfections, optional
    sensors : SensorModel, optional
    fs_hz : float
        Reported sample rate, Hz; sample k is at ``k / fs_hz`` s.
    seed : int
        Seed of every random stream (schedule, noise).
    start_s : float
        Time of the first breath, s; before it the lung rests at PEEP.
    truth : bool
        Compute each breath's :class:`BreathTruth` (False: chunks carry no truths; the
        samples are the same, and a device that never reads them saves ~1 ms a breath).
    """

    def __init__(
        self,
        settings: VentilatorSettings,
        lung: Lung,
        imperfections: Imperfections | None = None,
        sensors: SensorModel | None = None,
        *,
        fs_hz: float = 1000.0,
        seed: int = 0,
        start_s: float = 0.5,
        truth: bool = True,
    ) -> None:
        if not (fs_hz > 0 and math.isfinite(fs_hz)):
            raise ConfigError(f"fs_hz {fs_hz}: expected a positive sample rate")
        if not start_s >= 0:
            raise ConfigError(f"start_s {start_s}: expected ≥ 0")
        self.settings = settings
        self.lung = lung
        self.imperfections = imperfections or Imperfections()
        self.sensors = sensors or SensorModel()
        self.fs_hz = float(fs_hz)
        self.seed = int(seed)
        self.truth = bool(truth)
        self._os = int(self.sensors.oversample)
        self._fsi_hz = self.fs_hz * self._os
        self._grid_offset_s = (0.5 / self._os - 0.5) / self.fs_hz
        self._scheduler = BreathScheduler(settings, self.imperfections, seed, start_s)
        self._chain = SensorChain(self.sensors, self.fs_hz, seed)
        self._truths: deque[BreathTruth] = deque()
        self._buf_flow = np.empty(0)
        self._buf_paw = np.empty(0)
        self._k_emitted = 0
        peep_hpa = (settings.peep_cmh2o + self.imperfections.peep_offset_cmh2o) * HPA_PER_CMH2O
        self._v_ml = lung.c_ml_per_hpa * peep_hpa
        # rest at PEEP from the first internal sample (at or before t = 0) to the first breath
        t_rest_s = min(0.0, self._grid_offset_s)
        rest = pressure_source_phase(lung, t_rest_s, start_s - t_rest_s, peep_hpa, 0.0, self._v_ml)
        self._t_covered_s = 0.0
        self._m_generated = 0
        self._append_phases([rest], start_s)

    # ----------------------------------------------------------------- internal grid
    def _m_first(self, t_s: float) -> int:
        """First internal sample index at or after ``t_s`` (1e-6 sample tolerance)."""
        return int(math.ceil((t_s - self._grid_offset_s) * self._fsi_hz - 1e-6))

    def _append_phases(self, phases: list[LinearPhase], t_end_s: float) -> None:
        flows, paws = [self._buf_flow], [self._buf_paw]
        bounds = [self._m_first(ph.t0_s) for ph in phases] + [self._m_first(t_end_s)]
        for ph, m0, m1 in zip(phases, bounds[:-1], bounds[1:], strict=True):
            if m1 <= m0:
                continue
            tau = (np.arange(m0, m1) / self._fsi_hz + self._grid_offset_s) - ph.t0_s
            y = ph.outputs(tau)
            q_lpm = y[0] / ML_PER_S_PER_LPM
            q_lpm[np.abs(q_lpm) < FLOW_RESIDUE_LPM] = 0.0  # rounding residue at equilibrium
            flows.append(q_lpm)
            paws.append(y[1] * CMH2O_PER_HPA)
        self._buf_flow = np.concatenate(flows)
        self._buf_paw = np.concatenate(paws)
        self._t_covered_s = t_end_s
        self._m_generated = self._m_first(t_end_s)

    # ----------------------------------------------------------------- breaths
    def _phases(self, plan: BreathPlan) -> tuple[list[LinearPhase], int]:
        """The breath's phases and how many of them are inspiratory."""
        s, lung = self.settings, self.lung
        t0, ti = plan.t_start_s, plan.ti_s
        peep = plan.peep_cmh2o * HPA_PER_CMH2O
        phases: list[LinearPhase] = []
        if s.mode == "vc":
            t_flow = ti - s.pause_s
            if s.flow_pattern == "square":
                q0, q1 = plan.vt_ml / t_flow, 0.0
            else:
                e = s.ramp_end_fraction
                q0 = 2 * plan.vt_ml / (t_flow * (1 + e))
                q1 = -q0 * (1 - e) / t_flow
            ph = flow_source_phase(lung, t0, t_flow, q0, q1, self._v_ml, peep)
            phases.append(ph)
            if s.pause_s > 0:
                x = ph.end_state()
                paw_end = x[1] if x.size > 1 else peep
                phases.append(flow_source_phase(lung, t0 + t_flow, s.pause_s, 0.0, 0.0,
                                                float(x[0]), float(paw_end)))
        else:
            dp = plan.dp_cmh2o * HPA_PER_CMH2O
            rise = min(s.rise_time_s, ti)
            v = self._v_ml
            if rise > 0:
                phases.append(pressure_source_phase(lung, t0, rise, peep, dp / rise, v))
                v = float(phases[-1].end_state()[0])
            if ti - rise > 0:
                phases.append(pressure_source_phase(lung, t0 + rise, ti - rise, peep + dp, 0.0, v))
        n_insp = len(phases)
        v_end = float(phases[-1].end_state()[0])
        phases.append(pressure_source_phase(lung, t0 + ti, plan.period_s - ti, peep, 0.0, v_end))
        self._v_ml = float(phases[-1].end_state()[0])
        return phases, n_insp

    def _truth(self, plan: BreathPlan, phases: list[LinearPhase], n_insp: int) -> BreathTruth:
        insp, exp = phases[:n_insp], phases[-1]
        vti = sum(float(ph.output_integral(0.0, ph.dur_s)[0]) for ph in insp)
        vte = -float(exp.output_integral(0.0, exp.dur_s)[0])
        peak = -math.inf
        for ph in phases:
            peak = max(peak, _peak_pressure_hpa(ph))
        w = min(PEEP_WINDOW_S, exp.dur_s)
        peep = float(exp.output_integral(exp.dur_s - w, exp.dur_s)[1]) / w
        pplat = None
        if self.settings.mode == "vc" and self.settings.pause_s > 0:
            pause = insp[-1]
            w = min(PLATEAU_WINDOW_S, pause.dur_s)
            pplat = float(pause.output_integral(pause.dur_s - w, pause.dur_s)[1]) / w
            pplat *= CMH2O_PER_HPA
        p_int = sum(float(ph.output_integral(0.0, ph.dur_s)[1]) for ph in phases)
        ti, period = plan.ti_s, plan.period_s
        te = period - ti
        rr = 60.0 / period
        return BreathTruth(
            index=plan.index, t_start_s=plan.t_start_s, ti_s=ti, te_s=te, rr_bpm=rr,
            ie_ratio=te / ti, vti_ml=vti, vte_ml=vte, pip_cmh2o=peak * CMH2O_PER_HPA,
            pplat_cmh2o=pplat, peep_cmh2o=peep * CMH2O_PER_HPA,
            pmean_cmh2o=p_int / period * CMH2O_PER_HPA,
            leak_pct=(vti - vte) / vti * 100.0 if vti != 0 else math.nan,
            t_insp_end_s=plan.t_start_s + ti, t_end_s=plan.t_end_s,
            mv_lpm=vte * rr / 1000.0,
            vt_delivered_ml=plan.vt_ml if self.settings.mode == "vc" else math.nan,
            skipped_after=plan.skipped_after,
        )

    def _generate_breath(self) -> None:
        plan = self._scheduler.next()
        phases, n_insp = self._phases(plan)
        if self.truth:
            self._truths.append(self._truth(plan, phases, n_insp))
        self._append_phases(phases, plan.t_end_s)

    # ----------------------------------------------------------------- public
    @property
    def samples_emitted(self) -> int:
        """Sample slots delivered so far (including slots dropped by gap faults)."""
        return self._k_emitted

    def advance(self, n_samples: int) -> SimChunk:
        """The next ``n_samples`` sample slots and the truths of breaths they complete.

        A breath's truth is returned by the call that emits the last sample before its
        end (``t_end_s``). Results are identical however the calls are chunked.
        """
        n = int(n_samples)
        if n < 0:
            raise ConfigError(f"advance({n_samples}): expected n_samples ≥ 0")
        k0, k1 = self._k_emitted, self._k_emitted + n
        need = k1 * self._os
        while self._m_generated < need:
            self._generate_breath()
        m0 = k0 * self._os
        take = need - m0
        flow_int, paw_int = self._buf_flow[:take], self._buf_paw[:take]
        self._buf_flow, self._buf_paw = self._buf_flow[take:], self._buf_paw[take:]
        t, flow, paw, flags = self._chain.process(k0, flow_int, paw_int)
        self._k_emitted = k1
        done = []
        t_next = k1 / self.fs_hz
        while self._truths and self._truths[0].t_end_s <= t_next + 1e-9 / self.fs_hz:
            done.append(self._truths.popleft())
        channels = {}
        if self.settings.fio2_pct is not None:
            channels["fio2_pct"] = np.full(t.size, float(self.settings.fio2_pct))
        return SimChunk(t, flow, paw, flags, channels, tuple(done))

    def trace_meta(self) -> dict[str, Any]:
        """Metadata describing this simulation, for a Trace."""
        return {
            "source": "ventbench.drivers.sim",
            "seed": self.seed,
            "fs_hz": self.fs_hz,
            "ventilator": asdict(self.settings),
            "lung": asdict(self.lung),
            "imperfections": asdict(self.imperfections),
            "sensor_condition": str(self.sensors.condition),
        }


def simulate(
    settings: VentilatorSettings,
    lung: Lung,
    imperfections: Imperfections | None = None,
    sensors: SensorModel | None = None,
    *,
    duration_s: float | None = None,
    n_breaths: int | None = None,
    fs_hz: float = 1000.0,
    seed: int = 0,
    start_s: float = 0.5,
    chunk_s: float = 10.0,
) -> SimResult:
    """Run a simulation to a Trace and the exact truth of its complete breaths.

    Parameters
    ----------
    settings, lung, imperfections, sensors
        See :class:`Simulation`.
    duration_s : float, optional
        Length of the trace, s (samples at ``k / fs_hz < duration_s``).
    n_breaths : int, optional
        Instead of a duration: stop shortly after ``n_breaths`` complete breaths (the trace
        ends ``ti_s + 0.1`` s into the next breath, so its start is visible but it is not
        complete). Exactly one of ``duration_s`` and ``n_breaths`` must be given.
    fs_hz, seed, start_s
        See :class:`Simulation`.
    chunk_s : float
        Internal streaming chunk, s (does not change the result).

    Returns
    -------
    SimResult
        ``trace`` (flow at the sensor's declared condition) and ``truth``: one
        :class:`BreathTruth` per breath that ends within the trace.
    """
    if (duration_s is None) == (n_breaths is None):
        raise ConfigError("simulate: give exactly one of duration_s and n_breaths")
    sim = Simulation(settings, lung, imperfections, sensors, fs_hz=fs_hz, seed=seed,
                     start_s=start_s)
    chunk = max(1, int(round(chunk_s * sim.fs_hz)))
    chunks: list[SimChunk] = []
    truths: list[BreathTruth] = []
    if duration_s is not None:
        n_total = int(math.ceil(float(duration_s) * sim.fs_hz - 1e-9))
    else:
        if int(n_breaths) < 1:
            raise ConfigError(f"simulate: n_breaths {n_breaths}: expected ≥ 1")
        n_total = None
    while True:
        if n_total is not None:
            todo = n_total - sim.samples_emitted
            if todo <= 0:
                break
        else:
            todo = chunk
        part = sim.advance(min(chunk, todo))
        chunks.append(part)
        truths.extend(part.truths)
        if n_total is None and len(truths) >= n_breaths:
            t_stop = truths[n_breaths - 1].t_end_s + settings.ti_s + 0.1
            n_total = int(math.ceil(t_stop * sim.fs_hz))
    t = np.concatenate([c.t_s for c in chunks])
    keep = slice(0, int(np.searchsorted(t, n_total / sim.fs_hz - 1e-9 / sim.fs_hz)))
    t_last = n_total / sim.fs_hz
    if n_breaths is not None:
        truths = truths[:n_breaths]
    truths = [b for b in truths if b.t_end_s <= t_last + 1e-9]
    names = set(chunks[0].channels) if chunks else set()
    trace = Trace(
        t[keep],
        np.concatenate([c.flow_lpm for c in chunks])[keep],
        np.concatenate([c.paw_cmh2o for c in chunks])[keep],
        sim.sensors.trace_condition,
        sim.sensors.ambient,
        np.concatenate([c.flags for c in chunks])[keep],
        {n: np.concatenate([c.channels[n] for c in chunks])[keep] for n in sorted(names)},
        sim.trace_meta(),
    )
    return SimResult(trace, tuple(truths))
