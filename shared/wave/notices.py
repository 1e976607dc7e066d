"""What following a wave tells people, shaped so that the route stage takes it unchanged.

A ``Notice`` is one thing about one VM (added mid-wave, rescheduled, completed, gone, a
reminder). Notices of one kind and wave become one ``EnrichedEvent`` listing all their VMs, so
that the routing file picks receivers VM by VM exactly as for Azure's own notices, and each
receiver gets one message per kind and wave, not one per VM.

The event id is a digest of what the event says (kind, wave, each VM and its notice key): the
same notices give the same id, and delivery's idempotency key (``event id:receiver``) keeps a
sweep that is run again after a crash from messaging anyone twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from shared.models import (
    EnrichedEvent,
    ImpactedService,
    MaintenanceEvent,
    TimeWindow,
    VirtualMachine,
)
from shared.render.lifecycle import WAVE_OPERATION_PREFIX
from shared.timeutil import format_utc
from shared.wave.records import MaintenanceRecord, remaining_vm

NoticeKind = Literal[
    "vm_added", "rescheduled", "completed", "gone", "reminder", "escalation", "escalation_resolved"
]

# The Service Health stage each kind reads as, so that ``stages:`` matchers in the routing
# file treat them like Azure's own communications of a wave.
STAGE_OF: dict[str, str] = {
    "vm_added": "Planned",
    "rescheduled": "Rescheduled",
    "completed": "Complete",
    "gone": "Resolved",
    "reminder": "Planned",
    # An escalation is about VMs still to do; its resolution too (a claimed VM still is).
    "escalation": "Planned",
    "escalation_resolved": "Planned",
}
# ``operation_name`` of every event made here: the prefix by which lifecycle, grouping and
# silencing tell the wave timers' events from Azure's, so it is theirs, not a second copy.
OPERATION_PREFIX = WAVE_OPERATION_PREFIX
VM_SERVICE = "Virtual Machines"

RESCHEDULED_WHY = (
    "Azure gives a VM new maintenance windows when it is deallocated, resized, shut down by a "
    "schedule (auto-shutdown, DevTest Labs) or moved by service healing, or when Azure issues "
    "the wave again."
)
ESCALATED_WHY = (
    "Escalated: nobody claimed or started these VMs, and their self-service window closes "
    "soon; after it, Azure reboots them in its scheduled window."
)
# Also a VM maintained in an earlier wave and scheduled again (shared/wave/sweep.py): said so
# that it holds for both.
ADDED_WHY = (
    "No notice named these VMs; their instance view shows planned maintenance. Azure does not "
    "notify VMs created in, or moved into, a region while a wave is already running, and a "
    "later wave's notice may not have come yet."
)


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    vm: VirtualMachine
    tracking_id: str | None
    key: str  # recorded in the VM's record once sent: each notice happens once
    due: str | None  # the moment people must act by (ISO 8601 UTC), if any
    detail: str = ""  # one line about this VM: what changed, which deadline

    @property
    def vm_id(self) -> str:
        return self.vm.id


def due_of(vm: VirtualMachine) -> str | None:
    """The self-service window's end when the advice is to start it yourself, else the
    scheduled window's start: when Azure will do it anyway."""
    status = vm.maintenance
    if status is None:
        return None
    if vm.advice.action == "self_service" and status.self_service_window.end:
        return status.self_service_window.end
    return status.scheduled_window.start


def windows_text(vm: VirtualMachine) -> str:
    status = vm.maintenance
    if status is None:
        return "no maintenance planned"
    return windows_phrase(status.self_service_window, status.scheduled_window)


def windows_phrase(own: TimeWindow, azure: TimeWindow) -> str:
    """Both windows in one line; a record's too (its windows outlive the VM's reading)."""
    return (
        f"self-service {own.start or '?'} to {own.end or '?'}, "
        f"scheduled {azure.start or '?'} to {azure.end or '?'}"
    )


def _title(kind: str, count: int, label: str) -> str:
    vms = f"{count} VM" + ("" if count == 1 else "s")
    return {
        "vm_added": f"Planned maintenance found on {vms} that no notice named",
        "rescheduled": f"Maintenance rescheduled for {vms}",
        "completed": f"Maintenance no longer pending on {vms}",
        "gone": f"{vms} deleted during the maintenance wave",
        "reminder": f"Reminder: {label} for {vms}",
        "escalation": f"Escalated: nobody claimed or started {vms} to start yourself",
        "escalation_resolved": f"Escalation resolved for {vms}",
    }[kind]


def _summary(kind: str, notices: list[Notice]) -> str:
    lead = {
        "vm_added": ADDED_WHY,
        "rescheduled": RESCHEDULED_WHY,
        "completed": "Azure no longer has maintenance pending for these VMs.",
        "gone": "These VMs no longer exist; nothing is left to do for them.",
        "reminder": "Still pending (read again just now).",
        "escalation": ESCALATED_WHY,
        "escalation_resolved": "These VMs are no longer waiting on anyone.",
    }[kind]
    names = Counter(notice.vm.name for notice in notices)
    lines = [
        f"{summary_name(notice.vm, names[notice.vm.name] > 1)}: {notice.detail}"
        for notice in notices
        if notice.detail
    ]
    return "\n".join([lead, *lines])


def summary_name(vm: VirtualMachine, ambiguous: bool) -> str:
    """How a VM is named in an event's summary lines: its name, and where it lives when another
    VM of the event has that name too (a receiver of both reads both lines, and must not
    take another subscription's "vm-053: claimed by Bob" for its own vm-053)."""
    if not ambiguous:
        return vm.name
    return f"{vm.name} ({vm.resource_group}, subscription {vm.subscription_id[:8]})"


def summary_for(enriched: EnrichedEvent, vms: list[VirtualMachine]) -> EnrichedEvent:
    """The event as one receiver reads it: its summary's VM lines kept to ``vms``, the
    receiver's own. The summary is written once for the event, one line per VM; a team must
    not read "db-1: claimed by Bob" about another team's VM (the route stage calls this)."""
    event = enriched.event
    if not (event.operation_name or "").startswith(OPERATION_PREFIX) or not event.summary:
        return enriched
    same = Counter(vm.name for vm in enriched.vms)
    mine = {summary_name(vm, same[vm.name] > 1) for vm in vms}
    theirs = {summary_name(vm, same[vm.name] > 1) for vm in enriched.vms} - mine
    lines = event.summary.split("\n")
    kept = [line for line in lines if not any(line.startswith(f"{n}: ") for n in theirs)]
    if len(kept) == len(lines):
        return enriched
    return replace(enriched, event=replace(event, summary="\n".join(kept)))


def event_id_for(kind: str, tracking_id: str | None, notices: list[Notice]) -> str:
    digest = hashlib.sha256()
    for part in (kind, tracking_id or "", *sorted(f"{n.vm.id.lower()}|{n.key}" for n in notices)):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return f"wave-{kind.replace('_', '-')}-{digest.hexdigest()[:24]}"


def _routable(notice: Notice) -> VirtualMachine:
    if notice.kind in ("gone", "completed"):
        # A deleted or maintained VM has no deadline left (quiet hours may hold its message),
        # and its message must not show the reboot it no longer faces.
        return replace(notice.vm, maintenance=None)
    return notice.vm


# Kinds whose message says what else of the wave is still open (``EnrichedEvent.remaining``).
SAYS_WHAT_REMAINS = frozenset({"vm_added", "rescheduled", "completed", "gone"})


def _remaining(
    tracking_id: str, members: list[Notice], open_records: list[MaintenanceRecord]
) -> list[VirtualMachine]:
    """The wave's other open VMs (same tracking id, or none on both sides, same subscriptions)."""
    told = {notice.vm_id.lower() for notice in members}
    subscriptions = {notice.vm.subscription_id.lower() for notice in members}
    return [
        remaining_vm(record)
        for record in open_records
        if record.is_open
        and (record.tracking_id or "").lower() == tracking_id.lower()
        and (tracking_id or record.subscription_id in subscriptions)
        and record.vm_id.lower() not in told
    ]


def notice_events(
    notices: list[Notice], now: datetime, open_records: list[MaintenanceRecord] | None = None
) -> list[tuple[EnrichedEvent, list[Notice]]]:
    """One event per (kind, wave, reminder label): the route stage's input, with its notices.

    ``open_records``: every record as this pass leaves it; a per-VM notice carries its wave's
    other open VMs from them, so that its message can say what remains."""
    grouped: dict[tuple[str, str, str], list[Notice]] = defaultdict(list)
    for notice in notices:
        label = notice.key.split(":")[1] if notice.kind == "reminder" else ""
        grouped[(notice.kind, notice.tracking_id or "", label)].append(notice)
    stamp = format_utc(now)
    events = []
    for (kind, tracking_id, label), members in sorted(grouped.items()):
        vms = [_routable(notice) for notice in members]
        regions = sorted({vm.location for vm in vms if vm.location})
        event = MaintenanceEvent(
            event_id=event_id_for(kind, tracking_id, members),
            kind="service_health",
            schema="common",
            subscription_ids=sorted({vm.subscription_id.lower() for vm in vms}),
            tracking_id=tracking_id or None,
            incident_type="Maintenance",
            stage=STAGE_OF[kind],
            status="Active",
            level="Informational",
            title=_title(kind, len(vms), _reminder_phrase(label)),
            summary=_summary(kind, members),
            impacted=[ImpactedService(VM_SERVICE, regions)],
            impact_start=None,
            impact_end=None,
            resource_ids=[vm.id for vm in vms],
            # A reminder says its offset too: routing gives it to the receivers that want it.
            operation_name=f"{OPERATION_PREFIX}{kind}" + (f"/{label}" if label else ""),
            maintenance_id=None,
            communication_id=None,
            is_test=False,
            received_at=stamp,
            event_time=stamp,
        )
        remaining = (
            _remaining(tracking_id, members, open_records or [])
            if kind in SAYS_WHAT_REMAINS
            else []
        )
        enriched = EnrichedEvent(
            event=event, vms=vms, plan=None, notes=[], enriched_at=stamp, remaining=remaining
        )
        events.append((enriched, members))
    return events


def _reminder_phrase(label: str) -> str:
    """``self_service-72h`` -> "self-service window closes in 72h"."""
    if not label:
        return ""
    which, _, offset = label.partition("-")
    if which == "self_service":
        return f"self-service window closes in {offset}"
    return f"scheduled maintenance starts in {offset}"
