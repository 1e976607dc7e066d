"""Log Analytics: quietest hours for a 2,000-VM event, and a catch-up over 30 days.

    python -m bench.loganalytics [--quick]

Both run the real ``LogsQueryClient`` (azure-monitor-query) against the stand-in workspace on
127.0.0.1 (shared/standins/loganalytics_server.py), which answers the real response shape.

  quietest  2,000 VMs advised to self-serve, each with 14 days of hourly CPU readings in the
            workspace (672,000 readings); one enrichment's ``add_quietest_hours``.
            Prints queries made (goal: 1), rows, VMs hinted, wall time, and how much of it is
            the stand-in answering (a bare HTTP POST of the same query) vs forewarn's client.
  catch-up  10,000 AzureActivity rows over 30 days (90 % already received, 5 % missing, 5 % not
            for forewarn); one pass with ``--since`` 30 days back, then a second pass over the
            same window. Storage is in memory here: the figure is the query, the mapping of
            each row through ``parse_alert`` and the dedup, not Azurite's speed (a table
            lookup per row there: ~2 ms each on this machine).

``--quick`` scales down to 200 VMs and 1,000 rows.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from shared import names
from shared.loganalytics.catchup import CatchUp
from shared.loganalytics.client import STAND_IN_TOKEN, LogAnalyticsReader, LogsSettings
from shared.loganalytics.quietest import add_quietest_hours, quietest_query
from shared.models import Advice, MaintenanceStatus, TimeWindow, VirtualMachine
from shared.standins.cpu_history import hourly_cpu
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.storage import (
    InMemoryEntityTable,
    InMemoryPayloadStore,
    InMemoryQueuePublisher,
    StorageServices,
)
from shared.timeutil import format_utc

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SUBSCRIPTION = "22222222-3333-4444-5555-666666666666"


def fleet(count: int) -> list[VirtualMachine]:
    window = TimeWindow(format_utc(NOW), format_utc(NOW + timedelta(days=14)))
    scheduled = TimeWindow(
        format_utc(NOW + timedelta(days=14)), format_utc(NOW + timedelta(days=15))
    )
    return [
        VirtualMachine(
            id=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-{i % 20}/providers/"
            f"Microsoft.Compute/virtualMachines/vm-{i:05d}",
            name=f"vm-{i:05d}",
            subscription_id=SUBSCRIPTION,
            resource_group=f"rg-{i % 20}",
            location="eastus",
            maintenance=MaintenanceStatus(True, window, scheduled),
            advice=Advice("self_service", []),
        )
        for i in range(count)
    ]


def quietest(count: int) -> bool:
    vms = fleet(count)
    with LogAnalyticsStandIn() as workspace:
        seeded = time.perf_counter()
        for index, vm in enumerate(vms):
            quiet_at = NOW + timedelta(hours=5 + index % 160)
            workspace.add_cpu(vm.id, hourly_cpu(NOW, quiet_at))  # type: ignore[attr-defined]
        seeded = time.perf_counter() - seeded
        settings = LogsSettings(workspace.workspace_id, workspace.base_url)  # type: ignore[attr-defined]
        reader = LogAnalyticsReader(settings)

        started = time.perf_counter()
        hinted, notes = add_quietest_hours(vms, reader, NOW)
        wall = time.perf_counter() - started

        # The same query as a bare POST: what the stand-in and the transfer cost on their own.
        query = quietest_query([vm.id for vm in vms])
        raw = time.perf_counter()
        answer = requests.post(
            f"{workspace.base_url}/v1/workspaces/{workspace.workspace_id}/query",  # type: ignore[attr-defined]
            json={
                "query": query.text(),
                "timespan": f"{format_utc(NOW - timedelta(days=14))}/{format_utc(NOW)}",
            },
            headers={"Authorization": f"Bearer {STAND_IN_TOKEN}"},
            timeout=300,
        )
        raw = time.perf_counter() - raw
    with_hint = sum(vm.quietest_hour is not None for vm in hinted)
    print(f"quietest: {count:,} VMs, {count * 14 * 24:,} readings (seeded in {seeded:.1f} s)")
    print(f"  queries: {reader.stats.queries} (goal 1, ratio {reader.stats.queries / 1:.2f})")
    print(
        f"  rows returned: {reader.stats.rows:,} (one per VM, its hours as a list); "
        f"response {len(answer.content) / 1e6:.1f} MB"
    )
    print(f"  VMs with a hint: {with_hint:,} of {count:,}; notes: {len(notes)}")
    print(f"  query text: {len(query.text()) / 1000:.0f} kB (the VM ids, base64-encoded)")
    print(
        f"  wall {wall:.2f} s = stand-in + transfer {raw:.2f} s + forewarn client "
        f"{max(0.0, wall - raw):.2f} s; per VM {1000 * wall / count:.2f} ms"
    )
    return reader.stats.queries == 1 and with_hint == count and not notes


def activity_rows(count: int) -> tuple[list[dict[str, object]], int, int, int]:
    """Rows over 30 days: 90 % received, 5 % missing, 5 % user-initiated (not for forewarn)."""
    rows: list[dict[str, object]] = []
    received = missing = ignored = 0
    step = timedelta(days=30) / count
    for index in range(count):
        moment = NOW - timedelta(days=30) + step * index + timedelta(seconds=1)
        bucket = index % 20
        if bucket == 19:
            ignored += 1
            rows.append(
                {
                    "TimeGenerated": moment.isoformat(),
                    "CategoryValue": "ResourceHealth",
                    "SubscriptionId": SUBSCRIPTION,
                    "EventDataId": str(uuid.uuid4()),
                    "OperationNameValue": "Microsoft.Resourcehealth/healthevent/Activated/action",
                    "ActivityStatusValue": "Active",
                    "Level": "Informational",
                    "_ResourceId": f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg/providers/"
                    f"microsoft.compute/virtualmachines/vm-{index}",
                    "Properties_d": {
                        "title": "Virtual Machine health status changed to unavailable",
                        "currentHealthStatus": "Unavailable",
                        "cause": "UserInitiated",
                        "type": "Downtime",
                    },
                }
            )
            continue
        if bucket == 18:
            missing += 1
        else:
            received += 1
        rows.append(
            {
                "TimeGenerated": moment.isoformat(),
                "CategoryValue": "ServiceHealth",
                "SubscriptionId": SUBSCRIPTION,
                "EventDataId": str(uuid.uuid4()),
                "OperationNameValue": "Microsoft.ServiceHealth/maintenance/action",
                "ActivityStatusValue": "Active",
                "Level": "Informational",
                "Properties_d": {
                    "title": "Virtual Machines Scheduled Maintenance Pending",
                    "service": "Virtual Machines",
                    "region": "East US",
                    "incidentType": "Maintenance",
                    "trackingId": f"BENCH-{index % 97}",
                    "communicationId": uuid.uuid4().hex,
                    "stage": "Planned",
                    "impactedServices": '[{"ImpactedRegions":[{"RegionName":"East US"}],'
                    '"ServiceName":"Virtual Machines"}]',
                    "communication": "<p>Planned maintenance</p>",
                    "bucket": bucket,
                },
            }
        )
    return rows, received, missing, ignored


class IndexedTable(InMemoryEntityTable):
    """The in-memory table with a partition index: its ``query`` sorts the whole table on each
    call, which would make this benchmark measure the fake instead of the catch-up."""

    def __init__(self) -> None:
        super().__init__()
        self.partitions: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def upsert(self, partition: str, row: str, entity: Mapping[str, Any]) -> None:
        super().upsert(partition, row, entity)
        self.partitions[partition].append({**entity, "PartitionKey": partition, "RowKey": row})

    def query(self, partition: str | None = None) -> Iterator[dict[str, Any]]:
        if partition is None:
            yield from super().query()
        else:
            yield from self.partitions.get(partition, [])


def catch_up(count: int) -> bool:
    rows, received, missing, ignored = activity_rows(count)
    storage = StorageServices(
        InMemoryQueuePublisher(), InMemoryPayloadStore(), lambda _: IndexedTable()
    )
    with LogAnalyticsStandIn() as workspace:
        for row in rows:
            workspace.add_activity(row)  # type: ignore[attr-defined]
        settings = LogsSettings(workspace.workspace_id, workspace.base_url)  # type: ignore[attr-defined]
        reader = LogAnalyticsReader(settings)
        runner = CatchUp(
            reader,
            storage.courier,
            storage.table(names.TABLE_CATCHUP),
            storage.table(names.TABLE_IDEMPOTENCY),
            subscriptions=[SUBSCRIPTION],
        )
        # The webhook brought 90 %: their delivery-ledger rows exist.
        dry = runner.run(since=NOW - timedelta(days=31), dry_run=True)
        for finding, row in zip(dry.findings, rows, strict=True):
            props = row["Properties_d"]
            if finding.event_id and isinstance(props, dict) and props.get("bucket") != 18:
                storage.table(names.TABLE_IDEMPOTENCY).upsert(
                    finding.event_id, "ops", {"state": "delivered"}
                )

        started = time.perf_counter()
        first = runner.run(since=NOW - timedelta(days=31))
        first_wall = time.perf_counter() - started
        started = time.perf_counter()
        second = runner.run(since=NOW - timedelta(days=31))
        second_wall = time.perf_counter() - started
    verdicts = {
        v: sum(f.verdict == v for f in first.findings) for v in ("received", "missing", "ignored")
    }
    print(f"catch-up: {count:,} AzureActivity rows over 30 days")
    print(f"  queries per pass: 1; rows read: {len(first.findings):,}")
    print(
        f"  first pass: {verdicts['received']:,} received, {verdicts['missing']:,} missing "
        f"(queued {len(first.queued):,}), {verdicts['ignored']:,} ignored; {first_wall:.2f} s "
        f"({1000 * first_wall / count:.3f} ms per row)"
    )
    print(f"  second pass over the same window: {len(second.queued)} queued; {second_wall:.2f} s")
    ok = (
        verdicts == {"received": received, "missing": missing, "ignored": ignored}
        and len(first.queued) == missing
        and not second.queued
        and reader.stats.queries == 3
    )
    return ok


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    good = quietest(200 if quick else 2_000)
    good = catch_up(1_000 if quick else 10_000) and good
    print("verdict:", "goals met" if good else "GOALS NOT MET")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
