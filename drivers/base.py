"""What every driver and simulated device provides; the seams between transport and protocol.

Layering (pyserial / PyMeasure style):

- a *port* is any pyserial-like object opened by URL (``serial.serial_for_url``);
- :class:`CapturedPort` (``drivers/transport.py``) wraps it so that every byte written or read
  is in the capture file before anybody decodes it;
- a :class:`Driver` holds the instrument logic: a synchronous ``handshake`` (request/answer
  before streaming), ``start``/``stop`` of streaming, and ``feed`` — decode received bytes
  (already captured) into a :class:`SampleBlock`. ``feed`` is called from the reader thread
  with chunks of any size and must give identical samples for any chunking;
- a :class:`SimulatedDevice` speaks the device side of a protocol, for ``sim://`` URLs and
  ``ventbench simulate``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from ventbench.analysis.gas import GasCondition
from ventbench.drivers.options import Options


class BytePort(Protocol):
    """The part of a pyserial ``Serial`` a driver uses."""

    timeout: float | None

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes: ...

    def reset_input_buffer(self) -> None: ...


@dataclass
class SampleBlock:
    """Decoded samples, column-wise, on the device time base.

    ``flow_lpm`` / ``paw_cmh2o`` are NaN where a source has no such channel (e.g. a
    flowmeter without airway pressure), with :attr:`analysis.trace.SampleFlag.FAULT` set so
    the analysis never trusts a missing value silently.
    """

    t_s: np.ndarray
    flow_lpm: np.ndarray
    paw_cmh2o: np.ndarray
    flags: np.ndarray
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    seq: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @classmethod
    def empty(cls, channel_names: tuple[str, ...] = ()) -> SampleBlock:
        f = np.empty(0, dtype=np.float64)
        return cls(
            f, f.copy(), f.copy(), np.empty(0, dtype=np.uint8),
            {name: f.copy() for name in channel_names}, np.empty(0, dtype=np.int64),
        )

    @classmethod
    def concatenate(cls, blocks: list[SampleBlock]) -> SampleBlock:
        """Join blocks in order (channels present in every block are kept)."""
        blocks = [b for b in blocks if len(b)] or blocks[:1]
        if not blocks:
            return cls.empty()
        names = set.intersection(*(set(b.channels) for b in blocks))
        seqs = [b.seq for b in blocks]
        return cls(
            np.concatenate([b.t_s for b in blocks]),
            np.concatenate([b.flow_lpm for b in blocks]),
            np.concatenate([b.paw_cmh2o for b in blocks]),
            np.concatenate([b.flags for b in blocks]),
            {n: np.concatenate([b.channels[n] for b in blocks]) for n in sorted(names)},
            None if any(s is None for s in seqs) else np.concatenate(seqs),
        )


@dataclass
class DecodeCounters:
    """What a decoder saw; the ``record.json`` counts of the contract."""

    samples: int = 0
    lost_samples: int = 0
    rejected_frames: int = 0
    discarded_bytes: int = 0
    gaps: list[dict[str, int]] = field(default_factory=list)  #: {"after_seq", "missing"}
    resets: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  #: device events, in order

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "lost_samples": self.lost_samples,
            "rejected_frames": self.rejected_frames,
            "discarded_bytes": self.discarded_bytes,
            "gaps": list(self.gaps),
            "resets": self.resets,
            "events": list(self.events),
        }


class Driver(ABC):
    """Instrument logic for one protocol; knows nothing of threads or files.

    Subclasses set ``name`` (the ``--driver`` value), ``serial_defaults`` (keyword
    arguments for ``serial.serial_for_url``), ``flow_condition`` and ``Options``: the frozen
    dataclass of their options (:mod:`drivers.options`), parsed once when the driver is made.

    Parameters
    ----------
    options : Options, optional
        Already parsed options (an instance of the class's ``Options``).
    **raw
        Or the options as keywords (text or JSON values, e.g. an old session's
        ``driver_options``), parsed by ``Options.from_dict``.

    Attributes
    ----------
    opts : Options
        The typed options.
    options : dict
        The same as a plain dict (``opts.to_dict()``), as recorded in session files.
    """

    name: ClassVar[str]
    serial_defaults: ClassVar[dict[str, Any]] = {}
    flow_condition: GasCondition = GasCondition.BTPS
    Options: ClassVar[type[Options]] = Options

    def __init__(self, options: Options | None = None, /, **raw: Any) -> None:
        if options is None:
            options = self.Options.from_dict(raw, f"{self.name} driver option")
        elif raw or not isinstance(options, self.Options):
            raise TypeError(f"{type(self).__name__}: give a {self.Options.__name__} or keywords")
        self.opts = options
        self.options = options.to_dict()
        self.counters = DecodeCounters()
        self.info: dict[str, Any] = {"driver": self.name}

    @abstractmethod
    def handshake(self, port: BytePort) -> dict[str, Any]:
        """Identify the device and read its metadata; return ``self.info``.

        Raises :class:`~ventbench.errors.TransportError` naming the port and what arrived
        when the device does not answer as its protocol says.
        """

    @abstractmethod
    def start(self, port: BytePort) -> None:
        """Ask the device to stream samples."""

    @abstractmethod
    def stop(self, port: BytePort) -> None:
        """Ask the device to stop streaming (best effort; never raises on a dead port)."""

    @abstractmethod
    def feed(self, data: bytes) -> SampleBlock:
        """Decode received bytes (any chunking) into samples; never raises on bad bytes."""

    def poll(self, port: BytePort) -> None:  # noqa: B027 - optional hook
        """Called periodically while streaming, for drivers that must send requests."""

    def expected_silence_s(self) -> float:
        """The longest time, s, this device may send no sample while working normally
        (0: it streams). An instrument that answers in blocks says how long a block
        takes, so a no-data limit is never shorter than what was asked for."""
        return 0.0


class SimulatedDevice(ABC):
    """Device side of a protocol for ``sim://`` and ``ventbench simulate``.

    Time is the device's own: ``produce(until_s)`` returns the bytes the device would
    have sent up to device time ``until_s``; the caller decides how device time relates
    to the wall clock (``speed``). Deterministic for a given ``seed``.

    ``Options`` declares the device's own parameters (:mod:`drivers.sim.params`);
    ``simulates`` says it also takes the physics simulator's keys. The registry refuses
    any other key before the device is made.
    """

    Options: ClassVar[type[Options]] = Options
    simulates: ClassVar[bool] = False

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params

    @abstractmethod
    def receive(self, data: bytes) -> None:
        """Bytes from the host (commands)."""

    @abstractmethod
    def produce(self, until_s: float) -> bytes:
        """Bytes to the host up to device time ``until_s``, s."""

    def idle(self) -> bool:
        """True when the device has nothing to send until it receives a command."""
        return False
