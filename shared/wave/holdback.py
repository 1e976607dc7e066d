"""Silences applied to a pass's notices: which a silence holds back, which go out saying a
silence is in force, and the note a sent message carries about the VMs held back beside it.

The rules of a silence itself (what it matches, when it ends) are in silences.py; this is how
the runner (runner.py) uses them while it publishes, as the route stage does for Azure's notices.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime

from shared.models import EnrichedEvent
from shared.render.held import held_note
from shared.render.text import as_sentence
from shared.routing.grouping import group_event
from shared.routing.rules import RoutingConfig
from shared.timeutil import format_utc, parse_utc
from shared.wave.notices import Notice, notice_events
from shared.wave.records import MaintenanceRecord, SentNotice
from shared.wave.reminders import ReminderOffsets, reminder_label_of
from shared.wave.report import PassReport, PlannedNotice
from shared.wave.silences import Silence, judge


def said_key(silence_id: str, due: str | None) -> str:
    """Kept in a VM's record once a deadline was said through a silence (silences.py)."""
    return f"silence-said:{silence_id}:{due}"


def unsilenced(
    notices: list[Notice],
    updated: list[MaintenanceRecord],
    now: datetime,
    report: PassReport,
    sent: dict[str, list[SentNotice]],
    active: list[Silence],
) -> tuple[list[Notice], list[tuple[Notice, Silence]]]:
    """The notices no silence holds back, and the held ones with the silence that held
    each; held ones count as sent (see silences.py). ``active``: the silences in force now."""
    if not active:
        return notices, []
    held: list[tuple[Notice, Silence]] = []
    stamp = format_utc(now)
    record_of = {record.vm_id.lower(): record for record in updated}
    kept = []
    for notice in notices:
        key = notice.vm_id.lower()
        record = record_of.get(key)
        already = record is not None and any(
            record.has_sent(said_key(silence.id, notice.due)) for silence in active
        )
        verdict = judge(notice.vm, notice.tracking_id, notice.due, active, already)
        if verdict.send and verdict.silence is not None:
            said = f"{as_sentence(notice.detail)} {verdict.note}".strip()
            kept.append(replace(notice, detail=said))
            marker = said_key(verdict.silence.id, notice.due)
            sent[key].append(SentNotice(marker, "silence_said", "", stamp))
        elif verdict.send:
            kept.append(notice)
        else:
            held_by = verdict.silence.id if verdict.silence else ""
            sent[key].append(SentNotice(notice.key, notice.kind, f"silenced:{held_by}", stamp))
            report.notices.append(PlannedNotice.of(notice, [], "", held_by))
            if verdict.silence is not None:
                held.append((notice, verdict.silence))
    return kept, held


def saying_held(
    enriched: EnrichedEvent,
    members: list[Notice],
    receivers: set[str],
    held: list[tuple[Notice, Silence]],
    now: datetime,
    config: RoutingConfig,
    reminders: ReminderOffsets,
) -> EnrichedEvent:
    """The event with a note per silence that held back notices of its own kind, wave and
    reminder, about VMs that would have reached one of its receivers: a message that says
    "1 VM is done" while a silence held back another's completion says so, how many, by
    which silence, until when (as the route stage says it for Azure's notices)."""
    first = members[0]
    same = [
        (notice, silence)
        for notice, silence in held
        if notice.kind == first.kind
        and (notice.tracking_id or "") == (first.tracking_id or "")
        and reminder_label_of(notice) == reminder_label_of(first)
    ]
    if not same:
        return enriched
    reach: dict[str, set[str]] = defaultdict(set)
    for held_event, _ in notice_events([notice for notice, _ in same], now):
        for group in group_event(held_event, config, now, reminders):
            for vm in group.vms:
                reach[vm.id.lower()].add(group.receiver.name)
    # One note per receiver and silence, naming that receiver's held VMs alone: a team
    # must not read (nor count) another team's VMs; the route stage shows each its own.
    by_silence: dict[tuple[str, str], tuple[Silence, list[str]]] = {}
    for notice, silence in same:
        for receiver in sorted(reach.get(notice.vm_id.lower(), set()) & receivers):
            key = (receiver, silence.id)
            by_silence.setdefault(key, (silence, []))[1].append(notice.vm.name)
    notes = [
        held_note(silence.id, parse_utc(silence.ends), silence.comment, vm_names, receiver)
        for (receiver, _), (silence, vm_names) in sorted(by_silence.items())
    ]
    return replace(enriched, notes=[*enriched.notes, *notes]) if notes else enriched
