"""The per-VM maintenance record on a real Azurite table, and enrichment writing it.

GIVEN a maintenance notice about VMs of a subscription (stand-in ARM), WHEN the enrich stage
handles it, THEN every VM with planned maintenance has a pending record with its windows, the
wave's tracking id, its advice and the announcement; a VM without maintenance has none. A
record read back from the table equals the one written, and one odd row never hides the rest.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.models import VirtualMachine
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmStandIn
from shared.storage import (
    AzureEntityTable,
    StorageEndpoints,
    StorageServices,
)
from shared.wave.records import (
    InMemoryRecordStore,
    MaintenanceRecord,
    RecordStore,
    SentNotice,
    TableRecordStore,
)
from tests.support.azurite import Azurite
from tests.support.wave_setup import enrich_notice

pytestmark = pytest.mark.integration

NOW = datetime(2030, 3, 1, 9, tzinfo=UTC)


def _subscription() -> str:
    return str(uuid.uuid4())


def _vm(subscription: str, name: str = "web-1") -> VirtualMachine:
    fleet_vm = FleetVm(subscription, "rg-web", name, maintenance=window_from(NOW))
    return to_virtual_machine(VmRef(fleet_vm.id), fleet_vm.model(), fleet_vm.instance_view())


@pytest.fixture
def table_store(azurite: Azurite) -> RecordStore:
    endpoints = StorageEndpoints(azurite.connection_string)
    return TableRecordStore(AzureEntityTable(endpoints, names.TABLE_MAINTENANCE_RECORDS))


@pytest.mark.parametrize("kind", ["table", "memory"])
def test_a_record_reads_back_as_written(kind: str, table_store: RecordStore) -> None:
    store = table_store if kind == "table" else InMemoryRecordStore()
    subscription = _subscription()
    record = MaintenanceRecord.from_vm(
        _vm(subscription), tracking_id="BC_1-FXZ", now="2030-03-01T09:00:00Z"
    ).with_sent(SentNotice("announced:evt-1", "announced", "evt-1", "2030-03-01T09:00:00Z"))
    store.put(record)
    assert store.get(record.vm_id) == record
    assert store.of_subscription(subscription.upper()) == [record]
    assert subscription in store.subscriptions()


def test_an_unreadable_row_is_skipped_not_fatal(azurite: Azurite) -> None:
    endpoints = StorageEndpoints(azurite.connection_string)
    table = AzureEntityTable(endpoints, names.TABLE_MAINTENANCE_RECORDS)
    store = TableRecordStore(table)
    subscription = _subscription()
    good = MaintenanceRecord.from_vm(_vm(subscription), tracking_id=None, now="2030-03-01Z")
    store.put(good)
    table.upsert(subscription, "rg-web:odd", {"status": "pending", "vm": "{not json"})
    assert store.of_subscription(subscription) == [good]


def test_enrichment_writes_a_pending_record_per_vm_with_maintenance(azurite: Azurite) -> None:
    subscription = _subscription()
    fleet = Fleet().add(
        FleetVm(subscription, "rg-app", "app-1", maintenance=window_from(NOW)),
        FleetVm(subscription, "rg-app", "app-2", maintenance=window_from(NOW, days=10)),
        FleetVm(subscription, "rg-app", "idle"),
    )
    environ = {names.STORAGE_CONNECTION: azurite.connection_string}
    storage = StorageServices.from_settings(environ)
    with ArmStandIn(fleet) as arm:
        env = {
            **environ,
            names.SETTING_ARM_ENDPOINT: arm.base_url,
            names.SETTING_ARM_TOKEN: arm.token,
        }
        event = maintenance_event([subscription], tracking_id="WAVE-7")
        enrich_notice(storage, env, event)
    store = TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS))
    records = {record.vm.name: record for record in store.of_subscription(subscription)}
    assert sorted(records) == ["app-1", "app-2"]
    first = records["app-1"]
    assert (first.status, first.tracking_id, first.advice) == ("pending", "WAVE-7", "self_service")
    assert first.self_service_window.end == "2030-03-31T09:00:00Z"
    assert first.scheduled_window.start == "2030-03-31T09:05:00Z"
    assert [sent.key for sent in first.sent] == [f"announced:{event.event_id}"]
    assert records["app-2"].self_service_window.end == (NOW + timedelta(days=10)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_a_later_notice_updates_the_windows_and_keeps_the_history(azurite: Azurite) -> None:
    subscription = _subscription()
    fleet = Fleet().add(FleetVm(subscription, "rg-app", "app-1", maintenance=window_from(NOW)))
    environ = {names.STORAGE_CONNECTION: azurite.connection_string}
    storage = StorageServices.from_settings(environ)
    store = TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS))
    with ArmStandIn(fleet) as arm:
        env = {
            **environ,
            names.SETTING_ARM_ENDPOINT: arm.base_url,
            names.SETTING_ARM_TOKEN: arm.token,
        }
        first = maintenance_event([subscription], tracking_id="WAVE-8")
        enrich_notice(storage, env, first)
        [before] = store.of_subscription(subscription)
        # WHEN Azure re-issues the wave with later windows (a Rescheduled communication)
        fleet.add(
            FleetVm(
                subscription,
                "rg-app",
                "app-1",
                maintenance=window_from(NOW + timedelta(days=2)),
            )
        )
        again = replace(
            maintenance_event([subscription], tracking_id="WAVE-8", stage="Rescheduled"),
            event_id="evt-rescheduled",
        )
        enrich_notice(storage, env, again)
    [after] = store.of_subscription(subscription)
    assert after.first_seen == before.first_seen
    assert after.self_service_window.end == "2030-04-02T09:00:00Z"
    assert [sent.key for sent in after.sent] == [
        f"announced:{first.event_id}",
        "announced:evt-rescheduled",
    ]


# GIVEN records over two subscriptions, one of them more than a table transaction holds (100),
# and a row already there for one VM; WHEN they are written together; THEN every one reads
# back as written (the old row replaced), on the real table as in memory.
@pytest.mark.parametrize("kind", ["table", "memory"])
def test_many_records_written_together_read_back_as_written(
    kind: str, table_store: RecordStore
) -> None:
    store = table_store if kind == "table" else InMemoryRecordStore()
    big, small = _subscription(), _subscription()
    records = [
        MaintenanceRecord.from_vm(_vm(big, f"vm-{index:03d}"), tracking_id="W", now="2030-03-01Z")
        for index in range(230)
    ] + [
        MaintenanceRecord.from_vm(_vm(small, f"vm-{index:03d}"), tracking_id="W", now="2030-03-01Z")
        for index in range(3)
    ]
    store.put(replace(records[7], status="rescheduled", tracking_id="OLD"))
    store.put_many(records)
    assert store.of_subscription(big) == sorted(records[:230], key=lambda r: r.vm_id)
    assert store.of_subscription(small) == sorted(records[230:], key=lambda r: r.vm_id)
