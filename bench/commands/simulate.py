"""``ventbench simulate --link PATH --device rig|imt|tsi|pirds``: a simulated device on a pty.

Creates a pseudo-terminal, links PATH to its slave side and serves the device on it until
SIGINT/SIGTERM (or ``--duration``); then removes the link. Any program opens PATH like a
USB serial port, e.g. ``ventbench record --port PATH --driver rig``.

``--fault K=V`` and ``--set K=V`` are passed to the device as parameters (the same ones a
``sim://DEVICE?K=V`` URL takes): faults such as ``ber=1e-5``, ``drop=0.001``,
``garbage=…``, ``reset_at_s=…`` and settings such as ``rate_hz=5000``. ``--sent-log FILE``
writes the server's and device's counters (what was really sent) as JSON at exit, and every
second while running.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from ventbench.drivers.registry import DEVICES, make_device
from ventbench.errors import ConfigError
from ventbench.exit_codes import EXIT_PASS

HELP = "serve a simulated rig or instrument on a pseudo-terminal at PATH"


def parse_duration_s(text: str) -> float:
    """``"90"``, ``"90s"``, ``"5m"``, ``"2h"``, ``"14d"`` → seconds; ConfigError otherwise."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    raw = str(text).strip().lower()
    factor = units.get(raw[-1:], None)
    number = raw[:-1] if factor else raw
    try:
        value = float(number) * (factor or 1.0)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"duration {text!r}: expected a positive number with an optional "
                          f"unit s, m, h or d (e.g. 60s, 5m, 2h, 14d)")
    return value


def parse_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """``["k=v", ...]`` → dict; ConfigError naming the option and item otherwise."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--link", required=True, metavar="PATH",
                        help="symlink to create to the pty (the 'port' to open)")
    parser.add_argument("--device", default="rig",
                        help=f"simulated device: {', '.join(sorted(DEVICES))} or "
                             f"package.module:Class (default rig)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="device seconds per wall-clock second (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the device")
    parser.add_argument("--fault", action="append", metavar="K=V",
                        help="fault injection parameter (repeatable)")
    parser.add_argument("--set", action="append", dest="settings", metavar="K=V",
                        help="device / ventilator / lung setting (repeatable)")
    parser.add_argument("--duration", default=None,
                        help="stop after this long (wall clock: 30s, 5m, 2h)")
    parser.add_argument("--sent-log", default=None, metavar="FILE",
                        help="write what the device sent (JSON) every second and at exit")


def run(args: argparse.Namespace) -> int:
    from ventbench.drivers.pty_server import PtyServer

    params = parse_pairs(args.settings, "--set")
    params.update(parse_pairs(args.fault, "--fault"))
    if args.seed is not None:
        params["seed"] = str(args.seed)
    if not args.speed > 0:
        raise ConfigError(f"--speed must be > 0, found {args.speed}")
    duration_s = parse_duration_s(args.duration) if args.duration else None
    device = make_device(args.device, params)
    server = PtyServer(device, speed=args.speed, link=args.link)

    def _stop(signum, frame):  # noqa: ARG001 - signal handler signature
        server.stop()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        slave = server.open()
        print(f"ventbench simulate: {args.device} on {slave} (link {args.link}), "
              f"speed {args.speed:g}; Ctrl-C to stop", file=sys.stderr, flush=True)
        t_end = None if duration_s is None else time.monotonic() + duration_s
        while not server.stopping:
            step = 1.0 if t_end is None else min(1.0, t_end - time.monotonic())
            if step <= 0:
                break
            server.serve(duration_s=step)
            if args.sent_log:
                server.write_stats(args.sent_log)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if args.sent_log:
            server.write_stats(args.sent_log)
        server.close()
    return EXIT_PASS
