"""Microsoft Teams: an Adaptive Card posted to a Workflows ("When a Teams webhook request is
received") URL.

Receiver options:
    webhook_url_setting   the setting that holds the workflow URL (its ``sig=`` is a secret)
    timeout               seconds (default 10)

The workflow answers 202 Accepted when it has taken the request; the card is posted by the flow
afterwards, so a 2xx is all we can know. Workflows accept Adaptive Cards only, wrapped in a
``message`` envelope; a bare card from the renderer is wrapped here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import requests

from shared.channels.base import (
    ChannelConfigError,
    ChannelLimits,
    ChannelSender,
    DeliveryResult,
    OversizeMessageError,
    option,
    timeout_of,
)
from shared.channels.http import post, result_for_response
from shared.models import DeliveryJob
from shared.timeutil import Clock, utc_now

ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """The ``{"type": "message", "attachments": [...]}`` shape around an Adaptive Card."""
    if payload.get("type") == "message":
        return payload
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "content": payload}],
    }


class TeamsSender(ChannelSender):
    channel = "teams"
    limits = ChannelLimits(
        max_payload_bytes=28 * 1024,
        notes=("Teams rejects posts above ~28 KB including all card elements",),
    )

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

    def send(self, job: DeliveryJob) -> DeliveryResult:
        try:
            url = option(job.receiver, "webhook_url", self._environ, required=True) or ""
            timeout = timeout_of(job.receiver, self._environ)
            body = self._body(job)
        except (ChannelConfigError, OversizeMessageError) as error:
            return DeliveryResult.permanent(None, str(error))
        response = post(
            self._session,
            url,
            body=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=timeout,
        )
        if isinstance(response, DeliveryResult):
            return response
        if 200 <= response.status_code <= 299:
            return DeliveryResult.ok(response.status_code, targets=tuple(job.receiver.targets))
        return result_for_response(response, "Teams workflow", clock=self._clock)

    def _body(self, job: DeliveryJob) -> bytes:
        if job.message.payload is None:
            raise ChannelConfigError("Teams message has no Adaptive Card")
        data = json.dumps(
            envelope(job.message.payload), separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        limit = self.limits.max_payload_bytes
        if limit is not None and len(data) > limit:
            raise OversizeMessageError(f"Teams card is {len(data)} bytes (limit {limit})")
        return data
