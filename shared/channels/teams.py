"""Microsoft Teams: an Adaptive Card posted to a Workflows ("When a Teams webhook request is
received") URL.

Receiver options:
    webhook_url_setting   the setting that holds the workflow URL (its ``sig=`` is a secret)
    timeout               seconds (default 10)

The workflow answers 202 Accepted when it has taken the request; the card is posted by the flow
afterwards, so a 2xx is all we can know. Workflows accept Adaptive Cards only, wrapped in a
``message`` envelope; a bare card from the renderer is wrapped here.

A workflow post returns no id to reply to, so a later message of a wave (``meta["follows"]``,
shared/delivery/threads.py) is a follow-up card whose first line names the original: its title
and when it was sent.
"""

from __future__ import annotations

from typing import Any

from shared.channels.base import (
    ChannelConfigError,
    ChannelLimits,
    OversizeMessageError,
    option,
    timeout_of,
)
from shared.channels.following import follows_line
from shared.channels.http import HttpChannelSender, post, result_for_response
from shared.delivery.results import DeliveryResult
from shared.delivery.threads import parent_of
from shared.models import DeliveryJob
from shared.render.text import ReaderClock

ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """The ``{"type": "message", "attachments": [...]}`` shape around an Adaptive Card."""
    if payload.get("type") == "message":
        return payload
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "content": payload}],
    }


def naming_original(payload: dict[str, Any], line_text: str) -> dict[str, Any]:
    """The card (bare or in its envelope) with a first, subtle line naming the original
    (``follows_line``)."""
    line = {
        "type": "TextBlock",
        "text": line_text,
        "wrap": True,
        "isSubtle": True,
        "size": "Small",
    }
    if payload.get("type") == "message":
        attachments = [
            {**item, "content": naming_original(item["content"], line_text)}
            if isinstance(item, dict) and isinstance(item.get("content"), dict)
            else item
            for item in payload.get("attachments") or []
        ]
        return {**payload, "attachments": attachments}
    return {**payload, "body": [line, *list(payload.get("body") or [])]}


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
        parent = parent_of(job)
        if payload is not None and parent is not None:
            clock = ReaderClock.for_receiver(job.receiver, self._clock())
            payload = naming_original(payload, follows_line(parent, clock))
        return self._json_body(
            envelope(payload) if payload is not None else None,
            missing="Teams message has no Adaptive Card",
            label="Teams card",
        )
