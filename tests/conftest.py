"""Paths shared by the test suite."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
#: Real recordings live in ../shared/data next to the checkout and are copied into fixtures/.
LABCHART_RECORDING = FIXTURES / "respiraworks" / "respiraworks-2020-06-21-peep-control.labchart.txt"
