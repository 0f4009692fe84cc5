"""The one small error hierarchy shared by all three packages.

It lives in ``analysis`` because ``analysis`` imports nothing of ours; ``drivers`` and
``bench`` import it from here. Every message names *what* and *where* (file, line, port,
key) and what was expected versus found.
"""

from __future__ import annotations


class BenchError(Exception):
    """Base of every error ventbench raises on purpose (never a bare traceback)."""


class ConfigError(BenchError):
    """A setting, protocol file, limits file or command-line value is wrong."""


class AnalysisError(BenchError):
    """The data cannot be analysed as asked (invalid trace, nothing to measure)."""


class TransportError(BenchError):
    """A port cannot be opened, vanished, or a device does not answer."""


class FrameError(BenchError):
    """Bytes or lines that do not decode: a corrupt frame, a malformed file line."""
