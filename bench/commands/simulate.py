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

from ventbench.bench.args import as_dict, duration, key_value, number, positive
from ventbench.errors import ConfigError
from ventbench.exit_codes import EXIT_PASS

#: ``--device`` names (drivers.registry.DEVICES; repeated so that ``--help`` imports no
#: driver code, and checked equal by a test).
DEVICE_NAMES = ("cpap", "imt", "pirds", "rig", "tsi")

HELP = "serve a simulated rig or instrument on a pseudo-terminal at PATH"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--link", required=True, metavar="PATH",
                        help="symlink to create to the pty (the 'port' to open)")
    parser.add_argument("--device", default="rig",
                        help=f"simulated device: {', '.join(DEVICE_NAMES)} or "
                             f"package.module:Class (default rig)")
    parser.add_argument("--speed", type=positive, default=1.0,
                        help="device seconds per wall-clock second (default 1)")
    parser.add_argument("--seed", type=number(integer=True), default=None, help="random seed of the device")
    parser.add_argument("--fault", action="append", metavar="K=V", type=key_value(),
                        help="fault injection parameter (repeatable)")
    parser.add_argument("--set", action="append", dest="settings", metavar="K=V", type=key_value(),
                        help="device / ventilator / lung setting (repeatable)")
    parser.add_argument("--duration", default=None, type=duration,
                        help="stop after this long (wall clock: 30s, 5m, 2h)")
    parser.add_argument("--sent-log", default=None, metavar="FILE",
                        help="write what the device sent (JSON) every second and at exit")


def run(args: argparse.Namespace) -> int:
    from ventbench.drivers.pty_server import PtyServer
    from ventbench.drivers.registry import device_class, make_device
    from ventbench.drivers.sim.params import check_params

    cls = device_class(args.device)
    settings, faults = as_dict(args.settings), as_dict(args.fault)
    for flag, given in (("--set", settings), ("--fault", faults)):
        check_params(cls, given, flag)  # unknown keys listed, bad values named
    params = {**settings, **faults}
    if args.seed is not None:
        params["seed"] = str(args.seed)
    duration_s = args.duration
    try:
        device = make_device(args.device, params, where="--set/--fault")
    except ConfigError as error:  # e.g. the simulator refuses vt_ml=-500
        raise ConfigError(f"--set/--fault: {error}") from None
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
