"""The ``ventbench`` command line: one sub-command per module in :mod:`bench.commands`.

Each command module provides ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. A command module imports only light modules at its top (no numpy,
scipy or matplotlib: ``tests/bench/test_cli_startup.py``); what it computes with is imported
inside ``run``. Only the sub-command named on the command line is imported and gets its
options built (~35 ms less for ``analyze`` than importing all of them); ``ventbench --help``
and an unknown command import every command module, for its ``HELP`` line.

Errors of the :class:`~ventbench.errors.BenchError` family become one clear line on stderr and
the contract's exit code; they never reach the user as tracebacks.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from ventbench.errors import BenchError
from ventbench.exit_codes import EXIT_INCONCLUSIVE, EXIT_USAGE, exit_code_for_error

#: Container allocations between two collections of the youngest generation (Python's
#: default: 700). A command allocates mostly acyclic objects that reference counting frees
#: (per-breath rows, JSON text pieces); at 700 the collector ran ~180 times during an
#: ``analyze`` of 4 000 breaths (~30–45 ms of its ~0.6 s), at 50 000 once or never. Cyclic
#: garbage still gets collected, after at most this many allocations.
GC_YOUNG_THRESHOLD = 50_000

#: The BLAS libraries' thread-count variables, set to 1 unless the user set them. ventbench
#: computes in one thread per process (parallel work is in processes: ``replay --jobs``, the
#: report's pages); OpenBLAS would otherwise start a thread per core when numpy is imported,
#: which spin and cost ~0.13 s of CPU on every command (measured: ``analyze`` 0.73 → 0.59 s
#: of CPU), and split a long ``np.dot`` by the machine's core count, so that its last bits
#: would depend on the machine.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: Sub-commands, in the order ``--help`` lists them; module ventbench.bench.commands.<name>.
COMMANDS: tuple[str, ...] = (
    "demo", "run", "record", "analyze", "replay", "verify", "report",
    "simulate", "protocols", "ports", "history", "reanalyze", "keys",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2; the contract says 3
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _Version(argparse.Action):
    """``--version``: the installed version, read only when asked for."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ARG002
        from ventbench import __version__

        print(f"ventbench {__version__}")
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command.

    Parameters
    ----------
    only : str, optional
        A sub-command of :data:`COMMANDS` (the one on the command line): only it is imported
        and registered, with its options. Any other string: every sub-command is listed with
        its help line, none with its options. None builds all of them.
    """
    parser = _Parser(prog="ventbench", description="Test-bench harness for prototype ventilators.")
    parser.add_argument("--version", action=_Version, nargs=0, help="show program's version number and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in (only,) if only in COMMANDS else COMMANDS:
        module = importlib.import_module(f"ventbench.bench.commands.{name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        if only is None or name == only:
            module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ventbench`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    for name in BLAS_THREAD_VARIABLES:  # before numpy is imported (no command imports it earlier)
        os.environ.setdefault(name, "1")
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    command = _command_in(argv)
    parser = build_parser(only=command or "")
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error (exit 3, option named)
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print("ventbench: interrupted", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    except (BenchError, OSError) as error:
        print(f"ventbench {args.command}: error: {error}", file=sys.stderr)
        return exit_code_for_error(error)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
