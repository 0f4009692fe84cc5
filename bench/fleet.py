"""Fleet views of the history: each check's error over the units of a production line.

A *unit* is a device serial number. Per protocol × quantity, from every unit's latest
session (its current state):

- ``yield``: the share of units whose checks of that quantity all PASS (INCONCLUSIVE and
  FAIL do not pass; INFO-only quantities have no yield);
- the distribution of the units' worst absolute error (``max_abs_error`` over the points
  of the session, in the quantity's unit): median, 90th percentile, maximum;
- the worst units (largest error first).

Drift between firmware versions uses every session: per firmware (in order of first
appearance) the mean signed error (mean − set) over units, each unit weighted once (its
mean over its sessions on that firmware), and its change from the first firmware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Units of the error of each quantity (as judged: analysis/checks.py).
QUANTITY_UNITS = {"vt": "mL", "vti": "mL", "vte": "mL", "mv": "L/min", "peep": "cmH2O",
                  "pinsp": "cmH2O", "pip": "cmH2O", "pplat": "cmH2O", "pmean": "cmH2O",
                  "rate": "bpm", "ti": "s", "ie": "", "fio2": "%", "flow": "L/min"}
NO_SERIAL = "(no serial)"


@dataclass(frozen=True)
class QuantityFleet:
    """One protocol × quantity over the fleet (errors in :attr:`unit`)."""

    protocol: str
    quantity: str
    unit: str
    units: int
    passing: int
    judged: int  # units with at least one PASS/FAIL/INCONCLUSIVE check (yield denominator)
    error_by_unit: dict[str, float]  # serial → worst |error| of its latest session
    median_abs_error: float | None
    p90_abs_error: float | None
    max_abs_error: float | None
    worst: list[tuple[str, float]]

    @property
    def yield_fraction(self) -> float | None:
        return None if not self.judged else self.passing / self.judged


@dataclass(frozen=True)
class FirmwareDrift:
    """Mean signed error of a quantity on one firmware, and its change from the first."""

    protocol: str
    quantity: str
    firmware: str
    units: int
    mean_error: float | None
    drift: float | None
    errors_by_unit: dict[str, float]  # serial → worst |error| on this firmware


def fleet_rows(db: Any, device: str | None = None, protocol: str | None = None
               ) -> list[dict[str, Any]]:
    """Every check row joined with its session's unit, firmware and date."""
    import sqlalchemy as sa

    from ventbench.bench.history import _filters, _target
    from ventbench.bench.history_store import checks, sessions, transaction

    s, c = sessions.c, checks.c
    query = (sa.select(s.session_id, s.protocol, s.serial, s.firmware, s.started_utc, c.point_id,
                       c.quantity, c.mean_error, c.max_abs_error, c.verdict)
             .select_from(checks.join(sessions, s.session_id == c.session_id))
             .where(*_filters(sessions, device, protocol))
             .order_by(s.started_utc, s.session_id))
    with transaction(_target(db)) as con:
        return [dict(r._mapping) for r in con.execute(query)]


def summarise(rows: list[dict[str, Any]]) -> tuple[list[QuantityFleet], list[FirmwareDrift]]:
    """The fleet tables of :func:`fleet_rows` output (see the module docstring).

    One pass over the rows of each protocol × quantity (dictionaries keyed by unit and by
    firmware), so 10 000 sessions × 40 checks take about a second, not minutes.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        row["unit"] = row["serial"] or NO_SERIAL
        groups.setdefault((row["protocol"] or "—", row["quantity"]), []).append(row)
    fleets, drifts = [], []
    for (protocol, quantity), group in sorted(groups.items()):
        latest: dict[str, str] = {}
        for row in group:  # rows are in time order: the last session seen is the latest
            latest[row["unit"]] = row["session_id"]
        current = [r for r in group if latest[r["unit"]] == r["session_id"]]
        errors, verdicts = _per_unit(current)
        judged = {u for u, v in verdicts.items() if v & {"PASS", "FAIL", "INCONCLUSIVE"}}
        passing = {u for u in judged if verdicts[u] <= {"PASS", "INFO"}}
        values = np.array([e for e in errors.values() if np.isfinite(e)])
        worst = sorted(((u, e) for u, e in errors.items() if np.isfinite(e)),
                       key=lambda x: (-x[1], x[0]))[:3]
        fleets.append(QuantityFleet(
            protocol, quantity, QUANTITY_UNITS.get(quantity, ""), len(latest), len(passing),
            len(judged), errors,
            float(np.median(values)) if values.size else None,
            float(np.percentile(values, 90)) if values.size else None,
            float(values.max()) if values.size else None, worst))
        drifts += _drift(protocol, quantity, group)
    return fleets, drifts


def _per_unit(rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, set[str]]]:
    """Per unit (in order of first row): the worst |error| (NaN if none) and its verdicts."""
    errors: dict[str, float] = {}
    verdicts: dict[str, set[str]] = {}
    for row in rows:
        unit, value = row["unit"], row["max_abs_error"]
        value = math.nan if value is None else abs(float(value))
        old = errors.get(unit, math.nan)
        errors[unit] = value if math.isnan(old) else (old if math.isnan(value) else max(old, value))
        verdicts.setdefault(unit, set()).add(str(row["verdict"]))
    return errors, verdicts


def _drift(protocol: str, quantity: str, rows: list[dict[str, Any]]) -> list[FirmwareDrift]:
    """Per firmware (order of first appearance): units, the mean over units of each unit's
    mean signed error (NaN-free units only), its change from the first firmware with a mean,
    and each unit's worst |error|. Rows are split by firmware and unit in one pass."""
    by_fw: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_fw.setdefault(row["firmware"] or "—", []).append(row)
    out, first = [], None
    for fw, on_fw in by_fw.items():
        signed_by_unit: dict[str, list[float]] = {}
        for r in on_fw:
            signed_by_unit.setdefault(r["unit"], []).append(
                np.nan if r["mean_error"] is None else float(r["mean_error"]))
        units = sorted(signed_by_unit)
        signed = (np.array(signed_by_unit[u], dtype=float) for u in units)
        unit_means = np.array([np.nanmean(v) for v in signed if np.isfinite(v).any()])
        mean = float(unit_means.mean()) if unit_means.size else None
        if first is None and mean is not None:
            first = mean
        errors, _ = _per_unit(on_fw)
        out.append(FirmwareDrift(protocol, quantity, fw, len(units), mean,
                                 None if mean is None or first is None else mean - first, errors))
    return out


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def fleet_tables(fleets: list[QuantityFleet], drifts: list[FirmwareDrift]
                 ) -> tuple[tuple[tuple[str, ...], list[tuple[str, ...]]], ...]:
    """(header, rows) of the terminal tables: the fleet per quantity, then the drift."""
    head = ("protocol", "quantity", "unit", "units", "yield", "median|err|", "p90|err|",
            "max|err|", "worst units")
    rows = [(f.protocol, f.quantity, f.unit or "—", str(f.units),
             "—" if f.yield_fraction is None
             else f"{100 * f.yield_fraction:.1f} % ({f.passing}/{f.judged})",
             _fmt(f.median_abs_error), _fmt(f.p90_abs_error), _fmt(f.max_abs_error),
             ", ".join(f"{u} ({e:.3g})" for u, e in f.worst) or "—") for f in fleets]
    dhead = ("protocol", "quantity", "firmware", "units", "mean err", "drift vs first")
    drows = [(d.protocol, d.quantity, d.firmware, str(d.units), _fmt(d.mean_error),
              "—" if d.drift is None else f"{d.drift:+.3g}") for d in drifts]
    return (head, rows), (dhead, drows)


def write_fleet_pdf(path: Path, fleets: list[QuantityFleet], drifts: list[FirmwareDrift],
                    title: str) -> Path:
    """A fleet report: one page per protocol × quantity (error distribution over units,
    per-firmware box plot of unit errors with the mean signed error)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(path, metadata={"Title": title, "Creator": "ventbench history --fleet-pdf"}) as pdf:
        for f in fleets:
            fig, (left, right) = plt.subplots(1, 2, figsize=(11.69, 8.27))
            unit = f" ({f.unit})" if f.unit else ""
            values = np.array([e for e in f.error_by_unit.values() if np.isfinite(e)])
            yield_text = "—" if f.yield_fraction is None else f"{100 * f.yield_fraction:.1f} %"
            fig.suptitle(f"{title} — {f.protocol}: {f.quantity}   units {f.units}, "
                         f"yield {yield_text}")
            if values.size:
                left.hist(values, bins=min(30, max(5, values.size // 2)), color="#4477aa")
            left.set_xlabel(f"worst |error| of the unit's latest session{unit}")
            left.set_ylabel("units")
            for serial, err in f.worst:
                left.annotate(serial, (err, 0), xytext=(0, 12), textcoords="offset points",
                              rotation=90, fontsize=7, ha="center")
            mine = [d for d in drifts if d.protocol == f.protocol and d.quantity == f.quantity]
            data = [[e for e in d.errors_by_unit.values() if np.isfinite(e)] or [np.nan]
                    for d in mine]
            if mine:
                right.boxplot(data, tick_labels=[d.firmware for d in mine])
                twin = right.twinx()
                twin.plot(range(1, len(mine) + 1),
                          [np.nan if d.mean_error is None else d.mean_error for d in mine],
                          "o-", color="#cc6677", label="mean signed error")
                twin.set_ylabel(f"mean signed error over units{unit}", color="#cc6677")
            right.set_xlabel("firmware (order of first appearance)")
            right.set_ylabel(f"|error| per unit{unit}")
            fig.tight_layout(rect=(0, 0, 1, 0.95))
            pdf.savefig(fig)
            plt.close(fig)
        if not fleets:
            fig = plt.figure(figsize=(11.69, 8.27))
            fig.text(0.5, 0.5, "no checks in the history", ha="center")
            pdf.savefig(fig)
            plt.close(fig)
    return path
