"""The delivery stage on Azurite with the five stand-in receivers.

Messages are read from Azurite's real queues and handed to the app's own ``deliver_*`` functions
(``get_user_function()``) as ``azure.functions`` ``QueueMessage``s, the way the host does; a
message whose function raises stays on the queue. Where a test needs retries faster than the
production backoff (30 s first), it drives the same stage built with a shorter policy.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient

import function_app
from functions import deliver
from shared import names
from shared.channels import default_senders
from shared.cli import main as forewarn
from shared.delivery.deadletters import list_dead_letters
from shared.delivery.records import IdempotencyLedger, table_key
from shared.delivery.requeue import RetryPolicy
from shared.delivery.stage import DEFAULT_LEASE, DeliveryStage
from shared.devhost.catalog import user_function
from shared.models import ChannelName, DeliveryJob, Receiver, RenderedMessage
from shared.standins.sinks import LocalSinks
from shared.standins.stand_in import Failure, closed_port
from shared.storage import (
    AzureEntityTable,
    Envelope,
    StorageEndpoints,
    StorageServices,
    VersionedEntity,
    decode_queue_body,
)
from shared.timeutil import utc_now
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

CHANNELS: tuple[ChannelName, ...] = ("email", "sms", "slack", "teams", "webhook")
FAST = RetryPolicy(max_attempts=4, base_seconds=1, factor=1, cap_seconds=1)
Handler = Callable[[QueueMessage], None]


# --------------------------------------------------------------------------------------
# Fixtures: Azurite + stand-ins in the environment the functions read


@pytest.fixture(scope="module")
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=2.0) as running:
        yield running


@pytest.fixture
def env(
    azurite: Azurite, sinks: LocalSinks, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    sinks.reset()
    settings = {names.STORAGE_CONNECTION: azurite.connection_string, **sinks.environ}
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    deliver._stage.cache_clear()  # the functions build their stage from these settings
    pump = QueuePump(azurite.connection_string, {})
    pump.clear()
    yield settings
    deliver._stage.cache_clear()


def storage(settings: dict[str, str]) -> StorageServices:
    return StorageServices.from_settings(settings)


def app_handlers() -> dict[str, Handler]:
    return {
        names.DELIVERY_QUEUES[channel]: user_function(function_app.app, f"deliver_{channel}")
        for channel in CHANNELS
    }


def fast_handlers(settings: dict[str, str]) -> dict[str, Handler]:
    stage = DeliveryStage(
        storage(settings), default_senders(settings), environ=settings, policy=FAST
    )

    def handle(msg: QueueMessage) -> None:
        stage.handle(decode_queue_body(msg.get_body()), dequeue_count=msg.dequeue_count or 1)

    return {names.DELIVERY_QUEUES[channel]: handle for channel in CHANNELS}


class QueuePump:
    """What the host does with a queue trigger: receive, call, delete, or leave on error."""

    def __init__(self, connection_string: str, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.clients = {
            queue: QueueClient.from_connection_string(connection_string, queue)
            for queue in names.DELIVERY_QUEUES.values()
        }
        self.errors: list[BaseException] = []

    def clear(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
            client.clear_messages()

    def run_once(self) -> int:
        handled = 0
        for queue, handler in self.handlers.items():
            for message in self.clients[queue].receive_messages(
                messages_per_page=16, visibility_timeout=30
            ):
                body = base64.b64decode(message.content).decode("utf-8")
                queue_message = QueueMessage(
                    id=message.id, body=body.encode("utf-8"), dequeue_count=message.dequeue_count
                )
                handled += 1
                try:
                    handler(queue_message)
                except Exception as error:  # the host would retry it after the visibility timeout
                    self.errors.append(error)
                    continue
                self.clients[queue].delete_message(message.id, message.pop_receipt)
        return handled

    def run_until(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run_once() == 0:
                if done():
                    return True
                time.sleep(0.2)
        return done()


# --------------------------------------------------------------------------------------
# Jobs as the routing stage sends them


def job_for(receiver: Receiver, event_id: str) -> DeliveryJob:
    channel = receiver.type
    payload: dict[str, Any] | None = None
    if channel == "teams":
        payload = {"type": "AdaptiveCard", "version": "1.5", "body": []}
    elif channel == "webhook":
        payload = {"version": 1, "event_id": event_id}
    elif channel == "slack":
        payload = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}
    return DeliveryJob(
        job_id=f"{event_id}:{receiver.name}",
        event_id=event_id,
        receiver=receiver,
        message=RenderedMessage(
            channel, "Planned maintenance: 2 VMs", "Window 02:00–04:00 UTC", payload=payload
        ),
        created_at="2025-03-01T10:00:00Z",
    )


def enqueue(settings: dict[str, str], job: DeliveryJob) -> None:
    storage(settings).courier.send(
        names.DELIVERY_QUEUES[job.receiver.type],
        Envelope(kind="delivery", id=job.job_id, body=job.to_json()),
    )


def log_rows(settings: dict[str, str], event_id: str) -> list[dict[str, Any]]:
    table = storage(settings).table(names.TABLE_DELIVERY_LOG)
    return sorted(table.query(table_key(event_id)), key=lambda row: str(row["RowKey"]))


def new_event() -> str:
    return f"evt-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------
# The tests


def test_a_receiver_down_for_a_while_gets_its_message_once_it_is_back(
    env: dict[str, str], sinks: LocalSinks, azurite: Azurite
) -> None:
    # GIVEN a webhook receiver that is rate limited once, then down twice, then back
    sinks.webhook.script.fail(1, 429, retry_after="2").fail(2, 503)
    event = new_event()
    enqueue(env, job_for(sinks.receiver("webhook"), event))
    # WHEN the stage runs until the receiver has it
    pump = QueuePump(azurite.connection_string, fast_handlers(env))
    started = time.monotonic()
    assert pump.run_until(lambda: sinks.count("webhook") == 1, timeout=30)
    # THEN it arrived exactly once, after the Retry-After, and every attempt is logged
    assert time.monotonic() - started >= 2
    assert [row["outcome"] for row in log_rows(env, event)] == [
        "retry",
        "retry",
        "retry",
        "delivered",
    ]
    assert [row.get("status") for row in log_rows(env, event)] == [429, 503, 503, 200]
    assert pump.errors == []


@pytest.mark.parametrize(
    ("failure", "handlers_kind", "reason_part"),
    [
        (Failure(status=403), "app", "HTTP 403"),
        (Failure(status=503), "fast", "gave up after 4 attempts"),
    ],
    ids=["permanent-403", "retries-exhausted-503"],
)
def test_a_receiver_that_always_fails_is_dead_lettered_and_replay_delivers_it(
    env: dict[str, str],
    sinks: LocalSinks,
    azurite: Azurite,
    capsys: pytest.CaptureFixture[str],
    failure: Failure,
    handlers_kind: str,
    reason_part: str,
) -> None:
    # GIVEN a Teams workflow that refuses everything
    sinks.teams.script.always(failure)
    event = new_event()
    enqueue(env, job_for(sinks.receiver("teams"), event))
    handlers = app_handlers() if handlers_kind == "app" else fast_handlers(env)
    pump = QueuePump(azurite.connection_string, handlers)

    # WHEN the stage has given up
    def dead_letter_ids() -> list[str]:
        capsys.readouterr()
        assert forewarn(["deadletter", "list", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        return [item["id"] for item in listed if item["event_id"] == event]

    assert pump.run_until(lambda: bool(dead_letter_ids()), timeout=30)
    [letter_id] = dead_letter_ids()
    assert sinks.count("teams") == 0
    capsys.readouterr()
    forewarn(["deadletter", "list"])
    assert reason_part in capsys.readouterr().out

    # AND the receiver is fixed and an operator replays the dead letter
    sinks.teams.script.clear()
    assert forewarn(["deadletter", "replay", letter_id]) == 0

    # THEN it is delivered once
    assert pump.run_until(lambda: sinks.count("teams") == 1, timeout=30)
    pump.run_once()
    assert sinks.count("teams") == 1
    capsys.readouterr()
    forewarn(["deadletter", "list", "--json"])
    [item] = [i for i in json.loads(capsys.readouterr().out) if i["id"] == letter_id]
    assert item["replayed_at"] is not None


def test_the_same_job_twice_sends_once_on_every_channel(
    env: dict[str, str], sinks: LocalSinks, azurite: Azurite
) -> None:
    # GIVEN the same (event, receiver) job enqueued twice on each channel (a second alert)
    event = new_event()
    jobs = [job_for(sinks.receiver(channel), event) for channel in CHANNELS]
    for job in jobs + jobs:
        enqueue(env, job)
    # WHEN the app's deliver functions drain the queues
    pump = QueuePump(azurite.connection_string, app_handlers())
    pump.run_until(lambda: False, timeout=3)
    # THEN each receiver got one message (one per target), and the second was a duplicate
    for job in jobs:
        assert sinks.count(job.receiver.type) == max(len(job.receiver.targets), 1), job.job_id
    outcomes = sorted(row["outcome"] for row in log_rows(env, event))
    assert outcomes == ["delivered"] * 5 + ["duplicate"] * 5
    assert pump.errors == []


def test_a_failing_receiver_never_blocks_the_others(
    env: dict[str, str], sinks: LocalSinks, azurite: Azurite
) -> None:
    # GIVEN Twilio failing, and on the webhook queue a dead receiver queued before a live one
    sinks.twilio.script.always(Failure(status=500))
    event = new_event()
    dead_webhook = sinks.receiver(
        "webhook", "dead-hook", targets=[f"http://127.0.0.1:{closed_port()}/hook"]
    )
    jobs = [job_for(dead_webhook, event)] + [
        job_for(sinks.receiver(channel), event) for channel in CHANNELS
    ]
    for job in jobs:
        enqueue(env, job)
    # WHEN the app's deliver functions run
    pump = QueuePump(azurite.connection_string, app_handlers())
    others: tuple[ChannelName, ...] = ("email", "slack", "teams", "webhook")
    assert pump.run_until(lambda: all(sinks.count(c) > 0 for c in others), timeout=15)
    # THEN everyone else got theirs; the failing two are scheduled for a retry, not lost
    assert sinks.count("sms") == 0
    rows = log_rows(env, event)
    failing = {row["receiver"]: row["outcome"] for row in rows if row["outcome"] != "delivered"}
    assert failing == {"dead-hook": "retry", "sms-sink": "retry"}
    assert pump.errors == []


SECRET_VALUES = re.compile(r"fake-[a-z-]+-0000|xoxb-|fakeWebhookSecret|fakeWorkflowSig")
FULL_PHONE = re.compile(r"\+\d{8,15}")


def test_the_delivery_log_never_holds_secrets_or_full_phone_numbers(
    env: dict[str, str], sinks: LocalSinks, azurite: Azurite, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN deliveries that succeed and fail on every channel, some with a bad credential
    event = new_event()
    sinks.slack.script.fail(1, 200, error="invalid_auth")
    sinks.twilio.script.fail(1, 400)
    receivers = [sinks.receiver(channel) for channel in CHANNELS]
    receivers.append(
        replace(sinks.receiver("sms", "bad-number"), targets=["+15005550001", "+15551239999"])
    )
    for receiver in receivers:
        enqueue(env, job_for(receiver, event))
    # WHEN the app delivers them
    # INFO and above is what the host keeps; library DEBUG lines (urllib3 prints full URLs)
    # are off in production and pass the telemetry redaction filter when turned on.
    caplog.set_level(logging.INFO)
    pump = QueuePump(azurite.connection_string, app_handlers())
    pump.run_until(lambda: False, timeout=3)
    # THEN neither the log table, the dead letters nor the process log reveal them
    rows = log_rows(env, event)
    assert {row["channel"] for row in rows} == set(CHANNELS)
    assert any(row["outcome"] == "permanent" for row in rows)
    letters = [json.dumps(letter.summary()) for letter in list_dead_letters(storage(env))]
    letters += [
        json.dumps(row, default=str) for row in storage(env).table(names.TABLE_DEAD_LETTER).query()
    ]
    logged = [record.getMessage() for record in caplog.records]
    assert any("dead-lettered" in line for line in logged)  # the stage's own lines are there
    for text in [json.dumps(row, default=str) for row in rows] + letters + logged:
        assert not SECRET_VALUES.search(text), text
        assert not FULL_PHONE.search(text), text
        assert sinks.webhook.url not in text
    assert any("•" in row["targets"] for row in rows if row["channel"] == "sms")


def test_a_sender_that_raises_on_its_configuration_is_dead_lettered_once(
    env: dict[str, str], sinks: LocalSinks, azurite: Azurite
) -> None:
    # GIVEN an SMS receiver whose api_base lacks a scheme (requests raises InvalidSchema)
    receiver = sinks.receiver("sms", "no-scheme-sms")
    api_base = receiver.options["api_base"].split("://", 1)[1]
    receiver = replace(receiver, options={**receiver.options, "api_base": api_base})
    event = new_event()
    enqueue(env, job_for(receiver, event))
    # WHEN the app's function handles it (and keeps draining for a while)
    pump = QueuePump(azurite.connection_string, app_handlers())
    pump.run_until(lambda: False, timeout=3)
    # THEN nothing raised, nothing was sent, and it was dead-lettered once naming the option
    assert pump.errors == []
    assert sinks.count("sms") == 0
    letters = [letter for letter in list_dead_letters(storage(env)) if letter.job.event_id == event]
    assert len(letters) == 1 and "option api_base" in letters[0].reason
    assert [row["outcome"] for row in log_rows(env, event)] == ["permanent"]


class RacingTable(AzureEntityTable):
    """A second worker's table client; lets ``rival`` claim right after this one has read."""

    rival: Callable[[], object] | None = None

    def get_versioned(self, partition: str, row: str) -> VersionedEntity | None:
        found = super().get_versioned(partition, row)
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        return found


def test_two_workers_racing_for_a_lapsed_claim_on_azurite_send_once(
    env: dict[str, str], sinks: LocalSinks
) -> None:
    # GIVEN a claim left by a crashed worker, long lapsed, and two workers with their own clients
    endpoints = StorageEndpoints.from_settings(env)
    job = job_for(sinks.receiver("webhook"), new_event())
    now = utc_now()
    first = IdempotencyLedger(
        AzureEntityTable(endpoints, names.TABLE_IDEMPOTENCY), lease=DEFAULT_LEASE
    )
    assert first.claim(job, now - 2 * DEFAULT_LEASE).verdict == "send"
    # its lapse seen once already, more than half a lease ago (a live holder would have renewed)
    seen_at = now - DEFAULT_LEASE / 2 - timedelta(seconds=5)
    assert first.claim(job, seen_at).verdict == "busy"
    racing = RacingTable(endpoints, names.TABLE_IDEMPOTENCY)
    worker_a = IdempotencyLedger(
        AzureEntityTable(endpoints, names.TABLE_IDEMPOTENCY), lease=DEFAULT_LEASE
    )
    worker_b = IdempotencyLedger(racing, lease=DEFAULT_LEASE)
    verdicts: dict[str, str] = {}
    racing.rival = lambda: verdicts.setdefault("a", worker_a.claim(job, now).verdict)
    # WHEN A takes the claim between B's read and B's write
    verdicts["b"] = worker_b.claim(job, now).verdict
    # THEN the service refused B's stale write (412): only A sends
    assert verdicts == {"a": "send", "b": "busy"}


def test_a_conditional_update_on_azurite_needs_the_etag_it_read(env: dict[str, str]) -> None:
    table = storage(env).table(names.TABLE_IDEMPOTENCY)
    partition = new_event()
    table.upsert(partition, "r", {"v": 1})
    read = table.get_versioned(partition, "r")
    assert read is not None and read.entity["v"] == 1
    assert table.update_if_unchanged(partition, "r", {"v": 2}, read.etag)
    assert not table.update_if_unchanged(partition, "r", {"v": 3}, read.etag)  # stale: 412
    table.delete(partition, "r")
    assert not table.update_if_unchanged(partition, "r", {"v": 4}, read.etag)  # gone: 404
    table.upsert(partition, "r", {"v": 5})
    assert not table.update_if_unchanged(partition, "r", {"v": 6}, read.etag)  # recreated
    stored = table.get(partition, "r")
    assert stored is not None and stored["v"] == 5
