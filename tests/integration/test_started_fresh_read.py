"""An alert that a started maintenance is under way or done reads its VMs fresh from ARM.

The instance-view cache keeps a VM's read for 5 minutes. When someone starts a VM's
maintenance just after forewarn read it (the wave's notice, the sweep), Azure's Succeeded
alert came within those 5 minutes, its VM was taken from the cache (maintenance pending) and
the message was headed "Maintenance started" although ARM already said completed; only the
sweep said "completed" later. Such an alert now skips the cache for the VMs it names, and
only for them.

Real parts: the Administrative alert through ingest, the enrich stage reading the stand-in
ARM on 127.0.0.1, the instance-view cache in Azurite, routing rendering every channel.

    GIVEN wave TRK-1 announced for sql-01 and sql-02 (their reads cached in Azurite)
    WHEN  alice's performMaintenance of sql-01 ends and its Succeeded alert comes 2 minutes
          after the announcement (the cache still holds sql-01 pending)
    THEN  every channel's heading reads "Maintenance completed: sql-01: by …", sql-01's
          record is completed, ARM was asked for sql-01 once more and for sql-02 not at all,
          and the truth oracle finds no heading its records contradict
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.enrich.instance_view import TableInstanceViewCache
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event
from shared.storage import AzureEntityTable, StorageEndpoints
from tests.functional.test_started_maintenance import (
    NOW,
    SUBSCRIPTION,
    administrative_alert,
    ingest,
    vm_id,
    windows,
)
from tests.support.azurite import Azurite
from tests.support.truth_oracle import judge, start_heading_untrue
from tests.support.wave_harness import WaveHarness, wave_harness

pytestmark = pytest.mark.integration


@pytest.fixture
def wave(azurite: Azurite) -> Iterator[WaveHarness]:
    fleet = Fleet().add(
        FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=windows()),
        FleetVm(SUBSCRIPTION, "rg-data", "sql-02", maintenance=windows()),
    )
    # A table of its own: the cache's rows in Azurite outlive the test.
    table = AzureEntityTable(
        StorageEndpoints(azurite.connection_string), f"views{uuid.uuid4().hex[:12]}"
    )
    with wave_harness(fleet, NOW, cache=TableInstanceViewCache(table)) as harness:
        harness.notice(maintenance_event([SUBSCRIPTION], tracking_id="TRK-1"))
        yield harness


def test_a_succeeded_alert_within_the_cache_says_what_arm_says(wave: WaveHarness) -> None:
    reads = dict(wave.arm.per_vm_reads)
    wave.now += timedelta(minutes=2)  # well within the cache's 5 minutes
    wave.fleet.vms[vm_id("sql-01").lower()].maintenance = {
        **windows(),
        "lastOperationResultCode": "MaintenanceCompleted",
    }
    sent = ingest(wave, administrative_alert("sql-01", "Succeeded", "2030-03-02T09:01:30Z"))
    assert sent
    for message in sent:
        if message.job.receiver.type == "webhook":
            continue
        heading = message.job.message.text.splitlines()[0]
        if message.job.receiver.type == "email":
            heading = message.job.message.subject
        assert heading.startswith("Maintenance completed: sql-01: by"), heading
    record = wave.records.get(vm_id("sql-01"))
    assert record is not None and record.status == "completed"
    after = wave.arm.per_vm_reads
    assert after[vm_id("sql-01").lower()] == reads.get(vm_id("sql-01").lower(), 0) + 1
    assert after[vm_id("sql-02").lower()] == reads.get(vm_id("sql-02").lower(), 0)
    assert not judge(sent, [start_heading_untrue])
