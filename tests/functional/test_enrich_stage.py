"""The enrich queue function as the host calls it: a real QueueMessage, Azurite, stand-in ARM."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from azure.functions.queue import QueueMessage  # the class the worker hands to triggers

import function_app
from functions import enrich
from shared import names
from shared.devhost.catalog import functions_of
from shared.enrich.errors import ArmUnavailableError
from shared.models import EnrichedEvent, MaintenanceEvent
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmStandIn
from shared.storage import (
    Courier,
    Envelope,
    InMemoryPayloadStore,
    InMemoryQueuePublisher,
    StorageServices,
)
from tests.support.azurite import Azurite
from tests.support.wave_setup import others_ahead, take_messages

pytestmark = pytest.mark.integration

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Stage:
    arm: ArmStandIn
    environ: dict[str, str]
    subscription: str
    taken: dict[str, str] = field(default_factory=dict)  # this test's, not yet asked for

    @property
    def views_read(self) -> int:
        # A VM from the VM list comes with its model (one instanceView read); one Resource
        # Graph names is read whole with $expand=instanceView (one GET): one read either way.
        counts = self.arm.counts
        return counts[f"view {self.subscription}"] + counts[f"get {self.subscription}"]

    def run(self, event: MaintenanceEvent, dequeue_count: int = 1) -> None:
        outbox = InMemoryQueuePublisher()
        Courier(outbox, InMemoryPayloadStore()).send(
            names.QUEUE_EVENTS, Envelope("event", event.event_id, event.to_json(), TRACEPARENT)
        )
        text = outbox.messages[names.QUEUE_EVENTS].popleft()
        message = QueueMessage(
            id="m1", body=base64.b64encode(text.encode("utf-8")), dequeue_count=dequeue_count
        )
        functions_of(function_app.app)[names.FUNCTION_ENRICH].get_user_function()(message)

    def enriched(self, event_id: str) -> tuple[dict[str, object], EnrichedEvent]:
        """The raw message and the opened envelope that the stage put on ``enriched``."""
        courier = StorageServices.from_settings(self.environ).courier

        def mine(text: str) -> bool:
            if json.loads(text).get("kind") != "enriched":
                return False
            event = courier.open(text).body.get("event", {})
            return self.subscription in event.get("subscription_ids", [])

        # Every message of this test's subscription at once: a message looked at stays hidden
        # for a few seconds, so a second read for the next event would find nothing.
        for text in take_messages(
            self.environ[names.STORAGE_CONNECTION], names.QUEUE_ENRICHED, mine
        ):
            self.taken[str(json.loads(text)["id"])] = text
        found = self.taken.pop(event_id, None)
        assert found is not None, f"no enriched message for {event_id}"
        envelope = courier.open(found)
        assert (envelope.kind, envelope.traceparent) == ("enriched", TRACEPARENT)
        return json.loads(found), EnrichedEvent.from_json(envelope.body)


def build_fleet(subscription: str) -> Fleet:
    fleet = Fleet()
    for index in range(150):  # enough VMs for the enriched event to go by claim check
        fleet.add(
            FleetVm(
                subscription,
                f"rg-{index % 3}",
                f"app{index:03d}",
                update_domain=index % 5,
                maintenance=window_from(NOW - timedelta(days=2)),
            )
        )
    fleet.add(FleetVm(subscription, "rg-0", "idle"))
    return fleet


@pytest.fixture
def stage(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    # Azurite lives for the session: a subscription of its own keeps the cache table apart.
    subscription = f"sub-{uuid.uuid4().hex[:12]}"
    with ArmStandIn(build_fleet(subscription)) as arm:
        environ = {
            names.STORAGE_CONNECTION: azurite.connection_string,
            names.SETTING_ARM_ENDPOINT: arm.base_url,
            names.SETTING_ARM_TOKEN: arm.token,
        }
        for key, value in environ.items():
            monkeypatch.setenv(key, value)
        enrich._stage.cache_clear()
        yield Stage(arm, environ, subscription)
        enrich._stage.cache_clear()


def test_binding_is_the_events_queue_on_the_storage_connection() -> None:
    function = functions_of(function_app.app)[names.FUNCTION_ENRICH]
    trigger = json.loads(function.get_function_json())["bindings"][0]
    assert (trigger["type"], trigger["queueName"], trigger["connection"]) == (
        "queueTrigger",
        names.QUEUE_EVENTS,
        names.STORAGE_CONNECTION,
    )


def test_given_a_maintenance_event_then_the_enriched_event_is_on_the_queue(stage: Stage) -> None:
    event = maintenance_event([stage.subscription], tracking_id="FUNC-1")
    stage.run(event)
    raw, enriched = stage.enriched(event.event_id)
    assert "ref" in raw  # 150 VMs do not fit a queue message: claim check via the blob
    assert enriched.event == event
    assert len(enriched.vms) == 150
    assert {vm.advice.action for vm in enriched.vms} == {"self_service"}
    assert enriched.plan is not None
    # Standalone VMs: one per step, whatever update domain they report.
    assert [step.kind for step in enriched.plan.steps] == ["vm"] * 150
    assert [note.code for note in enriched.notes] == ["no_impacted_resources"]
    # Resource Graph (on by default) names the 150 with maintenance pending: "idle" is not read.
    assert stage.views_read == 150
    assert stage.arm.graph.counts["wave-vms"] == 1


def test_given_the_same_wave_again_then_instance_views_come_from_the_table(
    stage: Stage,
) -> None:
    first = maintenance_event([stage.subscription], tracking_id="FUNC-2")
    stage.run(first)
    reads = stage.views_read
    enrich._stage.cache_clear()  # another worker process: only the table is shared
    again = maintenance_event([stage.subscription], tracking_id="FUNC-3")
    stage.run(again)
    _, one = stage.enriched(first.event_id)
    _, two = stage.enriched(again.event_id)
    assert stage.views_read == reads == 150
    assert [vm.to_json() for vm in one.vms] == [vm.to_json() for vm in two.vms]
    table = StorageServices.from_settings(stage.environ).table(names.TABLE_INSTANCE_VIEWS)
    assert table.get(stage.subscription, "rg-0:app000") is not None


@pytest.mark.parametrize("dequeue_count", [1, names.MAX_DEQUEUE_COUNT], ids=["first", "last"])
def test_given_arm_down_then_raise_for_a_retry_or_send_notes_on_the_last_attempt(
    stage: Stage, dequeue_count: int
) -> None:
    stage.arm.script.fail(10_000, status=503, retry_after="0")  # fail fast, every try
    event = maintenance_event([stage.subscription], tracking_id=f"DOWN-{dequeue_count}")
    if dequeue_count < names.MAX_DEQUEUE_COUNT:
        with pytest.raises(ArmUnavailableError):
            stage.run(event, dequeue_count)
        return
    stage.run(event, dequeue_count)
    _, enriched = stage.enriched(event.event_id)
    assert enriched.vms == []
    assert [note.code for note in enriched.notes] == ["arm_unavailable"]


def test_given_an_incident_for_another_service_then_passed_on_without_vms(stage: Stage) -> None:
    event = maintenance_event(
        [stage.subscription], tracking_id="OTHER", service="Azure Synapse Analytics"
    )
    stage.run(event)
    _, enriched = stage.enriched(event.event_id)
    assert (enriched.vms, enriched.plan, enriched.notes) == ([], None, [])
    assert stage.arm.counts["requests"] == 0


def test_given_one_vm_with_a_malformed_timestamp_then_sent_on_the_first_attempt_with_a_note(
    stage: Stage,
) -> None:
    """Review C5: one odd VM no longer fails the notice on every attempt into events-poison."""
    odd = stage.arm.fleet.of(stage.subscription)[0]
    assert odd.maintenance is not None
    odd.maintenance["maintenanceWindowEndTime"] = "2030-13-45T99:00:00Z"
    event = maintenance_event([stage.subscription], tracking_id="ODD-1")
    stage.run(event, dequeue_count=1)
    _, enriched = stage.enriched(event.event_id)
    assert len(enriched.vms) == 149
    assert odd.id not in {vm.id for vm in enriched.vms}
    assert sorted((note.code, note.resource_id) for note in enriched.notes) == [
        ("no_impacted_resources", None),
        ("unreadable", odd.id),
    ]


def test_given_other_messages_ahead_on_the_queue_then_its_own_enriched_event_is_found(
    stage: Stage,
) -> None:
    # GIVEN more messages ahead on the session's `enriched` queue than one read returns
    with others_ahead(stage.environ[names.STORAGE_CONNECTION], names.QUEUE_ENRICHED, 40):
        # WHEN the enrich function handles this test's event
        event = maintenance_event([stage.subscription])
        stage.run(event)
        # THEN this test finds its own enriched event behind them
        _, enriched = stage.enriched(event.event_id)
    assert enriched.event == event


def test_the_function_s_stage_resolves_the_escalations_of_records_a_new_wave_ends(
    stage: Stage,
) -> None:
    # GIVEN the stage the enrich function runs; THEN a new wave's ended records are resolved
    # by the wave runner (tests/integration/test_escalation_pagerduty.py follows one through)
    assert enrich._stage().resolve_ended is enrich._resolve_ended
