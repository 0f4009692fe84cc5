"""The one grammar of command-line values: argparse ``type=`` functions and their parsers.

Every command takes durations, numbers, ``KEY=VALUE`` pairs, ambient conditions and port
URLs through the functions here, so ``record --duration 1m30s`` and ``run reliability
--duration 1d12h`` mean the same thing and a bad value is refused the same way: as an
argparse usage error naming the option (``argument --duration: …``, exit 3).

Two layers:

- ``parse_*`` functions take text and raise :class:`~ventbench.errors.ConfigError` (also
  used for TOML values, e.g. a reliability protocol's ``duration``);
- the ``type=`` functions (:func:`duration`, :func:`number`, :func:`key_value`,
  :func:`port_url`, …) wrap them for argparse, which turns their
  :class:`argparse.ArgumentTypeError` into the usage error.

Nothing here imports numpy: ``ventbench --help`` builds every parser with it.
"""

from __future__ import annotations

import argparse
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ventbench.errors import ConfigError

#: Duration units → seconds. ``m`` is minutes; ``ms`` and ``us`` are sub-second.
DURATION_UNITS_S: Mapping[str, float] = {
    "d": 86400.0, "h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(d|h|min|ms|us|m|s)?")

#: Ambient conditions accepted at the sensor (the ranges :class:`analysis.gas.Ambient` takes).
T_AMB_RANGE_DEGC = (-40.0, 60.0)
P_AMB_RANGE_HPA = (500.0, 1200.0)
RH_RANGE_PCT = (0.0, 100.0)


def parse_duration_s(text: str | float, *, allow_zero: bool = False) -> float:
    """Seconds from a duration with any combination of units.

    Parameters
    ----------
    text : str or float
        ``"90"`` (seconds), ``"90s"``, ``"1m30s"``, ``"1d12h"``, ``"250ms"``, ``"1.5h"``;
        a number is taken as seconds. Units: d, h, m or min, s, ms, us, each at most once,
        largest first.
    allow_zero : bool
        Accept 0 (e.g. a timeout that means "never"); negative values never.

    Returns
    -------
    float
        The duration, s (finite).

    Raises
    ------
    ConfigError
        Not a duration, a unit repeated or out of order, ``inf``/``nan``, negative, or zero
        where ``allow_zero`` is False; the message shows what was found.
    """
    expected = ("expected a duration such as 90s, 1m30s, 15m, 24h, 1d12h or 250ms "
                "(units d, h, m, s, ms, us)")
    if isinstance(text, bool):
        raise ConfigError(f"duration {text!r}: {expected}")
    if isinstance(text, int | float):
        total = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        if not s:
            raise ConfigError(f"duration {text!r}: {expected}")
        total, pos, last_unit_s = 0.0, 0, math.inf
        while pos < len(s):
            m = _DURATION_PART.match(s, pos)
            if m is None:
                raise ConfigError(f"duration {text!r}: {expected}")
            unit_s = DURATION_UNITS_S[m.group(2) or "s"]
            if m.group(2) is None and pos > 0 or not unit_s < last_unit_s:
                raise ConfigError(f"duration {text!r}: units must each appear once, largest "
                                  f"first (e.g. 1d12h, 1m30s)")
            total += float(m.group(1)) * unit_s
            last_unit_s, pos = unit_s, m.end()
    if not math.isfinite(total):
        raise ConfigError(f"duration {text!r}: expected a finite duration")
    if total < 0 or (total == 0 and not allow_zero):
        raise ConfigError(f"duration {text!r}: expected a {'non-negative' if allow_zero else 'positive'} duration")
    return total


def parse_number(text: str | float, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, integer: bool = False, what: str = "value") -> float:
    """A finite number within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``).

    Raises
    ------
    ConfigError
        Not a number, not finite, not an integer when ``integer``, or out of range; the
        message names ``what`` and the range.
    """
    try:
        if isinstance(text, bool):
            raise ValueError
        value = float(text) if not integer else _int(text)
    except (TypeError, ValueError):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{what} {text!r}: expected {kind}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{what} {text!r}: expected a finite number")
    below = lo is not None and (value <= lo if lo_open else value < lo)
    if below or (hi is not None and value > hi):
        raise ConfigError(f"{what} {text!r}: expected {_range_text(lo, hi, lo_open)}")
    return value


def _int(text: str | float) -> int:
    if isinstance(text, float):
        if not text.is_integer():
            raise ValueError
        return int(text)
    return int(str(text).strip())


def _range_text(lo: float | None, hi: float | None, lo_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"{lo:g} {'<' if lo_open else '≤'} value ≤ {hi:g}"
    if lo is not None:
        return f"{'>' if lo_open else '≥'} {lo:g}"
    return f"≤ {hi:g}" if hi is not None else "a number"


def parse_key_value(text: str, *, keys: Iterable[str] | None = None,
                    value: Callable[[str], Any] | None = None,
                    what: str = "value") -> tuple[str, Any]:
    """``"k=v"`` → ``(k, value(v))``; ConfigError naming the pair.

    ``keys``: the known keys (an unknown one is refused with the list); ``value``: a
    converter applied to the text after ``=`` (its ConfigError is prefixed with the key).
    """
    key, sep, raw = str(text).partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ConfigError(f"{text!r}: expected KEY=VALUE")
    if keys is not None:
        known = list(keys)
        if key not in known:
            raise ConfigError(f"{text!r}: unknown key {key!r} (known: {', '.join(known)})")
    if value is None:
        return key, raw
    try:
        return key, value(raw)
    except (ConfigError, argparse.ArgumentTypeError) as error:
        raise ConfigError(f"{text!r}: {error}") from None


def parse_interval(text: str, what: str = "interval") -> tuple[float, float]:
    """``"MIN:MAX"`` → ``(min, max)``, finite, min ≤ max; ConfigError otherwise."""
    lo_text, sep, hi_text = str(text).partition(":")
    if not sep:
        raise ConfigError(f"{what} {text!r}: expected MIN:MAX")
    lo = parse_number(lo_text, what=f"{what} minimum")
    hi = parse_number(hi_text, what=f"{what} maximum")
    if not lo <= hi:
        raise ConfigError(f"{what} {text!r}: expected MIN ≤ MAX")
    return lo, hi


def parse_port_url(text: str) -> str:
    """A port: a device path or a URL pyserial or our handlers open.

    ``sim://`` URLs are checked completely here (device known, every query key known,
    values typed: :func:`drivers.urlhandler.protocol_sim.check_sim_url`), so that a
    configuration mistake is a usage error and not a device error found later.
    """
    url = str(text).strip()
    if not url:
        raise ConfigError("expected a device path or URL (/dev/ttyUSB0, sim://rig, socket://host:port)")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "sim":
        from ventbench.drivers.urlhandler.protocol_sim import check_sim_url

        check_sim_url(url)
    return url


def parse_clock(text: str) -> str | float:
    """``host`` | ``device`` | a finite offset in s (``record --clock``)."""
    if text in ("host", "device"):
        return text
    try:
        return parse_number(text)
    except ConfigError:
        raise ConfigError(f"{text!r}: expected host, device or an offset in seconds") from None


def as_dict(pairs: Iterable[tuple[str, Any]] | None) -> dict[str, Any]:
    """``[(k, v), …]`` (an ``action="append"`` of :func:`key_value`) → dict, last one wins."""
    return dict(pairs or ())


# -- argparse type= functions --------------------------------------------------------------
def _typed(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = name  # argparse names the type in "invalid <name> value"
    return convert


def duration(text: str) -> float:
    """argparse type: a positive duration, s (see :func:`parse_duration_s`)."""
    return _typed(parse_duration_s, "duration")(text)


def number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           integer: bool = False) -> Callable[[str], float]:
    """argparse type factory: a finite number (an int with ``integer``) in range."""
    def parse(text: str) -> Any:
        value = parse_number(text, lo=lo, hi=hi, lo_open=lo_open, integer=integer)
        return int(value) if integer else value

    return _typed(parse, "integer" if integer else "number")


def positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    return number(0.0, lo_open=True)(text)


def count(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    return number(1, integer=True)(text)


def key_value(keys: Iterable[str] | None = None,
              value: Callable[[str], Any] | None = None) -> Callable[[str], tuple[str, Any]]:
    """argparse type factory: ``KEY=VALUE`` → ``(key, value)``; use with ``action="append"``
    and :func:`as_dict`. ``keys`` restricts the keys, ``value`` converts the value."""
    known = None if keys is None else tuple(keys)
    return _typed(lambda text: parse_key_value(text, keys=known, value=value), "KEY=VALUE")


def interval(text: str) -> tuple[float, float]:
    """``value=`` converter for ``Q=MIN:MAX`` options (see :func:`parse_interval`)."""
    return parse_interval(text)


def finite(text: str) -> float:
    """``value=`` converter: any finite number."""
    return parse_number(text)


def clock(text: str) -> str | float:
    """argparse type: ``host``, ``device`` or an offset in s (see :func:`parse_clock`)."""
    return _typed(parse_clock, "clock")(text)


def port_url(text: str) -> str:
    """argparse type: a port path or URL (``sim://`` checked, see :func:`parse_port_url`)."""
    return _typed(parse_port_url, "URL")(text)


t_amb_degc = number(*T_AMB_RANGE_DEGC)
t_amb_degc.__doc__ = "argparse type: ambient temperature, °C (-40 … 60)."
p_amb_hpa = number(*P_AMB_RANGE_HPA)
p_amb_hpa.__doc__ = "argparse type: ambient absolute pressure, hPa (500 … 1200)."
rh_pct = number(*RH_RANGE_PCT)
rh_pct.__doc__ = "argparse type: relative humidity, % (0 … 100)."


def add_ambient_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """``--t-amb``, ``--p-amb`` and ``--rh`` (run, demo, reliability runs)."""
    parser.add_argument("--t-amb", type=t_amb_degc, default=None, metavar="DEGC",
                        help="ambient temperature, °C (default 22, marked 'default')")
    parser.add_argument("--p-amb", type=p_amb_hpa, default=None, metavar="HPA",
                        help="ambient pressure, hPa (default 1013.25)")
    parser.add_argument("--rh", type=rh_pct, default=None, metavar="PCT",
                        help="ambient relative humidity, %%")


#: Ambient quantities ``--env NAME=VALUE`` takes (:data:`bench.environment.QUANTITIES`,
#: repeated so that ``--help`` loads nothing heavy; a test checks they are equal).
ENV_QUANTITIES = ("t_amb_degc", "rh_pct", "p_amb_hpa", "mains_v", "mains_hz")


def add_evidence_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """The laboratory's evidence (run, demo): instrument register, device declaration,
    decision rule, traceability override, ambient values at the start and end (read by
    :func:`bench.evidence.evidence_from_args`)."""
    from ventbench.analysis.vocabulary import DECISION_RULES

    parser.add_argument("--instruments", type=Path, default=None, metavar="FILE",
                        help="instrument register (TOML): identity, certificates, uncertainties")
    parser.add_argument("--declaration", type=Path, default=None, metavar="FILE",
                        help="device declaration (TOML): identity and the manufacturer's declared "
                             "accuracy, the first source of limits")
    parser.add_argument("--decision-rule", choices=DECISION_RULES, default=None,
                        help="ILAC-G8 decision rule (default: the protocol's)")
    parser.add_argument("--traceability-override", default="", metavar="REASON",
                        help="accept an expired or mismatching certificate; the reason is recorded")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help=f"ambient value at the start ({', '.join(ENV_QUANTITIES)}), repeatable")
    parser.add_argument("--env-end", action="append", default=[], metavar="NAME=VALUE",
                        help="ambient value at the end of the session, repeatable")


def ambient_from_args(args: argparse.Namespace) -> Any:
    """The :class:`analysis.gas.Ambient` of ``--t-amb/--p-amb/--rh`` (source "user" when any
    is given, else the defaults with source "default")."""
    from ventbench.analysis.gas import Ambient

    given = [v for v in (args.t_amb, args.p_amb, args.rh) if v is not None]
    base = Ambient()
    return Ambient(
        t_amb_degc=base.t_amb_degc if args.t_amb is None else args.t_amb,
        p_amb_hpa=base.p_amb_hpa if args.p_amb is None else args.p_amb,
        rh_pct=base.rh_pct if args.rh is None else args.rh,
        source="user" if given else "default",
    )
