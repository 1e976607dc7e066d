"""PagerDuty: one Events API v2 event per VM, so that each VM of a wave is one alert.

PagerDuty's unit is an alert about one affected system, deduplicated by ``dedup_key``: a
second trigger with the same key lands on the open alert instead of paging again, and a
``resolve`` with it closes the alert. So a message here is a list of events, one per VM,
keyed by the wave (tracking id) and the VM id (``dedup_key_for``): every later notice about
the same VM of the same wave (a reminder, an escalation, its completion) lands on one alert.

    notice                                       event_action
    maintenance done, VM deleted, wave cancelled resolve
    escalation resolved (claimed, started, done) resolve
    anything else about a VM with maintenance    trigger
    an event that names no VMs                   trigger (keyed by the wave alone)

The routing key is not part of the rendered message: rendered messages travel through
queues and the dead-letter table, and the key is a secret; the sender adds it
(shared/channels/pagerduty.py).

Fields, from PagerDuty's "Send an Alert Event" (developer-docs, events-API-v2/02-Trigger-Events):
``payload.summary`` (required, at most 1024 characters), ``payload.source`` (required),
``payload.severity`` (required: critical, error, warning or info), ``timestamp``,
``component``, ``group``, ``class``, ``custom_details`` (free-form object); ``dedup_key``
at most 255 characters. Text is plain there: no markup is interpreted, so nothing is
escaped beyond what JSON does; control and bidi characters are cleaned as in every channel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine, plain
from shared.render.facts import MessageFacts, build_facts
from shared.render.lifecycle import notice_type, wave_key
from shared.render.text import clean, clip
from shared.render.vm_facts import VmFacts
from shared.timeutil import format_utc

CLIENT = "forewarn"


@dataclass(frozen=True)
class PagerDutyLimits:
    summary_chars: int = 1024  # payload.summary
    dedup_key_chars: int = 255
    # PagerDuty refuses Events API payloads over 512 KB; one event per request keeps each
    # far below it (custom_details hold one VM's facts).
    payload_bytes: int = 512 * 1024


LIMITS = PagerDutyLimits()

# Notice types (shared/render/lifecycle.py) after which nothing is left to do about a VM.
RESOLVING = frozenset(
    {
        "maintenance.completed",
        "maintenance.vm_deleted",
        "maintenance.cancelled",
        "maintenance.escalation_resolved",
    }
)
SEVERITY = {"maintenance.escalated": "error"}  # everything else: warning
DEFAULT_SEVERITY = "warning"


def dedup_key_for(tracking_id: str | None, vm_id: str | None) -> str:
    """Stable per wave and VM (both compared lower-case, as Azure writes either case): the
    same VM of the same wave always lands on one PagerDuty alert."""
    digest = hashlib.sha256(f"{(tracking_id or '').lower()}|{(vm_id or '').lower()}".encode())
    return f"forewarn-{digest.hexdigest()[:40]}"


# What a notice of a VM's wave puts before its line ("Rescheduled: Start sql-01 yourself by …").
PREFIX = {
    "maintenance.reminder": "Reminder: ",
    "maintenance.rescheduled": "Rescheduled: ",
    "maintenance.in_progress": "In progress: ",
    "maintenance.vm_added": "Found mid-wave: ",
}


def _what(notice: str | None, vm: VmFacts, facts: MessageFacts) -> str:
    """One line about one VM: what happens to it, by when (in the receiver's zone)."""
    clock = facts.clock
    end, start = vm.self_service_end, vm.scheduled_start
    azure = f"Azure reboots it from {clock.local(start)}" if start else ""
    if notice == "maintenance.escalated" and end is not None:
        return (
            f"Escalated: {vm.name} is still to start and nobody claimed or started it; "
            f"the self-service window closes at {clock.local(end)}"
            + (f", then {azure}" if azure else "")
        )
    lead = PREFIX.get(notice or "", "")
    if vm.advice == "self_service" and end is not None and clock.now < end:
        return f"{lead}Start {vm.name} yourself by {clock.local(end)}" + (
            f" or {azure}" if azure else ""
        )
    if azure:
        return f"{lead}{vm.name}: {azure}"
    return f"{lead}{vm.name}: {facts.headline}"


def _details(vm: VmFacts, facts: MessageFacts, notice: str | None) -> dict[str, Any]:
    raw = vm.vm
    status = raw.maintenance
    return {
        "vm_id": clean(raw.id),
        "vm": vm.name,
        "subscription_id": vm.subscription_id,
        "resource_group": vm.resource_group,
        "location": vm.location,
        "tracking_id": facts.tracking_id or None,
        "notice_type": notice,
        "event_id": facts.event_id,
        "self_service_window": plain(status.self_service_window) if status else None,
        "scheduled_window": plain(status.scheduled_window) if status else None,
        "self_service_allowed_now": vm.allowed_now,
        "advice": vm.advice_label,
        "reasons": vm.reasons,
        "claimed_by": sorted(set(raw.owners.values())),
        "start_command": vm.az_command if vm.show_command else None,
        "portal": facts.portal_link,
        # The whole message's lead (what to do and by when, or what Azure is doing now).
        "message": facts.lead,
    }


def _trigger(
    dedup_key: str, summary: str, source: str, severity: str, now: datetime, **fields: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "summary": clip(clean(summary), LIMITS.summary_chars),
        "source": clip(clean(source), LIMITS.summary_chars),
        "severity": severity,
        "timestamp": format_utc(now),
        "component": "planned-maintenance",
        **fields,
    }
    return {"event_action": "trigger", "dedup_key": dedup_key, "payload": payload}


def events_for(facts: MessageFacts, enriched: EnrichedEvent, now: datetime) -> list[dict[str, Any]]:
    """The Events API v2 events of this message (without the routing key), one per VM."""
    notice = notice_type(enriched.event)
    wave = wave_key(enriched.event) or enriched.event.event_id
    severity = SEVERITY.get(notice or "", DEFAULT_SEVERITY)
    test = "[TEST] " if facts.is_test else ""
    if not facts.vms or not facts.is_maintenance:
        # One alert for the event (a service issue is about the wave, not each VM), keyed by
        # the wave alone; it carries no maintenance instruction.
        key = dedup_key_for(wave, None)
        closing = notice in RESOLVING or (enriched.event.stage or "").lower() == "resolved"
        if closing and not facts.is_test:
            return [{"event_action": "resolve", "dedup_key": key}]
        # The Action Group's test is an Incident "Resolved": resolving nothing would show
        # nothing in PagerDuty, so a test triggers an "info" alert that says TEST.
        return [
            _trigger(
                key,
                facts.headline,
                ", ".join(facts.regions) or CLIENT,
                "info" if facts.is_test else severity,
                now,
                custom_details={"tracking_id": facts.tracking_id or None, "what": facts.what},
            )
        ]
    events = []
    for vm in facts.vms:
        key = dedup_key_for(wave, vm.vm.id)
        if notice in RESOLVING:
            events.append({"event_action": "resolve", "dedup_key": key})
        elif vm.planned:
            events.append(
                _trigger(
                    key,
                    test + _what(notice, vm, facts),
                    clean(vm.vm.id),
                    severity,
                    now,
                    group=vm.resource_group,
                    **{"class": notice or "maintenance"},
                    custom_details=_details(vm, facts, notice),
                )
            )
        # A VM without maintenance in an Azure notice needs nothing: no alert for it.
    return events


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    events = events_for(facts, enriched, now)
    summaries = [str(e["payload"]["summary"]) for e in events if "payload" in e]
    more = f" (+{len(summaries) - 1} more alerts)" if len(summaries) > 1 else ""
    return RenderedMessage(
        channel="pagerduty",
        subject=facts.headline,
        # The delivery log's line: what the first alert says, or that alerts were resolved.
        text=summaries[0] + more if summaries else f"resolve {len(events)}: {facts.headline}",
        payload={"client": CLIENT, "events": events},
        meta={"events": len(events)},
    )
