"""Each event id is taken in once: re-posts go no further than the first stage's one read.

GIVEN the real Service Health sample posted to ingest (in-process, in-memory storage), then the
      queued copies handed to the enrich stage's check in the order they were queued
WHEN  the same alert comes again (an Action Group retry, a second rule), the same notice comes
      from a second subscription, or the catch-up finds it too
THEN  every post is a 202 with one queue write, and exactly one copy per event goes on
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import names
from shared.accepted import AcceptedEvents, Stamp
from shared.enrich.services import EnrichmentServices
from shared.enrich.stage import EnrichStage
from shared.ingest import AlertIngestor, IngestRequest, IngestResponse
from shared.loganalytics.activity import event_from_row
from shared.loganalytics.catchup import CatchUp
from shared.loganalytics.client import InMemoryLogsReader, QueryResult
from shared.standins.activity_rows import service_health_row
from shared.storage import InMemoryQueuePublisher, StorageServices
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


class World:
    def __init__(self) -> None:
        self.storage = StorageServices.in_memory()
        self.book = AcceptedEvents(self.storage.table(names.TABLE_ACCEPTED))
        self.ingestor = AlertIngestor(self.storage.courier, clock=lambda: NOW)

    def post(self, alert: dict[str, Any]) -> IngestResponse:
        return self.ingestor.handle(IngestRequest(json.dumps(alert).encode(), JSON))

    def queued(self) -> list[str]:
        assert isinstance(self.storage.queues, InMemoryQueuePublisher)
        return list(self.storage.queues.drain(names.QUEUE_EVENTS))

    def admitted(self, texts: list[str]) -> list[str]:
        """The enrich stage's check on each queued copy: the event ids that go on."""
        kept = []
        for text in texts:
            envelope = self.storage.courier.open(text)
            if self.book.admit(envelope.id, Stamp.of(envelope.body), NOW).admitted:
                kept.append(envelope.id)
        return kept

    def catch_up(self, row: dict[str, Any]) -> CatchUp:
        return CatchUp(
            InMemoryLogsReader(lambda *_: QueryResult([row])),
            self.storage.courier,
            self.storage.table(names.TABLE_CATCHUP),
            self.storage.table(names.TABLE_IDEMPOTENCY),
            clock=lambda: NOW,
            accepted=self.storage.table(names.TABLE_ACCEPTED),
        )


def test_the_same_alert_posted_five_times_is_enriched_once() -> None:
    # GIVEN the sample posted five times, then the same notice from a second subscription
    world = World()
    answers = [world.post(SAMPLE) for _ in range(5)]
    other = world.post(from_second_subscription(SAMPLE))
    # THEN every post is a 202 naming its event; the second subscription's is its own event
    assert [a.status for a in answers] == [202] * 5 and other.status == 202
    first = answers[0].body["event_id"]
    assert {a.body["event_id"] for a in answers} == {first} != {other.body["event_id"]}
    # AND of the six queued copies two go on: one per subscription's event
    assert world.admitted(world.queued()) == [first, other.body["event_id"]]


def test_a_duplicate_is_logged_as_nothing_sent_by_the_enrich_stage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    for _ in range(2):
        world.post(SAMPLE)
    event_id = world.post(SAMPLE).body["event_id"]
    stage = EnrichStage(world.storage, EnrichmentServices.create({}), clock=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="forewarn.shared.enrich.stage"):
        texts = world.queued()
        stage.accepted.admit(event_id, Stamp.of(world.storage.courier.open(texts[0]).body), NOW)
        assert [stage.handle(text, dequeue_count=1) for text in texts[1:]] == [None, None]
    assert (
        caplog.text.count(
            f"duplicate of event {event_id} (first came by webhook at 2026-12-04T12:00:00Z), "
            "nothing sent"
        )
        == 2
    )


def test_the_hosts_retry_of_the_admitted_copy_goes_on() -> None:
    world = World()
    world.post(SAMPLE)
    [text] = world.queued()
    assert world.admitted([text, text]) == [world.storage.courier.open(text).id] * 2


def test_a_message_without_a_token_is_admitted_as_before() -> None:
    world = World()
    assert world.book.admit("e1", None, NOW).admitted
    assert world.book.admit("e1", None, NOW).admitted
    assert not world.book.was_accepted("e1")


def test_catch_up_counts_an_accepted_but_unsent_notice_as_received() -> None:
    # GIVEN a notice taken in and read by the enrich stage whose messages are still held
    # (quiet hours, the group wait): no delivery ledger row yet (issue 16, finding 5)
    world = World()
    row = service_health_row(SAMPLE, time_generated=NOW)
    answer = world.post(SAMPLE)
    assert event_from_row(row, NOW).event_id == answer.body["event_id"]
    assert len(world.admitted(world.queued())) == 1
    # WHEN a catch-up pass finds it in the Activity Log
    report = world.catch_up(row).run()
    # THEN it was received: nothing is queued again
    assert [(f.verdict, f.queued) for f in report.findings] == [("received", False)]
    assert world.queued() == []


def test_of_a_recovered_notice_and_a_late_webhook_copy_one_goes_on() -> None:
    world = World()
    row = service_health_row(SAMPLE, time_generated=NOW)
    assert [f.verdict for f in world.catch_up(row).run().findings] == ["missing"]
    assert world.post(SAMPLE).status == 202
    copies = world.queued()
    assert len(copies) == 2
    assert len(world.admitted(copies)) == 1
