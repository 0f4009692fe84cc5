"""Alarm tests of a protocol (``[[alarms]]`` tables): the model, the sequence on a rig, the verdicts.

A protocol file lists its alarm tests after its points::

    [[alarms]]
    id = "alarm-disconnection"
    condition = "disconnection"   # disconnection | occlusion | high_pressure | vt_out_of_range
                                  # | gas_supply_loss | mains_loss | apnoea
    induce = "rig"                # rig (VBR/1 actuator, docs/drivers/rig-actuators.md) | operator
    detect = "sound"              # sound (microphone level) | telemetry (EVENT 4) | keypress
    limit_s = 1.0                 # optional where analysis/data/alarm-limits.toml has one
    must_recover = true           # ventilation must resume by itself once the condition is removed
    window_s = 30                 # the alarm must come within this, s after the condition
    baseline_s = 10               # undisturbed ventilation recorded first, s
    recovery_s = 20               # how long to wait for recovery, s
    threshold_cmh2o = 35          # high_pressure: the device's high-pressure alarm setting
    note = "…"

The sequence of one test (:func:`run_alarm_test`): record ``baseline_s``; induce (``ACT NAME 1``,
the moment from the rig's EVENT 8; or an operator prompt with a countdown, the moment from the
keypress); record until the alarm is seen plus 2 s, or the window ends (never longer); remove
the condition (``ACT NAME 0``); record until ventilation recovers or ``recovery_s``. The rig is
put back in its safe state (``SAFE``: every valve normal, mains on) in ``finally``, whatever
happened. A refused actuator command ends that test INCONCLUSIVE with the rig's answer.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ventbench.analysis import alarms as al
from ventbench.bench.alarm_model import (  # noqa: F401 - re-exported
    ACTUATOR,
    AlarmTest,
    load_alarm_tests,
    parse_alarm_tests,
)
from ventbench.errors import ConfigError, TransportError

COUNTDOWN_S = 5.0  #: the operator's countdown before creating / removing a condition, s
HOLD_AFTER_ALARM_S = 2.0  #: recording goes on this long after the device's alarm output fired


# -- the sequence ---------------------------------------------------------------------------
class Acquired:
    """Decoded blocks of one test, kept in order."""

    def __init__(self) -> None:
        self.blocks: list[Any] = []

    def add(self, block: Any) -> None:
        if len(block):
            self.blocks.append(block)

    @property
    def t_end_s(self) -> float:
        return float(self.blocks[-1].t_s[-1]) if self.blocks else -math.inf

    def arrays(self) -> dict[str, np.ndarray]:
        if not self.blocks:
            return {"t_s": np.zeros(0), "flow_lpm": np.zeros(0), "paw_cmh2o": np.zeros(0),
                    "flags": np.zeros(0, np.uint8), "sound_dba": np.zeros(0)}
        out = {k: np.concatenate([getattr(b, k) for b in self.blocks])
               for k in ("t_s", "flow_lpm", "paw_cmh2o", "flags")}
        if all("sound_dba" in b.channels for b in self.blocks):
            out["sound_dba"] = np.concatenate([b.channels["sound_dba"] for b in self.blocks])
        return out


@dataclass
class AlarmRun:
    """What one test recorded: samples, rig events, the induced / released moments, s."""

    test: AlarmTest
    data: dict[str, np.ndarray]
    events: list[dict]
    induced_s: float | None = None
    released_s: float | None = None
    aborted: str = ""
    keypress_s: float | None = None  #: detect = "keypress": device time of the "alarm heard" key


class Sequencer:
    """Runs alarm tests on an open port through a VBR/1 :class:`~drivers.rig.RigDriver`.

    ``keypress(prompt, countdown_s)`` asks the operator and returns when the key is pressed
    (only for ``induce = "operator"`` / ``detect = "keypress"``); ``wall_limit_s`` caps every
    wait on the wall clock so a silent device never hangs a test.
    """

    def __init__(self, port: Any, driver: Any, *, keypress: Callable[[str, float], None] | None = None,
                 wall_limit_s: float = 600.0) -> None:
        self.port, self.driver, self.keypress = port, driver, keypress
        self.wall_limit_s = wall_limit_s

    def _read(self, acq: Acquired, until: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.wall_limit_s
        while not until():
            if time.monotonic() > deadline:
                raise TransportError(f"no data from {self.driver.info.get('port', 'the rig')} "
                                     f"for {self.wall_limit_s:g} s while {what}")
            chunk = self.port.read(max(1, int(getattr(self.port, "in_waiting", 0) or 0)))
            if chunk:
                acq.add(self.driver.feed(chunk))

    def _command(self, acq: Acquired, line: str, timeout_s: float = 2.0) -> tuple[str, dict | None]:
        """Write ``line``, read until its REPLY; (reply, the actuator EVENT 8 after it)."""
        n_rep, n_ev = len(self.driver.decoder.replies), len(self.driver.counters.events)
        self.port.write(line.encode("ascii") + b"\n")
        t0 = time.monotonic()

        def answered() -> bool:
            if time.monotonic() - t0 > timeout_s:
                return True
            return len(self.driver.decoder.replies) > n_rep

        self._read(acq, answered, f"waiting for the answer to {line}")
        replies = self.driver.decoder.replies[n_rep:]
        if not replies:
            return f"no answer within {timeout_s:g} s", None
        event = next((e for e in self.driver.counters.events[n_ev:] if e["code"] == 8), None)
        return replies[0], event

    def run(self, test: AlarmTest) -> AlarmRun:
        """Run one test (see module docstring); the rig is made safe in ``finally``."""
        acq = Acquired()
        n_ev = len(self.driver.counters.events)
        run = AlarmRun(test, {}, [])
        name = ACTUATOR[test.condition]
        try:
            self._read(acq, lambda: acq.blocks != [], "waiting for the first samples")
            t0 = float(acq.blocks[0].t_s[0])
            self._read(acq, lambda: acq.t_end_s >= t0 + test.baseline_s, "recording the baseline")
            run.induced_s = self._induce(acq, run, name, on=True)
            if run.induced_s is None:
                return run
            n_alarm = len(self.driver.counters.events)
            heard = self._listen(acq, run) if test.detect == "keypress" else {}

            def alarm_or_window() -> bool:
                if acq.t_end_s >= run.induced_s + test.window_s + 2.0:
                    return True
                if "t_s" in heard:
                    return acq.t_end_s >= heard["t_s"] + HOLD_AFTER_ALARM_S
                ev = [e for e in self.driver.counters.events[n_alarm:] if e["code"] == 4]
                return bool(ev) and acq.t_end_s >= ev[0]["t_s"] + HOLD_AFTER_ALARM_S

            self._read(acq, alarm_or_window, f"waiting for the {test.condition} alarm")
            run.keypress_s = heard.get("t_s")
            run.released_s = self._induce(acq, run, name, on=False)
            if run.released_s is not None:
                end = run.released_s + test.recovery_s
                self._read(acq, lambda: acq.t_end_s >= end, "waiting for recovery")
        finally:
            if test.induce == "rig":
                try:
                    self._command(acq, "SAFE")
                except Exception:  # noqa: BLE001 - making safe must not mask the first error
                    pass
            run.data = acq.arrays()
            run.events = list(self.driver.counters.events[n_ev:])
        return run

    def _listen(self, acq: Acquired, run: AlarmRun) -> dict[str, float]:
        """Ask the operator to press Enter on hearing the alarm; the returned dict gets
        ``t_s`` (device time of the newest sample at the keypress) when they do."""
        if self.keypress is None:
            raise ConfigError(f"alarm test {run.test.id!r}: detect = 'keypress' needs an operator at a terminal")
        heard: dict[str, float] = {}

        def wait() -> None:
            self.keypress("press Enter the moment you hear the alarm", 0.0)
            heard["t_s"] = acq.t_end_s

        threading.Thread(target=wait, name="alarm heard", daemon=True).start()
        return heard

    def _induce(self, acq: Acquired, run: AlarmRun, name: str, *, on: bool) -> float | None:
        """Switch the condition on / off; the moment, s (device time), or None (aborted)."""
        if run.test.induce == "rig":
            reply, event = self._command(acq, f"ACT {name} {int(on)}")
            if not reply.startswith("OK") or event is None:
                run.aborted = f"rig refused 'ACT {name} {int(on)}': {reply!r}"
                return None
            return float(event["t_s"])
        if self.keypress is None:
            raise ConfigError(f"alarm test {run.test.id!r}: induce = 'operator' needs an operator at a terminal")
        verb = "create" if on else "remove"
        prompt = f"{verb} the {run.test.condition.replace('_', ' ')} and press Enter at that moment"
        pressed = threading.Event()

        def wait() -> None:  # the port is read on while the operator gets ready
            try:
                self.keypress(prompt, COUNTDOWN_S)
            finally:
                pressed.set()

        threading.Thread(target=wait, name="alarm keypress", daemon=True).start()
        self._read(acq, pressed.is_set, f"waiting for the operator to {verb} the condition")
        return acq.t_end_s  # the device time of the newest sample at the keypress


# -- the verdict ----------------------------------------------------------------------------
def judge_run(run: AlarmRun, *, keypress_s: float | None = None) -> al.AlarmResult:
    """Analyse one :class:`AlarmRun` (:mod:`analysis.alarms`)."""
    test, d = run.test, run.data
    common = dict(id=test.id, condition=test.condition, limit_s=test.limit.delay_s, window_s=test.window_s,
                  detection=test.detect, must_recover=test.must_recover, limit=test.limit.to_json())
    if run.aborted or run.induced_s is None:
        return al.AlarmResult(induced_s=None, condition_s=None, alarm_s=None, delay_s=None,
                              verdict="INCONCLUSIVE", reason=run.aborted or "condition not induced",
                              **common)
    t, f, p = d["t_s"], d["flow_lpm"], d["paw_cmh2o"]
    base = al.baseline(*(x[(t >= run.induced_s - test.baseline_s) & (t < run.induced_s)] for x in (t, f, p)))
    if base is None:
        return al.AlarmResult(induced_s=run.induced_s, condition_s=None, alarm_s=None, delay_s=None,
                              verdict="INCONCLUSIVE", reason="fewer than 3 breaths before the condition", **common)
    before = 0.5 if test.induce == "rig" else 1.0
    if test.condition == "mains_loss":
        relay = next((e for e in run.events if e["code"] == 8 and e["text"] == "mains=1"), None)
        cond_s = None if relay is None else float(relay["t_s"])
        how = "the rig's mains relay event" if relay else "no mains relay event (operator-induced)"
        if relay is None and test.induce == "operator":
            cond_s, how = run.induced_s, "the operator's keypress (no flow/pressure signature)"
    else:
        cond_s, how = al.condition_onset(test.condition, t, f, p, base, run.induced_s - before,
                                         run.induced_s + test.window_s, threshold_cmh2o=test.threshold_cmh2o)
    dt = float(np.median(np.diff(t)))
    alarm_s = None
    start = cond_s if cond_s is not None else run.induced_s
    until = start + test.window_s
    if test.detect == "sound":
        if "sound_dba" not in d:
            raise ConfigError(f"alarm test {test.id!r}: detect = 'sound' but the rig has no sound level channel")
        alarm_s, _ = al.sound_onset(t, d["sound_dba"], (run.induced_s - test.baseline_s, run.induced_s - before),
                                    start - 2.0 * dt, until)
    elif test.detect == "telemetry":
        alarm_s = al.event_onset(run.events, start - 2.0 * dt, until)
    else:
        keypress_s = run.keypress_s if keypress_s is None else keypress_s
        alarm_s = keypress_s if keypress_s is not None and keypress_s <= until else None
    covered = t.size > 0 and t[-1] >= min(until, alarm_s if alarm_s is not None else until)
    win = (t >= (cond_s or run.induced_s) - 1.0) & (t <= (alarm_s or until))
    whole = covered and not np.any(d["flags"][win] != 0) and not np.any(np.diff(t[win]) > 3 * dt)
    recovered = None
    if run.released_s is not None:
        recovered = al.recovery(t, f, p, base, run.released_s, run.released_s + test.recovery_s)
        if test.condition == "mains_loss":
            recovered = run.released_s  # no signature: ventilation never changed
    return al.judge(id=test.id, condition=test.condition, induced_s=run.induced_s, condition_s=cond_s,
                    condition_how=how, alarm_s=alarm_s, limit_s=test.limit.delay_s, window_s=test.window_s,
                    detection=test.detect, components=al.delay_components(dt, test.detect),
                    released_s=run.released_s, recovered_s=recovered, must_recover=test.must_recover,
                    recovery_window_s=test.recovery_s, data_whole=whole, limit=test.limit.to_json())
