"""Pure numpy/scipy analysis: traces in, numbers and verdicts out. No I/O, no clocks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ventbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
