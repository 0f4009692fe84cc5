"""``ventbench protocols`` lists the built-in protocols; ``protocols show ID`` prints one."""

from __future__ import annotations

import argparse

from ventbench.bench.numbers import format_number

HELP = "list built-in protocols, or show one protocol's points as a table"

#: Setting columns in display order (others follow alphabetically).
SET_ORDER = ("vt_ml", "dp_cmh2o", "pinsp_cmh2o", "rate_bpm", "ti_s", "peep_cmh2o", "fio2_pct")
LUNG_ORDER = ("c_ml_per_hpa", "r_hpa_s_per_l", "leak_ml_min")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list",
                        help="list (default) or show")
    parser.add_argument("protocol", nargs="?", metavar="ID_OR_FILE",
                        help="with show: a built-in protocol id or a protocol TOML file")
    parser.add_argument("--group", help="with show: only the points of this group")


def _fmt(value: object) -> str:
    return format_number(value, 6, trim=True, missing="")


def _ordered(keys: set[str], order: tuple[str, ...]) -> list[str]:
    return [k for k in order if k in keys] + sorted(keys - set(order))


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a plain aligned table."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def run(args: argparse.Namespace) -> int:
    from ventbench.bench.protocol import builtin_protocols, load_protocol

    if args.action == "list":
        protocols = builtin_protocols()
        rows = []
        for name, proto in protocols.items():
            groups = ", ".join(f"{g} ({sum(p.group == g for p in proto.points)})"
                               for g in proto.groups) or "-"
            rows.append([name, str(len(proto.points)), groups, proto.title])
        print("\n".join(table(["id", "points", "groups", "title"], rows)))
        print("\nventbench protocols show ID   prints a protocol's points")
        return 0
    if not args.protocol:
        print("ventbench protocols show: which protocol? (an id from 'ventbench protocols')")
        return 3
    proto = load_protocol(args.protocol)
    if args.group:
        proto = proto.select(group=args.group)
    print(f"{proto.id}: {proto.title}")
    print(f"  standard : {proto.standard}")
    print(f"  limits   : {proto.limits}")
    settle = f"{proto.settle_breaths} breaths"
    if proto.steady_state is not None:
        ss = proto.steady_state
        settle += f", then steady state ({ss.k} breaths of {ss.field} within {ss.tol_pct:g} %)"
    print(f"  settle   : {settle}; measure {proto.measure_breaths} breaths, "
          f"criterion {proto.criterion}, decision rule {proto.decision_rule}")
    steady = [p for p in proto.points if p.mode == "steady"]
    if steady:  # judged over windows (bench.protocol_steady); the breath rule is for the others
        rule = dict(steady[0].steady)
        print(f"  steady   : {len(steady)} point(s) over {rule.get('window_s', 10):g} s windows, "
              f"{rule.get('record_s', 90):g} s recorded each, criterion {rule.get('criterion', 'mean')}"
              + (f"; channels {', '.join(f'{r}={c}' for r, c in proto.channels.items())}" if proto.channels else ""))
    print(f"  file     : {proto.path} (sha256 {proto.sha256[:16]}…)")
    set_keys = _ordered({k for p in proto.points for k in p.set}, SET_ORDER)
    lung_keys = _ordered({k for p in proto.points for k in p.lung}, LUNG_ORDER)
    header = ["id", "row", "mode", "group", *set_keys, *lung_keys, "checks", "note"]
    rows = []
    notes = []
    for p in proto.points:
        note = ""
        if p.note:
            notes.append(f"  [{len(notes) + 1}] {p.id}: {p.note}")
            note = f"[{len(notes)}]"
        rows.append([p.id, _fmt(p.row), p.mode, p.group,
                     *(_fmt(p.set.get(k)) for k in set_keys),
                     *(_fmt(p.lung.get(k)) for k in lung_keys),
                     ",".join(p.checks), note])
    print()
    print("\n".join(table(header, rows)))
    if notes:
        print("\nnotes (doubts about rows are data too):")
        print("\n".join(notes))
    for note in proto.notes:
        print(f"  - {note}")
    if proto.alarms:  # [[alarms]], run after the points (docs/alarms.md)
        print("\nalarm tests (after the points):")
        print("\n".join(table(["id", "condition", "induce", "detect", "limit", "source"], [
            [a.id, a.condition, a.induce, a.detect, f"{a.limit.delay_s:g} s", a.limit.confidence]
            for a in proto.alarms])))
    if proto.inspection:  # [[inspection]], asked before the points (docs/inspection.md)
        print("\ninspection checklist (before the points):")
        print("\n".join(table(["id", "kind", "required", "text"], [
            [i.id, i.kind, "yes" if i.required else "no", i.text] for i in proto.inspection])))
    return 0
