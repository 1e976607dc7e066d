"""An event's messages reach each receiver in the order they happened (issue 24).

The forwarder posts an event's ``new`` before its ``drained``, but after the intake each notice
travels on its own queue messages, so a fast drain can reach a receiver first. The delivery
stage holds it until the notice it follows was settled for that receiver. Real parts: the
intake's parsing and notice, the route stage, the delivery stage with its ledger in Azurite and
the real webhook sender to the stand-in receiver; the queue is played by hand, in the bad order.

GIVEN an event's notices, routed    WHEN delivery takes                  THEN
"Reboot ... in 15 min", "drained"   the drained job first                it waits (nothing sent)
                                    then the scheduled one, then the     the receiver reads them in
                                    drained one again                    that order
"drained" whose "in 15 min" never   the drained job, each time it comes  it waits a bounded number
reached this receiver                                                    of times, then is sent
"in 15 min", "drained", "Started",  the four jobs last first, then each  each waits for the one
"back at" (the forwarder said it    waiting one again                    before it; the receiver
reported the drain)                                                      reads them in order
"Started" from a forwarder older    the started job                      it is sent at once (it
than ``drainReported``                                                   cannot know of a drain)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import names
from shared.channels import default_senders
from shared.delivery.order import MAX_ORDER_WAITS
from shared.delivery.requeue import ENVELOPE_KIND, job_body
from shared.delivery.stage import DeliveryStage, StageOutcome
from shared.models import DeliveryJob, EnrichedEvent, Receiver
from shared.routing.rules import Match, Route, RoutingConfig
from shared.routing.stage import route_event
from shared.scheduled import notice_of, parse_post
from shared.standins.imds_server import rfc1123
from shared.standins.sinks import LocalSinks
from shared.storage import StorageServices
from shared.wave.records import InMemoryRecordStore
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

NOW = datetime(2030, 3, 2, 13, 50, tzinfo=UTC)
VM = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-data"
    "/providers/Microsoft.Compute/virtualMachines/sql-01"
)


@pytest.fixture(scope="module")
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=2.0) as running:
        yield running


@pytest.fixture
def fresh(sinks: LocalSinks) -> Iterator[LocalSinks]:
    sinks.reset()
    yield sinks
    sinks.reset()


def post(change: str, event_id: str, status: str = "Scheduled", **extra: Any) -> bytes:
    """A forwarder post (forwarder/agent.py's shape) of a Reboot 15 minutes after NOW."""
    not_before = rfc1123(NOW + timedelta(minutes=15)) if status == "Scheduled" else ""
    return json.dumps(
        {
            "v": 1,
            "change": change,
            "incarnation": 2,
            "observedAt": "2030-03-02T13:50:00Z",
            "vm": {"name": "sql-01", "resourceId": VM},
            "event": {
                "EventId": event_id,
                "EventType": "Reboot",
                "ResourceType": "VirtualMachine",
                "Resources": ["sql-01"],
                "EventStatus": status,
                "NotBefore": not_before,
                "Description": "Virtual machine is going to be restarted for planned maintenance.",
                "EventSource": "Platform",
                "DurationInSeconds": -1,
            },
            **extra,
        }
    ).encode()


DRAINED = {"succeeded": True, "exitCode": 0, "approved": True, "detail": "drained and approved"}


def job_of(enriched: EnrichedEvent, receiver: Receiver) -> DeliveryJob:
    root = Route("root", "/route", Match.from_json(None), None, (receiver.name,))
    config = RoutingConfig(receivers={receiver.name: receiver}, root=root)
    (job,) = route_event(enriched, config, NOW)
    return job


def handle(stage: DeliveryStage, job: DeliveryJob, **bookkeeping: int) -> StageOutcome:
    text = json.dumps(
        {"v": 1, "kind": ENVELOPE_KIND, "id": job.job_id, "body": job_body(job, 1, **bookkeeping)}
    )
    return stage.handle(text)


@pytest.fixture
def stage(azurite: Azurite, fresh: LocalSinks) -> DeliveryStage:
    storage = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    return DeliveryStage(
        storage, default_senders(fresh.environ), environ=fresh.environ, clock=lambda: NOW
    )


def notices(event_id: str) -> tuple[EnrichedEvent, EnrichedEvent]:
    records = InMemoryRecordStore()
    scheduled = notice_of(parse_post(post("new", event_id)), records, NOW)
    drained = notice_of(parse_post(post("drained", event_id, drain=DRAINED)), records, NOW)
    return scheduled, drained


def test_the_drained_message_waits_for_the_in_15_min_one(
    stage: DeliveryStage, fresh: LocalSinks
) -> None:
    receiver = fresh.receiver("webhook", name=f"webhook-{uuid.uuid4().hex[:6]}")
    scheduled, drained = notices(str(uuid.uuid4()).upper())
    scheduled_job, drained_job = job_of(scheduled, receiver), job_of(drained, receiver)

    first = handle(stage, drained_job)
    assert first.action == "waiting"
    assert first.delay_seconds is not None and first.delay_seconds > 0
    assert fresh.webhook.deliveries == []

    assert handle(stage, scheduled_job).action == "delivered"
    assert handle(stage, drained_job, waited=1).action == "delivered"

    headlines = [delivery.document["headline"] for delivery in fresh.webhook.deliveries]
    assert headlines == [
        "Reboot of sql-01 at 14:05 UTC, in 15 min",
        "sql-01 drained: Reboot approved at 13:50 UTC",
    ]


def test_a_drained_message_whose_predecessor_never_comes_is_sent_in_the_end(
    stage: DeliveryStage, fresh: LocalSinks
) -> None:
    receiver = fresh.receiver("webhook", name=f"webhook-{uuid.uuid4().hex[:6]}")
    _, drained = notices(str(uuid.uuid4()).upper())
    drained_job = job_of(drained, receiver)

    assert handle(stage, drained_job, waited=MAX_ORDER_WAITS - 1).action == "waiting"
    assert handle(stage, drained_job, waited=MAX_ORDER_WAITS).action == "delivered"
    assert len(fresh.webhook.deliveries) == 1


def chain(event_id: str, **drain_reported: bool) -> list[EnrichedEvent]:
    """An event's four notices as the forwarder posts them when it drained the VM: "in 15
    min", the drain's outcome, Started (after the approval) and gone (the VM is back)."""
    records = InMemoryRecordStore()
    bodies = [
        post("new", event_id),
        post("drained", event_id, drain=DRAINED),
        post("changed", event_id, "Started", **drain_reported),
        post("vanished", event_id, "Started", **drain_reported),
    ]
    return [notice_of(parse_post(body), records, NOW) for body in bodies]


def test_started_and_back_wait_for_the_drain_before_them(
    stage: DeliveryStage, fresh: LocalSinks
) -> None:
    receiver = fresh.receiver("webhook", name=f"webhook-{uuid.uuid4().hex[:6]}")
    jobs = [
        job_of(notice, receiver) for notice in chain(str(uuid.uuid4()).upper(), drainReported=True)
    ]

    # The worst order: each comes before the one it follows.
    for job in reversed(jobs[1:]):
        assert handle(stage, job).action == "waiting", job.job_id
    assert fresh.webhook.deliveries == []
    for job, waited in zip(jobs, (0, 1, 1, 1), strict=True):
        assert handle(stage, job, waited=waited).action == "delivered", job.job_id

    headlines = [delivery.document["headline"] for delivery in fresh.webhook.deliveries]
    assert headlines == [
        "Reboot of sql-01 at 14:05 UTC, in 15 min",
        "sql-01 drained: Reboot approved at 13:50 UTC",
        "Reboot of sql-01 started (seen 13:50 UTC)",
        "sql-01 rebooted, back at 13:50 UTC",
    ]


def test_a_started_message_from_an_older_forwarder_is_sent_at_once(
    stage: DeliveryStage, fresh: LocalSinks
) -> None:
    receiver = fresh.receiver("webhook", name=f"webhook-{uuid.uuid4().hex[:6]}")
    started = chain(str(uuid.uuid4()).upper())[2]

    assert handle(stage, job_of(started, receiver)).action == "delivered"
