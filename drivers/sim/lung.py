"""Test lung and patient circuit: a single RC compartment, circuit compliance and a leak.

Model (all arithmetic in mL, s and hPa; cmH2O only at the edges, via ``ventbench.units``)::

    ventilator ──tubing (circuit compliance Cc)── flow sensor ──┬── R ── alveolus (C)
                                                   (patient port)└── leak (conductance g)

- ``P_alv = V / C`` (gauge, V the lung volume above its relaxed volume; at end-expiration
  with PEEP held ``V = C * PEEP``, i.e. ``P_alv = ΔV / C + PEEP``).
- ``P_aw = P_alv + R * Q_lung`` at the patient port.
- The leak sits on the patient side of the sensor (a cuff or mask leak): the sensor sees
  ``Q_sensor = Q_lung + Q_leak``, so a leak adds to VTi and subtracts from VTe.
- The leak is **laminar (linear in pressure)**: ``Q_leak = leak_ml_min * P_aw / leak_ref_cmh2o``.
  A linear leak keeps every phase a linear time-invariant system, solved exactly; a real
  orifice is closer to ``sqrt(P)``, which over 5–30 cmH2O differs by less than a factor of
  two — state the reference pressure with the leak figure.
- The circuit compliance stores ``Cc * P_aw`` in the tubing *upstream* of the sensor: in
  volume control part of the delivered volume never reaches the patient port.

Each ventilator phase (flow source, pressure source, PEEP valve) makes the system linear
and time invariant with an affine input ``u(τ) = u0 + u1 τ``; :class:`LinearPhase` solves it
in closed form (modal decomposition), for states, outputs and their exact time integrals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ventbench.errors import ConfigError
from ventbench.units import HPA_PER_CMH2O


@dataclass(frozen=True)
class Lung:
    """A single-compartment test lung with its patient circuit.

    Parameters
    ----------
    c_ml_per_hpa : float
        Lung compliance, mL/hPa (> 0).
    r_hpa_s_per_l : float
        Airway resistance between patient port and alveolus, hPa/(L/s) (> 0).
    leak_ml_min : float
        Leak flow at ``leak_ref_cmh2o`` of airway pressure, mL/min (≥ 0); linear in pressure.
    leak_ref_cmh2o : float
        Airway pressure at which ``leak_ml_min`` is stated, cmH2O (> 0).
    circuit_c_ml_per_hpa : float
        Compliance of the tubing between ventilator and sensor, mL/hPa (≥ 0).
    """

    c_ml_per_hpa: float = 50.0
    r_hpa_s_per_l: float = 5.0
    leak_ml_min: float = 0.0
    leak_ref_cmh2o: float = 10.0
    circuit_c_ml_per_hpa: float = 0.0

    def __post_init__(self) -> None:
        if not (self.c_ml_per_hpa > 0 and math.isfinite(self.c_ml_per_hpa)):
            raise ConfigError(f"lung compliance {self.c_ml_per_hpa} mL/hPa: expected > 0")
        if not (self.r_hpa_s_per_l > 0 and math.isfinite(self.r_hpa_s_per_l)):
            raise ConfigError(f"lung resistance {self.r_hpa_s_per_l} hPa/(L/s): expected > 0")
        if not (self.leak_ml_min >= 0 and math.isfinite(self.leak_ml_min)):
            raise ConfigError(f"leak {self.leak_ml_min} mL/min: expected ≥ 0")
        if not self.leak_ref_cmh2o > 0:
            raise ConfigError(f"leak reference pressure {self.leak_ref_cmh2o} cmH2O: expected > 0")
        if not (self.circuit_c_ml_per_hpa >= 0 and math.isfinite(self.circuit_c_ml_per_hpa)):
            raise ConfigError(f"circuit compliance {self.circuit_c_ml_per_hpa} mL/hPa: expected ≥ 0")

    @property
    def r_hpa_per_ml_s(self) -> float:
        """Resistance in hPa/(mL/s)."""
        return self.r_hpa_s_per_l / 1000.0

    @property
    def tau_s(self) -> float:
        """Time constant R·C of the lung, s."""
        return self.r_hpa_per_ml_s * self.c_ml_per_hpa

    @property
    def leak_ml_s_per_hpa(self) -> float:
        """Leak conductance g, (mL/s)/hPa."""
        return self.leak_ml_min / 60.0 / (self.leak_ref_cmh2o * HPA_PER_CMH2O)


def _phi_scalar(x: float, order: int) -> float:
    if abs(x) < 1e-2:
        if order == 1:
            return 1.0 + x / 2 + x**2 / 6 + x**3 / 24 + x**4 / 120
        if order == 2:
            return 0.5 + x / 6 + x**2 / 24 + x**3 / 120 + x**4 / 720
        return 1.0 / 6 + x / 24 + x**2 / 120 + x**3 / 720 + x**4 / 5040
    em1 = math.expm1(x)
    if order == 1:
        return em1 / x
    if order == 2:
        return (em1 - x) / x**2
    return (em1 - x - x * x / 2) / x**3


def _phi(x: np.ndarray, order: int) -> np.ndarray:
    """``(e^x - Σ_{j<order} x^j/j!) / x^order``, stable near 0 (order 1, 2 or 3)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size <= 4:
        return np.array([_phi_scalar(float(v), order) for v in x.ravel()]).reshape(x.shape)
    small = np.abs(x) < 1e-2
    xs = np.where(small, 1.0, x)
    em1 = np.expm1(xs)
    if order == 1:
        out = em1 / xs
    elif order == 2:
        out = (em1 - xs) / xs**2
    else:
        out = (em1 - xs - xs**2 / 2) / xs**3
    if small.any():
        xm = x[small]
        if order == 1:
            out[small] = 1.0 + xm / 2 + xm**2 / 6 + xm**3 / 24 + xm**4 / 120
        elif order == 2:
            out[small] = 0.5 + xm / 6 + xm**2 / 24 + xm**3 / 120 + xm**4 / 720
        else:
            out[small] = 1.0 / 6 + xm / 24 + xm**2 / 120 + xm**3 / 720 + xm**4 / 5040
    return out


@dataclass(frozen=True, eq=False)
class LinearPhase:
    """An interval ``[t0_s, t0_s + dur_s)`` of ``x' = A x + B u``, ``u = u0 + u1 τ``.

    Outputs are ``y = Cy x + Dy u`` with rows (sensor flow mL/s, airway pressure hPa);
    ``τ`` is the time since ``t0_s``, s.
    """

    t0_s: float
    dur_s: float
    a: np.ndarray
    b: np.ndarray
    cy: np.ndarray
    dy: np.ndarray
    u0: float
    u1: float
    x0: np.ndarray
    pressure_imposed: bool = False  #: airway pressure is the input itself (u0 + u1 τ)

    @cached_property
    def _modal(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a = np.asarray(self.a, dtype=np.float64)
        if a.shape == (1, 1):
            lam = a[0].copy()
            v = np.ones((1, 1))
            vinv = v
        else:
            lam_c, v_c = np.linalg.eig(a)
            lam, v = lam_c.real, v_c.real
            vinv = np.linalg.inv(v)
        return lam, v, vinv, vinv @ self.x0, vinv @ self.b

    def state(self, tau_s: np.ndarray | float) -> np.ndarray:
        """States at times ``tau_s`` after the phase start, shape (n_states, n_times)."""
        tau = np.atleast_1d(np.asarray(tau_s, dtype=np.float64))
        lam, v, _, z0, beta = self._modal
        x = lam[:, None] * tau[None, :]
        e = np.exp(x)
        z = (e * z0[:, None]
             + beta[:, None] * (self.u0 * tau * _phi(x, 1) + self.u1 * tau**2 * _phi(x, 2)))
        return v @ z

    def state_integral(self, tau_s: float) -> np.ndarray:
        """Exact integral of the states from 0 to ``tau_s``, shape (n_states,)."""
        tau = float(tau_s)
        lam, v, _, z0, beta = self._modal
        x = lam * tau
        iz = (z0 * tau * _phi(x, 1)
              + beta * (self.u0 * tau**2 * _phi(x, 2) + self.u1 * tau**3 * _phi(x, 3)))
        return v @ iz

    def outputs(self, tau_s: np.ndarray | float) -> np.ndarray:
        """(sensor flow mL/s, airway pressure hPa) at ``tau_s``, shape (2, n_times)."""
        tau = np.atleast_1d(np.asarray(tau_s, dtype=np.float64))
        u = self.u0 + self.u1 * tau
        return self.cy @ self.state(tau) + self.dy[:, None] * u[None, :]

    def output_integral(self, tau_a_s: float, tau_b_s: float) -> np.ndarray:
        """Exact integral of the outputs over ``[tau_a_s, tau_b_s]``: (mL, hPa·s)."""

        def cumulative(t: float) -> np.ndarray:
            u_int = self.u0 * t + self.u1 * t * t / 2
            return self.cy @ self.state_integral(t) + self.dy * u_int

        return cumulative(tau_b_s) - cumulative(tau_a_s)

    def end_state(self) -> np.ndarray:
        """States at the end of the phase (left limit), shape (n_states,)."""
        return self.state(self.dur_s)[:, 0]


def flow_source_phase(
    lung: Lung, t0_s: float, dur_s: float, q0_ml_s: float, q1_ml_s2: float,
    v0_ml: float, paw0_hpa: float,
) -> LinearPhase:
    """Volume control: the ventilator pushes ``q0 + q1 τ`` mL/s into the circuit.

    With a circuit compliance the states are (lung volume mL, airway pressure hPa); without,
    the airway pressure is algebraic and the state is the lung volume alone.
    """
    c, rm, g, cc = lung.c_ml_per_hpa, lung.r_hpa_per_ml_s, lung.leak_ml_s_per_hpa, lung.circuit_c_ml_per_hpa
    if cc > 0:
        a = np.array([[-1 / (c * rm), 1 / rm], [1 / (c * rm * cc), -(1 / rm + g) / cc]])
        b = np.array([0.0, 1 / cc])
        cy = np.array([[-1 / (c * rm), 1 / rm + g], [0.0, 1.0]])
        dy = np.zeros(2)
        x0 = np.array([v0_ml, paw0_hpa])
    else:
        k = 1.0 + g * rm
        a = np.array([[-g / (c * k)]])
        b = np.array([1 / k])
        cy = np.array([[0.0], [1 / (c * k)]])
        dy = np.array([1.0, rm / k])
        x0 = np.array([v0_ml])
    return LinearPhase(t0_s, dur_s, a, b, cy, dy, q0_ml_s, q1_ml_s2, x0)


def pressure_source_phase(
    lung: Lung, t0_s: float, dur_s: float, p0_hpa: float, p1_hpa_s: float, v0_ml: float
) -> LinearPhase:
    """Airway pressure imposed at the patient port: ``p0 + p1 τ`` hPa.

    Used for pressure-control inspiration and for expiration through an ideal PEEP valve
    (which also supplies the leak, so the port stays at PEEP). State: lung volume, mL.
    """
    c, rm, g = lung.c_ml_per_hpa, lung.r_hpa_per_ml_s, lung.leak_ml_s_per_hpa
    a = np.array([[-1 / (c * rm)]])
    b = np.array([1 / rm])
    cy = np.array([[-1 / (c * rm)], [0.0]])
    dy = np.array([1 / rm + g, 1.0])
    return LinearPhase(t0_s, dur_s, a, b, cy, dy, p0_hpa, p1_hpa_s, np.array([v0_ml]), True)
