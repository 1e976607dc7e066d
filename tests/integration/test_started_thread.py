"""A maintenance started outside forewarn is said in the wave's thread, once (issue 25).

Real parts: the Administrative alert goes through ingest, the enrich stage (stand-in ARM on
127.0.0.1) and routing (tests/support/wave_harness.py); the delivery stage sends with the real
senders to the stand-in Slack and SMTP servers, its thread parents and idempotency keys in
Azurite.

    GIVEN the wave's announcement      WHEN                          THEN
    was delivered to a receiver        the Started alert of sql-01's  Slack: a reply under the
                                       performMaintenance follows     announcement's ts saying
                                                                      "Maintenance started:
                                                                      sql-01: by alice…"; email:
                                                                      In-Reply-To the first mail
                                       then its Succeeded alert       nothing more is sent
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.channels import default_senders
from shared.delivery.requeue import ENVELOPE_KIND, job_body
from shared.delivery.stage import DeliveryStage
from shared.models import EnrichedEvent, Receiver
from shared.routing.rules import Match, Route, RoutingConfig
from shared.routing.stage import route_event
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from shared.standins.sinks import LocalSinks
from shared.storage import StorageServices
from tests.functional.test_started_maintenance import CALLER, SUBSCRIPTION, administrative_alert
from tests.functional.test_started_maintenance import ingest as ingest_alert
from tests.support.azurite import Azurite
from tests.support.wave_harness import WaveHarness, wave_harness

pytestmark = pytest.mark.integration

NOW = datetime(2030, 3, 2, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=2.0) as running:
        yield running


@pytest.fixture
def fresh(sinks: LocalSinks) -> Iterator[LocalSinks]:
    sinks.reset()
    yield sinks
    sinks.reset()


@pytest.fixture
def wave() -> Iterator[WaveHarness]:
    close = NOW + timedelta(days=5)
    status = redeploy_status(NOW - timedelta(days=1), close, close, close + timedelta(hours=8))
    fleet = Fleet().add(FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=status))
    with wave_harness(fleet, NOW) as harness:
        # A wave of its own per test: the thread parents in Azurite outlive the test.
        harness.notice(maintenance_event([SUBSCRIPTION], tracking_id=f"TRK-{uuid.uuid4().hex}"))
        yield harness


def deliver(stage: DeliveryStage, enriched: EnrichedEvent, receiver: Receiver) -> str:
    root = Route("root", "/route", Match.from_json(None), None, (receiver.name,))
    config = RoutingConfig(receivers={receiver.name: receiver}, root=root)
    (job,) = route_event(enriched, config, NOW)
    text = json.dumps(
        {"v": 1, "kind": ENVELOPE_KIND, "id": job.job_id, "body": job_body(job, 1)},
        ensure_ascii=False,
    )
    return stage.handle(text).action


def events(wave: WaveHarness, *bodies: bytes) -> list[EnrichedEvent]:
    """The announcement, then the event each alert became, as the route stage got them."""
    found = [wave.sent[0].enriched]
    for body in bodies:
        found.append(ingest_alert(wave, body)[0].enriched)
    return found


@pytest.mark.parametrize("channel", ["slack", "email"])
def test_the_started_maintenance_follows_the_announcement_once(
    azurite: Azurite, fresh: LocalSinks, wave: WaveHarness, channel: str
) -> None:
    storage = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    stage = DeliveryStage(
        storage, default_senders(fresh.environ), environ=fresh.environ, clock=lambda: NOW
    )
    receiver = fresh.receiver(channel, name=f"{channel}-{uuid.uuid4().hex[:6]}")  # type: ignore[arg-type]
    announcement, started, succeeded = events(
        wave,
        administrative_alert("sql-01", "Started"),
        administrative_alert("sql-01", "Succeeded", "2030-03-02T09:55:00Z"),
    )

    assert deliver(stage, announcement, receiver) == "delivered"
    assert deliver(stage, started, receiver) == "delivered"
    assert deliver(stage, succeeded, receiver) == "duplicate"

    said = f"Maintenance started: sql-01: by {CALLER} at Sat 2 Mar 09:41 UTC"
    if channel == "slack":
        original, *replies = fresh.slack.messages
        assert original.thread_ts is None
        assert replies and {m.thread_ts for m in replies} == {original.ts}
        assert any(said in m.text for m in replies), [m.text for m in replies]
    else:
        first, follow_up = (mail.message for mail in fresh.smtp.mails)
        assert follow_up["In-Reply-To"] == first["Message-ID"]
        assert str(follow_up["Subject"]).strip().startswith("Maintenance started: sql-01: by ")
