"""Generic webhooks: the versioned JSON document, signed, with an idempotency key.

Receiver options:
    targets          the URLs to POST to (or ``url`` / ``url_setting`` when a URL holds a token)
    secret_setting   the setting that holds the HMAC signing secret (required)
    timeout          seconds per request (default 10)

Headers: ``Idempotency-Key`` (the job id: the same for every retry and redelivery, so the
receiver can drop a duplicate we could not rule out), ``X-Forewarn-Timestamp`` (Unix seconds)
and ``X-Forewarn-Signature: v1=<hex>``, HMAC-SHA256 over ``f"{timestamp}.{body}"``. Receivers
should reject timestamps older than 5 minutes to stop replays.

A later message of a wave (``meta["follows"]``, shared/delivery/threads.py) carries ``follows``:
the event id and send time of the first document of the wave this receiver got.
"""

from __future__ import annotations

import hashlib
import hmac

from shared.channels.base import (
    ChannelConfigError,
    ChannelLimits,
    OversizeMessageError,
    option,
    timeout_of,
)
from shared.channels.http import HttpChannelSender, post, result_for_response
from shared.delivery.results import DeliveryResult, combine
from shared.delivery.threads import parent_of
from shared.models import DeliveryJob
from shared.render.webhook import LIMITS as RENDERED_LIMITS

SIGNATURE_HEADER = "X-Forewarn-Signature"
TIMESTAMP_HEADER = "X-Forewarn-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_VERSION = "v1"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 over the timestamp, a dot and the exact body bytes."""
    digest = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={digest.hexdigest()}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does; used by the stand-in receiver and documented for users."""
    if not timestamp.isdigit():
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


class WebhookSender(HttpChannelSender):
    channel = "webhook"
    limits = ChannelLimits(
        max_payload_bytes=RENDERED_LIMITS.budget_bytes,
        notes=("many receivers (API gateways, serverless hosts) cap request bodies near 1 MB",),
    )

    def send(self, job: DeliveryJob) -> DeliveryResult:
        try:
            secret = option(job.receiver, "secret", self._environ, required=True) or ""
            timeout = timeout_of(job.receiver, self._environ)
            urls = self._urls(job)
            body = self._body(job)
        except (ChannelConfigError, OversizeMessageError) as error:
            return DeliveryResult.permanent(None, str(error))
        results = [
            (url, self._post(url, job, secret.encode("utf-8"), body, timeout)) for url in urls
        ]
        return combine(results)

    def _urls(self, job: DeliveryJob) -> list[str]:
        urls = list(job.receiver.targets)
        if not urls:
            url = option(job.receiver, "url", self._environ, required=True)
            urls = [url] if url else []
        for url in urls:
            if not url.startswith(("https://", "http://")):
                raise ChannelConfigError(f"receiver {job.receiver.name!r}: a target is not a URL")
        return urls

    def _body(self, job: DeliveryJob) -> bytes:
        payload = job.message.payload
        parent = parent_of(job)
        if payload is not None and parent is not None:
            payload = {
                **payload,
                "follows": {"event_id": parent.event_id, "sent_at": parent.sent_at},
            }
        return self._json_body(
            payload,
            missing="webhook message has no JSON document to send",
            label="webhook document",
        )

    def _post(
        self, url: str, job: DeliveryJob, secret: bytes, body: bytes, timeout: float
    ) -> DeliveryResult:
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: job.job_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        response = post(self._session, url, body=body, headers=headers, timeout=timeout)
        if isinstance(response, DeliveryResult):
            return response
        if 200 <= response.status_code <= 299:
            return DeliveryResult.ok(response.status_code, targets=(url,))
        return result_for_response(response, "webhook", clock=self._clock)
