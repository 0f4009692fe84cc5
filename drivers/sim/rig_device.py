"""Simulated VBR/1 rig (device side of ``rig-protocol.md``), for ``sim://rig``.

Commands are ASCII lines ending in ``\\n`` (a ``\\r`` before it is ignored), answered with
REPLY frames: ``HELLO`` → DESCRIBE, ``OK``; ``START [rate_hz]`` → seq 0, DESCRIBE, ``OK``,
then SAMPLEs; ``STOP`` → ``OK``; ``ZERO`` → EVENT 6, ``OK ZERO``; ``PING`` → ``PONG``;
anything else → ``ERR unknown command`` (``START`` with a rate that is not an integer
1 … 5000 → ``ERR bad rate_hz``).

Sample ``k`` after a START is taken at device time ``start + (k + 1) / rate_hz``;
``t_us`` is the device clock (µs since boot, restarted by a device reset). Values come
from the physics simulator (:func:`drivers.sim.points.simulation_from_params`, rebuilt at
each START) and are sent as flow 0.001 L/min at the sensor's ``condition`` (default
STP20) and airway pressure 0.001 cmH2O.

Query parameters (strings): ``seed``, ``rate_hz`` (default 1000), the simulator's
(``mode``, ``vt_ml``, ``rate_bpm``, ``ti_s``, ``peep_cmh2o``, ``dp_cmh2o``,
``c_ml_per_hpa``, ``r_hpa_s_per_l``, ``condition``, …), ``rig_id``, and fault injection —
times in s of device time since the first START:

- ``ber`` bit-error rate on the byte stream; ``drop`` probability a byte is lost;
  ``garbage`` random-byte bursts per second while streaming (inserted between frames);
- ``stall_at_s`` (default 1) and ``stall_s``: the link stalls; samples of the stall are
  dropped on the device (seq gap) and the next one has status bit 7;
- ``reset_at_s``: the device resets: EVENT 7, seq and clock restart at 0, status bit 6;
- ``sensor_fault_at_s``, ``sensor_fault_duration_s`` (default 1), ``sensor_fault_channel``
  (flow | paw | both): status bits 0/1, value 0, EVENT 1 and EVENT 2;
- ``record`` (0 | 1, default 1): with 0 :meth:`SimulatedRig.sent_samples` stays empty (a
  days-long run would otherwise keep every sample it sent in memory);
- ``continuous`` (0 | 1, default 0): with 1 a later START does not rebuild the simulation,
  so the ventilator keeps breathing (and drifting) through reconnects as a real one would;
- ``saturate``: flow sensor full scale, L/min (values clipped, status bit 2); paw beyond
  ±``saturate_paw_cmh2o`` (default 100) sets bit 3.

Everything put on the wire is recorded: :meth:`SimulatedRig.sent_samples` (seq, t_us,
values, status, epoch, corrupted), ``device_dropped`` and ``injected``. Byte faults are
drawn at absolute stream positions, so the bytes do not depend on how ``produce`` is called.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import SimulatedDevice
from ventbench.drivers.sim.alarm_bench import ACTUATORS, EVENT_ACTUATOR, AlarmBench, parse_late
from ventbench.drivers.sim.line_faults import ByteFaults, garbage_schedule
from ventbench.drivers.sim.params import RigDeviceOptions
from ventbench.drivers.sim.points import simulation_from_params
from ventbench.drivers.vbr1.frames import (
    EventCode,
    encode_describe,
    encode_event,
    encode_reply,
    encode_samples,
    sample_length,
)

MAX_RATE_HZ = 5000
FIRMWARE = "ventbench-sim-rig 1.0"


def _num(params: dict[str, str], key: str, default: float) -> float:
    text = params.get(key)
    if text is None or text == "":
        return default
    value = float(text)  # ValueError → ConfigError in the registry
    if not math.isfinite(value) and key not in ("saturate",):
        raise ValueError(f"{key} = {text!r} is not finite")
    return value


class SimulatedRig(SimulatedDevice):
    """Device side of VBR/1 (see module docstring)."""

    Options = RigDeviceOptions  #: its own parameters (typed); the simulator's keys too
    simulates = True

    def __init__(self, params: dict[str, str]) -> None:
        super().__init__(params)
        self.seed = int(_num(params, "seed", 0))
        self.default_rate_hz = int(_num(params, "rate_hz", 1000))
        if not 1 <= self.default_rate_hz <= MAX_RATE_HZ:
            raise ValueError(f"rate_hz {self.default_rate_hz}: expected 1 … {MAX_RATE_HZ}")
        self.ber = _num(params, "ber", 0.0)
        self.drop = _num(params, "drop", 0.0)
        self.garbage = _num(params, "garbage", 0.0)
        for key, p in (("ber", self.ber), ("drop", self.drop)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{key} = {p}: expected a probability 0 … <1")
        self.stall_at_s = _num(params, "stall_at_s", 1.0)
        self.stall_s = _num(params, "stall_s", 0.0)
        self.reset_at_s = _num(params, "reset_at_s", math.nan)
        self.fault_at_s = _num(params, "sensor_fault_at_s", math.nan)
        self.fault_s = _num(params, "sensor_fault_duration_s", 1.0)
        self.fault_channel = params.get("sensor_fault_channel", "flow")
        if self.fault_channel not in ("flow", "paw", "both"):
            raise ValueError(f"sensor_fault_channel {self.fault_channel!r}: flow, paw or both")
        self.flow_range_lpm = _num(params, "saturate", math.inf)
        self.paw_range_cmh2o = _num(params, "saturate_paw_cmh2o", 100.0)
        self.condition = GasCondition.parse(params.get("condition", "STP20")).value
        self.rig_id = params.get("rig_id", "SIM-RIG-01")
        self.continuous = params.get("continuous", "0") not in ("", "0", "false", "no")
        self.record = params.get("record", "1") not in ("", "0", "false", "no")
        self._sim_params = dict(params)
        #: actuators, microphone level and alarm system (``alarms=1``; docs/drivers/rig-actuators.md)
        self.alarm_bench = AlarmBench(
            seed=self.seed, peep_cmh2o=_num(params, "peep_cmh2o", 5.0),
            c_ml_per_hpa=_num(params, "c_ml_per_hpa", 50.0),
            late_s=parse_late(params.get("alarm_late", ""))) if params.get(
            "alarms", "0") not in ("", "0", "false", "no") else None
        self._sim_params.setdefault("condition", self.condition)
        # state
        self.streaming = False
        self.rate_hz = self.default_rate_hz
        self._now_us = 0
        self._boot_us = 0  #: continuous device time of the last boot
        self._start_us = 0
        self._first_start_us: int | None = None
        self._k = 0  #: next sample index since START
        self._seq0_k = 0  #: sample index that had seq 0
        self._status_once = 0  #: status bits for the next sample sent (6, 7)
        self._reset_done = False
        self._fault_state = False
        self._sim: Any = self._new_sim(float(self.rate_hz))
        self._rx = bytearray()
        self._queued: list[bytes] = []
        self._line_pos = 0  #: bytes put on the line (before drops)
        self._flips = ByteFaults(self.ber, [self.seed, 101])
        self._drops = ByteFaults(self.drop, [self.seed, 102])
        self._garbage_bursts = garbage_schedule(self.seed, self.garbage)
        self._next_garbage = next(self._garbage_bursts, None)
        # the record of what was sent
        self._sent: list[dict[str, np.ndarray]] = []
        self.device_dropped: list[int] = []  #: seq numbers dropped on the device (stall)
        #: non-sample frames: type byte, line offset, corrupted
        self.frames_sent: list[dict[str, Any]] = []
        self.injected = {"bit_flips": 0, "dropped_bytes": 0, "garbage_bursts": 0,
                         "garbage_bytes": 0}
        self.epoch = 0  #: device resets so far

    # -- host → device ------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        self._rx += data
        while (end := self._rx.find(b"\n")) >= 0:
            line = bytes(self._rx[:end])
            del self._rx[: end + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            self._command(line.decode("ascii", errors="replace"))

    def _command(self, line: str) -> None:
        parts = line.split(" ")
        word = parts[0]
        if line == "HELLO":
            self._queued += [encode_describe(self.describe()), encode_reply("OK")]
        elif word == "START" and len(parts) <= 2:
            rate = self.default_rate_hz
            if len(parts) == 2:
                if not parts[1].isdigit() or not 1 <= int(parts[1]) <= MAX_RATE_HZ:
                    self._queued.append(encode_reply("ERR bad rate_hz"))
                    return
                rate = int(parts[1])
            self._start(rate)
            self._queued += [encode_describe(self.describe()), encode_reply("OK")]
        elif line == "STOP":
            self.streaming = False
            self._queued.append(encode_reply("OK"))
        elif line == "ZERO":
            t_us = self._now_us - self._boot_us
            self._queued += [encode_event(t_us, EventCode.ZERO_DONE, "flow and pressure zeroed"),
                             encode_reply("OK ZERO")]
        elif line == "PING":
            self._queued.append(encode_reply("PONG"))
        elif self.alarm_bench is not None and (
                act := self.alarm_bench.command(line, self._now_us)) is not None:
            t_us = self._now_us - self._boot_us
            self._queued += [encode_event(t_us, EVENT_ACTUATOR, text) for text in act[1]]
            self._queued.append(encode_reply(act[0]))
        else:
            self._queued.append(encode_reply("ERR unknown command"))

    def _start(self, rate: int) -> None:
        self.rate_hz = rate
        self.streaming = True
        self._start_us = self._now_us
        if self._first_start_us is None:
            self._first_start_us = self._now_us
        self._k = 0
        self._seq0_k = 0
        if self.continuous and getattr(self._sim, "fs_hz", None) == float(rate):
            return  # the ventilator was never stopped: the same simulation goes on
        self._sim = self._new_sim(float(rate))

    def _new_sim(self, rate_hz: float) -> Any:
        """The simulation behind the samples (no per-breath truth: no one reads it); a
        subclass streaming another device overrides this, :meth:`_extra_channels` and
        :attr:`n_channels`."""
        return simulation_from_params(self._sim_params, rate_hz, truth=False)

    #: channels per SAMPLE (flow and paw, then any :meth:`_extra_channels`)
    n_channels = 2

    def _extra_channels(self, chunk: Any, n: int) -> list[np.ndarray]:  # noqa: ARG002 - hook
        """Raw i32 values of channels after flow and paw, one array of ``n`` per channel."""
        return []

    def describe(self) -> dict[str, Any]:
        """The DESCRIBE object (``sim`` is a key the protocol does not define)."""
        return self._describe_channels({
            "protocol": "VBR/1", "firmware": FIRMWARE, "rig_id": self.rig_id,
            "rate_hz": self.rate_hz,
            "channels": [
                {"name": "flow", "unit": "L/min", "scale": 0.001, "condition": self.condition,
                 "sensor": "SIM-SFM3300", "serial": f"SIM-F-{self.seed}",
                 "calibrated": "2026-01-01"},
                {"name": "paw", "unit": "cmH2O", "scale": 0.001, "sensor": "SIM-HSC",
                 "serial": f"SIM-P-{self.seed}"},
            ],
            "sim": {"seed": self.seed},
        } | ({} if self.alarm_bench is None else {"actuators": list(ACTUATORS)}))

    def _describe_channels(self, info: dict[str, Any]) -> dict[str, Any]:
        if self.alarm_bench is not None:
            info["channels"].append({"name": "sound", "unit": "dBA", "scale": 0.01,
                                     "sensor": "SIM-MIC", "response_s": 0.0})
        return info

    def idle(self) -> bool:
        return not self.streaming and not self._queued

    # -- device → host ------------------------------------------------------------------
    @staticmethod
    def _us(t_s: float) -> int:
        return int(round(t_s * 1e6))

    def produce(self, until_s: float) -> bytes:
        until_us = int(math.floor(until_s * 1e6))
        inserts: list[tuple[int, bytes, str]] = []  # (before sample i, bytes, kind)
        head = [(0, q, "frame") for q in self._queued]  # replies first
        self._queued = []
        rows = None
        if self.streaming and until_us > self._now_us:
            rows = self._samples_until(until_us, inserts)
        self._now_us = max(self._now_us, until_us)
        return self._line(head + sorted(inserts, key=lambda x: x[0]), rows)

    def _samples_until(self, until_us: int, inserts: list) -> dict[str, np.ndarray] | None:
        """The samples due up to ``until_us`` (events and garbage go to ``inserts``)."""
        rate = self.rate_hz
        k_end = ((until_us - self._start_us) * rate) // 1_000_000  # (k+1)·1e6/rate ≤ Δ
        k = np.arange(self._k, max(self._k, k_end), dtype=np.int64)
        if k.size == 0:
            return None
        self._k = int(k_end)
        dev_us = self._start_us + ((k + 1) * 1_000_000) // rate
        stream_us = dev_us - (self._first_start_us or 0)  # µs since the first START
        flow, paw, status = self._values(k.size)
        extra = self._extra
        events: list[tuple[int, int, str]] = []
        self._sensor_fault(stream_us, flow, paw, status, events)
        seq, t_us, epoch = self._clock(k, dev_us, stream_us, status, events)
        send = self._stall(stream_us, seq, status)
        # the alarm bench changes flow and paw in place (a disconnection), then adds the
        # microphone's level as the last channel (the HELLO's "sound")
        level = None if self.alarm_bench is None else self.alarm_bench.apply(dev_us, flow, paw, events)
        cols = [np.round(flow * 1000.0), np.round(paw * 1000.0), *extra]
        if level is not None:
            cols.append(np.round(level * 100.0))
        ch = np.stack(cols, axis=1).astype(np.int64)
        frames = np.frombuffer(encode_samples(seq, t_us, ch, status), dtype=np.uint8)
        for i, code, text in events:
            inserts.append((i, encode_event(int(t_us[i]), code, text), "frame"))
        self._garbage(dev_us, inserts)
        return {"seq": seq, "t_us": t_us, "ch": ch, "status": status, "epoch": epoch,
                "dev_us": dev_us, "send": send,
                "frames": frames.reshape(k.size, 7 + sample_length(ch.shape[1]))}

    def _values(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flow L/min, paw cmH2O and status bits of the next ``n`` samples."""
        chunk = self._sim.advance(n)
        self._extra = self._extra_channels(chunk, n)
        flow = np.array(chunk.flow_lpm, dtype=np.float64)
        paw = np.array(chunk.paw_cmh2o, dtype=np.float64)
        flags = np.asarray(chunk.flags, dtype=np.uint8)
        if flow.size != n:  # the simulator left samples out: hold the last value, stale
            pad = n - flow.size
            flow = np.concatenate([flow, np.full(pad, flow[-1] if flow.size else 0.0)])
            paw = np.concatenate([paw, np.full(pad, paw[-1] if paw.size else 0.0)])
            flags = np.concatenate([flags, np.full(pad, SampleFlag.STALE, np.uint8)])
        status = np.zeros(n, dtype=np.int64)
        status[(flags & SampleFlag.STALE) != 0] |= 0b110000
        bad = ((flags & SampleFlag.FAULT) != 0) | ~np.isfinite(flow) | ~np.isfinite(paw)
        status[bad] |= 0b11
        flow[~np.isfinite(flow)] = 0.0
        paw[~np.isfinite(paw)] = 0.0
        status[np.abs(flow) >= self.flow_range_lpm] |= 0b100
        status[np.abs(paw) >= self.paw_range_cmh2o] |= 0b1000
        np.clip(flow, -self.flow_range_lpm, self.flow_range_lpm, out=flow)
        np.clip(paw, -self.paw_range_cmh2o, self.paw_range_cmh2o, out=paw)
        return flow, paw, status

    def _sensor_fault(self, stream_us, flow, paw, status, events) -> None:
        """Status bits 0/1 and value 0 inside the fault window; EVENT 1 / 2 at its edges."""
        if not math.isfinite(self.fault_at_s):
            return
        a_us = self._us(self.fault_at_s)
        inside = (stream_us >= a_us) & (stream_us < a_us + self._us(self.fault_s))
        status[inside] |= {"flow": 0b01, "paw": 0b10, "both": 0b11}[self.fault_channel]
        if self.fault_channel in ("flow", "both"):
            flow[inside] = 0.0
        if self.fault_channel in ("paw", "both"):
            paw[inside] = 0.0
        for i in np.flatnonzero(np.diff(np.concatenate([[self._fault_state], inside]))).tolist():
            code = EventCode.SENSOR_FAULT if inside[i] else EventCode.SENSOR_RECOVERED
            events.append((i, code, f"{self.fault_channel} sensor"))
        self._fault_state = bool(inside[-1])

    def _clock(self, k, dev_us, stream_us, status, events):
        """seq, t_us and epoch of samples ``k``; a device reset restarts seq and clock."""
        old_boot_us, old_seq0_k = self._boot_us, self._seq0_k
        after = np.zeros(k.size, dtype=bool)
        epoch = np.full(k.size, self.epoch, dtype=np.int64)
        if math.isfinite(self.reset_at_s) and not self._reset_done:
            hit = np.flatnonzero(stream_us >= self._us(self.reset_at_s))
            if hit.size:
                i = int(hit[0])
                self._reset_done = True
                self._seq0_k = int(k[i])
                self._boot_us = (self._first_start_us or 0) + self._us(self.reset_at_s)
                after[i:] = True
                epoch[i:] += 1
                self.epoch += 1
                status[i] |= 1 << 6
                events.append((i, EventCode.RIG_RESET, "device reset"))
        seq = np.where(after, k - self._seq0_k, k - old_seq0_k)
        t_us = dev_us - np.where(after, self._boot_us, old_boot_us)
        return seq, t_us, epoch

    def _stall(self, stream_us, seq, status) -> np.ndarray:
        """Which samples are sent; those of a stall are dropped on the device (bit 7 next)."""
        if self._status_once:
            status[0] |= self._status_once
            self._status_once = 0
        send = np.ones(seq.size, dtype=bool)
        if self.stall_s > 0:
            a_us = self._us(self.stall_at_s)
            send = ~((stream_us >= a_us) & (stream_us < a_us + self._us(self.stall_s)))
            if not send.all():
                status[np.flatnonzero(~send[:-1] & send[1:]) + 1] |= 1 << 7
                self.device_dropped += seq[~send].tolist()
                if not send[-1]:
                    self._status_once |= 1 << 7
        return send

    def _garbage(self, dev_us, inserts) -> None:
        """Random-byte bursts (30 % start with a false sync word) between frames."""
        while self._next_garbage is not None and self._next_garbage[0] <= dev_us[-1]:
            t_us, junk = self._next_garbage
            inserts.append((int(np.searchsorted(dev_us, t_us)), junk, "garbage"))
            self._next_garbage = next(self._garbage_bursts, None)

    def _line(self, inserts: list[tuple[int, bytes, str]], rows: dict | None) -> bytes:
        """Lay frames on the line in order, inject byte faults, record what was sent."""
        n = 0 if rows is None else rows["frames"].shape[0]
        sent = np.zeros(0, dtype=np.int64) if rows is None else np.flatnonzero(rows["send"])
        size = 7 + sample_length(self.n_channels + (self.alarm_bench is not None)) if rows is None \
            else rows["frames"].shape[1]
        pieces: list[bytes] = []
        spans: list[tuple[int, int, str, bytes]] = []  # non-sample pieces: start, end, kind
        sample_at = np.empty(sent.size, dtype=np.int64)  # line offset of each sent sample
        pos = self._line_pos
        done = 0  # sent samples laid so far
        every = sent.size == n  # nothing dropped on the device: slices, no gathers
        for i, data, kind in [*inserts, (n, b"", "end")]:
            upto = int(np.searchsorted(sent, i))  # sent samples before sample i
            if upto > done:
                sample_at[done:upto] = pos + size * np.arange(upto - done)
                pick = slice(done, upto) if every else sent[done:upto]
                pieces.append(rows["frames"][pick])  # a buffer: joined without a copy
                pos += size * (upto - done)
                done = upto
            if data:
                pieces.append(data)
                spans.append((pos, pos + len(data), kind, data))
                pos += len(data)
        line: bytes | bytearray = b"".join(pieces)
        start = self._line_pos
        flips = self._flips.take(pos * 8)
        if flips:
            line = bytearray(line)
        for bit in flips:
            line[bit // 8 - start] ^= 0x80 >> (bit % 8)
        drops = self._drops.take(pos)
        if drops:
            keep = np.ones(len(line), dtype=bool)
            keep[np.asarray(drops) - start] = False
            line = np.frombuffer(line, dtype=np.uint8)[keep].tobytes()
        self._line_pos = pos
        self.injected["bit_flips"] += len(flips)
        self.injected["dropped_bytes"] += len(drops)
        hits = np.array(sorted({b // 8 for b in flips} | set(drops)), dtype=np.int64)

        def hit(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
            return np.searchsorted(hits, b) > np.searchsorted(hits, a)

        for a, b, kind, data in spans:
            if kind == "garbage":
                self.injected["garbage_bursts"] += 1
                self.injected["garbage_bytes"] += b - a
            elif self.record:
                self.frames_sent.append({"type": data[2], "offset": a,
                                         "corrupted": bool(hit(a, b))})
        if rows is not None and self.record:
            record = {key: rows[key][sent] for key in
                      ("seq", "t_us", "ch", "status", "epoch", "dev_us")}
            record["corrupted"] = hit(sample_at, sample_at + size)
            self._sent.append(record)
        return bytes(line)  # no copy when it is bytes already

    # -- the record -----------------------------------------------------------------------
    def sent_samples(self) -> dict[str, np.ndarray]:
        """Every SAMPLE put on the wire, in order: ``seq``, ``t_us``, ``ch`` (n, 2) raw
        values, ``status``, ``epoch`` (device resets before it), ``dev_us`` (continuous
        device time) and ``corrupted`` (a byte of the frame was flipped or dropped)."""
        keys = ("seq", "t_us", "ch", "status", "epoch", "dev_us", "corrupted")
        if not self._sent:
            return {k: np.zeros((0, 2) if k == "ch" else 0, dtype=np.int64) for k in keys}
        return {k: np.concatenate([s[k] for s in self._sent]) for k in keys}
