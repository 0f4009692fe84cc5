"""Operator lines that outlive the terminal: a stream that tees into a log file.

A days-long run is often started over SSH; when the session drops, stdout/stderr become a
closed pipe (``EPIPE``) or a hung-up terminal (``EIO``, ``SIGHUP``). Acquisition must not
notice. :class:`Console` is a text stream (``write``/``flush``/``isatty``, so
:class:`~ventbench.bench.live.Live` and ``print(file=…)`` can use it) that

- writes to its terminal stream while that works; on the first failure it notes why in
  the log, points the dead file descriptor at ``/dev/null`` (so nobody else — a later
  ``print``, the interpreter flushing at exit — fails on it either) and carries on;
- copies every complete line, time-stamped and without terminal escape codes, into the
  log file (``console.log`` in the record or session directory) once one is attached;
  lines written before that are kept and written first. A progress line that a terminal
  redraws in place reaches the log at most every ``progress_log_s``.

The log is for people, not evidence: it is written until the process ends, so a session's
``stop.json`` does not hash it (``bench/session.py`` leaves it out).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import TextIO

from ventbench.bench.records import LOG_FILE as LOG_FILE  # re-exported: the transcript file

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_EARLY_LINES = 1000  #: lines kept before a log file is attached


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Console:
    """A terminal stream with a log file behind it; never raises on a lost terminal.

    Parameters
    ----------
    stream : text file, optional
        The terminal stream (``sys.stderr`` by default, looked up at each write so that
        test harnesses that swap ``sys.stderr`` are honoured).
    log_path : path, optional
        The log file; :meth:`attach` sets it later.
    progress_log_s : float
        Least time, s, between two redrawn progress lines copied into the log.
    """

    def __init__(self, stream: TextIO | None = None, log_path: Path | None = None,
                 progress_log_s: float = 60.0) -> None:
        self._stream = stream
        self.lost = ""  #: why the terminal was given up ("" while it works)
        self.progress_log_s = progress_log_s
        self._log: TextIO | None = None
        self._early: list[str] = []
        self._pending = ""  #: the current, unterminated line (as the terminal shows it)
        self._last_progress_log = -1e9
        if log_path is not None:
            self.attach(log_path)

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def log_path(self) -> Path | None:
        return Path(self._log.name) if self._log is not None else None

    # -- the text-stream interface ------------------------------------------------------
    def isatty(self) -> bool:
        if self.lost:
            return False
        try:
            return bool(self.stream.isatty())
        except (OSError, ValueError):
            return False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                self.stream.write(text)
            except (OSError, ValueError) as error:
                self._lose(error)
        self._to_log(text)
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self.stream.flush()
            except (OSError, ValueError) as error:
                self._lose(error)
        if self._log is not None:
            try:
                self._log.flush()
            except OSError:
                pass

    def line(self, text: str) -> None:
        """One whole line, flushed."""
        self.write(text + "\n")
        self.flush()

    def note(self, text: str) -> None:
        """A line for the log only (what happened to the terminal)."""
        self._log_line(text)

    # -- the log -------------------------------------------------------------------------
    def attach(self, path: Path) -> None:
        """Start the log file at ``path`` (appending); earlier lines go first."""
        if self._log is not None:
            return
        try:
            self._log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError:
            return  # no log is no reason to stop; the terminal still works (or not)
        early, self._early = self._early, []
        for entry in early:
            self._write_log(entry)

    def close(self) -> None:
        """Flush and close the log (the terminal stream is not ours to close)."""
        if self._pending:
            self._log_line(self._pending)
            self._pending = ""
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
            self._log = None

    def _lose(self, error: BaseException) -> None:
        self.lost = f"{type(error).__name__}: {error}"
        self._log_line(f"[console] the terminal is gone ({self.lost}); "
                       f"lines continue in this log only")
        try:  # whoever writes to this descriptor next writes into /dev/null, not into EPIPE
            fd = self.stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def _to_log(self, text: str) -> None:
        text = _ESCAPE.sub("", text)
        while text:
            cut = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=-1)
            if cut < 0:
                self._pending += text
                return
            self._pending += text[:cut]
            if text[cut] == "\n":
                self._log_line(self._pending)
            elif self._pending.strip():  # a progress line about to be redrawn
                now = time.monotonic()
                if now - self._last_progress_log >= self.progress_log_s:
                    self._last_progress_log = now
                    self._log_line(self._pending)
            self._pending = ""
            text = text[cut + 1:]

    def _log_line(self, line: str) -> None:
        entry = f"{_utc()} {line}\n"
        if self._log is None:
            self._early.append(entry)
            del self._early[:-_EARLY_LINES]
        else:
            self._write_log(entry)

    def _write_log(self, entry: str) -> None:
        try:
            self._log.write(entry)
        except OSError:
            pass  # a full disk stops the recording elsewhere, with the file named
