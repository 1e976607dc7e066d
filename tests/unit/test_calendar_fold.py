"""The .ics lines folded by shared/render/calendar.py give the bytes ``icalendar`` writes.

``to_ics`` folds ASCII content lines itself (the library encodes each character to count
octets: most of a 200-VM email's calendar time); this checks the shortcut changes no byte.

GIVEN a content line                              WHEN folded      THEN
74, 75, 76, 149, 150, 300 ASCII characters        ``_folded``      the library's bytes
a backslash or caret where a fold would fall      ``_folded``      the library's bytes (the
                                                                   escape is not split)
non-ASCII text (é, a 4-octet emoji)               ``_folded``      the library's bytes
20,000 generated lines of a b \\ ^ ; , : space    ``_folded``      the library's bytes
a 200-VM calendar with long, escaped, non-ASCII   ``to_ics``       the library's ``to_ical``
names                                                              bytes
"""

from __future__ import annotations

import random

import pytest
from icalendar.parser.content_line import Contentline

from shared.render import calendar
from shared.render.calendar import CalendarEntry, MaintenanceCalendar, to_ics


def library(line: str) -> bytes:
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
        "SUMMARY:" + "\U0001f680" * 30 + "x" * 40,
    ],
)
def test_a_line_is_folded_as_the_library_folds_it(line: str) -> None:
    assert calendar._folded(Contentline(line)) == library(line)


def test_generated_lines_are_folded_as_the_library_folds_them() -> None:
    draw = random.Random(18)
    for _ in range(20_000):
        line = "".join(draw.choice("ab\\^;,: ") for _ in range(draw.randint(1, 320)))
        assert calendar._folded(Contentline(line)) == library(line), line


def test_a_whole_calendar_is_the_librarys_to_ical(monkeypatch: pytest.MonkeyPatch) -> None:
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
    ours = to_ics(maintenance, organizer="forewarn@example.com")
    monkeypatch.setattr(calendar, "_folded", lambda line: line.to_ical())
    assert ours == to_ics(maintenance, organizer="forewarn@example.com")
