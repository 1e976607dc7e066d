"""The board model (shared/wave/board.py) and ``forewarn wave show``'s text, as tables on one
wave: self-service 2030-03-01 09:00 → 03-31 09:00 UTC, Azure's window from 09:05 that day
(Microsoft's sample instance view shape, via the stand-in fleet), and a second wave beside it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.cli.wave_command import board_lines
from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.enrich.plan import PlanSettings
from shared.models import Advice, QuietestHour
from shared.render.text import ReaderClock
from shared.standins.arm_fleet import FleetVm, window_from
from shared.storage import InMemoryEntityTable
from shared.wave.board import AuditRow, WaveNotFoundError, build_board, list_waves, told_rows
from shared.wave.claims import ClaimStore, Ownership
from shared.wave.records import MaintenanceRecord, SentNotice

SUB = "5f2d7a5e-0d1a-4bd5-9d43-6a3c1b0e8f11"
WAVE = "BC_1-FXZ"
OTHER_WAVE = "ZZ_9-AAA"
WAVE_START = datetime(2030, 3, 1, 9, tzinfo=UTC)
CLOSES = datetime(2030, 3, 31, 9, tzinfo=UTC)
NOW = datetime(2030, 3, 27, 9, tzinfo=UTC)
H = timedelta(hours=1)


def record(
    name: str,
    action: str = "self_service",
    status: str = "pending",
    *,
    wave: str = WAVE,
    start: datetime = WAVE_START,
    **changes: object,
) -> MaintenanceRecord:
    fleet_vm = FleetVm(SUB, "rg-web", name, maintenance=window_from(start))
    vm = to_virtual_machine(VmRef(fleet_vm.id), fleet_vm.model(), fleet_vm.instance_view())
    vm = replace(vm, advice=Advice(action, [], self_service_advised=action == "self_service"))  # type: ignore[arg-type]
    made = MaintenanceRecord.from_vm(vm, tracking_id=wave, now="2030-03-01T09:00:00Z")
    return replace(made, status=status, **changes)  # type: ignore[arg-type]


def vm_id(name: str) -> str:
    return record(name).vm_id


def ownership() -> Ownership:
    store = ClaimStore(InMemoryEntityTable())
    store.claim_vm(vm_id("web-1"), "Alice", "ops-email", NOW - 2 * H)
    store.claim_wave(WAVE, "Bob", "dba-hook", NOW - H)  # web-2 and web-3 through the wave
    store.snooze(vm_id("web-1"), NOW + 24 * H)
    store.snooze(vm_id("web-2"), NOW - H)  # over: not shown
    return store.ownership()


def wave_records() -> list[MaintenanceRecord]:
    return [
        record("web-3", status="completed"),
        record("web-2", "let_azure"),
        # web-1 closes a day earlier than the others: it comes first
        record("web-1", start=WAVE_START - 24 * H),
        record("db-1", wave=OTHER_WAVE),
    ]


def board_of(records: list[MaintenanceRecord] | None = None, **options: object):  # type: ignore[no-untyped-def]
    return build_board(
        WAVE.lower(),
        records if records is not None else wave_records(),
        ownership(),
        NOW,
        plan_settings=PlanSettings(lead_minutes=60),
        **options,  # type: ignore[arg-type]
    )


ROWS = [
    # GIVEN the VM  THEN state, advice, deadline,        owners,                   snoozed until
    ("web-1", "pending", "self_service", CLOSES - 24 * H, {"ops-email": "Alice"}, NOW + 24 * H),
    ("web-2", "pending", "let_azure", None, {"dba-hook": "Bob"}, None),
    ("web-3", "completed", "self_service", None, {"dba-hook": "Bob"}, None),
]


def test_the_board_lists_the_waves_vms_open_first_nearest_deadline_first() -> None:
    board = board_of()
    # THEN only the wave's VMs, web-1 (closes first) then web-2 (open), web-3 (done) last
    assert [vm.name for vm in board.vms] == ["web-1", "web-2", "web-3"]
    assert board.tracking_id == WAVE
    assert (board.open_count, board.claimed_count) == (2, 2)
    for vm, (name, state, advice, deadline, owners, snoozed) in zip(board.vms, ROWS, strict=True):
        assert (vm.name, vm.state, vm.advice, vm.deadline) == (name, state, advice, deadline)
        assert (vm.owners, vm.snoozed_until) == (owners, snoozed)


def test_only_open_vms_advised_to_start_themselves_get_a_plan_step() -> None:
    board = board_of()
    step = board.vms[0].step
    # THEN web-1 is the one step, an hour after now (the lead), 30 min long
    assert step is not None
    assert (step.order, step.of, step.start, step.end) == (1, 1, NOW + H, NOW + H + 30 * H / 60)
    assert [vm.step for vm in board.vms[1:]] == [None, None]


def test_an_unknown_wave_is_a_named_error() -> None:
    with pytest.raises(WaveNotFoundError, match="NOPE"):
        build_board("NOPE", wave_records(), Ownership(), NOW)


SENT = [
    # GIVEN a send in the record                                          THEN the told row
    (SentNotice("announced:e1", "announced", "e1", "2030-03-01T09:00:00Z"), "Azure's notice"),
    (
        SentNotice(
            "reminder:self_service-72h:2030-03-31T09:00:00Z",
            "reminder",
            "e2",
            "2030-03-28T09:00:00Z",
            ["ops-email"],
        ),
        "reminder: self-service window closes in 72h",
    ),
    (
        SentNotice("reminder:scheduled-24h:2030-03-31T09:05:00Z", "reminder", "", "2030-03-30"),
        None,  # folded into a nearer reminder: bookkeeping, not shown
    ),
    (SentNotice("silence:s1:x", "silence_said", "", "2030-03-29T09:00:00Z"), None),
    (
        SentNotice("sweep:rescheduled:x", "rescheduled", "silenced:s-42", "2030-03-29T10:00:00Z"),
        "windows changed",
    ),
    (SentNotice("closed:e9", "resolved", "e9", "2030-04-02T09:00:00Z"), "Azure closed the wave"),
]


def test_who_was_told_what_when_reads_the_records_sends() -> None:
    given = record("web-1", sent=tuple(sent for sent, _ in SENT))
    rows = told_rows(given)
    wanted = [what for _, what in SENT if what is not None]
    assert [row.what[: len(what)] for row, what in zip(rows, wanted, strict=True)] == wanted
    assert rows[1].receivers == ("ops-email",)
    assert [row.held_by for row in rows] == [None, None, "s-42", None]


def test_audit_rows_land_on_their_vm_and_on_the_board() -> None:
    done = AuditRow(vm_id("web-2").upper(), "2030-03-27T08:00:00Z", "Carol", "start_now", "ok")
    board = board_of(audit_rows=[done])
    assert board.audit_rows == (done,)
    assert [vm.audit for vm in board.vms] == [(), (done,), ()]
    assert board.to_json()["vms"][1]["audit"][0]["by"] == "Carol"


def test_the_list_of_waves_counts_open_and_claimed_vms() -> None:
    waves = list_waves(wave_records(), ownership(), NOW)
    summary = {wave.tracking_id: wave for wave in waves}
    assert (summary[WAVE].vms, summary[WAVE].open, summary[WAVE].claimed) == (3, 2, 2)
    assert summary[WAVE].next_deadline == CLOSES - 24 * H
    assert (summary[OTHER_WAVE].vms, summary[OTHER_WAVE].claimed) == (1, 0)


def test_the_json_carries_every_column_in_utc() -> None:
    hint = QuietestHour("2030-03-28T02:00:00Z", "2030-03-28T03:00:00Z", 3.5)
    first = record("web-1", start=WAVE_START - 24 * H)
    first = replace(first, vm=replace(first.vm, quietest_hour=hint))
    document = board_of([first]).to_json()["vms"][0]
    assert document["deadline"] == "2030-03-30T09:00:00Z"
    assert document["owners"] == [{"receiver": "ops-email", "by": "Alice"}]
    assert document["snoozed_until"] == "2030-03-28T09:00:00Z"
    assert document["quietest_hour"]["start"] == hint.start
    assert document["plan_step"]["order"] == 1


TEXT = [
    # GIVEN the zone shown   THEN web-1's line says
    ("UTC", "web-1 (rg-web)  to do · start it yourself · start by Sat 30 Mar 09:00 UTC"),
    ("Europe/Berlin", "web-1 (rg-web)  to do · start it yourself · start by Sat 30 Mar 10:00 CET"),
]


@pytest.mark.parametrize(("zone", "line"), TEXT)
def test_the_text_gives_deadlines_in_the_zone_shown_and_who_has_it(zone: str, line: str) -> None:
    from zoneinfo import ZoneInfo

    lines = board_lines(board_of(), ReaderClock(ZoneInfo(zone), "en", NOW))
    assert lines[0].startswith(f"Wave {WAVE}: 3 VMs, 2 open, 2 claimed (times in {zone}")
    assert lines[2] == line + " · claimed by Alice"
    assert "  owner         Alice (reminders to ops-email)" in lines
