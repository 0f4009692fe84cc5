"""Draw the figures of docs/segmentation.md.

- docs/segmentation-levels.png: adaptive detection levels on a neonatal trace: ISO
  80601-2-12 Table 201.104 row 20 (VT 5 mL, 30 bpm, Ti 0.4 s, C 0.5 mL/hPa, R 200 hPa s/L)
  simulated at 200 Hz with 0.3 L/min flow noise; the adult preset's thresholds for
  comparison (they find no breath).
- docs/segmentation-trigger.png: a patient-triggered and a double-triggered breath from the
  effort simulator, with the effort start, the delivery start and the truth.

Usage::

    .venv/bin/python docs/segmentation_figure.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ventbench.analysis.segment import SegmentationSettings  # noqa: E402
from ventbench.analysis.stream import analyze_breaths  # noqa: E402
from ventbench.drivers.sim import Lung, SensorModel, VentilatorSettings, simulate  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "segmentation-levels.png"
OUT_TRIGGER = HERE / "segmentation-trigger.png"


def trigger_figure() -> None:
    from ventbench.drivers.sim.effort import PatientEffort, simulate_efforts

    res = simulate_efforts(
        VentilatorSettings("vc", vt_ml=500, rate_bpm=12, ti_s=1.0, peep_cmh2o=5), Lung(50, 5),
        PatientEffort(rate_bpm=20, depth_cmh2o=15.0, duration_s=2.2, rise_fraction=0.7),
        SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05), duration_s=12.0, fs_hz=1000)
    tr = res.trace
    breaths = analyze_breaths(tr).breaths
    w = (tr.t_s >= 3.9) & (tr.t_s < 8.6)
    fig, (ax_f, ax_p) = plt.subplots(2, 1, figsize=(8.0, 4.6), dpi=110, sharex=True)
    ax_f.plot(tr.t_s[w], tr.flow_lpm[w], color="C0", lw=0.8)
    ax_p.plot(tr.t_s[w], tr.paw_cmh2o[w], color="C1", lw=0.8)
    for b in breaths:
        if not 3.9 <= b.t_start_s < 8.6:
            continue
        for ax in (ax_f, ax_p):
            ax.axvline(b.t_start_s, color="k", lw=0.9)
            if b.t_effort_s == b.t_effort_s:
                ax.axvline(b.t_effort_s, color="C2", lw=0.9, ls="--")
        label = ", ".join(b.flags) or "mandatory"
        ax_f.text(b.t_start_s + 0.03, 36, label, fontsize=7)
    for t in res.truth:
        if 3.9 <= t.t_start_s < 8.6:
            ax_f.plot([t.t_start_s], [-62], marker="^", color="C4", ms=6)
    ax_f.set_ylim(-70, 45)
    ax_f.set_ylabel("flow, L/min")
    ax_p.set_ylabel("Paw, cmH2O")
    ax_p.set_xlabel("time, s")
    ax_f.set_title("Effort start (dashed), delivery start = t_start_s (solid), true delivery start (▲)",
                   fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT_TRIGGER, metadata={"Software": None})
    print(f"wrote {OUT_TRIGGER}")


def main() -> int:
    trigger_figure()
    res = simulate(VentilatorSettings("vc", vt_ml=5, rate_bpm=30, ti_s=0.4, peep_cmh2o=5),
                   Lung(0.5, 200), sensors=SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05),
                   n_breaths=12, fs_hz=200, seed=4)
    tr = res.trace
    auto = analyze_breaths(tr)
    adult = analyze_breaths(tr, SegmentationSettings.preset("adult"))
    seg, lv = auto.segmentation, auto.levels
    h = max(0, int(round(seg.smoothing_s * 200 / 2)))
    sm = np.convolve(tr.flow_lpm, np.ones(2 * h + 1) / (2 * h + 1), mode="same")
    w = (tr.t_s >= 10.0) & (tr.t_s < 14.0)
    fig, ax = plt.subplots(figsize=(8.0, 3.6), dpi=110)
    ax.plot(tr.t_s[w], tr.flow_lpm[w], color="0.75", lw=0.6, label="flow (raw, σ = 0.3 L/min)")
    ax.plot(tr.t_s[w], sm[w], color="C0", lw=1.2, label=f"detection flow ({seg.smoothing_s * 1000:.0f} ms mean)")
    ax.axhline(seg.insp_threshold_lpm, color="C2", lw=1, ls="--",
               label=f"adaptive thresholds {seg.insp_threshold_lpm:.2f} / {seg.exp_threshold_lpm:.2f} L/min")
    ax.axhline(seg.exp_threshold_lpm, color="C2", lw=1, ls="--")
    ax.axhspan(lv.median_lpm - lv.noise_floor_lpm, lv.median_lpm + lv.noise_floor_lpm, color="C1", alpha=0.15,
               label=f"noise floor ±{lv.noise_floor_lpm:.2f} L/min")
    ax.axhline(3.0, color="C3", lw=1, ls=":", label=f"adult preset +3 L/min ({len(adult.breaths)} breaths found)")
    for b in auto.breaths:
        if 10.0 <= b.t_start_s < 14.0:
            ax.axvline(b.t_start_s, color="k", lw=0.8)
    for t in res.truth:
        if 10.0 <= t.t_start_s < 14.0:
            ax.plot([t.t_start_s], [-2.4], marker="^", color="C4", ms=6)
    ax.set_ylim(-2.6, 3.3)
    ax.set_xlabel("time, s")
    ax.set_ylabel("flow, L/min")
    ax.set_title(f"Row 20 (VT 5 mL, 30 bpm, Ti 0.4 s) at 200 Hz: {len(auto.breaths)} of {len(res.truth)} "
                 "breaths found without a preset", fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    ax.text(10.02, -2.25, "▲ true start   │ found start", fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT, metadata={"Software": None})
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
