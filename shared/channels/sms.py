"""SMS through Twilio's Messages API with the twilio library, one message per number.

Receiver options:
    account_sid / account_sid_setting   the Account SID (``AC…``; an identifier, not a secret)
    auth_token_setting                  the setting holding the auth token (required)
    from / messaging_service_sid        the sender: an E.164 number or a Messaging Service
    api_base / api_base_setting         REST base URL (default https://api.twilio.com; tests
                                        point it at a local stand-in via ``client.api.base_url``)
    timeout                             seconds per request (default 10)

Twilio answers errors as ``{"code": 21211, "message": …, "more_info": …, "status": 400}``; the
HTTP status decides retry or not (the common rule) and only the numeric code is kept, because
the message text echoes the phone number.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import requests

from shared.channels.base import (
    ChannelConfigError,
    ChannelLimits,
    ChannelSender,
    OversizeMessageError,
    Progress,
    option,
    timeout_of,
)
from shared.channels.retry import (
    result_for_connection_error,
    result_for_exception,
    result_for_status,
    result_for_timeout,
)
from shared.delivery.results import DeliveryResult, combine
from shared.models import DeliveryJob
from shared.timeutil import Clock, utc_now

DEFAULT_API_BASE = "https://api.twilio.com"
FAILED_STATUSES = frozenset({"failed", "undelivered", "canceled"})

# The twilio library logs every request URL and header at INFO; keep that out of our logs.
_TWILIO_LOG = logging.getLogger("forewarn.channels.sms.twilio")
_TWILIO_LOG.setLevel(logging.WARNING)


def prepare() -> None:
    """Import what the first send imports (shared/warmup.py): the client, and the Messages
    API that ``client.api`` loads on first use (~75 ms, most of Twilio's cost)."""
    import twilio.rest.api.v2010.account.message  # noqa: F401
    from twilio.http.http_client import TwilioHttpClient  # noqa: F401
    from twilio.rest import Client  # noqa: F401


class _Twilio:
    """One job's Twilio client, for each of its numbers in turn: one HTTP session, so a
    receiver's second number reuses the first one's connection (and TLS session) instead of
    opening its own. ``seen`` holds the last answer's ``Retry-After``."""

    def __init__(self, account_sid: str, token: str, api_base: str, timeout: float) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.account_sid = account_sid
        self.seen: dict[str, str | None] = {}

        def remember_retry_after(response: requests.Response, *_: Any, **__: Any) -> None:
            self.seen["retry_after"] = response.headers.get("Retry-After")

        http_client = TwilioHttpClient(
            timeout=timeout,
            logger=_TWILIO_LOG,
            request_hooks={"response": [remember_retry_after]},
        )
        # environment={}: only this receiver's options, never TWILIO_EDGE/REGION from the host.
        self.client = Client(account_sid, token, http_client=http_client, environment={})
        self.client.api.base_url = api_base.rstrip("/")


class SmsSender(ChannelSender):
    channel = "sms"
    limits = ChannelLimits(
        max_text_chars=1_600,  # Twilio error 21617 above this
        notes=(
            "GSM-7 160/153 per segment, UCS-2 70/67; the renderer keeps to 2 segments",
            "billed per segment",
        ),
    )

    def __init__(self, environ: Mapping[str, str] | None = None, *, clock: Clock = utc_now) -> None:
        self._environ = environ if environ is not None else os.environ
        self._clock = clock

    def send(self, job: DeliveryJob) -> DeliveryResult:
        return self.send_reporting(job, Progress())

    def send_reporting(self, job: DeliveryJob, progress: Progress) -> DeliveryResult:
        """One message per number; each number is reported as soon as Twilio accepted it, so
        that a crash before the job is recorded re-sends only to the numbers not reached."""
        receiver = job.receiver
        try:
            account_sid = option(receiver, "account_sid", self._environ, required=True) or ""
            token = option(receiver, "auth_token", self._environ, required=True) or ""
            sender = self._sender(job)
            timeout = timeout_of(receiver, self._environ)
            body = job.message.text
            limit = self.limits.max_text_chars
            if limit is not None and len(body) > limit:
                raise OversizeMessageError(f"SMS body is {len(body)} characters (limit {limit})")
            if not receiver.targets:
                raise ChannelConfigError(f"receiver {receiver.name!r}: no phone numbers")
        except (ChannelConfigError, OversizeMessageError) as error:
            return DeliveryResult.permanent(None, str(error))
        api_base = option(receiver, "api_base", self._environ, default=DEFAULT_API_BASE)
        twilio = _Twilio(account_sid, token, api_base or DEFAULT_API_BASE, timeout)
        results = []
        for number in receiver.targets:
            result = self._send_one(twilio, sender, number, body)
            if result.delivered:
                progress.reached(number, result.reference)
            results.append((number, result))
        return combine(results)

    def _sender(self, job: DeliveryJob) -> dict[str, str]:
        service = option(job.receiver, "messaging_service_sid", self._environ)
        if service:
            return {"messaging_service_sid": service}
        sender = option(job.receiver, "from", self._environ)
        if not sender:
            raise ChannelConfigError(
                f"receiver {job.receiver.name!r}: option 'from' or 'messaging_service_sid' is "
                "required"
            )
        return {"from_": sender}

    def _send_one(
        self, twilio: _Twilio, sender: dict[str, str], number: str, body: str
    ) -> DeliveryResult:
        from twilio.base.exceptions import TwilioException

        client, seen = twilio.client, twilio.seen
        account_sid = twilio.account_sid
        seen.clear()
        try:
            message = client.api.v2010.accounts(account_sid).messages.create(
                to=number, body=body, **sender
            )
        except requests.Timeout:
            return result_for_timeout("Twilio request")
        except requests.ConnectionError:
            return result_for_connection_error("Twilio connection")
        except requests.RequestException as error:
            # api_base without a scheme (InvalidSchema, MissingSchema) and the like: permanent.
            return result_for_exception(error, "Twilio request via option api_base")
        except TwilioException as error:
            status = getattr(error, "status", None)
            code = getattr(error, "code", None)
            reason = f"Twilio answered HTTP {status}" + (f": code {code}" if code else "")
            if not isinstance(status, int):
                return DeliveryResult.permanent(None, "Twilio request failed")
            return result_for_status(
                status, reason, retry_after=seen.get("retry_after"), clock=self._clock
            )
        status_text = str(getattr(message, "status", "") or "")
        if status_text in FAILED_STATUSES:
            code = getattr(message, "error_code", None)
            return DeliveryResult.permanent(201, f"Twilio message {status_text} (code {code})")
        return DeliveryResult.ok(201, reference=str(message.sid), targets=(number,))
