"""The one place that decides whether a failed send is worth retrying.

HTTP (Slack, Teams, Twilio, webhooks): 408, 429 and every 5xx are transient, as are timeouts and
connection errors; every other 4xx is permanent (resending the same request gets the same answer).
``Retry-After`` (delta-seconds or an HTTP date) is honoured when the service sends it.

SMTP: a 4yz reply is transient and a 5yz reply permanent (RFC 5321 §4.2.1), the same rule in
that protocol's words.

An exception nobody translated (``result_for_exception``): a configuration error (a
``ChannelError``, or a URL or header that requests cannot use) is permanent; anything else is
retried, which the stage bounds by its attempt limit, so it ends in dead-letter, not in a loop.
"""

from __future__ import annotations

import requests

from shared.channels.base import ChannelError
from shared.delivery.results import DeliveryResult
from shared.timeutil import Clock, retry_after_seconds, utc_now

RETRY_STATUSES = frozenset({408, 429})
# What is wrong with the receiver's options rather than with the service: resending the same
# request builds the same bad URL or header again. (These requests errors are ValueErrors too.)
CONFIGURATION_ERRORS: tuple[type[Exception], ...] = (
    ChannelError,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)
# Retry-After beyond this is not believed: the stage's own backoff cap applies instead.
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, *, clock: Clock = utc_now) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or ``None`` when absent or unreadable."""
    seconds = retry_after_seconds(value, now=clock())
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER_SECONDS)


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


def result_for_exception(error: Exception, what: str) -> DeliveryResult:
    """An exception as a delivery result; the reason names only its kind (its text may hold a
    webhook URL, a phone number or a credential).

    A configuration error is permanent. Every other exception is retried, a bare ``ValueError``
    included: the senders already turn their own option parsing into ``ChannelConfigError``, so
    one that gets here is a library's or our own surprise. A wrong guess of *retry* costs the
    retry window (≈5.7 h, then dead-letter, and a fix deployed meanwhile still delivers); a wrong
    guess of *permanent* would drop a notice that could have gone out.
    """
    if isinstance(error, ChannelError):
        return DeliveryResult.permanent(None, str(error))  # written to be secret-free
    if isinstance(error, CONFIGURATION_ERRORS):
        name = type(error).__name__
        return DeliveryResult.permanent(None, f"{what}: malformed URL or header ({name})")
    if isinstance(error, (requests.Timeout, TimeoutError)):
        return result_for_timeout(what)
    if isinstance(error, (requests.ConnectionError, ConnectionError)):
        return result_for_connection_error(what)
    return DeliveryResult.retry(None, f"{what} failed unexpectedly ({type(error).__name__})")
