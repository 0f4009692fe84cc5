"""Driver and simulated-device registries: a name on the command line → a class, lazily.

Modules are imported only when a name is asked for, so a driver that is missing or broken
affects only itself and is reported as a :class:`~ventbench.errors.ConfigError` naming it.
Importing this module also registers our pyserial URL schemes (``sim://``, ``replay://``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import serial

from ventbench.drivers.base import Driver, SimulatedDevice
from ventbench.drivers.options import Options
from ventbench.errors import ConfigError

#: pyserial looks for ``protocol_<scheme>`` modules in these packages.
URL_HANDLER_PACKAGE = "ventbench.drivers.urlhandler"


def register_url_handlers() -> None:
    """Make ``sim://`` and ``replay://`` known to ``serial.serial_for_url`` (idempotent)."""
    if URL_HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(URL_HANDLER_PACKAGE)


register_url_handlers()

#: A name containing ":" is always taken as an import path ``package.module:Class``.

#: ``--driver`` name → "module:Class" (the class may be omitted when the module defines
#: exactly one Driver subclass).
DRIVERS: dict[str, str] = {
    "rig": "ventbench.drivers.rig:RigDriver",
    "imt": "ventbench.drivers.imt:",
    "tsi": "ventbench.drivers.tsi:",
    "pirds": "ventbench.drivers.pirds:",
    "lines": "ventbench.drivers.lines:",
}

#: ``sim://NAME`` / ``ventbench simulate --device NAME`` → "module:Class".
DEVICES: dict[str, str] = {
    "rig": "ventbench.drivers.sim.rig_device:SimulatedRig",
    "imt": "ventbench.drivers.sim.imt_device:",
    "tsi": "ventbench.drivers.sim.tsi_device:",
    "pirds": "ventbench.drivers.sim.pirds_device:",
    "cpap": "ventbench.drivers.sim.cpap_device:SimulatedCpap",
}


def _resolve(table: dict[str, str], name: str, base: type, what: str) -> type:
    key = name.strip() if ":" in name else name.strip().lower()
    if ":" in key:  # an import path "package.module:Class" (plugins, tests)
        table = {key: key}
    elif key not in table:
        known = ", ".join(sorted(table))
        raise ConfigError(f"no {what} {name!r}: known {what}s are {known}")
    module_name, _, class_name = table[key].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"no {what} {name!r}: module {module_name} cannot be imported "
                          f"({error})") from None
    if class_name:
        cls = getattr(module, class_name, None)
    else:
        found = [c for _, c in inspect.getmembers(module, inspect.isclass)
                 if issubclass(c, base) and c is not base and c.__module__ == module.__name__
                 and not inspect.isabstract(c)]
        cls = found[0] if len(found) == 1 else None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"no {what} {name!r}: {table[key]} is not a {base.__name__} class")
    return cls


def driver_class(name: str) -> type[Driver]:
    """The :class:`Driver` class registered as ``name`` (ConfigError if none)."""
    return _resolve(DRIVERS, name, Driver, "driver")


def driver_options(name: str, options: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
                   flag: str = "--option") -> Options:
    """Parse a driver's options once into its typed ``Options`` dataclass.

    Parameters
    ----------
    name : str
        The ``--driver`` name.
    options : mapping or iterable of (key, value)
        ``--option K=V`` pairs (text) or a session's ``driver_options`` dict.
    flag : str
        The option to name in errors (``--option``, ``--option2``, ``--dut-option``).

    Raises
    ------
    ConfigError
        Unknown driver, unknown option (with the known ones), bad type or range (named).
    """
    cls = driver_class(name)
    raw = dict(options.items() if isinstance(options, Mapping) else options or ())
    return cls.Options.from_dict(raw, f"{flag} ({name} driver)")


def make_driver(name: str, options: Options | None = None, /, **raw: Any) -> Driver:
    """A new driver instance for ``--driver name``: with parsed ``options`` (see
    :func:`driver_options`) or raw keyword options (parsed here; ConfigError when bad)."""
    cls = driver_class(name)
    if isinstance(options, Mapping):  # a session's driver_options dict
        options, raw = None, {**options, **raw}
    if options is None:
        options = cls.Options.from_dict(raw, f"{name} driver option")
    return cls(options)


def device_class(name: str) -> type[SimulatedDevice]:
    """The :class:`SimulatedDevice` class registered as ``name`` (ConfigError if none)."""
    return _resolve(DEVICES, name, SimulatedDevice, "simulated device")


def device_params(name: str) -> list[str]:
    """Every parameter simulated device ``name`` takes (its own and the simulator's)."""
    from ventbench.drivers.sim.params import known_params

    return known_params(device_class(name))


def make_device(name: str, params: dict[str, str] | None = None,
                where: str | None = None) -> SimulatedDevice:
    """A new simulated device; ``params`` are the URL query / ``--set`` values (strings).

    An unknown key or a bad value of the device's own parameters is a ConfigError naming
    ``where`` (default ``sim://NAME``) and the key, before the device is made.
    """
    from ventbench.drivers.sim.params import check_params

    cls = device_class(name)
    check_params(cls, dict(params or {}), where or f"sim://{name}")
    try:
        return cls(dict(params or {}))
    except (TypeError, ValueError, KeyError) as error:
        raise ConfigError(f"simulated device {name!r}: bad parameters {params}: {error}") from None


def available_devices() -> dict[str, str | None]:
    """Each simulated device name → None when it loads, else the reason it does not."""
    out: dict[str, str | None] = {}
    for name in DEVICES:
        try:
            device_class(name)
            out[name] = None
        except ConfigError as error:
            out[name] = str(error)
    return out
