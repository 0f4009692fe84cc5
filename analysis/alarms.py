"""Alarm tests: the condition's onset in the data, the alarm's onset, the delay and its verdict.

Pure numpy; times are seconds on the device time base of the trace. One alarm test is a
stretch of recording around the moment a condition was *induced* (by a rig actuator, whose
EVENT gives the moment, or by the operator at a keypress):

- :func:`breath_starts` and :func:`baseline` describe the undisturbed ventilation before it;
- :func:`condition_onset` finds the condition in the pressure / flow signature (a
  disconnection drops the airway pressure below PEEP, an occluded expiratory limb stops the
  expiration (no flow either way for 0.5 s while paw stays above PEEP), a low-compliance step takes paw over the high-pressure setting, a leak takes
  the expired volume out of range, a lost gas supply or an apnoea leaves the next breath
  missing); loss of mains has no signature and is taken from the rig's relay event;
- :func:`sound_onset` finds the alarm tone on a sound-level channel (dB) by its level over
  the background, :func:`event_onset` in the device's alarm telemetry, and an operator's
  keypress is used as it is (with the reaction time in the uncertainty);
- :func:`judge` states the delay (condition → alarm) with its uncertainty (GUM, k = 2)
  against the limit, and whether ventilation recovered after the condition was removed.

A condition not seen in the data is INCONCLUSIVE (never PASS); an alarm that does not come
within the window is FAIL naming the window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ventbench.analysis.stats import median

CONDITIONS = ("disconnection", "occlusion", "high_pressure", "vt_out_of_range",
              "gas_supply_loss", "mains_loss", "apnoea")
DETECTIONS = ("telemetry", "sound", "keypress")
BREATH_FLOW_LPM = 3.0  #: breath start / end level (STANDARDS.md §3)
#: no flow with paw above PEEP this long is an occlusion (an inspiratory pause is shorter), s
OCCLUSION_HOLD_S = 0.5
#: u of an operator's reaction to an alarm tone, s (simple auditory reaction 0.15–0.4 s,
#: rectangular over a 0.5 s span, not corrected) [laboratory]
REACTION_U_S = 0.5 / math.sqrt(12.0)


@dataclass(frozen=True)
class Baseline:
    """Undisturbed ventilation before the condition: PEEP and PIP, cmH2O; breath period,
    s; median expired volume, mL; and the breath starts seen, s."""

    peep_cmh2o: float
    pip_cmh2o: float
    period_s: float
    vte_ml: float
    n_breaths: int


@dataclass(frozen=True)
class AlarmResult:
    """One judged alarm test (the ``alarms`` entries of results JSON; times in s)."""

    id: str
    condition: str
    induced_s: float | None
    condition_s: float | None
    alarm_s: float | None
    delay_s: float | None
    limit_s: float
    verdict: str
    reason: str = ""
    detection: str = "sound"
    window_s: float = 30.0
    induced_vs_data_s: float | None = None
    u_delay_s: float | None = None
    U_delay_s: float | None = None
    components: tuple[dict, ...] = ()
    released_s: float | None = None
    recovered_s: float | None = None
    must_recover: bool = True
    limit: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = asdict(self)
        out["components"] = [dict(c) for c in self.components]
        return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def breath_starts(t_s: np.ndarray, flow_lpm: np.ndarray, level_lpm: float = BREATH_FLOW_LPM) -> np.ndarray:
    """Times, s, where flow rises through ``level_lpm`` after having been below zero or
    below the level for ≥ 0.2 s (a new inspiration)."""
    above = flow_lpm > level_lpm
    starts, ends = _runs(above)
    if starts.size == 0:
        return np.zeros(0)
    keep = np.ones(starts.size, dtype=bool)
    keep[1:] = (t_s[starts[1:]] - t_s[ends[:-1] - 1]) >= 0.2
    return t_s[starts[keep]]


def _vte_ml(t_s, flow_lpm, starts_s) -> np.ndarray:
    """Expired volume, mL, of each breath between consecutive starts."""
    dt = np.diff(t_s, append=t_s[-1])
    out_ml = np.minimum(flow_lpm, 0.0) * dt * (1000.0 / 60.0)
    cum = np.concatenate([[0.0], np.cumsum(out_ml)])
    idx = np.searchsorted(t_s, starts_s)
    return -(cum[idx[1:]] - cum[idx[:-1]])


def baseline(t_s: np.ndarray, flow_lpm: np.ndarray, paw_cmh2o: np.ndarray) -> Baseline | None:
    """The ventilation of a stretch with no condition; None with fewer than 3 breaths."""
    starts = breath_starts(t_s, flow_lpm)
    if starts.size < 3:
        return None
    seg = (t_s >= starts[0]) & (t_s < starts[-1])
    return Baseline(peep_cmh2o=float(np.percentile(paw_cmh2o[seg], 5)),
                    pip_cmh2o=float(np.percentile(paw_cmh2o[seg], 99)),
                    period_s=median(np.diff(starts)),
                    vte_ml=median(_vte_ml(t_s, flow_lpm, starts)), n_breaths=int(starts.size - 1))


def condition_onset(condition: str, t_s: np.ndarray, flow_lpm: np.ndarray, paw_cmh2o: np.ndarray,
                    base: Baseline, from_s: float, until_s: float, *,
                    threshold_cmh2o: float | None = None, vt_rel: float = 0.2) -> tuple[float | None, str]:
    """First moment in [``from_s``, ``until_s``] the data shows ``condition``, s.

    Returns ``(onset_s, how)``: ``how`` says which signature was used, or why none was seen
    (then ``onset_s`` is None). ``mains_loss`` has no signature here (None, reason).
    ``threshold_cmh2o`` is the device's high-pressure alarm setting (default PIP + 25 % of
    the driving pressure, at least 5 cmH2O); ``vt_rel`` the relative VTe deviation taken as
    out of range.
    """
    sel = (t_s >= from_s) & (t_s <= until_s)
    t, f, p = t_s[sel], flow_lpm[sel], paw_cmh2o[sel]
    if t.size < 2:
        return None, "no samples in the search window"
    dt = median(np.diff(t))
    span = max(base.pip_cmh2o - base.peep_cmh2o, 1.0)
    if condition == "disconnection":
        if base.peep_cmh2o < 2.0:
            return None, f"PEEP {base.peep_cmh2o:.1f} cmH2O too low to see a disconnection in paw"
        level = base.peep_cmh2o - max(1.0, 0.5 * base.peep_cmh2o)
        a, b = _runs(p < level)
        ok = (b - a) * dt >= 0.2
        if ok.any():
            return float(t[a[ok][0]]), f"paw below {level:.1f} cmH2O (PEEP {base.peep_cmh2o:.1f})"
        return None, f"no disconnection seen: paw never stayed below {level:.1f} cmH2O for 0.2 s"
    if condition == "occlusion":  # no flow either way while paw stays above PEEP
        level = base.peep_cmh2o + max(0.5, 0.05 * span)
        a, b = _runs((np.abs(f) < BREATH_FLOW_LPM) & (p > level))
        ok = (b - a) * dt >= OCCLUSION_HOLD_S
        if ok.any():
            return float(t[a[ok][0]]), (f"no flow with paw held above {level:.1f} cmH2O "
                                        f"for ≥ {OCCLUSION_HOLD_S:g} s")
        return None, f"no occlusion seen: paw never held above {level:.1f} cmH2O without flow"
    if condition == "high_pressure":
        level = threshold_cmh2o if threshold_cmh2o is not None else base.pip_cmh2o + max(5.0, 0.25 * span)
        hit = np.flatnonzero(p > level)
        if hit.size:
            return float(t[hit[0]]), f"paw above {level:.1f} cmH2O"
        return None, f"no high pressure seen: paw never above {level:.1f} cmH2O"
    if condition == "vt_out_of_range":
        starts = breath_starts(t, f)
        if starts.size >= 2:
            vte = _vte_ml(t, f, starts)
            bad = np.flatnonzero(np.abs(vte - base.vte_ml) > vt_rel * base.vte_ml)
            if bad.size:
                k = int(bad[0])
                inside = (t >= starts[k]) & (t < starts[k + 1]) & (f < -BREATH_FLOW_LPM)
                first = np.flatnonzero(inside)
                at = float(t[first[0]]) if first.size else float(starts[k])
                return at, (f"VTe {vte[k]:.0f} mL vs {base.vte_ml:.0f} mL before "
                            f"(out by > {vt_rel:.0%}): from that expiration")
        return None, f"no VT out of range seen: VTe within {vt_rel:.0%} of {base.vte_ml:.0f} mL"
    if condition in ("gas_supply_loss", "apnoea"):
        starts = breath_starts(t_s[t_s <= until_s], flow_lpm[t_s <= until_s])
        prior = starts[starts <= from_s]
        later = starts[starts > from_s]
        last = prior[-1] if prior.size else from_s
        for s in later:
            if s - last > 1.5 * base.period_s:
                break
            last = s
        due = last + base.period_s
        if due + 0.5 * base.period_s > until_s:  # breaths went on to the end of the window
            return None, f"no missed breath seen (period {base.period_s:.2f} s)"
        if condition == "gas_supply_loss":
            after = (t_s > due) & (t_s <= min(until_s, due + 2.0))
            if not (paw_cmh2o[after] < base.peep_cmh2o - 1.0).any():
                return None, "breaths stopped but paw stayed at PEEP: not a loss of gas supply"
        return float(due), f"the breath due {base.period_s:.2f} s after the last one did not come"
    if condition == "mains_loss":
        return None, "loss of mains has no flow/pressure signature: onset from the rig's relay event"
    raise ValueError(f"unknown alarm condition {condition!r} (expected one of {', '.join(CONDITIONS)})")


def sound_onset(t_s: np.ndarray, level_db: np.ndarray, background: tuple[float, float],
                from_s: float, until_s: float, *, margin_db: float = 10.0,
                min_on_s: float = 0.05) -> tuple[float | None, str]:
    """First moment in [``from_s``, ``until_s``] the level stays ≥ ``min_on_s`` above the
    background (median over ``background``) + max(``margin_db``, 6 robust σ), s."""
    bg = (t_s >= background[0]) & (t_s < background[1])
    if bg.sum() < 10:
        return None, "no background sound level before the condition"
    med = median(level_db[bg])
    sigma = 1.4826 * median(np.abs(level_db[bg] - med))
    level = med + max(margin_db, 6.0 * sigma)
    if np.mean(level_db[bg] > level) > 0.01:
        return None, f"a tone above {level:.1f} dB was already sounding before the condition"
    sel = np.flatnonzero((t_s >= from_s) & (t_s <= until_s))
    a, b = _runs(level_db[sel] > level)
    dt = median(np.diff(t_s)) if t_s.size > 1 else 0.0
    ok = (b - a) * dt >= min_on_s
    if ok.any():
        return float(t_s[sel][a[ok][0]]), f"sound above {level:.1f} dB (background {med:.1f} dB)"
    return None, f"no sound above {level:.1f} dB (background {med:.1f} dB)"


def event_onset(events: list[dict], from_s: float, until_s: float, code: int = 4) -> float | None:
    """Time, s, of the first EVENT ``code`` (4: the device's alarm output on) in the window."""
    times = [e["t_s"] for e in events if e.get("code") == code and from_s <= e["t_s"] <= until_s]
    return min(times) if times else None


def recovery(t_s, flow_lpm, paw_cmh2o, base: Baseline, released_s: float, until_s: float) -> float | None:
    """Start, s, of the first whole breath after ``released_s`` with PIP and PEEP back
    within max(2 cmH2O, 20 % of the driving pressure) of the baseline; None if none."""
    sel = (t_s >= released_s) & (t_s <= until_s)
    t, f, p = t_s[sel], flow_lpm[sel], paw_cmh2o[sel]
    starts = breath_starts(t, f)
    tol = max(2.0, 0.2 * (base.pip_cmh2o - base.peep_cmh2o))
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        seg = (t >= a) & (t < b)
        if (abs(p[seg].max() - base.pip_cmh2o) <= tol and abs(np.percentile(p[seg], 5) - base.peep_cmh2o) <= tol):
            return float(a)
    return None


def delay_components(dt_s: float, detection: str, response_s: float = 0.0) -> list[dict]:
    """GUM components of the delay, s (all Type B, rectangular)."""
    comps = [{"name": "condition onset: sample interval", "type": "B", "u": dt_s / math.sqrt(12.0),
              "source": f"sample interval {dt_s * 1e3:.3g} ms"}]
    if detection == "sound":
        comps.append({"name": "alarm onset: sample interval", "type": "B", "u": dt_s / math.sqrt(12.0),
                      "source": f"sample interval {dt_s * 1e3:.3g} ms"})
        if response_s > 0:
            comps.append({"name": "sound-level meter response", "type": "B", "u": response_s / math.sqrt(3.0),
                          "source": f"declared response time {response_s:g} s"})
    elif detection == "keypress":
        comps.append({"name": "operator reaction time", "type": "B", "u": REACTION_U_S,
                      "source": "0–0.5 s rectangular, not corrected [laboratory]"})
    return comps


def judge(*, id: str, condition: str, induced_s: float | None, condition_s: float | None,
          condition_how: str, alarm_s: float | None, limit_s: float, window_s: float,
          detection: str, components: list[dict], released_s: float | None = None,
          recovered_s: float | None = None, must_recover: bool = True,
          recovery_window_s: float = 30.0, data_whole: bool = True, limit: dict | None = None) -> AlarmResult:
    """The verdict of one alarm test (delay = alarm − condition onset, s).

    INCONCLUSIVE when the condition was not seen (``condition_how`` says why) or the data
    around it is not whole, or the alarm came before the condition was seen; FAIL when no
    alarm came within ``window_s``, the delay exceeds ``limit_s``, or the device had to
    recover and did not within ``recovery_window_s`` of ``released_s``; else PASS.
    """
    u = math.sqrt(sum(c["u"] ** 2 for c in components)) if components else 0.0
    common = dict(id=id, condition=condition, induced_s=induced_s, condition_s=condition_s,
                  alarm_s=alarm_s, limit_s=limit_s, detection=detection, window_s=window_s,
                  components=tuple(components), released_s=released_s, recovered_s=recovered_s,
                  must_recover=must_recover, limit=dict(limit or {}))
    if induced_s is not None and condition_s is not None:
        common["induced_vs_data_s"] = condition_s - induced_s
    if condition_s is None:
        return AlarmResult(delay_s=None, verdict="INCONCLUSIVE", reason=f"condition not seen in the data: {condition_how}", **common)
    if not data_whole:
        return AlarmResult(delay_s=None, verdict="INCONCLUSIVE",
                           reason="data not whole around the condition (gap, fault or saturation)", **common)
    if alarm_s is None:
        return AlarmResult(delay_s=None, verdict="FAIL",
                           reason=f"no alarm within the {window_s:g} s window after the condition", **common)
    delay = alarm_s - condition_s
    common.update(delay_s=delay, u_delay_s=u, U_delay_s=2.0 * u)
    if delay < -2.0 * u - 1e-9:
        return AlarmResult(verdict="INCONCLUSIVE", reason=f"alarm {-delay:.3f} s before the condition was seen in the data", **common)
    if delay > limit_s:
        return AlarmResult(verdict="FAIL", reason=f"alarm delay {delay:.3f} s > limit {limit_s:g} s", **common)
    if must_recover and released_s is not None and (recovered_s is None or recovered_s - released_s > recovery_window_s):
        return AlarmResult(verdict="FAIL", reason=f"ventilation did not recover within {recovery_window_s:g} s "
                                                  f"after the condition was removed", **common)
    return AlarmResult(verdict="PASS", **common)
