"""The delivery chain with a controlled clock, in-memory storage and a scripted sender.

GIVEN a job and what the channel will answer, WHEN the stage handles the queue message,
THEN it sends at most once per target, holds for quiet hours, backs off, dead-letters, logs.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import requests

from shared import names
from shared.channels.base import ChannelLimits, ChannelSender
from shared.delivery.deadletters import list_dead_letters, replay
from shared.delivery.records import IdempotencyLedger, table_key
from shared.delivery.requeue import MAX_DELAY_SECONDS, RetryPolicy
from shared.delivery.results import DeliveryResult
from shared.delivery.stage import DEFAULT_LEASE, DeliveryStage, MalformedDeliveryError
from shared.models import DeliveryJob, Receiver, RenderedMessage
from shared.storage import (
    EntityTable,
    Envelope,
    InMemoryEntityTable,
    InMemoryPayloadStore,
    InMemoryQueuePublisher,
    StorageServices,
    StorageUnavailableError,
    VersionedEntity,
)
from shared.timeutil import format_utc

START = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
QUEUE = names.QUEUE_DELIVER_SMS


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class ScriptedSender(ChannelSender):
    """Answers from a list; each answer says which of the targets it was given it reached."""

    channel = "sms"
    limits: ClassVar[ChannelLimits] = ChannelLimits()

    def __init__(self, *answers: str) -> None:
        self.answers = deque(answers)
        self.calls: list[list[str]] = []

    def send(self, job: DeliveryJob) -> DeliveryResult:
        targets = list(job.receiver.targets)
        self.calls.append(targets)
        answer = self.answers.popleft() if self.answers else "ok"
        if answer == "ok":
            return DeliveryResult.ok(201, reference="SM1", targets=tuple(targets))
        if answer == "first-only":
            return replace(
                DeliveryResult.retry(503, "HTTP 503"), delivered_targets=tuple(targets[:1])
            )
        if answer == "retry-after-120":
            return DeliveryResult.retry(429, "HTTP 429", retry_after=120)
        if answer == "retry":
            return DeliveryResult.retry(503, "HTTP 503")
        if answer == "raise-bad-url":
            # What requests raises inside the twilio library for an api_base without a scheme.
            raise requests.exceptions.InvalidSchema(
                "No connection adapters were found for 'localhost:8080/2010-04-01/Accounts'"
            )
        if answer == "raise-bug":
            raise RuntimeError(f"unexpected reply for {targets[0]}")
        if answer == "echo-target":
            return DeliveryResult.permanent(400, f"number {targets[0]} refused")
        return DeliveryResult.permanent(400, "HTTP 400: code 21211")


def make_job(not_before: str | None = None) -> DeliveryJob:
    receiver = Receiver("oncall-sms", "sms", ["+15551230001", "+15551230002"])
    return DeliveryJob(
        job_id="evt-1:oncall-sms",
        event_id="evt-1",
        receiver=receiver,
        message=RenderedMessage("sms", "", "Maintenance on 2 VMs from 02:00 UTC"),
        created_at=format_utc(START),
        not_before=not_before,
    )


def message_for(job: DeliveryJob, **delivery: int) -> str:
    storage = StorageServices.in_memory()
    body = job.to_json() | ({"delivery": delivery} if delivery else {})
    storage.courier.send(QUEUE, Envelope("delivery", job.job_id, body))
    queues = storage.queues
    assert isinstance(queues, InMemoryQueuePublisher)
    return queues.messages[QUEUE].popleft()


class Rig:
    def __init__(
        self,
        *answers: str,
        policy: RetryPolicy | None = None,
        storage: StorageServices | None = None,
    ) -> None:
        self.clock = Clock()
        self.storage = storage or StorageServices.in_memory()
        self.sender = ScriptedSender(*answers)
        self.stage = DeliveryStage(
            self.storage, {"sms": self.sender}, environ={}, clock=self.clock, policy=policy
        )

    @property
    def queue(self) -> InMemoryQueuePublisher:
        queues = self.storage.queues
        assert isinstance(queues, InMemoryQueuePublisher)
        return queues

    def next_message(self) -> tuple[str, int]:
        return self.queue.messages[QUEUE].popleft(), self.queue.delays[QUEUE].pop(0)

    def log_rows(self) -> list[dict[str, object]]:
        return list(self.storage.table(names.TABLE_DELIVERY_LOG).query())

    def ledger_state(self) -> object:
        row = self.storage.table(names.TABLE_IDEMPOTENCY).get("evt-1", "oncall-sms")
        return row["state"] if row else None


def test_a_delivered_job_is_logged_recorded_and_its_reference_kept() -> None:
    rig = Rig("ok")
    outcome = rig.stage.handle(message_for(make_job()))
    assert outcome.action == "delivered"
    [row] = rig.log_rows()
    assert (row["outcome"], row["status"], row["attempt"]) == ("delivered", 201, 1)
    assert "+15551230001" not in json.dumps(row)
    ref = rig.storage.table(names.TABLE_MESSAGE_REFS).get("evt-1", "oncall-sms")
    assert ref is not None and ref["reference"] == "SM1"


def test_the_same_job_twice_sends_once() -> None:
    rig = Rig("ok", "ok")
    text = message_for(make_job())
    first, second = rig.stage.handle(text), rig.stage.handle(text, dequeue_count=2)
    assert (first.action, second.action) == ("delivered", "duplicate")
    assert len(rig.sender.calls) == 1


@pytest.mark.parametrize(
    ("hold", "delay"),
    [(timedelta(hours=2), 7200), (timedelta(days=10), MAX_DELAY_SECONDS)],
    ids=["two-hours", "beyond-queue-visibility-cap"],
)
def test_quiet_hours_hold_the_job_without_sending(hold: timedelta, delay: int) -> None:
    rig = Rig("ok")
    outcome = rig.stage.handle(message_for(make_job(not_before=format_utc(START + hold))))
    assert (outcome.action, outcome.delay_seconds) == ("deferred", delay)
    assert rig.sender.calls == []
    _, queued_delay = rig.next_message()
    assert queued_delay == delay


def test_a_transient_failure_is_requeued_with_backoff_honouring_retry_after() -> None:
    rig = Rig("retry-after-120", "ok")
    outcome = rig.stage.handle(message_for(make_job()))
    assert (outcome.action, outcome.delay_seconds) == ("retry_scheduled", 120)
    text, delay = rig.next_message()
    assert delay == 120 and json.loads(text)["body"]["delivery"]["attempt"] == 2
    assert rig.stage.handle(text).action == "delivered"


def test_a_retry_sends_only_to_the_targets_not_reached() -> None:
    rig = Rig("first-only", "ok")
    rig.stage.handle(message_for(make_job()))
    text, _ = rig.next_message()
    rig.stage.handle(text)
    assert rig.sender.calls == [["+15551230001", "+15551230002"], ["+15551230002"]]


def test_a_permanent_failure_goes_to_dead_letter_and_replay_sends_it_again() -> None:
    rig = Rig("permanent", "ok")
    outcome = rig.stage.handle(message_for(make_job()))
    assert outcome.action == "dead_lettered"
    [letter] = list_dead_letters(rig.storage)
    assert "21211" in letter.reason and letter.attempts == 1
    assert rig.stage.handle(message_for(make_job())).action == "duplicate"  # stays dead

    [result] = replay(rig.storage, clock=rig.clock)
    assert result.replayed
    text, _ = rig.next_message()
    assert rig.stage.handle(text).action == "delivered"
    assert replay(rig.storage) == []  # nothing left that was not replayed


def test_a_job_that_exhausts_its_retries_ends_in_dead_letter() -> None:
    policy = RetryPolicy(max_attempts=3)
    rig = Rig("retry", "retry", "retry", policy=policy)
    text = message_for(make_job())
    actions = []
    for _ in range(3):
        actions.append(rig.stage.handle(text).action)
        if rig.queue.messages[QUEUE]:
            text, _ = rig.next_message()
    assert actions == ["retry_scheduled", "retry_scheduled", "dead_lettered"]
    [letter] = list_dead_letters(rig.storage)
    assert letter.reason.startswith("gave up after 3 attempts")


@pytest.mark.parametrize(
    ("claimed_ago", "lapse_seen_ago", "action"),
    [
        # GIVEN a claim renewed this long ago, its lapse first seen this long ago  THEN
        (timedelta(seconds=30), None, "busy"),
        (timedelta(seconds=61), None, "busy"),  # lapsed, seen once: the holder may be alive
        (timedelta(seconds=91), timedelta(seconds=10), "busy"),  # seen, not half a lease ago
        (timedelta(seconds=91), timedelta(seconds=31), "delivered"),  # seen twice: taken over
    ],
    ids=["fresh-claim-waits", "first-lapse-sighting-waits", "too-soon", "lapsed-claim-taken-over"],
)
def test_a_claim_left_by_a_crashed_worker_is_taken_over_once_its_lapse_is_seen_twice(
    claimed_ago: timedelta, lapse_seen_ago: timedelta | None, action: str
) -> None:
    rig = Rig("ok")
    row = {"state": "sending", "claimed_at": format_utc(START - claimed_ago), "reached": "[]"}
    if lapse_seen_ago is not None:
        row["lapse_seen_at"] = format_utc(START - lapse_seen_ago)
    rig.storage.table(names.TABLE_IDEMPOTENCY).upsert("evt-1", "oncall-sms", row)
    assert rig.stage.handle(message_for(make_job())).action == action


def test_a_live_holder_that_renews_after_an_outage_keeps_its_claim() -> None:
    # GIVEN worker A's claim, unrenewed for longer than the lease (storage was away)
    table = InMemoryEntityTable()
    holder = IdempotencyLedger(table, lease=DEFAULT_LEASE)
    claim = holder.claim(make_job(), START)
    later = START + DEFAULT_LEASE + timedelta(seconds=5)
    rival = IdempotencyLedger(table, lease=DEFAULT_LEASE)
    # WHEN B sees the lapse (storage is back), then A renews, then B looks again
    first = rival.claim(make_job(), later)
    assert holder.renew(make_job(), claim.token, later + timedelta(seconds=10))
    second = rival.claim(make_job(), later + timedelta(seconds=31))
    # THEN B waits both times and A still holds the claim: nothing is sent twice
    assert (first.verdict, second.verdict) == ("busy", "busy")
    row = table.get("evt-1", "oncall-sms")
    assert row is not None and row["claim_id"] == claim.token and "lapse_seen_at" not in row


@pytest.mark.parametrize(
    "text",
    ['{"v":1,"kind":"event","id":"x","body":{}}', "not json", '{"v":1,"kind":"delivery"}'],
    ids=["wrong-kind", "not-json", "no-body"],
)
def test_a_message_that_is_not_a_delivery_job_is_refused(text: str) -> None:
    with pytest.raises(MalformedDeliveryError):
        Rig().stage.handle(text)


@pytest.mark.parametrize(
    ("raw", "key"),
    [("evt/1#2?x", "evt%2F1%232%3Fx"), ("plain-id", "plain-id"), ("a%b", "a%25b")],
    ids=["forbidden-characters", "plain", "percent"],
)
def test_table_keys_escape_what_azure_tables_forbid(raw: str, key: str) -> None:
    assert table_key(raw) == key


# --------------------------------------------------------------------------------------
# A sender that raises, a log that cannot be written, a lost race, a claim never released


@pytest.mark.parametrize(
    ("answer", "action", "state", "reason_part"),
    [
        ("raise-bad-url", "dead_lettered", "dead", "malformed URL or header (InvalidSchema)"),
        ("raise-bug", "retry_scheduled", "pending", "failed unexpectedly (RuntimeError)"),
    ],
    ids=["configuration-error-is-permanent", "anything-else-is-a-retry"],
)
def test_a_sender_that_raises_gives_a_result_and_releases_the_claim(
    answer: str, action: str, state: str, reason_part: str
) -> None:
    # GIVEN a sender that raises instead of answering, then would deliver
    rig = Rig(answer, "ok")
    # WHEN the stage handles the job
    outcome = rig.stage.handle(message_for(make_job()))
    # THEN the exception became a result, the claim is released, and the reason is the kind only
    assert (outcome.action, rig.ledger_state()) == (action, state)
    assert outcome.result is not None and reason_part in outcome.result.reason
    [row] = rig.log_rows()
    assert "+15551230001" not in json.dumps(row) and "localhost:8080" not in json.dumps(row)
    if action == "retry_scheduled":
        # AND the retry is a new attempt that sends (not "busy")
        text, _ = rig.next_message()
        assert json.loads(text)["body"]["delivery"]["attempt"] == 2
        assert rig.stage.handle(text).action == "delivered"
        assert len(rig.sender.calls) == 2


def test_a_sender_that_always_raises_ends_in_dead_letter_after_its_retries() -> None:
    rig = Rig("raise-bug", "raise-bug", "raise-bug", policy=RetryPolicy(max_attempts=3))
    text = message_for(make_job())
    actions = []
    for _ in range(6):  # bounded: a loop would show as more than three actions
        actions.append(rig.stage.handle(text).action)
        if not rig.queue.messages[QUEUE]:
            break
        text, _ = rig.next_message()
    assert actions == ["retry_scheduled", "retry_scheduled", "dead_lettered"]
    [letter] = list_dead_letters(rig.storage)
    assert letter.reason.startswith("gave up after 3 attempts") and "RuntimeError" in letter.reason


def test_a_claim_that_stays_held_is_dead_lettered_after_max_busy_requeues() -> None:
    # GIVEN another worker that keeps (re)taking the claim and dying before it records a result
    rig = Rig("ok", policy=RetryPolicy(max_busy=3))
    ledger = rig.storage.table(names.TABLE_IDEMPOTENCY)
    text = message_for(make_job())
    actions = []
    # WHEN the busy re-queue comes back each time the claim is held again
    for _ in range(10):  # bounded: an endless re-queue would fill all ten
        ledger.upsert(
            "evt-1",
            "oncall-sms",
            {"state": "sending", "claimed_at": format_utc(rig.clock.now), "reached": "[]"},
        )
        outcome = rig.stage.handle(text)
        actions.append(outcome.action)
        if outcome.action != "busy":
            break
        text, delay = rig.next_message()
        rig.clock.now += timedelta(seconds=delay)
    # THEN it waits three times, then stops and leaves a dead letter for a human
    assert actions == ["busy", "busy", "busy", "dead_lettered"]
    assert rig.sender.calls == []
    [letter] = list_dead_letters(rig.storage)
    assert "claim held 4 times in a row" in letter.reason


class FlakyTable(InMemoryEntityTable):
    """An in-memory table whose first ``failures`` writes fail as storage would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def upsert(self, partition: str, row: str, entity: Mapping[str, Any]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StorageUnavailableError("table could not be written")
        super().upsert(partition, row, entity)


def test_a_log_write_that_fails_after_a_send_does_not_send_again() -> None:
    # GIVEN a delivery log that cannot be written once
    log_table = FlakyTable(failures=1)
    tables: dict[str, EntityTable] = {names.TABLE_DELIVERY_LOG: log_table}
    storage = StorageServices(
        InMemoryQueuePublisher(),
        InMemoryPayloadStore(),
        lambda name: tables.get(name) or InMemoryEntityTable(),
    )
    rig = Rig("ok", "ok", storage=storage)
    text = message_for(make_job())
    # WHEN the send succeeds but the log write raises, and the host retries after the lease
    with pytest.raises(StorageUnavailableError):
        rig.stage.handle(text)
    rig.clock.now += DEFAULT_LEASE + timedelta(minutes=1)
    second = rig.stage.handle(text, dequeue_count=2)
    # THEN the ledger already said delivered: the retry is a duplicate, sent once in all
    assert second.action == "duplicate"
    assert len(rig.sender.calls) == 1


class RacingTable(InMemoryEntityTable):
    """Lets ``rival`` run once, right after this worker has read the row."""

    def __init__(self) -> None:
        super().__init__()
        self.rival: Callable[[], object] | None = None

    def _race(self) -> None:
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()

    def get(self, partition: str, row: str) -> dict[str, Any] | None:
        found = super().get(partition, row)
        self._race()
        return found

    def get_versioned(self, partition: str, row: str) -> VersionedEntity | None:
        found = super().get_versioned(partition, row)
        self._race()
        return found


@pytest.mark.parametrize(
    "row",
    [
        {"state": "pending", "reached": "[]"},
        {
            "state": "sending",
            "claimed_at": format_utc(START - timedelta(hours=1)),
            "lapse_seen_at": format_utc(START - timedelta(minutes=30)),
            "reached": "[]",
        },
    ],
    ids=["both-see-pending", "both-see-a-lapsed-claim"],
)
def test_of_two_workers_racing_for_a_claim_only_one_sends(row: dict[str, str]) -> None:
    # GIVEN a ledger row that two workers may both take, and worker B reading it first
    table = RacingTable()
    table.upsert("evt-1", "oncall-sms", row)
    worker_a = IdempotencyLedger(table, lease=DEFAULT_LEASE)
    worker_b = IdempotencyLedger(table, lease=DEFAULT_LEASE)
    verdicts: dict[str, str] = {}
    table.rival = lambda: verdicts.setdefault("a", worker_a.claim(make_job(), START).verdict)
    # WHEN worker A claims between B's read and B's write
    verdicts["b"] = worker_b.claim(make_job(), START).verdict
    # THEN A sends and B, having lost, waits
    assert verdicts == {"a": "send", "b": "busy"}
    stored = table.get("evt-1", "oncall-sms")
    assert stored is not None and stored["state"] == "sending"


def test_an_in_memory_conditional_update_needs_the_etag_it_read() -> None:
    table = InMemoryEntityTable()
    table.upsert("p", "r", {"v": 1})
    first = table.get_versioned("p", "r")
    assert first is not None and first.entity["v"] == 1
    assert table.update_if_unchanged("p", "r", {"v": 2}, first.etag)
    assert not table.update_if_unchanged("p", "r", {"v": 3}, first.etag)  # stale
    table.delete("p", "r")
    assert not table.update_if_unchanged("p", "r", {"v": 4}, first.etag)  # gone
    table.upsert("p", "r", {"v": 5})
    assert not table.update_if_unchanged("p", "r", {"v": 6}, first.etag)  # recreated
    assert table.get("p", "r") == {"v": 5, "PartitionKey": "p", "RowKey": "r"}


# --------------------------------------------------------------------------------------
# Dead letters keep targets out of tables and logs


def test_a_dead_letter_keeps_targets_out_of_tables_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a service whose refusal echoes the phone number
    rig = Rig("echo-target", "ok")
    caplog.set_level(logging.INFO)
    # WHEN the job is dead-lettered
    assert rig.stage.handle(message_for(make_job())).action == "dead_lettered"
    # THEN no table row and no log line holds a number in clear
    tables = [
        names.TABLE_DEAD_LETTER,
        names.TABLE_DELIVERY_LOG,
        names.TABLE_IDEMPOTENCY,
        names.TABLE_MESSAGE_REFS,
    ]
    rows = [row for name in tables for row in rig.storage.table(name).query()]
    written = [json.dumps(row, default=str) for row in rows]
    written += [record.getMessage() for record in caplog.records]
    assert any("dead-lettered" in line for line in written)
    for text in written:
        assert "+15551230001" not in text and "+15551230002" not in text, text
    # AND the letter still holds the whole job, so a replay reaches both numbers
    [letter] = list_dead_letters(rig.storage)
    assert letter.job.receiver.targets == ["+15551230001", "+15551230002"]
    replay(rig.storage, clock=rig.clock)
    text, _ = rig.next_message()
    assert rig.stage.handle(text).action == "delivered"
    assert rig.sender.calls[-1] == ["+15551230001", "+15551230002"]
