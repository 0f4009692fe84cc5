"""``ventbench ports``: the serial ports of this machine and the simulated devices.

Hardware ports come from ``serial.tools.list_ports`` (device path, description, USB
VID:PID and serial number when known); simulated devices are the ``sim://NAME`` URLs of
:mod:`drivers.registry`, with the reason when one cannot be loaded.
"""

from __future__ import annotations

import argparse
import json

from ventbench.exit_codes import EXIT_PASS

HELP = "list serial ports and simulated devices (sim://...)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def list_serial_ports() -> list[dict[str, str | None]]:
    """Serial ports known to the OS, sorted by device path."""
    from serial.tools import list_ports

    out = []
    for info in sorted(list_ports.comports(), key=lambda p: p.device):
        usb = f"{info.vid:04X}:{info.pid:04X}" if info.vid is not None else None
        out.append({"port": info.device, "description": info.description,
                    "usb": usb, "serial_number": info.serial_number})
    return out


def list_simulated() -> list[dict[str, str | None]]:
    """``sim://`` devices and whether each loads."""
    from ventbench.drivers.registry import available_devices

    return [{"port": f"sim://{name}", "description": "simulated " + name if reason is None
             else "unavailable", "problem": reason}
            for name, reason in available_devices().items()]


def run(args: argparse.Namespace) -> int:
    hardware = list_serial_ports()
    simulated = list_simulated()
    if args.json:
        print(json.dumps({"serial": hardware, "simulated": simulated}, indent=1))
        return EXIT_PASS
    print("serial ports:")
    if not hardware:
        print("  (none found)")
    for p in hardware:
        extra = "".join(f"  {k}={p[k]}" for k in ("usb", "serial_number") if p[k])
        print(f"  {p['port']:<24} {p['description'] or ''}{extra}")
    print("simulated devices (query parameters: speed=1|10|max, seed=N, device settings):")
    for p in simulated:
        line = f"  {p['port']:<24} {p['description']}"
        if p["problem"]:
            line += f" ({p['problem']})"
        print(line)
    return EXIT_PASS
