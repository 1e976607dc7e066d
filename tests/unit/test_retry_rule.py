"""The one retry rule: which failures are worth another attempt, and when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from shared.channels.base import ChannelConfigError
from shared.channels.retry import (
    MAX_RETRY_AFTER_SECONDS,
    is_retryable_status,
    parse_retry_after,
    result_for_exception,
    result_for_smtp_reply,
    result_for_status,
)
from shared.delivery.results import DeliveryResult, combine, mask_target

NOW = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)

STATUS_TABLE = [
    (400, False, "bad request: the same request fails again"),
    (401, False, "credentials are wrong until someone fixes them"),
    (403, False, "forbidden"),
    (404, False, "no such webhook/channel"),
    (408, True, "request timeout"),
    (409, False, "conflict"),
    (410, False, "gone (archived Slack channel)"),
    (413, False, "too large stays too large"),
    (422, False, "unprocessable"),
    (429, True, "rate limited"),
    (500, True, "server error"),
    (502, True, "bad gateway"),
    (503, True, "unavailable"),
    (504, True, "gateway timeout"),
    (599, True, "any 5xx"),
]


@pytest.mark.parametrize(
    ("status", "retry", "why"), STATUS_TABLE, ids=[str(row[0]) for row in STATUS_TABLE]
)
def test_status_decides_retry_or_permanent(status: int, retry: bool, why: str) -> None:
    assert is_retryable_status(status) is retry, why
    result = result_for_status(status, f"HTTP {status}")
    assert result.outcome == ("retry" if retry else "permanent")
    assert result.status == status


RETRY_AFTER_TABLE = [
    ("7", 7.0),
    ("0", 0.0),
    (" 120 ", 120.0),
    ("Sat, 01 Mar 2025 10:00:30 GMT", 30.0),  # HTTP-date, 30 s after NOW
    ("Sat, 01 Mar 2025 09:59:00 GMT", 0.0),  # in the past: go now
    ("999999", MAX_RETRY_AFTER_SECONDS),  # not believed beyond a day
    ("soon", None),
    ("", None),
    (None, None),
    ("-5", None),
]


@pytest.mark.parametrize(
    ("header", "seconds"), RETRY_AFTER_TABLE, ids=[repr(row[0]) for row in RETRY_AFTER_TABLE]
)
def test_retry_after_is_read_as_seconds_or_http_date(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, clock=lambda: NOW) == seconds


def test_retry_after_travels_with_a_429_but_not_with_a_permanent_status() -> None:
    assert result_for_status(429, "x", retry_after="3").retry_after == 3.0
    assert result_for_status(400, "x", retry_after="3").retry_after is None


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (421, "retry"),
        (450, "retry"),
        (451, "retry"),
        (452, "retry"),
        (535, "permanent"),
        (550, "permanent"),
        (552, "permanent"),
        (554, "permanent"),
    ],
    ids=["421", "450", "451", "452", "535", "550", "552", "554"],
)
def test_smtp_replies_follow_the_same_rule(code: int, outcome: str) -> None:
    assert result_for_smtp_reply(code, "x").outcome == outcome


COMBINE_TABLE = [
    ("all delivered", ["ok", "ok"], "delivered", 2),
    ("one transient, one delivered", ["retry", "ok"], "retry", 1),
    ("one permanent, one delivered", ["permanent", "ok"], "permanent", 1),
    ("transient beats permanent", ["permanent", "retry"], "retry", 0),
]


@pytest.mark.parametrize(
    ("why", "outcomes", "combined", "reached"), COMBINE_TABLE, ids=[r[0] for r in COMBINE_TABLE]
)
def test_targets_fail_independently(
    why: str, outcomes: list[str], combined: str, reached: int
) -> None:
    results = {
        "ok": DeliveryResult.ok(201, targets=()),
        "retry": DeliveryResult.retry(503, "HTTP 503", retry_after=4),
        "permanent": DeliveryResult.permanent(400, "HTTP 400"),
    }
    pairs = []
    for index, outcome in enumerate(outcomes):
        target = f"+1555000000{index}"
        result = results[outcome]
        if outcome == "ok":
            result = DeliveryResult.ok(201, targets=(target,))
        pairs.append((target, result))
    result = combine(pairs)
    assert result.outcome == combined, why
    assert len(result.delivered_targets) == reached
    assert "+15550000000" not in result.reason and "+15550000001" not in result.reason


@pytest.mark.parametrize(
    ("target", "masked"),
    [
        ("+15551230001", "+•••••••••01"),
        ("ops@example.com", "o***@example.com"),
        ("https://hooks.example.com/services/T/B/secret?sig=abc", "https://hooks.example.com/…"),
        ("C0FOREWARN1", "C0FOREWARN1"),
    ],
    ids=["phone", "email", "url", "slack-channel"],
)
def test_targets_are_masked_before_they_are_written(target: str, masked: str) -> None:
    assert mask_target(target) == masked


SECRET_URL = "https://hooks.example.com/services/T0/B0/s3cr3t"

EXCEPTION_TABLE = [
    ("no-scheme", requests.exceptions.InvalidSchema(f"No adapters for {SECRET_URL}"), "permanent"),
    ("missing-scheme", requests.exceptions.MissingSchema(f"Invalid URL {SECRET_URL}"), "permanent"),
    ("invalid-url", requests.exceptions.InvalidURL(SECRET_URL), "permanent"),
    ("invalid-header", requests.exceptions.InvalidHeader("Bearer x\n"), "permanent"),
    ("channel-config", ChannelConfigError("receiver 'r': option 'from' is required"), "permanent"),
    ("connect-timeout", requests.exceptions.ConnectTimeout(SECRET_URL), "retry"),
    ("read-timeout", TimeoutError("timed out"), "retry"),
    ("connection", requests.exceptions.ConnectionError(SECRET_URL), "retry"),
    ("truncated-body", requests.exceptions.ChunkedEncodingError(SECRET_URL), "retry"),
    ("bare-value-error", ValueError(f"bad {SECRET_URL}"), "retry"),
    ("a-bug", RuntimeError(f"oops +15551230001 {SECRET_URL}"), "retry"),
]


@pytest.mark.parametrize(
    ("why", "error", "outcome"), EXCEPTION_TABLE, ids=[row[0] for row in EXCEPTION_TABLE]
)
def test_an_exception_is_permanent_only_when_it_is_a_configuration_error(
    why: str, error: Exception, outcome: str
) -> None:
    result = result_for_exception(error, "webhook request")
    assert result.outcome == outcome, why
    assert SECRET_URL not in result.reason and "+15551230001" not in result.reason
    if isinstance(error, ChannelConfigError):
        assert result.reason == str(error)  # written secret-free, and it says what to fix
    elif "timeout" in why:
        assert "timed out" in result.reason
    elif why == "connection":
        assert "refused, reset or unreachable" in result.reason
    else:
        assert f"({type(error).__name__})" in result.reason  # the kind, never the text
