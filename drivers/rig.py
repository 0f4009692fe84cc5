"""``--driver rig``: an open test rig speaking VBR/1 (``rig-protocol.md``).

Transport and framing stay elsewhere: the port is any pyserial-like object, the bytes are
split by :class:`~drivers.vbr1.deframer.Deframer` and decoded by
:class:`~drivers.vbr1.samples.SampleDecoder`. This module holds the conversation:

- ``handshake``: ``HELLO`` → DESCRIBE + ``OK`` within 2 s, else :class:`TransportError`
  "no VBR/1 device on PORT" naming what arrived;
- ``start`` (``START [rate_hz]``) and ``stop`` only write: the DESCRIBE, ``OK`` and the
  samples that follow arrive through :meth:`RigDriver.feed` on the reader's thread;
- ``zero`` and ``ping`` wait for their answer, reading the port themselves: call them
  when no reader thread reads the port. Samples that arrive meanwhile are kept and
  returned by the next :meth:`RigDriver.feed`.

Time base: the device clock, ``t_s = t_us / 1e6`` (u64 µs, never unwrapped).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from serial import SerialException

from ventbench.analysis.gas import GasCondition
from ventbench.drivers.base import BytePort, Driver, SampleBlock
from ventbench.drivers.options import Options, option
from ventbench.drivers.vbr1.deframer import Deframer
from ventbench.drivers.vbr1.samples import DEFAULT_CONDITION, SampleDecoder
from ventbench.errors import TransportError

HELLO_TIMEOUT_S = 2.0


def port_name(port: Any) -> str:
    """The name a message should give a port (its URL or device path)."""
    for attr in ("port", "name", "portstr"):
        value = getattr(port, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(port).__name__


def hex_preview(data: bytes, limit: int = 48) -> str:
    """``"5 bytes arrived: 48 45 4c 4c 4f"`` (hex, truncated after ``limit`` bytes)."""
    if not data:
        return "no bytes arrived"
    text = data[:limit].hex(" ")
    more = f" … (+{len(data) - limit} more)" if len(data) > limit else ""
    return f"{len(data)} bytes arrived: {text}{more}"


@dataclass(frozen=True)
class RigOptions(Options):
    """Options of the VBR/1 rig driver (``--option K=V``).

    Attributes
    ----------
    rate_hz : int or None
        Sample rate asked for at ``START``, Hz, 1 … 5000 (the rig's own default when None).
    hello_timeout_s : float
        How long ``handshake`` waits for DESCRIBE + ``OK``, s (2 s, as the protocol says).
    reply_timeout_s : float
        How long ``ping`` waits for ``PONG``, s.
    zero_timeout_s : float
        How long ``zero`` waits for EVENT 6 and ``OK ZERO``, s.
    """

    rate_hz: int | None = option(None, "sample rate asked for at START, Hz", lo=1, hi=5000)
    hello_timeout_s: float = option(HELLO_TIMEOUT_S, "wait for DESCRIBE + OK, s", lo=0, lo_open=True)
    reply_timeout_s: float = option(2.0, "wait for PONG, s", lo=0, lo_open=True)
    zero_timeout_s: float = option(10.0, "wait for the zero to finish, s", lo=0, lo_open=True)


class RigDriver(Driver):
    """Driver for a VBR/1 rig; its options are :class:`RigOptions`."""

    Options = RigOptions

    name: ClassVar[str] = "rig"
    serial_defaults: ClassVar[dict[str, Any]] = {
        "baudrate": 921600, "bytesize": 8, "parity": "N", "stopbits": 1,
    }
    flow_condition: GasCondition = DEFAULT_CONDITION

    def __init__(self, options: RigOptions | None = None, /, **raw: Any) -> None:
        super().__init__(options, **raw)
        self.deframer = Deframer()
        self.decoder = SampleDecoder(self.counters)
        self.flow_condition = DEFAULT_CONDITION
        self.rate_hz = self.opts.rate_hz
        self.hello_timeout_s = self.opts.hello_timeout_s
        self.reply_timeout_s = self.opts.reply_timeout_s
        self.zero_timeout_s = self.opts.zero_timeout_s
        self.info.update({"protocol": "VBR/1", "flow_condition": self.flow_condition.value,
                          "segments": self.decoder.segments})
        self._held: list[SampleBlock] = []
        self._n_describes = 0

    # -- decoding ------------------------------------------------------------------------
    def feed(self, data: bytes) -> SampleBlock:
        """Decode received bytes (any chunking) into samples; never raises on bad bytes."""
        block = self._decode(data)
        if self._held:
            block = SampleBlock.concatenate([*self._held, block])
            self._held = []
        return block

    def _decode(self, data: bytes) -> SampleBlock:
        batch = self.deframer.feed(data)
        block = self.decoder.decode(batch)
        self.counters.rejected_frames = (
            self.deframer.rejected_frames + self.decoder.malformed_frames)
        self.counters.discarded_bytes = self.deframer.discarded_bytes
        if self.decoder.n_describes != self._n_describes:
            self._n_describes = self.decoder.n_describes
            self._take_describe()
        return block

    def _take_describe(self) -> None:
        """Copy the DESCRIBE metadata into ``info`` (every key kept, unknown ones too)."""
        describe = self.decoder.describe or {}
        for key, value in describe.items():
            if key != "driver":
                self.info[key] = value
        self.flow_condition = self.decoder.layout.flow_condition
        self.info["flow_condition"] = self.flow_condition.value
        if self.decoder.describe_problems:
            self.info["describe_problems"] = list(self.decoder.describe_problems)

    @property
    def segments(self) -> list[dict[str, Any]]:
        """New segments after the first: ``{"index", "seq", "t_us", "reason"}``."""
        return self.decoder.segments

    @property
    def corruptions(self) -> deque[tuple[int, int, int]]:
        """Line damage located to the sample after it: ``(index, discarded_bytes,
        rejected_frames)``, ``index`` counting decoded samples (pop them from the left)."""
        return self.decoder.corruptions

    # -- conversation --------------------------------------------------------------------
    def _exchange(self, port: BytePort, command: str, done: Callable[[], bool],
                  timeout_s: float) -> tuple[bool, bytes]:
        """Write ``command``; read and decode until ``done()`` or the timeout.

        Returns whether ``done()`` became true and the bytes that arrived.
        """
        try:
            port.write(command.encode("ascii") + b"\n")
        except (OSError, SerialException) as error:
            raise TransportError(f"cannot send {command} to {port_name(port)}: {error}") from error
        arrived = bytearray()
        deadline = time.monotonic() + timeout_s
        old_timeout = getattr(port, "timeout", None)
        try:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False, bytes(arrived)
                wait_s = 0.05 if left > 0.05 else left
                if port.timeout != wait_s:  # a real port reconfigures on every change
                    port.timeout = wait_s
                try:
                    waiting = int(getattr(port, "in_waiting", 0) or 0)
                except Exception:  # noqa: BLE001 - some ports cannot tell
                    waiting = 0
                t0 = time.monotonic()
                try:
                    chunk = port.read(max(1, waiting))
                except (OSError, SerialException) as error:
                    raise TransportError(f"{port_name(port)} failed while waiting for the "
                                         f"answer to {command}: {error}; "
                                         f"{hex_preview(bytes(arrived))}") from error
                if chunk:
                    arrived += chunk
                    block = self._decode(chunk)
                    if len(block):
                        self._held.append(block)
                elif time.monotonic() - t0 < 0.001:
                    time.sleep(0.002)  # a port that does not block on read
        finally:
            try:
                if port.timeout != old_timeout:
                    port.timeout = old_timeout
            except Exception:  # noqa: BLE001 - best effort
                pass
        return True, bytes(arrived)

    def _replies_since(self, n: int) -> list[str]:
        return self.decoder.replies[n:]

    def handshake(self, port: BytePort) -> dict[str, Any]:
        """``HELLO`` → DESCRIBE then ``OK``; fill and return ``info``.

        Raises
        ------
        TransportError
            "no VBR/1 device on PORT" when no DESCRIBE + ``OK`` arrives within
            ``hello_timeout_s``, naming the bytes that did arrive; or the device's ``ERR``.
        """
        n_rep, n_desc = len(self.decoder.replies), self.decoder.n_describes
        name = port_name(port)
        self.info["port"] = name

        def done() -> bool:  # an ERR, or a DESCRIBE followed by OK
            dec = self.decoder
            if any(r.startswith("ERR") for r in self._replies_since(n_rep)):
                return True
            return dec.n_describes > n_desc and "OK" in dec.replies[dec.replies_before_describe:]

        ok, arrived = self._exchange(port, "HELLO", done, self.hello_timeout_s)
        errors = [r for r in self._replies_since(n_rep) if r.startswith("ERR")]
        if errors:
            raise TransportError(f"VBR/1 device on {name} answered HELLO with {errors[0]!r}")
        if not ok:
            raise TransportError(
                f"no VBR/1 device on {name}: no DESCRIBE + OK answer to HELLO within "
                f"{self.hello_timeout_s:g} s; {hex_preview(arrived)}")
        return self.info

    def start(self, port: BytePort, rate_hz: int | None = None) -> None:
        """Write ``START [rate_hz]``; DESCRIBE, ``OK`` and SAMPLEs follow through ``feed``."""
        rate = rate_hz if rate_hz is not None else self.rate_hz
        line = "START" if rate is None else f"START {int(float(rate))}"
        port.write(line.encode("ascii") + b"\n")

    def stop(self, port: BytePort) -> None:
        """Write ``STOP`` (best effort: never raises on a dead port)."""
        try:
            port.write(b"STOP\n")
        except Exception:  # noqa: BLE001 - stopping must not fail
            pass

    def zero(self, port: BytePort) -> dict[str, Any]:
        """``ZERO``: wait for EVENT 6 (zero done) and ``OK ZERO``; return the event.

        Raises
        ------
        TransportError
            On ``ERR …`` or when the answer does not come within ``zero_timeout_s``.
        """
        n_rep, n_ev = len(self.decoder.replies), len(self.counters.events)

        def zero_event() -> dict[str, Any] | None:
            return next((e for e in self.counters.events[n_ev:] if e["code"] == 6), None)

        def done() -> bool:
            replies = self._replies_since(n_rep)
            return any(r.startswith("ERR") for r in replies) or (
                zero_event() is not None and "OK ZERO" in replies)

        ok, arrived = self._exchange(port, "ZERO", done, self.zero_timeout_s)
        name = port_name(port)
        errors = [r for r in self._replies_since(n_rep) if r.startswith("ERR")]
        if errors:
            raise TransportError(f"rig on {name} refused ZERO: {errors[0]!r}")
        if not ok:
            raise TransportError(f"rig on {name}: no EVENT 6 + 'OK ZERO' within "
                                 f"{self.zero_timeout_s:g} s of ZERO; {hex_preview(arrived)}")
        return zero_event() or {}

    def ping(self, port: BytePort) -> float:
        """``PING`` → ``PONG``; return the round trip, s (TransportError on timeout)."""
        n_rep = len(self.decoder.replies)
        t0 = time.monotonic()
        ok, arrived = self._exchange(
            port, "PING", lambda: "PONG" in self._replies_since(n_rep), self.reply_timeout_s)
        if not ok:
            raise TransportError(f"rig on {port_name(port)}: no PONG within "
                                 f"{self.reply_timeout_s:g} s of PING; {hex_preview(arrived)}")
        return time.monotonic() - t0
