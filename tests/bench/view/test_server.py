"""The view server: token-guarded answers, malformed messages refused and logged, the push
rate, the static page, and a stalled page that never slows the writer."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse

import numpy as np
import pytest

from ventbench.bench.view.hub import ViewHub
from ventbench.bench.view.server import ViewServer


@pytest.fixture
def served():
    hub = ViewHub()
    log: list[str] = []
    answers: list[tuple[str, str]] = []

    def on_answer(answer: str, text: str) -> str:
        answers.append((answer, text))
        return ""

    server = ViewServer(hub, on_answer=on_answer, log=log.append).start()
    yield hub, server, log, answers
    server.stop()


def _post(server, body: bytes, token: str | None) -> tuple[int, dict]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    query = f"?token={urllib.parse.quote(token)}" if token is not None else ""
    conn.request("POST", f"/api/answer{query}", body=body,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data) if data else {}


def _get(server, path: str) -> tuple[int, bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_the_address_is_loopback_with_a_random_token(served):
    _, server, _, _ = served
    other = ViewServer(ViewHub())
    try:
        assert server.url.startswith("http://127.0.0.1:") and "token=" in server.url
        assert server.token != other.token and len(server.token) >= 16
    finally:
        other.server_close()


def test_answers_need_the_token(served):
    _, server, log, answers = served
    assert _post(server, b'{"answer": "skip"}', None)[0] == 403
    assert _post(server, b'{"answer": "skip"}', "wrong")[0] == 403
    assert answers == [] and len(log) == 2 and "token" in log[0]
    assert _post(server, b'{"answer": "skip"}', server.token) == (200, {"ok": True})
    assert answers == [("skip", "")]


@pytest.mark.parametrize("body", [b"not json", b'{"answer": "launch"}', b'{"text": "x"}',
                                  b"[1, 2]", b'{"answer": null}', b"\xff\xfe"])
def test_malformed_messages_are_refused_with_a_log_line(served, body):
    _, server, log, answers = served
    status, reply = _post(server, body, server.token)
    assert status == 400 and "malformed" in reply["error"]
    assert answers == [] and len(log) == 1 and "malformed" in log[0]
    assert _post(server, b'{"answer": "go"}', server.token)[0] == 200  # still serving


def test_an_answer_with_no_prompt_open_is_refused(served):
    hub, server, log, _ = served
    server.on_answer = lambda answer, text: "no prompt is open"
    assert _post(server, b'{"answer": "go"}', server.token)[0] == 409
    assert "no prompt" in log[-1]


def test_page_and_vendored_files_are_served(served):
    _, server, _, _ = served
    status, page = _get(server, "/?token=x")
    assert status == 200 and b"/static/uPlot.iife.min.js" in page and b"http" not in page.split(
        b"<footer>")[0].replace(b'href="/static', b"")  # no external URL: offline
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "view.js", "view.css"):
        assert _get(server, f"/static/{name}")[0] == 200
    assert b"MIT" in _get(server, "/static/uPlot.LICENSE")[1]
    assert _get(server, "/static/../server.py")[0] == 404


def test_frames_are_pushed_at_25_per_second_or_more_while_data_arrives(served):
    hub, server, _, _ = served
    key = object()
    stop = threading.Event()

    def produce():  # 1 kHz in 10 ms blocks
        k = 0
        while not stop.is_set():
            t = (k * 10 + np.arange(10)) / 1000.0
            hub.add_samples(key, t, np.sin(t), np.cos(t))
            k += 1
            time.sleep(0.01)

    threading.Thread(target=produce, daemon=True).start()
    host, port = server.server_address[:2]
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(b"GET /api/stream?span=10&cols=200 HTTP/1.1\r\nHost: x\r\n\r\n")
    data, t0 = b"", time.monotonic()
    while time.monotonic() - t0 < 2.0:
        data += sock.recv(65536)
    stop.set()
    sock.close()
    frames = data.count(b"\n\ndata: ") + 1
    assert frames / 2.0 >= 25, f"{frames} frames in 2 s"


def test_a_stalled_page_never_slows_the_writer(served):
    hub, server, _, _ = served
    host, port = server.server_address[:2]
    sock = socket.create_connection((host, port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /api/stream?span=60&cols=4000 HTTP/1.1\r\nHost: x\r\n\r\n")
    key = object()
    worst = 0.0
    for k in range(300):  # 3 s of 1 kHz; the page never reads a byte
        t = (k * 10 + np.arange(10)) / 1000.0
        t0 = time.perf_counter()
        hub.add_samples(key, t, np.sin(t), np.cos(t))
        worst = max(worst, time.perf_counter() - t0)
        time.sleep(0.01)
    sock.close()
    assert hub.samples == 3000 and worst < 0.05, f"a write took {worst * 1000:.1f} ms"
