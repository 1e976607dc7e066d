"""The truth oracle: what a message states, checked against the records forewarn held.

A message is read as its receiver reads it: every text it carries (subject, text part, every
string of its payload, in order), line by line. From those lines the oracle takes the
statements people act on, and each check compares one kind of statement with the records
(``Sent.records``, after the pass that sent it) and the receiver's VMs:

    check               contradiction
    no_action_for_todo  a VM listed under "No action needed", "Done", "No longer pending" or
                        "Deleted" (or a webhook advice group ``no_action``) while its record
                        says open and not started, and said self-service advice before the
                        pass or after it (a pass that forgot the advice rewrites the record)
    over_while_open     "this maintenance is over" while the receiver has an open VM in the wave
    done_with_reboot    a VM listed as done or deleted with a reboot or deadline beside it
    moment_not_recorded a deadline or window moment ("by …", "from …", "until …", "between …
                        and …", "opens …") that no record or VM of the message holds
    recovered_unsaid    a recovered notice without its line (or webhook flag)
    vm_line_untrue      a VM's line giving a "start by", "start from" or "Azure from" moment
                        other than its own record's self-service end or start, or scheduled start
    named_deadline_untrue  "start sql-01 (yourself) by T" where T is not the earliest
                        self-service end of the named VMs' records (SMS, a follow-up's remains)
    plan_spacing_untrue a plan header ("Plan: 2 steps, 1 h apart") whose count or spacing is
                        not that of the plan's steps for the receiver's advised VMs
    held_uncounted      a "N VMs held back by silence …" note whose count is not the VMs it
                        names, or that names a VM the message lists as its own
    discovery_untrue    "Azure lists no impacted VMs for T in subscription S; read all N VMs
                        in R instead" (or "read the N VMs with maintenance pending in R") beside
                        a VM of S outside the regions R, fewer VMs N than the message lists of
                        S, or, for "with maintenance pending", a VM of S with none
    rebooting_too_soon  "Azure is rebooting …" before any of the receiver's VMs' scheduled
                        windows has begun (Azure's InProgress is about the wave, not the VM)
    escalation_untrue   an escalation about a VM that is claimed, started, done or not to
                        start yourself by its record, or whose "the self-service window
                        closes at T" is not the named VMs' earliest self-service end
    resolution_untrue   "sql-01: no longer pending" while its record is open, "its
                        maintenance was started" while its record says otherwise, "claimed by
                        X" for a VM nobody claimed as X
    start_link_untrue   a "Start now" link (text line or webhook ``start_url``) that is not for
                        this receiver and wave, names a VM that is not this receiver's, not
                        advised to start itself, not facing maintenance or closed in its
                        record, or names other VMs than the message's plan step it labels
    calendar_untrue     an email's calendar entry (the .ics as icalendar reads it back) whose
                        DTSTART or DTEND is not its VM's window in the record, or not the
                        moment the VM's own line states ("start by", "start from", "Azure
                        from"); an entry published for a closed record; an entry cancelled
                        while its record is open and the message does not say it is over

A Scheduled Event's message (kind ``scheduled_event``, shared/render/scheduled.py) is read
against its notice, as the forwarder posted it:

    scheduled_event_untrue  a headline naming another VM than the event's; "at HH:MM ZONE"
                        other than ``NotBefore`` in the receiver's zone (or the moment seen,
                        for "started", "back at" and "approved at"; "at HH:MM canceled" is
                        ``NotBefore``); "in N min" other than
                        ``NotBefore`` minus the moment of rendering, rounded up ("now" when
                        it has come); a region ("… in westeurope, affecting …") other than its
                        VM's, or "unspecified regions" for a VM whose region is known;
                        "rebooted, back at" for an event that went before its ``NotBefore``
                        and was never seen Started (it may have been canceled)

A moment is said to a person in the receiver's zone, as the renderers write it:

    raw_moment          an ISO 8601 timestamp ("2030-03-31T09:00:00Z") in what a person reads
                        (an email, SMS, Slack or Teams message; a webhook's or PagerDuty's
                        payload is for programs and keeps ISO 8601)
    zones_mixed         a moment said in UTC ("until 2030-03-20 00:00 UTC", "sent Tue 15 Sep
                        12:00 UTC") in a message to a receiver in another zone: one zone per
                        message, UTC only beside a local moment, in brackets ("(13:17 UTC)");
                        ``zones_mixed_in`` reads any text so (a follow-up's "Follows" line is
                        added by its sender, after the route stage, tests/integration/
                        test_wave_threads.py)

A message says what it is:

    label_untrue        a wave's reminder, escalation or its resolution labelled "Planned
                        maintenance · Planned", as if Azure announced the wave again
    start_heading_untrue  a started maintenance's first line ("Maintenance completed: sql-01:
                        by …", shared/wave/started.py) whose word is not what the named VMs'
                        records say after it: "completed" for a record not completed,
                        "started" for one completed or never started, "failed" for one this
                        message marked started; or that names a VM its own lines say
                        otherwise of ("sql-01: maintenance completed" under "failed")

A receiver reads about its own VMs only:

    foreign_vm_line     a summary line ("db-1: claimed by Bob", shared/wave/notices.py) about
                        a VM of the event that is not one of the receiver's, or a held-back
                        note ("1 VM held back by silence …: db-1.") naming such a VM, or an
                        enrichment note about a VM ("VM web-9 no longer exists …") whose
                        subscription and resource group none of the receiver's VMs is in, or
                        about a subscription other receivers have VMs of and it has none

Who has a VM (issue 21), against the claims in force when the message was rendered
(``Sent.ownership``; skipped when the harness kept none):

    owner_untrue        "claimed by …" beside a VM ("sql-02 (rg) · … · claimed by Alice", or
                        "sql-02: claimed by Alice") naming other people than the claims give
                        it, or a VM line that says nobody while the claims name its owner

A Slack message updated after a button press (shared/slack_interactivity.py) is read by
``slack_update_untrue`` against the claims the press left:

    slack_claimed       "sql-02: claimed by Alice" where the claims give sql-02 another owner
    slack_wave_claimed  "Wave W: claimed by Bob for R" without that wave claim
    slack_snoozed       "sql-01, sql-02: reminders snoozed until T by …" where a named VM's
                        snooze is not T

An email's calendar entries are read as the message's lines too (their summaries and
descriptions), so every check above also holds for what the calendar says.

``CHECKS`` is a list: another statement is one more function ``(Sent) -> list[str]``.

The board page (``GET /api/waves/{id}``) states things to people too; ``board_untrue`` reads
each VM's row of it against the records and claims it was drawn from (``board_text_untrue``
reads ``forewarn wave show``'s text the same way: state, start by, claimed by):

    board check         contradiction
    board_vm_missing    a VM of the wave's records without its row, or a row for no such VM
    board_state         a state other than the record's status
    board_start_by      a "start by" other than the record's self-service end in the zone the
                        page names (or one for a VM that is closed or not advised to self-serve)
    board_window        a self-service or Azure window other than the record's
    board_owner         "claimed by" naming other people than the claims give the VM
    board_snoozed       a snooze other than the claims' (or one already over)
    board_told_twice    two rows of one VM's "told" that say the same (what, to whom, held
                        by), or one of Azure's notices that does not say which (its stage):
                        two notices read as one told twice (``board_told_untrue``)
    board_told_wave     a notice of a wave Azure re-issued under a new tracking id that does
                        not say the id it came under, or a row naming an id that is not
                        another wave's (``board_told_untrue``)
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from shared.enrich.discovery import region_key
from shared.enrich.plan import spacing_phrase
from shared.models import TimeWindow, VirtualMachine
from shared.parsing.resource_id import parse_vm_id
from shared.render.calendar import MaintenanceCalendar, to_ics
from shared.render.facts import RECOVERED_LINE
from shared.render.lifecycle import notice_type
from shared.render.sms import RECOVERED_SMS
from shared.render.text import ReaderClock, zone_or_utc
from shared.timeutil import parse_utc
from shared.wave.board import Board
from shared.wave.claims import Ownership
from shared.wave.notices import summary_name
from shared.wave.records import MaintenanceRecord
from tests.support.wave_harness import Sent

HEADINGS = (
    "Start yourself",
    "Let Azure do it",
    "Don't start yourself",
    "No action needed",
    "Done",
    "No longer pending",
    "Deleted",
)
NOTHING_TO_DO = frozenset({"No action needed", "Done", "No longer pending", "Deleted"})
FINISHED = frozenset({"Done", "Deleted"})
_HEADING = re.compile(rf"^({'|'.join(re.escape(h) for h in HEADINGS)}) \((\d+)\)$")
_VM_LINE = re.compile(r"^(\S+) \(([^)]*)\)(.*)$")
_MARKUP = re.compile(r"^[\s*•\-_]+|[*_]+$")
# A moment as the renderers write it in English: "Thu 7 Mar 10:00 CET" (year when far).
MOMENT = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2}(?: \d{4})? \d{2}:\d{2} [A-Z]{2,5}"
_STATED_MOMENT = re.compile(rf"\b(?:by|from|until|between|and|opens) ({MOMENT})")


@dataclass(frozen=True)
class Contradiction:
    check: str
    receiver: str
    event_id: str
    text: str

    def __str__(self) -> str:
        return f"{self.check} [{self.receiver} {self.event_id}]: {self.text}"


def strings(value: Any) -> Iterator[str]:
    """Every string of a JSON value, in document order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def _unwrapped(text: str) -> list[str]:
    """Lines of ``text``, an email's wrapped list item joined again ("- sql-01 … Tue" and
    its indented rest "  12:00–13:00 UTC"), so that a moment cut by the wrap is read whole."""
    lines: list[str] = []
    for line in text.splitlines():
        if lines and lines[-1].startswith("- ") and line.startswith("  ") and line.strip():
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def lines_of(sent: Sent) -> list[str]:
    message = sent.job.message
    entries = (message.calendar or {}).get("entries") or []
    said = [entry[key] for entry in entries for key in ("summary", "description")]
    texts = [message.subject, message.text, *strings(message.payload or {}), *said]
    return [_MARKUP.sub("", line).strip() for text in texts if text for line in _unwrapped(text)]


def listed(sent: Sent) -> Iterator[tuple[str, str, str]]:
    """(heading, VM name, rest of its line) for each VM line under a group heading."""
    heading = ""
    for line in lines_of(sent):
        found = _HEADING.match(line)
        if found:
            heading = found.group(1)
            continue
        vm = _VM_LINE.match(line)
        if heading and vm and vm.group(1) in _names(sent):
            yield heading, vm.group(1), vm.group(3)
        elif not vm:
            heading = ""  # a group ends at the first line that is not a VM line


def _names(sent: Sent) -> set[str]:
    return {vm.name for vm in sent.vms}


def _pending_self_service(sent: Sent, vm_id: str) -> bool:
    after = sent.records.get(vm_id.lower())
    before = sent.before.get(vm_id.lower())
    advised = any(r is not None and r.advice == "self_service" for r in (before, after))
    # A VM whose maintenance someone started asks nothing more of anyone ("no action" is true).
    started = after is not None and after.status == "self_service_started"
    return after is not None and after.is_open and advised and not started


def _id_of(sent: Sent, name: str) -> str:
    return next((vm.id for vm in sent.vms if vm.name == name), "")


# --------------------------------------------------------------------------------------
# The checks


def no_action_for_todo(sent: Sent) -> list[str]:
    found = [
        f"{name} under {heading!r} while its record says open with self-service advice"
        for heading, name, _ in listed(sent)
        if heading in NOTHING_TO_DO and _pending_self_service(sent, _id_of(sent, name))
    ]
    payload = sent.job.message.payload or {}
    if sent.job.message.channel == "webhook":
        for vm in payload.get("vms", []):
            group = (vm.get("advice") or {}).get("group")
            if group == "no_action" and _pending_self_service(sent, str(vm.get("id", ""))):
                found.append(f"{vm.get('name')} advice group no_action while pending self_service")
    return found


def over_while_open(sent: Sent) -> list[str]:
    said = [line for line in lines_of(sent) if "maintenance is over" in line]
    if not said or not sent.open_vm_ids:
        return []
    names = sorted(r.vm.name for r in sent.records.values() if r.vm_id.lower() in sent.open_vm_ids)
    return [f"says over while open: {', '.join(names)}: {said[0]}"]


def done_with_reboot(sent: Sent) -> list[str]:
    return [
        f"{name} under {heading!r} with {rest.strip()!r}"
        for heading, name, rest in listed(sent)
        if heading in FINISHED and ("Azure from" in rest or "start by" in rest)
    ]


def _windows(vm: VirtualMachine) -> list[TimeWindow]:
    status = vm.maintenance
    return [status.self_service_window, status.scheduled_window] if status else []


def known_moments(sent: Sent, clock: ReaderClock) -> set[str]:
    """Every moment the message may state: the records', its VMs', its notice's."""
    windows: list[TimeWindow] = []
    for record in sent.records.values():
        windows += [record.self_service_window, record.scheduled_window, *_windows(record.vm)]
    for vm in [*sent.vms, *sent.enriched.remaining, *sent.enriched.vms]:
        windows += _windows(vm)
    event = sent.enriched.event
    windows.append(TimeWindow(event.impact_start, event.impact_end))
    moments: list[datetime | None] = []
    for window in windows:
        moments += [window.start_dt, window.end_dt]
    if sent.enriched.plan is not None:
        for step in sent.enriched.plan.steps:
            # A plan's warning says when a step ends ("the plan runs until …").
            moments += [TimeWindow(step.start, step.end).start_dt]
            moments += [TimeWindow(step.start, step.end).end_dt]
    return {clock.local(moment) for moment in moments if moment is not None}


def moment_not_recorded(sent: Sent) -> list[str]:
    receiver = sent.job.receiver
    if receiver.language != "en":
        return []  # the pattern reads English dates
    clock = ReaderClock.for_receiver(receiver, sent.at)
    known = known_moments(sent, clock)
    found = []
    for line in lines_of(sent):
        if _HELD.search(line):
            continue  # "until" a silence ends: no record's moment (held_uncounted reads it)
        for moment in _STATED_MOMENT.findall(line):
            if moment not in known:
                found.append(f"{moment!r} is in no record: {line}")
    return found


_LINE_MOMENT = re.compile(rf"· (start by|start from|Azure from) ({MOMENT})")


def vm_line_untrue(sent: Sent) -> list[str]:
    """A VM's own line gives its own deadline: "start by" its self-service end, "start from"
    its self-service start, "Azure from" its scheduled start, as its record holds them."""
    receiver = sent.job.receiver
    if receiver.language != "en":
        return []
    clock = ReaderClock.for_receiver(receiver, sent.at)
    found = []
    for heading, name, rest in listed(sent):
        record = sent.records.get(_id_of(sent, name).lower())
        if record is None:
            continue
        expected = {
            "start by": record.self_service_window.end_dt,
            "start from": record.self_service_window.start_dt,
            "Azure from": record.scheduled_window.start_dt,
        }
        for what, moment in _LINE_MOMENT.findall(rest):
            wanted = expected[what]
            if wanted is None or clock.local(wanted) != moment:
                shown = clock.local(wanted) if wanted else "nothing"
                found.append(f"{name} under {heading!r}: {what} {moment}, its record {shown}")
    return found


_NAMED_DEADLINE = re.compile(
    rf"\b[Ss]tart ([\w.-]+(?:(?:, | and )[\w.-]+)*)(?: yourself)? by ({MOMENT})"
)


def named_deadline_untrue(sent: Sent) -> list[str]:
    """ "Start sql-01 yourself by T" (SMS), "start sql-02 by T" (a follow-up's still to do):
    T is the earliest self-service end of the VMs it names, as their records hold them."""
    receiver = sent.job.receiver
    if receiver.language != "en":
        return []
    clock = ReaderClock.for_receiver(receiver, sent.at)
    by_name: dict[str, list[MaintenanceRecord]] = {}
    for record in sent.records.values():
        by_name.setdefault(record.vm.name, []).append(record)
    found = []
    for line in lines_of(sent):
        for names, moment in _NAMED_DEADLINE.findall(line):
            named = re.split(r", | and ", names)
            if not all(len(by_name.get(name, [])) == 1 for name in named):
                continue  # a count ("2 VMs") or a name the records do not tell apart
            ends = [by_name[name][0].self_service_window.end_dt for name in named]
            known = [end for end in ends if end is not None]
            wanted = clock.local(min(known)) if known else "nothing"
            if wanted != moment:
                found.append(f"start {names} by {moment}; their records say {wanted}: {line}")
    return found


def recovered_unsaid(sent: Sent) -> list[str]:
    if not sent.enriched.event.recovered:
        return []
    message = sent.job.message
    if message.channel == "webhook":
        said = (message.payload or {}).get("event", {}).get("recovered") is True
    else:
        line = RECOVERED_SMS if message.channel == "sms" else RECOVERED_LINE
        # Whitespace as one space: an email's text part wraps the line.
        said = line in " ".join(" ".join(lines_of(sent)).split())
    return [] if said else ["recovered notice without its line"]


_PLAN_HEADER = re.compile(r"^Plan:\**\s+(\d+) steps?(?:, (.+?) apart \(start to start\))?")
# The note's moment as its receiver reads it, or in ISO 8601 (the webhook's notes).
_HELD = re.compile(
    rf"(\d+) VMs? held back by silence (\S+) until (?:{MOMENT}|\S+)(?: \(.*\))?: (.+?)\.$"
)


def plan_spacing_untrue(sent: Sent) -> list[str]:
    plan = sent.enriched.plan
    advised = {vm.id for vm in sent.vms if vm.advice.action == "self_service"}
    steps = [step for step in (plan.steps if plan else []) if advised & set(step.vm_ids)]
    starts = [TimeWindow(step.start, step.end).start_dt for step in steps]
    found = []
    for line in lines_of(sent):
        header = _PLAN_HEADER.match(line)
        if header is None:
            continue
        count, spacing = int(header.group(1)), header.group(2) or ""
        shown = [start for start in starts[:count] if start is not None]
        if count > len(steps) or spacing_phrase(shown).removesuffix(" apart") != spacing:
            found.append(f"{line!r} above {len(steps)} steps starting {shown}")
    return found


def held_uncounted(sent: Sent) -> list[str]:
    mine = {name for _, name, _ in listed(sent)}
    found = []
    for line in lines_of(sent):
        held = _HELD.search(line)
        if held is None:
            continue
        names = [name.strip() for name in held.group(3).split(",")]
        if " and " not in held.group(3) and int(held.group(1)) != len(names):
            found.append(f"counts {held.group(1)} but names {len(names)}: {line}")
        found += [f"{name} held back yet listed: {line}" for name in names if name in mine]
    return found


_DISCOVERY = re.compile(
    r"Azure lists no impacted VMs for (\S+) in subscription (\S+); read "
    r"(?:all (\d+) VMs|the (\d+) VMs (with maintenance pending)) in (.+) instead"
)


def discovery_untrue(sent: Sent) -> list[str]:
    found = []
    for line in lines_of(sent):
        note = _DISCOVERY.search(line)
        if note is None:
            continue
        subscription, count = note.group(2).lower(), int(note.group(3) or note.group(4))
        where = note.group(6)
        regions = set() if where == "all regions" else {region_key(r) for r in where.split(",")}
        mine = [vm for vm in sent.vms if vm.subscription_id.lower() == subscription]
        if count < len(mine):
            found.append(f"says {count} VMs but lists {len(mine)}: {line}")
        for vm in mine:
            if regions and region_key(vm.location) not in regions:
                found.append(f"{vm.name} is in {vm.location}: {line}")
            if note.group(5) and vm.maintenance is None:
                found.append(f"{vm.name} has no maintenance pending: {line}")
    return found


def rebooting_too_soon(sent: Sent) -> list[str]:
    starts = [
        start
        for vm in sent.vms
        if vm.maintenance is not None
        and (start := vm.maintenance.scheduled_window.start_dt) is not None
    ]
    if not starts or any(start <= sent.at for start in starts):
        return []
    return [
        f"rebooting before the first scheduled window ({min(starts):%Y-%m-%d %H:%M} UTC): {line}"
        for line in lines_of(sent)
        if "Azure is rebooting" in line
    ]


_ESCALATED_LINES = (
    re.compile(
        rf"Nobody claimed or started ([\w.-]+(?:(?:, | and )[\w.-]+)*); the self-service "
        rf"window closes at ({MOMENT})"
    ),
    re.compile(
        rf"Escalated: ([\w.-]+) is still to start and nobody claimed or started it; the "
        rf"self-service window closes at ({MOMENT})"
    ),
)
_WAITING = frozenset({"pending", "rescheduled"})


def escalation_untrue(sent: Sent) -> list[str]:
    found = []
    if (sent.enriched.event.operation_name or "").endswith("/escalation"):
        for vm in sent.vms:
            record = sent.records.get(vm.id.lower())
            if vm.owners:
                found.append(f"{vm.name} escalated while claimed by {vm.owners}")
            elif record is None or record.status not in _WAITING:
                found.append(f"{vm.name} escalated while {record.status if record else 'unknown'}")
            elif record.advice != "self_service":
                found.append(f"{vm.name} escalated while advised {record.advice}")
    receiver = sent.job.receiver
    if receiver.language != "en":
        return found
    clock = ReaderClock.for_receiver(receiver, sent.at)
    # The message's own VMs by name (another subscription may have a VM of the same name).
    by_name: dict[str, list[MaintenanceRecord | None]] = {}
    for vm in sent.vms:
        by_name.setdefault(vm.name, []).append(sent.records.get(vm.id.lower()))
    for line in lines_of(sent):
        for pattern in _ESCALATED_LINES:
            for names, moment in pattern.findall(line):
                listed = re.split(r", | and ", names)
                if not all(len(by_name.get(name, [])) == 1 for name in listed):
                    continue  # a name the message's VMs do not tell apart
                named = [by_name[name][0] for name in listed]
                ends = [r.self_service_window.end_dt for r in named if r is not None]
                known = [end for end in ends if end is not None]
                wanted = clock.local(min(known)) if known else "nothing"
                if wanted != moment:
                    found.append(f"closes at {moment}; the records say {wanted}: {line}")
    return found


_RESOLVED_LINE = re.compile(
    r"^([\w.-]+): (claimed by (.+)|no longer pending|its maintenance was started)\.$"
)


def resolution_untrue(sent: Sent) -> list[str]:
    if not (sent.enriched.event.operation_name or "").endswith("/escalation_resolved"):
        return []
    vms = {vm.name: vm for vm in sent.vms}
    found = []
    for line in lines_of(sent):
        said = _RESOLVED_LINE.match(line)
        if said is None or said.group(1) not in vms:
            continue
        vm = vms[said.group(1)]
        record = sent.records.get(vm.id.lower())
        if said.group(3) is not None and said.group(3) not in " and ".join(
            sorted(set(vm.owners.values()))
        ):
            found.append(f"{line!r} while claimed by {vm.owners}")
        elif said.group(2) == "no longer pending" and record is not None and record.is_open:
            found.append(f"{line!r} while its record is {record.status}")
        elif said.group(2).startswith("its maintenance") and (
            record is None or record.status != "self_service_started"
        ):
            found.append(f"{line!r} while its record is {record.status if record else None}")
    return found


def _calendar(sent: Sent) -> tuple[str, list[Any]]:
    """The METHOD and the VEVENTs of the email's .ics, as ``icalendar`` reads them back."""
    calendar = sent.job.message.calendar
    if not calendar:
        return "", []
    from icalendar import Calendar

    document = Calendar.from_ical(to_ics(MaintenanceCalendar.from_json(calendar)))
    return str(document["METHOD"]), list(document.walk("VEVENT"))


_SAYS_OVER = ("this maintenance is over", "Azure will not do this maintenance")


def calendar_untrue(sent: Sent) -> list[str]:
    method, events = _calendar(sent)
    if not events:
        return []
    clock = ReaderClock.for_receiver(sent.job.receiver, sent.at)
    stated = {
        (name, what): moment
        for _, name, rest in listed(sent)
        for what, moment in _LINE_MOMENT.findall(rest)
    }
    names = {vm.id.lower(): vm.name for vm in sent.vms}
    over = any(words in line for line in lines_of(sent) for words in _SAYS_OVER)
    found = []
    for item in events:
        vm_id, window = str(item["X-FOREWARN-VM"]).lower(), str(item["X-FOREWARN-WINDOW"])
        name, record = names.get(vm_id, vm_id), sent.records.get(vm_id)
        if method == "CANCEL":
            if record is not None and record.is_open and not over:
                found.append(f"{name}'s {window} entry cancelled while its record is open")
            continue
        if record is None:
            continue
        if not record.is_open:
            found.append(f"{name}'s {window} entry published while its record is closed")
        start = item.decoded("DTSTART") if "DTSTART" in item else None
        end = item.decoded("DTEND") if "DTEND" in item else None
        held = record.self_service_window if window == "self-service" else record.scheduled_window
        held_end = held.end_dt
        if held_end is not None and held.start_dt is not None and held_end <= held.start_dt:
            held_end = None  # a broken window keeps its start only
        if (start, end) != (held.start_dt, held_end):
            found.append(f"{name}'s {window} entry {start}–{end}, its record {held}")
        lines = (
            {"start by": end, "start from": start}
            if window == "self-service"
            else {"Azure from": start}
        )
        for what, moment in lines.items():
            said = stated.get((name, what))
            if said is not None and (moment is None or clock.local(moment) != said):
                found.append(f"{name}'s line says {what} {said}; its {window} entry {moment}")
    return found


_ACTION_URL = re.compile(r"/api/actions/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def _start_links(sent: Sent) -> Iterator[dict[str, Any]]:
    """The payload of every Start link the message carries (read, not verified: the oracle
    checks what the link says, the service checks who signed it)."""
    seen: set[str] = set()
    for line in lines_of(sent):
        for token in _ACTION_URL.findall(line):
            if token in seen:
                continue
            seen.add(token)
            body = token.split(".", 1)[0]
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            if payload.get("a") == "start":
                yield payload


def start_link_untrue(sent: Sent) -> list[str]:
    mine = {vm.id: vm for vm in sent.vms}
    advised = {
        vm_id
        for vm_id, vm in mine.items()
        if vm.advice.action == "self_service" and vm.maintenance is not None
    }
    plan = sent.enriched.plan
    steps = [
        [vm_id for vm_id in step.vm_ids if vm_id in advised]
        for step in (plan.steps if plan else [])
    ]
    steps = [ids for ids in steps if ids]
    found = []
    for link in _start_links(sent):
        vms, step = list(link.get("v", [])), str(link.get("s", ""))
        if link.get("r") != sent.job.receiver.name:
            found.append(f"a Start link for receiver {link.get('r')!r}")
        if link.get("w") != sent.enriched.event.tracking_id:
            found.append(f"a Start link for wave {link.get('w')!r}")
        for vm_id in vms:
            record = sent.records.get(vm_id.lower())
            if vm_id not in advised:
                found.append(f"{step}'s Start link names {vm_id}, not advised to start itself")
            elif record is not None and not record.is_open:
                found.append(f"{step}'s Start link names {vm_id}, closed ({record.status})")
        number = int(step.removeprefix("step ")) if step.startswith("step ") else 0
        if not 0 < number <= len(steps) or steps[number - 1] != vms:
            found.append(f"{step}'s Start link names {vms}, the step lists another set")
    return found


Check = Callable[[Sent], list[str]]
# A Scheduled Event's lines, as shared/render/scheduled.py and shared/render/headline.py write
# them: (pattern, which moment its time is). Group 1 is the VM's name, 2 and 3 the time and zone.
_EVENT_TYPES = "Reboot|Redeploy|Freeze|Preempt|Terminate"
_CLOCK = r"(\d{2}:\d{2}) ([A-Z][A-Za-z0-9+\-]*)"
_SCHEDULED_LINES = (
    (re.compile(rf"^(?:{_EVENT_TYPES}) of (\S+) at {_CLOCK}, (?:in (\d+) min|now)\b"), "before"),
    (re.compile(rf"^(?:{_EVENT_TYPES}) of (\S+) started \(seen {_CLOCK}\)"), "seen"),
    (re.compile(rf"^(?:{_EVENT_TYPES}) of (\S+) at {_CLOCK} canceled"), "before"),
    (re.compile(rf"^(\S+) (?:rebooted|redeployed to another host), back at {_CLOCK}"), "seen"),
    (re.compile(rf"^(\S+) drained: (?:{_EVENT_TYPES}) approved at {_CLOCK}"), "seen"),
    (re.compile(rf"^(?:{_EVENT_TYPES}) of (\S+) at {_CLOCK} no longer scheduled"), "before"),
    (
        re.compile(
            rf"^(\S+) (?:drain failed|drained, but the approval failed): "
            rf"(?:{_EVENT_TYPES}) at {_CLOCK}"
        ),
        "before",
    ),
)
_DONE_SAID = re.compile(r"^\S+ (?:rebooted|redeployed to another host), back at ")
_REGION_SAID = re.compile(r"^Scheduled event \([^)]*\) in (.+?), affecting")


def scheduled_event_untrue(sent: Sent) -> list[str]:
    event = sent.enriched.event
    if event.kind != "scheduled_event":
        return []
    clock = ReaderClock.for_receiver(sent.job.receiver, sent.at)
    names = {vm.name for vm in sent.enriched.vms}
    moments = {
        "before": parse_utc(event.impact_start) if event.impact_start else None,
        "seen": parse_utc(event.event_time) if event.event_time else None,
    }
    regions = {vm.location for vm in sent.enriched.vms if vm.location}
    found = []
    for line in lines_of(sent):
        for pattern, which in _SCHEDULED_LINES:
            said = pattern.match(line)
            if said is None:
                continue
            if said.group(1) not in names:
                found.append(f"names {said.group(1)!r}, not the event's VM {sorted(names)}: {line}")
            moment = moments[which]
            here = moment.astimezone(clock.zone) if moment else None
            if here is None or (said.group(2), said.group(3)) != (f"{here:%H:%M}", here.tzname()):
                found.append(f"{said.group(2)} {said.group(3)} is not the event's {which}: {line}")
            if which == "before" and pattern.groups == 4 and moment is not None:
                minutes = math.ceil((moment - sent.at).total_seconds() / 60)
                stated = int(said.group(4)) if said.group(4) else 0
                if stated != max(minutes, 0):
                    found.append(f"says {stated} min, NotBefore is {minutes} min away: {line}")
        before, seen = moments["before"], moments["seen"]
        if _DONE_SAID.match(line) and before is not None and seen is not None and seen < before:
            found.append(f"says it happened; it went before its NotBefore, never started: {line}")
        region = _REGION_SAID.match(line)
        true_region = region is None or (
            region.group(1) in regions if regions else region.group(1) == "unspecified regions"
        )
        if region and not true_region:
            found.append(f"says {region.group(1)!r}; its VM is in {sorted(regions)}: {line}")
    return found


_ISO_MOMENT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})"
)
FOR_PEOPLE = frozenset({"email", "sms", "slack", "teams"})


def raw_moment(sent: Sent) -> list[str]:
    if sent.job.message.channel not in FOR_PEOPLE:
        return []
    return [f"an ISO 8601 moment: {line}" for line in lines_of(sent) if _ISO_MOMENT.search(line)]


# A moment labelled UTC: "2030-03-20 00:00 UTC", "Tue 15 Sep 12:00 UTC", "12:00 UTC".
_UTC_MOMENT = re.compile(r"\b\d{2}:\d{2} UTC\b")
_BRACKETED = re.compile(r"\([^()]*\)")


def zones_mixed_in(text: str, zone: str) -> list[str]:
    """Lines of ``text`` that say a moment in UTC outside brackets, for a reader in ``zone``."""
    if ReaderClock(zone_or_utc(zone), "en", datetime.now()).is_utc:
        return []
    return [line for line in text.splitlines() if _UTC_MOMENT.search(_BRACKETED.sub("", line))]


def zones_mixed(sent: Sent) -> list[str]:
    if sent.job.message.channel not in FOR_PEOPLE:
        return []
    zone = sent.job.receiver.timezone
    return [
        f"a moment in UTC to a reader in {zone}: {line}"
        for line in zones_mixed_in("\n".join(lines_of(sent)), zone)
    ]


_RELABELLED = {
    "maintenance.reminder": "Reminder",
    "maintenance.escalated": "Escalated",
    "maintenance.escalation_resolved": "Escalation resolved",
}


def label_untrue(sent: Sent) -> list[str]:
    wanted = _RELABELLED.get(notice_type(sent.enriched.event) or "")
    if wanted is None:
        return []
    return [
        f"labelled as an announcement, not {wanted!r}: {line}"
        for line in lines_of(sent)
        if "Planned maintenance · Planned" in line
    ]


_START_HEADING = re.compile(r"^(?:\[TEST\] )?Maintenance (started|completed|failed): ([^:]+):")
_START_VM_SAID = re.compile(r"\b([\w.-]+): (maintenance completed|the operation failed)")
# What a record's status must be for each word of the heading (after the message).
_HEADING_HOLDS = {
    "completed": frozenset({"completed"}),
    "started": frozenset({"self_service_started"}),
    "failed": frozenset({"pending", "rescheduled", "completed", "gone"}),
}
_BODY_WORD = {"maintenance completed": "completed", "the operation failed": "failed"}


def start_heading_untrue(sent: Sent) -> list[str]:
    event = sent.enriched.event
    if not (event.operation_name or "").lower().endswith("/performmaintenance/action"):
        return []
    if not event.tracking_id:
        # Not told in a wave's thread (a VM forewarn does not follow, or whose wave is over):
        # an Administrative event that says what the Activity Log said of the operation.
        return []
    message = sent.job.message
    by_name = {record.vm.name: record for record in sent.records.values()}
    body = [line for line in lines_of(sent) if _START_VM_SAID.search(line)]
    found = []
    # The subject and the text's first line: each channel's heading (an email has both).
    for first_line in [message.subject, *(message.text.splitlines()[:1])]:
        heading = _START_HEADING.match(first_line)
        if heading is None:
            continue
        word, names = heading.group(1), [n.strip() for n in heading.group(2).split(",")]
        for name in names:
            record = by_name.get(name)
            if record is not None and record.status not in _HEADING_HOLDS[word]:
                found.append(f"heading says {name} {word}; its record says {record.status}")
        for line in body:
            for name, said in _START_VM_SAID.findall(line):
                if name in names and _BODY_WORD[said] != word:
                    found.append(f"heading says {name} {word}; its line: {line}")
    return found


def foreign_vm_line(sent: Sent) -> list[str]:
    event_vms = sent.enriched.vms
    same = Counter(vm.name for vm in event_vms)
    mine = {summary_name(vm, same[vm.name] > 1) for vm in sent.vms}
    theirs = {summary_name(vm, same[vm.name] > 1) for vm in event_vms} - mine
    # A held-back note ("1 VM held back by silence …: db-1.") names VMs by name alone: one of
    # the event's VMs that is not the receiver's (and shares no name with one that is) is
    # another team's, held or not, and this receiver must not read of it.
    others = {vm.name for vm in event_vms} - {vm.name for vm in sent.vms}
    found = []
    for line in lines_of(sent):
        if any(line.startswith(f"{name}: ") for name in theirs):
            found.append(f"a line about another receiver's VM: {line}")
        held = _HELD.search(line)
        named = {name.strip() for name in held.group(3).split(",")} if held else set()
        found += [
            f"a held-back note naming another receiver's VM {n}: {line}" for n in others & named
        ]
    return found + foreign_vm_note(sent)


def foreign_vm_note(sent: Sent) -> list[str]:
    """An enrichment note about one VM ("VM web-9 no longer exists …") shown to a receiver
    none of whose VMs shares that VM's subscription and resource group: routing gave it to
    another team (a tag-routed team can still miss this; the check errs on the quiet side).
    Or a note about a subscription other receivers have VMs of, shown to one with none."""
    if not sent.vms:
        return []
    mine = {(vm.subscription_id.lower(), vm.resource_group.lower()) for vm in sent.vms}
    theirs = {vm.subscription_id.lower() for vm in sent.enriched.vms} - {s for s, _ in mine}
    shown = " ".join(" ".join(lines_of(sent)).split())
    found = []
    for note in sent.enriched.notes:
        if " ".join(note.message.split()) not in shown:
            continue
        parsed = parse_vm_id(note.resource_id or "")
        if parsed is not None:
            where = (parsed.subscription_id.lower(), parsed.resource_group.lower())
            if where not in mine:
                found.append(f"a note about another receiver's VM {parsed.name}: {note.message}")
        elif not note.resource_id and (note.subscription_id or "").lower() in theirs:
            found.append(f"a note about another receiver's subscription: {note.message}")
    return found


_OWNED = re.compile(r"claimed by (.+?)(?: ·|; |\. |\.$|$)")


def _people(text: str) -> set[str]:
    """``Alice``, ``Alice and Bob``, ``Alice, Bob and Carol``: the names, each once."""
    return {name.strip() for part in text.split(" and ") for name in part.split(", ")} - {""}


def owner_untrue(sent: Sent) -> list[str]:
    if sent.ownership is None:
        return []
    wave = sent.enriched.event.tracking_id
    found = []
    lines = lines_of(sent)
    for vm in sent.vms:
        owners = set(sent.ownership.owners_of(vm.id, wave).values())
        # A summary line names a VM alone, or with where it lives when another VM of the
        # event has its name (shared/wave/notices.py); a name shared with another VM of the
        # event never stands for this one.
        where = summary_name(vm, ambiguous=True)
        shared_name = sum(other.name == vm.name for other in sent.enriched.vms) > 1
        # Two of the receiver's VMs of one name in one resource group read alike: skipped.
        twin = sum((o.name, o.resource_group) == (vm.name, vm.resource_group) for o in sent.vms)
        about = [
            line
            for line in lines
            if (
                twin == 1
                and line.startswith((f"{vm.name} (", f"• {vm.name} ("))
                and not line.startswith(f"{vm.name} ({vm.resource_group}, subscription ")
            )
            or line.startswith(f"{where}:")
            or (not shared_name and line.startswith(f"{vm.name}:"))
            or f". {vm.name}: claimed by " in line
        ]
        for line in about:
            rest = line.removeprefix(where) if line.startswith(where) else line
            claimed = _OWNED.search(rest.split(f"{vm.name}", 1)[-1])
            said = _people(claimed.group(1)) if claimed else set()
            if claimed and said != owners:
                found.append(
                    f"{vm.name}: says claimed by {sorted(said)}, the claims {sorted(owners)}"
                )
            elif not claimed and owners and " · " in line and not line.startswith(f"{vm.name}:"):
                found.append(f"{vm.name}: its line names no owner, the claims {sorted(owners)}")
    return found


_SLACK_CLAIMED = re.compile(r"^(\S+): claimed by (.+)$")
_SLACK_WAVE = re.compile(r"^Wave (\S+): claimed by (.+) for (\S+)$")
_SLACK_SNOOZED = re.compile(r"^(.+): reminders snoozed until (.+?) by ")


def slack_update_untrue(
    blocks: list[dict[str, Any]], vm_ids: dict[str, str], ownership: Ownership, zone: str = "UTC"
) -> list[Contradiction]:
    """What the owners' block of an updated Slack message says that the claims contradict.
    ``vm_ids``: VM name -> id, for the VMs the message is about; ``zone``: the receiver's, in
    which a snooze's end is said."""
    found: list[Contradiction] = []

    def say(check: str, text: str) -> None:
        found.append(Contradiction(check, "slack", "update", text))

    texts = [
        str(element.get("text") or "")
        for block in blocks
        if block.get("block_id") == "forewarn-owners"
        for element in block.get("elements") or []
    ]
    for line in (line for text in texts for line in text.split("\n") if line):
        line = line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        if wave := _SLACK_WAVE.match(line):
            claims = ownership.wave_claims.get(wave.group(1).lower(), [])
            if (wave.group(3), wave.group(2)) not in {(c.receiver, c.by) for c in claims}:
                say("slack_wave_claimed", line)
        elif claimed := _SLACK_CLAIMED.match(line):
            vm_id = vm_ids.get(claimed.group(1), "")
            own = ownership.vm_claims.get(vm_id.lower())
            if own is None or own.by != claimed.group(2):
                say("slack_claimed", f"{line} (the claims: {own.by if own else 'nobody'})")
        elif snoozed := _SLACK_SNOOZED.match(line):
            for name in snoozed.group(1).split(", "):
                until = ownership.snoozed_until(vm_ids.get(name, ""))
                here = ReaderClock(zone_or_utc(zone), "en", until) if until else None
                if until is None or here is None or here.local(until) != snoozed.group(2):
                    say("slack_snoozed", f"{line} ({name}: the claims {until})")
    return found


CHECKS: list[Check] = [
    no_action_for_todo,
    over_while_open,
    done_with_reboot,
    moment_not_recorded,
    recovered_unsaid,
    vm_line_untrue,
    named_deadline_untrue,
    plan_spacing_untrue,
    held_uncounted,
    discovery_untrue,
    rebooting_too_soon,
    escalation_untrue,
    resolution_untrue,
    calendar_untrue,
    start_link_untrue,
    scheduled_event_untrue,
    owner_untrue,
    foreign_vm_line,
    raw_moment,
    zones_mixed,
    label_untrue,
    start_heading_untrue,
]


def contradictions(sent: Sent, checks: list[Check] | None = None) -> list[Contradiction]:
    found = []
    for check in checks or CHECKS:
        for text in check(sent):
            found.append(
                Contradiction(check.__name__, sent.job.receiver.name, sent.job.event_id, text)
            )
    return found


def judge(messages: list[Sent], checks: list[Check] | None = None) -> list[Contradiction]:
    return [found for sent in messages for found in contradictions(sent, checks)]


def dump(contradictions_found: list[Contradiction]) -> str:
    return json.dumps([str(item) for item in contradictions_found], indent=1)


# --------------------------------------------------------------------------------------
# The board page

BOARD_STATES = {
    "pending": "to do",
    "rescheduled": "rescheduled",
    "self_service_started": "started",
    "completed": "done",
    "gone": "deleted",
}
_ZONE_SAID = re.compile(r"Times in ([A-Za-z_+\-/0-9]+);")
_CLAIMED = re.compile(r"claimed by (.+?)(?: \(reminders to [^)]*\))?$")
NOTHING = "—"


class _BoardRows(HTMLParser):
    """Each ``<tr id="vm-GROUP/NAME">``: its cells' text by their ``data-label``, and the page's
    text (for the zone it names)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, list[str]]] = {}
        self.text: list[str] = []
        self._row: str | None = None
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and (found.get("id") or "").startswith("vm-"):
            self._row = (found.get("id") or "")[3:]
            self.rows[self._row] = {}
        elif tag == "td" and self._row is not None:
            self._label = found.get("data-label") or ""
            self.rows[self._row][self._label] = []
        elif tag in ("br", "li") and self._row is not None and self._label is not None:
            self.rows[self._row][self._label].append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._label = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None and self._label is not None:
            self.rows[self._row][self._label].append(data)


def board_rows(page: str) -> tuple[dict[str, dict[str, str]], str]:
    """ "GROUP/NAME" -> column -> its text (lines joined by newlines), and the page's text."""
    reader = _BoardRows()
    reader.feed(page)
    rows = {
        name: {label: "".join(parts).strip() for label, parts in cells.items()}
        for name, cells in reader.rows.items()
    }
    return rows, "".join(reader.text)


def board_untrue(
    page: str, records: list[MaintenanceRecord], ownership: Ownership, now: datetime
) -> list[Contradiction]:
    """What the board page states about each VM that its records and claims contradict."""
    rows, text = board_rows(page)
    zone_said = _ZONE_SAID.search(text)
    clock = ReaderClock(ZoneInfo(zone_said.group(1) if zone_said else "UTC"), "en", now)
    found: list[Contradiction] = []

    def say(check: str, name: str, what: str) -> None:
        found.append(Contradiction(check, "board", name, what))

    by_name = {f"{record.vm.resource_group}/{record.vm.name}": record for record in records}
    for name in sorted(set(by_name) ^ set(rows)):
        say("board_vm_missing", name, "in the records" if name in by_name else "on the page")
    for name, cells in rows.items():
        record = by_name.get(name)
        if record is None:
            continue
        if cells.get("State") != BOARD_STATES[record.status]:
            say("board_state", name, f"{cells.get('State')!r}, its record {record.status}")
        end = record.self_service_window.end_dt
        wanted = (
            clock.local(end)
            if end is not None and record.is_open and record.advice == "self_service"
            else NOTHING
        )
        if cells.get("Start by") != wanted:
            say("board_start_by", name, f"{cells.get('Start by')!r}, its record {wanted!r}")
        for label, window in (
            ("Self-service window", record.self_service_window),
            ("Azure's window", record.scheduled_window),
        ):
            if cells.get(label) != clock.window(window):
                say("board_window", name, f"{label} {cells.get(label)!r}")
        owners = set(ownership.owners_of(record.vm_id, record.tracking_id).values())
        said = {
            claimed.group(1)
            for line in (cells.get("Owner") or "").splitlines()
            if (claimed := _CLAIMED.match(line.strip()))
        }
        if said != owners:
            say("board_owner", name, f"says {sorted(said)}, the claims {sorted(owners)}")
        until = ownership.snoozed_until(record.vm_id)
        snoozed = clock.local(until) if until is not None and until > now else NOTHING
        if cells.get("Snoozed until") != snoozed:
            say("board_snoozed", name, f"{cells.get('Snoozed until')!r}, the claims {snoozed!r}")
    return found


_TEXT_HEAD = re.compile(r"^(\S+) \(([^)]*)\)  (.+)$")


def board_text_untrue(
    lines: list[str],
    records: list[MaintenanceRecord],
    ownership: Ownership,
    zone: str,
    now: datetime,
) -> list[Contradiction]:
    """``forewarn wave show``'s text read the same way: each VM's first line ("NAME (GROUP)
    state · advice · start by T · claimed by P") against its record and claims."""
    clock = ReaderClock(ZoneInfo(zone), "en", now)
    by_key = {f"{record.vm.resource_group}/{record.vm.name}": record for record in records}
    found: list[Contradiction] = []
    seen: set[str] = set()
    for line in lines:
        head = _TEXT_HEAD.match(line)
        if head is None:
            continue
        key = f"{head.group(2)}/{head.group(1)}"
        record = by_key.get(key)
        if record is None:
            found.append(Contradiction("board_vm_missing", "board", key, "on the text only"))
            continue
        seen.add(key)
        parts = head.group(3).split(" · ")
        said = {
            part.split(" by ", 1)[0]: part.split(" by ", 1)[1] for part in parts if " by " in part
        }
        if parts[0] != BOARD_STATES[record.status]:
            found.append(Contradiction("board_state", "board", key, parts[0]))
        end = record.self_service_window.end_dt
        wanted = (
            clock.local(end)
            if end is not None and record.is_open and record.advice == "self_service"
            else None
        )
        if said.get("start") != wanted:
            found.append(Contradiction("board_start_by", "board", key, f"{said.get('start')!r}"))
        owners = ownership.owners_of(record.vm_id, record.tracking_id)
        people = sorted(set(owners.values()), key=str.lower)
        named = said.get("claimed")
        named_people = re.split(r", | and ", named) if named else []
        if sorted(named_people, key=str.lower) != people:
            found.append(Contradiction("board_owner", "board", key, f"{named!r}, claims {people}"))
    for key in sorted(set(by_key) - seen):
        found.append(Contradiction("board_vm_missing", "board", key, "in the records only"))
    return found


_AZURE_NOTICE = "Azure's notice"


def board_told_untrue(board: Board) -> list[Contradiction]:
    """Each told row says something of its own: no two alike, Azure's notices by their stage."""
    found = []
    for vm in board.vms:
        seen: set[tuple[str, tuple[str, ...], str | None]] = set()
        for row in vm.told:
            said = (row.what, row.receivers, row.held_by)
            if said in seen:
                found.append(Contradiction("board_told_twice", "board", vm.name, row.what))
            seen.add(said)
            if row.what == _AZURE_NOTICE:
                found.append(
                    Contradiction("board_told_twice", "board", vm.name, "which notice, unsaid")
                )
            # A notice of the wave before Azure re-issued it names the id it came under (the
            # one the portal lists it by); a notice of this very wave names no other id.
            other = row.under_tracking_id
            if other and (
                other.lower() == board.tracking_id.lower()
                or f"under tracking id {other})" not in row.what
            ):
                found.append(
                    Contradiction("board_told_wave", "board", vm.name, f"{row.what!r}, {other}")
                )
            if not other and "under tracking id" in row.what:
                found.append(Contradiction("board_told_wave", "board", vm.name, row.what))
    return found
