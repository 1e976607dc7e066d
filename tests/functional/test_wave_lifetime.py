"""A VM's record outlives its wave: a later wave of the same VM is a wave of its own.

Real parts: the enrich stage and the sweep timer (from ``function_app.app``) on Azurite, the
stand-in ARM, ``forewarn wave show`` reading the same tables.

GIVEN wave A told about app-1 (Alice claimed it, a reminder went out) and then ended
WHEN months later app-1 has maintenance again
THEN
    | how B comes                       | B's first word about app-1            | record after  |
    | Azure's Planned notice of B       | Azure's notice (its own thread: B)    | tracking B    |
    | the sweep alone (no notice)       | vm_added, not "rescheduled" under A   | not A's       |
    | the VM was deleted, a new one of  | vm_added                              | not the old   |
    |   the same name comes into A      |                                       |   VM's sends  |
and in each case B's record keeps none of A's sends, Alice owns nothing of B, and
``forewarn wave show A`` still lists app-1 with what A told about it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

import function_app
from functions import enrich
from shared import names
from shared.cli import main
from shared.devhost.catalog import functions_of
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from shared.standins.arm_server import ArmStandIn
from shared.storage import StorageServices
from shared.timeutil import format_utc
from shared.wave.claims import ClaimStore
from shared.wave.history import TableWaveHistory
from shared.wave.records import MaintenanceRecord, SentNotice, TableRecordStore
from tests.support.azurite import Azurite
from tests.support.truth_oracle import board_text_untrue
from tests.support.wave_setup import enrich_notice, take_messages

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
ROUTING = """\
version: 1
receivers:
  - name: ops-email
    type: email
    targets: [ops@example.com]
    options: {from: forewarn@example.com, smtp_host: smtp.example.com}
route:
  receivers: [ops-email]
"""


def windows(days_from_now: int) -> dict[str, object]:
    start = NOW + timedelta(days=days_from_now)
    end = start + timedelta(days=14)
    return redeploy_status(start, end, end + timedelta(minutes=5), end + timedelta(days=1))


@dataclass
class World:
    fleet: Fleet
    subscription: str
    environ: dict[str, str]
    storage: StorageServices
    records: TableRecordStore
    claims: ClaimStore
    wave_a: str
    wave_b: str

    @property
    def vm_id(self) -> str:
        group = f"/subscriptions/{self.subscription}/resourceGroups/rg-app"
        return f"{group}/providers/Microsoft.Compute/virtualMachines/app-1"

    def record(self) -> MaintenanceRecord:
        found = self.records.get(self.vm_id)
        assert found is not None
        return found

    def notice(self, tracking_id: str, stage: str = "Planned") -> None:
        event = maintenance_event([self.subscription], tracking_id=tracking_id, stage=stage)
        enrich_notice(
            self.storage, self.environ, replace(event, event_id=f"{event.event_id}-{stage}")
        )

    def sweep(self) -> list[dict[str, Any]]:
        """The wave timers' events the sweep queued (Azure's notices taken off as well)."""
        functions_of(function_app.app)[names.FUNCTION_SWEEP].get_user_function()(
            TimerRequest(past_due=False)
        )
        return [
            body
            for body in self.take_queued()
            if str(body["event"].get("operation_name")).startswith("forewarn/wave/")
        ]

    def take_queued(self) -> list[dict[str, Any]]:
        """This test's events on ``enriched`` (others' left alone for their own tests)."""
        courier = self.storage.courier

        def mine(text: str) -> bool:
            event = courier.open(text).body.get("event", {})
            return self.subscription in event.get("subscription_ids", [])

        taken = take_messages(self.environ[names.STORAGE_CONNECTION], names.QUEUE_ENRICHED, mine)
        return [dict(courier.open(text).body) for text in taken]

    def board(self, tracking_id: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
        capsys.readouterr()
        assert main(["wave", "show", tracking_id, "--json"]) == 0
        return dict(json.loads(capsys.readouterr().out))


@pytest.fixture
def world(azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    subscription = str(uuid.uuid4())
    tag = subscription[:8].upper()
    fleet = Fleet().add(FleetVm(subscription, "rg-app", "app-1", maintenance=windows(1)))
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    with ArmStandIn(fleet) as arm:
        environ = {
            names.STORAGE_CONNECTION: azurite.connection_string,
            names.SETTING_ARM_ENDPOINT: arm.base_url,
            names.SETTING_ARM_TOKEN: arm.token,
            names.SETTING_CONFIG: str(routing),
            names.SETTING_SWEEP_SUBSCRIPTIONS: subscription,
        }
        for key, value in environ.items():
            monkeypatch.setenv(key, value)
        enrich._stage.cache_clear()
        storage = StorageServices.from_settings(environ)
        world = World(
            fleet,
            subscription,
            environ,
            storage,
            TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)),
            ClaimStore(storage.table(names.TABLE_CLAIMS)),
            f"A-{tag}",
            f"B-{tag}",
        )
        # GIVEN wave A told about app-1; Alice claimed it; its 72 h reminder went out.
        world.notice(world.wave_a)
        world.claims.claim_vm(world.vm_id, "Alice", "ops-email", NOW)
        told_at = format_utc(NOW - timedelta(days=30))
        reminded = replace(world.record(), first_seen=told_at).with_sent(
            SentNotice(
                "reminder:self_service-72h:X", "reminder", "wave-reminder-1", format_utc(NOW)
            )
        )
        world.records.put(reminded)
        yield world
        world.take_queued()
        enrich._stage.cache_clear()


def a_sends(record: MaintenanceRecord, wave_a: str) -> list[str]:
    """What the record says was sent in wave A: its notices and the reminder of the fixture."""
    return [
        sent.key
        for sent in record.sent
        if "reminder" in sent.key or f"-{wave_a}-" in f"-{sent.notice_id}-"
    ]


def test_azure_notice_of_a_new_wave_starts_the_vm_afresh(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    a_first_seen = world.record().first_seen
    # A ended by Azure's own Complete notice (no sweep in between: the claim is still there).
    world.notice(world.wave_a, stage="Complete")
    assert world.record().status == "completed"
    # WHEN months later Azure announces wave B for the same VM, with new windows.
    vm = world.fleet.find(world.vm_id)
    assert vm is not None
    vm.maintenance = windows(90)
    world.notice(world.wave_b)
    record = world.record()
    assert (record.tracking_id, record.status) == (world.wave_b, "pending")
    assert a_sends(record, world.wave_a) == []
    assert [sent.kind for sent in record.sent] == ["announced"]
    assert record.first_seen != a_first_seen
    # Alice's claim was on A's maintenance: B's messages do not name her.
    assert world.claims.ownership().owners_of(world.vm_id, world.wave_b) == {}
    # THEN the board of A still shows app-1 as A left it; B's board shows B's alone.
    board_a = world.board(world.wave_a, capsys)
    [row_a] = board_a["vms"]
    assert row_a["state"] == "completed"
    assert {told["kind"] for told in row_a["told"]} >= {"announced", "reminder"}
    [row_b] = world.board(world.wave_b, capsys)["vms"]
    assert (row_b["state"], [told["kind"] for told in row_b["told"]]) == ("pending", ["announced"])
    assert row_b["owners"] == []
    # Each board's text, read by the truth oracle against the record of its own wave.
    history = TableWaveHistory(world.storage.table(names.TABLE_ENDED_RECORDS))
    ownership = world.claims.ownership()
    for wave, records in ((world.wave_a, history.of_wave(world.wave_a)), (world.wave_b, [record])):
        capsys.readouterr()
        assert main(["wave", "show", wave, "--timezone", "UTC"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert board_text_untrue(lines, records, ownership, "UTC", datetime.now(UTC)) == []


def test_the_sweep_tells_a_later_maintenance_as_new_not_as_a_reschedule_of_the_old_wave(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    vm = world.fleet.find(world.vm_id)
    assert vm is not None
    # A is done: the sweep finds its maintenance information gone.
    vm.maintenance = None
    [done] = world.sweep()
    assert done["event"]["operation_name"] == "forewarn/wave/completed"
    assert world.record().status == "completed"
    # WHEN months later app-1 has maintenance again, and no notice named it.
    vm.maintenance = windows(90)
    [found] = world.sweep()
    # THEN it is told as found, not as A rescheduled (which would thread into A's messages).
    assert found["event"]["operation_name"] == "forewarn/wave/vm_added"
    assert found["event"]["tracking_id"] != world.wave_a
    record = world.record()
    assert record.status == "pending" and record.tracking_id != world.wave_a
    assert a_sends(record, world.wave_a) == []
    assert [sent.kind for sent in record.sent] == ["vm_added"]
    [row_a] = world.board(world.wave_a, capsys)["vms"]
    assert row_a["state"] == "completed"


def test_a_new_vm_of_the_same_name_keeps_nothing_of_the_deleted_one(world: World) -> None:
    vm = world.fleet.find(world.vm_id)
    assert vm is not None
    del world.fleet.vms[world.vm_id.lower()]
    [gone] = world.sweep()
    assert gone["event"]["operation_name"] == "forewarn/wave/gone"
    # WHEN a new VM of the same name appears, with maintenance planned.
    world.fleet.add(FleetVm(world.subscription, "rg-app", "app-1", maintenance=windows(3)))
    [added] = world.sweep()
    assert added["event"]["operation_name"] == "forewarn/wave/vm_added"
    record = world.record()
    assert record.status == "pending"
    assert a_sends(record, world.wave_a) == []
    assert [sent.kind for sent in record.sent] == ["vm_added"]
    assert world.claims.ownership().owners_of(world.vm_id, record.tracking_id) == {}
