"""Compare two results documents: what replay and verify report as differences.

Only what the data decides is compared — each point's breaths, summary, checks and verdict,
the gas block and the overall verdict — not where the files were or which software ran.
Numbers must be *identical* (replay is bit-exact by design); JSON round-trips both sides so
a float compares as it is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Top-level keys of ``ventbench.results/1`` that the data decides.
#: Top-level blocks compared (instruments, environment, declaration: bench.conditions).
COMPARED_TOP = ("gas", "verdict", "instruments", "environment", "declaration", "inspection")
#: Point keys ignored (bookkeeping that legitimately differs between a run and a replay).
IGNORED_POINT_KEYS = frozenset({"source", "files", "timing", "operator"})


@dataclass(frozen=True)
class Difference:
    """One value that differs: point id (or "-" for the session), what, old, new."""

    point: str
    quantity: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.point:<6} {self.quantity:<36} old {_short(self.old)}  new {_short(self.new)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _diff(old: Any, new: Any, path: str, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append((sub, old[key], "<absent>"))
            elif key not in old:
                out.append((sub, "<absent>", new[key]))
            else:
                _diff(old[key], new[key], sub, out)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            out.append((f"{path}.length", len(old), len(new)))
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            _diff(a, b, f"{path}[{i}]", out)
    elif old != new:
        out.append((path, old, new))


def _check_key(check: dict[str, Any], index: int) -> str:
    return str(check.get("quantity", index))


def compare_points(old: dict[str, Any], new: dict[str, Any]) -> list[Difference]:
    """Differences between two versions of one point (checks keyed by quantity)."""
    pid = str(old.get("id", new.get("id", "?")))
    raw: list[tuple[str, Any, Any]] = []
    old_p = {k: v for k, v in _normal(old).items() if k not in IGNORED_POINT_KEYS}
    new_p = {k: v for k, v in _normal(new).items() if k not in IGNORED_POINT_KEYS}
    old_checks = {_check_key(c, i): c for i, c in enumerate(old_p.pop("checks", None) or [])}
    new_checks = {_check_key(c, i): c for i, c in enumerate(new_p.pop("checks", None) or [])}
    _diff(old_p, new_p, "", raw)
    _diff(old_checks, new_checks, "checks", raw)
    return [Difference(pid, path, a, b) for path, a, b in raw]


def compare_results(old: dict[str, Any], new: dict[str, Any]) -> list[Difference]:
    """Every difference between a recorded and a recomputed results document.

    Points are matched by id; a point present on one side only is one difference.
    """
    diffs: list[Difference] = []
    raw: list[tuple[str, Any, Any]] = []
    _diff({k: _normal(old.get(k)) for k in COMPARED_TOP},
          {k: _normal(new.get(k)) for k in COMPARED_TOP}, "", raw)
    diffs += [Difference("-", path, a, b) for path, a, b in raw]
    old_points = {str(p.get("id")): p for p in old.get("points", [])}
    new_points = {str(p.get("id")): p for p in new.get("points", [])}
    for pid in list(old_points) + [p for p in new_points if p not in old_points]:
        if pid not in new_points:
            diffs.append(Difference(pid, "point", "present", "<absent>"))
        elif pid not in old_points:
            diffs.append(Difference(pid, "point", "<absent>", "present"))
        else:
            diffs += compare_points(old_points[pid], new_points[pid])
    return diffs
