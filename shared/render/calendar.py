"""The calendar an email carries: each VM's windows as iCalendar events (RFC 5545) that the
wave's later messages move or cancel.

    build_calendar(facts, enriched, receiver)  the entries, as data (``MaintenanceCalendar``)
    to_ics(calendar, organizer)             the ``.ics`` bytes (written by ``ics.py``)

The route stage builds the entries with the rest of the email and they travel in the
``RenderedMessage``; the email sender turns them into the file, because only it knows the
``From`` address that RFC 5546 wants as ``ORGANIZER``. The file is written by this package's
own small writer (ics.py), not ``icalendar``, which wrote the same bytes at ~0.6 ms an entry
and cost a delivery process ~66 ms to import (docs/decisions.md, issue 18).

One entry per VM and window, not one per distinct window: every later word about a wave is
about some of its VMs (one is rescheduled, done, deleted), and with an entry per VM each of
those messages moves or cancels exactly its VMs' entries, with nothing stored about what an
earlier message grouped. Its ``UID`` is a digest of the wave (tracking id), the receiver, the
window and the VM, so every message of the wave to that receiver names the same entry.

    window        when                            for
    self-service  the self-service window         VMs advised to start themselves
    scheduled     Azure's scheduled window        every VM with planned maintenance

``SEQUENCE`` is the notice's own time in seconds since 2000 (fits RFC 5545's 32-bit integer
until 2068): a later notice always outranks an earlier one, a resend of the same notice is the
same revision, and a notice recovered late by the catch-up cannot undo a newer one, with no
counter to store. A completed, deleted or cancelled notice sends ``METHOD:CANCEL`` with
``STATUS:CANCELLED`` for the VMs it is about (Azure's closing notice, which reads no VMs: the
receiver's VMs whose open records it closed, ``EnrichedEvent.closed``); everything else
``METHOD:PUBLISH``: entries to
add to a calendar, not a meeting to answer (``REQUEST`` would ask for replies nobody reads).
A notice without VM windows carries no calendar.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from shared.models import EnrichedEvent, MaintenanceEvent, Receiver, TimeWindow
from shared.render import ics
from shared.render.bounds import COMMAND_CHARS
from shared.render.facts import MessageFacts
from shared.render.glance import group_of
from shared.render.lifecycle import wave_key
from shared.render.text import clean, clip, plural
from shared.render.vm_facts import VmFacts, vm_facts
from shared.timeutil import format_utc, parse_utc
from shared.wave.records import COMPLETED_RESULT

Method = Literal["PUBLISH", "CANCEL"]
WindowKind = Literal["self-service", "scheduled"]

PRODID: Final = "-//forewarn//Azure planned maintenance//EN"
FILENAME: Final = "forewarn-maintenance.ics"
SEQUENCE_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
SEQUENCE_MAX: Final = 2**31 - 1  # RFC 5545 INTEGER
INTEGER_MIN: Final = -(2**31)
# A calendar of thousands of entries helps nobody and weighs on every retry of the email: the
# VMs whose windows come first (facts' order), each with both of its entries.
MAX_CALENDAR_VMS: Final = 50
DESCRIPTION_CHARS: Final = 2000
# Notices that end their VMs' maintenance: their calendar cancels those VMs' entries.
ENDING_NOTICES: Final = frozenset({"maintenance.completed", "maintenance.vm_deleted"})

FOLLOWS_WAVE: Final = (
    "forewarn keeps this entry in step with the maintenance: a later email moves or cancels it."
)


@dataclass(frozen=True)
class CalendarEntry:
    """One VM's window, as text already cleaned for people (facts) and times in UTC."""

    uid: str
    vm_id: str
    window: WindowKind
    start: str | None  # ISO 8601 UTC; None only in a cancellation whose VM lost its windows
    end: str | None
    summary: str
    description: str
    url: str | None = None


@dataclass(frozen=True)
class MaintenanceCalendar:
    method: Method
    sequence: int
    stamp: str  # DTSTAMP: when the message was rendered (ISO 8601 UTC)
    entries: list[CalendarEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "sequence": self.sequence,
            "stamp": self.stamp,
            "entries": [entry.__dict__.copy() for entry in self.entries],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MaintenanceCalendar:
        return cls(
            method=data["method"],
            sequence=int(data["sequence"]),
            stamp=data["stamp"],
            entries=[CalendarEntry(**entry) for entry in data.get("entries") or []],
        )


def calendar_note(calendar: MaintenanceCalendar) -> str:
    """What the email says of its attachment, so that nobody wonders what the file is."""
    vms = plural(len({entry.vm_id.lower() for entry in calendar.entries}), "VM")
    if calendar.method == "CANCEL":
        return (
            f"Calendar: the attached {FILENAME} cancels the entries earlier emails added for {vms}."
        )
    return (
        f"Calendar: the attached {FILENAME} holds the windows of {vms}, one entry per VM and "
        "window; later emails of this maintenance move or cancel them."
    )


def entry_uid(wave: str, receiver: str, window: WindowKind, vm_id: str) -> str:
    """The same for every message of one wave to one receiver about one VM's window."""
    key = "\x1f".join(("forewarn-calendar", wave, receiver, window, vm_id.lower()))
    return f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@forewarn"


def sequence_of(event: MaintenanceEvent) -> int:
    """Seconds from 2000 to the notice's time: later notices, higher revisions."""
    stamp = event.event_time or event.received_at
    try:
        moment = parse_utc(stamp)
    except ValueError:
        return 0
    seconds = int((moment - SEQUENCE_EPOCH).total_seconds())
    return min(max(seconds, 0), SEQUENCE_MAX)


def is_ending(facts: MessageFacts) -> bool:
    """Whether this message ends its VMs' maintenance (done, deleted, cancelled by Azure)."""
    return facts.notice in ENDING_NOTICES or facts.label.phase in ("done", "canceled")


def build_calendar(
    facts: MessageFacts, enriched: EnrichedEvent, receiver: Receiver
) -> MaintenanceCalendar | None:
    """The receiver's entries for this message, or None when it has no VM windows to give.

    ``enriched`` is the receiver's (the route stage narrowed its ``closed`` VMs)."""
    event = enriched.event
    method: Method = "CANCEL" if is_ending(facts) else "PUBLISH"
    vms = list(facts.vms)
    if method == "CANCEL":
        named = {vm.vm.id.lower() for vm in vms}
        vms += [vm_facts(vm, facts.clock) for vm in enriched.closed if vm.id.lower() not in named]
    if not facts.is_maintenance or not vms:
        return None
    wave = wave_key(event) or event.event_id
    entries: list[CalendarEntry] = []
    for vm in vms[:MAX_CALENDAR_VMS]:
        for window in _windows_of(vm, method):
            entry = _entry(
                facts, vm, window, method, entry_uid(wave, receiver.name, window, vm.vm.id)
            )
            if entry is not None:
                entries.append(entry)
    if not entries:
        return None
    return MaintenanceCalendar(method, sequence_of(event), format_utc(facts.clock.now), entries)


def _windows_of(vm: VmFacts, method: Method) -> list[WindowKind]:
    if method == "CANCEL":
        return ["self-service", "scheduled"]  # whichever an earlier message gave
    status = vm.vm.maintenance
    result = (status.last_result_code or "").lower() if status else ""
    done = result == COMPLETED_RESULT.lower()
    if not vm.planned or done:
        # A done VM's windows may still be in its instance view (Azure's later notice of the
        # wave lists it): an entry would put back the reboot its "done" message cancelled.
        return []
    return ["self-service", "scheduled"] if group_of(vm) == "start" else ["scheduled"]


def _window(vm: VmFacts, window: WindowKind) -> TimeWindow:
    status = vm.vm.maintenance
    if status is None:
        return TimeWindow(None, None)
    return status.self_service_window if window == "self-service" else status.scheduled_window


def _entry(
    facts: MessageFacts, vm: VmFacts, window: WindowKind, method: Method, uid: str
) -> CalendarEntry | None:
    times = _window(vm, window)
    start, end = times.start_dt, times.end_dt
    if method == "PUBLISH" and start is None:
        return None  # an event needs its start; the message says what is known
    if start is not None and end is not None and end <= start:
        end = None  # RFC 5545: DTEND after DTSTART; a broken window keeps its start only
    test = "[TEST] " if facts.is_test else ""
    if window == "self-service":
        summary = f"{test}Start {vm.name} yourself (Azure maintenance)"
    else:
        summary = f"{test}Azure reboots {vm.name} (planned maintenance)"
    lines = _ending_lines(facts) if method == "CANCEL" else _lines(facts, vm, window)
    lines += [f"Tracking ID: {facts.tracking_id}"] if facts.tracking_id else []
    lines.append(FOLLOWS_WAVE)
    return CalendarEntry(
        uid=uid,
        vm_id=clean(vm.vm.id),  # shown (X-FOREWARN-VM): one line, like every other text
        window=window,
        start=format_utc(start) if start else None,
        end=format_utc(end) if end else None,
        summary=summary,
        description=clip("\n".join(lines), DESCRIPTION_CHARS),
        url=facts.portal_link,
    )


def _lines(facts: MessageFacts, vm: VmFacts, window: WindowKind) -> list[str]:
    clock = vm.clock
    where = f"{vm.name} ({vm.resource_group}, {vm.location})"
    if window == "self-service":
        end = vm.self_service_end
        lines = [f"Start {vm.name} yourself by {clock.local(end)}." if end else ""]
        lines += [
            f"VM: {where}",
            f"Self-service window: {vm.self_service}",
            f"Azure's scheduled window: {vm.scheduled}",
        ]
        command = vm.az_command
        if len(command) <= COMMAND_CHARS:
            lines.append(f"Start it (Azure CLI): {command}")
    else:
        lines = [
            f"VM: {where}",
            f"Azure's scheduled window: {vm.scheduled}",
            f"Advice: {vm.advice_label}",
        ]
    return [line for line in lines if line]


def _ending_lines(facts: MessageFacts) -> list[str]:
    return [f"{facts.label.text}: {facts.lead}"]


def to_ics(calendar: MaintenanceCalendar, organizer: str | None = None) -> bytes:
    """The iCalendar object (shared/render/ics.py): CRLF lines folded at 75 octets, TEXT
    escaped, properties in the order icalendar writes them (its canonical ones first, then the
    others alphabetically), so that the file is the bytes the library wrote before (issue 18).

    ``organizer``: the sender's address; RFC 5546 wants one on PUBLISH and CANCEL.
    Raises ``ValueError`` for a ``sequence`` outside RFC 5545's INTEGER, a stamp that is not
    ISO 8601, and a URL or organizer with a line break (``ics.UnwritableValueError``)."""
    if not INTEGER_MIN <= calendar.sequence <= SEQUENCE_MAX:
        raise ValueError(f"SEQUENCE {calendar.sequence} is outside RFC 5545's INTEGER")
    stamp = ics.utc_stamp(parse_utc(calendar.stamp))
    status = "CANCELLED" if calendar.method == "CANCEL" else "CONFIRMED"
    # The same for every entry: an ORGANIZER (RFC 5546) and the closing properties.
    owner = [f"ORGANIZER;CN=forewarn:{ics.uri(f'mailto:{organizer}')}"] if organizer else []
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{ics.text(PRODID)}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{ics.text(calendar.method)}",
    ]
    for entry in calendar.entries:
        lines += ["BEGIN:VEVENT", f"SUMMARY:{ics.text(entry.summary)}"]
        if entry.start:
            lines.append(f"DTSTART:{ics.utc_stamp(parse_utc(entry.start))}")
        if entry.end:
            lines.append(f"DTEND:{ics.utc_stamp(parse_utc(entry.end))}")
        lines += [
            f"DTSTAMP:{stamp}",
            f"UID:{ics.text(entry.uid)}",
            f"SEQUENCE:{calendar.sequence}",
            f"DESCRIPTION:{ics.text(entry.description)}",
            *owner,
            f"STATUS:{status}",
            # A window is not a meeting: a 30-day self-service window must not mark anyone
            # busy (TRANSP for RFC 5545 clients, the CDO property for Outlook, which reads it
            # first).
            "TRANSP:TRANSPARENT",
        ]
        if entry.url:
            lines.append(f"URL:{ics.uri(entry.url)}")
        lines += [
            f"X-FOREWARN-VM:{ics.text(entry.vm_id)}",
            f"X-FOREWARN-WINDOW:{ics.text(entry.window)}",
            "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ics.document(lines)
