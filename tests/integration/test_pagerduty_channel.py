"""The PagerDuty channel through the real delivery stage (Azurite) against the stand-in Events
API v2: what is sent, and how each documented answer (202, 400, 429, 5xx) is handled.

Jobs are rendered by the route stage's own renderer from a sample wave; the stand-in keeps
alerts the way PagerDuty documents de-duplication, so a repeated trigger shows as a second
trigger on one alert, never a second alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.delivery.deadletters import list_dead_letters
from shared.delivery.stage import DeliveryStage
from shared.models import DeliveryJob, EnrichedEvent
from shared.render import render_message
from shared.render.pagerduty import dedup_key_for
from shared.standins import pagerduty_server
from shared.standins.enriched_samples import sample_enriched
from shared.standins.sinks import SETTING_PAGERDUTY_KEY, LocalSinks
from shared.storage import StorageServices
from tests.support.azurite import Azurite
from tests.support.pagerduty_delivery import deliver, pagerduty_stage

pytestmark = pytest.mark.integration

NOW = datetime(2020, 9, 1, 12, 0, tzinfo=UTC)  # inside the sample's self-service windows


@pytest.fixture(scope="module")
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=2.0) as running:
        yield running


@pytest.fixture
def world(azurite: Azurite, sinks: LocalSinks) -> tuple[DeliveryStage, dict[str, str]]:
    sinks.reset()
    return pagerduty_stage(azurite, sinks)


def job(sinks: LocalSinks, enriched: EnrichedEvent) -> DeliveryJob:
    receiver = sinks.receiver("pagerduty", "oncall-pd")
    message = render_message(enriched, receiver, enriched.vms, NOW)
    event_id = enriched.event.event_id
    return DeliveryJob(
        f"{event_id}:{receiver.name}", event_id, receiver, message, "2020-09-01T12:00:00Z"
    )


def wave(**changes: Any) -> EnrichedEvent:
    """The sample wave with an id and tracking id of its own (Azurite is shared)."""
    tag = uuid.uuid4().hex[:10]
    return sample_enriched(event_id=f"evt-{tag}", tracking_id=f"WAVE-{tag}", **changes)


def planned(enriched: EnrichedEvent) -> list[str]:
    """The dedup keys of the wave's VMs with maintenance (each gets one alert)."""
    wave_id = enriched.event.tracking_id
    return sorted(
        dedup_key_for(wave_id, vm.id) for vm in enriched.vms if vm.maintenance is not None
    )


# --------------------------------------------------------------------------------------


def test_a_wave_triggers_one_alert_per_vm_keyed_by_wave_and_vm(
    world: tuple[DeliveryStage, dict[str, str]], sinks: LocalSinks
) -> None:
    # GIVEN Azure's notice of a wave, rendered for a PagerDuty receiver
    stage, settings = world
    enriched = wave()
    sql_01 = next(vm for vm in enriched.vms if vm.name == "sql-01")
    # WHEN it is delivered
    actions = deliver(stage, settings, job(sinks, enriched))
    # THEN each VM with maintenance is one open alert under its wave-and-VM key, said plainly
    assert actions == ["delivered"]
    keys = planned(enriched)
    assert sorted(event["dedup_key"] for event in sinks.pagerduty.triggered()) == keys
    sql = sinks.pagerduty.open_alert(dedup_key_for(enriched.event.tracking_id, sql_01.id))
    assert sql is not None and sql.triggers == 1 and sql.severity == "warning"
    assert sql.summary.startswith("Start sql-01 yourself by ")
    assert sql.custom_details["vm"] == "sql-01"
    assert sql.custom_details["tracking_id"] == enriched.event.tracking_id
    # AND the routing key travels only in the request, never in the stored message
    assert pagerduty_server.ROUTING_KEY not in str(job(sinks, enriched).to_json())


def test_a_second_notice_about_the_same_vms_lands_on_the_open_alerts(
    world: tuple[DeliveryStage, dict[str, str]], sinks: LocalSinks
) -> None:
    # GIVEN a wave already triggered
    stage, settings = world
    enriched = wave()
    deliver(stage, settings, job(sinks, enriched))
    # WHEN a later notice of the same wave (another event id) is delivered
    later = replace(
        enriched, event=replace(enriched.event, event_id=enriched.event.event_id + "-2")
    )
    deliver(stage, settings, job(sinks, later))
    # THEN no new alert opened: each trigger was de-duplicated onto its VM's alert
    keys = planned(enriched)
    assert sorted(alert.dedup_key for alert in sinks.pagerduty.alerts) == keys
    assert {alert.triggers for alert in sinks.pagerduty.alerts} == {2}


def test_a_completed_notice_resolves_the_alerts_with_the_same_keys(
    world: tuple[DeliveryStage, dict[str, str]], sinks: LocalSinks
) -> None:
    # GIVEN a wave triggered
    stage, settings = world
    enriched = wave()
    deliver(stage, settings, job(sinks, enriched))
    # WHEN Azure says the wave is complete
    done = replace(
        enriched,
        event=replace(enriched.event, event_id=enriched.event.event_id + "-c", stage="Complete"),
    )
    deliver(stage, settings, job(sinks, done))
    # THEN each VM's alert is resolved with its own key, and nothing is open
    resolved = [event["dedup_key"] for event in sinks.pagerduty.resolved()]
    assert set(planned(enriched)) <= set(resolved)
    assert all(sinks.pagerduty.open_alert(key) is None for key in planned(enriched))


def test_an_event_pagerduty_refuses_is_dead_lettered_at_once_with_its_reasons(
    sinks: LocalSinks, azurite: Azurite
) -> None:
    # GIVEN a routing key of the wrong length in the setting (a typo in Key Vault)
    sinks.reset()
    stage, short = pagerduty_stage(azurite, sinks, **{SETTING_PAGERDUTY_KEY: "not-a-routing-key"})
    enriched = wave()
    # WHEN it is delivered
    actions = deliver(stage, short, job(sinks, enriched))
    # THEN it is not retried (400 is permanent) and the dead letter says what PagerDuty said
    assert actions == ["dead_lettered"]
    assert sinks.pagerduty.events == []
    letters = [
        letter
        for letter in list_dead_letters(StorageServices.from_settings(short))
        if letter.job.event_id == enriched.event.event_id
    ]
    assert len(letters) == 1
    assert "HTTP 400" in letters[0].reason
    assert "Length of 'routing_key' is incorrect" in letters[0].reason
    assert "not-a-routing-key" not in letters[0].reason


@pytest.mark.parametrize(
    ("status", "times"), [(429, 1), (503, 2)], ids=["rate-limited-once", "server-error-twice"]
)
def test_a_throttled_or_failing_pagerduty_is_retried_until_every_event_is_in_once(
    world: tuple[DeliveryStage, dict[str, str]], sinks: LocalSinks, status: int, times: int
) -> None:
    # GIVEN PagerDuty answering 429 (or 503) first
    stage, settings = world
    sinks.pagerduty.script.fail(times, status)
    enriched = wave()
    # WHEN the job is delivered
    actions = deliver(stage, settings, job(sinks, enriched))
    # THEN it was retried, then delivered, and each VM has one alert triggered once
    assert actions == [*["retry_scheduled"] * times, "delivered"]
    assert sorted(alert.dedup_key for alert in sinks.pagerduty.alerts) == planned(enriched)
    assert {alert.triggers for alert in sinks.pagerduty.alerts} == {1}
