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

from typing import Any

from shared.channels.base import (
    ChannelConfigError,
    ChannelLimits,
    DeliveryResult,
    OversizeMessageError,
    option,
    timeout_of,
)
from shared.channels.http import HttpChannelSender, post, result_for_response
from shared.models import DeliveryJob

ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """The ``{"type": "message", "attachments": [...]}`` shape around an Adaptive Card."""
    if payload.get("type") == "message":
        return payload
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "content": payload}],
    }


class TeamsSender(HttpChannelSender):
    channel = "teams"
    limits = ChannelLimits(
        max_payload_bytes=28 * 1024,
        notes=("Teams rejects posts above ~28 KB including all card elements",),
    )

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
        payload = job.message.payload
        return self._json_body(
            envelope(payload) if payload is not None else None,
            missing="Teams message has no Adaptive Card",
            label="Teams card",
        )
