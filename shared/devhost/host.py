"""The dev host: HTTP routes, queue pollers and timers around an ``azure.functions`` app.

DevHostError
└── UnsupportedBindingError   a function uses a trigger the dev host does not emulate
"""

from __future__ import annotations

import contextlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from shared import names
from shared.devhost.catalog import functions_of
from shared.devhost.cron import CronSchedule
from shared.devhost.settings import QueueOptions
from shared.telemetry import get_logger

log = get_logger("forewarn.devhost")

_LEASE_SECONDS = 300  # how long a message stays invisible while its function runs


class _HostServer(ThreadingHTTPServer):
    # A backlog of 5 (the default) drops connections when a load test or an Action Group
    # burst opens many at once; each drop costs the client a 1 s SYN retransmit.
    request_queue_size = 128


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
        function_key: str | None = None,
        run_timers: bool = True,
        only: set[str] | None = None,
    ) -> None:
        self._environ = environ
        self._queue_options = queue_options or QueueOptions()
        self._function_key = function_key
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._routes: dict[str, Any] = {}
        self._queue_functions: list[Any] = []
        self._timer_functions: list[tuple[Any, CronSchedule]] = []
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
            elif kind == "timerTrigger":
                if run_timers:
                    self._timer_functions.append((function, CronSchedule.parse(trigger.schedule)))
            else:
                raise UnsupportedBindingError(f"{function.get_function_name()}: {kind}")
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
        for function in self._queue_functions:
            self._spawn(lambda f=function: self._poll_queue(f), function.get_function_name())
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

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=f"devhost-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

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
        parsed = urllib.parse.urlsplit(request.path)
        params = dict(urllib.parse.parse_qsl(parsed.query))
        path = parsed.path.strip("/")
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if not path.lower().startswith("api/"):
            self._reply(request, 404, {"error": "not_found"})
            return
        function = self._routes.get(path[4:].lower())
        if function is None:
            self._reply(request, 404, {"error": "not_found"})
            return
        trigger = function.get_trigger()
        methods = {str(getattr(m, "value", m)).upper() for m in (trigger.methods or [])}
        if methods and request.command.upper() not in methods:
            self._reply(request, 405, {"error": "method_not_allowed"})
            return
        level = str(getattr(trigger.auth_level, "value", trigger.auth_level) or "").upper()
        if level in ("FUNCTION", "ADMIN") and not self._key_ok(request, params):
            self._reply(request, 401, {"error": "unauthorized"})
            return
        http_request = func.HttpRequest(
            method=request.command,
            url=f"{self.base_url}{request.path}",
            headers=dict(request.headers.items()),
            params=params,
            route_params={},
            body=body,
        )
        self._track(1)
        try:
            response = function.get_user_function()(**{trigger.name: http_request})
        except Exception:
            # Like the Functions host: a 500 with no detail; the trace goes to the log only.
            log.exception("function %s failed", function.get_function_name())
            self._reply(request, 500, {"error": "internal_error"})
            return
        finally:
            self._track(-1)
        if not isinstance(response, func.HttpResponse):
            response = func.HttpResponse(status_code=204)
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

    def _key_ok(self, request: BaseHTTPRequestHandler, params: Mapping[str, str]) -> bool:
        if not self._function_key:
            return False
        given = params.get("code") or request.headers.get("x-functions-key") or ""
        return hmac.compare_digest(given.encode(), self._function_key.encode())

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    # ---- queues ------------------------------------------------------------------------
    def _queue_client(self, queue: str, connection: str) -> Any:
        from azure.storage.queue import QueueClient

        conn = self._environ.get(connection) or self._environ.get(names.STORAGE_CONNECTION)
        if not conn:
            raise DevHostError(f"setting {connection} is not set")
        return QueueClient.from_connection_string(conn, queue)

    def _poll_queue(self, function: Any) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        trigger = function.get_trigger()
        options = self._queue_options
        client = self._queue_client(trigger.queue_name, trigger.connection)
        poison = self._queue_client(trigger.queue_name + names.POISON_SUFFIX, trigger.connection)
        for queue in (client, poison):
            with contextlib.suppress(ResourceExistsError):
                queue.create_queue()
        workers = ThreadPoolExecutor(max_workers=max(1, min(options.batch_size, 8)))
        delay = 0.05
        try:
            while not self._stop.is_set():
                try:
                    batch = list(
                        client.receive_messages(
                            messages_per_page=min(options.batch_size, 32),
                            visibility_timeout=_LEASE_SECONDS,
                            max_messages=min(options.batch_size, 32),
                        )
                    )
                except AzureError:
                    log.warning("queue %s unreachable; retrying", trigger.queue_name)
                    batch = []
                if not batch:
                    self._stop.wait(delay)
                    delay = min(delay * 2, options.max_polling_interval_seconds)
                    continue
                delay = 0.05
                self._track(len(batch))
                futures = [
                    workers.submit(self._run_message, function, client, poison, message)
                    for message in batch
                ]
                for future in futures:
                    future.result()
        finally:
            workers.shutdown(wait=True)

    def _run_message(self, function: Any, client: Any, poison: Any, message: Any) -> None:
        try:
            trigger = function.get_trigger()
            body = message.content
            text = body if isinstance(body, str) else body.decode("utf-8")
            decoded = _base64_text(text)
            queue_message = QueueMessage(
                id=message.id,
                body=decoded.encode("utf-8"),
                dequeue_count=message.dequeue_count,
                insertion_time=message.inserted_on,
                expiration_time=message.expires_on,
                time_next_visible=message.next_visible_on,
                pop_receipt=message.pop_receipt,
            )
            try:
                function.get_user_function()(**{trigger.name: queue_message})
            except Exception:
                log.warning(
                    "function %s failed on message %s (attempt %s)",
                    function.get_function_name(),
                    message.id,
                    message.dequeue_count,
                    exc_info=True,
                )
                self._after_failure(client, poison, message, text)
                return
            client.delete_message(message.id, message.pop_receipt)
        finally:
            self._track(-1)

    def _after_failure(self, client: Any, poison: Any, message: Any, text: str) -> None:
        if message.dequeue_count >= self._queue_options.max_dequeue_count:
            poison.send_message(text)  # already base64, as the host writes poison messages
            client.delete_message(message.id, message.pop_receipt)
            return
        client.update_message(
            message.id,
            message.pop_receipt,
            visibility_timeout=int(self._queue_options.visibility_timeout_seconds),
        )

    # ---- timers ------------------------------------------------------------------------
    def _run_timer(self, function: Any, schedule: CronSchedule) -> None:
        trigger = function.get_trigger()
        due = schedule.next_after(datetime.now(UTC))
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
        for function in self._queue_functions:
            trigger = function.get_trigger()
            client = self._queue_client(trigger.queue_name, trigger.connection)
            total += len(list(client.peek_messages(max_messages=1)))
        return total


def _base64_text(text: str) -> str:
    import base64
    import binascii

    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return text
