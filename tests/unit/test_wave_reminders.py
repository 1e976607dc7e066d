"""Which reminders are due, as a table on a wave whose self-service window closes on
2030-03-31 09:00 and whose scheduled window opens five minutes later (Microsoft's sample
instance view with those times)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.models import Advice
from shared.routing.config import parse_config
from shared.routing.stage import route_event
from shared.standins.arm_fleet import FleetVm, window_from
from shared.timeutil import parse_utc
from shared.wave.notices import notice_events
from shared.wave.records import MaintenanceRecord, SentNotice
from shared.wave.reminders import (
    ReminderOffsets,
    ReminderSettingError,
    due_reminders,
    reminder_notice,
)

SUB = "5f2d7a5e-0d1a-4bd5-9d43-6a3c1b0e8f11"
WAVE_START = datetime(2030, 3, 1, 9, tzinfo=UTC)
CLOSES = datetime(2030, 3, 31, 9, tzinfo=UTC)  # self-service end
OPENS = CLOSES + timedelta(minutes=5)  # scheduled start


def record(
    action: str = "self_service", status: str = "pending", **changes: object
) -> MaintenanceRecord:
    fleet_vm = FleetVm(SUB, "rg-web", "web-1", maintenance=window_from(WAVE_START))
    vm = to_virtual_machine(VmRef(fleet_vm.id), fleet_vm.model(), fleet_vm.instance_view())
    vm = replace(vm, advice=Advice(action, [], self_service_advised=action == "self_service"))  # type: ignore[arg-type]
    made = MaintenanceRecord.from_vm(vm, tracking_id="BC_1-FXZ", now="2030-03-01T09:00:00Z")
    return replace(made, status=status, **changes)  # type: ignore[arg-type]


def sent(*labels: str) -> tuple[SentNotice, ...]:
    deadline = {"self_service": "2030-03-31T09:00:00Z", "scheduled": "2030-03-31T09:05:00Z"}
    return tuple(
        SentNotice(f"reminder:{label}:{deadline[label.split('-')[0]]}", "reminder", "e", "x")
        for label in labels
    )


H = timedelta(hours=1)
CASES = [
    # GIVEN record                               WHEN now          THEN due labels
    ("long before", record(), CLOSES - 100 * H, []),
    ("72 h before close", record(), CLOSES - 71 * H, ["self_service-72h"]),
    ("72 h already sent", record(sent=sent("self_service-72h")), CLOSES - 70 * H, []),
    (
        "24 h before both",
        record(sent=sent("self_service-72h")),
        CLOSES - 23 * H,
        ["scheduled-24h", "self_service-24h"],
    ),
    (
        "timer was down: only the most urgent",
        record(),
        CLOSES - 2 * H,
        ["scheduled-24h", "self_service-24h"],
    ),
    ("let Azure: scheduled only", record("let_azure"), CLOSES - 23 * H, ["scheduled-24h"]),
    ("completed: none", record(status="completed"), CLOSES - 23 * H, []),
    ("gone: none", record(status="gone"), CLOSES - 23 * H, []),
    (
        "rescheduled: still reminded",
        record(status="rescheduled"),
        CLOSES - 71 * H,
        ["self_service-72h"],
    ),
    ("after the deadline", record(), OPENS + H, []),
    (
        "told late: the passed moment is skipped",
        record(first_seen="2030-03-29T21:00:00Z"),
        CLOSES - 30 * H,
        [],
    ),
]


@pytest.mark.parametrize(
    ("given", "now", "labels"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_due(given: MaintenanceRecord, now: datetime, labels: list[str]) -> None:
    found = due_reminders([given], now, ReminderOffsets())
    assert sorted(reminder.label for reminder in found) == labels


def test_the_skipped_earlier_reminder_counts_as_sent() -> None:
    [reminder] = [
        r
        for r in due_reminders([record()], CLOSES - 2 * H, ReminderOffsets())
        if r.label.startswith("self_service")
    ]
    assert reminder.also_sent == ("reminder:self_service-72h:2030-03-31T09:00:00Z",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ReminderOffsets()),
        ("self_service=72h,24h;scheduled=24h", ReminderOffsets()),
        ("self_service=2d", ReminderOffsets((timedelta(days=2),), ())),
        ("scheduled=90m,6h", ReminderOffsets((), (timedelta(hours=6), timedelta(minutes=90)))),
    ],
)
def test_offsets_parse(text: str | None, expected: ReminderOffsets) -> None:
    assert ReminderOffsets.parse(text) == expected


@pytest.mark.parametrize("text", ["weekly=24h", "self_service=3x", "scheduled=0m"])
def test_bad_offsets_are_named(text: str) -> None:
    with pytest.raises(ReminderSettingError):
        ReminderOffsets.parse(text)


ROUTING = """\
version: 1
receivers:
  - name: oncall
    type: sms
    targets: ["+31612345678"]
    timezone: Europe/Amsterdam
    quiet_hours: {start: "22:00", end: "07:00"}
    options: {account_sid: AC00000000000000000000000000000000,
              auth_token_setting: FOREWARN_TWILIO_AUTH_TOKEN, from: "+15005550006"}
route:
  receivers: [oncall]
"""


@pytest.mark.parametrize(
    ("now", "held_until"),
    [
        # The 72 h reminder's pass at 23:00 local: held to 07:00, long before the deadline.
        (datetime(2030, 3, 28, 22, tzinfo=UTC), "2030-03-29T06:00:00Z"),
        # The 24 h reminders at 23:00 local: held to 07:00 summer time, 4 h before it closes.
        (datetime(2030, 3, 30, 22, tzinfo=UTC), "2030-03-31T05:00:00Z"),
    ],
)
def test_a_reminder_held_by_quiet_hours_still_arrives_before_its_deadline(
    now: datetime, held_until: str
) -> None:
    config = parse_config(ROUTING)
    due = due_reminders([record()], now, ReminderOffsets())
    notices = [reminder_notice(reminder, reminder.record) for reminder in due]
    for enriched, _ in notice_events(notices, now):
        [job] = route_event(enriched, config, now)
        assert job.not_before is not None
        assert job.not_before == held_until
        assert parse_utc(job.not_before) < CLOSES
