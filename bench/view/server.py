"""The view's HTTP server: the page, its static files, a push stream and the answer endpoint.

Standard library only (:class:`http.server.ThreadingHTTPServer`): one thread per connection,
daemon threads, nothing to install. Endpoints:

- ``GET /`` the page; ``GET /static/NAME`` its scripts, styles and uPlot (package data);
- ``GET /api/stream?span=S&cols=N`` Server-Sent Events: a frame (:meth:`ViewHub.frame`)
  at most every 1/``rate_hz`` s whenever something changed — a slow page gets fewer frames,
  never a queue;
- ``GET /api/window?t_end=T&span=S&cols=N`` one frame ending at ``T`` (scroll-back);
- ``POST /api/answer?token=TOKEN`` ``{"answer": "go|skip|redo|abort|note", "text": "…"}``
  answers the operator's prompt. Without the session's random token: 403. Malformed or
  unexpected messages are refused (4xx) with a log line, never an exception in the session.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from ventbench.bench.view.hub import ViewHub

#: Frames per second pushed to each page (the issue asks for ≥ 25).
RATE_HZ = 30.0
#: A page that has not taken a frame for this long is dropped (its thread ends), s.
SEND_TIMEOUT_S = 5.0
#: The files the page may load, and their content types.
STATIC = {"index.html": "text/html; charset=utf-8", "view.js": "text/javascript; charset=utf-8",
          "view.css": "text/css; charset=utf-8", "uPlot.iife.min.js": "text/javascript",
          "uPlot.min.css": "text/css", "uPlot.LICENSE": "text/plain; charset=utf-8"}
#: Answers the page may give.
ANSWERS = ("go", "skip", "redo", "abort", "note")
MAX_BODY = 4096


def _static(name: str) -> bytes:
    return resources.files("ventbench.bench.view").joinpath("static", name).read_bytes()


class ViewServer(ThreadingHTTPServer):
    """Serves ``hub`` on ``(host, port)`` (port 0: any free one).

    Parameters
    ----------
    hub : ViewHub
    host, port : str, int
    on_answer : callable, optional
        ``on_answer(answer, text) -> str`` ("" accepted, else why not) for page answers.
    log : callable
        One line per refused or malformed request.
    rate_hz : float
        Frames per second per page.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hub: ViewHub, host: str = "127.0.0.1", port: int = 0, *,
                 on_answer: Callable[[str, str], str] | None = None,
                 log: Callable[[str], None] = print, rate_hz: float = RATE_HZ) -> None:
        super().__init__((host, port), _Handler)
        self.hub = hub
        self.token = secrets.token_urlsafe(16)
        self.on_answer = on_answer
        self.log = log
        self.rate_hz = rate_hz
        self.stopping = threading.Event()
        self.clients = 0
        self.frames_sent = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/?token={self.token}"

    def start(self) -> ViewServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="ventbench-view", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def answer(self, answer: str, text: str) -> str:
        """Hand a page answer on; "" when taken, else the reason it was not."""
        if self.on_answer is None:
            return "no prompt is open"
        return self.on_answer(answer, text)


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet access log
        return

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, code: int, why: str) -> None:
        self.server.log(f"view: refused {self.command} {self.path.split('?')[0]} from "
                        f"{self.client_address[0]}: {why}")
        self._send(code, json.dumps({"error": why}).encode())

    def _query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

    def _num(self, query: dict[str, str], key: str, default: float) -> float:
        try:
            value = float(query.get(key, default))
        except ValueError:
            return default
        return value if value == value and abs(value) < 1e12 else default  # NaN, inf

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path in ("/", "/index.html"):
                self._send(200, _static("index.html"), STATIC["index.html"])
            elif path.startswith("/static/") and path[8:] in STATIC:
                self._send(200, _static(path[8:]), STATIC[path[8:]])
            elif path == "/api/window":
                q = self._query()
                frame = self.server.hub.frame(self._num(q, "span", 20), int(self._num(q, "cols", 800)),
                                              self._num(q, "t_end", 0.0) if "t_end" in q else None)
                self._send(200, json.dumps(frame).encode())
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            elif path == "/api/stream":
                self._stream()
            else:
                self._refuse(404, "no such page")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _stream(self) -> None:
        q = self._query()
        span, cols = self._num(q, "span", 20), int(self._num(q, "cols", 800))
        self.connection.settimeout(SEND_TIMEOUT_S)  # a stalled page ends its own thread
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        server, hub = self.server, self.server.hub
        server.clients += 1
        period = 1.0 / server.rate_hz
        sent_arrival, version, last_sent = -1.0, -1, 0.0
        try:
            while not server.stopping.is_set():
                t0 = time.monotonic()
                if hub.last_arrival_wall != sent_arrival or hub.version != version \
                        or t0 - last_sent > 1.0:
                    frame = hub.frame(span, cols, since_version=version)
                    sent_arrival, version, last_sent = frame["arrival_wall"], frame["version"], t0
                    self.wfile.write(b"data: " + json.dumps(frame).encode() + b"\n\n")
                    self.wfile.flush()
                    server.frames_sent += 1
                time.sleep(max(0.0, period - (time.monotonic() - t0)))
        finally:
            server.clients -= 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        path = urllib.parse.urlsplit(self.path).path
        if path != "/api/answer":
            self._refuse(404, "no such endpoint")
            return
        token = self._query().get("token", "")
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            self._refuse(403, "missing or wrong token")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._refuse(400, f"body of {length} bytes (1..{MAX_BODY} expected)")
            return
        try:
            message = json.loads(self.rfile.read(length))
            answer, text = message["answer"], str(message.get("text", ""))[:500]
            if answer not in ANSWERS:
                raise ValueError(f"answer {answer!r} is not one of {', '.join(ANSWERS)}")
        except (ValueError, KeyError, TypeError) as error:
            self._refuse(400, f"malformed message ({error})")
            return
        why = self.server.answer(answer, text)
        if why:
            self._refuse(409, why)
            return
        self._send(200, b'{"ok": true}')
