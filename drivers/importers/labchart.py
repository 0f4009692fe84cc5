"""LabChart (AD Instruments) text export -> Trace.

Layout (one block)::

    Interval=	0.01 s
    ExcelDateTime=	4.4003156517691241e+004	6/21/2020 3:45:23.128523
    TimeFormat=	StartOfBlock
    DateFormat=
    ChannelTitle=	Flow	Pressure	Volume	Breath Rate	...
    Range=	20.000 L/s	5.000 mV	4.000 L	500.0000 BPM	...
    UnitName=	*	mmHg	*	*	...
    TopValue=	*	212.87	...
    BottomValue=	*	-213.32	...
    0	0.00751875	-0.06078862	7.522583e-005	NaN	...

A channel's unit is its ``UnitName=`` entry, or, where that is ``*``, the unit part of its
``Range=`` entry. Flow and airway pressure are the channels titled "Flow" and "Pressure"
(or the titles given); LabChart's own "Volume" and "Breath Rate" are kept as the extra
channels ``labchart_volume_l`` and ``labchart_rate_bpm``. A NaN flow or pressure flags
the sample :attr:`~analysis.trace.SampleFlag.GAP`.

Gas condition: LabChart spirometry flow is normally *not* BTPS-corrected, so the default
``flow_condition`` is ATPD at the default ambient (22 °C, 1013.25 hPa) — a stated
assumption carried in ``Trace.meta["flow_condition_source"]``; pass the real condition and
ambient when known.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.analysis.validity import ValidityLimits, time_axis_bad
from ventbench.errors import ConfigError, FrameError
from ventbench.units import flow_factor_to_lpm, pressure_factor_to_cmh2o

HEADER_KEYS = (
    "Interval",
    "ExcelDateTime",
    "TimeFormat",
    "DateFormat",
    "ChannelTitle",
    "Range",
    "UnitName",
    "TopValue",
    "BottomValue",
)
#: LabChart's own computed channels kept in the Trace: title -> (channel name, unit wanted).
EXTRA_CHANNELS = {"volume": ("labchart_volume_l", "l"), "breath rate": ("labchart_rate_bpm", "bpm")}
_VOLUME_TO_L = {"l": 1.0, "ml": 1e-3}


def _find_channel(titles: list[str], wanted: str, path: str) -> int:
    lower = [t.strip().lower() for t in titles]
    key = wanted.strip().lower()
    if key in lower:
        return lower.index(key)
    raise FrameError(
        f"{path}: no channel titled {wanted!r} in ChannelTitle= (found: {', '.join(titles)})"
    )


def _channel_unit(header: dict[str, list[str]], col: int) -> str:
    names = header.get("UnitName", [])
    name = names[col].strip() if col < len(names) else "*"
    if name and name != "*":
        return name
    ranges = header.get("Range", [])
    parts = ranges[col].split() if col < len(ranges) else []
    return parts[-1] if len(parts) >= 2 else ""


def read_labchart(
    path: str | os.PathLike,
    *,
    flow_unit: str | None = None,
    pressure_unit: str | None = None,
    flow_condition: GasCondition | str = GasCondition.ATPD,
    ambient: Ambient | None = None,
    flow_channel: str = "Flow",
    pressure_channel: str = "Pressure",
    skip_bad: bool = False,
    validity: ValidityLimits | bool | None = None,
) -> Trace:
    """Read a LabChart text export.

    Parameters
    ----------
    path : str or path-like
        The ``.txt`` export (tab-separated, one block).
    flow_unit, pressure_unit : str, optional
        Override the unit from the header when it is wrong (e.g. ``"L/s"``, ``"cmH2O"``).
    flow_condition : GasCondition or str
        Gas condition of the recorded flow; default ATPD (see module notes).
    ambient : Ambient, optional
        Ambient at the flow sensor; the defaults (22 °C, 1013.25 hPa) if omitted.
    flow_channel, pressure_channel : str
        Channel titles to use (case-insensitive).
    skip_bad : bool
        Skip malformed data lines instead of failing; their number is in
        ``meta["skipped_lines"]``.
    validity : ValidityLimits, optional
        Gap, stuck-sensor and range limits of the instrument
        (:mod:`analysis.validity`); the defaults when None, unchecked when False.

    Returns
    -------
    Trace
        Flow in L/min, pressure in cmH2O, time in s from the start of the block.

    Raises
    ------
    FrameError
        A malformed header or data line (naming the file and line), or a missing channel.
    ConfigError
        An unknown unit.
    """
    name = str(path)
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    header: dict[str, list[str]] = {}
    first = 0
    for first, line in enumerate(lines):  # noqa: B007 - header is a handful of lines
        key, sep, rest = line.partition("=")
        if not sep or key.strip() not in HEADER_KEYS:
            break
        header[key.strip()] = rest.split("\t")[1:] if rest.startswith("\t") else rest.split("\t")
    else:
        first = len(lines)
    if "ChannelTitle" not in header:
        raise FrameError(f"{name}: no ChannelTitle= line in the LabChart header (line 1..{first + 1})")
    titles = [t.strip() for t in header["ChannelTitle"]]
    n_fields = len(titles) + 1
    i_flow = _find_channel(titles, flow_channel, name)
    i_paw = _find_channel(titles, pressure_channel, name)
    try:
        f_flow = flow_factor_to_lpm(flow_unit or _channel_unit(header, i_flow))
        f_paw = pressure_factor_to_cmh2o(pressure_unit or _channel_unit(header, i_paw))
    except KeyError as exc:
        raise ConfigError(f"{name}: {exc.args[0]} (pass flow_unit= / pressure_unit= to override)") from None

    body = lines[first:]
    counts = np.fromiter((ln.count("\t") + 1 for ln in body), dtype=np.int64, count=len(body))
    good = counts == n_fields
    values = None
    if good.all():
        try:
            values = np.array("\t".join(body).split("\t"), dtype=np.float64).reshape(-1, n_fields)
        except ValueError:
            values = None
    if values is not None:
        line_no = np.arange(len(body)) + first + 1
    else:  # slow path: find the bad lines
        rows, kept = [], []
        for k, ln in enumerate(body):
            if not good[k]:
                reason = f"{counts[k]} fields, expected {n_fields}"
            else:
                try:
                    rows.append([float(x) for x in ln.split("\t")])
                    kept.append(first + k + 1)
                    continue
                except ValueError:
                    reason = "a value that is not a number"
            if not skip_bad:
                raise FrameError(f"{name}: line {first + k + 1}: {reason}: {ln[:80]!r}")
        values = np.array(rows, dtype=np.float64).reshape(-1, n_fields)
        line_no = np.array(kept, dtype=np.int64)
    skipped = len(body) - values.shape[0]

    t = values[:, 0]
    bad_t = time_axis_bad(t)
    if bad_t.any():
        k = int(np.flatnonzero(bad_t)[0])
        if not skip_bad:
            raise FrameError(
                f"{name}: line {int(line_no[k])}: time {float(t[k])!r} s is not finite or does not "
                f"increase; expected strictly increasing time"
            )
        # drop every line whose time is not above all before it
        keep = ~bad_t
        skipped += int((~keep).sum())
        values = values[keep]
        t = values[:, 0]

    flow = values[:, 1 + i_flow] * f_flow
    paw = values[:, 1 + i_paw] * f_paw
    flags = np.where(~np.isfinite(flow) | ~np.isfinite(paw), np.uint8(SampleFlag.GAP), np.uint8(0))
    channels = {}
    for col, title in enumerate(titles):
        extra = EXTRA_CHANNELS.get(title.lower())
        if extra is None:
            continue
        chan, _ = extra
        unit = _channel_unit(header, col).lower()
        factor = _VOLUME_TO_L.get(unit, 1.0) if chan.endswith("_l") else 1.0
        channels[chan] = values[:, 1 + col] * factor
    condition = GasCondition.parse(flow_condition) if isinstance(flow_condition, str) else flow_condition
    meta = {
        "format": "labchart",
        "source_path": name,
        "data_lines": int(values.shape[0]),
        "skipped_lines": int(skipped),
        "labchart_channels": titles,
        "labchart_interval": " ".join(header.get("Interval", [])).strip(),
        "labchart_excel_datetime": " ".join(header.get("ExcelDateTime", [])).strip(),
        "flow_unit": flow_unit or _channel_unit(header, i_flow),
        "pressure_unit": pressure_unit or _channel_unit(header, i_paw),
        "flow_condition_source": "user" if flow_condition != GasCondition.ATPD else "default (assumed ATPD)",
    }
    trace = Trace(t, flow, paw, condition, ambient or Ambient(), flags, channels, meta)
    return trace.validated(validity)

