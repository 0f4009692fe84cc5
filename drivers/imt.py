"""Driver for the IMT Analytics FlowAnalyser PF-300 and CITREX H4/H5 (RS-232, 19200 8N1).

Request/answer logic (handshake, single reads, settings, the analyser's own breath values)
and the fast data stream (``%CM#64`` … ``%CM#65``). Protocol tables and framing live in
:mod:`drivers.imt_codec`; see docs/drivers/imt.md for what is verified and what is not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ventbench.analysis.gas import P_H2O_BTPS_HPA, GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import BytePort, Driver, SampleBlock
from ventbench.drivers.imt_codec import (
    AIRWAY_PRESSURE_IDS,
    FAST_TICK_S,
    FAST_UNDEFINED,
    FLOW_IDS,
    GAS_STANDARDS,
    INFO_IDS,
    MEASUREMENTS,
    Answer,
    AnswerFramer,
    FastFormat,
    FastPacketFramer,
    encode_request,
    scaled,
)
from ventbench.drivers.options import Options, option
from ventbench.errors import ConfigError, TransportError
from ventbench.units import CMH2O_PER_HPA, HPA_PER_MBAR

#: Setting 3 values that map directly onto a GasCondition.
_DIRECT_CONDITIONS = {
    1: GasCondition.STP21,
    2: GasCondition.BTPS,
    4: GasCondition.STPD,
    11: GasCondition.ATPD,
    12: GasCondition.ATPS,
}
#: Breath values read by :meth:`ImtDriver.poll_breath_values` (ids per STANDARDS.md §5).
BREATH_VALUE_IDS = (23, 24, 27, 29, 22, 19, 20, 28, 41)


def port_name(port: Any) -> str:
    """A printable name for a port (its device path or URL when it has one)."""
    return str(getattr(port, "port", None) or getattr(port, "name", None) or type(port).__name__)


@dataclass(frozen=True)
class ImtOptions(Options):
    """Options of the IMT FlowAnalyser / CITREX driver (``--option K=V``).

    Attributes
    ----------
    fast_fields : tuple of 3 int, default (0, 4, 9)
        Measurement ids streamed in the fast packet (``--option fast_fields=0,4,9``),
        written to settings 64–66 during the handshake (``configure_fast=0`` reads them
        instead).
    configure_fast : bool, default True
        Write ``fast_fields`` during the handshake (else read what the analyser has).
    flow_id, paw_id : int, default 0 and 4
        Which fast fields give ``flow_lpm`` (L/min) and ``paw_cmh2o`` (mbar → cmH2O).
    byteorder, signed : default "big", True
        Fast field layout — **not documented by IMT**; verify against a real analyser.
    gas_standard : int, optional
        Write setting 3 during the handshake (e.g. 2 for BTPS).
    vt_scale_ml : float, default 1.0
        Resolution of Vti/Vte (ids 23/24), mL: 1 mL or 0.1 mL depending on firmware.
    start_answer : bool, default True
        Read the ``%CM#64$…`` answer after starting the fast stream (ASSUMED format).
    """

    fast_fields: tuple[int, ...] = option((0, 4, 9), "3 measurement ids of the fast packet", lo=0)
    configure_fast: bool = option(True, "write fast_fields during the handshake")
    flow_id: int = option(0, "measurement id giving flow_lpm", lo=0)
    paw_id: int = option(4, "measurement id giving paw_cmh2o", lo=0)
    byteorder: str = option("big", "fast field byte order", choices=("big", "little"))
    signed: bool = option(True, "fast fields are signed")
    gas_standard: int | None = option(None, "setting 3 written during the handshake", lo=0)
    vt_scale_ml: float = option(1.0, "Vti/Vte resolution, mL", lo=0, lo_open=True)
    start_answer: bool = option(True, "read the answer to the fast-stream start")

    def __post_init__(self) -> None:
        if len(self.fast_fields) != 3:
            raise ConfigError(f"fast_fields: expected 3 measurement ids, found {self.fast_fields}")


class ImtDriver(Driver):
    """IMT FlowAnalyser / CITREX; its options are :class:`ImtOptions`."""

    Options = ImtOptions

    name: ClassVar[str] = "imt"
    serial_defaults: ClassVar[dict[str, Any]] = {
        "baudrate": 19200, "bytesize": 8, "parity": "N", "stopbits": 1, "timeout": 0.5,
    }

    def __init__(self, options: ImtOptions | None = None, /, **raw: Any) -> None:
        super().__init__(options, **raw)
        self.fast_fields = self.opts.fast_fields
        self.flow_id = self.opts.flow_id
        self.paw_id = self.opts.paw_id
        self.fmt = FastFormat(self.opts.byteorder, self.opts.signed)
        self.vt_scale_ml = self.opts.vt_scale_ml
        self.flow_condition = GasCondition.BTPS
        self.flow_factor = 1.0  #: applied to every fast flow value (BTPD → BTPS)
        self._answers = AnswerFramer()
        self._fast = FastPacketFramer(self.fmt)
        self._last_tick: int | None = None
        self._unwrapped = 0
        self._check_fields()

    # ------------------------------------------------------------------ request/answer
    def _scale(self, ident: int) -> float:
        if ident in (23, 24):
            return self.vt_scale_ml
        if ident not in MEASUREMENTS:
            raise ConfigError(f"imt: unknown measurement id {ident}; known: {sorted(MEASUREMENTS)}")
        return MEASUREMENTS[ident].scale

    def transact(self, port: BytePort, kind: str, ident: int, value: int | None = None) -> Answer:
        """Send one request and return its answer.

        Raises
        ------
        TransportError
            No answer before the port timeout, ``?`` (invalid command), or an answer for a
            different request; the message names the port, the request and what arrived.
        """
        request = encode_request(kind, ident, value)
        port.write(request)
        framer = AnswerFramer()
        received = bytearray()
        timeout = port.timeout if port.timeout is not None else 1.0
        deadline = time.monotonic() + timeout
        while True:
            chunk = port.read(1)
            if chunk:
                received += chunk
                for answer in framer.feed(chunk):
                    return self._check_answer(port, request, answer, kind, ident)
                deadline = time.monotonic() + timeout
            elif time.monotonic() >= deadline:
                raise TransportError(
                    f"imt on {port_name(port)}: no answer to {request!r} within {timeout} s "
                    f"(received {bytes(received)!r})"
                )

    def _check_answer(self, port: BytePort, request: bytes, answer: Answer, kind: str,
                      ident: int) -> Answer:
        if answer.kind == "?":
            raise TransportError(
                f"imt on {port_name(port)}: the analyser answered '?' (invalid command) to "
                f"{request!r}; the id is not supported by this model or firmware"
            )
        if answer.kind != kind or answer.ident != ident:
            raise TransportError(
                f"imt on {port_name(port)}: expected an answer %{kind}#{ident}$… to "
                f"{request!r}, found {answer.raw!r}"
            )
        return answer

    def _int(self, port: BytePort, answer: Answer) -> int:
        try:
            return int(answer.value or "")
        except ValueError:
            raise TransportError(
                f"imt on {port_name(port)}: expected an integer value in {answer.raw!r}"
            ) from None

    def read_raw(self, port: BytePort, kind: str, ident: int) -> int:
        """The integer value of ``%{kind}#ident`` (kind RM, RS or RI)."""
        return self._int(port, self.transact(port, kind, ident))

    def read_measurement(self, port: BytePort, ident: int) -> float | None:
        """Measurement ``ident`` in the unit of its table name (mbar, L/min …); None if undefined."""
        scale = self._scale(ident)  # unknown ids fail before anything is sent
        return scaled(self.read_raw(port, "RM", ident), scale)

    def read_setting(self, port: BytePort, ident: int) -> int:
        return self.read_raw(port, "RS", ident)

    def write_setting(self, port: BytePort, ident: int, value: int) -> int:
        """Write setting ``ident``; the analyser echoes the read-back value, which must match."""
        back = self._int(port, self.transact(port, "WS", ident, int(value)))
        if back != int(value):
            raise TransportError(
                f"imt on {port_name(port)}: wrote setting {ident} = {value}, the analyser "
                f"read back {back}: the value was not accepted"
            )
        return back

    def command(self, port: BytePort, ident: int, value: int | None = None) -> str | None:
        """Execute ``%CM#ident{$value}``; return the answer's value text."""
        return self.transact(port, "CM", ident, value).value

    def poll_breath_values(self, port: BytePort) -> dict[str, float | None]:
        """The analyser's own breath values, to compare with our analysis.

        Keys are the table names (``vti_ml``, ``ppeak_mbar`` …) plus, for pressures, the
        same value in cmH2O (``ppeak_cmh2o`` …). None where the analyser reports undefined.
        Call between fast-stream runs (interleaving with the stream is not documented).
        """
        out: dict[str, float | None] = {}
        for ident in BREATH_VALUE_IDS:
            name = MEASUREMENTS[ident].name
            value = self.read_measurement(port, ident)
            out[name] = value
            if name.endswith("_mbar"):
                key = name[: -len("_mbar")] + "_cmh2o"
                out[key] = None if value is None else value * HPA_PER_MBAR * CMH2O_PER_HPA
        return out

    # ------------------------------------------------------------------ handshake
    def handshake(self, port: BytePort) -> dict[str, Any]:
        info = self.info
        info["port"] = port_name(port)
        info["serial_number"] = self.read_raw(port, "RI", INFO_IDS["serial"])
        day, month, year = (self.read_raw(port, "RI", INFO_IDS[k])
                            for k in ("cal_day", "cal_month", "cal_year"))
        info["last_calibration"] = f"{year:04d}-{month:02d}-{day:02d}"
        if self.opts.gas_standard is not None:
            self.write_setting(port, 3, self.opts.gas_standard)
        gas = self.read_setting(port, 3)
        p_amb = self.read_measurement(port, 14)
        info["p_amb_hpa"] = None if p_amb is None else p_amb * HPA_PER_MBAR
        self._apply_gas_standard(gas, info["p_amb_hpa"])
        if self.opts.configure_fast:
            for k, ident in enumerate(self.fast_fields):
                self.write_setting(port, 64 + k, ident)
        else:
            self.fast_fields = tuple(self.read_setting(port, 64 + k) for k in range(3))
            self._check_fields()
        info["fast_fields"] = {MEASUREMENTS[i].name: MEASUREMENTS[i].scale for i in self.fast_fields}
        info["fast_format"] = {"byteorder": self.fmt.byteorder, "signed": self.fmt.signed,
                               "verified": False}
        return info

    def _check_fields(self) -> None:
        for ident in self.fast_fields:
            if ident not in MEASUREMENTS:
                raise ConfigError(f"imt: fast field id {ident} is not a known measurement id")
        if self.flow_id not in FLOW_IDS or self.flow_id not in self.fast_fields:
            raise ConfigError(
                f"imt: flow_id {self.flow_id} must be a flow id {sorted(FLOW_IDS)} among the "
                f"fast fields {self.fast_fields}"
            )
        if self.paw_id not in AIRWAY_PRESSURE_IDS or self.paw_id not in self.fast_fields:
            raise ConfigError(
                f"imt: paw_id {self.paw_id} must be an airway pressure id among the fast "
                f"fields {self.fast_fields}"
            )

    def _apply_gas_standard(self, value: int, p_amb_hpa: float | None) -> None:
        info = self.info
        info["gas_standard"] = {"setting_3": value, "name": GAS_STANDARDS.get(value, "unknown")}
        if value in _DIRECT_CONDITIONS:
            self.flow_condition = _DIRECT_CONDITIONS[value]
            self.flow_factor = 1.0
        elif value == 0:
            # ATP: ambient temperature and pressure at the *actual* humidity. We treat it as
            # ATPD; the error is at most the water-vapour fraction of ambient humidity.
            self.flow_condition = GasCondition.ATPD
            self.flow_factor = 1.0
            info["gas_note"] = ("analyser set to ATP (actual humidity); treated as ATPD — up to "
                                "~2.6 % at 22 °C saturated; set gas standard BTPS (2) or ATPD (11)")
        elif value == 3:
            # BTPD → BTPS: same temperature (37 °C) and total pressure, dry → saturated:
            # V_BTPS = V_BTPD * P / (P - 47 mmHg). Needs the analyser's ambient pressure.
            if p_amb_hpa is None:
                raise ConfigError(
                    f"imt on {info.get('port')}: gas standard BTPD (3) needs ambient pressure "
                    "to convert to BTPS, but measurement 14 is undefined; set gas standard "
                    "BTPS (2) on the analyser"
                )
            self.flow_condition = GasCondition.BTPS
            self.flow_factor = p_amb_hpa / (p_amb_hpa - P_H2O_BTPS_HPA)
            info["gas_note"] = (f"analyser set to BTPD; flow converted to BTPS by the factor "
                                f"{self.flow_factor:.5f} = P/(P - 47 mmHg) at P = {p_amb_hpa} hPa")
        else:
            raise ConfigError(
                f"imt on {info.get('port')}: analyser gas standard {value} "
                f"({GAS_STANDARDS.get(value, 'unknown')}) has no ventbench condition; "
                "expected one of 0, 1, 2, 3, 4, 11, 12 — set it on the analyser or pass "
                "gas_standard=2 (BTPS)"
            )
        info["flow_condition"] = self.flow_condition.value
        info["flow_factor"] = self.flow_factor

    # ------------------------------------------------------------------ streaming
    def start(self, port: BytePort) -> None:
        """Start the fast stream (``%CM#64``)."""
        port.write(encode_request("CM", 64))
        if not self.opts.start_answer:
            return
        # Read the (assumed) "%CM#64$…\r" answer; anything else belongs to the stream.
        received = bytearray()
        deadline = time.monotonic() + (port.timeout if port.timeout is not None else 1.0)
        while time.monotonic() < deadline and len(received) < 24:
            chunk = port.read(1)
            if not chunk:
                continue
            received += chunk
            if chunk == b"\r":
                break
        if not bytes(received).startswith(b"%CM#64"):
            self._pending = bytes(received)  # not an answer: stream bytes, decode them in feed

    _pending: bytes = b""

    def stop(self, port: BytePort) -> None:
        try:
            port.write(encode_request("CM", 65))
        except Exception:  # noqa: BLE001 - best effort on a dead port
            pass

    def feed(self, data: bytes) -> SampleBlock:
        if self._pending:
            data, self._pending = self._pending + data, b""
        packets = self._fast.feed(data)
        c = self.counters
        c.rejected_frames = self._fast.rejected_frames
        c.discarded_bytes = self._fast.discarded_bytes
        n = len(packets)
        seq = np.empty(n, dtype=np.int64)
        flags = np.zeros(n, dtype=np.uint8)
        raw = np.array([p.values for p in packets], dtype=np.float64).reshape(n, 3)
        for k, p in enumerate(packets):
            if self._last_tick is None:
                self._unwrapped = p.tick
            else:
                step = (p.tick - self._last_tick) & 0xFFFF
                if step == 0:
                    step = 1
                if step > 1:
                    c.gaps.append({"after_seq": self._unwrapped, "missing": step - 1})
                    c.lost_samples += step - 1
                    flags[k] |= np.uint8(SampleFlag.GAP)
                self._unwrapped += step
            self._last_tick = p.tick
            seq[k] = self._unwrapped
        c.samples += n
        channels: dict[str, np.ndarray] = {}
        undefined = raw == FAST_UNDEFINED if self.fmt.signed else np.zeros_like(raw, dtype=bool)
        for j, ident in enumerate(self.fast_fields):
            q = MEASUREMENTS[ident]
            channels[q.name] = np.where(undefined[:, j], np.nan, raw[:, j] * q.scale)
        jf, jp = self.fast_fields.index(self.flow_id), self.fast_fields.index(self.paw_id)
        flow = channels[MEASUREMENTS[self.flow_id].name] * self.flow_factor
        paw = channels[MEASUREMENTS[self.paw_id].name] * HPA_PER_MBAR * CMH2O_PER_HPA
        flags[undefined[:, jf] | undefined[:, jp]] |= np.uint8(SampleFlag.FAULT)
        return SampleBlock(seq * FAST_TICK_S, flow, paw, flags, channels, seq)
