"""Truth signals and fault injection shared by the simulated instruments (IMT, TSI, PIRDS).

A simulated instrument needs flow and airway pressure at its own sample times. They come
from a *source* with the streaming interface of the physics simulator
(``advance(n_samples)`` → object or mapping with ``t_s``, ``flow_lpm``, ``paw_cmh2o``):
by default :class:`drivers.sim.simulation.Simulation` built from the URL query; with
``model=simple`` a built-in pressure-controlled breath (square pressure PEEP → PEEP + ΔP
into a one-compartment lung, so flow is that model's exact exponential).

:class:`FaultInjector` corrupts produced frames for the ``ber``, ``drop`` and ``garbage``
query parameters, deterministically for a ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def _float(params: dict[str, str], key: str, default: float) -> float:
    try:
        return float(params.get(key, default))
    except (TypeError, ValueError):
        return default


@dataclass
class SourceSamples:
    """One chunk of truth: time s, flow L/min (into the patient), airway pressure cmH2O,
    and the exact per-breath truths (:class:`drivers.sim.simulation.BreathTruth`) of the
    breaths this chunk completes (empty for sources without truth)."""

    t_s: np.ndarray
    flow_lpm: np.ndarray
    paw_cmh2o: np.ndarray
    truths: tuple[Any, ...] = ()


class PressureControlSource:
    """Built-in waveform: pressure control into a linear one-compartment lung.

    Parameters
    ----------
    fs_hz : float
        Sample rate of the instrument, Hz.
    rate_bpm, ti_s, peep_cmh2o, dp_cmh2o : float
        Ventilator settings.
    c_ml_per_cmh2o, r_cmh2o_s_per_l : float
        Lung compliance and resistance.
    """

    def __init__(self, fs_hz: float, rate_bpm: float = 15.0, ti_s: float = 1.0,
                 peep_cmh2o: float = 5.0, dp_cmh2o: float = 15.0,
                 c_ml_per_cmh2o: float = 50.0, r_cmh2o_s_per_l: float = 10.0) -> None:
        self.fs_hz = fs_hz
        self.period_s = 60.0 / rate_bpm
        self.ti_s = ti_s
        self.peep_cmh2o = peep_cmh2o
        self.dp_cmh2o = dp_cmh2o
        self.tau_s = c_ml_per_cmh2o / 1000.0 * r_cmh2o_s_per_l
        self.r = r_cmh2o_s_per_l
        self._n = 0

    def advance(self, n_samples: int) -> SourceSamples:
        """Next ``n_samples`` samples."""
        idx = np.arange(self._n, self._n + n_samples, dtype=np.float64)
        self._n += n_samples
        t = idx / self.fs_hz
        tb = np.mod(t, self.period_s)
        te = tb - self.ti_s
        # Lung pressure at end of inspiration (starting from PEEP each breath).
        p_end = self.dp_cmh2o * (1.0 - np.exp(-self.ti_s / self.tau_s))
        insp = tb < self.ti_s
        flow_lps = np.where(
            insp,
            self.dp_cmh2o / self.r * np.exp(-tb / self.tau_s),
            -p_end / self.r * np.exp(-np.maximum(te, 0.0) / self.tau_s),
        )
        paw = np.where(insp, self.peep_cmh2o + self.dp_cmh2o, self.peep_cmh2o)
        return SourceSamples(t, flow_lps * 60.0, paw.astype(np.float64))


def make_source(params: dict[str, str], fs_hz: float, condition: str | None = None) -> Any:
    """The truth source for a simulated instrument sampling at ``fs_hz``.

    By default the physics simulator (``drivers.sim.points.simulation_from_params``: the
    ventilator, lung and sensor keys of the URL query), with the flow stated at
    ``condition`` (the instrument's own reference) unless the query sets ``condition``.
    ``model=simple`` selects the built-in pressure-control source (query keys ``rate_bpm``,
    ``ti_s``, ``peep_cmh2o``, ``dp_cmh2o``, ``c_ml_per_cmh2o``, ``r_cmh2o_s_per_l``).
    """
    if params.get("model", "physics") != "simple":
        try:
            from ventbench.drivers.sim.points import simulation_from_params
        except ImportError:  # pragma: no cover - physics simulator absent
            simulation_from_params = None
        if simulation_from_params is not None:
            query = dict(params)
            if condition is not None:
                query.setdefault("condition", condition)
            return simulation_from_params(query, fs_hz)
    return PressureControlSource(
        fs_hz,
        rate_bpm=_float(params, "rate_bpm", 15.0),
        ti_s=_float(params, "ti_s", 1.0),
        peep_cmh2o=_float(params, "peep_cmh2o", 5.0),
        dp_cmh2o=_float(params, "dp_cmh2o", 15.0),
        c_ml_per_cmh2o=_float(params, "c_ml_per_cmh2o", 50.0),
        r_cmh2o_s_per_l=_float(params, "r_cmh2o_s_per_l", 10.0),
    )


def source_chunk(source: Any, n_samples: int) -> SourceSamples:
    """Call ``source.advance`` and normalise its result to :class:`SourceSamples`
    (breath truths kept when the source gives them)."""
    out = source.advance(n_samples)
    get = out.get if isinstance(out, dict) else lambda k: getattr(out, k, ())
    return SourceSamples(
        np.asarray(get("t_s"), dtype=np.float64),
        np.asarray(get("flow_lpm"), dtype=np.float64),
        np.asarray(get("paw_cmh2o"), dtype=np.float64),
        tuple(get("truths") or ()),
    )


class FaultInjector:
    """Corrupt frames on their way out: ``drop`` (probability a frame is lost), ``garbage``
    (probability random bytes precede a frame), ``ber`` (bit error rate on every byte).

    Deterministic for ``seed``. ``injected`` counts what was done, for tests.
    """

    def __init__(self, params: dict[str, str]) -> None:
        self.rng = np.random.default_rng(int(_float(params, "seed", 0)))
        self.ber = _float(params, "ber", 0.0)
        self.drop = _float(params, "drop", 0.0)
        self.garbage = _float(params, "garbage", 0.0)
        self.injected = {"dropped": 0, "garbage": 0, "bit_errors": 0}

    @property
    def active(self) -> bool:
        return self.ber > 0 or self.drop > 0 or self.garbage > 0

    def frame(self, data: bytes) -> bytes:
        """Return ``data`` as it arrives after the injected faults."""
        if not self.active:
            return data
        out = b""
        if self.garbage > 0 and self.rng.random() < self.garbage:
            n = int(self.rng.integers(1, 8))
            out += self.rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            self.injected["garbage"] += 1
        if self.drop > 0 and self.rng.random() < self.drop:
            self.injected["dropped"] += 1
            return out
        if self.ber > 0:
            arr = np.frombuffer(data, dtype=np.uint8).copy()
            bits = self.rng.random(arr.size * 8) < self.ber
            if bits.any():
                self.injected["bit_errors"] += int(bits.sum())
                flips = np.packbits(bits.astype(np.uint8))
                arr ^= flips[: arr.size]
            data = arr.tobytes()
        return out + data
