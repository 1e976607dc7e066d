"""One message per event per receiver: gather each receiver's VMs and why they reached it.

A VM reaches a receiver only through routes that take that VM; a receiver that no route gives
a VM (or, for an event without VMs, the event) gets nothing. A reminder about a claimed VM
reaches only the owner's receiver (``VirtualMachine.owners``, set by the wave's timers).

An escalation (and its resolution) is not routed to the route's receivers: it goes, per VM, to
the ``escalate.to`` of each receiver the routes give that VM whose ``escalate.before`` holds
(the VM's self-service window closes within it; a resolution goes to every such target).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.models import EnrichedEvent, EnrichmentNote, Receiver, VirtualMachine
from shared.parsing.resource_id import parse_vm_id
from shared.render.lifecycle import escalation_of
from shared.routing.matcher import Subject, routes_for
from shared.routing.offsets import ReminderOffsets, reminder_label, wants_reminder
from shared.routing.rules import Route, RoutingConfig


@dataclass
class ReceiverGroup:
    """What one receiver gets for one event: its VMs (event order) and the routes that led there."""

    receiver: Receiver
    vms: list[VirtualMachine] = field(default_factory=list)
    # subject key (VM id, or EVENT_SUBJECT) -> descriptions of the routes that took it
    why: dict[str, list[str]] = field(default_factory=dict)

    @property
    def routes(self) -> list[str]:
        seen: dict[str, None] = {}
        for reasons in self.why.values():
            for reason in reasons:
                seen.setdefault(reason, None)
        return list(seen)


def subjects_of(enriched: EnrichedEvent) -> list[Subject]:
    if enriched.vms:
        return [Subject(enriched.event, vm) for vm in enriched.vms]
    return [Subject(enriched.event)]


def _owning(subject: Subject, routes: list[Route]) -> set[str]:
    """The receivers that claimed this VM and that routing gives it (shared/wave/claims.py).
    A claim for a receiver that the VM does not reach changes nothing: never remind nobody."""
    if subject.vm is None or not subject.vm.owners:
        return set()
    reached = {name for route in routes for name in route.receivers}
    return {name for name in subject.vm.owners if name} & reached


def escalation_targets(
    vm: VirtualMachine, reached: list[str], config: RoutingConfig, now: datetime, *, resolved: bool
) -> list[str]:
    """Where an escalation about ``vm`` goes: the ``escalate.to`` of each receiver in
    ``reached`` whose ``before`` the VM's self-service end is within (any, when resolved)."""
    status = vm.maintenance
    end = status.self_service_window.end_dt if status is not None else None
    targets: list[str] = []
    for name in reached:
        rule = config.escalations.get(name)
        if rule is None or rule.to in targets:
            continue
        if resolved or (end is not None and now < end <= now + rule.before):
            targets.append(rule.to)
    return targets


def _escalation_groups(
    enriched: EnrichedEvent, config: RoutingConfig, now: datetime, resolved: bool
) -> list[ReceiverGroup]:
    groups: dict[str, ReceiverGroup] = {}
    for subject in subjects_of(enriched):
        if subject.vm is None:
            continue
        routes = routes_for(config.root, subject, now)
        reached = list(dict.fromkeys(name for route in routes for name in route.receivers))
        for target in escalation_targets(subject.vm, reached, config, now, resolved=resolved):
            group = groups.get(target)
            if group is None:
                group = groups[target] = ReceiverGroup(config.receiver(target))
            group.vms.append(subject.vm)
            group.why[subject.key] = [
                f"escalated by {name}"
                for name in reached
                if name in config.escalations and config.escalations[name].to == target
            ]
    order = {name: index for index, name in enumerate(config.receivers)}
    return sorted(groups.values(), key=lambda group: order[group.receiver.name])


def group_event(
    enriched: EnrichedEvent,
    config: RoutingConfig,
    now: datetime,
    reminders: ReminderOffsets | None = None,
) -> list[ReceiverGroup]:
    """Receivers and their VMs. A reminder goes only to the receivers reminded at its offset:
    by their own ``reminders:`` or else by ``reminders`` (the setting; default if None)."""
    escalation = escalation_of(enriched.event)
    if escalation is not None:
        return _escalation_groups(enriched, config, now, escalation == "escalation_resolved")
    label = reminder_label(enriched.event)
    fallback = reminders or ReminderOffsets()
    groups: dict[str, ReceiverGroup] = {}
    for subject in subjects_of(enriched):
        routes = routes_for(config.root, subject, now)
        owners = _owning(subject, routes) if label is not None else set()
        for route in routes:
            reason = route.describe()
            for name in route.receivers:
                if label is not None and not wants_reminder(
                    name, label, config.reminders, fallback
                ):
                    continue
                if owners and name not in owners:
                    continue  # claimed: its reminders go to the owner's receiver only
                group = groups.get(name)
                if group is None:
                    group = groups[name] = ReceiverGroup(config.receiver(name))
                reasons = group.why.setdefault(subject.key, [])
                if not reasons and subject.vm is not None:
                    group.vms.append(subject.vm)
                if reason not in reasons:
                    reasons.append(reason)
    order = {name: index for index, name in enumerate(config.receivers)}
    return sorted(groups.values(), key=lambda group: order[group.receiver.name])


def subscription_note_readers(groups: list[ReceiverGroup]) -> dict[str, frozenset[str]]:
    """Who may read each note about a subscription as a whole (``subscription_id`` and no
    ``resource_id``: Azure named none of its VMs, forewarn may not read it): the receivers
    given a VM of it. A subscription nobody got a VM of is left out: every receiver reads
    that note (forewarn cannot tell whose VMs it could not list)."""
    found: dict[str, set[str]] = {}
    for group in groups:
        for vm in group.vms:
            found.setdefault(vm.subscription_id.lower(), set()).add(group.receiver.name)
    return {subscription: frozenset(names) for subscription, names in found.items()}


def vm_note_readers(
    enriched: EnrichedEvent, config: RoutingConfig, now: datetime
) -> dict[str, frozenset[str]]:
    """Who may read each note about one VM (its ``resource_id``, lower case): the receivers
    routing gives that VM, as it gives its VMs to each message (a team never reads that
    another team's VM is gone or unreadable). A VM the event no longer holds (gone, not read)
    is routed by what its id says (subscription, group, name; no tags). A note routing gives
    nobody is left out of this map, and so read by every receiver: better said twice than
    never."""
    vms = {vm.id.lower(): vm for vm in enriched.vms}
    readers: dict[str, frozenset[str]] = {}
    for note in enriched.notes:
        key = (note.resource_id or "").lower()
        if not key or key in readers:
            continue
        vm = vms.get(key) or _vm_of(note)
        if vm is None:
            continue
        routes = routes_for(config.root, Subject(enriched.event, vm), now)
        names = frozenset(name for route in routes for name in route.receivers)
        if names:
            readers[key] = names
    return readers


def _vm_of(note: EnrichmentNote) -> VirtualMachine | None:
    parsed = parse_vm_id(note.resource_id or "")
    if parsed is None:
        return None
    return VirtualMachine(
        note.resource_id or "", parsed.name, parsed.subscription_id, parsed.resource_group, ""
    )


def notes_for(
    notes: list[EnrichmentNote],
    receiver: str,
    readers: dict[str, frozenset[str]],
    subscription_readers: dict[str, frozenset[str]],
) -> list[EnrichmentNote]:
    """The notes this receiver reads: every receiver's, its own (a wave pass's held-back
    note), those about VMs routing gives it (``vm_note_readers``) and about subscriptions it
    has VMs of (``subscription_note_readers``)."""
    anyone = frozenset({receiver})
    return [
        note
        for note in notes
        if note.receiver in (None, receiver)
        and receiver
        in (
            readers.get(note.resource_id.lower(), anyone)
            if note.resource_id
            else subscription_readers.get((note.subscription_id or "").lower(), anyone)
        )
    ]
