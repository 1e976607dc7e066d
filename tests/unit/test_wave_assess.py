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
from shared.wave.announcements import begins_new_wave, record_announced
from shared.wave.notices import RESCHEDULED_WHY, notice_events
from shared.wave.records import InMemoryRecordStore, MaintenanceRecord, SentNotice
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


# A later maintenance of a VM whose wave is over is a wave of its own (wave/history.py).
SENT_IN_A = record("completed").with_sent(
    SentNotice("reminder:self_service-72h:X", "reminder", "wave-reminder-1", "2030-03-02Z")
)
LATER_CASES = [
    # GIVEN record, wave running in the VM's region   THEN notice, its wave, record afresh
    ("done, its wave over", SENT_IN_A, vm(MOVED), None, "vm_added", None, True),
    ("done, another wave", SENT_IN_A, vm(MOVED), "OTHER-1", "vm_added", "OTHER-1", True),
    ("done, own wave on", SENT_IN_A, vm(MOVED), "bc_1-fxz", "rescheduled", "BC_1-FXZ", False),
    ("done, same windows", SENT_IN_A, vm(PLANNED), None, None, None, False),
    (
        "deleted, a new VM",
        replace(SENT_IN_A, status="gone"),
        vm(MOVED),
        "BC_1-FXZ",
        "vm_added",
        "BC_1-FXZ",
        True,
    ),
]


@pytest.mark.parametrize(
    ("given", "seen", "guess", "notice", "wave", "afresh"),
    [case[1:] for case in LATER_CASES],
    ids=[case[0] for case in LATER_CASES],
)
def test_a_later_maintenance_starts_the_record_afresh(
    given: MaintenanceRecord,
    seen: Seen,
    guess: str | None,
    notice: str | None,
    wave: str | None,
    afresh: bool,
) -> None:
    found = assess(given, seen, NOW, wave_guess=guess)
    assert (found.notice.kind if found.notice else None) == notice
    if found.notice is not None:
        assert found.notice.tracking_id == wave
    assert found.record is not None
    kept = [sent.key for sent in found.record.sent]
    assert ("reminder:self_service-72h:X" not in kept) is afresh
    assert (found.ended is given) is afresh


NEW_WAVE_CASES = [
    # GIVEN the record's wave and status   WHEN a notice of    THEN a new wave
    ("A", "completed", "B", True),
    ("A", "gone", "B", True),
    ("A", "pending", "B", False),  # the wave issued again: the same work, it takes B's id
    ("A", "pending", "a", False),  # Azure writes one id in either case
    ("A", "completed", "A", False),  # the same wave again: reopened
    (None, "pending", "B", False),  # found by the sweep, its wave unknown: it is B's
    (None, "completed", "B", True),
    ("A", "pending", None, False),  # a notice naming no wave says nothing against A
]


@pytest.mark.parametrize(("theirs", "status", "ours", "new"), NEW_WAVE_CASES)
def test_which_notice_begins_a_new_wave(
    theirs: str | None, status: str, ours: str | None, new: bool
) -> None:
    previous = replace(record(status), tracking_id=theirs)
    assert begins_new_wave(previous, ours) is new
    assert begins_new_wave(None, ours) is False


def test_azure_notice_of_a_new_wave_hands_the_old_record_over_before_writing() -> None:
    store = InMemoryRecordStore()
    store.put(SENT_IN_A)
    event = replace(maintenance_event([SUB], tracking_id="NEW-2"), event_id="evt-new-2")
    kept: list[list[MaintenanceRecord]] = []

    def keep(ended: list[MaintenanceRecord]) -> None:
        assert store.get(SENT_IN_A.vm_id) == SENT_IN_A  # not replaced yet
        kept.append(ended)

    enriched = EnrichedEvent(
        event=event, vms=[vm(MOVED)], plan=None, notes=[], enriched_at="2030-06-01T00:00:00Z"
    )
    announced = record_announced(enriched, store, keep)
    assert kept == [[SENT_IN_A]] and announced.ended == [SENT_IN_A]
    fresh = store.get(SENT_IN_A.vm_id)
    assert fresh is not None
    assert (fresh.tracking_id, fresh.first_seen) == ("NEW-2", "2030-06-01T00:00:00Z")
    assert [sent.key for sent in fresh.sent] == ["announced:evt-new-2"]
