"""The email's calendar as ``icalendar`` 7.3.2 writes it: the reference that
shared/render/ics.py must match byte for byte.

Until issue 18 the email sender built its .ics with the library exactly like this; the product
now writes the same file itself (a twentieth of the time, no import). Tests keep the library's
way here, so every change to either shows as a byte that differs.
"""

from __future__ import annotations

from shared.render.calendar import PRODID, MaintenanceCalendar
from shared.timeutil import parse_utc


def library_ics(calendar: MaintenanceCalendar, organizer: str | None = None) -> bytes:
    from icalendar import Calendar, Event, vCalAddress, vText

    document = Calendar()
    document.add("prodid", PRODID)
    document.add("version", "2.0")
    document.add("calscale", "GREGORIAN")
    document.add("method", calendar.method)
    stamp = parse_utc(calendar.stamp)
    for entry in calendar.entries:
        item = Event()
        item.add("uid", entry.uid)
        item.add("dtstamp", stamp)
        item.add("sequence", calendar.sequence)
        if entry.start:
            item.add("dtstart", parse_utc(entry.start))
        if entry.end:
            item.add("dtend", parse_utc(entry.end))
        item.add("summary", entry.summary)
        item.add("description", entry.description)
        item.add("status", "CANCELLED" if calendar.method == "CANCEL" else "CONFIRMED")
        item.add("transp", "TRANSPARENT")
        item.add("x-microsoft-cdo-busystatus", "FREE")
        item.add("x-forewarn-vm", vText(entry.vm_id))
        item.add("x-forewarn-window", vText(entry.window))
        if entry.url:
            item.add("url", entry.url)
        if organizer:
            address = vCalAddress(f"mailto:{organizer}")
            address.params["cn"] = "forewarn"
            item.add("organizer", address)
        document.add_component(item)
    written: bytes = document.to_ical()
    return written
