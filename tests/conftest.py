"""Shared fixtures and options for the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
#: Real recordings live in ../shared/data next to the checkout and are copied into fixtures/.
LABCHART_RECORDING = FIXTURES / "respiraworks" / "respiraworks-2020-06-21-peep-control.labchart.txt"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--rig-url", default=None, help="URL of a real VBR/1 rig for tests/hardware")


@pytest.fixture
def rig_url(request: pytest.FixtureRequest) -> str:
    url = request.config.getoption("--rig-url")
    if not url:
        pytest.skip("needs a real rig: pass --rig-url")
    return url
