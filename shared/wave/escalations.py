"""Escalation: louder, once, when nobody acts on a VM before its self-service window closes.

A receiver may declare ``escalate: {to: RECEIVER, before: 24h}`` (shared/routing/rules.py). A
VM advised to start itself that is still pending (not claimed, not started, not done) when its
self-service window closes within ``before`` is escalated once to ``to``; claiming it, starting
it or its maintenance ending resolves the escalation, told to the same place (a PagerDuty
``resolve`` with the alert's own key, a short "resolved: claimed by Alice" elsewhere).

This module is the pure part, run by the reminders pass (hourly, so an escalation is at most
an hour late; the sweep runs every 6 h): which records may be escalated now (``candidates``)
and which escalations are resolved (``resolutions``). A claim does not wait for the pass: every
claim path (CLI, link, Slack button) runs ``resolutions`` for the claimed VMs at once
(``WaveRunner.resolve_claimed``), and the record then keeps it, so the pass says nothing
again. A record a new wave ends (moved to ``endedrecords``) is resolved as it moves
(``WaveRunner.resolve_ended``): no pass reads it again. Which receivers a VM reaches, and so
whose ``before`` applies, is the routing file's (shared/routing/grouping.py); the pass asks it
before it sends, so that a VM is not marked escalated while no ``before`` holds for it yet.

Each is kept in the VM's record once sent (``escalation:<self-service end>``,
``escalation-resolved:<self-service end>``): a second pass, or a pass run again after a crash
(the event id is a digest of the notices), tells nobody twice. A new self-service window
(rescheduled) is a new deadline, so it may be escalated again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from shared.timeutil import parse_utc
from shared.wave.claims import Ownership, owner_text
from shared.wave.notices import Notice
from shared.wave.records import MaintenanceRecord

ESCALATION_PREFIX = "escalation:"
RESOLVED_PREFIX = "escalation-resolved:"
# Statuses in which a VM still waits for someone to start it.
WAITING = frozenset({"pending", "rescheduled"})


def escalation_key(deadline: str) -> str:
    return f"{ESCALATION_PREFIX}{deadline}"


def resolved_key(deadline: str) -> str:
    return f"{RESOLVED_PREFIX}{deadline}"


def candidates(
    records: Iterable[MaintenanceRecord],
    now: datetime,
    longest: timedelta,
    ownership: Ownership,
) -> list[MaintenanceRecord]:
    """Records that may be escalated at ``now``: advised to start themselves, still waiting,
    unclaimed, their self-service window closing within ``longest`` (the longest ``before``
    of any receiver), and not yet escalated for that deadline."""
    found = []
    for record in records:
        end = record.self_service_window.end
        if record.status not in WAITING or record.advice != "self_service" or not end:
            continue
        if not now < parse_utc(end) <= now + longest:
            continue
        if ownership.owners_of(record.vm_id, record.tracking_id):
            continue  # someone has it: nothing to escalate
        if record.has_sent(escalation_key(end)):
            continue
        found.append(record)
    return found


def escalation_notice(record: MaintenanceRecord) -> Notice:
    end = record.self_service_window.end or ""
    return Notice(
        "escalation",
        record.vm,
        record.tracking_id,
        escalation_key(end),
        end,
        f"escalated: nobody claimed or started it; the self-service window closes at {end}",
    )


def _escalated_deadline(record: MaintenanceRecord) -> str | None:
    """The deadline of this record's escalation not yet resolved, if any."""
    for sent in reversed(record.sent):
        if sent.key.startswith(ESCALATION_PREFIX) and sent.receivers:
            deadline = sent.key[len(ESCALATION_PREFIX) :]
            return None if record.has_sent(resolved_key(deadline)) else deadline
    return None


def resolutions(
    records: Iterable[MaintenanceRecord], ownership: Ownership
) -> list[tuple[MaintenanceRecord, Notice]]:
    """Escalations whose VM has since been claimed, started or finished, each with the notice
    that says so (``resolved: claimed by Alice``)."""
    found = []
    for record in records:
        deadline = _escalated_deadline(record)
        if deadline is None:
            continue
        owners = ownership.owners_of(record.vm_id, record.tracking_id)
        if owners:
            why = f"claimed by {owner_text(owners)}"
        elif record.status == "self_service_started":
            why = "its maintenance was started"
        elif record.status == "completed":
            why = "its maintenance is no longer pending"
        elif record.status == "gone":
            why = "the VM was deleted"
        else:
            continue
        vm = record.vm
        if not record.is_open:
            vm = replace(vm, maintenance=None)  # nothing left to do: no deadline to show
        notice = Notice(
            "escalation_resolved",
            vm,
            record.tracking_id,
            resolved_key(deadline),
            None,
            f"resolved: {why}",
        )
        found.append((record, notice))
    return found
