"""The delivery stage when storage stumbles after a send, and when a send is slow.

Real Azurite (its own process, data on disk, stopped and started again), the real webhook
stand-in and the app's own senders; the stage is driven directly, as the queue trigger does.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from shared import names
from shared.channels import default_senders
from shared.delivery.records import table_key
from shared.delivery.stage import DeliveryStage, StageOutcome
from shared.models import DeliveryJob, RenderedMessage
from shared.standins.sinks import LocalSinks
from shared.storage import Envelope, StorageServices
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration


@pytest.fixture
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=15.0) as running:
        yield running


def webhook_job(sinks: LocalSinks) -> DeliveryJob:
    event_id = f"evt-{uuid.uuid4().hex[:12]}"
    receiver = sinks.receiver("webhook")
    return DeliveryJob(
        job_id=f"{event_id}:{receiver.name}",
        event_id=event_id,
        receiver=receiver,
        message=RenderedMessage(
            "webhook", "Planned maintenance", "Window", payload={"version": 1, "event_id": event_id}
        ),
        created_at="2025-03-01T10:00:00Z",
    )


def message_text(job: DeliveryJob) -> str:
    import json

    return json.dumps(
        {"v": 1, "kind": "delivery", "id": job.job_id, "body": job.to_json()},
        separators=(",", ":"),
    )


def stage_on(settings: dict[str, str], **options: object) -> DeliveryStage:
    return DeliveryStage(
        StorageServices.from_settings(settings),
        default_senders(settings),
        environ=settings,
        **options,  # type: ignore[arg-type]
    )


def ledger_state(settings: dict[str, str], job: DeliveryJob) -> str | None:
    table = StorageServices.from_settings(settings).table(names.TABLE_IDEMPOTENCY)
    row = table.get(table_key(job.event_id), table_key(job.receiver.name))
    return None if row is None else str(row["state"])


def test_a_storage_blip_right_after_a_send_does_not_cause_a_second_send(
    sinks: LocalSinks, tmp_path: Path
) -> None:
    with Azurite.start(location=tmp_path / "data") as storage:
        settings = {names.STORAGE_CONNECTION: storage.connection_string, **sinks.environ}
        job = webhook_job(sinks)
        stage = stage_on(settings)
        stage._ledger._table.query()
        sinks.webhook.script.hang(seconds=1.0)  # the send is in flight when storage goes
        outcome: list[StageOutcome | BaseException] = []

        def deliver() -> None:
            try:
                outcome.append(stage.handle(message_text(job)))
            except BaseException as error:
                outcome.append(error)

        worker = threading.Thread(target=deliver)
        worker.start()
        deadline = time.monotonic() + 10
        while not sinks.webhook.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        storage.kill()  # the send succeeds; the ledger write after it meets the outage
        time.sleep(12)  # longer than the table client's own retries (~6 s)
        storage.restart()
        worker.join(60)
        assert [getattr(o, "action", o) for o in outcome] == ["delivered"]
        assert ledger_state(settings, job) == "delivered"
        # the host's retry of the same message (or a duplicate post) sends nothing
        assert stage.handle(message_text(job)).action == "duplicate"
        assert len(sinks.webhook.requests) == 1


def test_a_slow_live_send_keeps_its_claim_past_the_lease(
    sinks: LocalSinks, azurite: Azurite
) -> None:
    """The claim is renewed while the send runs: a second copy of the job finds it busy even
    after the lease has passed, instead of sending it again beside the first."""
    settings = {names.STORAGE_CONNECTION: azurite.connection_string, **sinks.environ}
    job = webhook_job(sinks)
    stage = stage_on(settings, lease=timedelta(seconds=2))
    sinks.webhook.script.hang(seconds=5.0)
    first: list[StageOutcome] = []
    worker = threading.Thread(target=lambda: first.append(stage.handle(message_text(job))))
    worker.start()
    time.sleep(3.5)  # well past the 2 s lease; the send is still in flight
    second = stage.handle(message_text(job))
    worker.join(20)
    assert second.action == "busy"
    assert [o.action for o in first] == ["delivered"]
    assert len(sinks.webhook.requests) == 1


def test_a_crashed_workers_claim_is_taken_over_after_one_lease_and_a_second_look(
    sinks: LocalSinks, azurite: Azurite
) -> None:
    """No heartbeat comes from a dead worker: its claim lapses after the (short) lease, and is
    taken over when it is seen lapsed again half a lease later (a live worker cut off from
    storage would have renewed by then)."""
    settings = {names.STORAGE_CONNECTION: azurite.connection_string, **sinks.environ}
    job = webhook_job(sinks)
    stage = stage_on(settings, lease=timedelta(seconds=2))
    storage = StorageServices.from_settings(settings)
    from shared.delivery.records import IdempotencyLedger
    from shared.timeutil import utc_now

    crashed = IdempotencyLedger(storage.table(names.TABLE_IDEMPOTENCY), lease=timedelta(seconds=2))
    assert crashed.claim(job, utc_now()).verdict == "send"  # then the worker dies
    busy = stage.handle(message_text(job))
    assert busy.action == "busy" and busy.delay_seconds <= 3
    time.sleep(busy.delay_seconds)
    seen_lapsed = stage.handle(message_text(job))
    assert seen_lapsed.action == "busy" and seen_lapsed.delay_seconds <= 3
    time.sleep(seen_lapsed.delay_seconds)
    assert stage.handle(message_text(job)).action == "delivered"
    assert len(sinks.webhook.requests) == 1


def test_the_default_claim_is_short_enough_for_two_minute_recovery() -> None:
    from shared.delivery.stage import DEFAULT_LEASE

    # lease, then the second sighting half a lease later, then the requeue's own second
    assert DEFAULT_LEASE * 1.5 + timedelta(seconds=2) <= timedelta(seconds=120)
    assert Envelope  # the envelope format above is the courier's (v1)
