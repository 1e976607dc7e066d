"""The note that says a silence held VMs back from a message, and its count.

The route stage leaves silenced VMs out of a receiver's message (shared/routing/silencing.py)
and adds one note per silence: "2 VMs held back by silence 3f2a9c until 2030-03-20T00:00:00Z
(pilot): web-01, web-02." The note writes its moment in ISO 8601, as every note does: each
renderer says it in its receiver's zone ("until Wed 20 Mar 01:00 CET", render/facts.py), so a
message names one zone, and the webhook keeps ISO 8601. Rich channels show notes; an SMS has no
room for them and says the count alone ("2 VMs silenced."). Writing the note and reading its
count live here together, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shared.models import EnrichmentNote
from shared.render.text import plural
from shared.timeutil import format_utc

HELD_CODE = "silenced_vms"
HELD_NAMES_SHOWN = 10


def held_note(
    silence_id: str,
    until: datetime,
    comment: str,
    names: Iterable[str],
    receiver: str | None = None,
) -> EnrichmentNote:
    ordered = sorted(names, key=str.lower)
    shown = ", ".join(ordered[:HELD_NAMES_SHOWN])
    if len(ordered) > HELD_NAMES_SHOWN:
        shown += f" and {len(ordered) - HELD_NAMES_SHOWN} more"
    why = f" ({comment})" if comment else ""
    return EnrichmentNote(
        HELD_CODE,
        f"{plural(len(ordered), 'VM')} held back by silence {silence_id} until "
        f"{format_utc(until)}{why}: {shown}.",
        receiver=receiver,
    )


def held_back_count(notes: Iterable[EnrichmentNote]) -> int:
    """How many VMs silences held back from this message (their notes' counts, summed)."""
    total = 0
    for note in notes:
        if note.code == HELD_CODE:
            first = note.message.split(" ", 1)[0]
            total += int(first) if first.isdigit() else 0
    return total
