"""Protocol files: which points to run, with which settings, lung and checks, judged how.

A protocol is a TOML file (DESIGN.md "Protocol files"); the built-ins live in
``bench/protocols/``. Layout::

    [protocol]
    id = "iso80601-2-12-vc"
    title = "…"
    standard = "ISO 80601-2-12:2020 Table 201.104 …"
    limits = "iso80601-2-12"            # built-in limit set, or a limits file (relative to this file)
    measure_breaths = 30
    criterion = "every-breath"          # or "mean"
    decision_rule = "simple"            # or "guarded" (ILAC-G8 guard band w = U; --decision-rule)
    source = "where the table comes from"
    notes = ["…"]

    [protocol.environment]              # allowed ambient ranges (bench.environment): out of range
    t_amb_degc = [15, 35]               # at start or end → every verdict INCONCLUSIVE
    rh_pct = [30, 75]

    [protocol.settle]
    breaths = 10                        # skip at least this many breaths
    steady_k = 5                        # optional steady-state test (analysis.checks.SteadyState)
    steady_tol_pct = 2.0
    steady_field = "vti_ml"

    [groups.adult]
    title = "…"
    segmentation = "auto"               # auto (default: levels from the signal) | adult | paediatric | neonatal

    [[points]]
    id = "vc-01"
    row = 1                             # row of the standard's table, if any
    mode = "vc"                         # vc | pc
    group = "adult"
    checks = ["vt", "peep", "rate", "ti"]
    set = { vt_ml = 500, rate_bpm = 20, ti_s = 1.0, peep_cmh2o = 5, fio2_pct = 30 }
    lung = { c_ml_per_hpa = 50, r_hpa_s_per_l = 5, leak_ml_min = 0 }
    expect = { vt_ml = 500 }            # informative targets that are not settings (PC rows)
    note = "doubts about this row are data too"

Units are in the key names and are checked: ``vt_l`` is rejected as a wrong unit, not
ignored. Errors name the file, the line (as best found) and the key.

This module loads protocols (built-in by name, or a file by path); the data model
(:class:`Protocol`, :class:`Point`, :class:`Group`, the key vocabularies) is
:mod:`bench.protocol_model` and the TOML parsing and validation
(:func:`parse_protocol`) is :mod:`bench.protocol_toml`. Every public name is importable
from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from importlib import resources
from pathlib import Path

from ventbench.bench.protocol_model import (
    LUNG_KEYS,
    MODES,
    REQUIRED_LUNG,
    REQUIRED_SET,
    SEGMENTATION_PRESETS,
    SET_KEYS,
    Group,
    Point,
    Protocol,
)
from ventbench.bench.protocol_toml import parse_protocol
from ventbench.errors import ConfigError

__all__ = [
    "LUNG_KEYS",
    "MODES",
    "REQUIRED_LUNG",
    "REQUIRED_SET",
    "SEGMENTATION_PRESETS",
    "SET_KEYS",
    "Group",
    "Point",
    "Protocol",
    "builtin_protocol_names",
    "builtin_protocols",
    "load_protocol",
    "parse_protocol",
]


def _builtin_dir():
    return resources.files("ventbench.bench").joinpath("protocols")


def builtin_protocol_names() -> tuple[str, ...]:
    """Names of the built-in protocols (file stems under bench/protocols/), sorted."""
    return tuple(sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".toml")))


def builtin_protocols() -> dict[str, Protocol]:
    """Every built-in protocol, loaded, by name (sorted)."""
    return {name: load_protocol(name) for name in builtin_protocol_names()}


def load_protocol(name_or_path: str | Path) -> Protocol:
    """Load a built-in protocol by name ("iso80601-2-12-vc" …) or a protocol file by path.

    The SHA-256 is of the file's bytes as read (``Protocol.sha256``).

    Raises
    ------
    ConfigError
        Unknown name or missing file, invalid TOML (with its line), or invalid content —
        the message names the file, the line and the key.
    """
    name = str(name_or_path)
    path = Path(name_or_path)
    if name in builtin_protocol_names() and not path.suffix:
        resource = _builtin_dir().joinpath(f"{name}.toml")
        data, where, base_dir = resource.read_bytes(), f"bench/protocols/{name}.toml", None
    elif path.is_file():
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read protocol file: {exc}") from None
        where, base_dir = str(path), path.parent
    else:
        raise ConfigError(f"protocol {name!r}: not a built-in ({', '.join(builtin_protocol_names())}) "
                          f"and no such file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text: {exc}") from None
    protocol = parse_protocol(text, where, base_dir)
    return replace(protocol, sha256=hashlib.sha256(data).hexdigest())
