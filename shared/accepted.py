"""The book of accepted events: each event id forewarn took in, once, whoever brought it.

    acceptedevents   PartitionKey event id, RowKey ``accepted``: the token of the one queue
                     message that carries the event on, when and how it came (webhook, catch-up)

An Action Group posts the same alert again when it does not hear 202 in time, a second rule can
fire on the same activity-log event, and the catch-up finds events the webhook already brought.
Each of these must cost one row read, not an enrichment, a regrouping and a routing pass.

Acceptance, as ingest and the catch-up both do it (``accept``)::

    queue the event with a fresh token  →  insert (event id → token) if absent
        inserted, or the row holds our token        accepted: "first"
        the row holds another token                 "duplicate": a copy of ours is on the queue
                                                    too, and the first stage drops it (``admit``)
        the insert fails (storage stumbled)         "unrecorded": the message is queued, the
                                                    first stage records it when it reads it

The queue write comes first so that a row never stands for an event that was not queued: an
event whose row exists was handed on, which is what the catch-up's "already received" means.
Writing the row first would let a failed queue write (and a failed clean-up) turn every Action
Group retry into a "duplicate" of nothing. The price is a queued copy per duplicate, dropped by
``admit`` (one read) before any enrichment, grouping or routing.

A message without a token (queued before this book existed, or by a tool) is admitted as before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from shared import names
from shared.models import MaintenanceEvent
from shared.storage import Courier, EntityTable, Envelope, StorageError
from shared.telemetry import get_logger
from shared.timeutil import format_utc

log = get_logger("forewarn.accepted")

ACCEPTED_ROW: Final = "accepted"
BODY_KEY: Final = "accepted"  # beside the event's own fields in the queued body
Via = Literal["webhook", "catch-up"]


@dataclass(frozen=True)
class Acceptance:
    verdict: Literal["first", "duplicate", "unrecorded"]
    event_id: str
    token: str
    first_accepted_at: str | None = None  # duplicate: when the first copy came


def token_of(body: dict[str, Any]) -> str | None:
    """The token a queued event body carries, if it was accepted through this book."""
    stamp = body.get(BODY_KEY)
    token = stamp.get("token") if isinstance(stamp, dict) else None
    return str(token) if token else None


class AcceptedEvents:
    def __init__(self, table: EntityTable) -> None:
        self._table = table

    def accept(
        self,
        courier: Courier,
        event: MaintenanceEvent,
        now: datetime,
        *,
        via: Via,
        traceparent: str | None = None,
    ) -> Acceptance:
        """Queue the event on ``events`` and record it; raises ``StorageError`` only when the
        queue write fails (nothing was handed on: the sender should try again)."""
        token = uuid.uuid4().hex
        body = {**event.to_json(), BODY_KEY: {"token": token, "via": via}}
        courier.send(
            names.QUEUE_EVENTS,
            Envelope(kind="event", id=event.event_id, body=body, traceparent=traceparent),
        )
        row = {"token": token, "accepted_at": format_utc(now), "via": via, "kind": event.kind}
        try:
            if self._table.insert_if_absent(event.event_id, ACCEPTED_ROW, row):
                return Acceptance("first", event.event_id, token)
            found = self._table.get(event.event_id, ACCEPTED_ROW) or {}
        except StorageError as error:
            log.warning(
                "event %s queued but not recorded (%s); the enrich stage records it",
                event.event_id,
                type(error).__name__,
            )
            return Acceptance("unrecorded", event.event_id, token)
        if found.get("token") == token:
            # The enrich stage read our message before this insert and recorded it itself.
            return Acceptance("first", event.event_id, token)
        return Acceptance(
            "duplicate", event.event_id, token, str(found.get("accepted_at") or "") or None
        )

    def admit(self, event_id: str, token: str | None, now: datetime) -> bool:
        """At the first stage: is this message the event's one accepted copy? A message whose
        ingest could not record it records itself here, so that the first copy read wins."""
        if token is None:
            return True
        found = self._table.get(event_id, ACCEPTED_ROW)
        if found is None:
            row = {"token": token, "accepted_at": format_utc(now), "via": "enrich"}
            if self._table.insert_if_absent(event_id, ACCEPTED_ROW, row):
                return True
            found = self._table.get(event_id, ACCEPTED_ROW) or {}
        return found.get("token") == token

    def was_accepted(self, event_id: str) -> bool:
        return self._table.get(event_id, ACCEPTED_ROW) is not None
