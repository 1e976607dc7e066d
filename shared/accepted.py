"""The book of accepted events: each event id forewarn took in, once, whoever brought it.

    acceptedevents   PartitionKey event id, RowKey ``accepted``: the token of the one queued
                     copy that carries the event on, when and how it came (webhook, catch-up)

An Action Group posts the same alert again when it does not hear 202 in time, a second rule can
fire on the same activity-log event, and the catch-up may find an event whose webhook copy is
still on its way. Each of these must cost one row read, not an enrichment, a regrouping and a
routing pass.

    ingest / catch-up   queue the event with a fresh token (``stamped``); nothing else, so the
                        intake stays one queue write
    enrich (first)      ``admit``: the row absent → insert (event id → this token), go on;
                        the row holds this token → go on (a retry of the same message);
                        another token → a duplicate: dropped before any ARM read, logged as
                        "duplicate of event …, nothing sent"

The first copy the enrich stage reads is the one that counts; the insert is conditional, so of
two copies read at once exactly one goes on. A row therefore names an event that was queued and
read: the catch-up's "already received". Keeping the book out of ingest costs a queued copy per
re-post (dropped after one read) and buys an intake of one storage write, and no state in which
a row stands for an event that was never queued.

A message without a token (queued before this book existed, or by a tool) is admitted as before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from shared.models import MaintenanceEvent
from shared.storage import EntityTable
from shared.timeutil import format_utc

ACCEPTED_ROW: Final = "accepted"
BODY_KEY: Final = "accepted"  # beside the event's own fields in the queued body
Via = Literal["webhook", "catch-up"]


@dataclass(frozen=True)
class Stamp:
    """What a queued copy says of its acceptance."""

    token: str
    via: str
    at: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> Stamp | None:
        stamp = body.get(BODY_KEY)
        if not isinstance(stamp, dict) or not stamp.get("token"):
            return None
        return cls(str(stamp["token"]), str(stamp.get("via") or ""), str(stamp.get("at") or ""))


def stamped(event: MaintenanceEvent, now: datetime, *, via: Via) -> dict[str, Any]:
    """The event's queue body, with a fresh token naming this copy."""
    stamp = {"token": uuid.uuid4().hex, "via": via, "at": format_utc(now)}
    return {**event.to_json(), BODY_KEY: stamp}


@dataclass(frozen=True)
class Admission:
    admitted: bool
    first_via: str = ""  # a duplicate: how the first copy came, and when
    first_at: str = ""


class AcceptedEvents:
    def __init__(self, table: EntityTable) -> None:
        self._table = table

    def admit(self, event_id: str, stamp: Stamp | None, now: datetime) -> Admission:
        """At the first stage: is this copy the event's one accepted copy? Raises
        ``StorageError`` when the book cannot be read (the host retries the message)."""
        if stamp is None:
            return Admission(True)
        found = self._table.get(event_id, ACCEPTED_ROW)
        if found is None:
            row = {
                "token": stamp.token,
                "via": stamp.via,
                "queued_at": stamp.at,
                "accepted_at": format_utc(now),
            }
            if self._table.insert_if_absent(event_id, ACCEPTED_ROW, row):
                return Admission(True)
            found = self._table.get(event_id, ACCEPTED_ROW) or {}
        if found.get("token") == stamp.token:
            return Admission(True)  # the host's retry of the copy that was admitted
        return Admission(False, str(found.get("via") or ""), str(found.get("queued_at") or ""))

    def was_accepted(self, event_id: str) -> bool:
        return self._table.get(event_id, ACCEPTED_ROW) is not None
