"""The instance-view cache costs a round trip per batch of VMs, not per VM (issue 18).

A 200-VM notice read its cached instance views with 200 table reads and wrote them with 200
upserts. The cache is now read a partition (subscription) at a time, 14 row keys per query
(Azure Tables allows 15 comparisons in a filter: the partition key and 14 rows), and the new
reads are written as table transactions.

    GIVEN 30 VMs of one subscription and 3 of another (stand-in ARM, table cache)
    WHEN a notice about them is enriched     THEN one get_many and one upsert_many per
                                                  subscription, no single get or upsert
    WHEN a second notice follows within TTL  THEN no ARM read, the same VMs, one get_many
                                                  per subscription and no writes
    GIVEN rows on real Azurite               WHEN 40 are asked for (31 there, 9 not)
                                             THEN exactly the 31, over 3 queries of <= 14
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.instance_view import TableInstanceViewCache
from shared.enrich.pipeline import enrich_event
from shared.enrich.services import EnrichmentServices
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmStandIn
from shared.storage import (
    TABLE_CONNECTIONS,
    AzureEntityTable,
    InMemoryEntityTable,
    StorageEndpoints,
    row_chunks,
)
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

NOW = datetime(2030, 3, 1, 9, tzinfo=UTC)
SUB_A, SUB_B = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"


class CountingTable(InMemoryEntityTable):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get(self, partition: str, row: str) -> dict[str, Any] | None:
        self.calls.append("get")
        return super().get(partition, row)

    def get_many(self, partition: str, rows: list[str]) -> dict[str, dict[str, Any]]:
        self.calls.append(f"get_many {partition[:8]}")
        return super().get_many(partition, rows)

    def upsert(self, partition: str, row: str, entity: Mapping[str, Any]) -> None:
        self.calls.append("upsert")
        super().upsert(partition, row, entity)

    def upsert_many(self, partition: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        self.calls.append(f"upsert_many {partition[:8]}")
        super().upsert_many(partition, rows)


@pytest.fixture
def arm() -> Iterator[ArmStandIn]:
    fleet = Fleet()
    for index in range(30):
        fleet.add(FleetVm(SUB_A, "rg-web", f"web-{index:02d}", maintenance=window_from(NOW)))
    for index in range(3):
        fleet.add(FleetVm(SUB_B, "rg-db", f"db-{index}", maintenance=window_from(NOW)))
    with ArmStandIn(fleet, latency=0.0) as stand_in:
        yield stand_in


def test_the_cache_is_read_and_written_a_subscription_at_a_time(arm: ArmStandIn) -> None:
    table = CountingTable()
    client = ArmClient(arm.base_url, StaticTokenProvider(arm.token))
    services = EnrichmentServices.create({}, TableInstanceViewCache(table), arm=client)
    first = enrich_event(maintenance_event([SUB_A, SUB_B], tracking_id="NONE"), services)
    assert sorted(table.calls) == [
        "get_many aaaaaaaa",
        "get_many bbbbbbbb",
        "upsert_many aaaaaaaa",
        "upsert_many bbbbbbbb",
    ]
    reads = sum(count for key, count in arm.counts.items() if key.startswith(("get", "view")))
    table.calls.clear()
    again = enrich_event(maintenance_event([SUB_A, SUB_B], tracking_id="NONE"), services)
    after = sum(count for key, count in arm.counts.items() if key.startswith(("get", "view")))
    assert (after - reads, sorted(table.calls)) == (0, ["get_many aaaaaaaa", "get_many bbbbbbbb"])
    assert [vm.to_json() for vm in again.vms] == [vm.to_json() for vm in first.vms]
    assert len(first.vms) == 33
    client.close()


def test_get_many_on_azurite_finds_exactly_the_rows_there(azurite: Azurite) -> None:
    table = AzureEntityTable(StorageEndpoints(azurite.connection_string), "cachetrips")
    rows = {f"rg-x.(1):vm-{index:02d}": {"n": index} for index in range(31)}
    table.upsert_many("sub-1", rows)
    table.upsert("sub-2", "rg-x.(1):vm-00", {"n": -1})  # same row, another partition
    asked = [*rows, *(f"rg-x.(1):absent-{index}" for index in range(9))]
    found = table.get_many("sub-1", asked)
    assert {row: entity["n"] for row, entity in found.items()} == {
        row: entity["n"] for row, entity in rows.items()
    }
    assert [len(chunk) for chunk in row_chunks(asked)] == [14, 14, 12]


class InFlight:
    """Counts the table client's requests under way at once (each held a moment, as a busy
    storage account holds them, so that requests that may overlap do)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.most = 0

    def wrap(self, call: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                time.sleep(0.05)
                answer = call(*args, **kwargs)
                return list(answer) if not isinstance(answer, list) else answer
            finally:
                with self._lock:
                    self.now -= 1

        return counted


# Issue: the enrich stage reads the cache of up to 8 subscriptions at once, each in up to 8
# queries side by side, over one client whose connection pool holds 32, while the reads made
# from ARM are written in transactions side by side: past 32, urllib3 discards connections
# ("Connection pool is full") and the next requests connect afresh.
#   GIVEN 12 subscriptions' cached rows on Azurite, 112 VMs each (8 queries of 14 rows)
#   WHEN  8 subscriptions' rows are read at once, as discovery reads them, while 300 new
#         reads are written (3 transactions)
#   THEN  every row is found and written, at most TABLE_CONNECTIONS requests are under way
#         at once, and urllib3 discards no connection
def test_many_subscriptions_read_at_once_stay_within_the_connection_pool(
    azurite: Azurite, caplog: pytest.LogCaptureFixture
) -> None:
    table = AzureEntityTable(StorageEndpoints(azurite.connection_string), "cachepool")
    rows = {f"rg-x.(1):vm-{index:03d}": {"n": index} for index in range(112)}
    partitions = [f"sub-{index:02d}" for index in range(12)]
    for partition in partitions:
        table.upsert_many(partition, rows)
    new = {f"rg-y.(1):vm-{index:03d}": {"n": index} for index in range(300)}
    counter = InFlight()
    client = table._client
    client.query_entities = counter.wrap(client.query_entities)  # type: ignore[method-assign]
    client.submit_transaction = counter.wrap(client.submit_transaction)  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger="urllib3")
    with ThreadPoolExecutor(9) as pool:
        written = pool.submit(table.upsert_many, "sub-new", new)
        found = list(pool.map(lambda partition: table.get_many(partition, list(rows)), partitions))
        written.result()
    assert [len(one) for one in found] == [112] * 12
    assert len(table.get_many("sub-new", list(new))) == 300
    assert 8 < counter.most <= TABLE_CONNECTIONS, counter.most
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
