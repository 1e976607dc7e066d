"""Each transition of a VM's maintenance record, as a table: GIVEN its record, WHEN the sweep
sees the VM so (instance views built on Microsoft's planned-maintenance sample), THEN this
notice and this record status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.models import Advice, EnrichedEvent, VirtualMachine
from shared.standins.arm_fleet import FleetVm, maintenance_event, redeploy_status, window_from
from shared.wave.notices import RESCHEDULED_WHY, notice_events
from shared.wave.records import InMemoryRecordStore, MaintenanceRecord, record_announced
from shared.wave.sweep import GONE, Seen, assess

NOW = datetime(2030, 3, 10, 12, tzinfo=UTC)
WAVE_START = datetime(2030, 3, 1, 9, tzinfo=UTC)
SUB = "5f2d7a5e-0d1a-4bd5-9d43-6a3c1b0e8f11"


def vm(maintenance: dict[str, Any] | None) -> VirtualMachine:
    fleet_vm = FleetVm(SUB, "rg-web", "web-1", maintenance=maintenance)
    read = to_virtual_machine(VmRef(fleet_vm.id), fleet_vm.model(), fleet_vm.instance_view())
    return replace(read, advice=Advice("self_service", [], self_service_advised=True))


PLANNED = window_from(WAVE_START)
MOVED = window_from(WAVE_START + timedelta(days=3))
DONE = {**PLANNED, "lastOperationResultCode": "MaintenanceCompleted"}


def record(status: str, maintenance: dict[str, Any] | None = PLANNED) -> MaintenanceRecord:
    made = MaintenanceRecord.from_vm(vm(maintenance), tracking_id="BC_1-FXZ", now="2030-03-01Z")
    return replace(made, status=status)  # type: ignore[arg-type]


CASES = [
    # GIVEN record          WHEN seen            THEN notice        record status
    ("no record", None, vm(PLANNED), "vm_added", "pending"),
    ("no record, done", None, vm(DONE), None, None),
    ("no record, nothing", None, vm(None), None, None),
    ("pending, same", record("pending"), vm(PLANNED), None, None),
    ("pending, deleted", record("pending"), GONE, "gone", "gone"),
    ("pending, info gone", record("pending"), vm(None), "completed", "completed"),
    ("pending, result", record("pending"), vm(DONE), "completed", "completed"),
    ("pending, moved", record("pending"), vm(MOVED), "rescheduled", "rescheduled"),
    ("rescheduled, same", record("rescheduled", MOVED), vm(MOVED), None, None),
    ("completed, again", record("completed"), vm(MOVED), "rescheduled", "rescheduled"),
    ("completed, nothing", record("completed"), vm(None), None, None),
    ("completed, deleted", record("completed"), GONE, None, None),
    ("gone, recreated", record("gone"), vm(MOVED), "vm_added", "pending"),
    ("gone, deleted", record("gone"), GONE, None, None),
    ("completed, same", record("completed"), vm(PLANNED), None, "pending"),
]


@pytest.mark.parametrize(
    ("given", "seen", "notice", "status"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_transition(
    given: MaintenanceRecord | None, seen: Seen, notice: str | None, status: str | None
) -> None:
    found = assess(given, seen, NOW, wave_guess="BC_1-FXZ")
    assert (found.notice.kind if found.notice else None) == notice
    assert (found.record.status if found.record else None) == status


def test_a_completed_record_keeps_the_windows_it_was_done_in() -> None:
    found = assess(record("pending"), vm(None), NOW)
    assert found.record is not None
    assert found.record.scheduled_window.start == PLANNED["maintenanceWindowStartTime"][:19] + "Z"


def test_an_allowed_flag_that_changes_is_written_without_a_notice() -> None:
    closed = {**PLANNED, "isCustomerInitiatedMaintenanceAllowed": False}
    found = assess(record("pending"), vm(closed), NOW)
    assert found.notice is None
    assert found.record is not None and found.record.allowed_now is False


def test_a_vm_added_is_due_by_its_self_service_end_and_keeps_the_guessed_wave() -> None:
    found = assess(None, vm(PLANNED), NOW, wave_guess="BC_1-FXZ")
    assert found.notice is not None
    assert found.notice.due == "2030-03-31T09:00:00Z"
    assert found.notice.tracking_id == "BC_1-FXZ"
    assert found.record is not None and found.record.tracking_id == "BC_1-FXZ"


def test_a_rescheduling_says_the_new_windows_and_the_ones_people_were_told() -> None:
    found = assess(record("pending"), vm(MOVED), NOW)
    assert found.notice is not None
    assert found.notice.detail == (
        "now self-service 2030-03-04T09:00:00Z to 2030-04-03T09:00:00Z, "
        "scheduled 2030-04-03T09:05:00Z to 2030-04-04T09:00:00Z "
        "(was self-service 2030-03-01T09:00:00Z to 2030-03-31T09:00:00Z, "
        "scheduled 2030-03-31T09:05:00Z to 2030-04-01T09:00:00Z)"
    )


def test_notices_become_one_event_per_kind_and_wave_with_a_stable_id() -> None:
    moved = assess(record("pending"), vm(MOVED), NOW).notice
    added = assess(None, vm(PLANNED), NOW, wave_guess="BC_1-FXZ").notice
    assert moved is not None and added is not None
    events = notice_events([moved, added], NOW)
    assert [(e.event.stage, len(e.vms)) for e, _ in events] == [("Rescheduled", 1), ("Planned", 1)]
    rescheduled = events[0][0].event
    assert RESCHEDULED_WHY in rescheduled.summary
    assert rescheduled.operation_name == "forewarn/wave/rescheduled"
    again = notice_events([moved, added], NOW + timedelta(hours=6))
    assert [e.event.event_id for e, _ in again] == [e.event.event_id for e, _ in events]


def test_a_second_rescheduling_is_a_new_event() -> None:
    first = assess(record("pending"), vm(MOVED), NOW).notice
    later = redeploy_status(
        WAVE_START + timedelta(days=9),
        WAVE_START + timedelta(days=20),
        WAVE_START + timedelta(days=21),
        WAVE_START + timedelta(days=22),
    )
    second = assess(record("rescheduled", MOVED), vm(later), NOW).notice
    assert first is not None and second is not None
    ids = {notice_events([n], NOW)[0][0].event.event_id for n in (first, second)}
    assert len(ids) == 2


def test_azure_closing_the_wave_closes_its_records_quietly() -> None:
    """GIVEN open records of wave BC_1-FXZ, WHEN Azure's Canceled notice for it is enriched,
    THEN they are closed (Azure's own notice tells people), and a sweep that then finds the
    maintenance information gone says nothing more."""
    store = InMemoryRecordStore()
    open_record = record("pending")
    web_2 = replace(vm(PLANNED), id=vm(PLANNED).id.replace("web-1", "web-2"), name="web-2")
    other_wave = MaintenanceRecord.from_vm(web_2, tracking_id="OTHER", now="2030-03-01Z")
    store.put(open_record)
    store.put(other_wave)
    cancel = replace(
        maintenance_event([SUB], tracking_id="BC_1-FXZ", stage="Canceled"), event_id="c1"
    )
    record_announced(EnrichedEvent.without_vms(cancel, "2030-03-05T00:00:00Z"), store)
    closed = store.get(open_record.vm_id)
    assert closed is not None and closed.status == "completed"
    assert [s.kind for s in closed.sent][-1] == "canceled"
    assert store.get(other_wave.vm_id) == other_wave
    assert assess(closed, vm(None), NOW).notice is None
