"""One HTTP POST with requests, its failures translated into delivery results.

Library exceptions carry the URL in their text, and webhook URLs are secrets, so nothing from
an exception's message is ever passed on: only its kind (timeout, connection).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import requests

from shared.channels.base import ChannelConfigError, ChannelSender, OversizeMessageError
from shared.channels.retry import result_for_exception, result_for_status
from shared.delivery.results import DeliveryResult
from shared.timeutil import Clock, utc_now

USER_AGENT = "forewarn/0.1"


def post(
    session: requests.Session,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
) -> requests.Response | DeliveryResult:
    """The response (any status), or a retry result for a timeout or a connection failure."""
    try:
        return session.post(
            url,
            data=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=timeout,
            allow_redirects=False,  # a redirect of a signed webhook is a misconfiguration
        )
    except requests.RequestException as error:
        # Timeout and connection errors retry; a malformed URL is permanent. Only the kind of
        # error is reported, never its text (it holds the URL).
        return result_for_exception(error, "request")


def result_for_response(
    response: requests.Response, what: str, *, clock: Clock = utc_now
) -> DeliveryResult:
    """A non-2xx response as retry or permanent, with a short, secret-free reason."""
    detail = _short_detail(response)
    reason = f"{what} answered HTTP {response.status_code}" + (f": {detail}" if detail else "")
    return result_for_status(
        response.status_code, reason, retry_after=response.headers.get("Retry-After"), clock=clock
    )


def _short_detail(response: requests.Response) -> str:
    """A service's own error code (Slack ``invalid_payload``), never an echo of our request."""
    content_type = response.headers.get("Content-Type", "")
    try:
        if "json" in content_type:
            data: Any = response.json()
            if isinstance(data, dict):
                error, code = data.get("error"), data.get("code")
                if isinstance(error, str):
                    return _token(error)
                if isinstance(code, int) and not isinstance(code, bool):
                    return f"code {code}"
            return ""
        return _token(response.text)
    except ValueError:
        return ""


def _token(text: str) -> str:
    """Keep short machine-style codes only: free text may echo what we sent (numbers, URLs)."""
    first = text.strip().split("\n", 1)[0][:60]
    plain = all(char.isalnum() or char in "_-. " for char in first)
    if first and plain and "http" not in first and sum(c.isdigit() for c in first) < 5:
        return first
    return ""


class HttpChannelSender(ChannelSender):
    """A channel that POSTs JSON with requests: one session per process, settings, a clock."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        clock: Clock = utc_now,
        session: requests.Session | None = None,
    ) -> None:
        self._environ = environ if environ is not None else os.environ
        self._clock = clock
        self._session = session or requests.Session()

    def _json_body(self, payload: Any, *, missing: str, label: str) -> bytes:
        """The payload as compact UTF-8 JSON, refused before sending when over the limit."""
        if payload is None:
            raise ChannelConfigError(missing)
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        limit = self.limits.max_payload_bytes
        if limit is not None and len(data) > limit:
            raise OversizeMessageError(f"{label} is {len(data)} bytes (limit {limit})")
        return data
