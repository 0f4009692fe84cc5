"""Serve a :class:`~drivers.base.SimulatedDevice` on a pseudo-terminal (``ventbench simulate``).

The slave side (raw mode) is what a recorder opens, like a USB serial port; a symlink gives it
a stable path. The master side is served by a ``select()`` loop: bytes from the host go to
``device.receive``; device time advances with the wall clock × ``speed`` and what the device
produced is written to the master. A full pty buffer (EAGAIN), partial writes and a host
that closed the port never crash the loop: unsent bytes wait in a bounded output buffer
(beyond it they are dropped and counted, like a real device's overflowing transmit buffer).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import threading
import time
import tty
from pathlib import Path
from typing import Any

from ventbench.drivers.base import SimulatedDevice
from ventbench.errors import ConfigError


def device_summary(device: SimulatedDevice) -> dict[str, Any]:
    """What a device says it sent: its ``stats()`` / ``sent_summary()`` if it has one, or
    counts from ``sent_samples()`` (the simulated rig's record), else just its class."""
    out: dict[str, Any] = {"class": type(device).__name__}
    for attr in ("sent_summary", "stats"):
        fn = getattr(device, attr, None)
        if callable(fn):
            out.update(fn())
            return out
    sent = getattr(device, "sent_samples", None)
    if callable(sent):
        rec = sent()
        corrupted = rec.get("corrupted")
        seq = rec.get("seq")
        out["samples_sent"] = int(len(seq)) if seq is not None else None
        out["samples_corrupted"] = int(corrupted.sum()) if corrupted is not None else None
        out["last_seq"] = int(seq[-1]) if seq is not None and len(seq) else None
    for attr in ("device_dropped", "injected", "epoch"):
        value = getattr(device, attr, None)
        if value is not None:
            out[attr] = len(value) if attr == "device_dropped" else value
    return out


class PtyServer:
    """A simulated device behind a pseudo-terminal.

    Parameters
    ----------
    device : SimulatedDevice
        The device to serve.
    speed : float
        Device seconds per wall-clock second.
    link : str or path-like, optional
        Symlink to create to the slave's name (an existing symlink is replaced; an existing
        regular file is an error).
    tick_s : float
        Longest sleep of the loop, s (the device's output granularity).
    max_pending_bytes : int
        Output buffer bound; beyond it device output is dropped and counted.
    """

    def __init__(
        self,
        device: SimulatedDevice,
        *,
        speed: float = 1.0,
        link: str | os.PathLike | None = None,
        tick_s: float = 0.002,
        max_pending_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        if not speed > 0:
            raise ConfigError(f"speed must be > 0, found {speed}")
        self.device = device
        self.speed = float(speed)
        self.link = Path(link) if link is not None else None
        self.tick_s = tick_s
        self.max_pending_bytes = max_pending_bytes
        self.master_fd = -1
        self.slave_fd = -1
        self.slave_name = ""
        self.bytes_written = 0
        self.bytes_received = 0
        self.bytes_dropped = 0
        self.write_stalls = 0
        self.device_time_s = 0.0
        self._pending = bytearray()
        self._stop = threading.Event()
        self._t0: float | None = None

    def open(self) -> str:
        """Create the pty (slave in raw mode) and the link; return the slave's name."""
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)
        os.set_blocking(self.master_fd, False)
        self.slave_name = os.ttyname(self.slave_fd)
        if self.link is not None:
            if self.link.is_symlink():
                self.link.unlink()
            elif self.link.exists():
                self.close()
                raise ConfigError(f"--link {self.link}: exists and is not a symlink; "
                                  f"refusing to replace it")
            self.link.symlink_to(self.slave_name)
        return self.slave_name

    def close(self) -> None:
        """Remove the link (if it still points to our pty) and close both sides."""
        if self.link is not None and self.link.is_symlink():
            with contextlib.suppress(OSError):
                if os.readlink(self.link) == self.slave_name:
                    self.link.unlink()
        for fd in (self.master_fd, self.slave_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master_fd = self.slave_fd = -1

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask :meth:`serve` to return (thread- and signal-safe)."""
        self._stop.set()

    def serve(self, duration_s: float | None = None) -> None:
        """Serve until :meth:`stop` (or a signal handler calling it) or ``duration_s``."""
        if self.master_fd < 0:
            self.open()
        started = time.monotonic()
        if self._t0 is None:  # device time is continuous over several serve() calls
            self._t0 = started
        t0 = self._t0
        fd = self.master_fd
        while not self._stop.is_set():
            now = time.monotonic()
            if duration_s is not None and now - started >= duration_s:
                break
            wants_write = [fd] if self._pending else []
            try:
                readable, writable, _ = select.select([fd], wants_write, [], self.tick_s)
            except InterruptedError:
                continue
            if readable:
                self._receive(fd)
            self.device_time_s = (time.monotonic() - t0) * self.speed
            out = self.device.produce(self.device_time_s)
            if out:
                room = self.max_pending_bytes - len(self._pending)
                if len(out) > room:
                    self.bytes_dropped += len(out) - max(room, 0)
                    out = out[: max(room, 0)]
                self._pending += out
            if self._pending:
                self._send(fd)

    def _receive(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno == errno.EIO:  # no process has the slave open: nothing to read
                time.sleep(self.tick_s)
                return
            raise
        if data:
            self.bytes_received += len(data)
            self.device.receive(data)

    def _send(self, fd: int) -> None:
        try:
            n = os.write(fd, self._pending[:65536])
        except BlockingIOError:  # EAGAIN: the pty buffer is full; try again when writable
            self.write_stalls += 1
            return
        except OSError as error:
            if error.errno in (errno.EIO, errno.EPIPE):
                self.write_stalls += 1
                return
            raise
        self.bytes_written += n
        del self._pending[:n]

    def stats(self) -> dict[str, Any]:
        """Counters of the server and, when the device offers them, of the device."""
        out: dict[str, Any] = {
            "slave": self.slave_name,
            "link": str(self.link) if self.link else None,
            "speed": self.speed,
            "device_time_s": self.device_time_s,
            "bytes_written": self.bytes_written,
            "bytes_received": self.bytes_received,
            "bytes_dropped": self.bytes_dropped,
            "bytes_pending": len(self._pending),
            "write_stalls": self.write_stalls,
        }
        out["device"] = device_summary(self.device)
        return out

    def write_stats(self, path: str | os.PathLike) -> None:
        """Write :meth:`stats` as JSON (atomically: a temp file, then rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.stats(), indent=1, sort_keys=True, default=str))
        os.replace(tmp, path)
