"""VBR/1 payloads → samples: DESCRIBE layouts, SAMPLE decoding, status flags, seq accounting.

:class:`SampleDecoder` takes the :class:`~drivers.vbr1.deframer.FrameBatch` of each feed and
returns a :class:`~drivers.base.SampleBlock` on the device time base (``t_s = t_us / 1e6``;
nothing is unwrapped). Runs of SAMPLE frames are decoded column-wise; DESCRIBE, EVENT and
REPLY frames are handled one by one, in stream order.

Sequence accounting (``rig-protocol.md`` host rules):

- ``seq`` jumps forward by more than one: the missing samples are lost; the gap is recorded
  as ``{"after_seq", "missing"}`` and the next received sample is flagged GAP;
- ``seq`` does not advance (goes back or repeats) with no DESCRIBE since the previous
  sample: a device reset — a new segment, counted in ``resets``, first sample flagged RESET;
- after a DESCRIBE (sent at each START) the next sample may restart from 0: when it does
  not advance, it is a START — a new segment (flagged RESET, not counted as a reset); and
  samples 0 … seq−1 that never arrived are a gap ``after_seq = -1``. When no sample came
  before the DESCRIBE, the stream starts at seq 0 likewise.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import DecodeCounters, SampleBlock
from ventbench.drivers.vbr1.deframer import FrameBatch
from ventbench.drivers.vbr1.frames import (
    FrameType,
    decode_event,
    event_name,
    sample_frame_dtype,
    sample_length,
)
from ventbench.units import flow_factor_to_lpm, pressure_factor_to_cmh2o

#: status bit → SampleFlag: faults 0/1, saturation 2/3, stale 4/5, clock reset 6, overflow 7.
STATUS_BITS = {
    0: SampleFlag.FAULT, 1: SampleFlag.FAULT,
    2: SampleFlag.SATURATED, 3: SampleFlag.SATURATED,
    4: SampleFlag.STALE, 5: SampleFlag.STALE,
    6: SampleFlag.RESET, 7: SampleFlag.GAP,
}
STATUS_FLAGS = np.zeros(256, dtype=np.uint8)
for _bit, _flag in STATUS_BITS.items():
    STATUS_FLAGS[[v for v in range(256) if v & (1 << _bit)]] |= np.uint8(_flag)

_UNIT_SUFFIX = {"%": "pct", "degc": "degc", "°c": "degc", "hpa": "hpa", "l/min": "lpm",
                "cmh2o": "cmh2o", "ppm": "ppm", "mbar": "mbar", "kpa": "kpa", "v": "v"}
DEFAULT_CONDITION = GasCondition.STP20
_SAMPLE = int(FrameType.SAMPLE)


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of a layout: raw i32 × ``factor`` = value in the unit of ``key``.

    ``factor`` is NaN when the unit cannot be converted (values become NaN, flagged FAULT).
    """

    name: str
    key: str
    unit: str
    scale: float
    factor: float
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


def _channel_key(name: str, unit: str, taken: set[str]) -> str:
    suffix = _UNIT_SUFFIX.get(unit.strip().lower(), "".join(c for c in unit.lower() if c.isalnum()))
    base = "fio2" if name.lower() in ("o2", "fio2") and suffix == "pct" else name.lower()
    key = f"{base}_{suffix}" if suffix and not base.endswith(f"_{suffix}") else base
    while key in taken:
        key += "_"
    return key


@dataclass(frozen=True)
class Layout:
    """Channels of a SAMPLE payload and the gas condition of the flow."""

    channels: tuple[ChannelSpec, ...]
    flow_condition: GasCondition = DEFAULT_CONDITION

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def payload_length(self) -> int:
        return sample_length(self.n_channels)

    @classmethod
    def default(cls) -> Layout:
        """K = 2 without a DESCRIBE: flow 0.001 L/min STP20, airway pressure 0.001 cmH2O."""
        return cls((ChannelSpec("flow", "flow_lpm", "L/min", 0.001, 0.001),
                    ChannelSpec("paw", "paw_cmh2o", "cmH2O", 0.001, 0.001)))


def parse_describe(payload: bytes) -> tuple[dict[str, Any], Layout | None, list[str]]:
    """Parse a DESCRIBE payload.

    Returns
    -------
    info : dict
        The JSON object as sent (unknown keys kept); empty when it does not parse.
    layout : Layout or None
        The SAMPLE layout it declares, None when the channel list is unusable.
    problems : list of str
        What is wrong with it (never raises).
    """
    problems: list[str] = []
    try:
        info = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return {}, None, [f"DESCRIBE is not UTF-8 JSON: {error}"]
    if not isinstance(info, dict):
        return {}, None, ["DESCRIBE is not a JSON object"]
    if info.get("protocol") not in (None, "VBR/1"):
        problems.append(f"DESCRIBE protocol is {info.get('protocol')!r}, expected 'VBR/1'")
    chans = info.get("channels")
    if not isinstance(chans, list) or len(chans) < 2 or not all(isinstance(c, dict) for c in chans):
        return info, None, problems + ["DESCRIBE channels must be a list of >= 2 objects"]
    specs: list[ChannelSpec] = []
    taken: set[str] = set()
    condition = DEFAULT_CONDITION
    for i, ch in enumerate(chans):
        name = str(ch.get("name", f"ch{i}"))
        unit = str(ch.get("unit", ""))
        try:
            scale = float(ch.get("scale", 1.0))
        except (TypeError, ValueError):
            scale = float("nan")
            problems.append(f"channel {name!r}: scale {ch.get('scale')!r} is not a number")
        factor = scale
        if i < 2:
            want, key = (("flow", "flow_lpm"), ("paw", "paw_cmh2o"))[i]
            if name != want:
                problems.append(f"channel {i} is {name!r}, expected {want!r}: values not trusted")
                factor = float("nan")
            try:
                conv = flow_factor_to_lpm(unit) if i == 0 else pressure_factor_to_cmh2o(unit)
                factor *= conv
            except KeyError as error:
                problems.append(f"channel {name!r}: {error.args[0]}")
                factor = float("nan")
            if i == 0 and "condition" in ch:
                try:
                    condition = GasCondition.parse(ch["condition"])
                except Exception as error:  # noqa: BLE001 - a ConfigError; never raise here
                    problems.append(f"flow {error}; assuming {DEFAULT_CONDITION.value}")
        else:
            key = _channel_key(name, unit, taken | {"flow_lpm", "paw_cmh2o"})
        taken.add(key)
        specs.append(ChannelSpec(name, key, unit, scale, factor, dict(ch)))
    return info, Layout(tuple(specs), condition), problems


#: Most :attr:`SampleDecoder.corruptions` kept when no consumer pops them.
MAX_CORRUPTIONS = 65536


class SampleDecoder:
    """Frames → samples, events, replies and DESCRIBE metadata, with loss accounting.

    Parameters
    ----------
    counters : DecodeCounters, optional
        Updated in place (``samples``, ``lost_samples``, ``gaps``, ``resets``, ``events``).

    Attributes
    ----------
    layout : Layout
        Current SAMPLE layout (default until a DESCRIBE arrives).
    describe : dict or None
        The last DESCRIBE object; ``describe_problems`` lists what was wrong with it;
        ``n_describes`` counts them; ``replies_before_describe`` is ``len(replies)`` when
        the last one arrived.
    replies : list of str
        REPLY texts, in order.
    segments : list of dict
        ``{"index", "seq", "t_us", "reason"}`` for each new segment after the first
        (reason ``"start"`` or ``"reset"``); ``index`` counts decoded samples.
    malformed_frames : int
        Frames with a good CRC whose payload does not fit (wrong SAMPLE length, short EVENT).
    corruptions : deque of (int, int, int)
        Where line damage was: ``(index, discarded_bytes, rejected_frames)`` for each sample
        preceded by discarded bytes or rejected / malformed frames since the sample before
        it (``index`` counts decoded samples, like ``segments``). Consumers pop from the
        left; the newest :data:`MAX_CORRUPTIONS` are kept when nobody does.
    raw : list of ndarray
        Raw SAMPLE records (seq, t_us, ch, status) decoded by the last :meth:`decode`.
    """

    def __init__(self, counters: DecodeCounters | None = None) -> None:
        self.counters = counters if counters is not None else DecodeCounters()
        self.layout = Layout.default()
        self.describe: dict[str, Any] | None = None
        self.describe_problems: list[str] = []
        self.n_describes = 0
        self.replies_before_describe = 0
        self.replies: list[str] = []
        self.segments: list[dict[str, Any]] = []
        self.malformed_frames = 0
        self.corruptions: deque[tuple[int, int, int]] = deque(maxlen=MAX_CORRUPTIONS)
        self._damage = [0, 0]  #: bytes discarded, frames rejected since the last sample
        self.raw: list[np.ndarray] = []
        self.last_seq: int | None = None
        self.after_describe = False

    def reset_stream(self) -> None:
        """Forget the sequence state (as before the first sample)."""
        self.last_seq = None
        self.after_describe = False

    def decode(self, batch: FrameBatch) -> SampleBlock:
        """Decode one batch of frames; return its samples in stream order."""
        self.raw = []
        blocks: list[SampleBlock] = []
        other = np.flatnonzero(batch.type != _SAMPLE)
        bounds = [-1, *other.tolist(), len(batch)]
        zeros = np.zeros(len(batch), dtype=np.int64)
        gap_bytes = zeros if batch.gap_bytes is None else batch.gap_bytes
        gap_rejected = zeros if batch.gap_rejected is None else batch.gap_rejected
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if b - a > 1:
                blocks.append(self._samples(batch, np.arange(a + 1, b), gap_bytes, gap_rejected))
            if b < len(batch):
                malformed = self.malformed_frames
                self._other(int(batch.type[b]), batch.payload(b))
                self._damage[0] += int(gap_bytes[b])
                self._damage[1] += int(gap_rejected[b]) + self.malformed_frames - malformed
        if not blocks:
            return SampleBlock.empty(tuple(c.key for c in self.layout.channels[2:]))
        return blocks[0] if len(blocks) == 1 else SampleBlock.concatenate(blocks)

    # -- non-sample frames ---------------------------------------------------------------
    def _other(self, ftype: int, payload: bytes) -> None:
        if ftype == FrameType.DESCRIBE:
            info, layout, problems = parse_describe(payload)
            self.describe = info
            self.describe_problems = problems
            self.n_describes += 1
            self.replies_before_describe = len(self.replies)
            if layout is not None:
                self.layout = layout
            self.after_describe = True
        elif ftype == FrameType.EVENT:
            ev = decode_event(payload)
            if ev is None:
                self.malformed_frames += 1
                return
            t_us, code, text = ev
            self.counters.events.append(
                {"t_s": t_us / 1e6, "t_us": t_us, "code": code, "name": event_name(code), "text": text})
        elif ftype == FrameType.REPLY:
            self.replies.append(payload.decode("utf-8", errors="replace"))

    # -- samples -------------------------------------------------------------------------
    def _samples(self, batch: FrameBatch, index: np.ndarray, gap_bytes: np.ndarray,
                 gap_rejected: np.ndarray) -> SampleBlock:
        layout = self.layout
        length = layout.payload_length
        ok = batch.length[index] == length
        self._locate(gap_bytes[index], gap_rejected[index] + ~ok, np.flatnonzero(ok))
        if not ok.all():
            self.malformed_frames += int(np.count_nonzero(~ok))
            index = index[ok]
        rows = batch.frame_rows(index, length)
        rec = rows.view(sample_frame_dtype(layout.n_channels))[:, 0]
        self.raw.append(rec)
        n = rec.shape[0]
        if n == 0:
            return SampleBlock.empty(tuple(c.key for c in layout.channels[2:]))
        seq = rec["seq"].astype(np.int64)
        flags = STATUS_FLAGS[rec["status"] & 0xFF]
        self._account(seq, rec["t_us"], flags)
        ch = rec["ch"]
        values = [ch[:, i] * spec.factor for i, spec in enumerate(layout.channels)]
        if not (np.isfinite(layout.channels[0].factor) and np.isfinite(layout.channels[1].factor)):
            flags |= np.uint8(SampleFlag.FAULT)
        self.counters.samples += n
        return SampleBlock(
            rec["t_us"] / 1e6, values[0], values[1], flags,
            {spec.key: v for spec, v in zip(layout.channels[2:], values[2:], strict=True)}, seq,
        )

    def _locate(self, damage_bytes: np.ndarray, damage_frames: np.ndarray, kept: np.ndarray) -> None:
        """Give the damage before each frame of a run (bytes discarded, frames rejected or
        malformed) to the next sample decoded (``kept``: the run's good SAMPLE frames)."""
        total_bytes = np.cumsum(damage_bytes) + self._damage[0]
        total_frames = np.cumsum(damage_frames) + self._damage[1]
        if kept.size == 0:
            self._damage = [int(total_bytes[-1]), int(total_frames[-1])]
            return
        at_bytes, at_frames = total_bytes[kept], total_frames[kept]
        at_bytes[1:] -= total_bytes[kept[:-1]]
        at_frames[1:] -= total_frames[kept[:-1]]
        self._damage = [int(total_bytes[-1] - total_bytes[kept[-1]]),
                        int(total_frames[-1] - total_frames[kept[-1]])]
        base = self.counters.samples
        for i in np.flatnonzero((at_bytes > 0) | (at_frames > 0)).tolist():
            self.corruptions.append((base + i, int(at_bytes[i]), int(at_frames[i])))

    def _account(self, seq: np.ndarray, t_us: np.ndarray, flags: np.ndarray) -> None:
        """Gaps, resets and segments for one run of samples (``flags`` updated in place)."""
        first = int(seq[0])
        base = self.counters.samples
        if self.after_describe:
            if self.last_seq is not None and first <= self.last_seq:
                self._segment(base, first, int(t_us[0]), "start")
                flags[0] |= SampleFlag.RESET
                self.last_seq = -1
            elif self.last_seq is None:
                self.last_seq = -1
            self.after_describe = False
        prev = np.empty_like(seq)
        prev[1:] = seq[:-1]
        prev[0] = first - 1 if self.last_seq is None else self.last_seq
        step = seq - prev
        for i in np.flatnonzero(step != 1).tolist():
            if step[i] > 1:
                missing = int(step[i]) - 1
                self.counters.lost_samples += missing
                self.counters.gaps.append({"after_seq": int(prev[i]), "missing": missing})
                flags[i] |= SampleFlag.GAP
            else:
                self.counters.resets += 1
                self._segment(base + i, int(seq[i]), int(t_us[i]), "reset")
                flags[i] |= SampleFlag.RESET
        self.last_seq = int(seq[-1])

    def _segment(self, index: int, seq: int, t_us: int, reason: str) -> None:
        self.segments.append({"index": index, "seq": seq, "t_us": t_us, "reason": reason})
