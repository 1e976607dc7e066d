"""The one place that decides whether a failed send is worth retrying.

HTTP (Slack, Teams, Twilio, webhooks): 408, 429 and every 5xx are transient, as are timeouts and
connection errors; every other 4xx is permanent (resending the same request gets the same answer).
``Retry-After`` (delta-seconds or an HTTP date) is honoured when the service sends it.

SMTP: a 4yz reply is transient and a 5yz reply permanent (RFC 5321 §4.2.1), the same rule in
that protocol's words.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

from shared.channels.base import DeliveryResult
from shared.timeutil import Clock, utc_now

RETRY_STATUSES = frozenset({408, 429})
# Retry-After beyond this is not believed: the stage's own backoff cap applies instead.
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, *, clock: Clock = utc_now) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        moment: datetime = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    seconds = (moment - clock()).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def result_for_status(
    status: int, reason: str, *, retry_after: str | None = None, clock: Clock = utc_now
) -> DeliveryResult:
    """A non-success HTTP status as a delivery result (2xx is the caller's success path)."""
    if is_retryable_status(status):
        return DeliveryResult.retry(
            status, reason, retry_after=parse_retry_after(retry_after, clock=clock)
        )
    return DeliveryResult.permanent(status, reason)


def result_for_timeout(what: str = "request") -> DeliveryResult:
    return DeliveryResult.retry(None, f"{what} timed out")


def result_for_connection_error(what: str = "connection") -> DeliveryResult:
    return DeliveryResult.retry(None, f"{what} failed (refused, reset or unreachable)")


def result_for_smtp_reply(code: int, reason: str) -> DeliveryResult:
    if 400 <= code <= 499:
        return DeliveryResult.retry(code, reason)
    return DeliveryResult.permanent(code, reason)
