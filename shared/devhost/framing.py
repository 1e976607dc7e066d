"""How the dev host frames a request body, and what it adds to the app's health answer.

    FramingError        the request cannot be read as sent: 400 (bad Content-Length),
                        411 (a body without a length: chunked is not supported), 400 (cut short)

The body's length is judged from the headers before any of it is read, so that a request the
host will refuse (too large, no key) costs neither memory nor the time to receive it. After the
refusal is written, up to ``DISCARD_BYTES`` of the body are read and dropped (for at most
``DISCARD_SECONDS``) before the connection closes, as common servers linger: a client that
writes its whole body before reading (most HTTP libraries do) then reads the 413 instead of a
reset; closing on unread bytes makes the kernel reset the connection. A longer body is cut off.
"""

from __future__ import annotations

import json
import socket
import time
from email.message import Message
from io import BufferedIOBase
from typing import Any

import azure.functions as func

DISCARD_BYTES = 16 * 1024 * 1024
DISCARD_SECONDS = 5.0
_DISCARD_CHUNK = 64 * 1024


class FramingError(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def declared_length(headers: Message) -> int:
    """The body length the headers declare (0 when none), or ``FramingError``."""
    if headers.get("Transfer-Encoding"):
        raise FramingError(411, "length_required")
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    # Several copies must agree (RFC 9110 8.6); anything but plain digits is refused, so
    # "-1", "+5", "0x10" and "1e3" never reach int().
    distinct = {value.strip() for value in values}
    text = distinct.pop() if len(distinct) == 1 else ""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise FramingError(400, "invalid_content_length")
    return int(text)


def read_body(stream: BufferedIOBase, length: int) -> bytes:
    """Exactly ``length`` bytes; a client that sends fewer and closes gets a 400."""
    if length == 0:
        return b""
    body = stream.read(length)
    if len(body) != length:
        raise FramingError(400, "incomplete_body")
    return body


def discard_body(
    connection: socket.socket,
    stream: BufferedIOBase,
    length: int,
    *,
    limit: int = DISCARD_BYTES,
    seconds: float = DISCARD_SECONDS,
) -> int:
    """Read and drop up to ``min(length, limit)`` bytes of a refused body, within ``seconds``;
    how many were read. A client that stops sending or hangs up ends it early."""
    left = min(length, limit) if length >= 0 else limit
    deadline = time.monotonic() + seconds
    dropped = 0
    try:
        while left > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            connection.settimeout(remaining)
            chunk = stream.read1(min(left, _DISCARD_CHUNK))
            if not chunk:
                break
            dropped += len(chunk)
            left -= len(chunk)
    except OSError:  # timed out, or reset by the client: nothing left to be polite to
        pass
    return dropped


def with_pollers(response: func.HttpResponse | None, pollers: dict[str, str]) -> func.HttpResponse:
    """The app's health answer plus the host's pollers: 503 when one is dead or stalled, since
    a host that polls nothing delivers nothing however reachable storage is."""
    if response is None:  # the app has no health route: the host answers for itself
        response = func.HttpResponse(json.dumps({"status": "ok"}), status_code=200)
    try:
        body: Any = json.loads(response.get_body() or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"app": body}
    healthy = response.status_code == 200 and all(state == "ok" for state in pollers.values())
    body["pollers"] = pollers
    if not healthy:
        body["status"] = "degraded"
    return func.HttpResponse(
        json.dumps(body),
        status_code=response.status_code
        if response.status_code != 200
        else (200 if healthy else 503),
        mimetype="application/json",
    )
