"""Put Message on an Azure Storage queue: one REST request on a connection kept per thread.

    QueueWriteError          the message was not stored: refused, or storage out of reach
    └── QueueMissingError    404: the queue does not exist (yet); create it and write again

Why not the SDK's ``send_message`` on this path: ingest answers an Action Group only after
its queue write (issue 18), and measured on the development machine the SDK spent ~1.1 ms of
Python (its policy pipeline, ``requests`` reading the proxy settings from the environment on
every call, its XML models) around a ~0.8 ms request to Azurite. This writer does what those
policies do for one operation and nothing else: sign (Shared Key, a SAS, or an Entra token from
the credential the SDK client was built with), one quick retry, the same timeouts. Everything
else (creating a queue, receiving, the pollers) stays with the SDK, and a client this writer
cannot mirror (an HTTP proxy in the environment, an unknown credential) keeps using the SDK:
``QueueWriter.mirroring`` returns None for it.

The queue message is what the SDK's ``BinaryBase64EncodePolicy`` puts: the bytes in base64,
as the Functions queue trigger expects (the caller encodes; see ``shared.storage``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from email.utils import formatdate
from functools import cache
from typing import Any

# A version every Azure region and Azurite 3.x accept for Put Message; the body and the answer
# of this operation have not changed since 2011.
API_VERSION = "2021-12-02"
TOKEN_SCOPE = "https://storage.azure.com/.default"  # noqa: S105 - an audience, not a secret
# A token is renewed this long before it expires, so a request never carries one that lapses
# on the way (the SDK's bearer policy renews 5 minutes ahead as well).
TOKEN_RENEW_SECONDS = 300
# Status codes worth a second try: a timeout and the server errors that mean "not now", as the
# storage SDK's retry policy has them (501 and 505 will not change on a retry).
_RETRY_STATUSES = frozenset({408, 500, 502, 503, 504})


class QueueWriteError(Exception):
    """The message was not stored. ``status`` is the HTTP status, 0 when there was none."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class QueueMissingError(QueueWriteError):
    """The queue does not exist: a fresh account (Azurite, a redeploy) before its first write."""


class _Retry(Exception):
    """One attempt failed in a way a second attempt may not (internal)."""

    def __init__(self, error: QueueWriteError) -> None:
        super().__init__(str(error))
        self.error = error


def message_xml(text: str) -> bytes:
    """The Put Message body. ``text`` is base64 (letters, digits, ``+/=``): nothing to escape,
    but a caller's mistake must not become an XML injection, so anything else is refused."""
    if text.strip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="):
        raise ValueError("a queue message is written as base64 text")
    return (
        b"<?xml version='1.0' encoding='utf-8'?>\n<QueueMessage><MessageText>"
        + text.encode("ascii")
        + b"</MessageText></QueueMessage>"
    )


def shared_key_signature(
    account: str,
    key: bytes,
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
) -> str:
    """The ``Authorization`` value of a Shared Key request (the Queue service's string to sign:
    the verb, the standard headers in their fixed order, the ``x-ms-`` headers sorted, then the
    account, the path and the query parameters sorted)."""
    lower = {name.lower(): value for name, value in headers.items()}
    standard = [
        lower.get(name, "")
        for name in (
            "content-encoding",
            "content-language",
            "content-length",
            "content-md5",
            "content-type",
            "date",
            "if-modified-since",
            "if-match",
            "if-none-match",
            "if-unmodified-since",
            "range",
        )
    ]
    if standard[2] == "0":  # since version 2015-02-21 a zero length is signed as empty
        standard[2] = ""
    ms_headers = "".join(
        f"{name}:{value.strip()}\n"
        for name, value in sorted(lower.items())
        if name.startswith("x-ms-")
    )
    resource = f"/{account}{path}" + "".join(
        f"\n{name.lower()}:{value}" for name, value in sorted(query.items())
    )
    text = "\n".join([method, *standard]) + "\n" + ms_headers + resource
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode('ascii')}"


class _TokenCache:
    """An Entra token for storage from a credential (``get_token``), renewed before it lapses."""

    def __init__(self, credential: Any, clock: Callable[[], float]) -> None:
        self._credential = credential
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on = 0.0

    def header(self) -> str:
        with self._lock:
            if self._token is None or self._expires_on - self._clock() < TOKEN_RENEW_SECONDS:
                fresh = self._credential.get_token(TOKEN_SCOPE)
                self._token, self._expires_on = str(fresh.token), float(fresh.expires_on)
            return f"Bearer {self._token}"

    def forget(self) -> None:
        with self._lock:
            self._token = None


def _proxied(scheme: str, host: str) -> bool:
    """Whether the environment sends requests to this host through a proxy (as requests,
    under the SDK, would read it)."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get(scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(host)


@cache
def _tls_context() -> ssl.SSLContext:
    # The CA bundle requests (under the SDK) verifies with: its environment override, else
    # certifi's bundle.
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if not bundle:
        import certifi

        bundle = certifi.where()
    return ssl.create_default_context(cafile=bundle)


class QueueWriter:
    """Puts messages on one queue. Safe to share between threads: each keeps its connection."""

    def __init__(
        self,
        queue_url: str,
        *,
        shared_key: tuple[str, bytes] | None = None,
        sas: str | None = None,
        credential: Any = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        retry_pause: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urllib.parse.urlsplit(queue_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a queue URL is http(s)://host/…/queue")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/") + "/messages"
        self._sas = (sas or "").lstrip("?")
        self._shared_key = shared_key
        self._tokens = _TokenCache(credential, clock) if credential is not None else None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._retry_pause = retry_pause
        self._tls = _tls_context() if self._https else None
        self._local = threading.local()

    @property
    def target(self) -> str:
        """Where messages go (without the SAS): for tests and logs."""
        scheme = "https" if self._https else "http"
        default = 443 if self._https else 80
        port = "" if self._port == default else f":{self._port}"
        return f"{scheme}://{self._host}{port}{self._path}"

    @property
    def signing(self) -> str:
        """How requests are authenticated, in words (never the secret)."""
        if self._shared_key is not None:
            return "the account key"
        if self._tokens is not None:
            return "an Entra token"
        return "the SAS" if self._sas else "nothing"

    @classmethod
    def mirroring(cls, client: Any, *, timeout_seconds: float = 5.0) -> QueueWriter | None:
        """A writer to the queue of an SDK ``QueueClient``, authenticated as it is; None when
        this writer would not send what the client sends (a proxy, another credential)."""
        parts = urllib.parse.urlsplit(str(client.url))
        if parts.hostname is None or _proxied(parts.scheme, parts.hostname):
            return None
        credential = client.credential
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        options: dict[str, Any] = {
            "connect_timeout": min(2.0, timeout_seconds),
            "read_timeout": timeout_seconds,
        }
        if credential is None:  # a SAS travels in the URL's query, or the queue is public
            return cls(url, sas=parts.query or None, **options)
        if hasattr(credential, "get_token"):
            return cls(url, credential=credential, **options)
        account, key = (
            getattr(credential, "account_name", None),
            getattr(credential, "account_key", None),
        )
        if isinstance(account, str) and isinstance(key, str):
            return cls(url, shared_key=(account, base64.b64decode(key)), **options)
        return None

    def put(self, text: str, *, visibility_timeout: int | None = None) -> None:
        """Store one message (``text``: base64); returns once storage answered 201 Created.
        One quick retry for a dropped connection or a server error; then ``QueueWriteError``."""
        body = message_xml(text)
        query = {"visibilitytimeout": str(visibility_timeout)} if visibility_timeout else {}
        try:
            self._attempt(body, query)
        except _Retry as first:
            if self._tokens is not None and first.error.status in (401, 403):
                self._tokens.forget()
            time.sleep(self._retry_pause)
            try:
                self._attempt(body, query)
            except _Retry as second:
                raise second.error from second

    def _attempt(self, body: bytes, query: dict[str, str]) -> None:
        headers = {
            "x-ms-version": API_VERSION,
            "x-ms-date": formatdate(usegmt=True),
            "x-ms-client-request-id": str(uuid.uuid4()),
            "Content-Type": "application/xml",
            "Content-Length": str(len(body)),
            "User-Agent": "forewarn",
        }
        if self._shared_key is not None:
            account, key = self._shared_key
            headers["Authorization"] = shared_key_signature(
                account, key, "POST", self._path, query, headers
            )
        elif self._tokens is not None:
            try:
                headers["Authorization"] = self._tokens.header()
            except Exception as failure:  # any credential failure: no token, no write
                raise _Retry(
                    QueueWriteError(f"no storage token ({type(failure).__name__})")
                ) from failure
        target = self._path
        query_text = "&".join(part for part in (urllib.parse.urlencode(query), self._sas) if part)
        if query_text:
            target += "?" + query_text
        status, code = self._exchange(target, body, headers)
        if status == 201:
            return
        if status == 404:
            raise QueueMissingError(f"the queue does not exist ({code or status})", status)
        refused = QueueWriteError(f"storage answered {status} {code}".rstrip(), status)
        # An Entra token refused: the next attempt asks the credential for a fresh one.
        retry_auth = self._tokens is not None and status in (401, 403)
        if status in _RETRY_STATUSES or retry_auth:
            raise _Retry(refused)
        raise refused

    def _exchange(self, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """Status and error code of one request; a connection the server has closed since its
        last use (idle keep-alive) is replaced before the request, not failed on."""
        connection: http.client.HTTPConnection | None = None
        reused = False
        try:
            connection, reused = self._connection()
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read()  # the whole answer, so that the connection can carry the next one
        except (OSError, http.client.HTTPException) as error:
            if connection is not None:
                connection.close()
            self._local.connection = None
            if reused and isinstance(
                error, http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError
            ):
                # Closed between the check and the request: the server never read this one.
                return self._exchange(target, body, headers)
            raise _Retry(
                QueueWriteError(f"storage could not be reached ({type(error).__name__})")
            ) from error
        if response.will_close:
            connection.close()
            self._local.connection = None
        return response.status, response.getheader("x-ms-error-code") or ""

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and connection.sock is not None:
            readable, _, _ = select.select([connection.sock], [], [], 0)
            if not readable:  # nothing to read on an idle connection: it is still open
                return connection, True
            connection.close()  # end of stream (or stray bytes): the server let it go
        connection = (
            http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=self._tls
            )
            if self._https
            else http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        )
        self._local.connection = None
        connection.connect()
        assert connection.sock is not None
        # http.client writes the headers and the body apart; with Nagle's algorithm on, the
        # body waits for the headers' ACK, which the server may delay (40 ms on Linux) until it
        # answers, and it cannot answer without the body. The SDK's urllib3 turns it off too.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sock.settimeout(self._read_timeout)
        self._local.connection = connection
        return connection, False
