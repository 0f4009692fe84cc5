"""Live display of a session: what to set, each breath against its limit, each verdict.

Two renderings of the same events. On a terminal: colour marks and one progress line that
rewrites itself during long waits. Anywhere else (CI logs, pipes, tests): plain lines, no
escape codes, progress at most every few seconds — every line a log can keep.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from ventbench.bench.numbers import format_number

PASS_MARK, FAIL_MARK, INFO_MARK = "ok", "XX", "--"
_COLOURS = {"PASS": "\x1b[32m", "FAIL": "\x1b[31;1m", "INCONCLUSIVE": "\x1b[33m",
            "NOT TESTED": "\x1b[36m", "INFO": "\x1b[2m"}
_RESET = "\x1b[0m"


@dataclass(frozen=True)
class Cell:
    """One quantity of one breath on the live line.

    ``ok`` is True inside the limit, False outside, None when no limit applies.
    """

    label: str
    value: float | None
    unit: str
    error: float | None = None
    ok: bool | None = None
    digits: int = 1


def _num(value: float | None, digits: int, sign: bool = False) -> str:
    return format_number(value, decimals=digits, sign=sign)


class Live:
    """Writer of live session lines to ``stream`` (stdout by default).

    Parameters
    ----------
    stream : text file
        Where to write.
    tty : bool, optional
        Force terminal rendering on or off; default: ``stream.isatty()``.
    progress_every_s : float
        In plain mode, the least time between two progress lines.
    """

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None,
                 progress_every_s: float = 5.0) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(self.stream.isatty()) if tty is None else tty
        self.progress_every_s = progress_every_s
        self._last_progress = -1e9
        self._status_open = False

    # -- plumbing -------------------------------------------------------------------------
    def _colour(self, verdict: str, text: str) -> str:
        if not self.tty or verdict not in _COLOURS:
            return text
        return f"{_COLOURS[verdict]}{text}{_RESET}"

    def line(self, text: str = "") -> None:
        """One permanent line (clears a pending progress line first)."""
        if self._status_open:
            self.stream.write("\r\x1b[2K")
            self._status_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def progress(self, text: str) -> None:
        """A transient status (waiting for settle, recording …)."""
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
            self._status_open = True
            return
        now = time.monotonic()
        if now - self._last_progress >= self.progress_every_s:
            self._last_progress = now
            self.line(text)

    # -- events ---------------------------------------------------------------------------
    def session_header(self, session_id: str, protocol: str, n_points: int, where: str) -> None:
        self.line(f"session {session_id}: {protocol}, {n_points} points")
        self.line(f"  directory {where}")

    def point_header(self, index: int, total: int, point: Any, note: str | None = None) -> None:
        """Settings and lung of the point the operator must set."""
        settings = "  ".join(f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}"
                             for k, v in dict(point.set).items())
        lung = "  ".join(f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}"
                         for k, v in dict(point.lung).items())
        self.line("")
        self.line(f"[{index}/{total}] point {point.id} ({point.mode})")
        self.line(f"  ventilator: {settings}")
        self.line(f"  test lung : {lung}")
        if note:
            self.line(f"  note      : {note}")

    def breath(self, n: int, phase: str, cells: list[Cell]) -> None:
        """One breath: each quantity with its error and a mark."""
        parts = []
        for c in cells:
            text = f"{c.label} {_num(c.value, c.digits)}"
            if c.error is not None:
                text += f" ({_num(c.error, c.digits, sign=True)})"
            mark = INFO_MARK if c.ok is None else PASS_MARK if c.ok else FAIL_MARK
            verdict = "INFO" if c.ok is None else "PASS" if c.ok else "FAIL"
            parts.append(f"{text} {self._colour(verdict, mark)}")
        self.line(f"  b{n:>3} {phase:<7} " + "  ".join(parts))

    def point_verdict(self, point_id: str, verdict: str, checks: list[dict[str, Any]],
                      reason: str | None = None) -> None:
        """The point's verdict and one short line per check."""
        for check in checks:
            v = str(check.get("verdict"))
            why = f" — {check['reason']}" if check.get("reason") else ""
            self.line(
                f"    {check.get('quantity'):<6} mean {_num(check.get('mean'), 2)}"
                f" set {_num(check.get('set'), 2)} max|err| {_num(check.get('max_abs_error'), 2)}"
                f"  {self._colour(v, v)}{why}"
            )
        why = f" ({reason})" if reason else ""
        self.line(f"  point {point_id}: {self._colour(verdict, verdict)}{why}")

    def summary(self, rows: list[tuple[str, str, str]], verdict: str) -> None:
        """The session's summary table: point id, verdict, detail."""
        width = max([5] + [len(r[0]) for r in rows])
        self.line("")
        self.line(f"{'point':<{width}}  {'verdict':<12}  detail")
        self.line(f"{'-' * width}  {'-' * 12}  {'-' * 40}")
        for pid, v, detail in rows:
            self.line(f"{pid:<{width}}  {self._colour(v, f'{v:<12}')}  {detail}")
        self.line(f"session verdict: {self._colour(verdict, verdict)}")
