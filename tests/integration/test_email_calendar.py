"""The calendar follows the wave, as a receiver's mail client sees it.

Real parts: the stand-in ARM holds the fleet, the enrich stage, the sweep and the route stage
make the messages (tests/support/wave_harness.py), the email sender sends each through the SMTP
stand-in (aiosmtpd, STARTTLS, AUTH) on 127.0.0.1, and each mail is read back from the relay
with Python's ``email`` package; its .ics with ``icalendar`` and again with ``vobject``.

GIVEN sql-01 (standalone, advised to start itself) and web-01 (availability set), one wave
WHEN                                   THEN the mail's calendar part
Azure's Planned notice                 PUBLISH: sql-01's self-service and scheduled windows,
                                       web-01's scheduled window, times equal to the windows
the sweep finds sql-01 moved 2 days    PUBLISH: sql-01's two entries, the same UIDs, a higher
                                       SEQUENCE, the new windows
the sweep finds sql-01 done            CANCEL, STATUS:CANCELLED: sql-01's two UIDs, higher again
the sweep finds web-01's maintenance  CANCEL: web-01's entry, higher again
gone
and every mail                         one text/calendar part with method=, named .ics, attached
                                       beside the text and HTML alternatives; ORGANIZER is From
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import vobject
import yaml
from icalendar import Calendar

from shared.channels.email import EmailSender
from shared.delivery.results import DeliveryResult
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from shared.standins.sinks import LocalSinks
from shared.timeutil import format_utc
from tests.support.wave_harness import Sent, wave_harness

pytestmark = pytest.mark.integration

NOW = datetime(2030, 3, 2, 9, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-00000000ca1e"
TRACKING = "TRK-CALENDAR"


@dataclass(frozen=True)
class Event:
    """One VEVENT as both parsers read it: they must agree."""

    uid: str
    vm: str
    window: str
    sequence: int
    start: datetime | None
    end: datetime | None
    status: str
    summary: str


@dataclass(frozen=True)
class Received:
    mail: EmailMessage
    method: str
    events: dict[tuple[str, str], Event]  # (VM name, window) -> event


def windows(close: datetime) -> dict[str, Any]:
    """A self-service window from a day ago to ``close``, Azure's 5 minutes later for 8 h."""
    return redeploy_status(
        NOW - timedelta(days=1), close, close + timedelta(minutes=5), close + timedelta(hours=8)
    )


def routing(sinks: LocalSinks) -> str:
    receiver = {
        "name": "ops-mail",
        "type": "email",
        "targets": ["ops@example.com"],
        "timezone": "Europe/Paris",
        "options": sinks.options["email"],
    }
    return yaml.safe_dump(
        {"version": 1, "receivers": [receiver], "route": {"receivers": ["ops-mail"]}}
    )


def read_icalendar(ics: bytes) -> tuple[str, dict[tuple[str, str], Event]]:
    document = Calendar.from_ical(ics)
    found = {}
    for item in document.walk("VEVENT"):
        vm = str(item["X-FOREWARN-VM"]).rsplit("/", 1)[1]
        found[(vm, str(item["X-FOREWARN-WINDOW"]))] = Event(
            uid=str(item["UID"]),
            vm=vm,
            window=str(item["X-FOREWARN-WINDOW"]),
            sequence=int(item.decoded("SEQUENCE")),
            start=item.decoded("DTSTART") if "DTSTART" in item else None,
            end=item.decoded("DTEND") if "DTEND" in item else None,
            status=str(item["STATUS"]),
            summary=str(item["SUMMARY"]),
        )
    return str(document["METHOD"]), found


def read_vobject(ics: bytes) -> tuple[str, dict[tuple[str, str], Event]]:
    document = vobject.readOne(ics.decode("utf-8"))
    found = {}
    for item in document.vevent_list:
        vm = item.contents["x-forewarn-vm"][0].value.rsplit("/", 1)[1]
        window = item.contents["x-forewarn-window"][0].value
        found[(vm, window)] = Event(
            uid=item.uid.value,
            vm=vm,
            window=window,
            sequence=int(item.sequence.value),
            start=item.dtstart.value if "dtstart" in item.contents else None,
            end=item.dtend.value if "dtend" in item.contents else None,
            status=item.status.value,
            summary=item.summary.value,
        )
    return document.method.value, found


def received(mail: EmailMessage) -> Received:
    (part,) = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_content_disposition() == "attachment"
    assert part.get_filename() == "forewarn-maintenance.ics"
    ics = part.get_payload(decode=True)
    assert isinstance(ics, bytes)
    method, events = read_icalendar(ics)
    assert read_vobject(ics) == (method, events)  # two parsers, one reading
    assert part.get_param("method") == method
    # The body is still the message: the calendar is an attachment, not an alternative.
    body = mail.get_body(preferencelist=("html", "plain"))
    assert body is not None and body.get_content_type() == "text/html"
    assert mail.get_body(preferencelist=("plain",)) is not None
    organizers = {str(item["ORGANIZER"]) for item in Calendar.from_ical(ics).walk("VEVENT")}
    assert organizers == {"mailto:forewarn@example.com"}
    return Received(mail, method, events)


@pytest.fixture(scope="module")
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=5.0) as running:
        yield running


def send(sinks: LocalSinks, sent: list[Sent]) -> Received:
    (email,) = [s for s in sent if s.job.message.channel == "email"]
    before = len(sinks.smtp.mails)
    result: DeliveryResult = EmailSender(sinks.environ).send(email.job)
    assert result.outcome == "delivered", result
    (mail,) = sinks.smtp.mails[before:]
    return received(mail.message)


def test_the_calendar_follows_the_wave_through_the_smtp_relay(sinks: LocalSinks) -> None:
    sinks.reset()
    sql = FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=windows(NOW + timedelta(days=4)))
    web = FleetVm(
        SUBSCRIPTION,
        "rg-web",
        "web-01",
        availability_set="as-web",
        maintenance=windows(NOW + timedelta(days=5)),
    )
    with wave_harness(Fleet().add(sql, web), NOW, routing(sinks)) as wave:
        planned = replace(
            maintenance_event([SUBSCRIPTION], tracking_id=TRACKING),
            event_time=format_utc(NOW),
        )
        first = send(sinks, wave.notice(planned))

        wave.now = NOW + timedelta(days=1)
        sql.maintenance = windows(NOW + timedelta(days=6))
        moved = send(sinks, wave.sweep([SUBSCRIPTION])[1])

        wave.now = NOW + timedelta(days=2)
        assert sql.maintenance is not None
        sql.maintenance = {**sql.maintenance, "lastOperationResultCode": "MaintenanceCompleted"}
        done = send(sinks, wave.sweep([SUBSCRIPTION])[1])

        wave.now = NOW + timedelta(days=7)
        web.maintenance = None  # Azure no longer lists it: the wave is over for web-01
        closed = send(sinks, wave.sweep([SUBSCRIPTION])[1])

    # Azure's notice: every window as the instance views give it
    assert first.method == "PUBLISH"
    assert sorted(first.events) == [
        ("sql-01", "scheduled"),
        ("sql-01", "self-service"),
        ("web-01", "scheduled"),
    ]
    close = NOW + timedelta(days=4)
    assert first.events[("sql-01", "self-service")].start == NOW - timedelta(days=1)
    assert first.events[("sql-01", "self-service")].end == close
    assert first.events[("sql-01", "scheduled")].start == close + timedelta(minutes=5)
    assert first.events[("sql-01", "scheduled")].end == close + timedelta(hours=8)
    web_close = NOW + timedelta(days=5)
    assert first.events[("web-01", "scheduled")].start == web_close + timedelta(minutes=5)
    assert {e.status for e in first.events.values()} == {"CONFIRMED"}

    # sql-01 rescheduled: the same entries, moved, a later revision
    assert moved.method == "PUBLISH"
    assert sorted(moved.events) == [("sql-01", "scheduled"), ("sql-01", "self-service")]
    new_close = NOW + timedelta(days=6)
    for key, event in moved.events.items():
        assert event.uid == first.events[key].uid
        assert event.sequence > first.events[key].sequence
    assert moved.events[("sql-01", "self-service")].end == new_close
    assert moved.events[("sql-01", "scheduled")].start == new_close + timedelta(minutes=5)
    assert moved.events[("sql-01", "scheduled")].end == new_close + timedelta(hours=8)

    # sql-01 done: its entries cancelled, web-01's left alone
    assert done.method == "CANCEL"
    assert sorted(done.events) == [("sql-01", "scheduled"), ("sql-01", "self-service")]
    for key, event in done.events.items():
        assert event.uid == first.events[key].uid
        assert event.sequence > moved.events[key].sequence
        assert event.status == "CANCELLED"

    # web-01 no longer pending: its entry is cancelled too
    assert closed.method == "CANCEL"
    web_entry = closed.events[("web-01", "scheduled")]
    assert web_entry.uid == first.events[("web-01", "scheduled")].uid
    assert web_entry.sequence > first.events[("web-01", "scheduled")].sequence
    assert web_entry.status == "CANCELLED"


@pytest.mark.parametrize("stage", ["Complete", "Canceled"])
def test_azures_closing_notice_cancels_the_entries_still_open(
    sinks: LocalSinks, stage: str
) -> None:
    """Azure's closing notice reads no VMs: the wave's open records say whose entries to cancel.

    GIVEN sql-01 done (its entries cancelled by the sweep) and web-01 still open
    WHEN Azure's Complete or Canceled notice for the wave arrives
    THEN its mail cancels web-01's entry (same UID, higher SEQUENCE), and not sql-01's again
    """
    sinks.reset()
    tracking = f"{TRACKING}-{stage}"
    sql = FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=windows(NOW + timedelta(days=4)))
    web = FleetVm(
        SUBSCRIPTION,
        "rg-web",
        "web-01",
        availability_set="as-web",
        maintenance=windows(NOW + timedelta(days=5)),
    )
    with wave_harness(Fleet().add(sql, web), NOW, routing(sinks)) as wave:
        planned = replace(
            maintenance_event([SUBSCRIPTION], tracking_id=tracking), event_time=format_utc(NOW)
        )
        first = send(sinks, wave.notice(planned))
        wave.now = NOW + timedelta(days=1)
        assert sql.maintenance is not None
        sql.maintenance = {**sql.maintenance, "lastOperationResultCode": "MaintenanceCompleted"}
        send(sinks, wave.sweep([SUBSCRIPTION])[1])

        wave.now = NOW + timedelta(days=2)
        closing = replace(
            maintenance_event([SUBSCRIPTION], tracking_id=tracking, stage=stage),
            event_id=f"evt-{stage}",
            event_time=format_utc(wave.now),
        )
        closed = send(sinks, wave.notice(closing))

    assert closed.method == "CANCEL"
    assert sorted(closed.events) == [("web-01", "scheduled"), ("web-01", "self-service")]
    entry = closed.events[("web-01", "scheduled")]
    assert entry.uid == first.events[("web-01", "scheduled")].uid
    assert entry.sequence > first.events[("web-01", "scheduled")].sequence
    assert entry.status == "CANCELLED"
    assert entry.start == first.events[("web-01", "scheduled")].start


def test_a_notice_without_vm_windows_sends_no_calendar(sinks: LocalSinks) -> None:
    sinks.reset()
    plain = FleetVm(SUBSCRIPTION, "rg-data", "sql-09", maintenance=None)
    with wave_harness(Fleet().add(plain), NOW, routing(sinks)) as wave:
        sent = wave.notice(maintenance_event([SUBSCRIPTION], tracking_id="TRK-NONE"))
        (email,) = [s for s in sent if s.job.message.channel == "email"]
        assert email.job.message.calendar is None
        assert EmailSender(sinks.environ).send(email.job).outcome == "delivered"
    (mail,) = sinks.smtp.mails
    assert not [p for p in mail.message.walk() if p.get_content_type() == "text/calendar"]
    assert not list(mail.message.iter_attachments())
