"""The operator: the person (or program) who sets up each point and says "go".

Two operators share one small interface (:class:`Operator`):

- :class:`TerminalOperator` asks on the terminal before each point: Enter = go, ``s`` =
  skip (the point is recorded as NOT TESTED), ``r`` = redo the previous point, ``a`` =
  abort the session; anything else is a note, recorded with the point, and the question is
  asked again. End of input (a closed stdin) is an abort: a session never runs on unattended
  because nobody answered.
- :class:`AutomatedOperator` sets the point up itself on a simulated (or programmable)
  setup: it turns the point's ventilator settings and lung into query parameters of the
  ``sim://`` URL the point is recorded from, so the simulated ventilator and lung are
  exactly what the protocol asks for. A :class:`Prototype` adds the device's own
  imperfections — the demo's defect lives there.
"""

from __future__ import annotations

import enum
import math
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO


class Decision(enum.Enum):
    GO = "go"
    SKIP = "skip"
    REDO = "redo"
    ABORT = "abort"


@dataclass(frozen=True)
class Answer:
    """What the operator decided for a point, with any notes typed before deciding."""

    decision: Decision
    notes: tuple[str, ...] = ()
    reason: str = ""


class Operator(Protocol):
    """What the runner needs from an operator."""

    name: str
    kind: str  #: "terminal" | "automated" | "scripted"

    def ask(self, point: Any, index: int, total: int, can_redo: bool) -> Answer:
        """Decide what to do with ``point`` (the index-th of ``total``)."""

    def port_url(self, point: Any, url: str) -> str:
        """The URL to record ``point`` from (the session's port, or one configured for it)."""


PROMPT = "Set up as above, then Enter = go, s = skip, r = redo previous, a = abort, or type a note: "


class TerminalOperator:
    """A person at the terminal (or a script feeding stdin / a pty).

    Parameters
    ----------
    name : str
        The operator's name, recorded in ``start.json``.
    stdin, stdout : text files
        Where answers come from and where prompts go.
    """

    kind = "terminal"

    def __init__(self, name: str, stdin: TextIO, stdout: TextIO) -> None:
        self.name = name
        self.stdin = stdin
        self.stdout = stdout

    def ask(self, point: Any, index: int, total: int, can_redo: bool) -> Answer:
        notes: list[str] = []
        while True:
            self.stdout.write(PROMPT)
            self.stdout.flush()
            line = self.stdin.readline()
            if line == "":
                self.stdout.write("\n")
                return Answer(Decision.ABORT, tuple(notes), "operator input closed (end of file)")
            text = line.strip()
            key = text.lower()
            if key == "":
                return Answer(Decision.GO, tuple(notes))
            if key in ("s", "skip"):
                return Answer(Decision.SKIP, tuple(notes), "skipped by the operator")
            if key in ("a", "abort", "q"):
                return Answer(Decision.ABORT, tuple(notes), "aborted by the operator")
            if key in ("r", "redo"):
                if can_redo:
                    return Answer(Decision.REDO, tuple(notes), "redo requested by the operator")
                self.stdout.write("  nothing to redo yet\n")
                continue
            notes.append(text)
            self.stdout.write(f"  note recorded: {text}\n")

    def port_url(self, point: Any, url: str) -> str:
        return url


# -- automated operator -------------------------------------------------------------------
#: Settings and lung keys passed on to the simulated device, in the device's names.
SIM_SETTING_KEYS = ("vt_ml", "rate_bpm", "ti_s", "peep_cmh2o", "dp_cmh2o", "fio2_pct",
                    "pause_s", "rise_time_s", "flow_pattern",
                    "flow_lpm", "cpap_cmh2o", "supply_bar")  # steady points (sim://cpap)
SIM_LUNG_KEYS = ("c_ml_per_hpa", "r_hpa_s_per_l", "leak_ml_min",
                 "patient_rate_bpm", "patient_peak_lpm")  # the breathing patient (sim://cpap)


@dataclass(frozen=True)
class Defect:
    """A realistic defect of a prototype: ``imperfections`` applied when ``applies`` says so.

    ``imperfections`` are query parameters of the simulated device (``peep_offset_cmh2o``,
    ``vt_gain_pct`` …, see :class:`drivers.sim.ventilator.Imperfections`).
    """

    description: str
    applies: Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
    imperfections: Mapping[str, float]


@dataclass(frozen=True)
class Prototype:
    """A simulated device under test: name, firmware, everyday imperfections and defects."""

    name: str = "simulated prototype"
    serial: str = "SIM-0001"
    firmware: str = "sim-fw 1.0"
    imperfections: Mapping[str, float] = field(default_factory=dict)
    defects: tuple[Defect, ...] = ()
    #: query parameters of ``sim://rig`` for alarm tests (bench.alarm_session.alarm_url)
    alarm_params: Mapping[str, str] = field(default_factory=dict)
    #: inspection items this device fails (item id → the inspector's note); the automated
    #: operator passes every other item (bench.inspection)
    inspection_failures: Mapping[str, str] = field(default_factory=dict)

    def params(self, settings: Mapping[str, Any], lung: Mapping[str, Any]) -> dict[str, float]:
        """Imperfection parameters in force for a point with these settings and lung."""
        out = dict(self.imperfections)
        for defect in self.defects:
            if defect.applies(settings, lung):
                for key, value in defect.imperfections.items():
                    out[key] = out.get(key, 0.0) + value
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for ``start.json``."""
        return {"name": self.name, "serial": self.serial, "firmware": self.firmware,
                "simulated": True, "imperfections": dict(self.imperfections),
                "defects": [{"description": d.description, "imperfections": dict(d.imperfections)}
                            for d in self.defects]}


def _text(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


class AutomatedOperator:
    """Applies each point's settings to the simulated ventilator and lung itself.

    Parameters
    ----------
    prototype : Prototype
        The simulated device under test and its imperfections.
    name : str
        Recorded as the operator.
    seed : int
        Base seed; point ``k`` (1-based) records with seed ``seed + k`` so each point's
        noise is independent and reproducible.
    """

    kind = "automated"

    def __init__(self, prototype: Prototype | None = None, name: str = "automated operator",
                 seed: int = 1) -> None:
        self.prototype = prototype or Prototype()
        self.name = name
        self.seed = seed
        self._count = 0

    def ask(self, point: Any, index: int, total: int, can_redo: bool) -> Answer:
        self._count = index
        return Answer(Decision.GO)

    def sim_params(self, point: Any) -> dict[str, str]:
        """Query parameters that make the simulated device what ``point`` asks for."""
        settings = dict(point.set)
        lung = dict(point.lung)
        params: dict[str, str] = {"mode": str(point.mode)}
        for key in SIM_SETTING_KEYS:
            if key in settings and settings[key] is not None:
                params[key] = _text(settings[key])
        for key in SIM_LUNG_KEYS:
            if key in lung and lung[key] is not None:
                params[key] = _text(lung[key])
        for key, value in self.prototype.params(settings, lung).items():
            params[key] = _text(value)
        params["seed"] = str(self.seed + self._count)
        return params

    def port_url(self, point: Any, url: str) -> str:
        """``url`` with the point's settings in its query (only for ``sim://`` URLs)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() != "sim":
            return url
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        query.update(self.sim_params(point))
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def demo_prototype() -> Prototype:
    """The demo's prototype: small everyday errors, and PEEP 3 cmH2O low when R ≥ 50.

    The defect is a believable one: a PEEP valve whose set point sags when the expiratory
    flow is slow (a high-resistance lung), so every R = 50 hPa/(L/s) row fails on PEEP.
    """
    return Prototype(
        name="OpenVent-P2 (simulated prototype)",
        serial="P2-0042",
        firmware="ov-fw 0.9.3",
        imperfections={"vt_gain_pct": 1.5, "vt_offset_ml": 2.0, "peep_offset_cmh2o": 0.3,
                       "rate_error_pct": 0.2, "period_jitter_s": 0.01},
        defects=(Defect(
            "PEEP valve sags 3 cmH2O with a high-resistance lung (R ≥ 50 hPa/(L/s))",
            lambda settings, lung: float(lung.get("r_hpa_s_per_l", 0.0)) >= 50.0,
            {"peep_offset_cmh2o": -3.0},
        ),),
        # its alarm system: the disconnection alarm sounds 20 s late (docs/alarms.md)
        alarm_params={"alarms": "1", "alarm_late": "disconnect:20"},
    )
