"""``ventbench analyze FILE``: analyse one recorded trace — breaths, checks, verdict.

Pipeline: read the file (:func:`drivers.importers.read_trace`) → apply command-line gas
overrides → restate flow at the analysis condition (BTPS by default) once, by a scalar
factor → segment and measure breaths (:func:`analysis.stream.analyze_breaths`) → judge
against limits (:func:`analysis.checks.evaluate_point`) → print a summary table, and
optionally write the results JSON (``--json``) and a figure (``--plot``).

What is judged:

- ``--protocol P --point ID``: set values, lung, limits, judgement rule, segmentation preset
  and quantities come from the protocol's point; command-line options still override the
  limits, preset, settle/breaths and criterion when given.
- ``--set k=v …`` (with ``--mode``, default vc): the quantities whose set values are given
  are checked (vt_ml → vt, peep_cmh2o → peep, rate_bpm → rate, ti_s → ti, dp_cmh2o →
  pinsp, fio2_pct → fio2, ie_ratio → ie; in pc, vt is reported as INFO).
- neither: *measure only* — breaths are segmented and every quantity is reported with the
  verdict INFO (exit 0), over every breath found unless ``--settle``/``--breaths`` say
  otherwise; a file with no complete breath is INCONCLUSIVE (exit 2).

Exit codes (DESIGN.md): 0 PASS or INFO only, 1 FAIL, 2 INCONCLUSIVE, 3 usage, configuration
or malformed file, 4 missing or unreadable file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ventbench.analysis.limits import BUILTIN_LIMITS, DEFAULT_LIMITS, LimitSet, load_limits
from ventbench.analysis.vocabulary import AUTO, CRITERIA, SEGMENTATION_PRESETS
from ventbench.bench.args import as_dict, count, key_value, number, p_amb_hpa, t_amb_degc
from ventbench.bench.outputs import FIGURE_SUFFIXES, check_output_file
from ventbench.bench.records import disk_error
from ventbench.drivers.importers import FORMATS
from ventbench.errors import ConfigError
from ventbench.exit_codes import exit_code_for_verdict

if TYPE_CHECKING:
    from ventbench.analysis.checks import JudgementRule
    from ventbench.analysis.trace import Trace

HELP = "analyse one recorded trace: breaths, checks against limits, verdict"

#: --set keys → the quantity they are the set value of.
SET_KEYS: Mapping[str, str] = {
    "vt_ml": "vt",
    "peep_cmh2o": "peep",
    "rate_bpm": "rate",
    "ti_s": "ti",
    "dp_cmh2o": "pinsp",
    "fio2_pct": "fio2",
    "ie_ratio": "ie",
}
PRESETS = SEGMENTATION_PRESETS
MEASURE_ONLY = LimitSet(id="none (no set values)", title="no set values given: quantities measured, not judged")
#: Quantities reported (INFO) when nothing is judged.
MEASURE_ONLY_QUANTITIES = ("vt", "vte", "pip", "pplat", "pmean", "peep", "rate", "ti", "te", "ie", "leak")


@dataclass
class PointSpec:
    """What one analysed point is judged against (from the command line or a protocol)."""

    id: str
    mode: str = "vc"
    set_values: dict[str, float] = field(default_factory=dict)
    lung: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)
    quantities: tuple[str, ...] | None = None
    limits: str = DEFAULT_LIMITS
    preset: str = AUTO
    rule: JudgementRule | None = None  #: None: the default rule
    note: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ventbench analyze``."""
    parser.add_argument("file", metavar="FILE", help="recorded trace (Trace CSV, LabChart text export, ventMAP/PB840, PIRDS, .vbcap capture)")
    src = parser.add_argument_group("input")
    src.add_argument("--format", choices=sorted(FORMATS), help="file format (default: sniffed)")
    src.add_argument("--flow-unit", metavar="U", help="flow unit of the file's flow column (formats without units)")
    src.add_argument("--pressure-unit", metavar="U", help="pressure unit of the file's pressure column")
    src.add_argument("--flow-condition", metavar="C", help="gas condition the flow was recorded at (overrides the file)")
    src.add_argument("--t-amb-degc", type=t_amb_degc, metavar="T", help="ambient temperature at the sensor, °C")
    src.add_argument("--p-amb-hpa", type=p_amb_hpa, metavar="P", help="ambient pressure at the sensor, hPa")
    src.add_argument("--skip-bad", action="store_true", help="skip malformed data lines (counted) instead of failing")
    what = parser.add_argument_group("what to judge")
    what.add_argument("--protocol", metavar="P", help="protocol name or TOML file (with --point)")
    what.add_argument("--point", metavar="ID", help="point of the protocol this recording is")
    what.add_argument("--mode", choices=("vc", "pc"), help="ventilation mode (default vc)")
    what.add_argument("--set", action="append", default=[], metavar="k=v",
                      type=key_value(SET_KEYS, number(0.0)),
                      help=f"a set value: {', '.join(SET_KEYS)} (repeatable)")
    what.add_argument("--limits", metavar="L", help=f"{'|'.join(BUILTIN_LIMITS)} or a limits TOML file")
    what.add_argument("--device-profile", metavar="PATH", help="limits TOML overriding --limits per quantity")
    how = parser.add_argument_group("how")
    how.add_argument("--preset", choices=PRESETS, help="segmentation preset overriding the adaptive levels (default auto: from the signal and the set Ti/rate)")
    how.add_argument("--settle", type=number(0, integer=True), metavar="N", help="breaths skipped before measuring (default 10)")
    how.add_argument("--breaths", type=count, metavar="N", help="breaths measured (default 30)")
    how.add_argument("--criterion", choices=CRITERIA, help="every-breath (default) or mean")
    how.add_argument("--condition", default="BTPS", metavar="C",
                     help="gas condition volumes are analysed at (default BTPS)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="OUT", help="write the results JSON here")
    out.add_argument("--plot", metavar="PNG", help="write a figure of flow, pressure and volume")
    out.add_argument("--plot-window", metavar="START:END",
                     help="time span of the figure, s (default: the measured breaths, ≤ 30 s)")


def _quantities_for(set_values: Mapping[str, float], mode: str) -> tuple[str, ...]:
    from ventbench.analysis.checks import DEFAULT_QUANTITIES

    given = {SET_KEYS[k] for k in set_values}
    ordered = [q for q in DEFAULT_QUANTITIES[mode] if q in given or (q == "vt" and mode == "pc")]
    return tuple(ordered + sorted(given - set(ordered)))


def point_from_args(args: argparse.Namespace, file: Path) -> PointSpec:
    """The point to judge, from --protocol/--point or --mode/--set (command line wins)."""
    from ventbench.analysis.checks import JudgementRule

    set_values = as_dict(args.set)
    if args.protocol or args.point and not set_values:
        if not (args.protocol and args.point):
            raise ConfigError("--protocol and --point go together (which point of which protocol?)")
        if set_values or args.mode:
            raise ConfigError("give either --protocol/--point or --mode/--set, not both")
        spec = _point_from_protocol(args.protocol, args.point)
    elif set_values:
        mode = args.mode or "vc"
        spec = PointSpec(id=args.point or file.stem, mode=mode, set_values=set_values,
                         quantities=_quantities_for(set_values, mode))
    else:
        if args.limits or args.device_profile:
            raise ConfigError("--limits/--device-profile judge set values: give --set k=v … "
                              "or --protocol P --point ID")
        spec = PointSpec(id=file.stem, mode=args.mode or "vc", limits="", quantities=MEASURE_ONLY_QUANTITIES)
    rule = spec.rule or JudgementRule()
    if args.settle is not None or args.breaths is not None or args.criterion:
        try:
            rule = replace(
                rule,
                settle_breaths=rule.settle_breaths if args.settle is None else args.settle,
                measure_breaths=rule.measure_breaths if args.breaths is None else args.breaths,
                criterion=args.criterion or rule.criterion,
            )
        except ConfigError as error:
            raise ConfigError(f"--settle/--breaths/--criterion: {error}") from None
    limits = spec.limits and (args.limits or spec.limits)  # measure only stays unjudged
    return replace(spec, rule=rule, limits=limits, preset=args.preset or spec.preset)


def _point_from_protocol(protocol: str, point_id: str) -> PointSpec:
    """Set values, lung, checks, limits, rule and preset of one point of a protocol."""
    from ventbench.bench.protocol import load_protocol

    proto = load_protocol(protocol)
    point = proto.point(point_id)
    return PointSpec(
        id=point.id,
        mode=point.mode,
        set_values=dict(point.set),
        lung=dict(point.lung),
        expected=dict(point.expect),
        quantities=tuple(point.checks) or None,
        limits=proto.limits,
        preset=proto.segmentation(point),
        rule=proto.rule(),
        note=point.note,
    )


def load_limit_set(spec: PointSpec, device_profile: str | None) -> LimitSet:
    """The limits of the point, overridden quantity by quantity by a device profile."""
    if not spec.limits:  # measure only: nothing to judge against
        return MEASURE_ONLY
    limit_set = load_limits(spec.limits)
    if device_profile:
        profile = load_limits(device_profile, resolve_base=False)
        limit_set = limit_set.overridden_by(profile)
    return limit_set


def _overrides(args: argparse.Namespace, condition: Any, ambient: Any, source: str
               ) -> tuple[Any, Any, str]:
    """The recording's flow condition and ambient with the command line's overrides, and
    where the condition came from ("file", "user" or "default")."""
    from ventbench.analysis.gas import Ambient, GasCondition

    if args.flow_condition:
        condition, source = GasCondition.parse(args.flow_condition), "user"
    if args.t_amb_degc is not None or args.p_amb_hpa is not None:
        ambient = Ambient(
            ambient.t_amb_degc if args.t_amb_degc is None else args.t_amb_degc,
            ambient.p_amb_hpa if args.p_amb_hpa is None else args.p_amb_hpa,
            ambient.rh_pct,
            "user",
        )
    return condition, ambient, source


def read_input(args: argparse.Namespace, fmt: str | None) -> tuple[Trace, str]:
    """Read FILE whole; returns the trace with overrides applied and where the flow
    condition came from ("file", "user" or "default")."""
    from ventbench.drivers.importers import read_trace

    path = Path(args.file)
    opts: dict[str, Any] = {}
    if args.skip_bad:
        opts["skip_bad"] = True
    if args.flow_unit:
        opts["flow_unit"] = args.flow_unit
    if args.pressure_unit:
        opts["pressure_unit"] = args.pressure_unit
    trace = read_trace(path, fmt, **opts)
    condition, ambient, source = _overrides(
        args, trace.flow_condition, trace.ambient, str(trace.meta.get("flow_condition_source", "file")))
    if condition is not trace.flow_condition or ambient is not trace.ambient:
        trace = replace(trace, flow_condition=condition, ambient=ambient)
    return trace, source


def run(args: argparse.Namespace) -> int:
    """Run the analysis; returns the exit code (see module doc)."""
    from ventbench.analysis.budget import BudgetContext
    from ventbench.analysis.checks import evaluate_point
    from ventbench.analysis.gas import GasCondition
    from ventbench.analysis.results import point_to_json
    from ventbench.analysis.segment import SegmentationSettings
    from ventbench.analysis.selfcheck import doubt_point
    from ventbench.bench.results_doc import (
        build_results,
        digest_in_background,
        gas_block,
        source_file_entry,
        write_results,
    )
    from ventbench.bench.summary import print_summary
    from ventbench.bench.trace_input import analyse_file, source_counts
    from ventbench.drivers.importers import sniff_format

    path = Path(args.file)
    if args.protocol and args.point and not args.set:  # a steady point: windows (bench.steady_point)
        from ventbench.bench.steady_point import analyze_steady_file, steady_protocol_point

        steady = steady_protocol_point(args.protocol, args.point)
        if steady is not None:
            return analyze_steady_file(args, steady, read_input)
    spec = point_from_args(args, path)  # usage errors before touching the file
    if args.json:
        check_output_file(args.json, "--json")
    if args.plot:
        check_output_file(args.plot, "--plot", FIGURE_SUFFIXES)
    limit_set = load_limit_set(spec, args.device_profile)
    analysis_condition = GasCondition.parse(args.condition)
    window = None
    if args.plot_window:
        from ventbench.bench.plot import parse_window

        window = parse_window(args.plot_window)

    fmt = args.format or sniff_format(path)
    digest = digest_in_background(path)  # on the second core while the file is read and analysed
    hints = {f"set_{k}": float(spec.set_values[k]) for k in ("ti_s", "rate_bpm")
             if spec.preset == AUTO and spec.set_values.get(k)}
    got = analyse_file(path, fmt, lambda: read_input(args, fmt),
                       lambda c, a, src: _overrides(args, c, a, src),
                       SegmentationSettings.preset(spec.preset, **hints), analysis_condition,
                       spec.set_values.get("rate_bpm"), skip_bad=args.skip_bad,
                       plot_window_s=window)
    fmt = fmt or "csv"
    if got.streamed:
        print(f"{path}: too big to read whole: streamed in blocks ({got.samples} samples); "
              "the self-check ran over windows of 600 s", file=sys.stderr)
    source = {**source_file_entry(path, fmt, digest=digest), **source_counts(got)}
    breaths = got.breaths
    if not spec.limits:  # measure only: report every breath unless told otherwise
        spec = replace(spec, rule=replace(
            spec.rule,
            settle_breaths=0 if args.settle is None else args.settle,
            measure_breaths=max(1, len(breaths)) if args.breaths is None else args.breaths,
        ))
        if got.has_fio2:
            spec = replace(spec, quantities=(*spec.quantities, "fio2"))
    result = evaluate_point(
        breaths, spec.set_values, limit_set, spec.rule, spec.quantities, spec.mode,
        expected=spec.expected, per_breath=got.per_breath,
        context=BudgetContext(
            None if spec.rule.instrument is None else spec.rule.instrument.as_reference(),
            got.flow_condition, analysis_condition, got.ambient, dt_s=got.dt_s),
    )
    point = point_to_json(spec.id, spec.mode, spec.set_values, spec.lung, result,
                          note=spec.note, limits=limit_set.id)
    if not breaths:
        point["verdict"] = "INCONCLUSIVE"
        point["reason"] = got.no_breathing or (
            f"no complete breath found with the {spec.preset} segmentation preset "
            f"({got.samples} samples, {got.duration_s:.1f} s)")
    doubt_point(point, got.doubts)
    point["segmentation"] = {"preset": spec.preset, **asdict(got.segmentation)}
    gas = gas_block(got.flow_condition, got.ambient, analysis_condition, got.factor,
                    flow_condition_source=got.condition_source)
    document = build_results([point], source_files=[source], gas=gas)

    print_summary(document, sys.stdout)
    if args.json:
        write_results(args.json, document)
        print(f"results: {args.json}")
    trace = got.plot_trace
    if args.plot and (trace is None or len(trace) < 2):
        print(f"ventbench analyze: no plot: {path} has {0 if trace is None else len(trace)} "
              "sample(s) to draw", file=sys.stderr)
    elif args.plot:
        from ventbench.bench.plot import plot_trace

        title = f"{path.name} — point {spec.id} ({spec.mode}) — {document['verdict']}"
        try:
            plot_trace(args.plot, trace, document["points"][0]["breaths"], window_s=window,
                       title=title)
        except OSError as error:  # e.g. a full disk: name the plot, not a temporary file
            raise disk_error(Path(args.plot), error) from None
        print(f"plot: {args.plot}")
    return exit_code_for_verdict(document["verdict"])
