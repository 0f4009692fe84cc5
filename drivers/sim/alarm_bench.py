"""Actuators, microphone level and the simulated prototype's alarm system (``sim://rig?alarms=1``).

The VBR/1 actuator extension (``docs/drivers/rig-actuators.md``), device side. The rig
owns valves and a relay between the ventilator and the test lung; each one *induces* an
alarm condition by changing what the flow and pressure sensors at the patient port see:

============  ==============================================================================
actuator      physical effect at the patient-port sensors (applied to the simulator's samples)
============  ==============================================================================
disconnect    patient-port valve opens to air: paw falls to 0 (τ 5 ms), expiratory flow stops
occlude       expiratory-limb pinch valve: no expiration; paw ≥ PEEP + V / C (relief 60 cmH2O)
stiff         compliance valve switches in a stiff lung (C / 3): paw − PEEP × 3
leak          calibrated leak valve downstream of the sensor: expiratory flow halved (VTe low)
gas           supply shut-off: from the next inspiration no flow, paw falls to 0 (τ 0.3 s)
apnoea        the active lung stops breathing: from the next breath no flow, paw at PEEP
mains         mains relay off: the prototype runs on battery, no change in the signals
============  ==============================================================================

The *physical onset* of a condition is the first sample where the actuated signals differ
from the undisturbed ones by more than 3 L/min or 1 cmH2O (the actuator's moment for
``mains``; for ``stiff`` the first sample over the prototype's high-pressure alarm setting,
35 cmH2O). The simulated prototype's alarm sounds ``delay_s[condition]`` after it (plus
``alarm_late``, the seeded defect), as EVENT 4 (alarm input on) and a pulsed tone on the
microphone level channel (75 dBA pulses, 0.2 s on / 0.1 s off, over a 45 dBA background,
σ 1 dB); it stops 0.5 s after the condition is removed (EVENT 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ACTUATORS = ("disconnect", "occlude", "stiff", "leak", "gas", "apnoea", "mains")
#: The simulated prototype's alarm delays after the physical onset, s.
DEFAULT_DELAYS_S = {"disconnect": 0.4, "occlude": 1.0, "stiff": 0.05, "leak": 0.5,
                    "gas": 0.8, "apnoea": 15.0, "mains": 0.3}
BACKGROUND_DBA = 45.0
TONE_DBA = 75.0
NOISE_DB = 1.0
PULSE_ON_S, PULSE_PERIOD_S = 0.2, 0.3
ALARM_OFF_AFTER_S = 0.5
HIGH_PAW_ALARM_CMH2O = 35.0  #: the simulated prototype's high-pressure alarm setting
EVENT_ACTUATOR = 8  #: VBR/1 actuator extension: an actuator changed state (text NAME=0|1)


def parse_late(text: str) -> dict[str, float]:
    """``"disconnect:20,occlude:3"`` → extra delay by actuator, s; ValueError when malformed."""
    out: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = item.partition(":")
        if name not in ACTUATORS:
            raise ValueError(f"alarm_late: unknown condition {name!r} (expected one of {', '.join(ACTUATORS)})")
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"alarm_late: {item!r}: expected CONDITION:SECONDS ≥ 0")
        out[name] = seconds
    return out


@dataclass
class _State:
    on_us: int | None = None  #: device time the actuator was switched on
    onset_us: int | None = None  #: physical onset (first changed sample)
    off_us: int | None = None  #: device time it was switched back
    hold: float = -math.inf  #: occlusion: pressure held
    p0: float = 0.0  #: gas / apnoea: pressure when the delivery stopped
    t0_us: int = 0
    #: gas / apnoea, until the delivery stops: the flow of the sample before, L/min (+inf at
    #: the start: a switch-on during an inspiration waits for the next one)
    prev_flow_lpm: float = math.inf


@dataclass
class AlarmBench:
    """Actuator state and the prototype's alarm system; driven by :class:`SimulatedRig`."""

    seed: int = 0
    peep_cmh2o: float = 5.0
    c_ml_per_hpa: float = 50.0
    late_s: dict[str, float] = field(default_factory=dict)
    states: dict[str, _State] = field(default_factory=dict)
    #: what the simulated prototype did: condition, physical onset, alarm on / off (µs)
    log: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng([self.seed, 808])
        self._alarms: dict[str, dict] = {}
        self._last_us = -1  #: last sample time produced, µs (alarm EVENTs fall after it)
        self._prev_us: int | None = None
        self._v_ml = 0.0
        self._dt_s = np.zeros(0)
        self._vol_ml = np.zeros(0)

    # -- commands ------------------------------------------------------------------------
    def command(self, line: str, now_us: int) -> tuple[str, list[str]] | None:
        """Answer an actuator command: (reply text, event texts), None when not ours."""
        parts = line.split(" ")
        if line == "SAFE":
            changed = [n for n, s in self.states.items() if s.off_us is None]
            for name in changed:
                self.states[name].off_us = now_us
            return "OK SAFE", [f"{n}=0" for n in changed] or ["safe"]
        if line == "ACTS":
            return "OK ACTS " + ",".join(ACTUATORS), []
        if parts[0] != "ACT":
            return None
        if len(parts) != 3 or parts[2] not in ("0", "1"):
            return "ERR usage: ACT NAME 0|1", []
        name, on = parts[1], parts[2] == "1"
        if name not in ACTUATORS:
            return f"ERR unknown actuator {name}", []
        state = self.states.get(name)
        if on and (state is None or state.off_us is not None):
            self.states[name] = _State(on_us=now_us)
        elif not on and state is not None and state.off_us is None:
            state.off_us = now_us
        return f"OK ACT {name} {parts[2]}", [f"{name}={parts[2]}"]

    # -- samples -------------------------------------------------------------------------
    def apply(self, dev_us: np.ndarray, flow: np.ndarray, paw: np.ndarray,
              events: list[tuple[int, int, str]]) -> np.ndarray:
        """Change ``flow`` / ``paw`` in place for the active actuators; return the
        microphone level, dBA, and append alarm EVENTs ``(index, code, text)``."""
        self._volume(dev_us, flow)
        for name in ACTUATORS:
            state = self.states.get(name)
            if state is None or state.on_us is None:
                continue
            active = (dev_us > state.on_us) & ((dev_us <= state.off_us) if state.off_us is not None else True)
            if active.any():
                self._physics(name, state, dev_us, flow, paw, active)
        return self._sound(dev_us, events)

    def _volume(self, dev_us: np.ndarray, flow: np.ndarray) -> None:
        """Volume in the lung above its resting volume, mL, of the undisturbed flow."""
        prev = self._prev_us if self._prev_us is not None else int(dev_us[0]) - 1000
        self._dt_s = np.diff(np.concatenate([[prev], dev_us])) / 1e6
        steps = np.concatenate([[self._v_ml], flow * self._dt_s * (1000.0 / 60.0)])
        s_ml = np.cumsum(steps)
        self._vol_ml = (s_ml - np.minimum(np.minimum.accumulate(s_ml), 0.0))[1:]  # floored at 0
        self._v_ml = float(self._vol_ml[-1])
        self._prev_us = int(dev_us[-1])

    def _physics(self, name, state, dev_us, flow, paw, active) -> None:
        f0, p0 = flow.copy(), paw.copy()
        idx = np.flatnonzero(active)
        t_s = (dev_us[idx] - state.on_us) / 1e6
        f, p = flow[idx], paw[idx]
        if name == "disconnect":
            p *= np.exp(-t_s / 0.005)
            f[f < 0] = 0.0
        elif name == "occlude":  # the lung keeps its volume: paw = PEEP + V / C
            if state.hold == -math.inf:
                state.hold = float(self._vol_ml[idx[0]])
            f[f < 0] = 0.0
            vol = state.hold + np.cumsum(f * self._dt_s[idx] * (1000.0 / 60.0))
            state.hold = float(vol[-1])
            p[:] = np.minimum(np.maximum(p, self.peep_cmh2o + vol / self.c_ml_per_hpa / 0.980665), 60.0)
            f[p >= 60.0] = 0.0  # the relief valve: no more gas goes in
        elif name == "stiff":
            p[:] = self.peep_cmh2o + (p - self.peep_cmh2o) * 3.0
        elif name == "leak":
            f[f < 0] *= 0.5
        elif name in ("gas", "apnoea"):
            if state.onset_us is None:
                # the next inspiration to start is the first missed one: found by its rising
                # edge, whatever the block the samples come in (one sample or a whole breath)
                before = np.concatenate([[state.prev_flow_lpm], f[:-1]])
                due = np.flatnonzero((f > 3.0) & (before <= 3.0))
                state.prev_flow_lpm = float(f[-1])
                start = int(due[0]) if due.size else f.size
                if start < f.size:
                    state.p0, state.t0_us = float(p[start]), int(dev_us[idx[start]])
            else:
                start = 0
            if start < f.size:
                tail = slice(start, None)
                dt = (dev_us[idx[tail]] - state.t0_us) / 1e6
                f[tail] = 0.0
                floor = 0.0 if name == "gas" else self.peep_cmh2o
                p[tail] = floor + (state.p0 - floor) * np.exp(-dt / (0.3 if name == "gas" else 0.05))
        flow[idx], paw[idx] = f, p
        if state.onset_us is None:
            if name == "mains":
                state.onset_us = int(dev_us[idx[0]])
            elif name == "stiff":  # the prototype's high-pressure alarm setting is crossed
                over = np.flatnonzero(active & (paw > HIGH_PAW_ALARM_CMH2O))
                if over.size:
                    state.onset_us = int(dev_us[over[0]])
            else:
                changed = np.flatnonzero((np.abs(flow - f0) > 3.0) | (np.abs(paw - p0) > 1.0))
                if changed.size:
                    state.onset_us = int(dev_us[changed[0]])
            if state.onset_us is not None:
                delay_s = DEFAULT_DELAYS_S[name] + self.late_s.get(name, 0.0)
                alarm = {"condition": name, "onset_us": state.onset_us,
                         "alarm_on_us": state.onset_us + int(round(delay_s * 1e6)),
                         "alarm_off_us": None, "state": state}
                self._alarms[name] = alarm
                self.log.append(alarm)

    def _sound(self, dev_us: np.ndarray, events: list) -> np.ndarray:
        """Microphone level, dBA: background noise plus the pulsed tone while an alarm sounds."""
        level = BACKGROUND_DBA + NOISE_DB * self._rng.standard_normal(dev_us.size)
        sounding = np.zeros(dev_us.size, dtype=bool)
        tone_t = np.full(dev_us.size, np.inf)
        for name, alarm in self._alarms.items():
            off = alarm["state"].off_us
            if off is not None and alarm["alarm_off_us"] is None and off < alarm["alarm_on_us"]:
                alarm["alarm_off_us"] = alarm["alarm_on_us"]  # removed before it sounded
            end = alarm["alarm_off_us"]
            if end is None and off is not None:
                end = alarm["alarm_off_us"] = off + int(ALARM_OFF_AFTER_S * 1e6)
            on = (dev_us >= alarm["alarm_on_us"]) & ((dev_us < end) if end is not None else True)
            if end is not None and end <= alarm["alarm_on_us"]:
                on[:] = False
            sounding |= on
            tone_t = np.where(on, np.minimum(tone_t, (dev_us - alarm["alarm_on_us"]) / 1e6), tone_t)
            for edge, code, what in ((alarm["alarm_on_us"], 4, "on"), (end, 5, "off")):
                if edge is not None and end != alarm["alarm_on_us"] and self._last_us < edge <= dev_us[-1]:
                    i = int(np.searchsorted(dev_us, edge))
                    events.append((min(i, dev_us.size - 1), code, f"{name} alarm {what}"))
        self._last_us = int(dev_us[-1])
        pulse = sounding & (np.mod(np.where(sounding, tone_t, 0.0), PULSE_PERIOD_S) < PULSE_ON_S)
        level[pulse] = TONE_DBA + NOISE_DB * self._rng.standard_normal(int(pulse.sum()))
        return level
