"""ventbench: a test-bench harness for prototype mechanical ventilators.

The installed package holds three layers, each importing only the ones below it::

    ventbench.bench     sessions, protocols, the CLI, storage, reports
    ventbench.drivers   bytes <-> samples: ports, instrument protocols, captures, importers
    ventbench.analysis  pure numpy/scipy: traces in, numbers and verdicts out
    ventbench (core)    version, error hierarchy, exit codes, units: imports nothing of ours

This module is the core's front door; it imports nothing heavy so that ``ventbench --help``
starts fast.
"""

#: The release; the wheel's metadata takes it from here (pyproject.toml: dynamic version), so
#: reading it costs nothing (importlib.metadata would cost ~30 ms on every command).
__version__ = "0.1.0"
