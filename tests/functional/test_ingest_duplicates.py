"""Each event id is taken in once: re-posts are answered 202 and go no further than one read.

GIVEN the real Service Health sample posted to ingest (in-process, in-memory storage), then the
      queued messages handed to the first stage's duplicate check, in the order the table says
WHEN  the same alert comes again (an Action Group retry, a second rule), or storage stumbles
      between the two writes
THEN  this answer, this many queued copies, and exactly one copy admitted to enrichment
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import names
from shared.accepted import ACCEPTED_ROW, AcceptedEvents, token_of
from shared.ingest import AlertIngestor, IngestRequest, IngestResponse
from shared.loganalytics.activity import event_from_row
from shared.loganalytics.catchup import CatchUp
from shared.loganalytics.client import InMemoryLogsReader, QueryResult
from shared.standins.activity_rows import service_health_row
from shared.storage import (
    InMemoryEntityTable,
    InMemoryQueuePublisher,
    StorageServices,
    StorageUnavailableError,
)
from tests.conftest import FIXTURES

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json"}
SAMPLE = json.loads(
    (FIXTURES / "forewarn" / "common-servicehealth-maintenance-planned.json").read_text()
)
SECOND_SUBSCRIPTION = "22222222-2222-4222-8222-222222222222"


def from_second_subscription(alert: dict[str, Any]) -> dict[str, Any]:
    """The same notice as Azure sends it to a second subscription (its own alert)."""
    other = copy.deepcopy(alert)
    other["data"]["essentials"]["alertTargetIDs"] = [f"/subscriptions/{SECOND_SUBSCRIPTION}"]
    other["data"]["alertContext"]["subscriptionId"] = SECOND_SUBSCRIPTION
    return other


class FlakyTable(InMemoryEntityTable):
    """A real in-memory table whose next ``failures`` inserts answer as a storage outage."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def insert_if_absent(self, partition: str, row: str, entity: Mapping[str, Any]) -> bool:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailableError("table service unreachable")
        return super().insert_if_absent(partition, row, entity)


class World:
    def __init__(self) -> None:
        self.accepted_table = FlakyTable()
        tables = {names.TABLE_ACCEPTED: self.accepted_table}
        self.storage = StorageServices(
            InMemoryQueuePublisher(),
            StorageServices.in_memory().payloads,
            lambda name: tables.get(name) or InMemoryEntityTable(),
        )
        self.book = AcceptedEvents(self.storage.table(names.TABLE_ACCEPTED))
        self.ingestor = AlertIngestor(self.storage.courier, accepted=self.book, clock=lambda: NOW)

    def post(self, alert: dict[str, Any]) -> IngestResponse:
        return self.ingestor.handle(IngestRequest(json.dumps(alert).encode(), JSON))

    def queued(self) -> list[str]:
        assert isinstance(self.storage.queues, InMemoryQueuePublisher)
        return list(self.storage.queues.drain(names.QUEUE_EVENTS))

    def admitted(self, texts: list[str]) -> list[str]:
        """The first stage's check on each queued copy: the event ids that go on."""
        kept = []
        for text in texts:
            envelope = self.storage.courier.open(text)
            if self.book.admit(envelope.id, token_of(envelope.body), NOW):
                kept.append(envelope.id)
        return kept


def test_the_same_alert_posted_five_times_is_enriched_once() -> None:
    # GIVEN the sample posted five times, then the same notice from a second subscription
    world = World()
    answers = [world.post(SAMPLE) for _ in range(5)]
    other = world.post(from_second_subscription(SAMPLE))
    # THEN every post is a 202; the re-posts say so
    assert [(a.status, a.body.get("duplicate", False)) for a in answers] == [
        (202, False),
        *[(202, True)] * 4,
    ]
    assert (other.status, other.body.get("duplicate", False)) == (202, False)
    first = answers[0].body["event_id"]
    assert {a.body["event_id"] for a in answers} == {first} != {other.body["event_id"]}
    # AND of the six queued copies two are admitted: one per subscription's event
    assert world.admitted(world.queued()) == [first, other.body["event_id"]]


def test_a_duplicate_is_logged_as_nothing_sent(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    event_id = world.post(SAMPLE).body["event_id"]
    with caplog.at_level(logging.INFO, logger="forewarn.ingest"):
        world.post(SAMPLE)
    assert f"duplicate of event {event_id} (first accepted 2026-12-04T12:00:00Z), nothing sent" in (
        caplog.text
    )


def test_enrich_reading_the_message_before_ingest_records_it_is_still_one_event() -> None:
    # GIVEN the first stage reads the queued copy before ingest's row insert
    world = World()
    world.accepted_table.failures = 1  # ingest's insert fails: the row is not written
    answer = world.post(SAMPLE)
    # THEN the event was queued, so the answer is 202 (not a 503 that makes Azure re-post)
    assert answer.status == 202 and not answer.body.get("duplicate")
    texts = world.queued()
    # AND the first stage records the copy it read; a later re-post is a duplicate of it
    assert world.admitted(texts) == [answer.body["event_id"]]
    again = world.post(SAMPLE)
    assert again.body.get("duplicate") is True
    assert world.admitted(world.queued()) == []


def test_a_queue_write_that_fails_records_nothing_so_the_retry_is_accepted() -> None:
    world = World()

    def refuse(*_: object, **__: object) -> None:
        raise StorageUnavailableError("queue service unreachable")

    real_send = world.storage.queues.send
    world.storage.queues.send = refuse  # type: ignore[method-assign]
    assert world.post(SAMPLE).status == 503
    world.storage.queues.send = real_send  # type: ignore[method-assign]
    # WHEN the Action Group retries THEN it is the first acceptance, not a duplicate
    retry = world.post(SAMPLE)
    assert (retry.status, retry.body.get("duplicate", False)) == (202, False)
    assert world.admitted(world.queued()) == [retry.body["event_id"]]


def test_a_message_without_a_token_is_admitted_as_before() -> None:
    world = World()
    assert world.book.admit("e1", None, NOW) and world.book.admit("e1", None, NOW)
    assert world.accepted_table.get("e1", ACCEPTED_ROW) is None


def test_catch_up_counts_an_accepted_but_unsent_notice_as_received() -> None:
    # GIVEN a notice accepted at ingest whose messages are still held (quiet hours, the group
    # wait): no delivery ledger row yet (issue 16, finding 5)
    world = World()
    row = service_health_row(SAMPLE, time_generated=NOW)
    answer = world.post(SAMPLE)
    assert event_from_row(row, NOW).event_id == answer.body["event_id"]
    assert len(world.queued()) == 1
    catch_up = CatchUp(
        InMemoryLogsReader(lambda *_: QueryResult([row])),
        world.storage.courier,
        world.storage.table(names.TABLE_CATCHUP),
        world.storage.table(names.TABLE_IDEMPOTENCY),
        clock=lambda: NOW,
        accepted=world.storage.table(names.TABLE_ACCEPTED),
    )
    # WHEN a catch-up pass finds it in the Activity Log
    report = catch_up.run()
    # THEN it was received: nothing is queued again
    assert [(f.verdict, f.queued) for f in report.findings] == [("received", False)]
    assert world.queued() == []


def test_a_notice_catch_up_recovered_makes_a_late_webhook_copy_a_duplicate() -> None:
    world = World()
    row = service_health_row(SAMPLE, time_generated=NOW)
    catch_up = CatchUp(
        InMemoryLogsReader(lambda *_: QueryResult([row])),
        world.storage.courier,
        world.storage.table(names.TABLE_CATCHUP),
        world.storage.table(names.TABLE_IDEMPOTENCY),
        clock=lambda: NOW,
        accepted=world.storage.table(names.TABLE_ACCEPTED),
    )
    assert [f.verdict for f in catch_up.run().findings] == ["missing"]
    late = world.post(SAMPLE)
    assert late.body.get("duplicate") is True
    assert len(world.admitted(world.queued())) == 1
