"""A stand-in Teams Workflows webhook ("When a Teams webhook request is received").

Shape: ``POST …/workflows/{id}/triggers/manual/paths/invoke?api-version=1&sp=…&sv=1.0&sig=…``
with ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": {AdaptiveCard}}]}``; the trigger answers
202 Accepted with an empty body (the flow posts the card afterwards). A wrong ``sig`` gets 401;
a body above ~28 KB is refused with 400 here (Teams documents the 28 KB limit; legacy connectors
answered 413 — either is a permanent 4xx for the sender).
"""

from __future__ import annotations

import threading
from typing import Any

from shared.standins.stand_in import Answer, Failure, Recorded, StandIn

WORKFLOW_PATH = (
    "/powerautomate/automations/direct/workflows/0f0e0d0c0b0a/triggers/manual/paths/invoke"
)
SIGNATURE = "fakeWorkflowSig0000000000000000000000000000"
MAX_BYTES = 28 * 1024
CARD_TYPE = "application/vnd.microsoft.card.adaptive"


class TeamsStandIn(StandIn):
    name = "teams"

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, Any]] = []
        self._cards_lock = threading.Lock()

    @property
    def workflow_url(self) -> str:
        return (
            f"{self.base_url}{WORKFLOW_PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun"
            f"&sv=1.0&sig={SIGNATURE}"
        )

    def forget(self) -> None:
        with self._cards_lock:
            self.cards.clear()

    def fail(self, failure: Failure, request: Recorded) -> Answer:
        status = failure.status or 500
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        return Answer.json(
            status,
            {"error": {"code": failure.error or f"Http{status}", "message": "scripted"}},
            **headers,
        )

    def answer(self, request: Recorded) -> Answer:
        if request.path != WORKFLOW_PATH:
            return Answer.json(404, {"error": {"code": "WorkflowNotFound", "message": "no flow"}})
        if request.query.get("sig") != [SIGNATURE]:
            return Answer.json(
                401,
                {"error": {"code": "DirectApiAuthorizationRequired", "message": "bad signature"}},
            )
        if len(request.body) > MAX_BYTES:
            return Answer.json(
                400, {"error": {"code": "MessageSizeExceeded", "message": "over 28 KB"}}
            )
        try:
            document = request.json()
        except ValueError:
            return Answer.json(400, {"error": {"code": "InvalidRequestContent", "message": "json"}})
        attachments = document.get("attachments") if isinstance(document, dict) else None
        if (
            document.get("type") != "message"
            or not attachments
            or any(item.get("contentType") != CARD_TYPE for item in attachments)
        ):
            return Answer.json(
                400, {"error": {"code": "InvalidRequestContent", "message": "not a card"}}
            )
        with self._cards_lock:
            self.cards.extend(item["content"] for item in attachments)
        return Answer(202)
