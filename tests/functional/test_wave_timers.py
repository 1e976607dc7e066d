"""The sweep and reminder timers as the Functions host calls them (from ``function_app.app``),
on Azurite and the stand-in ARM.

GIVEN a wave's notice was enriched (records written), WHEN a VM then appears mid-wave and the
sweep timer fires, THEN a ``vm_added`` event is on the ``enriched`` queue and the VM has a
record. GIVEN a record told three days ago whose self-service window closes in 60 hours, WHEN
the reminder timer fires, THEN one 72-hour reminder is queued and recorded, and firing again
queues nothing. The schedules come from settings, with defaults.
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
from shared.devhost.catalog import functions_of
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from shared.standins.arm_server import ArmStandIn
from shared.storage import StorageServices
from shared.timeutil import format_utc
from shared.wave.records import TableRecordStore
from shared.wave.runner import DEFAULT_REMINDER_SCHEDULE, DEFAULT_SWEEP_SCHEDULE
from tests.support.azurite import Azurite
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


def closing_in(hours: int) -> dict[str, object]:
    end = NOW + timedelta(hours=hours)
    return redeploy_status(
        NOW - timedelta(days=5), end, end + timedelta(minutes=5), end + timedelta(days=1)
    )


@dataclass
class Timers:
    fleet: Fleet
    subscription: str
    environ: dict[str, str]
    records: TableRecordStore

    def fire(self, function_name: str) -> None:
        functions_of(function_app.app)[function_name].get_user_function()(
            TimerRequest(past_due=False)
        )

    def queued(self) -> list[dict[str, object]]:
        """The wave's events on ``enriched`` about this test's subscription (others' left alone)."""
        courier = StorageServices.from_settings(self.environ).courier

        def event_of(text: str) -> dict[str, Any]:
            return dict(courier.open(text).body.get("event", {}))

        taken = take_messages(
            self.environ[names.STORAGE_CONNECTION],
            names.QUEUE_ENRICHED,
            lambda text: self.subscription in event_of(text).get("subscription_ids", []),
        )
        bodies = [courier.open(text).body for text in taken]
        # The wave timers' events, not the wave's first notice (taken off the queue all the same).
        return [
            body
            for body in bodies
            if str(body.get("event", {}).get("operation_name")).startswith("forewarn/wave/")
        ]


@pytest.fixture
def timers(azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Timers]:
    subscription = str(uuid.uuid4())
    fleet = Fleet().add(FleetVm(subscription, "rg-app", "app-1", maintenance=closing_in(24 * 20)))
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    with ArmStandIn(fleet) as arm:
        environ = {
            names.STORAGE_CONNECTION: azurite.connection_string,
            names.SETTING_ARM_ENDPOINT: arm.base_url,
            names.SETTING_ARM_TOKEN: arm.token,
            names.SETTING_CONFIG: str(routing),
            # Only this test's subscription: records of other tests share the table.
            names.SETTING_SWEEP_SUBSCRIPTIONS: subscription,
        }
        for key, value in environ.items():
            monkeypatch.setenv(key, value)
        enrich._stage.cache_clear()
        storage = StorageServices.from_settings(environ)
        enrich_notice(storage, environ, maintenance_event([subscription], tracking_id="TIMER-1"))
        records = TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS))
        yield Timers(fleet, subscription, environ, records)
        enrich._stage.cache_clear()


def test_schedules_default_to_six_hours_and_hourly() -> None:
    bindings = {
        name: json.loads(functions_of(function_app.app)[name].get_function_json())["bindings"][0]
        for name in (names.FUNCTION_SWEEP, names.FUNCTION_REMINDERS)
    }
    assert bindings[names.FUNCTION_SWEEP]["schedule"] == DEFAULT_SWEEP_SCHEDULE == "0 0 */6 * * *"
    assert bindings[names.FUNCTION_REMINDERS]["schedule"] == DEFAULT_REMINDER_SCHEDULE
    assert {b["type"] for b in bindings.values()} == {"timerTrigger"}


def test_the_sweep_timer_announces_a_vm_added_mid_wave(timers: Timers) -> None:
    timers.fleet.add(
        FleetVm(timers.subscription, "rg-app", "late-1", maintenance=closing_in(24 * 20))
    )
    timers.fire(names.FUNCTION_SWEEP)
    [body] = timers.queued()
    assert body["event"]["operation_name"] == "forewarn/wave/vm_added"
    assert body["event"]["tracking_id"] == "TIMER-1"
    assert [vm["name"] for vm in body["vms"]] == ["late-1"]
    added = {r.vm.name: r.status for r in timers.records.of_subscription(timers.subscription)}
    assert added == {"app-1": "pending", "late-1": "pending"}
    timers.fire(names.FUNCTION_SWEEP)
    assert timers.queued() == []


def test_the_reminder_timer_reminds_once_after_reading_the_vm_again(timers: Timers) -> None:
    [record] = timers.records.of_subscription(timers.subscription)
    vm = timers.fleet.find(record.vm_id)
    assert vm is not None
    vm.maintenance = closing_in(60)
    # GIVEN people were told three days ago of a window that now closes in 60 hours.
    told = format_utc(NOW - timedelta(days=3))
    moved = replace(
        record,
        first_seen=told,
        self_service_window=replace(
            record.self_service_window, end=format_utc(NOW + timedelta(hours=60))
        ),
        scheduled_window=replace(
            record.scheduled_window,
            start=format_utc(NOW + timedelta(hours=60, minutes=5)),
            end=format_utc(NOW + timedelta(hours=84)),
        ),
    )
    timers.records.put(moved)
    timers.fire(names.FUNCTION_REMINDERS)
    [body] = timers.queued()
    assert body["event"]["operation_name"] == "forewarn/wave/reminder/self_service-72h"
    assert body["event"]["title"] == "Reminder: self-service window closes in 72h for 1 VM"
    after = timers.records.get(record.vm_id)
    assert after is not None
    assert [s.kind for s in after.sent][-1] == "reminder"
    timers.fire(names.FUNCTION_REMINDERS)
    assert timers.queued() == []


def test_no_reminder_for_a_vm_already_done(timers: Timers) -> None:
    [record] = timers.records.of_subscription(timers.subscription)
    vm = timers.fleet.find(record.vm_id)
    assert vm is not None
    vm.maintenance = None  # maintained since: the instance view shows nothing planned
    timers.records.put(
        replace(
            record,
            first_seen=format_utc(NOW - timedelta(days=3)),
            self_service_window=replace(
                record.self_service_window, end=format_utc(NOW + timedelta(hours=60))
            ),
        )
    )
    timers.fire(names.FUNCTION_REMINDERS)
    [body] = timers.queued()
    assert body["event"]["operation_name"] == "forewarn/wave/completed"
    after = timers.records.get(record.vm_id)
    assert after is not None and after.status == "completed"
