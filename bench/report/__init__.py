"""Certification-grade PDF reports of a session: :func:`render`, :func:`build_pages`,
:func:`embedded_results_sha256` (defined in :mod:`bench.report.pdf`).

The names are loaded on first use (PEP 562), so that importing a light part of the package
(the message catalogues' :data:`LANGUAGES` for ``ventbench report --help``) does not import
matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from ventbench.bench.report.i18n import LANGUAGES

__all__ = ["LANGUAGES", "REPORT_FILE", "build_pages", "embedded_results_sha256", "render"]

_FROM_PDF = ("REPORT_FILE", "META_KEY", "CREATOR", "PRODUCER", "build_pages", "render",
             "embedded_results_sha256")


def __getattr__(name: str) -> Any:
    if name not in _FROM_PDF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("ventbench.bench.report.pdf"), name)
    globals()[name] = value
    return value
