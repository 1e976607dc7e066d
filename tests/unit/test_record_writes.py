"""How many table writes a batch of maintenance records costs.

Enrichment records every VM a notice names and the sweep every VM it changes: one round trip
per VM made records the slowest part of a 200-VM notice (issue 18). A table transaction
writes up to 100 entities of one partition at once.

    GIVEN records of            WHEN written together      THEN the table is asked
    250 VMs of one subscription put_many / put_all         one upsert_many, no single upserts
    2 + 1 VMs of two            put_many                   one upsert_many per subscription
    one VM                      put                        1 upsert

    GIVEN upserts for one partition   THEN the real table's transactions hold
    250 small entities                100, 100, 50
    40 entities of 200 KB             15, 15, 10 (a transaction carries at most 4 MiB)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shared.models import Advice, MaintenanceStatus, TimeWindow, VirtualMachine
from shared.storage import InMemoryEntityTable, transaction_batches
from shared.wave.records import MaintenanceRecord, TableRecordStore, put_all


class CountingTable(InMemoryEntityTable):
    def __init__(self) -> None:
        super().__init__()
        self.upserts = 0
        self.transactions: list[int] = []

    def upsert(self, partition: str, row: str, entity: Mapping[str, Any]) -> None:
        self.upserts += 1
        super().upsert(partition, row, entity)

    def upsert_many(self, partition: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        self.transactions.append(len(rows))
        super().upsert_many(partition, rows)


def _record(subscription: str, name: str) -> MaintenanceRecord:
    vm = VirtualMachine(
        id=f"/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}",
        name=name,
        subscription_id=subscription,
        resource_group="rg",
        location="eastus",
        maintenance=MaintenanceStatus(
            self_service_allowed=True,
            self_service_window=TimeWindow("2030-03-01T00:00:00Z", "2030-03-10T00:00:00Z"),
            scheduled_window=TimeWindow("2030-03-11T00:00:00Z", "2030-03-12T00:00:00Z"),
        ),
        advice=Advice("self_service", []),
    )
    return MaintenanceRecord.from_vm(vm, tracking_id="W", now="2030-03-01T00:00:00Z")


@pytest.mark.parametrize("write", ["put_many", "put_all"])
def test_250_records_of_one_subscription_are_one_batched_write(write: str) -> None:
    table = CountingTable()
    store = TableRecordStore(table)
    records = [_record("sub-a", f"vm-{index}") for index in range(250)]
    if write == "put_many":
        store.put_many(records)
    else:
        put_all(store, records)
    assert (table.upserts, table.transactions) == (0, [250])
    assert len(store.of_subscription("sub-a")) == 250


def test_records_of_two_subscriptions_take_one_transaction_each() -> None:
    table = CountingTable()
    store = TableRecordStore(table)
    store.put_many([_record("sub-a", "a1"), _record("sub-b", "b1"), _record("sub-a", "a2")])
    assert (table.upserts, sorted(table.transactions)) == (0, [1, 2])


def test_one_record_is_one_upsert() -> None:
    table = CountingTable()
    TableRecordStore(table).put(_record("sub-a", "a1"))
    assert (table.upserts, table.transactions) == (1, [])


@pytest.mark.parametrize(
    ("count", "value_bytes", "expected"),
    [(250, 100, [100, 100, 50]), (40, 200_000, [15, 15, 10]), (1, 10, [1]), (0, 10, [])],
)
def test_transactions_hold_100_entities_and_stay_under_4_mib(
    count: int, value_bytes: int, expected: list[int]
) -> None:
    operations = [
        ("upsert", {"PartitionKey": "p", "RowKey": f"r{index}", "vm": "x" * value_bytes})
        for index in range(count)
    ]
    batches = list(transaction_batches(operations))
    assert [len(batch) for batch in batches] == expected
    assert [op for batch in batches for op in batch] == operations
