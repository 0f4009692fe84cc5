"""Paths shared by the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
#: Real recordings live in ../shared/data next to the checkout and are copied into fixtures/.
LABCHART_RECORDING = FIXTURES / "respiraworks" / "respiraworks-2020-06-21-peep-control.labchart.txt"


@pytest.fixture(scope="session", autouse=True)
def demo_key_folder(tmp_path_factory):
    """``ventbench demo`` signs with a per-user key (bench/demo_signing.py): the tests' demos,
    in this process and the ones it starts, use one made in the test run's temporary folder."""
    folder = tmp_path_factory.getbasetemp() / "demo-key"
    old = os.environ.get("VENTBENCH_DEMO_KEY")
    os.environ["VENTBENCH_DEMO_KEY"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("VENTBENCH_DEMO_KEY", None)
    else:
        os.environ["VENTBENCH_DEMO_KEY"] = old
