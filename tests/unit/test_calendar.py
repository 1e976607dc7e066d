"""The calendar an email carries (shared/render/calendar.py), built from Microsoft's sample
notice and instance view, and the .ics read back with ``icalendar`` and with ``vobject``.

GIVEN (the sample wave, 4 VMs; sql-01 advised   WHEN rendered for    THEN its calendar
to start itself)                                email
Azure's Planned notice                          receiver "ops"       PUBLISH: sql-01's self-service
                                                                     and scheduled windows, the
                                                                     others' scheduled windows,
                                                                     times equal to each window
Azure's Rescheduled notice a day later, the     receiver "ops"       the same UIDs, a higher
windows 2 days later                                                 SEQUENCE, the new times
Azure's Complete / Canceled / Resolved notice   receiver "ops"       CANCEL, STATUS:CANCELLED,
                                                                     the same UIDs
the sweep's per-VM completion of sql-01         receiver "ops"       CANCEL of sql-01's only
the Planned notice                              receiver "dba"       other UIDs (one per receiver)
a Resource Health event, a notice without VMs   receiver "ops"       no calendar
VM names with , ; \\ and a line break           receiver "ops"       escaped per RFC 5545: both
                                                                     parsers read the name back,
                                                                     no property is injected
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import vobject
from icalendar import Calendar

from shared.models import EnrichedEvent, MaintenanceStatus, Receiver, TimeWindow
from shared.render import render_message
from shared.render.calendar import (
    MAX_CALENDAR_VMS,
    MaintenanceCalendar,
    entry_uid,
    sequence_of,
    to_ics,
)
from shared.standins.enriched_samples import (
    NOW,
    enriched_without_vms,
    sample_enriched,
    sample_event,
    sample_status,
)
from shared.timeutil import format_utc

OPS = Receiver(name="ops", type="email", targets=["ops@example.com"], timezone="Europe/Paris")
DBA = replace(OPS, name="dba")
ORGANIZER = "forewarn@example.com"


def calendar_of(enriched: EnrichedEvent, receiver: Receiver = OPS) -> MaintenanceCalendar | None:
    message = render_message(enriched, receiver, enriched.vms, NOW)
    return MaintenanceCalendar.from_json(message.calendar) if message.calendar else None


def parsed(calendar: MaintenanceCalendar | None) -> Calendar:
    assert calendar is not None
    return Calendar.from_ical(to_ics(calendar, ORGANIZER))


def events(calendar: MaintenanceCalendar | None) -> dict[tuple[str, str], Any]:
    """(VM name, window) -> the VEVENT, as icalendar reads the file back."""
    found = {}
    for event in parsed(calendar).walk("VEVENT"):
        name = str(event["X-FOREWARN-VM"]).rsplit("/", 1)[1]
        found[(name, str(event["X-FOREWARN-WINDOW"]))] = event
    return found


def window_of(status: MaintenanceStatus | None, which: str) -> TimeWindow:
    assert status is not None
    return status.self_service_window if which == "self-service" else status.scheduled_window


def rescheduled(days: int) -> EnrichedEvent:
    """Azure's Rescheduled notice a day after the sample's: every window ``days`` later."""
    base = sample_enriched()
    later = format_utc(datetime(2020, 9, 16, 12, tzinfo=UTC))
    event = replace(base.event, stage="Rescheduled", event_time=later, received_at=later)
    vms = [
        replace(vm, maintenance=_shifted(vm.maintenance, timedelta(days=days))) for vm in base.vms
    ]
    return replace(base, event=event, vms=vms)


def _shifted(status: MaintenanceStatus | None, by: timedelta) -> MaintenanceStatus | None:
    if status is None:
        return None

    def moved(window: TimeWindow) -> TimeWindow:
        start, end = window.start_dt, window.end_dt
        return TimeWindow(
            format_utc(start + by) if start else None, format_utc(end + by) if end else None
        )

    return replace(
        status,
        self_service_window=moved(status.self_service_window),
        scheduled_window=moved(status.scheduled_window),
    )


def test_a_planned_notice_publishes_each_vms_windows_as_they_are() -> None:
    enriched = sample_enriched()
    calendar = calendar_of(enriched)
    assert calendar is not None and calendar.method == "PUBLISH"
    found = events(calendar)
    # sql-01 is advised to start itself: its self-service window too; the others Azure's only
    assert sorted(found) == [
        ("batch-07", "scheduled"),
        ("sql-01", "scheduled"),
        ("sql-01", "self-service"),
        ("web-01", "scheduled"),
        ("web-02", "scheduled"),
    ]
    vms = {vm.name: vm for vm in enriched.vms}
    for (name, which), event in found.items():
        window = window_of(vms[name].maintenance, which)
        assert event.decoded("DTSTART") == window.start_dt
        assert event.decoded("DTEND") == window.end_dt
        assert event.decoded("DTSTART").tzinfo is not None  # UTC ("Z"), never floating
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["TRANSP"]) == "TRANSPARENT"  # a 30-day window marks nobody busy
        assert str(event["ORGANIZER"]) == f"mailto:{ORGANIZER}"
        assert event.decoded("DTSTAMP") == NOW
    ics = to_ics(calendar, ORGANIZER)
    assert b"METHOD:PUBLISH\r\n" in ics
    assert b"DTSTART:20200831T000000Z\r\n" in ics  # sql-01's self-service window opens
    assert all(len(line) <= 75 for line in ics.split(b"\r\n"))  # folded at 75 octets


def test_the_deadline_is_said_in_the_readers_zone_beside_the_utc_times() -> None:
    found = events(calendar_of(sample_enriched()))
    description = str(found[("sql-01", "self-service")]["DESCRIPTION"])
    # sql-01's self-service window ends 2020-09-30 00:00 UTC: 02:00 in Paris
    assert description.startswith("Start sql-01 yourself by Wed 30 Sep 02:00 CEST.\n")
    assert str(found[("sql-01", "self-service")]["SUMMARY"]) == (
        "Start sql-01 yourself (Azure maintenance)"
    )
    assert str(found[("web-01", "scheduled")]["SUMMARY"]) == (
        "Azure reboots web-01 (planned maintenance)"
    )


def test_a_rescheduled_notice_moves_the_same_entries_with_a_higher_sequence() -> None:
    before = calendar_of(sample_enriched())
    after = calendar_of(rescheduled(days=2))
    assert before is not None and after is not None
    assert after.method == "PUBLISH"
    assert after.sequence > before.sequence
    old, new = events(before), events(after)
    assert sorted(old) == sorted(new)
    for key, event in new.items():
        assert str(event["UID"]) == str(old[key]["UID"])
        assert event.decoded("DTSTART") == old[key].decoded("DTSTART") + timedelta(days=2)
        assert event.decoded("SEQUENCE") == after.sequence


@pytest.mark.parametrize("stage", ["Complete", "Canceled", "Resolved"])
def test_azures_closing_notice_cancels_every_entry_it_published(stage: str) -> None:
    published = events(calendar_of(sample_enriched()))
    later = format_utc(datetime(2020, 10, 9, tzinfo=UTC))
    closing = sample_enriched(stage=stage, event_time=later, received_at=later)
    calendar = calendar_of(closing)
    assert calendar is not None and calendar.method == "CANCEL"
    cancelled = {str(event["UID"]) for event in parsed(calendar).walk("VEVENT")}
    assert {str(event["UID"]) for event in published.values()} <= cancelled
    for event in parsed(calendar).walk("VEVENT"):
        assert str(event["STATUS"]) == "CANCELLED"
    assert b"METHOD:CANCEL\r\n" in to_ics(calendar)


def test_a_per_vm_completion_cancels_that_vms_entries_only() -> None:
    published = events(calendar_of(sample_enriched()))
    base = sample_enriched()
    sql = next(vm for vm in base.vms if vm.name == "sql-01")
    stamp = format_utc(datetime(2020, 9, 20, tzinfo=UTC))
    event = replace(
        base.event,
        stage="Complete",
        operation_name="forewarn/wave/completed",
        event_time=stamp,
        received_at=stamp,
    )
    others = [vm for vm in base.vms if vm.name != "sql-01"]
    done = replace(base, event=event, vms=[sql], plan=None, remaining=others)
    calendar = calendar_of(done)
    assert calendar is not None and calendar.method == "CANCEL"
    cancelled = {str(event["UID"]) for event in parsed(calendar).walk("VEVENT")}
    assert cancelled == {
        str(published[("sql-01", "self-service")]["UID"]),
        str(published[("sql-01", "scheduled")]["UID"]),
    }


def test_each_receiver_has_its_own_entries() -> None:
    ops, dba = events(calendar_of(sample_enriched())), events(calendar_of(sample_enriched(), DBA))
    assert sorted(ops) == sorted(dba)
    assert not {str(e["UID"]) for e in ops.values()} & {str(e["UID"]) for e in dba.values()}
    wave = "<guid>"  # the sample's tracking id, lower-cased
    sql = next(vm for vm in sample_enriched().vms if vm.name == "sql-01")
    assert str(ops[("sql-01", "scheduled")]["UID"]) == entry_uid(wave, "ops", "scheduled", sql.id)


@pytest.mark.parametrize(
    "enriched",
    [
        pytest.param(lambda: sample_enriched(kind="resource_health"), id="resource-health"),
        pytest.param(enriched_without_vms, id="notice-without-vms"),
        pytest.param(
            lambda: replace(
                sample_enriched(), vms=[replace(vm, maintenance=None) for vm in sample_vms()]
            ),
            id="vms-without-windows",
        ),
    ],
)
def test_no_calendar_without_vm_windows(enriched: Any) -> None:
    assert calendar_of(enriched()) is None


def sample_vms() -> list[Any]:
    return sample_enriched().vms


def test_a_window_that_ends_before_it_starts_keeps_its_start_only() -> None:
    base = sample_enriched()
    broken = sample_status(
        scheduled_window=TimeWindow("2020-10-02T00:00:00Z", "2020-10-01T00:00:00Z")
    )
    vms = [replace(vm, maintenance=broken) if vm.name == "web-01" else vm for vm in base.vms]
    event = events(calendar_of(replace(base, vms=vms)))[("web-01", "scheduled")]
    assert "DTEND" not in event
    assert event.decoded("DTSTART") == datetime(2020, 10, 2, tzinfo=UTC)


def test_a_test_notice_says_so_in_every_summary() -> None:
    found = events(calendar_of(sample_enriched(is_test=True)))
    assert all(str(event["SUMMARY"]).startswith("[TEST] ") for event in found.values())


#        notice time               SEQUENCE
SEQUENCES = [
    ("2000-01-01T00:00:00Z", 0),
    ("2020-09-15T12:00:00Z", 653_486_400),
    ("2020-09-15T12:00:01+00:00", 653_486_401),
    ("1999-12-31T23:59:59Z", 0),  # before the epoch: the lowest revision
    ("2099-01-01T00:00:00Z", 2**31 - 1),  # past RFC 5545's integer: its highest
    ("not a time", 0),
]


@pytest.mark.parametrize(("at", "sequence"), SEQUENCES)
def test_the_sequence_is_the_notice_time(at: str, sequence: int) -> None:
    assert sequence_of(sample_event(event_time=at)) == sequence


# --------------------------------------------------------------------------------------
# Escaping (RFC 5545 3.3.11): names are the people's own words and go into TEXT values.

#   VM name as Azure or a hostile alert gives it                 as both parsers read it back
NAMES = [
    ("db,01", "db,01"),
    ("db;01", "db;01"),
    ("db\\01", "db\\01"),
    ("db\nATTENDEE:mailto:evil@example.com", "db ATTENDEE:mailto:evil@example.com"),
    ("db\r\nEND:VEVENT\r\nBEGIN:VEVENT", "db END:VEVENT BEGIN:VEVENT"),
    ("Wartung-é-ü-☃," + "x" * 60, "Wartung-é-ü-☃," + "x" * 60),
]


@pytest.mark.parametrize(("name", "read_back"), NAMES)
def test_names_are_escaped_and_read_back_by_two_parsers(name: str, read_back: str) -> None:
    base = sample_enriched()
    vms = [replace(vm, name=name) if vm.name == "sql-01" else vm for vm in base.vms]
    calendar = calendar_of(replace(base, vms=vms))
    assert calendar is not None
    ics = to_ics(calendar, ORGANIZER)
    summary = f"Start {read_back} yourself (Azure maintenance)"
    # icalendar
    found = events(calendar)
    assert str(found[(found_name(found), "self-service")]["SUMMARY"]) == summary
    # vobject, independently
    document = vobject.readOne(ics.decode("utf-8"))
    summaries = [event.summary.value for event in document.vevent_list]
    assert summary in summaries
    assert len(document.vevent_list) == 5  # nothing injected, nothing ended early
    unfolded = ics.replace(b"\r\n ", b"").split(b"\r\n")
    assert not [line for line in unfolded if line.startswith(b"ATTENDEE")]
    assert unfolded.count(b"BEGIN:VEVENT") == unfolded.count(b"END:VEVENT") == 5
    for char in (",", ";"):
        if char in read_back:
            assert f"\\{char}".encode() in ics.replace(b"\r\n ", b"")


def found_name(found: dict[tuple[str, str], Any]) -> str:
    return next(name for name, which in found if which == "self-service")


# --------------------------------------------------------------------------------------
# Azure's closing notice reads no VMs; the wave's VMs it closed come with it (``closed``).

ROUTED_BY_GROUP = """\
version: 1
receivers:
  - name: data
    type: email
    targets: [data@example.com]
    options: {from: f@example.com, smtp_host: smtp.example.com}
  - name: web
    type: email
    targets: [web@example.com]
    options: {from: f@example.com, smtp_host: smtp.example.com}
route:
  receivers: [data, web]
  routes:
    - {match: {resource_groups: [rg-data-prod]}, receivers: [data]}
    - {match: {resource_groups: [rg-web-prod]}, receivers: [web]}
"""


def closing(stage: str = "Complete") -> EnrichedEvent:
    """Azure's closing notice as the enrich stage sends it: no VMs, the open ones closed."""
    base = sample_enriched()
    later = format_utc(datetime(2020, 10, 9, tzinfo=UTC))
    event = replace(base.event, stage=stage, event_time=later, received_at=later)
    return EnrichedEvent(event, [], None, [], later, closed=base.vms)


def test_azures_closing_notice_cancels_the_vms_it_closed() -> None:
    calendar = calendar_of(closing())
    assert calendar is not None and calendar.method == "CANCEL"
    published = events(calendar_of(sample_enriched()))
    cancelled = {str(event["UID"]) for event in parsed(calendar).walk("VEVENT")}
    assert {str(event["UID"]) for event in published.values()} <= cancelled


def test_closed_vms_never_make_a_publishing_notice_cancel() -> None:
    enriched = replace(sample_enriched(), closed=sample_enriched().vms[:1])
    calendar = calendar_of(enriched)
    assert calendar is not None and calendar.method == "PUBLISH"


def test_each_receiver_cancels_its_own_closed_vms_only() -> None:
    from shared.routing.config import parse_config
    from shared.routing.stage import route_receivers

    routed = route_receivers(closing(), parse_config(ROUTED_BY_GROUP), NOW)
    assert not routed.failures
    cancelled = {}
    for job in routed.jobs:
        calendar = MaintenanceCalendar.from_json(job.message.calendar or {})
        cancelled[job.receiver.name] = {entry.vm_id.rsplit("/", 1)[1] for entry in calendar.entries}
    # batch-07 (rg-batch-dev) matches no route: the root's receivers, both, have it
    assert cancelled == {"data": {"sql-01", "batch-07"}, "web": {"web-01", "web-02", "batch-07"}}


def test_gathered_closing_notices_keep_every_closed_vm() -> None:
    """Azure sends its notice per subscription; gathered into one, none of their VMs is lost."""
    from shared.routing.gather import merge_events

    vms = sample_enriched().vms
    first, second = replace(closing(), closed=vms[:2]), replace(closing(), closed=vms[1:])
    merged = merge_events([first, second], "group-1", NOW)
    assert [vm.id for vm in merged.closed] == [vm.id for vm in vms]


def test_a_large_wave_gives_the_first_50_vms_only() -> None:
    """GIVEN 200 VMs WHEN rendered THEN the 50 whose Azure windows come first, each whole."""
    from shared.standins.enriched_samples import enriched_with_vms

    enriched = enriched_with_vms(200)
    calendar = calendar_of(enriched)
    assert calendar is not None
    named = {entry.vm_id for entry in calendar.entries}
    assert len(named) == MAX_CALENDAR_VMS
    starts = sorted((vm.maintenance.scheduled_window.start or "", vm.id) for vm in enriched.vms)
    assert named == {vm_id for _, vm_id in starts[:MAX_CALENDAR_VMS]}


#   GIVEN                                   THEN the text and the HTML part say
NOTES = [
    (
        sample_enriched,
        "Calendar: the attached forewarn-maintenance.ics holds the windows of 4 VMs, one entry "
        "per VM and window; later emails of this maintenance move or cancel them.",
    ),
    (
        closing,
        "Calendar: the attached forewarn-maintenance.ics cancels the entries earlier emails "
        "added for 4 VMs.",
    ),
    (enriched_without_vms, None),
]


@pytest.mark.parametrize(("enriched", "note"), NOTES)
def test_the_email_says_what_its_attachment_is(enriched: Any, note: str | None) -> None:
    message = render_message(enriched(), OPS, enriched().vms, NOW)
    text = " ".join(message.text.split())  # the text part wraps at 78
    if note is None:
        assert "forewarn-maintenance.ics" not in text + (message.html or "")
        return
    assert note in text
    assert note in (message.html or "")


def test_a_vm_id_with_commas_semicolons_and_a_line_break_is_one_escaped_value() -> None:
    """Azure's ids have none; a hostile alert's could: X-FOREWARN-VM stays one TEXT value."""
    base = sample_enriched()
    odd = "/subscriptions/x/resourceGroups/rg,a;b\nEND:VCALENDAR/virtualMachines/sql-01"
    vms = [replace(vm, id=odd) if vm.name == "sql-01" else vm for vm in base.vms]
    calendar = calendar_of(replace(base, vms=vms))
    assert calendar is not None
    ics = to_ics(calendar)
    assert b"rg\\,a\\;b END:VCALENDAR" in ics.replace(b"\r\n ", b"")
    wanted = "/subscriptions/x/resourceGroups/rg,a;b END:VCALENDAR/virtualMachines/sql-01"
    # X- values are TEXT by default (RFC 5545 3.8.8.2); both parsers hand them over as written.
    raw = [str(e["X-FOREWARN-VM"]) for e in Calendar.from_ical(ics).walk("VEVENT")]
    assert [unescaped(value) for value in raw].count(wanted) == 2
    document = vobject.readOne(ics.decode("utf-8"))
    values = [event.contents["x-forewarn-vm"][0].value for event in document.vevent_list]
    assert [unescaped(value) for value in values].count(wanted) == 2


def unescaped(text: str) -> str:
    """RFC 5545 3.3.11 TEXT, read by hand."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)
