"""The exit codes of every ``ventbench`` command (DESIGN.md contract) and how to pick one.

``verify`` has its own meanings for 1 and 2 (see :data:`VERIFY_MISMATCH`); every other
command uses the verdict codes. Library code returns these numbers; only the CLI exits.
"""

from __future__ import annotations

from ventbench.errors import AnalysisError, ConfigError, FrameError, TransportError

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INCONCLUSIVE = 2
EXIT_USAGE = 3
EXIT_DEVICE = 4

#: ``verify``: everything matches (whatever the verdict).
VERIFY_OK = 0
#: ``verify``: a file, a hash or a recorded verdict disagrees with the data.
VERIFY_MISMATCH = 1
#: ``verify``: the session is incomplete, or something could not be checked.
VERIFY_INCOMPLETE = 2

VERDICT_EXIT = {"PASS": EXIT_PASS, "INFO": EXIT_PASS, "FAIL": EXIT_FAIL,
                "INCONCLUSIVE": EXIT_INCONCLUSIVE}


def exit_code_for_verdict(verdict: str) -> int:
    """Map an overall verdict word (PASS, FAIL, INCONCLUSIVE, INFO) to its exit code."""
    return VERDICT_EXIT.get(verdict.upper(), EXIT_INCONCLUSIVE)


def exit_code_for_error(error: BaseException) -> int:
    """Map an error to its exit code: device/I-O 4, configuration or malformed input 3."""
    if isinstance(error, TransportError | OSError):
        return EXIT_DEVICE
    if isinstance(error, ConfigError | FrameError):
        return EXIT_USAGE
    if isinstance(error, AnalysisError):
        return EXIT_INCONCLUSIVE
    return EXIT_USAGE
