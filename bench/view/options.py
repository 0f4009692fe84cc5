"""``--view``, ``--view-bind``, ``--view-port``: the command-line part of the live view.

Light on purpose (``--help`` must not import numpy): the hub and server are imported by
:func:`start_view`, inside a command's ``run``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ventbench.bench.args import number

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """The view's options, shared by run, demo, record and replay."""
    parser.add_argument("--view", action="store_true",
                        help="serve a live page of the session (waveforms, breaths, prompts) "
                             "on the loopback and print its address")
    parser.add_argument("--view-bind", default=None, metavar="HOST",
                        help="serve the view on HOST instead of 127.0.0.1 (other machines "
                             "can then see it; a warning is printed)")
    parser.add_argument("--view-port", type=number(0, 65535, integer=True), default=0,
                        metavar="N", help="the view's TCP port (default: any free one)")


def speed(text: str) -> str:
    """argparse type of ``--speed``: ``max`` or a positive time factor (text, as URLs take it)."""
    if text.strip().lower() == "max":
        return "max"
    try:
        factor = float(text)
    except ValueError:
        factor = -1.0
    if not 0 < factor < 1e6:
        raise argparse.ArgumentTypeError(f"expected a positive time factor or max, found {text!r}")
    return f"{factor:g}"


def demo_port(port: str, speed: str | None, view: bool) -> str:
    """The demo's ``sim://`` URL at ``speed`` ("max", or a time factor; default: 1 with the
    view, so that there is something to watch, else max). Raises ConfigError for a bad one."""
    from ventbench.errors import ConfigError

    speed = speed if speed is not None else ("1" if view else "max")
    if speed == "max":
        return port
    try:
        factor = float(speed)
    except ValueError:
        factor = -1.0
    if not 0 < factor < 1e6:
        raise ConfigError(f"--speed: expected a positive time factor or max, found {speed!r}")
    # real time: device time follows the wall clock; small reads keep the page smooth
    return port.replace("speed=max&step_ms=2000", f"speed={factor:g}")


def view_wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "view", False) or getattr(args, "view_bind", None))


def start_view(args: argparse.Namespace, log: Any = None) -> Any:
    """Start the hub and server asked for by ``args`` (None when ``--view`` was not given).

    Prints the address (and a warning for a non-loopback bind) on stderr. Raises
    :class:`~ventbench.errors.ConfigError` when the address cannot be bound.
    """
    if not view_wanted(args):
        return None
    from ventbench.bench.view.hub import ViewHub
    from ventbench.bench.view.server import ViewServer
    from ventbench.errors import ConfigError

    host = args.view_bind or "127.0.0.1"
    if host not in LOOPBACK:
        print(f"warning: --view-bind {host}: the live view (and its prompt answers, guarded "
              "only by the token in its address) is reachable from other machines",
              file=sys.stderr)
    def _log(text: str) -> None:
        print(text, file=sys.stderr)

    try:
        server = ViewServer(ViewHub(), host, int(args.view_port), log=log or _log)
    except OSError as error:
        raise ConfigError(f"--view: cannot serve on {host}:{args.view_port}: "
                          f"{error.strerror or error}") from None
    server.start()
    print(f"live view: {server.url}", file=sys.stderr, flush=True)
    return server


def keep_serving(server: Any, stream: Any = None) -> None:
    """After the session: keep the page readable until Ctrl-C (then stop the server)."""
    if server is None:
        return
    import signal
    import threading

    stream = stream or sys.stderr
    previous = None
    if threading.current_thread() is threading.main_thread():
        # the session's own handlers are gone: Ctrl-C (or SIGTERM) now ends the command —
        # installed before the line that says so, or a Ctrl-C right after it would be lost
        previous = (signal.signal(signal.SIGINT, signal.default_int_handler),
                    signal.signal(signal.SIGTERM, _interrupt))
    try:
        stream.write(f"session ended; the live view stays at {server.url} until Ctrl-C\n")
        stream.flush()
        while not server.stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        stream.write("live view stopped\n")
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])


def _interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler
    raise KeyboardInterrupt


def session_view(server: Any, operator: Any, live: Any) -> tuple[Any, Any]:
    """The operator and live lines of a session with the view ``server`` (or unchanged
    when there is none): terminal prompts also answerable on the page, live lines copied
    into the page."""
    if server is None:
        return operator, live
    from ventbench.bench.operator import TerminalOperator
    from ventbench.bench.view.live import ViewLive
    from ventbench.bench.view.operator import ViewOperator

    if isinstance(operator, TerminalOperator):
        operator = ViewOperator(operator.name, operator.stdin, operator.stdout, server.hub)
        server.on_answer = operator.page_answer
    view_live = ViewLive(server.hub, live.stream, tty=live.tty,
                         progress_every_s=live.progress_every_s)
    return operator, view_live


def terminal_questions(operator: Any, ask_environment: Any) -> Any:
    """``ask_environment`` asking through the view operator's terminal reader (a second reader
    of stdin would steal its lines); unchanged for other operators."""
    from functools import partial

    from ventbench.bench.view.operator import ViewOperator

    if isinstance(operator, ViewOperator):
        return partial(ask_environment, ask=operator.terminal_input)
    return ask_environment
