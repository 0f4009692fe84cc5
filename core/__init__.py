"""ventbench: a test-bench harness for prototype mechanical ventilators.

The installed package holds three layers, each importing only the ones below it::

    ventbench.bench     sessions, protocols, the CLI, storage, reports
    ventbench.drivers   bytes <-> samples: ports, instrument protocols, captures, importers
    ventbench.analysis  pure numpy/scipy: traces in, numbers and verdicts out
    ventbench (core)    version, error hierarchy, exit codes, units: imports nothing of ours

This module is the core's front door; it imports nothing heavy so that ``ventbench --help``
starts fast.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # The version is read from the installed metadata on first use only: importlib.metadata
    # costs ~40 ms, most of a ``--help``.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("ventbench")
    except PackageNotFoundError:  # running from a source tree that is not installed
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value
