"""ventbench: a test-bench harness for prototype mechanical ventilators.

The installed package holds three layers, each importing only the ones below it::

    ventbench.bench     sessions, protocols, the CLI, storage, reports
    ventbench.drivers   bytes <-> samples: ports, instrument protocols, captures, importers
    ventbench.analysis  pure numpy/scipy: traces in, numbers and verdicts out
    ventbench (core)    version, error hierarchy, exit codes, units: imports nothing of ours

This module is the core's front door; it imports nothing heavy so that ``ventbench --help``
starts fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ventbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
