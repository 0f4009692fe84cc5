"""The ``ventbench`` command line: one sub-command per module in :mod:`bench.commands`.

Each command module provides ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Errors of the :class:`~ventbench.errors.BenchError` family become one
clear line on stderr and the contract's exit code; they never reach the user as tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ventbench.errors import BenchError
from ventbench.exit_codes import EXIT_INCONCLUSIVE, EXIT_USAGE, exit_code_for_error

#: Sub-commands, in the order ``--help`` lists them; module ventbench.bench.commands.<name>.
COMMANDS: tuple[str, ...] = (
    "demo", "run", "record", "analyze", "replay", "verify", "report",
    "simulate", "protocols", "ports", "history", "reanalyze",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2; the contract says 3
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    from ventbench import __version__

    parser = _Parser(prog="ventbench", description="Test-bench harness for prototype ventilators.")
    parser.add_argument("--version", action="version", version=f"ventbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"ventbench.bench.commands.{name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ventbench`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
