"""Write a trace as a ventMAP / Puritan Bennett 840 breath file (the format read by
:mod:`drivers.importers.ventmap` and by the ventMAP package).

Used to hand the same recording to ventbench and to a peer tool (``benchmarks/peer_ventmap.py``)
and to test the reader on simulator output. Layout: an optional time-stamp line, then per
breath ``BS, S:<n>,``, one ``flow, pressure`` row per sample (L/min, cmH2O, two decimals as the
PB840 prints them) and ``BE``; samples before the first breath start are written between
breaths (outside any ``BS``/``BE``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_ventmap(path: str | os.PathLike, flow_lpm: np.ndarray, paw_cmh2o: np.ndarray,
                  breath_starts: np.ndarray, *, first_number: int = 1,
                  stamp: str | None = "2026-01-01-00-00-00.000000") -> Path:
    """Write rows of flow and pressure split into breaths at ``breath_starts``.

    Parameters
    ----------
    path : path-like
        File to write (replaced).
    flow_lpm, paw_cmh2o : ndarray
        One value per 20 ms row: flow, L/min; airway pressure, cmH2O.
    breath_starts : ndarray of int
        Increasing row indices where a breath starts; each breath runs to the next start
        (the last to the end of the data).
    first_number : int
        Ventilator breath number ``S:n`` of the first breath.
    stamp : str or None
        Time-stamp line written first (ventMAP's ``YYYY-MM-DD-hh-mm-ss.ffffff``); None for none.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    flow = np.asarray(flow_lpm, dtype=np.float64)
    paw = np.asarray(paw_cmh2o, dtype=np.float64)
    starts = np.asarray(breath_starts, dtype=np.int64)
    if flow.shape != paw.shape or flow.ndim != 1:
        raise ValueError("flow_lpm and paw_cmh2o must be 1-D arrays of one length")
    if starts.size and (np.any(np.diff(starts) <= 0) or starts[0] < 0 or starts[-1] >= flow.size):
        raise ValueError("breath_starts must be increasing row indices inside the data")
    rows = np.char.add(np.char.add(np.char.mod("%.2f", flow), ", "), np.char.mod("%.2f", paw))
    parts: list[str] = [] if stamp is None else [stamp]
    bounds = [*starts.tolist(), flow.size]
    if not starts.size or starts[0] > 0:
        parts.extend(rows[: bounds[0] if starts.size else flow.size].tolist())
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        parts.append(f"BS, S:{first_number + k},")
        parts.extend(rows[a:b].tolist())
        parts.append("BE")
    path.write_text("\n".join(parts) + "\n", encoding="ascii")
    return path
