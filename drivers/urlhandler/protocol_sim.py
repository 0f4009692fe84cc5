"""pyserial URL handler ``sim://DEVICE?speed=1|10|max&seed=N&k=v...``: a simulated device.

An in-process serial-like object (a :class:`serial.serialutil.SerialBase`, like pyserial's
``loop://``) in front of a :class:`~drivers.base.SimulatedDevice` from
:mod:`drivers.registry`. Writes go to ``device.receive``; reads return
``device.produce(device_time)``. Device time advances with the wall clock times ``speed``;
with ``speed=max`` it advances by ``step_ms`` (default 50 ms) each time the reader finds
nothing buffered, i.e. as fast as the reader reads. Every other query parameter (``seed``
included) is passed to the device as a string; an unknown key is refused with the known
ones (:func:`check_sim_url` checks a whole URL without opening it, for the command line).

Cable pulls (reliability runs): ``unplug_at_s=T1,T2,…`` (device time, s) and ``unplug_s``
(default 2): at each Ti a read raises ``SerialException`` and the port is gone; the device
keeps running (it is kept, by URL, in :data:`UNPLUGGED`) and a re-open of the same URL
succeeds only once ``unplug_s`` have passed (wall time / speed; at once with ``speed=max``).
What the device sent while unplugged is lost; it resumes at Ti + ``unplug_s``. Device time
never advances past a pending Ti: every byte sent before Ti is read, then the next read fails.
"""

from __future__ import annotations

import threading
import time
import urllib.parse

from serial.serialutil import PortNotOpenError, SerialException, to_bytes

from ventbench.drivers.urlhandler.virtual import VirtualSerial
from ventbench.errors import BenchError, ConfigError

#: Query parameters the handler itself consumes.
HANDLER_PARAMS = ("speed", "step_ms", "unplug_at_s", "unplug_s")
#: With ``speed=max``, device time advances in ``step_ms`` steps until this much is buffered.
MAX_SPEED_FILL_BYTES = 16384
#: Devices whose simulated cable is out, by port URL: device, pending unplugs, times.
UNPLUGGED: dict[str, dict] = {}


def parse_speed(text: str, where: str) -> float | None:
    """``"max"`` → None, else a positive float factor; SerialException naming ``where``."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not speed > 0:
        raise SerialException(f"{where}: speed must be a positive number or 'max', "
                              f"found {text!r}")
    return speed


def _handler_params(query: dict[str, str], where: str) -> tuple[float | None, float, list[float], float]:
    """speed, step (s), unplug times (s) and unplug length (s) of a query; ConfigError."""
    try:
        speed = parse_speed(query.get("speed", "1"), where)
    except SerialException as error:
        raise ConfigError(str(error)) from None
    try:
        step_s = float(query.get("step_ms", "50")) / 1000.0
        unplugs = sorted(float(x) for x in query.get("unplug_at_s", "").split(",") if x)
        unplug_s = float(query.get("unplug_s", "2"))
    except ValueError:
        raise ConfigError(f"{where}: step_ms, unplug_at_s and unplug_s must be numbers") from None
    if not (step_s > 0 and unplug_s >= 0 and all(t >= 0 for t in unplugs)
            and all(map(_finite, (step_s, unplug_s, *unplugs)))):
        raise ConfigError(f"{where}: step_ms must be > 0, unplug_at_s and unplug_s ≥ 0 (finite)")
    return speed, step_s, unplugs, unplug_s


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def check_sim_url(url: str) -> tuple[str, dict[str, str]]:
    """Check a ``sim://DEVICE?K=V…`` URL completely without opening it.

    Returns the device name and its parameters (the query without the handler's own keys).

    Raises
    ------
    ConfigError
        Not a sim URL, unknown device, unknown query key (with the known ones), or a bad
        value (named): a configuration error, exit 3.
    """
    from ventbench.drivers import registry

    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "sim" or not parts.netloc:
        raise ConfigError(f"expected 'sim://DEVICE[?speed=..&seed=..]', found {url!r}")
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    _handler_params(query, url)
    params = {k: v for k, v in query.items() if k not in HANDLER_PARAMS}
    cls = registry.device_class(parts.netloc)
    from ventbench.drivers.sim.params import check_params, known_params

    unknown = [k for k in params if k not in known_params(cls)]
    if unknown:
        known = ", ".join([*HANDLER_PARAMS, *known_params(cls)])
        raise ConfigError(f"{url}: unknown query key {unknown[0]!r} (known: {known})")
    check_params(cls, params, f"{parts.scheme}://{parts.netloc}")
    return parts.netloc, params


class Serial(VirtualSerial):
    """Serial port served by a simulated device (see module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        self.device = None
        self.speed: float | None = 1.0
        self.step_s = 0.05
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._t0 = 0.0
        self._device_time_s = 0.0
        self._unplugs: list[float] = []
        self._unplug_s = 2.0
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        self._check_openable()
        from ventbench.drivers import registry  # lazy: the registry imports the devices lazily too

        parts = urllib.parse.urlsplit(self.port)
        if parts.scheme.lower() != "sim" or not parts.netloc:
            raise SerialException(f"expected 'sim://DEVICE[?speed=..&seed=..]', found "
                                  f"{self.port!r}")
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        try:
            self.speed, self.step_s, self._unplugs, self._unplug_s = _handler_params(query, self.port)
        except ConfigError as error:
            raise SerialException(str(error)) from None
        params = {k: v for k, v in query.items() if k not in HANDLER_PARAMS}
        self._buffer.clear()
        state = UNPLUGGED.get(self.port)
        if state is not None:  # the cable goes back in: the same device, still running
            if time.monotonic() < state["reopen_after"]:
                raise SerialException(f"could not open port {self.port}: no such device (unplugged)")
            del UNPLUGGED[self.port]
            self.device, self._unplugs = state["device"], state["unplugs"]
            self._device_time_s = state["back_at_s"]
            self.device.produce(self._device_time_s)  # sent while unplugged: lost
            self._t0 = time.monotonic() - self._device_time_s / (self.speed or 1.0)
            self.is_open = True
            return
        try:
            self.device = registry.make_device(parts.netloc, params)
        except BenchError as error:
            raise SerialException(f"{self.port}: {error}") from None
        self._t0 = time.monotonic()
        self._device_time_s = 0.0
        self.is_open = True

    def _unplug(self) -> None:
        """Pull the cable (lock held): keep the device for a re-open, fail this port."""
        t = self._unplugs.pop(0)
        UNPLUGGED[self.port] = {
            "device": self.device, "unplugs": self._unplugs, "back_at_s": t + self._unplug_s,
            "reopen_after": time.monotonic() + (self._unplug_s / self.speed if self.speed else 0.0)}
        self._buffer.clear()
        self.is_open = False
        raise SerialException(f"{self.port}: device disconnected (simulated unplug at {t:g} s)")

    def close(self) -> None:
        self.is_open = False
        super().close()

    # -- device time ---------------------------------------------------------------------
    def _pump(self, need_data: bool) -> None:
        """Produce what the device sent up to now (lock held)."""
        if self.speed is None:
            # As fast as the reader reads: fill a whole reader-sized chunk at once, so a
            # reader that pauses after short reads (the transport does) is never throttled.
            while need_data and len(self._buffer) < MAX_SPEED_FILL_BYTES:
                target = self._device_time_s + self.step_s
                if self._unplugs:  # never past a cable pull: it happens exactly at its time
                    target = min(target, self._unplugs[0])
                if target <= self._device_time_s:
                    break
                self._device_time_s = target
                self._buffer += self.device.produce(self._device_time_s)
                if self.device.idle():
                    break
        else:
            now = (time.monotonic() - self._t0) * self.speed
            self._device_time_s = min(now, self._unplugs[0]) if self._unplugs else now
        self._buffer += self.device.produce(self._device_time_s)

    @property
    def device_time_s(self) -> float:
        """Device time reached so far, s."""
        return self._device_time_s

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            self._pump(need_data=True)
            return len(self._buffer)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            with self._lock:
                self._pump(need_data=True)
                if self._unplugs and self._device_time_s >= self._unplugs[0] and not self._buffer:
                    self._unplug()  # everything sent before the pull has been read
                if self._buffer:
                    if size >= len(self._buffer):  # all of it: one copy
                        out = bytes(self._buffer)
                        self._buffer.clear()
                        return out
                    out = bytes(self._buffer[:size])
                    del self._buffer[:size]
                    return out
            if not self.is_open:
                return b""
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return b""
            if self.speed is not None or self.device.idle():
                pause = 0.001 if deadline is None else min(0.001, deadline - now)
                time.sleep(max(pause, 0.0))

    def write(self, data) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        data = to_bytes(data)
        with self._lock:
            self._pump(need_data=False)  # the device hears the command at the current time
            self.device.receive(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            self._pump(need_data=False)
            self._buffer.clear()
