"""Steady points in a session: recording for a fixed device time, analysis over windows.

A ``mode = "steady"`` point (:mod:`bench.protocol_steady`) is recorded like any other point
(every byte in ``capture.vbcap`` first) but stops after ``record_s`` seconds of device time
(:class:`SteadySink`), and its results come from :func:`analyze_steady_trace`: the point's
channels mapped by role, flow converted once to the analysis condition, the windows judged by
:func:`analysis.steady_checks.evaluate_steady`. The channels a protocol's steady points need
are checked against a simulated device before the first prompt (:func:`check_steady_channels`);
a real rig names its channels only in its DESCRIBE, so they are checked when the point's
stream opens (:meth:`SteadySink.open`). Either way a missing channel is a ConfigError (exit 3).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ventbench.bench.protocol_steady import DEFAULT_RECORD_S, QUANTITY_CHANNEL, missing_channels
from ventbench.bench.recorder_stops import SINK, Stop
from ventbench.errors import ConfigError

#: the channels every driver gives (the Trace's own)
BASE_CHANNELS = ("flow_lpm", "paw_cmh2o")


def record_s(point: dict[str, Any]) -> float:
    """Device time a steady point records, s."""
    return float((point.get("steady") or {}).get("record_s", DEFAULT_RECORD_S))


def sim_channels(port_url: str) -> tuple[str, ...] | None:
    """The channels a ``sim://`` device streams (None for another port: known only once it speaks)."""
    parts = urllib.parse.urlsplit(port_url)
    if parts.scheme.lower() != "sim":
        return None
    from ventbench.drivers.registry import device_class

    return tuple(getattr(device_class(parts.netloc), "channels", BASE_CHANNELS))


def check_steady_channels(points: list[dict[str, Any]], port_url: str, where: str = "") -> None:
    """Refuse (ConfigError, exit 3) a protocol whose steady points need channels a simulated
    device does not stream — before any prompt. Other ports are checked at the point's open."""
    available = sim_channels(port_url)
    if available is None:
        return
    missing = missing_channels(points, available)
    if missing:
        raise ConfigError(f"{where or port_url}: the protocol asks for channels the device does not provide: "
                          f"{'; '.join(missing[:4])}{' …' if len(missing) > 4 else ''} (device channels: "
                          f"{', '.join(available)})")


class SteadySink:
    """The Recorder sink of a steady point: a progress line, a stop after ``record_s``."""

    def __init__(self, point: dict[str, Any], live: Any, out: Any) -> None:
        self.point, self.live, self.out = point, live, out
        self.need_s = record_s(point)
        self.t_first: float | None = None

    def open(self, info: dict[str, Any]) -> None:
        """Check the device's channels (its DESCRIBE) against the point's roles."""
        chans = info.get("channels") if isinstance(info, dict) else None
        if not isinstance(chans, list):
            return
        from ventbench.drivers.vbr1.samples import _channel_key

        taken: set[str] = set()
        keys = []
        for i, ch in enumerate(chans):
            key = ("flow_lpm", "paw_cmh2o")[i] if i < 2 else _channel_key(str(ch.get("name", "")),
                                                                           str(ch.get("unit", "")), taken)
            taken.add(key)
            keys.append(key)
        missing = missing_channels([self.point], tuple(keys))
        if missing:
            raise ConfigError(f"the device does not provide what the protocol asks for: {'; '.join(missing)} "
                              f"(device channels: {', '.join(keys)})")

    def write(self, block: Any) -> Stop | None:
        if len(block.t_s) == 0:
            return None
        t0 = float(block.t_s[0])
        self.t_first = t0 if self.t_first is None else self.t_first
        elapsed = float(block.t_s[-1]) - self.t_first
        if elapsed >= self.need_s:
            return Stop(SINK, f"{elapsed:.0f} s of steady data recorded")
        paw = float(block.paw_cmh2o[-1])
        flow = float(block.flow_lpm[-1])
        extra = "".join(f"  {k} {float(v[-1]):.4g}" for k, v in block.channels.items())
        self.live.progress(f"  {self.point['id']}: {elapsed:.0f}/{self.need_s:.0f} s  flow {flow:.4g} L/min  "
                           f"paw {paw:.4g} cmH2O{extra}")
        return None

    def close(self) -> None:
        """Nothing to close: the point's numbers come from the capture afterwards."""


def _role_trace(trace, point: dict[str, Any]):
    """The trace with each role's channel under the analysis's own name (a second rig
    channel named ``flow2_lpm`` as the O2 flow, say)."""
    from ventbench.analysis.trace import Trace

    chans = dict(trace.channels)
    by_role = {role: ch for q, (ch, role) in QUANTITY_CHANNEL.items()}
    flow, paw = trace.flow_lpm, trace.paw_cmh2o
    for role, ch in (point.get("channels") or {}).items():
        own = by_role.get(role)
        if own is None or ch == own:
            continue
        src = {"flow_lpm": trace.flow_lpm, "paw_cmh2o": trace.paw_cmh2o}.get(ch, chans.get(ch))
        if src is None:
            continue
        if own == "flow_lpm":
            flow = src
        elif own == "paw_cmh2o":
            paw = src
        else:
            chans[own] = src
    return Trace(trace.t_s, flow, paw, trace.flow_condition, trace.ambient, trace.flags, chans, trace.meta)


def analyze_steady_trace(trace, point: dict[str, Any], config) -> dict[str, Any]:
    """One steady point's results dict (``ventbench.results/1`` point, mode "steady")."""
    from ventbench.analysis.steady_checks import evaluate_steady, steady_point_json
    from ventbench.bench.protocol_steady import steady_limit_set, steady_rule

    limits = steady_limit_set(point.get("limits") or {}, f"point {point['id']}: limits", f"steady:{point['id']}")
    table = dict(point.get("steady") or {})
    if config.rule.decision_rule != "simple" and "decision_rule" not in table:
        table["decision_rule"] = config.rule.decision_rule
    rule = steady_rule(table)
    reference = config.budget_context(trace).reference
    factor = None
    if trace is None or len(trace) < 2:
        from ventbench.analysis.trace import Trace

        empty = Trace([0.0], [0.0], [0.0])
        result = evaluate_steady(empty, point["set"], limits, rule, point.get("checks"), reference=reference)
    else:
        mapped, factor = _role_trace(trace, point).converted(config.condition)
        result = evaluate_steady(mapped, point["set"], limits, rule, point.get("checks"), reference=reference)
    out = steady_point_json(point["id"], point["set"], result, lung=point.get("lung"),
                            channels=point.get("channels"), note=point.get("note", ""))
    out["limits_applied"] = {c.quantity: "protocol (point)" for c in result.checks if c.limit is not None}
    out["gas"] = {"flow_condition": None if trace is None else trace.flow_condition.value,
                  "analysis_condition": config.condition.value, "btps_factor": factor}
    out["samples"] = 0 if trace is None else len(trace)
    return out


def steady_protocol_point(protocol: str, point_id: str) -> dict[str, Any] | None:
    """The point's dict when ``point_id`` of ``protocol`` is a steady point, else None."""
    from ventbench.bench.protocol import load_protocol

    point = load_protocol(protocol).point(point_id)
    return point.to_json() if point.mode == "steady" else None


def analyze_steady_file(args: Any, point: dict[str, Any], read_input: Any) -> int:
    """``ventbench analyze FILE --protocol P --point ID`` for a steady point: the window
    analysis of the file, the summary, ``--json``; the exit code of the verdict.

    ``read_input(args, fmt)`` is the command's reader (the trace with the command line's
    overrides, and where its flow condition came from)."""
    import math
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from ventbench.analysis.gas import GasCondition
    from ventbench.analysis.judgement import JudgementRule
    from ventbench.bench.outputs import check_output_file
    from ventbench.bench.results_doc import (
        build_results,
        gas_block,
        source_file_entry,
        write_results,
    )
    from ventbench.bench.summary import print_summary
    from ventbench.drivers.importers import sniff_format
    from ventbench.exit_codes import exit_code_for_verdict

    if args.json:
        check_output_file(args.json, "--json")
    if args.plot:
        raise ConfigError("--plot: not for steady points (their plot is in the session report)")
    path = Path(args.file)
    condition = GasCondition.parse(args.condition)
    fmt = args.format or sniff_format(path)
    recorded, condition_source = read_input(args, fmt)
    fmt = fmt or "csv"
    config = SimpleNamespace(rule=JudgementRule(decision_rule="simple"), condition=condition,
                             budget_context=lambda trace: SimpleNamespace(reference=None))
    result = analyze_steady_trace(recorded, point, config)
    factor = result["gas"]["btps_factor"]
    gas = gas_block(recorded.flow_condition, recorded.ambient, condition, factor if factor is not None and math.isfinite(factor) else 1.0,
                    flow_condition_source=condition_source)
    document = build_results([result], source_files=[source_file_entry(path, fmt, recorded)], gas=gas)
    print_summary(document, sys.stdout)
    if args.json:
        write_results(args.json, document)
        print(f"results: {args.json}")
    return exit_code_for_verdict(document["verdict"])
