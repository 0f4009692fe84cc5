"""Gas conditions of a flow or volume, and the factors between them (STANDARDS.md §4).

A volume of gas depends on the temperature, pressure and humidity it is stated at. The
amount of *dry* gas is what a conversion conserves, so for two conditions a and b::

    V_b = V_a * (T_b / T_a) * (P_dry_a / P_dry_b),     P_dry = P - P_H2O

where P_H2O is zero for a dry condition, the saturation pressure at T for a saturated one,
and, for BTPS, the conventional 47 mmHg (6.266 kPa) of body temperature [unconfirmed clause,
standard physiology]. The saturation pressure at other temperatures uses the Buck (1996)
equation over water, accurate to 0.05 % between 0 and 50 °C:

    P_H2O(T) = 6.1121 hPa * exp((18.678 - T/234.5) * T / (257.14 + T)),  T in °C.

At 22 °C, 1013.25 hPa and dry gas, BTPS/ATPD = 1.120 (1.108 at 25 °C, the figure STANDARDS.md
quotes): an unconverted reading is about 11 % low — most of a 15 % tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from ventbench.errors import ConfigError
from ventbench.units import HPA_PER_MMHG, KELVIN_AT_0_DEGC, P_STANDARD_HPA

#: Water-vapour pressure of BTPS by convention: 47 mmHg.
P_H2O_BTPS_HPA = 47.0 * HPA_PER_MMHG
T_BODY_DEGC = 37.0


class GasCondition(StrEnum):
    """Reference condition of a flow or volume.

    ATPD / ATPS: ambient temperature and pressure, dry / saturated. BTPS: 37 °C, ambient
    pressure, saturated. STPD: 0 °C, 1013.25 hPa, dry. STP20 / STP21: 20 °C / 21.1 °C,
    1013.25 hPa, dry (Sensirion SFM3x00 / TSI "standard" litres).
    """

    ATPD = "ATPD"
    ATPS = "ATPS"
    BTPS = "BTPS"
    STPD = "STPD"
    STP20 = "STP20"
    STP21 = "STP21"

    @classmethod
    def parse(cls, text: str) -> GasCondition:
        """Parse a condition name (case-insensitive); raise ConfigError naming the value."""
        key = str(text).strip().upper()
        try:
            return cls(key)
        except ValueError:
            known = ", ".join(c.value for c in cls)
            raise ConfigError(f"unknown gas condition {text!r}: expected one of {known}") from None


@dataclass(frozen=True)
class Ambient:
    """Ambient conditions at the flow sensor.

    Parameters
    ----------
    t_amb_degc : float
        Ambient (gas) temperature, °C.
    p_amb_hpa : float
        Ambient absolute pressure, hPa.
    rh_pct : float
        Relative humidity of the ambient gas, %; used only for the ATP (as-is) condition.
    source : str
        Where the values came from ("measured", "default", "user", a channel name).
    """

    t_amb_degc: float = 22.0
    p_amb_hpa: float = P_STANDARD_HPA
    rh_pct: float = 0.0
    source: str = "default"

    def __post_init__(self) -> None:
        if not (-40.0 <= self.t_amb_degc <= 60.0):
            raise ConfigError(f"ambient temperature {self.t_amb_degc} °C outside -40…60 °C")
        if not (500.0 <= self.p_amb_hpa <= 1200.0):
            raise ConfigError(f"ambient pressure {self.p_amb_hpa} hPa outside 500…1200 hPa")
        if not (0.0 <= self.rh_pct <= 100.0):
            raise ConfigError(f"relative humidity {self.rh_pct} % outside 0…100 %")


def water_vapour_pressure_hpa(t_degc: float) -> float:
    """Saturation pressure of water vapour over water, hPa (Buck 1996).

    Parameters
    ----------
    t_degc : float
        Temperature, °C (valid about -40…60 °C).
    """
    return 6.1121 * math.exp((18.678 - t_degc / 234.5) * t_degc / (257.14 + t_degc))


def _state(condition: GasCondition, ambient: Ambient) -> tuple[float, float]:
    """Return (absolute temperature K, dry-gas partial pressure hPa) of a condition."""
    t_amb_k = ambient.t_amb_degc + KELVIN_AT_0_DEGC
    p = ambient.p_amb_hpa
    match condition:
        case GasCondition.ATPD:
            return t_amb_k, p
        case GasCondition.ATPS:
            return t_amb_k, p - water_vapour_pressure_hpa(ambient.t_amb_degc)
        case GasCondition.BTPS:
            return T_BODY_DEGC + KELVIN_AT_0_DEGC, p - P_H2O_BTPS_HPA
        case GasCondition.STPD:
            return KELVIN_AT_0_DEGC, P_STANDARD_HPA
        case GasCondition.STP20:
            return 20.0 + KELVIN_AT_0_DEGC, P_STANDARD_HPA
        case GasCondition.STP21:
            return 21.1 + KELVIN_AT_0_DEGC, P_STANDARD_HPA
    raise ConfigError(f"unknown gas condition {condition!r}")  # pragma: no cover


def conversion_factor(
    source: GasCondition | str, target: GasCondition | str, ambient: Ambient
) -> float:
    """Factor that turns a volume (or flow) stated at ``source`` into one at ``target``.

    Parameters
    ----------
    source, target : GasCondition or str
        Conditions; strings are parsed case-insensitively.
    ambient : Ambient
        Ambient temperature and pressure at the sensor.

    Returns
    -------
    float
        Dimensionless factor: ``volume_target = factor * volume_source``.

    Examples
    --------
    >>> round(conversion_factor("ATPD", "BTPS", Ambient(25.0, 1013.25)), 3)
    1.109
    """
    src = source if isinstance(source, GasCondition) else GasCondition.parse(source)
    dst = target if isinstance(target, GasCondition) else GasCondition.parse(target)
    t_src_k, p_dry_src = _state(src, ambient)
    t_dst_k, p_dry_dst = _state(dst, ambient)
    return (t_dst_k / t_src_k) * (p_dry_src / p_dry_dst)
