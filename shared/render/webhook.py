"""Webhook: a versioned JSON document for machines (schema in docs/webhook-payload.schema.json).

Times are ISO 8601 UTC; text is passed through as data (JSON encoding is the only escaping a
machine reader needs). ``version`` changes only when a field changes meaning or disappears;
new fields may appear within a version. Documents above the size budget drop VMs from the end
and say how many in ``vms_omitted`` (``vm_count`` stays the full count). Text is data here, not
cleaned; only a document that would still be over budget (hostile 100,000-character fields) has
its longest strings cut, with a marker, and says so in ``truncated: true``.

Version 2 (docs/webhook.md lists the changes): ``summary`` says what to do and by when, as the
other channels' lead does; every advice reason is ``{code, text}``; ``actions`` is ``null``
where forewarn offers no start (nothing planned, not a maintenance, or advised against).
``notice_type`` says where in its wave's life the document stands and ``wave`` which wave it
belongs to (shared/render/lifecycle.py); ``type`` stays the document's kind, as version 2 fixed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.enrich.plan import step_az_commands, step_command, step_label
from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine, plain
from shared.render.facts import MessageFacts, build_facts, sourced_facts
from shared.render.followup import PER_VM_NOTICES, is_started
from shared.render.glance import group_of, scheduled_moments
from shared.render.lifecycle import notice_type, wave_key
from shared.render.vm_facts import VmFacts
from shared.timeutil import format_utc

PAYLOAD_VERSION = "2"
PAYLOAD_TYPE = "forewarn.maintenance"


@dataclass(frozen=True)
class WebhookLimits:
    # Many receivers (API gateways, serverless hosts) cap request bodies near 1 MB; the
    # delivery channel enforces the same number (shared/channels/webhook.py reads it here).
    budget_bytes: int = 1024 * 1024


LIMITS = WebhookLimits()


TRUNCATION_MARKER = "…[truncated]"
# Longest string, then longest list, kept at each step of shrinking an oversized document; the
# last step leaves a document far under any budget, so shrinking ends after these few steps.
_SHRINK_STEPS = ((65_536, 10_000), (8_192, 1_000), (1_024, 100), (128, 10))


_TRUNCATED = ',"truncated":true'


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _shrunk(value: Any, chars: int, items: int) -> Any:
    """``value`` with every string cut to ``chars`` and every list to ``items`` (marked)."""
    if isinstance(value, str):
        if len(value) <= chars:
            return value
        return value[: chars - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
    if isinstance(value, dict):
        return {key: _shrunk(item, chars, items) for key, item in value.items()}
    if isinstance(value, list):
        return [_shrunk(item, chars, items) for item in value[:items]]
    return value


def _within(value: dict[str, Any], budget: int) -> tuple[dict[str, Any], bool]:
    """``value`` as is when it fits ``budget`` bytes, else shrunk step by step until it does."""
    if _size(value) <= budget:
        return value, False
    shrunk = value
    for chars, items in _SHRINK_STEPS:
        shrunk = _shrunk(value, chars, items)
        if _size(shrunk) <= budget:
            break
    return shrunk, True


# Group keys as the document names them (stable, for tools).
ACTION_NAMES = {
    "start": "start_yourself",
    "azure": "let_azure",
    "avoid": "dont_self_serve",
    "none": "no_action",
}


def _offers_start(vm: VmFacts, is_maintenance: bool) -> bool:
    """A start is offered where it is advised, or allowed now and not advised against."""
    if not is_maintenance or not vm.planned:
        return False
    advice = vm.vm.advice
    return advice.action == "self_service" or (
        vm.allowed_now and advice.action != "avoid_self_service"
    )


def _iso(moment: datetime | None) -> str | None:
    return format_utc(moment) if moment is not None else None


def _summary(facts: MessageFacts) -> dict[str, Any]:
    """What to do and by when, as data: the lead sentence and the moments it names."""
    start = [vm for vm in facts.vms if group_of(vm) == "start"] if facts.is_maintenance else []
    planned = [vm for vm in facts.vms if vm.planned] if facts.is_maintenance else []
    ends = [vm.self_service_end for vm in start if vm.self_service_end is not None]
    azure_from, azure_until = scheduled_moments(planned)
    counts = dict.fromkeys(ACTION_NAMES.values(), 0)
    for group in facts.groups:
        counts[ACTION_NAMES[group.key]] = len(group.vms)
    summary: dict[str, Any] = {
        "text": facts.lead,
        "label": facts.label.text,
        "is_maintenance": facts.is_maintenance,
        # A VM done or deleted while others of the receiver's stay open: the wave is not over.
        "phase": "upcoming" if facts.remaining else facts.label.phase,
        "self_service_by": _iso(min(ends) if ends else None),
        "azure_from": _iso(min(azure_from) if azure_from else None),
        "azure_until": _iso(max(azure_until) if azure_until else None),
        "vms_by_action": counts,
    }
    if facts.notice in PER_VM_NOTICES or facts.remaining:
        summary["still_open"] = [_still_open(vm) for vm in facts.remaining]
    return summary


def _still_open(vm: VmFacts) -> dict[str, Any]:
    """One VM of the wave still open for this receiver (a per-VM follow-up's "still to do")."""
    if is_started(vm):  # someone started it: nothing to start, no deadline of yours
        return {
            "vm_id": vm.vm.id,
            "name": vm.name,
            "action": "no_action",
            "self_service_by": None,
            "azure_from": _iso(vm.scheduled_start),
            "started": True,
        }
    return {
        "vm_id": vm.vm.id,
        "name": vm.name,
        "action": ACTION_NAMES[group_of(vm)],
        "self_service_by": _iso(vm.self_service_end) if group_of(vm) == "start" else None,
        "azure_from": _iso(vm.scheduled_start),
        "started": False,
    }


def _facts(enriched: EnrichedEvent) -> list[dict[str, str]]:
    return [{"code": code, "text": text} for code, text in sourced_facts(enriched).items()]


def _vm_document(vm: VmFacts, is_maintenance: bool) -> dict[str, Any]:
    raw = vm.vm
    status = raw.maintenance
    advice = raw.advice
    return {
        "id": raw.id,
        "name": raw.name,
        "subscription_id": raw.subscription_id,
        "resource_group": raw.resource_group,
        "location": raw.location,
        "power_state": raw.power_state,
        "size": raw.size,
        "zone": raw.zone,
        "availability_set": raw.availability_set,
        "scale_set": raw.scale_set,
        "update_domain": raw.update_domain,
        "fault_domain": raw.fault_domain,
        "tags": dict(raw.tags),
        "maintenance": None
        if status is None
        else {
            "self_service_allowed": status.self_service_allowed,
            "self_service_allowed_now": vm.allowed_now,
            "self_service_window": plain(status.self_service_window),
            "scheduled_window": plain(status.scheduled_window),
            "last_result_code": status.last_result_code,
            "last_message": status.last_message,
        },
        "advice": {
            "action": advice.action,
            "group": ACTION_NAMES[group_of(vm)],
            # Worked out again here: records written before these fields say False for both.
            "self_service_advised": advice.self_service_advised or advice.action == "self_service",
            "self_service_allowed": vm.allowed_now,
            "reasons": [{"code": r.code, "text": r.text} for r in advice.reasons],
            "checks": [plain(check) for check in advice.checks],
        },
        "actions": {"az_cli": vm.az_command, "forewarn": vm.forewarn_command}
        if _offers_start(vm, is_maintenance)
        else None,
        "claimed_by": dict(raw.owners),
        "claim_url": raw.claim_url,
    }


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    event = enriched.event
    # The plan's steps keep this receiver's VMs advised to start themselves (as facts.py).
    receiver_ids = {vm.id for vm in vms if vm.advice.action == "self_service"}
    start_urls = {vm.id: vm.start_url for vm in vms if vm.start_url}
    plan = None
    if enriched.plan is not None and facts.is_maintenance:
        steps = []
        for step in enriched.plan.steps:
            mine = replace(step, vm_ids=[i for i in step.vm_ids if i in receiver_ids])
            if mine.vm_ids:
                steps.append(
                    {
                        **plain(mine),
                        "label": step_label(mine),
                        "command": step_command(mine),
                        "az_commands": step_az_commands(mine),
                        # The step's signed Start link (Start from the message), or null.
                        "start_url": start_urls.get(mine.vm_ids[0]),
                    }
                )
        plan = {
            "gap_minutes": enriched.plan.gap_minutes,
            "step_minutes": enriched.plan.step_minutes,
            "spacing_minutes": enriched.plan.spacing_minutes,
            "warnings": list(enriched.plan.warnings),
            "steps": steps,
        }
    document: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "type": PAYLOAD_TYPE,
        "notice_type": notice_type(event),
        "wave": wave_key(event),
        "event_id": event.event_id,
        "receiver": receiver.name,
        "generated_at": format_utc(now),
        "headline": facts.headline,
        "summary": _summary(facts),
        "event": {
            "kind": event.kind,
            "tracking_id": event.tracking_id,
            "incident_type": event.incident_type,
            "stage": event.stage,
            "status": event.status,
            "level": event.level,
            "title": event.title,
            "summary": event.summary,
            "services": [plain(item) for item in event.impacted],
            "regions": event.regions,
            "impact_start": event.impact_start,
            "impact_end": event.impact_end,
            "subscription_ids": list(event.subscription_ids),
            "maintenance_id": event.maintenance_id,
            "communication_id": event.communication_id,
            "is_test": event.is_test,
            # The catch-up found it in the Activity Log: the alert webhook never arrived.
            "recovered": event.recovered,
            "received_at": event.received_at,
            "portal_links": [
                {"subscription_id": sub, "url": link} for sub, link in facts.portal_links
            ],
        },
        "vm_count": len(facts.vms),
        "vms_omitted": 0,
        "vms": [],
        "plan": plan,
        "facts": _facts(enriched) if facts.is_maintenance else [],
        "notes": [note.to_json() for note in enriched.notes],
    }
    # Room for the VMs: at least half the budget, the event's own text shrunk if need be.
    document, truncated = _within(document, LIMITS.budget_bytes // 2)
    size = _size(document)  # with "vms": [] and "vms_omitted": 0
    room = LIMITS.budget_bytes - 64  # 64: the "truncated" field below
    for vm in facts.vms:
        entry, cut = _within(_vm_document(vm, facts.is_maintenance), LIMITS.budget_bytes // 8)
        cost = _size(entry) + 1
        if size + cost > room:
            break
        document["vms"].append(entry)
        truncated = truncated or cut
        size += cost  # the entry and a comma, one comma too many (taken back below)
    document["vms_omitted"] = len(facts.vms) - len(document["vms"])
    if truncated:
        document["truncated"] = True
    # Compact JSON is the sum of its parts, so the body's size is counted, not serialised
    # again: the route stage serialises the document once, with its job.
    size += (
        len(str(document["vms_omitted"]))
        - 1
        - (1 if document["vms"] else 0)
        + (len(_TRUNCATED) if truncated else 0)
    )
    return RenderedMessage(
        channel="webhook",
        subject=facts.headline,
        text=facts.headline,
        payload=document,
        meta={
            "bytes": size,
            "version": PAYLOAD_VERSION,
            "vms": len(facts.vms),
        },
    )
