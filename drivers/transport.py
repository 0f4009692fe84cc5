"""Ports by URL, capture before decode, a reader thread and reconnection.

Layering (pyserial / PyMeasure): :func:`open_port` opens any URL pyserial knows (device
paths, ``socket://``, ``rfc2217://``, ``spy://``, our ``sim://`` and ``replay://``);
:class:`CapturedPort` puts every byte written or read into the capture file *before* it is
returned to anybody; :class:`Acquisition` runs a driver's handshake and start through the
captured port, then a reader thread that only reads → captures → feeds the driver →
queues the :class:`~drivers.base.SampleBlock`. A port that vanishes (USB unplugged) is an
event in the capture, then reopened with backoff, re-handshaken and restarted.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import serial

from ventbench import __version__
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import Driver, SampleBlock
from ventbench.drivers.capture import CaptureError, CaptureWriter
from ventbench.drivers.registry import register_url_handlers
from ventbench.errors import BenchError, TransportError

register_url_handlers()

#: Serial keyword arguments a caller may override on top of a driver's defaults.


def serial_settings(driver: Driver | None = None, **overrides: Any) -> dict[str, Any]:
    """The driver's ``serial_defaults`` with non-None ``overrides`` on top (timeout ≤ 0.1 s
    by default so reader threads stay responsive)."""
    settings: dict[str, Any] = {"timeout": 0.1}
    if driver is not None:
        settings.update(driver.serial_defaults)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


def open_port(url: str, driver: Driver | None = None, **overrides: Any):
    """Open ``url`` with ``serial.serial_for_url`` and the driver's serial settings.

    Parameters
    ----------
    url : str
        A device path or any pyserial URL (``sim://rig``, ``replay://x.vbcap`` …).
    driver : Driver, optional
        Supplies ``serial_defaults`` (baudrate, parity, timeout …).
    **overrides
        ``baudrate``, ``parity``, ``timeout`` … (None values are ignored).

    Raises
    ------
    TransportError
        The port cannot be opened; the message names it and the reason.
    """
    settings = serial_settings(driver, **overrides)
    try:
        return serial.serial_for_url(url, **settings)
    except (serial.SerialException, OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise TransportError(f"cannot open port {url}: {reason}") from None


class CapturedPort:
    """A port whose traffic is written to a capture before anyone sees it.

    ``write`` records a tx record and then writes; ``read`` reads and records an rx record
    before returning. ``reset_input_buffer`` does not throw bytes away unseen: it drains
    what is waiting into the capture between ``discard_begin``/``discard_end`` events.
    """

    def __init__(self, port, capture: CaptureWriter, url: str = "") -> None:
        self.raw = port
        self.capture = capture
        self.url = url or str(getattr(port, "port", ""))

    @property
    def port(self) -> str:
        """The port's URL or path (as pyserial's ``Serial.port``), for messages."""
        return self.url

    name = port

    @property
    def timeout(self) -> float | None:
        return self.raw.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.raw.timeout = value

    @property
    def in_waiting(self) -> int:
        return self.raw.in_waiting

    @property
    def finished(self) -> bool:
        """True when the port has nothing more to give (end of a replay)."""
        return bool(getattr(self.raw, "finished", False))

    def write(self, data: bytes) -> int | None:
        self.capture.tx(bytes(data))
        return self.raw.write(data)

    def read(self, size: int = 1) -> bytes:
        data = self.raw.read(size)
        if data:
            self.capture.rx(data)
        return data

    def reset_input_buffer(self) -> None:
        self.capture.event("discard_begin", port=self.url)
        drained = 0
        try:
            for _ in range(1000):
                waiting = self.raw.in_waiting
                if not waiting:
                    break
                data = self.raw.read(waiting)
                if not data:
                    break
                self.capture.rx(data)
                drained += len(data)
        finally:
            self.capture.event("discard_end", port=self.url, bytes=drained)

    def close(self) -> None:
        self.raw.close()


class Acquisition:
    """Stream samples from a driver on a port, capturing every byte, surviving unplugs.

    Parameters
    ----------
    url : str
        The port URL.
    driver : Driver
        A fresh driver instance.
    capture_path : str or path-like
        The ``.vbcap`` file to create.
    serial_overrides : dict, optional
        Serial settings on top of the driver's (``baudrate``, ``parity``, ``timeout``).
    metadata : dict, optional
        Free metadata for the capture header.
    on_block : callable, optional
        Called with each non-empty SampleBlock from the reader thread (instead of the queue).
    reconnect : bool
        Reopen a vanished port (backoff ``backoff_s`` doubling to ``max_backoff_s``).
    batch_s : float
        After a short read the thread waits this long so reads come in chunks (CPU).
    """

    def __init__(
        self,
        url: str,
        driver: Driver,
        capture_path: str | os.PathLike,
        *,
        serial_overrides: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        on_block: Callable[[SampleBlock], None] | None = None,
        reconnect: bool = True,
        backoff_s: float = 0.1,
        max_backoff_s: float = 2.0,
        batch_s: float = 0.02,
        chunk_bytes: int = 65536,
    ) -> None:
        self.url = url
        self.driver = driver
        self.capture_path = Path(capture_path)
        self.serial_overrides = dict(serial_overrides or {})
        self.metadata = dict(metadata or {})
        self.on_block = on_block
        self.reconnect = reconnect
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.batch_s = batch_s
        self.chunk_bytes = chunk_bytes
        self.blocks: queue.Queue[SampleBlock | None] = queue.Queue()
        self.capture: CaptureWriter | None = None
        self.port: CapturedPort | None = None
        self.disconnects: list[dict[str, Any]] = []
        self.reconnect_attempts = 0  #: every reopen tried, successful or not
        self.lost_error = ""  #: while the port is lost: why ("" when connected)
        self.rx_bytes = 0
        self.reads = 0  #: non-empty reads of the reader thread
        self.error: BaseException | None = None
        self.finished = threading.Event()  #: set when the thread ends (EOF, error or stop)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mark_gap = False

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Create the capture, open the port, handshake, start streaming, start the thread.

        Returns the driver's ``info``. Raises TransportError (port, handshake) after the
        capture has been closed with the failure recorded in it.
        """
        settings = serial_settings(self.driver, **self.serial_overrides)
        header = {
            "driver": self.driver.name,
            "url": self.url,
            "serial": settings,
            "software": {"name": "ventbench", "version": __version__},
            "metadata": self.metadata,
        }
        self.capture = CaptureWriter(self.capture_path, header)
        try:
            self._connect()
        except BaseException as error:
            self.capture.event("error", message=str(error))
            self.capture.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"reader {self.url}", daemon=True)
        self._thread.start()
        return self.driver.info

    def _connect(self) -> None:
        raw = open_port(self.url, self.driver, **self.serial_overrides)
        self.port = CapturedPort(raw, self.capture, self.url)
        self.capture.event("open", port=self.url, settings=serial_settings(
            self.driver, **self.serial_overrides))
        try:
            self.driver.handshake(self.port)
            self.capture.event("handshake", info=self.driver.info)
            self.driver.start(self.port)
        except BaseException:
            self._close_port()
            raise

    def _close_port(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except Exception:  # noqa: BLE001 - a dead port may fail to close; nothing to lose
                pass

    def stop(self, drain_s: float = 0.3) -> None:
        """Ask the device to stop, read what is still in flight, close port and capture."""
        if self.capture is None or self.capture.closed:
            return
        try:
            if self.port is not None and not self.finished.is_set():
                try:
                    self.driver.stop(self.port)
                except (BenchError, OSError, serial.SerialException):
                    pass
                # Let the reader catch the tail (the device's last samples and its reply).
                deadline = time.monotonic() + drain_s
                last = self.rx_bytes
                while time.monotonic() < deadline and not self.finished.is_set():
                    time.sleep(0.05)
                    if self.rx_bytes == last:
                        break
                    last = self.rx_bytes
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=5.0)
        finally:
            self._close_port()
            self.capture.event("close", port=self.url, error=str(self.error or ""))
            self.capture.close()

    def __enter__(self) -> Acquisition:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- consumer API ------------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> SampleBlock | None:
        """The next SampleBlock, or None on timeout or when the stream has ended."""
        try:
            return self.blocks.get(timeout=timeout)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[SampleBlock]:
        """Iterate SampleBlocks until the stream ends (EOF, error or stop)."""
        while True:
            block = self.get(timeout=0.2)
            if block is not None:
                yield block
            elif self.finished.is_set() and self.blocks.empty():
                return

    # -- the reader thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                port = self.port
                try:
                    waiting = port.in_waiting
                    data = port.read(min(waiting, self.chunk_bytes) if waiting else 1)
                except (serial.SerialException, OSError) as error:
                    if isinstance(error, BenchError) or not self.reconnect:
                        raise
                    if not self._reconnect(error):
                        return
                    continue
                if data:
                    self.reads += 1
                    self.rx_bytes += len(data)
                    self._deliver(self.driver.feed(data))
                    if len(data) < 4096 and self.batch_s:
                        self._stop.wait(self.batch_s)
                elif port.finished:
                    return
                self.driver.poll(port)
        except BaseException as error:  # recorded, re-raised to the consumer via .error
            self.error = error
            if self.capture is not None and not self.capture.closed:
                try:
                    self.capture.event("error", message=str(error))
                except OSError:
                    pass
        finally:
            self.finished.set()
            self.blocks.put(None)

    def _deliver(self, block: SampleBlock) -> None:
        if not len(block):
            return
        if self._mark_gap:  # first sample after a reconnect: data missing before it
            block.flags = np.asarray(block.flags, dtype=np.uint8).copy()
            block.flags[0] |= SampleFlag.GAP
            self._mark_gap = False
        if self.on_block is not None:
            self.on_block(block)
        else:
            self.blocks.put(block)

    def _reconnect(self, error: BaseException) -> bool:
        """Disconnect event, reopen with backoff, re-handshake; False when stopped."""
        t_lost = time.monotonic()
        self.capture.event("disconnect", port=self.url, error=str(error),
                           samples_before=self.driver.counters.samples)
        self._close_port()
        self.lost_error = str(error)
        delay = self.backoff_s
        attempt = 0
        while not self._stop.is_set():
            if self._stop.wait(delay):
                break
            attempt += 1
            self.reconnect_attempts += 1
            try:
                self._connect()
            except CaptureError:
                raise
            except (BenchError, OSError, serial.SerialException):
                delay = min(delay * 2, self.max_backoff_s)
                continue
            down_s = time.monotonic() - t_lost
            self.capture.event("reconnect", port=self.url, attempts=attempt, down_s=down_s)
            self.disconnects.append({"error": str(error), "down_s": round(down_s, 3),
                                     "attempts": attempt,
                                     "samples_before": self.driver.counters.samples})
            self._mark_gap = True
            self.lost_error = ""
            return True
        self.disconnects.append({"error": str(error), "down_s": None, "attempts": attempt,
                                 "samples_before": self.driver.counters.samples})
        return False
