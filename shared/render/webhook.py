"""Webhook: a versioned JSON document for machines (schema in docs/webhook-payload.schema.json).

Times are ISO 8601 UTC; text is passed through as data (JSON encoding is the only escaping a
machine reader needs). ``version`` changes only when a field changes meaning or disappears;
new fields may appear within a version. Documents above the size budget drop VMs from the end
and say how many in ``vms_omitted`` (``vm_count`` stays the full count). Text is data here, not
cleaned; only a document that would still be over budget (hostile 100,000-character fields) has
its longest strings cut, with a marker, and says so in ``truncated: true``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render.facts import VmFacts, build_facts
from shared.timeutil import format_utc

PAYLOAD_VERSION = "1"
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


def _vm_document(vm: VmFacts) -> dict[str, Any]:
    raw = vm.vm
    status = raw.maintenance
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
            "self_service_window": asdict(status.self_service_window),
            "scheduled_window": asdict(status.scheduled_window),
            "last_result_code": status.last_result_code,
            "last_message": status.last_message,
        },
        "advice": {"action": raw.advice.action, "reasons": [str(r) for r in raw.advice.reasons]},
        "actions": {"az_cli": vm.az_command, "forewarn": vm.forewarn_command},
    }


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    event = enriched.event
    receiver_ids = {vm.id for vm in vms}
    plan = None
    if enriched.plan is not None:
        steps = [
            {**asdict(step), "vm_ids": [i for i in step.vm_ids if i in receiver_ids]}
            for step in enriched.plan.steps
        ]
        plan = {
            "gap_minutes": enriched.plan.gap_minutes,
            "warnings": list(enriched.plan.warnings),
            "steps": [step for step in steps if step["vm_ids"]],
        }
    document: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "type": PAYLOAD_TYPE,
        "event_id": event.event_id,
        "receiver": receiver.name,
        "generated_at": format_utc(now),
        "headline": facts.headline,
        "event": {
            "kind": event.kind,
            "tracking_id": event.tracking_id,
            "incident_type": event.incident_type,
            "stage": event.stage,
            "status": event.status,
            "level": event.level,
            "title": event.title,
            "summary": event.summary,
            "services": [asdict(item) for item in event.impacted],
            "regions": event.regions,
            "impact_start": event.impact_start,
            "impact_end": event.impact_end,
            "subscription_ids": list(event.subscription_ids),
            "maintenance_id": event.maintenance_id,
            "communication_id": event.communication_id,
            "is_test": event.is_test,
            "received_at": event.received_at,
            "portal_links": [
                {"subscription_id": sub, "url": link} for sub, link in facts.portal_links
            ],
        },
        "vm_count": len(facts.vms),
        "vms_omitted": 0,
        "vms": [],
        "plan": plan,
        "notes": [asdict(note) for note in enriched.notes],
    }
    # Room for the VMs: at least half the budget, the event's own text shrunk if need be.
    document, truncated = _within(document, LIMITS.budget_bytes // 2)
    room = LIMITS.budget_bytes - _size(document) - 64  # 64: the "truncated" field below
    for vm in facts.vms:
        entry, cut = _within(_vm_document(vm), LIMITS.budget_bytes // 8)
        cost = _size(entry) + 1
        if cost > room:
            break
        document["vms"].append(entry)
        truncated = truncated or cut
        room -= cost
    document["vms_omitted"] = len(facts.vms) - len(document["vms"])
    if truncated:
        document["truncated"] = True
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return RenderedMessage(
        channel="webhook",
        subject=facts.headline,
        text=facts.headline,
        payload=document,
        meta={
            "bytes": len(body.encode("utf-8")),
            "version": PAYLOAD_VERSION,
            "vms": len(facts.vms),
        },
    )
