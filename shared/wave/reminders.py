"""Reminders before a window closes or opens, for VMs whose record is still open and whose
maintenance nobody has started yet (status ``self_service_started``: started.py).

    which          when (default)                       for
    self_service   72 h and 24 h before its end          open records whose advice is to
                                                         start it yourself
    scheduled      24 h before its start                 every open record

A reminder is due from its moment until its deadline, once (its key is kept in the record).
When a pass finds several of one VM's reminders due at once (the timer was down, or the
notice came late), only the most urgent goes out and the others count as sent. A moment that
passed before people were first told (the record's ``first_seen``) is skipped: that first
message already said it.

A snoozed VM (``forewarn snooze``: shared/wave/claims.py) gets none until its snooze ends, or
until the last reminder before the deadline falls due, whichever comes first: a snooze moves
the next reminder, never past the last one.

Before anything is sent the VM is read again (past the cache): a VM that is done, gone or
rescheduled gets that notice instead, never a reminder.

    ReminderSettingError   ``FOREWARN_REMINDER_OFFSETS`` does not parse

The offsets themselves (the setting's, and each receiver's own from the routing file) are
``shared.routing.offsets``; this pass works out reminders at every offset anyone wants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.routing.offsets import ReminderOffsets, ReminderSettingError
from shared.routing.offsets import offset_text as _hours
from shared.timeutil import parse_utc
from shared.wave.notices import Notice, windows_text
from shared.wave.records import MaintenanceRecord

__all__ = [
    "DueReminder",
    "ReminderOffsets",
    "ReminderSettingError",
    "due_reminders",
    "held_until",
    "reminder_label_of",
    "reminder_notice",
]


@dataclass(frozen=True)
class DueReminder:
    record: MaintenanceRecord
    key: str  # the one to send: "reminder:<which>-<offset>:<deadline>"
    label: str  # "self_service-24h"
    deadline: str
    also_sent: tuple[str, ...] = ()  # earlier reminders of the same deadline, now moot


def _candidates(
    record: MaintenanceRecord, offsets: ReminderOffsets
) -> list[tuple[str, timedelta, str]]:
    """(which, offset, deadline) of every reminder this record may get."""
    found: list[tuple[str, timedelta, str]] = []
    own_end = record.self_service_window.end
    if record.advice == "self_service" and own_end:
        found.extend(("self_service", offset, own_end) for offset in offsets.self_service)
    azure_start = record.scheduled_window.start
    if azure_start:
        found.extend(("scheduled", offset, azure_start) for offset in offsets.scheduled)
    return found


def held_until(
    record: MaintenanceRecord, which: str, deadline: str, offsets: ReminderOffsets, snooze: datetime
) -> datetime:
    """When a snoozed VM's reminders of one deadline may go out again: at the snooze's end,
    but never later than the last reminder before that deadline (its smallest offset)."""
    last = min(
        offset
        for kind, offset, end in _candidates(record, offsets)
        if (kind, end)
        == (
            which,
            deadline,
        )
    )
    return min(snooze, parse_utc(deadline) - last)


def due_reminders(
    records: Iterable[MaintenanceRecord],
    now: datetime,
    offsets: ReminderOffsets,
    snoozes: Mapping[str, datetime] | None = None,
) -> list[DueReminder]:
    """The reminders due at ``now`` (pure): at most one per VM and deadline. ``snoozes``:
    lower-case VM id -> until when its reminders wait (shared/wave/claims.py)."""
    due: list[DueReminder] = []
    for record in records:
        if not record.is_open or record.status == "self_service_started":
            continue  # done, gone, or someone already started it (wave/started.py)
        told = parse_utc(record.first_seen)
        snooze = (snoozes or {}).get(record.vm_id.lower())
        by_deadline: dict[tuple[str, str], list[tuple[timedelta, str]]] = {}
        for which, offset, deadline in _candidates(record, offsets):
            if snooze is not None and now < held_until(record, which, deadline, offsets, snooze):
                continue  # snoozed: due again once the snooze (or its bound) is reached
            label = f"{which}-{_hours(offset)}"
            key = f"reminder:{label}:{deadline}"
            end = parse_utc(deadline)
            moment = end - offset
            if record.has_sent(key) or not (moment <= now < end) or moment < told:
                continue
            by_deadline.setdefault((which, deadline), []).append((offset, key))
        for (which, deadline), keys in sorted(by_deadline.items()):
            keys.sort()  # the smallest offset is the most urgent
            offset, key = keys[0]
            due.append(
                DueReminder(
                    record,
                    key,
                    f"{which}-{_hours(offset)}",
                    deadline,
                    tuple(other for _, other in keys[1:]),
                )
            )
    return due


def reminder_notice(reminder: DueReminder, current: MaintenanceRecord) -> Notice:
    """The reminder about ``current`` (the record as just read again)."""
    which = reminder.label.split("-", 1)[0]
    what = "self-service window closes" if which == "self_service" else "scheduled window opens"
    return Notice(
        "reminder",
        current.vm,
        current.tracking_id,
        reminder.key,
        reminder.deadline,
        f"{what} {reminder.deadline}; {windows_text(current.vm)}",
    )


def reminder_label_of(notice: Notice) -> str | None:
    """A reminder notice's offset label (``self_service-72h``, from its key
    ``reminder:<label>:<deadline>``); None for any other notice."""
    if notice.kind != "reminder":
        return None
    parts = notice.key.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "reminder" else None
