"""The delivery chain with a controlled clock, in-memory storage and a scripted sender.

GIVEN a job and what the channel will answer, WHEN the stage handles the queue message,
THEN it sends at most once per target, holds for quiet hours, backs off, dead-letters, logs.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from shared import names
from shared.channels.base import ChannelLimits, ChannelSender, DeliveryResult
from shared.delivery import (
    DeliveryStage,
    MalformedDeliveryError,
    RetryPolicy,
    list_dead_letters,
    replay,
)
from shared.delivery.records import table_key
from shared.delivery.stage import MAX_DELAY_SECONDS
from shared.models import DeliveryJob, Receiver, RenderedMessage
from shared.storage import Envelope, InMemoryQueuePublisher, StorageServices
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
    def __init__(self, *answers: str, policy: RetryPolicy | None = None) -> None:
        self.clock = Clock()
        self.storage = StorageServices.in_memory()
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
    ("claimed_ago", "action"),
    [(timedelta(minutes=1), "busy"), (timedelta(minutes=11), "delivered")],
    ids=["fresh-claim-waits", "lapsed-claim-is-taken-over"],
)
def test_a_claim_left_by_a_crashed_worker_lapses_after_the_lease(
    claimed_ago: timedelta, action: str
) -> None:
    rig = Rig("ok")
    rig.storage.table(names.TABLE_IDEMPOTENCY).upsert(
        "evt-1",
        "oncall-sms",
        {"state": "sending", "claimed_at": format_utc(START - claimed_ago), "reached": "[]"},
    )
    assert rig.stage.handle(message_for(make_job())).action == action


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
