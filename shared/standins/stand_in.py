"""The common part of the HTTP stand-ins: a ThreadingHTTPServer on 127.0.0.1, port 0, that
records every request and follows a programmable failure script.

    with SlackStandIn() as slack:
        slack.script.fail(2, status=503)          # two 503s, then the real behaviour
        slack.script.always(Failure(status=500))  # every request fails
        slack.script.fail(1, status=429, retry_after="3")
        slack.script.hang(seconds=3)              # answer late (client timeouts)

A hanging request is released when the stand-in stops, so tests never wait for it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops SYNs when a client opens 16 connections at once;
    # each drop costs a 1 s retransmit and skews what the tests and benchmarks measure.
    request_queue_size = 64
    daemon_threads = True


@dataclass(frozen=True)
class Failure:
    """One scripted answer instead of the real behaviour."""

    status: int | None = None  # HTTP status (the SMTP stand-in maps it to a reply code)
    retry_after: str | None = None
    hang_seconds: float = 0.0  # wait this long before answering (then answer ``status``)
    error: str | None = None  # a service-specific error (Slack error name, Twilio code)


class Script:
    """A thread-safe queue of failures; empty = behave normally."""

    def __init__(self) -> None:
        self._steps: deque[Failure] = deque()
        self._always: Failure | None = None
        self._lock = threading.Lock()

    def fail(
        self, times: int, status: int, *, retry_after: str | None = None, error: str | None = None
    ) -> Script:
        with self._lock:
            self._steps.extend(Failure(status, retry_after, 0.0, error) for _ in range(times))
        return self

    def hang(self, seconds: float, *, times: int = 1, status: int = 200) -> Script:
        with self._lock:
            self._steps.extend(Failure(status, None, seconds) for _ in range(times))
        return self

    def always(self, failure: Failure | None) -> Script:
        with self._lock:
            self._always = failure
        return self

    def clear(self) -> None:
        with self._lock:
            self._steps.clear()
            self._always = None

    def next(self) -> Failure | None:
        with self._lock:
            if self._steps:
                return self._steps.popleft()
            return self._always


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    answered: int = 0

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any, **headers: str) -> Answer:
        return cls(status, json.dumps(document).encode("utf-8"), "application/json", headers)

    @classmethod
    def text(cls, status: int, text: str, **headers: str) -> Answer:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8", headers)


class StandIn:
    """Subclasses implement ``answer(request)`` (real behaviour) and ``fail(failure, request)``."""

    name = "stand-in"

    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[Recorded] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out as two writes. With Nagle's algorithm on, the
            # body waits for the client's (delayed, up to 40 ms) ACK of the headers on a
            # kept-alive connection: a wait real Azure, Slack or Twilio do not add, which the
            # benchmarks then counted as forewarn's time. The dev host disables it too.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                stand_in._serve(self)

            def do_GET(self) -> None:
                stand_in._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.script.clear()
        with self._lock:
            self.requests.clear()
        self.forget()

    def forget(self) -> None:
        """Subclasses clear what they delivered."""

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------

    def answer(self, request: Recorded) -> Answer:
        raise NotImplementedError

    def fail(self, failure: Failure, request: Recorded) -> Answer:
        status = failure.status or 500
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        return Answer.text(status, HTTPStatus(status).phrase, **headers)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        request = Recorded(
            handler.command,
            parts.path,
            parse_qs(parts.query),
            dict(handler.headers.items()),
            body,
        )
        with self._lock:
            self.requests.append(request)
        failure = self.script.next()
        if failure is not None and failure.hang_seconds:
            self._stopping.wait(failure.hang_seconds)
        if failure is not None and (failure.status not in (None, 200) or failure.error):
            answer = self.fail(failure, request)
        else:
            answer = self.answer(request)
        request.answered = answer.status
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(answer.body)))
            for key, value in answer.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def iter_json(requests: list[Recorded]) -> Iterator[Any]:
    for request in requests:
        yield request.json()
