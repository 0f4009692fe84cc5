"""Prompts answered on the terminal or on the page, whichever answers first."""

from __future__ import annotations

import io
import os
import threading
import time
from types import SimpleNamespace

from ventbench.bench.operator import Decision
from ventbench.bench.view.hub import ViewHub
from ventbench.bench.view.operator import ViewOperator

POINT = SimpleNamespace(id="vc-01", set={"vt_ml": 500}, lung={"c_ml_per_hpa": 50}, mode="vc")


def _pipe_operator():
    r, w = os.pipe()
    stdin = os.fdopen(r, "r")
    writer = os.fdopen(w, "w")
    hub = ViewHub()
    return ViewOperator("ann", stdin, io.StringIO(), hub), writer, hub


def _answer_later(op, *answers, delay_s=0.2):
    def go():
        time.sleep(delay_s)
        for answer, text in answers:
            assert op.page_answer(answer, text) == ""
    threading.Thread(target=go, daemon=True).start()


def test_the_page_answers_while_the_terminal_is_silent():
    op, writer, hub = _pipe_operator()
    seen = []
    _answer_later(op, ("note", "valve hisses"), ("skip", ""))
    threading.Thread(target=lambda: (time.sleep(0.1), seen.append(hub.prompt)), daemon=True).start()
    answer = op.ask(POINT, 1, 3, False)
    assert answer.decision is Decision.SKIP and answer.notes == ("valve hisses",)
    assert "on the view page" in answer.reason
    assert seen[0]["point"] == "vc-01" and seen[0]["set"] == {"vt_ml": 500}
    assert hub.prompt is None  # closed once answered
    assert op.page_answer("go", "") == "no prompt is open"
    writer.close()


def test_the_terminal_answers_while_the_page_is_silent_then_the_page_the_next_time():
    op, writer, _ = _pipe_operator()
    writer.write("checked the lung\n\n")
    writer.flush()
    first = op.ask(POINT, 1, 3, False)
    assert first.decision is Decision.GO and first.notes == ("checked the lung",)
    _answer_later(op, ("abort", ""))
    assert op.ask(POINT, 2, 3, True).decision is Decision.ABORT
    writer.close()


def test_redo_needs_a_previous_point_and_notes_need_text():
    op, writer, _ = _pipe_operator()
    _answer_later(op, ("redo", ""), ("go", ""))
    time.sleep(0.05)
    answer = op.ask(POINT, 1, 3, False)  # redo refused, then go
    assert answer.decision is Decision.GO and "nothing to redo" in op.stdout.getvalue()
    threading.Thread(target=lambda: (time.sleep(0.2), op.page_answer("note", "s") and None,
                                     op.page_answer("go", "")), daemon=True).start()
    assert op.ask(POINT, 2, 3, True).notes == ()  # "s" as a note is refused, not a skip
    writer.close()


def test_closed_terminal_input_aborts():
    op, writer, _ = _pipe_operator()
    writer.close()
    answer = op.ask(POINT, 1, 1, False)
    assert answer.decision is Decision.ABORT and "end of file" in answer.reason


def test_other_terminal_questions_go_through_the_same_reader():
    from ventbench.bench.evidence import ask_environment
    from ventbench.bench.view.options import terminal_questions

    op, writer, _ = _pipe_operator()
    writer.write("\n21.5\n\n1010\n\n\n")  # go; t_amb, rh (skipped), p_amb, mains V, Hz (skipped)
    writer.flush()
    assert op.ask(POINT, 1, 1, False).decision is Decision.GO
    ask = terminal_questions(op, ask_environment)
    assert ask("end", {}) == {"t_amb_degc": 21.5, "p_amb_hpa": 1010.0}
    writer.close()
    assert ask("end", {}) == {}  # closed input: nothing more recorded, no hang
