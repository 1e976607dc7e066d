"""What every message says, worked out once per (event, receiver) and shaped by each renderer.

Facts are plain strings already in the receiver's zone and language; they are *not* escaped
(each renderer escapes for its own channel) but they are ``clean``: single lines without
control or bidi characters, except the event summary which keeps its line breaks.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from urllib.parse import quote

from shared.models import EnrichedEvent, MaintenanceEvent, Receiver, TimeWindow, VirtualMachine
from shared.render.text import ReaderClock, clean, clean_block, clip, plural

ADVICE_LABELS = {
    "self_service": "Start it yourself in the self-service window",
    "let_azure": "Let Azure do it in the scheduled window",
    "avoid_self_service": "Do not start it yourself; let Azure do it",
    "none": "No action needed",
}
ADVICE_SHORT = {
    "self_service": "start it yourself",
    "let_azure": "let Azure do it",
    "avoid_self_service": "don't self-serve",
    "none": "no action",
}
GUIDANCE_URL = "https://learn.microsoft.com/azure/virtual-machines/maintenance-notifications"
SUMMARY_LIMIT = 1200
_DONE_STAGES = {"resolved", "complete", "completed"}


def portal_link(tracking_id: str | None, subscription_id: str) -> str | None:
    """Service Health's deep link: ``/h/<trackingId>/<first 3 + last 3 of the subscription>``."""
    if not tracking_id or len(subscription_id) < 6:
        return None
    short = subscription_id[:3] + subscription_id[-3:]
    return f"https://app.azure.com/h/{quote(tracking_id, safe='-_')}/{quote(short, safe='')}"


class VmFacts:
    """One VM as a message shows it. Texts are worked out on first use: a 2,000-VM event shows
    a few dozen VMs in full and only names the rest."""

    def __init__(self, vm: VirtualMachine, clock: ReaderClock) -> None:
        self.vm = vm
        self.clock = clock
        self.name = clean(vm.name)
        self.resource_group = clean(vm.resource_group)
        self.subscription_id = clean(vm.subscription_id)
        self.location = clean(vm.location)
        status = vm.maintenance
        self.planned = status is not None
        self.advice: str = vm.advice.action
        self.self_service_start = status.self_service_window.start_dt if status else None
        self.self_service_end = status.self_service_window.end_dt if status else None
        self.scheduled_start = status.scheduled_window.start_dt if status else None
        now = clock.now
        self.allowed_now = bool(
            status
            and status.self_service_allowed
            and (self.self_service_start is None or self.self_service_start <= now)
            and (self.self_service_end is None or now < self.self_service_end)
        )

    @property
    def show_command(self) -> bool:
        """Offer the command only where self-service is possible now and not advised against."""
        return self.allowed_now and self.advice in ("self_service", "none")

    @cached_property
    def placement(self) -> str:
        return _placement(self.vm)

    @cached_property
    def self_service(self) -> str:
        status = self.vm.maintenance
        return self.clock.window(status.self_service_window) if status else ""

    @cached_property
    def scheduled(self) -> str:
        status = self.vm.maintenance
        return self.clock.window(status.scheduled_window) if status else ""

    @cached_property
    def allowed_text(self) -> str:
        return _allowed_text(self)

    @cached_property
    def advice_label(self) -> str:
        return ADVICE_LABELS.get(self.advice, self.advice)

    @cached_property
    def reasons(self) -> list[str]:
        return [clip(clean(reason), 300) for reason in self.vm.advice.reasons]

    @cached_property
    def last_result(self) -> str:
        status = self.vm.maintenance
        if not status or not status.last_result_code or status.last_result_code == "None":
            return ""
        text = clean(status.last_result_code)
        if status.last_message:
            text += f": {clip(clean(status.last_message), 200)}"
        return text

    @cached_property
    def az_command(self) -> str:
        return (
            f"az vm perform-maintenance -g {shlex.quote(self.resource_group)} "
            f"-n {shlex.quote(self.name)} --subscription {shlex.quote(self.subscription_id)}"
        )

    @cached_property
    def forewarn_command(self) -> str:
        return f"forewarn start-maintenance {shlex.quote(clean(self.vm.id))}"


@dataclass(frozen=True)
class PlanStepFacts:
    order: int
    update_domain: int | None
    vm_names: list[str]
    vm_ids: list[str]
    start: str
    window: str


@dataclass(frozen=True)
class MessageFacts:
    event_id: str
    headline: str  # the key fact, first thing every channel shows
    title: str
    summary: str
    what: str  # what is planned, one sentence
    stage: str
    level: str
    kind: str
    services: list[str]
    regions: list[str]
    impact: str  # the event's own window, "" when not given
    is_test: bool
    vms: list[VmFacts]
    allowed_now_count: int
    advice_counts: dict[str, int]
    plan: list[PlanStepFacts]
    plan_gap_minutes: int
    plan_warnings: list[str]
    notes: list[str]
    portal_links: list[tuple[str, str]]  # (subscription id, link)
    zone: str
    clock: ReaderClock

    @property
    def portal_link(self) -> str | None:
        return self.portal_links[0][1] if self.portal_links else None


def _placement(vm: VirtualMachine) -> str:
    parts = []
    if vm.availability_set:
        parts.append(f"availability set {clean(vm.availability_set)}")
    if vm.scale_set:
        parts.append(f"scale set {clean(vm.scale_set)}")
    if vm.zone:
        parts.append(f"zone {clean(vm.zone)}")
    if vm.update_domain is not None:
        parts.append(f"UD {vm.update_domain}")
    if vm.fault_domain is not None:
        parts.append(f"FD {vm.fault_domain}")
    return ", ".join(parts) or "single VM"


def _allowed_text(vm: VmFacts) -> str:
    status, clock = vm.vm.maintenance, vm.clock
    if status is None:
        return "Nothing is planned on this VM"
    start, end = vm.self_service_start, vm.self_service_end
    if vm.allowed_now:
        return "Yes" + (f", until {clock.local(end)} ({clock.relative(end)})" if end else "")
    if start is not None and clock.now < start:
        return f"Not yet: self-service opens {clock.local(start)}"
    if not status.self_service_allowed:
        return "No: Azure does not offer self-service for this VM now"
    return "No: the self-service window has closed" + (f" ({clock.local(end)})" if end else "")


def vm_facts(vm: VirtualMachine, clock: ReaderClock) -> VmFacts:
    return VmFacts(vm, clock)


def _where(event: MaintenanceEvent, vms: list[VmFacts]) -> list[str]:
    # A receiver's VMs say where its maintenance is; the notice's regions only when it has none.
    seen: dict[str, None] = {}
    for region in [vm.location for vm in vms] or event.regions:
        seen.setdefault(clean(region), None)
    return list(seen)


def _headline(event: MaintenanceEvent, vms: list[VmFacts], clock: ReaderClock) -> str:
    regions = _where(event, vms)
    where = (
        f" in {regions[0]}" + (f" +{len(regions) - 1}" if len(regions) > 1 else "")
        if regions
        else ""
    )
    services = [clean(item.service) for item in event.impacted]
    subject = plural(len(vms), "VM") if vms else (services[0] if services else "maintenance")
    stage = (event.stage or "").lower()
    if stage == "canceled" or stage == "cancelled":
        return f"Canceled: maintenance of {subject}{where}"
    if stage in _DONE_STAGES:
        return f"Completed: maintenance of {subject}{where}"
    starts = [vm.scheduled_start for vm in vms if vm.scheduled_start is not None]
    prefix = "Rescheduled: " if stage == "rescheduled" else ""
    if starts:
        return f"{prefix}Azure reboots {subject}{where} from {clock.local(min(starts))}"
    if event.impact_start:
        start = TimeWindow(event.impact_start, None).start_dt
        assert start is not None
        # Where and when first: a subject line cut short loses the service name, not the time.
        if vms:
            return f"{prefix}Maintenance of {subject}{where} from {clock.local(start)}"
        what = "" if subject == "maintenance" else f": {subject}"
        return f"{prefix}Maintenance{where} from {clock.local(start)}{what}"
    return f"{prefix}Maintenance: {clean(event.title) or subject}{where}"


def _what(event: MaintenanceEvent, vms: list[VmFacts]) -> str:
    kind = (event.incident_type or "maintenance").lower()
    services = ", ".join(clean(item.service) for item in event.impacted) or "Azure"
    regions = ", ".join(_where(event, vms)) or "unspecified regions"
    stage = clean(event.stage) or "Planned"
    text = f"{stage} {kind} of {services} in {regions}"
    if vms:
        planned = sum(1 for vm in vms if vm.planned)
        text += f", affecting {plural(len(vms), 'of your VMs', 'of your VMs')}"
        if planned:
            text += f" ({planned} with a reboot-requiring maintenance window)"
    return text + "."


def build_facts(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> MessageFacts:
    clock = ReaderClock.for_receiver(receiver, now)
    event = enriched.event
    far = datetime.max.replace(tzinfo=clock.now.tzinfo)
    facts = sorted(
        (vm_facts(vm, clock) for vm in vms),
        key=lambda vm: (vm.scheduled_start or far, vm.resource_group.lower(), vm.name.lower()),
    )
    names = {vm.id: clean(vm.name) for vm in vms}
    plan: list[PlanStepFacts] = []
    if enriched.plan is not None:
        for step in enriched.plan.steps:
            ids = [vm_id for vm_id in step.vm_ids if vm_id in names]
            if not ids:
                continue
            window = TimeWindow(step.start, step.end)
            start = window.start_dt
            plan.append(
                PlanStepFacts(
                    order=len(plan) + 1,
                    update_domain=step.update_domain,
                    vm_names=[names[vm_id] for vm_id in ids],
                    vm_ids=ids,
                    start=clock.moment(start) if start else "",
                    window=clock.window(window),
                )
            )
    advice_counts: dict[str, int] = {}
    for vm in facts:
        advice_counts[vm.advice] = advice_counts.get(vm.advice, 0) + 1
    subscriptions = list(
        dict.fromkeys([vm.subscription_id for vm in vms] or event.subscription_ids)
    )
    links = [
        (sub, link)
        for sub in subscriptions
        if (link := portal_link(event.tracking_id, clean(sub))) is not None
    ]
    impact = TimeWindow(event.impact_start, event.impact_end)
    return MessageFacts(
        event_id=clean(event.event_id),
        headline=_headline(event, facts, clock),
        title=clean(event.title),
        summary=clip(clean_block(event.summary), SUMMARY_LIMIT),
        what=_what(event, facts),
        stage=clean(event.stage),
        level=clean(event.level),
        kind=event.kind,
        services=[clean(item.service) for item in event.impacted],
        regions=_where(event, facts),
        impact=clock.window(impact) if (event.impact_start or event.impact_end) else "",
        is_test=event.is_test,
        vms=facts,
        allowed_now_count=sum(1 for vm in facts if vm.allowed_now),
        advice_counts=advice_counts,
        plan=plan,
        plan_gap_minutes=enriched.plan.gap_minutes if enriched.plan else 30,
        plan_warnings=[
            clean(warning) for warning in (enriched.plan.warnings if enriched.plan else [])
        ],
        notes=[clip(clean(note.message), 300) for note in enriched.notes],
        portal_links=links,
        zone=clock.zone.key,
        clock=clock,
    )
