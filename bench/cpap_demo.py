"""The CPAP demo's simulated device: ``ventbench demo --cpap`` (the ``cpap`` protocol on ``sim://cpap``).

Its defect is a believable one for an entrainment device: at high flow the oxygen injector
cannot keep up, so the delivered FiO2 is 4 vol % low at flows ≥ 80 L/min — the three
120 L/min cells of the oxygen-available table FAIL, everything else PASSes.
"""

from __future__ import annotations

from ventbench.bench.operator import Defect, Prototype

#: the simulated CPAP rig: device time as fast as it is read
CPAP_DEMO_PORT = "sim://cpap?speed=max&step_ms=2000"
CPAP_DEMO_PROTOCOL = "cpap"


def cpap_demo_prototype() -> Prototype:
    """A CPAP prototype whose FiO2 is 4 % low at flows ≥ 80 L/min (the seeded defect)."""
    return Prototype(
        name="OpenCPAP-1 (simulated prototype)",
        serial="C1-0007",
        firmware="ocpap-fw 0.4.1",
        imperfections={},
        defects=(Defect(
            "O2 injector starves at high flow: FiO2 4 vol % low at ≥ 80 L/min",
            lambda settings, lung: float(settings.get("flow_lpm", 0.0)) >= 80.0,
            {"fio2_low_pct": 4.0, "fio2_low_above_lpm": 80.0},
        ),),
    )
