"""The reliability analysis: uptime, breaths, limits, gaps, drift, variability, hourly trends.

Statistics use **every** stored breath (decimation is only ever done for plots). Breaths
with a flag (gap, fault, saturated, reset …) are counted but left out of the drift, CV and
hourly statistics, as their numbers are suspect.

Drift
    For each quantity, the ordinary-least-squares slope ``b`` of the per-breath values
    against run time, reported per 24 h, with the standard error
    ``se = sqrt(s² / Σ(t - t̄)²)`` where ``s²`` is the residual variance (n - 2 degrees of
    freedom). Breath-to-breath residuals are autocorrelated, which makes the plain ``se``
    too small; it is inflated by ``sqrt(n / n_eff)`` with ``n_eff = n (1 - r₁) / (1 + r₁)``
    (``r₁`` the lag-1 autocorrelation of the residuals, clipped to [0, 0.99]). The 95 %
    interval is ``b ± t(0.975, n_eff - 2) · se``. Verdict against the drift limit ``L``:
    PASS when the whole interval lies inside ±L, FAIL when it lies wholly outside, else
    INCONCLUSIVE; INCONCLUSIVE too when fewer than 3 h of run or 100 breaths are behind it.

Uptime
    ``100 × (span - data gaps) / span`` with ``span`` the run time covered (0 … the end of
    the last segment) and data gaps the disconnects' ``gap_s``, data stalls and
    interruptions (resume ``gap_s``). Sensor-fault time is reported separately.

Overall verdict: FAIL on any missed breath, out-of-limit run or drift FAIL; otherwise
INCONCLUSIVE when the run was shorter than its duration, had data gaps or sensor faults,
or a drift verdict is INCONCLUSIVE; otherwise PASS. Every reason is listed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import stdtrit

from ventbench.bench.reliability.config import QUANTITIES, ReliabilityConfig
from ventbench.bench.reliability.events import EVENTS_FILE, read_events
from ventbench.bench.reliability.oxygen import oxygen_block
from ventbench.bench.reliability.store import read_breaths
from ventbench.bench.reliability.store import trusted as is_trusted
from ventbench.bench.session import read_json

DAY_S = 86400.0
MIN_DRIFT_SPAN_S = 3600.0
MIN_DRIFT_BREATHS = 100
GAP_KINDS = {"reconnect": "gap_s", "data_stall": "duration_s", "segment_start": "gap_s"}


def _f(x: float, digits: int = 6) -> float | None:
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def drift(t_s: np.ndarray, y: np.ndarray, limit: float | None) -> dict[str, Any]:
    """OLS drift per 24 h with an autocorrelation-corrected 95 % interval (module docstring)."""
    ok = np.isfinite(y)
    t, y = t_s[ok].astype(np.float64), y[ok].astype(np.float64)
    n = t.size
    out: dict[str, Any] = {"n": int(n), "slope_per_24h": None, "se_per_24h": None,
                           "ci95_per_24h": None, "limit_per_24h": limit, "verdict": "INCONCLUSIVE"}
    if n < 3 or np.ptp(t) <= 0:
        out["reason"] = "fewer than 3 breaths"
        return out
    x = (t - t.mean()) / DAY_S
    sxx = float(np.dot(x, x))
    b = float(np.dot(x, y - y.mean()) / sxx)
    resid = y - y.mean() - b * x
    s2 = float(np.dot(resid, resid)) / (n - 2)
    r1 = float(np.dot(resid[1:], resid[:-1]) / np.dot(resid, resid)) if s2 > 0 else 0.0
    r1 = min(max(r1, 0.0), 0.99)
    n_eff = max(3.0, n * (1 - r1) / (1 + r1))
    se = math.sqrt(s2 / sxx * n / n_eff)
    half = float(stdtrit(n_eff - 2, 0.975)) * se  # scipy.stats.t.ppf's own routine, without scipy.stats' import
    out.update(slope_per_24h=_f(b), se_per_24h=_f(se), ci95_per_24h=[_f(b - half), _f(b + half)],
               lag1_autocorrelation=_f(r1, 4), n_eff=_f(n_eff, 1))
    if limit is None:
        out["verdict"] = "INFO"
    elif np.ptp(t) < MIN_DRIFT_SPAN_S or n < MIN_DRIFT_BREATHS:
        out["reason"] = f"less than {MIN_DRIFT_SPAN_S / 3600:g} h or {MIN_DRIFT_BREATHS} breaths"
    elif abs(b) + half <= limit:
        out["verdict"] = "PASS"
    elif abs(b) - half > limit:
        out["verdict"] = "FAIL"
    else:
        out["reason"] = "the 95 % interval straddles the limit"
    return out


def longest_run(mask: np.ndarray) -> tuple[int, int]:
    """Length and start index of the longest run of True in ``mask`` (0, -1 if none)."""
    if not mask.any():
        return 0, -1
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    i = int(np.argmax(ends - starts))
    return int(ends[i] - starts[i]), int(starts[i])


def hourly(t_s: np.ndarray, values: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per clock hour of run time: ``hour``, ``n`` and mean / min / max of each quantity."""
    if t_s.size == 0:
        return {"hour": [], "n": []}
    hour = np.floor(t_s / 3600.0).astype(np.int64)
    order = np.argsort(hour, kind="stable")
    h = hour[order]
    uniq, first, counts = np.unique(h, return_index=True, return_counts=True)
    out: dict[str, Any] = {"hour": uniq.tolist(), "n": counts.tolist()}
    for q, v in values.items():
        v = v[order].astype(np.float64)
        finite = np.isfinite(v)
        s = np.add.reduceat(np.where(finite, v, 0.0), first)
        c = np.add.reduceat(finite.astype(np.int64), first)
        lo = np.minimum.reduceat(np.where(finite, v, np.inf), first)
        hi = np.maximum.reduceat(np.where(finite, v, -np.inf), first)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s / c
        out[q] = {"mean": [_f(x, 4) for x in mean], "min": [_f(x, 4) for x in lo],
                  "max": [_f(x, 4) for x in hi]}
    return out


def reliability_block(rec: np.ndarray, events: list[dict[str, Any]], config: ReliabilityConfig,
                      dropped_bytes: int = 0) -> dict[str, Any]:
    """The ``reliability`` block of results.json (see module docstring)."""
    ends = [e["t_s"] for e in events if e["kind"] == "segment_end"]
    end_t = max([*ends, float(rec["t_end_s"][-1]) if len(rec) else 0.0])
    span = max(end_t, 1e-9)
    gaps = [(e["kind"], e["t_s"], float(e.get(GAP_KINDS[e["kind"]], 0.0)))
            for e in events if e["kind"] in GAP_KINDS and e.get(GAP_KINDS[e["kind"]])]
    gap_s = sum(g[2] for g in gaps)
    fault_s = sum(float(e.get("duration_s", 0.0)) for e in events if e["kind"] == "sensor_fault")
    longest = max(gaps, key=lambda g: g[2], default=None)
    trusted = is_trusted(rec["flags"]) if len(rec) else np.zeros(0, bool)
    t_ok = rec["t_start_s"][trusted]
    counts: dict[str, int] = {}
    for e in events:
        counts[e["kind"]] = counts.get(e["kind"], 0) + 1
    missed = sum(int(e.get("n_missed", 0)) for e in events if e["kind"] == "missed_breath")
    out_of_limit, drifts, cv = {}, {}, {}
    for q in QUANTITIES:
        vq = rec[q][trusted].astype(np.float64)
        if q in config.limits:  # judged on trusted breaths; runs over the trusted sequence
            lo, hi = config.limits[q]
            bad = np.isfinite(vq) & ((vq < lo) | (vq > hi))
            n_run, i_run = longest_run(bad)
            out_of_limit[q] = {"limit": [lo, hi], "breaths": int(bad.sum()), "longest_run_breaths": n_run,
                               "longest_run_t_s": None if i_run < 0 else _f(t_ok[i_run], 3)}
        drifts[q] = drift(t_ok, vq, config.drift_limit_per_24h.get(q))
        fin = vq[np.isfinite(vq)]
        mean = float(fin.mean()) if fin.size else math.nan
        sd = float(fin.std(ddof=1)) if fin.size > 1 else math.nan
        cv[q] = {"mean": _f(mean, 4), "sd": _f(sd, 4),
                 "cv_pct": _f(100 * sd / abs(mean), 4) if fin.size > 1 and mean else None}
    reasons_fail, reasons_inc = [], []
    if missed:
        reasons_fail.append(f"{missed} missed breath(s)")
    runs = counts.get("out_of_limit_run", 0)
    if runs:
        reasons_fail.append(f"{runs} out-of-limit run(s) of ≥ {config.run_breaths} breaths")
    reasons_fail += [f"{q} drift beyond ±{d['limit_per_24h']:g}/24 h" for q, d in drifts.items()
                     if d["verdict"] == "FAIL"]
    if end_t < config.duration_s - 2 * config.period_s:
        reasons_inc.append(f"ran {end_t / 3600:.2f} h of {config.duration_s / 3600:.2f} h")
    if gap_s > 0:
        reasons_inc.append(f"{gap_s:.1f} s without data")
    if fault_s > 0:
        reasons_inc.append(f"{fault_s:.1f} s of sensor faults")
    reasons_inc += [f"{q} drift: {d.get('reason', '')}" for q, d in drifts.items()
                    if d["verdict"] == "INCONCLUSIVE"]
    verdict = "FAIL" if reasons_fail else "INCONCLUSIVE" if reasons_inc else "PASS"
    return {
        "schema": "ventbench.reliability/1", "duration_s": config.duration_s, "span_s": _f(span, 3),
        "uptime_pct": _f(100.0 * (span - gap_s) / span, 4), "data_gap_s": _f(gap_s, 3),
        "sensor_fault_s": _f(fault_s, 3),
        "longest_gap": None if longest is None else {"kind": longest[0], "t_s": longest[1],
                                                     "duration_s": _f(longest[2], 3)},
        "breaths": {"total": len(rec), "trusted": int(trusted.sum()), "missed": missed,
                    "expected": int(round(span / config.period_s))},
        "out_of_limit": out_of_limit, "drift": drifts, "variability": cv,
        "hourly": hourly(t_ok, {q: rec[q][trusted] for q in QUANTITIES}),
        "events": counts, "segments": counts.get("segment_start", 0),
        "oxygen": oxygen_block(events, config.o2_channel, span),
        "store_dropped_bytes": dropped_bytes,
        "verdict": verdict, "reasons": reasons_fail + reasons_inc,
    }


def session_results(root: Path, data_dir: Path | None = None) -> dict[str, Any]:
    """results.json of a reliability session: the contract's top level (``schema``,
    ``software``, ``source``: the captures with SHA-256, ``gas``, ``points``: none,
    ``verdict``) and the ``reliability`` block.

    ``data_dir`` holds the store and events (default ``root/reliability``; a replay's
    output directory otherwise). ``gas`` states the flow condition the device reported
    and the factor to BTPS once when every segment agrees, else null with ``by_segment``.
    """
    from ventbench.bench.reliability.capture_parts import segment_parts
    from ventbench.bench.session import sha256_file, software_info

    root = Path(root)
    data = Path(data_dir) if data_dir is not None else root / "reliability"
    start = read_json(root / "start.json", "session start record")
    config = ReliabilityConfig.from_json(start["reliability"])
    rec, report = read_breaths(data)
    events = read_events(data / EVENTS_FILE)
    block = reliability_block(rec, events, config, report.dropped_bytes)
    conditions = {e["segment"]: (e["flow_condition"], e["btps_factor"])
                  for e in events if e["kind"] == "flow_condition"}
    agreed = set(conditions.values())
    amb = start.get("ambient") or {}
    gas = {"flow_condition": next(iter(agreed))[0] if len(agreed) == 1 else None,
           "analysis_condition": "BTPS", "t_amb_degc": amb.get("t_amb_degc"),
           "p_amb_hpa": amb.get("p_amb_hpa"), "rh_pct": amb.get("rh_pct"),
           "ambient_source": amb.get("source"),
           "btps_factor": next(iter(agreed))[1] if len(agreed) == 1 else None}
    if len(agreed) > 1:
        gas["by_segment"] = {str(k): {"flow_condition": c, "btps_factor": f}
                             for k, (c, f) in sorted(conditions.items())}
    points_dir = root / "points" / "reliability"
    files = [{"path": p.relative_to(root).as_posix(), "sha256": sha256_file(p), "format": "vbcap",
              "bytes": p.stat().st_size}
             for parts in segment_parts(points_dir).values() for p in parts]
    software = {k: v for k, v in software_info().items() if k in ("name", "version", "git_sha")}
    results = {"schema": "ventbench.results/1", "software": software,
               "source": {"session": start.get("session_id"), "files": files}, "gas": gas,
               "reliability": block, "points": [], "verdict": block["verdict"]}
    # instruments, environment, declaration: bench/reliability/evidence.py
    from ventbench.bench.reliability.evidence import apply_evidence

    return apply_evidence(results, root, start)
