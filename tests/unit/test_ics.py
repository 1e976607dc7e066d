"""The email's .ics written by shared/render/ics.py is byte for byte what ``icalendar`` 7.3.2
writes (tests/support/ics_library.py, how the sender built it before issue 18).

GIVEN                                             WHEN            THEN
74, 75, 76, 149, 150, 300 ASCII characters        ``ics.fold``    the library's bytes
a backslash or caret where a fold would fall      ``ics.fold``    the library's bytes (the
                                                                  escape is not split)
é, € and a 4-octet emoji where a fold would fall  ``ics.fold``    the library's bytes (no
                                                                  character split)
5,000 generated lines of a b \\ ^ ; , : space é   ``ics.fold``    the library's bytes
€ and an emoji
text with \\ ; , CRLF, LF, a lone CR and \\N      ``ics.text``    the library's TEXT escape
a 200-VM calendar with long, escaped, non-ASCII   ``to_ics``      the library's bytes
names
300 generated calendars: PUBLISH or CANCEL, with  ``to_ics``      the library's bytes, and
or without organizer, URL, start or end, hostile                  ``icalendar`` and ``vobject``
summaries and descriptions                                        read every summary back
a URL or an organizer with a line break           ``to_ics``      refused (ValueError), as the
                                                                  library refuses it
a SEQUENCE outside RFC 5545's 32-bit INTEGER      ``to_ics``      refused (ValueError), as the
                                                                  library refuses it
"""

from __future__ import annotations

import random

import pytest
import vobject
from icalendar import Calendar, vText
from icalendar.parser.content_line import Contentline

from shared.render import ics
from shared.render.calendar import CalendarEntry, MaintenanceCalendar, to_ics
from tests.support.ics_library import library_ics

ALPHABET = "ab\\^;,: é€\U0001f680"
# Text that people and Azure put in names and notes, and what RFC 5545 gives a meaning to.
HOSTILE = [
    "web-01",
    "db, primary; \\ east",
    "név-é-01 → ß",
    "line\r\nbreak\rlone CR\nLF",
    "upper \\N and \\n escapes",
    "quotes \"here\" and 'there': colon",
    "BEGIN:VEVENT\r\nEND:VCALENDAR",
    "^caret^ and ^^",
    "\U0001f680" * 40,
    "x" * 90 + "\\" + "y" * 90,
    "tab\tand\x0bvertical",
    "",
]


def library_fold(line: str) -> bytes:
    folded: bytes = Contentline(line).to_ical()
    return folded


@pytest.mark.parametrize(
    "line",
    [
        "x" * 74,
        "x" * 75,
        "x" * 76,
        "y" * 149,
        "y" * 150,
        "z" * 300,
        "x" * 73 + "\\," + "rest of the line",
        "x" * 72 + "\\;" + "x" * 80,
        "x" * 73 + "^n" + "x" * 80,
        "x" * 147 + "\\\\" + "x" * 10,
        "DESCRIPTION:" + "é" * 50,
        "x" * 73 + "é" + "x" * 10,
        "x" * 72 + "€" + "x" * 10,
        "x" * 71 + "\U0001f680" + "x" * 10,
        "x" * 72 + "\\" + "é" * 40,
        "SUMMARY:" + "\U0001f680" * 30 + "x" * 40,
    ],
)
def test_a_line_is_folded_as_the_library_folds_it(line: str) -> None:
    assert ics.fold(line) == library_fold(line)


def test_generated_lines_are_folded_as_the_library_folds_them() -> None:
    draw = random.Random(18)
    for _ in range(5_000):
        line = "".join(draw.choice(ALPHABET) for _ in range(draw.randint(1, 320)))
        assert ics.fold(line) == library_fold(line), line


@pytest.mark.parametrize("value", HOSTILE)
def test_text_is_escaped_as_the_library_escapes_it(value: str) -> None:
    assert ics.text(value) == vText(value).to_ical().decode("utf-8")


def test_a_200_vm_calendar_is_the_librarys() -> None:
    names = ["web-01", "db, primary; \\ east", "név-é-01", "x" * 90]
    entries = [
        CalendarEntry(
            uid=f"{index:040x}@forewarn",
            vm_id=f"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/"
            f"virtualMachines/{names[index % len(names)]}-{index}",
            window="scheduled",
            start="2026-12-09T22:00:00Z",
            end="2026-12-10T04:00:00Z",
            summary=f"Maintenance window: {names[index % len(names)]} restarts",
            description="VM: a, b; c \\ d\nAzure's scheduled window: Wed 9 Dec 23:00 CET\n" * 3,
            url="https://forewarn.example/start?token=" + "k" * 120 if index % 2 else None,
        )
        for index in range(200)
    ]
    maintenance = MaintenanceCalendar("PUBLISH", 850_000_000, "2026-12-07T13:00:00Z", entries)
    assert to_ics(maintenance, "forewarn@example.com") == library_ics(
        maintenance, "forewarn@example.com"
    )


def generated_calendar(draw: random.Random) -> MaintenanceCalendar:
    def words() -> str:
        return " ".join(draw.choice(HOSTILE) for _ in range(draw.randint(1, 4)))

    entries = [
        CalendarEntry(
            uid=f"{draw.getrandbits(128):032x}@forewarn",
            vm_id=f"/subscriptions/s/resourceGroups/rg/virtualMachines/{words()}",
            window=draw.choice(["self-service", "scheduled"]),
            start=draw.choice([None, "", "2026-12-09T22:00:00Z", "0999-01-02T03:04:05Z"]),
            end=draw.choice([None, "2026-12-10T04:00:00+02:00", "2026-12-10T04:00:00.123456Z"]),
            summary=words(),
            description="\n".join(words() for _ in range(draw.randint(0, 6))),
            url=draw.choice([None, "https://portal.azure.com/#view/é?a=1,b;c\\d^e"]),
        )
        for _ in range(draw.randint(0, 5))
    ]
    return MaintenanceCalendar(
        draw.choice(["PUBLISH", "CANCEL"]),
        draw.choice([0, 850_000_000, 2**31 - 1]),
        "2026-12-07T13:00:00Z",
        entries,
    )


def as_read(summary: str) -> str:
    """What both parsers read back: each line break (and a lone CR, and a literal ``\\N``) as
    the ``\\n`` it was written as."""
    return summary.replace("\\N", "\n").replace("\r\n", "\n").replace("\r", "\n")


def test_generated_calendars_are_the_librarys_and_read_back() -> None:
    draw = random.Random(2026)
    for _ in range(300):
        calendar = generated_calendar(draw)
        organizer = draw.choice([None, "forewarn@example.com", "ops+maint;x@example.com"])
        ours = to_ics(calendar, organizer)
        assert ours == library_ics(calendar, organizer), calendar
        summaries = [entry.summary for entry in calendar.entries]
        read = Calendar.from_ical(ours).walk("VEVENT")
        expected = [as_read(summary) for summary in summaries]
        assert [str(event["SUMMARY"]) for event in read] == expected
        if calendar.entries:
            document = vobject.readOne(ours.decode("utf-8"))
            assert [event.summary.value for event in document.vevent_list] == expected


@pytest.mark.parametrize(
    ("url", "organizer"),
    [("https://example.com/a\r\nX-INJECTED:1", None), (None, "a@example.com\nX-INJECTED:1")],
)
def test_a_uri_with_a_line_break_is_refused_as_the_library_refuses_it(
    url: str | None, organizer: str | None
) -> None:
    entry = CalendarEntry("u@forewarn", "/vm", "scheduled", "2026-12-09T22:00:00Z", None, "s", "d")
    calendar = MaintenanceCalendar("PUBLISH", 1, "2026-12-07T13:00:00Z", [entry])
    calendar.entries[0] = CalendarEntry(**{**entry.__dict__, "url": url})
    with pytest.raises(ValueError, match="CR or LF"):
        library_ics(calendar, organizer)
    with pytest.raises(ics.UnwritableValueError):
        to_ics(calendar, organizer)


@pytest.mark.parametrize("sequence", [2**31, -(2**31) - 1])
def test_a_sequence_outside_the_integer_range_is_refused(sequence: int) -> None:
    entry = CalendarEntry("u@forewarn", "/vm", "scheduled", "2026-12-09T22:00:00Z", None, "s", "d")
    calendar = MaintenanceCalendar("PUBLISH", sequence, "2026-12-07T13:00:00Z", [entry])
    with pytest.raises(ValueError, match="range"):
        library_ics(calendar)
    with pytest.raises(ValueError, match="INTEGER"):
        to_ics(calendar)
