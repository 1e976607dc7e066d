"""The dev host: HTTP routes, queue pollers and timers around an ``azure.functions`` app.

DevHostError
└── UnsupportedBindingError   a function uses a trigger the dev host does not emulate
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest

from shared import names
from shared.auth import AlertsKeys
from shared.devhost import eventgrid
from shared.devhost.catalog import functions_of
from shared.devhost.cron import CronSchedule
from shared.devhost.framing import (
    FramingError,
    declared_length,
    discard_body,
    read_body,
    with_pollers,
)
from shared.devhost.poller import DEFAULT_LEASE_SECONDS, QueuePoller
from shared.devhost.settings import QueueOptions
from shared.ingest import MAX_BODY_BYTES
from shared.start.principal import HEADER_NAME
from shared.telemetry import get_logger

log = get_logger("forewarn.devhost")


def match_template(routes: Mapping[str, Any], path: str) -> tuple[Any, dict[str, str]]:
    """The function whose route template (``actions/{token}``) matches ``path`` (without
    ``api/``), and the parameters' values (URL-decoded); ``(None, {})`` when none does. A
    parameter takes one path segment, as the Functions host's routes do."""
    segments = path.strip("/").split("/")
    for template, function in routes.items():
        if "{" not in template:
            continue
        parts = template.split("/")
        if len(parts) != len(segments):
            continue
        found: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}") and segment:
                found[part[1:-1].split(":", 1)[0]] = urllib.parse.unquote(segment)
            elif part != segment.lower():
                break
        else:
            return function, found
    return None, {}


_READ_TIMEOUT_SECONDS = 30.0


class _HostServer(ThreadingHTTPServer):
    # A backlog of 5 (the default) drops connections when a load test or an Action Group
    # burst opens many at once; each drop costs the client a 1 s SYN retransmit.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints the traceback to stderr, past the redacting log handlers; a
        # client that misbehaves is a warning with the error's kind, nothing of its content.
        error = sys.exc_info()[1]
        log.warning("http: connection ended by %s", type(error).__name__)


# App Service authentication's headers (X-MS-CLIENT-PRINCIPAL, -NAME, -ID, -IDP).
PRINCIPAL_HEADERS = "x-ms-client-principal"


class DevHostError(Exception):
    pass


class UnsupportedBindingError(DevHostError):
    pass


class DevHost:
    """Hosts every function of ``app``; ``start()`` returns once HTTP listens."""

    def __init__(
        self,
        app: func.FunctionApp,
        *,
        environ: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 7071,
        queue_options: QueueOptions | None = None,
        run_timers: bool = True,
        only: set[str] | None = None,
        message_lease_seconds: float = DEFAULT_LEASE_SECONDS,
        stuck_after_seconds: float | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        timers_at_start: frozenset[str] = frozenset(),
        signed_in_as: str | None = None,
    ) -> None:
        self._environ = environ
        # Plays App Service authentication: principal headers sent from outside are dropped
        # (App Service removes them too) and, when set, this person is signed in on every
        # request (``forewarn serve --signed-in-as``; shared/start/principal.py).
        self.signed_in_as = signed_in_as
        # Timers that also run once as the host starts (like run_on_startup), e.g. the
        # catch-up after a local host was down and refused alerts.
        self._timers_at_start = timers_at_start
        self._queue_options = queue_options or QueueOptions()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._routes: dict[str, Any] = {}
        self._queue_functions: list[Any] = []
        self._timer_functions: list[tuple[Any, CronSchedule]] = []
        self._event_grid: dict[str, Any] = {}  # Event Grid triggers, by function name
        self.in_flight = 0
        self._in_flight_lock = threading.Lock()
        for name, function in functions_of(app).items():
            if only is not None and name not in only:
                continue
            trigger = function.get_trigger()
            kind = trigger.get_binding_name()
            if kind == "httpTrigger":
                self._routes[str(trigger.route).strip("/").lower()] = function
            elif kind == "queueTrigger":
                self._queue_functions.append(function)
            elif kind == "eventGridTrigger":
                self._event_grid[name] = function
            elif kind == "timerTrigger":
                if run_timers:
                    self._timer_functions.append((function, CronSchedule.parse(trigger.schedule)))
            else:
                raise UnsupportedBindingError(f"{function.get_function_name()}: {kind}")
        self._pollers = [
            QueuePoller(
                function,
                environ=environ,
                options=self._queue_options,
                stop=self._stop,
                track=self._track,
                lease_seconds=message_lease_seconds,
            )
            for function in self._queue_functions
        ]
        # A poller answers at least every max polling interval; a storage call fails within
        # seconds (quick-failing clients). Far longer without an answer: nothing moves.
        self._stalled_after = stuck_after_seconds or max(
            60.0, 3 * self._queue_options.max_polling_interval_seconds
        )
        self._max_body_bytes = max_body_bytes
        self._server = _HostServer((host, port), self._handler_class())
        self._server.daemon_threads = True

    # ---- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def queue_names(self) -> list[str]:
        return [fn.get_trigger().queue_name for fn in self._queue_functions]

    def start(self) -> None:
        self._spawn(self._server.serve_forever, "http")
        for poller in self._pollers:
            poller.thread = self._spawn(poller.run, poller.name)
        for function, schedule in self._timer_functions:
            self._spawn(
                lambda f=function, s=schedule: self._run_timer(f, s), function.get_function_name()
            )

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> DevHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Any, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"devhost-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _track(self, delta: int) -> None:
        with self._in_flight_lock:
            self.in_flight += delta

    # ---- HTTP --------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, a keep-alive client's
            # delayed ACK adds ~40 ms to every response.
            disable_nagle_algorithm = True
            # A client that stops sending mid-request releases its thread after this long.
            timeout = _READ_TIMEOUT_SECONDS

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http %s", format % args)

            def do_GET(self) -> None:
                host._serve_http(self)

            def do_POST(self) -> None:
                host._serve_http(self)

            def do_PUT(self) -> None:
                host._serve_http(self)

            def do_DELETE(self) -> None:
                host._serve_http(self)

        return Handler

    def _serve_http(self, request: BaseHTTPRequestHandler) -> None:
        """Route, authorise, then read the body: a request is refused (400/411/413/401/404)
        from its headers alone, before a byte of its body is read."""
        try:
            length = declared_length(request.headers)
        except FramingError as error:
            self._refuse(request, error.status, error.code)
            return
        parsed = urllib.parse.urlsplit(request.path)
        params = dict(urllib.parse.parse_qsl(parsed.query))
        path = parsed.path.strip("/")
        if path.lower() == eventgrid.PATH and request.command == "POST":
            self._serve_event_grid(request, params, length)
            return
        route = path[4:].lower() if path.lower().startswith("api/") else None
        function = self._routes.get(route) if route is not None else None
        route_params: dict[str, str] = {}
        if function is None and route is not None:
            # A route with a {parameter} (e.g. actions/{token}): matched on the path as sent,
            # since a parameter's value keeps its case.
            function, route_params = match_template(self._routes, path[4:])
        if function is None and route == names.ROUTE_HEALTH and request.command == "GET":
            self._write(request, with_pollers(None, self.poller_states()))
            return
        if function is None:
            self._refuse(request, 404, "not_found", unread=length)
            return
        trigger = function.get_trigger()
        methods = {str(getattr(m, "value", m)).upper() for m in (trigger.methods or [])}
        if methods and request.command.upper() not in methods:
            self._refuse(request, 405, "method_not_allowed", unread=length)
            return
        if not self._authorised(function, route, request, params):
            self._refuse(request, 401, "unauthorized", unread=length)
            return
        body = self._body_or_refuse(request, length)
        if body is None:
            return
        response = self._call(function, request, params, body, route_params)
        if route == names.ROUTE_HEALTH:
            response = with_pollers(response, self.poller_states())
        self._write(request, response)

    def _body_or_refuse(self, request: BaseHTTPRequestHandler, length: int) -> bytes | None:
        """The request's body, or None once the refusal is written (too large, badly framed)."""
        if length > self._max_body_bytes:
            self._refuse(request, 413, "payload_too_large", unread=length)
            return None
        try:
            return read_body(request.rfile, length)
        except FramingError as error:
            self._refuse(request, error.status, error.code)
            return None

    def _serve_event_grid(
        self, request: BaseHTTPRequestHandler, params: Mapping[str, str], length: int
    ) -> None:
        function = self._event_grid.get(params.get("functionName", ""))
        if function is None:
            self._refuse(request, 404, "not_found", unread=length)
            return
        body = self._body_or_refuse(request, length)
        if body is None:
            return
        self._track(1)
        try:
            status, answer = eventgrid.answer(function, dict(request.headers.items()), body)
        finally:
            self._track(-1)
        self._reply(request, status, answer)

    @staticmethod
    def _write(request: BaseHTTPRequestHandler, response: func.HttpResponse) -> None:
        payload = response.get_body()
        request.send_response(response.status_code)
        content_type = response.mimetype or "text/plain"
        if response.charset:
            content_type += f"; charset={response.charset}"
        request.send_header("Content-Type", content_type)
        for key, value in response.headers.items():
            if key.lower() not in ("content-type", "content-length"):
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _call(
        self,
        function: Any,
        request: BaseHTTPRequestHandler,
        params: dict[str, str],
        body: bytes,
        route_params: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        trigger = function.get_trigger()
        headers = {
            key: value
            for key, value in request.headers.items()
            if not key.lower().startswith(PRINCIPAL_HEADERS)
        }
        if self.signed_in_as:
            headers[HEADER_NAME] = self.signed_in_as
        http_request = func.HttpRequest(
            method=request.command,
            url=f"{self.base_url}{request.path}",
            headers=headers,
            params=params,
            route_params=route_params or {},
            body=body,
        )
        self._track(1)
        try:
            response = function.get_user_function()(**{trigger.name: http_request})
        except Exception:
            # Like the Functions host: a 500 with no detail; the trace goes to the log only.
            log.exception("function %s failed", function.get_function_name())
            return func.HttpResponse(
                json.dumps({"error": "internal_error"}),
                status_code=500,
                mimetype="application/json",
            )
        finally:
            self._track(-1)
        if not isinstance(response, func.HttpResponse):
            response = func.HttpResponse(status_code=204)
        return response

    def _refuse(
        self, request: BaseHTTPRequestHandler, status: int, error: str, *, unread: int = -1
    ) -> None:
        """Answer from the headers; a body left unread (or unframed) ends the connection, after
        as much of it as ``discard_body`` allows has been read and dropped."""
        if unread != 0:
            request.close_connection = True
        self._reply(request, status, {"error": error}, close=unread != 0)
        if unread > 0:
            request.wfile.flush()
            discard_body(request.connection, request.rfile, unread)

    def _authorised(
        self,
        function: Any,
        route: str | None,
        request: BaseHTTPRequestHandler,
        params: Mapping[str, str],
    ) -> bool:
        """Refuse from the headers what the function would refuse, before reading the body.

        The alerts route checks the app's own key (the function checks it again, as on Azure;
        with no usable key configured the function's 503 says so). Platform keys (auth level
        FUNCTION or ADMIN) do not exist on this host: such a route is never opened.
        """
        level = str(getattr(function.get_trigger().auth_level, "value", "") or "").upper()
        if level in ("FUNCTION", "ADMIN"):
            return False
        if route == names.ROUTE_ALERTS:
            keys = AlertsKeys.from_settings(self._environ)
            return keys.problem is not None or keys.accepts_request(
                params, dict(request.headers.items())
            )
        return True

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, body: dict[str, Any], *, close: bool = False
    ) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        if close:
            request.send_header("Connection", "close")
        request.end_headers()
        request.wfile.write(payload)

    # ---- timers ------------------------------------------------------------------------
    def _run_timer(self, function: Any, schedule: CronSchedule) -> None:
        trigger = function.get_trigger()
        due = schedule.next_after(datetime.now(UTC))
        if function.get_function_name() in self._timers_at_start:
            due = datetime.now(UTC)
        while not self._stop.is_set():
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, 1.0))
                continue
            self._track(1)
            try:
                function.get_user_function()(**{trigger.name: TimerRequest(past_due=False)})
            except Exception:
                log.exception("timer %s failed", function.get_function_name())
            finally:
                self._track(-1)
            due = schedule.next_after(datetime.now(UTC))

    # ---- for tests and the demo ----------------------------------------------------------
    def wait_until_idle(self, timeout_seconds: float, *, settle_seconds: float = 0.5) -> bool:
        """True once every trigger queue is empty and nothing runs for ``settle_seconds``."""
        deadline = time.monotonic() + timeout_seconds
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            busy = self.in_flight > 0 or self._visible_messages() > 0
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= settle_seconds:
                return True
            time.sleep(0.05)
        return False

    def _visible_messages(self) -> int:
        total = 0
        for poller in self._pollers:
            client = poller.client(poller.queue_name)
            total += len(list(client.peek_messages(max_messages=1)))
        return total

    # ---- health ------------------------------------------------------------------------
    def poller_states(self) -> dict[str, str]:
        return {poller.name: poller.state(self._stalled_after) for poller in self._pollers}
