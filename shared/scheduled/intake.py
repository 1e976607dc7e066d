"""The Scheduled Events stage: one forwarder post in, one notice on the ``enriched`` queue.

Order of checks, cheapest and least revealing first: the key is configured (503 until it is:
the forwarder keeps its posts and retries), size (413), signature (401 unsigned, 403 wrong or
stale), the post's fields (400 naming the first wrong one), then the VM's record is read and
the notice queued for the route stage (202; 503 when storage fails, so the forwarder retries).
No enrichment: the post names its VM, and the record (when the VM is in a wave) has the rest.

Event Grid's ``ScheduledEventEmitted`` events (no agent in the VM; eventgrid.py) take the same
path from the post on: ``take_event_grid`` reads one into posts and queues their notices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import names
from shared.scheduled import (
    KEY_OFF,
    KEY_OK,
    MAX_BODY_BYTES,
    InvalidPostError,
    PostNotSignedError,
    ScheduledEventPost,
    check_signature,
    key_state,
    notice_of,
    parse_post,
)
from shared.scheduled.eventgrid import posts_of_event
from shared.storage import Courier, Envelope, StorageError, StorageServices
from shared.telemetry import METRIC_EVENTS, count, get_logger
from shared.timeutil import Clock, utc_now
from shared.wave.records import RecordStore, TableRecordStore

log = get_logger("forewarn.scheduled")
# The route stage's envelope kind (shared.routing.stage); the stages are independent of each
# other, so the name is written again here and a test routes what this stage queues.
ENVELOPE_KIND_ENRICHED = "enriched"


@dataclass(frozen=True)
class IntakeResponse:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def _error(status: int, error: str, message: str, **extra: Any) -> IntakeResponse:
    return IntakeResponse(status, {"error": error, "message": message, **extra})


def keys_from(environ: Mapping[str, str]) -> tuple[tuple[str, ...], str | None]:
    """The usable keys, and what is wrong when there is none."""
    keys, state = key_state(environ)
    if state == KEY_OFF:
        return (), f"{names.SETTING_SCHEDULED_EVENTS_KEY} is not set"
    return keys, None if state == KEY_OK else state


class ScheduledEventsIntake:
    def __init__(
        self,
        courier: Courier | None,
        records: RecordStore | None,
        keys: tuple[str, ...],
        *,
        clock: Clock = utc_now,
        problem: str | None = None,
    ) -> None:
        self._courier = courier
        self._records = records
        self._keys = keys
        self._clock = clock
        self._problem = problem

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> ScheduledEventsIntake:
        keys, problem = keys_from(environ)
        if problem is not None:
            # The forwarders' route is refused; Event Grid's events need no key and still go.
            log.error("Scheduled Events from forwarders are refused: %s", problem)
        try:
            storage = StorageServices.from_settings(environ)
        except StorageError as error:
            return cls(None, None, keys, problem=str(error))
        records = TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS))
        return cls(storage.courier, records, keys, problem=problem)

    def handle(self, body: bytes, headers: Mapping[str, str]) -> IntakeResponse:
        if self._problem is not None or self._courier is None or self._records is None:
            return _error(503, "misconfigured", "Scheduled Events are not taken in; retry later")
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "payload_too_large", f"body exceeds {MAX_BODY_BYTES} bytes")
        now = self._clock()
        try:
            check_signature(self._keys, headers, body, now)
        except PostNotSignedError as error:
            count(METRIC_EVENTS, outcome="refused", kind="scheduled_event")
            return _error(error.status, "unauthenticated", str(error))
        try:
            post = parse_post(body)
        except InvalidPostError as error:
            count(METRIC_EVENTS, outcome="invalid", kind="scheduled_event")
            return _error(400, "invalid", error.message, field=error.pointer)
        try:
            self._queue(post, now)
        except StorageError as error:
            log.warning("scheduled event %s not queued: %s", post.notice_id, error)
            return _error(503, "storage_unavailable", "storage failed; retry")
        return IntakeResponse(202, {"notice_id": post.notice_id})

    def take_event_grid(self, event: Mapping[str, Any]) -> list[str]:
        """An Event Grid ``ScheduledEventEmitted`` event (no key: the platform authenticates
        Event Grid to its trigger): its notices queued, one per VM; their ids. Raises
        ``InvalidPostError`` for an event it cannot read (retrying cannot help) and
        ``StorageError`` when storage fails (the trigger raises, Event Grid retries)."""
        if self._courier is None or self._records is None:
            raise StorageError(self._problem or "storage is not configured")
        try:
            posts = posts_of_event(event)
        except InvalidPostError:
            count(METRIC_EVENTS, outcome="invalid", kind="scheduled_event")
            raise
        now = self._clock()
        for post in posts:
            self._queue(post, now)
        return [post.notice_id for post in posts]

    def _queue(self, post: ScheduledEventPost, now: datetime) -> None:
        assert self._courier is not None
        assert self._records is not None
        notice = notice_of(post, self._records, now)
        self._courier.send(
            names.QUEUE_ENRICHED,
            Envelope(ENVELOPE_KIND_ENRICHED, post.notice_id, notice.to_json(), None),
        )
        count(METRIC_EVENTS, outcome="accepted", kind="scheduled_event")
        log.info(
            "scheduled event %s (%s %s) of %s queued%s",
            post.event_id,
            post.event_type,
            post.state,
            post.vm_name,
            f" in wave {notice.event.tracking_id}" if notice.event.tracking_id else "",
        )
