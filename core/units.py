"""Unit conversion constants. Values are exact by definition unless noted.

Names say both units: ``HPA_PER_CMH2O`` multiplies a value in cmH2O to give hPa.
"""

from __future__ import annotations

#: 1 cmH2O (conventional, 4 °C water, standard gravity) = 98.0665 Pa.
HPA_PER_CMH2O = 0.980665
#: 1 mmHg = 133.322387415 Pa.
HPA_PER_MMHG = 1.33322387415
HPA_PER_KPA = 10.0
HPA_PER_MBAR = 1.0
CMH2O_PER_HPA = 1.0 / HPA_PER_CMH2O
CMH2O_PER_MMHG = HPA_PER_MMHG / HPA_PER_CMH2O
CMH2O_PER_KPA = HPA_PER_KPA / HPA_PER_CMH2O
#: L/min -> mL/s
ML_PER_S_PER_LPM = 1000.0 / 60.0
LPM_PER_LPS = 60.0
KELVIN_AT_0_DEGC = 273.15
#: ISO 80601 / physiology convention: standard atmosphere.
P_STANDARD_HPA = 1013.25

#: Pressure units we read, as the factor to cmH2O.
PRESSURE_TO_CMH2O = {
    "cmh2o": 1.0,
    "hpa": CMH2O_PER_HPA,
    "mbar": CMH2O_PER_HPA,
    "mmhg": CMH2O_PER_MMHG,
    "kpa": CMH2O_PER_KPA,
    "pa": CMH2O_PER_HPA / 100.0,
}
#: Flow units we read, as the factor to L/min.
FLOW_TO_LPM = {
    "l/min": 1.0,
    "lpm": 1.0,
    "slpm": 1.0,
    "l/s": LPM_PER_LPS,
    "ml/s": LPM_PER_LPS / 1000.0,
    "ml/min": 1.0 / 1000.0,
}


def pressure_factor_to_cmh2o(unit: str) -> float:
    """Return the factor converting ``unit`` to cmH2O; raises KeyError naming the unit."""
    key = unit.strip().lower().replace(" ", "")
    if key not in PRESSURE_TO_CMH2O:
        raise KeyError(f"unknown pressure unit {unit!r} (known: {', '.join(PRESSURE_TO_CMH2O)})")
    return PRESSURE_TO_CMH2O[key]


def flow_factor_to_lpm(unit: str) -> float:
    """Return the factor converting ``unit`` to L/min; raises KeyError naming the unit."""
    key = unit.strip().lower().replace(" ", "")
    if key not in FLOW_TO_LPM:
        raise KeyError(f"unknown flow unit {unit!r} (known: {', '.join(FLOW_TO_LPM)})")
    return FLOW_TO_LPM[key]
