"""Operator prompts answered on the terminal or on the page, whichever answers first.

:class:`ViewOperator` asks exactly what :class:`~ventbench.bench.operator.TerminalOperator`
asks (Enter = go, ``s`` skip, ``r`` redo, ``a`` abort, anything else a note) and puts the
open prompt into the :class:`~ventbench.bench.view.hub.ViewHub`. Terminal lines (read by one
background thread for the whole session) and page answers (the server's ``/api/answer``)
go into one queue; :meth:`ask` takes the first that decides. A closed stdin still aborts,
as on the terminal, unless the page answers first.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, TextIO

from ventbench.bench.operator import PROMPT, Answer, Decision
from ventbench.bench.view.hub import ViewHub

_PAGE_KEYS = {"go": "", "skip": "s", "redo": "r", "abort": "a"}


class ViewOperator:
    """A person at the terminal or at the page.

    Parameters
    ----------
    name : str
        Recorded in ``start.json``.
    stdin, stdout : text files
        The terminal.
    hub : ViewHub
        Where the open prompt is shown.
    """

    kind = "terminal"

    def __init__(self, name: str, stdin: TextIO, stdout: TextIO, hub: ViewHub) -> None:
        self.name, self.stdin, self.stdout, self.hub = name, stdin, stdout, hub
        self._answers: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self._open = threading.Event()
        self._reader: threading.Thread | None = None

    def _read_terminal(self) -> None:
        while True:
            line = self.stdin.readline()
            self._answers.put(("terminal", line if line else None))
            if not line:
                return

    def page_answer(self, answer: str, text: str) -> str:
        """An answer from the page (the server's ``on_answer``): "" taken, else why not."""
        if not self._open.is_set():
            return "no prompt is open"
        if answer == "note":
            text = text.strip()
            if not text or text.lower() in ("s", "skip", "a", "abort", "q", "r", "redo"):
                return "a note needs text (not an answer key)"
            self._answers.put(("page", text + "\n"))
        else:
            self._answers.put(("page", _PAGE_KEYS[answer] + "\n"))
        return ""

    def ask(self, point: Any, index: int, total: int, can_redo: bool) -> Answer:
        self._start_reader()
        notes: list[str] = []
        prompt = {"point": str(point.id), "index": index, "total": total, "can_redo": can_redo,
                  "set": dict(point.set), "lung": dict(point.lung), "text": PROMPT.strip()}
        self.hub.update(prompt={**prompt, "notes": notes[:]})
        self._open.set()
        try:
            while True:
                self.stdout.write(PROMPT)
                self.stdout.flush()
                origin, line = self._answers.get()
                if line is None:
                    self.stdout.write("\n")
                    return Answer(Decision.ABORT, tuple(notes),
                                  "operator input closed (end of file)")
                text = line.strip()
                key = text.lower()
                by = " (on the view page)" if origin == "page" else ""
                if origin == "page":
                    self.stdout.write(f"[page] {text or 'go'}\n")
                if key == "":
                    return Answer(Decision.GO, tuple(notes))
                if key in ("s", "skip"):
                    return Answer(Decision.SKIP, tuple(notes), f"skipped by the operator{by}")
                if key in ("a", "abort", "q"):
                    return Answer(Decision.ABORT, tuple(notes), f"aborted by the operator{by}")
                if key in ("r", "redo"):
                    if can_redo:
                        return Answer(Decision.REDO, tuple(notes),
                                      f"redo requested by the operator{by}")
                    self.stdout.write("  nothing to redo yet\n")
                    continue
                notes.append(text)
                self.stdout.write(f"  note recorded: {text}\n")
                self.hub.update(prompt={**prompt, "notes": notes[:]})
        finally:
            self._open.clear()
            self.hub.update(prompt=None)

    def terminal_input(self, prompt: str = "") -> str:
        """``input()`` for other questions on the terminal (the environment at the end):
        the terminal is read by this operator's thread, so a plain ``input()`` would race it.
        Raises EOFError when the terminal input is closed."""
        self._start_reader()
        self.stdout.write(prompt)
        self.stdout.flush()
        while True:
            origin, line = self._answers.get()
            if origin != "terminal":
                continue  # a page answer with no prompt open: already refused
            if line is None:
                self._answers.put(("terminal", None))  # stays closed for later questions
                raise EOFError
            return line.rstrip("\n")

    def _start_reader(self) -> None:
        if self._reader is None:
            self._reader = threading.Thread(target=self._read_terminal, daemon=True,
                                            name="ventbench-operator-stdin")
            self._reader.start()

    def port_url(self, point: Any, url: str) -> str:
        return url
