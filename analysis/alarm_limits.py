"""Alarm delay limits as data: ``analysis/data/alarm-limits.toml`` (source and confidence).

A limit is the longest allowed delay from the alarm condition (as seen in the data) to the
alarm, s. Conditions the standards data gives no number for (VT out of range, loss of mains,
apnoea) take the protocol's own ``limit_s``, tagged ``laboratory``: "limit set by the
laboratory, not from a standard". A protocol's ``limit_s`` for a condition that has a
standard number overrides it and is tagged ``laboratory`` too, naming the number it replaced.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ventbench.analysis.alarms import CONDITIONS
from ventbench.analysis.tolerance import CONFIDENCES
from ventbench.errors import ConfigError

WHERE = "analysis/data/alarm-limits.toml"


@dataclass(frozen=True)
class AlarmLimit:
    """Longest allowed alarm delay, s, with its source and confidence tag."""

    condition: str
    delay_s: float
    source: str
    confidence: str  #: confirmed | consistent | unconfirmed | laboratory

    def to_json(self) -> dict[str, Any]:
        return {"abs": self.delay_s, "unit": "s", "source": self.source, "confidence": self.confidence}


def parse_alarm_limits(data: dict[str, Any], where: str = WHERE) -> dict[str, AlarmLimit]:
    """Validate a parsed alarm-limits document; ConfigError naming ``where`` and the key."""
    head = data.get("alarm_limits")
    if not isinstance(head, dict):
        raise ConfigError(f"{where}: [alarm_limits]: missing table")
    out = {}
    for cond, raw in head.items():
        if cond in ("id", "title"):
            continue
        key = f"alarm_limits.{cond}"
        if cond not in CONDITIONS:
            raise ConfigError(f"{where}: {key}: unknown condition (expected one of {', '.join(CONDITIONS)})")
        if not isinstance(raw, dict) or set(raw) - {"delay_s", "source", "confidence"}:
            raise ConfigError(f"{where}: {key}: expected a table with delay_s, source, confidence")
        delay = raw.get("delay_s")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not math.isfinite(delay) or delay <= 0:
            raise ConfigError(f"{where}: {key}.delay_s: expected a number > 0, found {delay!r}")
        if raw.get("confidence") not in CONFIDENCES:
            raise ConfigError(f"{where}: {key}.confidence: expected one of {', '.join(CONFIDENCES)}")
        if not isinstance(raw.get("source"), str) or not raw["source"].strip():
            raise ConfigError(f"{where}: {key}.source: missing")
        out[cond] = AlarmLimit(cond, float(delay), raw["source"].strip(), raw["confidence"])
    return out


def builtin_alarm_limits() -> dict[str, AlarmLimit]:
    """The built-in alarm limits by condition."""
    text = resources.files("ventbench.analysis").joinpath("data", "alarm-limits.toml").read_text("utf-8")
    return parse_alarm_limits(tomllib.loads(text))


def resolve_limit(condition: str, protocol_limit_s: float | None, where: str) -> AlarmLimit:
    """The limit an alarm test is judged against (see module docstring); ConfigError when
    neither the standards data nor the protocol (``where``) gives one."""
    standard = builtin_alarm_limits().get(condition)
    if protocol_limit_s is None:
        if standard is None:
            raise ConfigError(f"{where}: limit_s: missing (no standard limit for {condition!r} in {WHERE}; "
                              "the protocol must give the laboratory's)")
        return standard
    replaced = f"; replaces {standard.delay_s:g} s of: {standard.source}" if standard else ""
    return AlarmLimit(condition, float(protocol_limit_s),
                      f"Laboratory's limit, set in the protocol ({where}){replaced}", "laboratory")
