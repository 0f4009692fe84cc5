"""The device under test must be identified for a PASS (issue 14): a laboratory can only
state that *this* device conforms when the record says which device it was.

:func:`apply_identity` turns each PASS point into INCONCLUSIVE with the reason "device not
identified: no serial, firmware" when ``start.json``'s ``dut`` lacks its model (``name``),
serial number or firmware version. A FAIL stays a FAIL (the device tested failed, whichever
it was). It is called by :func:`bench.conditions.apply_conditions`, so ``run``, ``replay``
and ``verify`` derive the same verdicts and the PDF reads them from ``results.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["IDENTITY_FIELDS", "apply_identity", "identity_problem", "missing_identity"]

#: The ``dut`` fields a PASS needs, and their names in the reason: model, serial, firmware.
IDENTITY_FIELDS = (("name", "model"), ("serial", "serial"), ("firmware", "firmware"))
REASON = "device not identified: no {missing}"


def missing_identity(dut: Mapping[str, Any] | None) -> list[str]:
    """The identity fields ("model", "serial", "firmware") the device record lacks."""
    dut = dut or {}
    return [label for key, label in IDENTITY_FIELDS if not str(dut.get(key) or "").strip()]


def identity_problem(dut: Mapping[str, Any] | None) -> str | None:
    """The reason a PASS is withheld ("device not identified: no serial, firmware"), or None."""
    missing = missing_identity(dut)
    return REASON.format(missing=", ".join(missing)) if missing else None


def apply_identity(points: list[dict[str, Any]], start: Mapping[str, Any]) -> str | None:
    """PASS → INCONCLUSIVE (in place) for every point when the device is not identified.

    Returns the problem (also appended to each changed point's ``reason`` and ``conditions``),
    or None when the device is identified.
    """
    problem = identity_problem(start.get("dut"))
    if problem is None:
        return None
    for point in points:
        if point.get("verdict") != "PASS":
            continue
        point["verdict_data"] = "PASS"
        point["verdict"] = "INCONCLUSIVE"
        point["conditions"] = [*(point.get("conditions") or []), problem]
        point["reason"] = "; ".join(filter(None, [point.get("reason"), problem]))
    return problem
