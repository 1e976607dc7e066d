"""What every message says, worked out once per (event, receiver) and shaped by each renderer.

Facts are plain strings already in the receiver's zone and language; they are *not* escaped
(each renderer escapes for its own channel) but they are ``clean``: single lines without
control, invisible or bidi characters, except the event summary which keeps its line breaks.
This is the one place untrusted text is cleaned and bounded, so a renderer that shows facts
cannot forget either: every field is cut (with a marker) to a length no real Azure value
reaches, every list to a count a message can show, and a test notice's headline says TEST.
What the event is (``labels``), its headline (``headline``) and the ten-second part (the lead
sentence and the VMs grouped by action, ``glance``) are worked out here too, once for every
channel.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from shared.enrich.guidance import GUIDANCE_URL as ADVICE_GUIDANCE_URL
from shared.enrich.plan import plan_heading, step_az_commands, step_command, step_label
from shared.models import EnrichedEvent, PlanStep, Receiver, TimeWindow, VirtualMachine
from shared.render import escalation, followup, glance, headline
from shared.render.bounds import (
    COMMAND_CHARS,
    LINE_CHARS,
    LINK_CHARS,
    MAX_FACTS,
    MAX_NOTES,
    MAX_PLAN_STEPS,
    MAX_PORTAL_LINKS,
    MAX_VM_FACTS,
    NAME_CHARS,
    SUMMARY_LIMIT,
    TITLE_CHARS,
    WHAT_CHARS,
)
from shared.render.held import held_back_count
from shared.render.labels import EventLabel, label_of
from shared.render.lifecycle import is_wave_timer_event, notice_type
from shared.render.text import (
    ReaderClock,
    clean,
    clean_block,
    clip,
    say_moments,
)
from shared.render.vm_facts import VmFacts, vm_facts
from shared.wave.started import is_started_maintenance

ADVICE_SHORT = {
    "self_service": "start it yourself",
    "let_azure": "let Azure do it",
    "avoid_self_service": "don't self-serve",
    "none": "no action",
}
GUIDANCE_URL = "https://learn.microsoft.com/azure/virtual-machines/maintenance-notifications"
TEST_PREFIX = headline.TEST_PREFIX
# Said on every channel when the catch-up found the notice in Log Analytics (issue 16).
RECOVERED_LINE = (
    "The alert webhook never arrived; forewarn found this notice in the Activity Log "
    "(Log Analytics)."
)


def portal_link(tracking_id: str | None, subscription_id: str) -> str | None:
    """Service Health's deep link: ``/h/<trackingId>/<first 3 + last 3 of the subscription>``."""
    if not tracking_id or len(subscription_id) < 6:
        return None
    short = subscription_id[:3] + subscription_id[-3:]
    link = f"https://app.azure.com/h/{quote(tracking_id, safe='-_')}/{quote(short, safe='')}"
    return link if len(link) <= LINK_CHARS else None


@dataclass(frozen=True)
class PlanStepFacts:
    order: int
    update_domain: int | None
    vm_names: list[str]
    vm_ids: list[str]  # cleaned
    start: str
    window: str
    label: str = ""  # what the step's VMs share: "update domain 0", "zone 2", "VM sql-01"
    start_url: str = ""  # the step's signed "Start now" link (route stage), "" when none

    @property
    def command(self) -> str:
        """``forewarn start-maintenance`` for this step's VMs, shell-quoted; "" when too long
        (a cut command would start the wrong VMs)."""
        step = PlanStep(self.order, self.update_domain, self.vm_ids, "", "")
        command = step_command(step)
        return command if len(command) <= COMMAND_CHARS * 5 else ""

    @property
    def az_commands(self) -> list[str]:
        """The plain ``az vm perform-maintenance`` line of each VM, so anyone can act without
        forewarn; none when any would be too long to paste whole."""
        step = PlanStep(self.order, self.update_domain, self.vm_ids, "", "")
        lines = step_az_commands(step)
        return lines if all(len(line) <= COMMAND_CHARS for line in lines) else []


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
    plan_gap_minutes: int  # the least spacing the plan keeps; plan_heading says the real one
    plan_warnings: list[str]
    notes: list[str]
    portal_links: list[tuple[str, str]]  # (subscription id, link)
    zone: str
    clock: ReaderClock
    label: EventLabel  # what kind of event, at what stage
    plan_steps_omitted: int = 0  # steps beyond MAX_PLAN_STEPS, said as "and N more steps"
    plan_heading: str = ""  # "2 steps, 1 day apart (start to start)"
    held_back: int = 0  # VMs silences held back from this message (their notes say which)
    lead: str = ""  # what to do and by when (maintenance), or what happened
    tracking_id: str = ""
    groups: list[glance.VmGroup[VmFacts]] = field(default_factory=list)
    good_to_know: list[str] = field(default_factory=list)  # sourced facts, source named once
    guidance_url: str = ADVICE_GUIDANCE_URL
    # A per-VM follow-up's notice type and the wave's VMs still open for this receiver.
    notice: str | None = None
    remaining: list[VmFacts] = field(default_factory=list)
    recovered: str = ""  # RECOVERED_LINE when the catch-up recovered the notice

    @property
    def is_maintenance(self) -> bool:
        return self.label.is_maintenance

    @property
    def start_yourself_count(self) -> int:
        return sum(len(group.vms) for group in self.groups if group.key == "start")

    @property
    def portal_link(self) -> str | None:
        return self.portal_links[0][1] if self.portal_links else None


def _notes(enriched: EnrichedEvent, clock: ReaderClock) -> list[str]:
    notes = [
        clean(say_moments(note.message, clock), LINE_CHARS) for note in enriched.notes[:MAX_NOTES]
    ]
    if len(enriched.notes) > MAX_NOTES:
        notes.append(f"{len(enriched.notes) - MAX_NOTES} more notes not shown.")
    return notes


FactsBuilder = Callable[[EnrichedEvent, Receiver, list[VirtualMachine], datetime], "MessageFacts"]


def _summary_read(enriched: EnrichedEvent, clock: ReaderClock) -> str:
    """The event's summary; a wave notice's per-VM lines ("closes at 2030-03-31T09:00:00Z",
    written once for every receiver) and a started maintenance's ("at 2030-03-02T09:41:07Z")
    with each moment in this receiver's zone, labelled, as the rest of the message says it."""
    event = enriched.event
    if not (is_wave_timer_event(event) or is_started_maintenance(enriched)):
        return event.summary
    return say_moments(event.summary, clock)


_RECENT_FACTS = 16


def _shared_per_reader(build: FactsBuilder) -> FactsBuilder:
    """Facts depend on the receiver only through its zone and language (``ReaderClock``): the
    route stage's receivers of one event that share both, and see the same VMs, get the same
    facts, worked out once. The event object itself is kept with its entry and compared by
    identity (an event changed by ``replace``, held or silenced, is another object), and so
    are the VMs: a receiver's own copy of a VM (its claim or Start link) is another VM. The
    entry holds the objects it was made from, so that no other object can take their ids."""
    recent: OrderedDict[
        tuple[object, ...], tuple[EnrichedEvent, tuple[VirtualMachine, ...], MessageFacts]
    ] = OrderedDict()
    lock = threading.Lock()

    def shared(
        enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
    ) -> MessageFacts:
        key = (id(enriched), receiver.timezone, receiver.language, now, *map(id, vms))
        with lock:
            hit = recent.get(key)
        if (
            hit is not None
            and hit[0] is enriched
            and all(made is vm for made, vm in zip(hit[1], vms, strict=True))
        ):
            return hit[2]
        facts = build(enriched, receiver, vms, now)
        with lock:
            recent[key] = (enriched, tuple(vms), facts)
            while len(recent) > _RECENT_FACTS:
                recent.popitem(last=False)
        return facts

    return shared


@_shared_per_reader
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
    names = {vm.id: clean(vm.name, NAME_CHARS) for vm in vms}
    by_id = {vm.id: vm for vm in vms}
    label = label_of(event)
    plan: list[PlanStepFacts] = []
    plan_starts: list[datetime | None] = []
    omitted = 0
    # Plans, advice and facts are maintenance instructions: no other kind of event shows them.
    if enriched.plan is not None and label.is_maintenance:
        # Only VMs advised to start themselves, as the message states them now: a plan made
        # before a VM's advice changed (read again, rescheduled) must not offer to start it.
        advised = {vm.id for vm in vms if vm.advice.action == "self_service"}
        for step in enriched.plan.steps:
            ids = [vm_id for vm_id in step.vm_ids if vm_id in names and vm_id in advised]
            if not ids:
                continue
            if len(plan) == MAX_PLAN_STEPS:
                omitted += 1
                continue
            window = TimeWindow(step.start, step.end)
            start = window.start_dt
            plan_starts.append(start)
            plan.append(
                PlanStepFacts(
                    order=len(plan) + 1,
                    update_domain=step.update_domain,
                    vm_names=[names[vm_id] for vm_id in ids],
                    vm_ids=[clean(vm_id) for vm_id in ids],
                    start=clock.moment(start) if start else "",
                    window=clock.window(window),
                    # A lone VM's step is named by its VM already, in the names that follow.
                    label="on its own"
                    if step.kind == "vm"
                    else clean(step_label(step), NAME_CHARS),
                    start_url=_start_url([by_id[vm_id] for vm_id in ids]),
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
        if (link := portal_link(clean(event.tracking_id), clean(sub))) is not None
    ][:MAX_PORTAL_LINKS]
    impact = TimeWindow(event.impact_start, event.impact_end)
    # The notice's own impact window only when no VM has its own windows: beside them it reads
    # as a third window and confuses (it is the region's, not the VM's).
    show_impact = bool(event.impact_start or event.impact_end) and not any(
        vm.planned for vm in facts
    )
    what = headline.what(event, label, facts)
    title = clean(say_moments(event.title, clock), TITLE_CHARS)
    head = headline.headline(event, label, facts, clock)
    lead = glance.lead_sentence(label, facts, what, clock, impact)
    groups = glance.group_vms(facts) if label.is_maintenance else []
    # Azure's own Rescheduled and Complete notices are about the wave; the timers' are per VM.
    notice = notice_type(event) if is_wave_timer_event(event) else None
    remaining: list[VmFacts] = []
    if notice in followup.PER_VM_NOTICES and label.is_maintenance and facts:
        # A follow-up about some of the wave's VMs names them and says what remains (issue 16).
        remaining = [vm_facts(vm, clock) for vm in enriched.remaining]
        located = headline.where_text(event, facts)
        head = clip(followup.headline(notice, facts, remaining, located), headline.HEADLINE_CHARS)
        lead = followup.lead(notice, facts, remaining, clock)
        groups = followup.groups(notice, groups)
    elif is_started_maintenance(enriched) and enriched.remaining:
        # One VM started is not the wave done: say what this receiver still has to do.
        remaining = [vm_facts(vm, clock) for vm in enriched.remaining]
        lead = f"{what} Still to do: {followup.still_to_do(remaining, clock)}."
    elif notice == "maintenance.reminder":
        # Said first: the same VM and deadline again, so people can tell it from the notice.
        head = clip(f"Reminder: {head}", headline.HEADLINE_CHARS)
    elif notice in (escalation.ESCALATED, escalation.RESOLVED) and facts:
        # To someone not told before: what, which VM, by when, and why it came to them.
        located = headline.where_text(event, facts)
        head = clip(escalation.headline(notice, facts, located), headline.HEADLINE_CHARS)
        lead = escalation.lead(notice, facts)
    return MessageFacts(
        event_id=clean(event.event_id, NAME_CHARS),
        headline=head,
        title=title,
        summary=clip(clean_block(_summary_read(enriched, clock)), SUMMARY_LIMIT),
        what=what,
        stage=clean(event.stage, NAME_CHARS),
        level=clean(event.level, NAME_CHARS),
        kind=event.kind,
        services=[clean(item.service, NAME_CHARS) for item in event.impacted],
        regions=headline.where(event, facts),
        impact=clock.window(impact) if show_impact else "",
        is_test=event.is_test,
        vms=facts,
        allowed_now_count=sum(1 for vm in facts if vm.allowed_now),
        advice_counts=advice_counts,
        plan=plan,
        plan_gap_minutes=enriched.plan.spacing_minutes if enriched.plan else 60,  # start to start
        # The steps this receiver sees, as they really are spaced (quietest hours move them).
        plan_heading=plan_heading([start for start in plan_starts if start is not None]),
        # The plan writes its moments in ISO 8601 (the webhook keeps them so); people read
        # them in their zone.
        plan_warnings=[
            clean(say_moments(warning, clock), LINE_CHARS)
            for warning in (enriched.plan.warnings[:MAX_NOTES] if plan and enriched.plan else [])
        ],
        notes=_notes(enriched, clock),
        held_back=held_back_count(enriched.notes),
        portal_links=links,
        zone=clock.zone.key,
        clock=clock,
        plan_steps_omitted=omitted,
        label=label,
        lead=clip(lead, WHAT_CHARS),
        tracking_id=clean(event.tracking_id, NAME_CHARS),
        groups=groups,
        good_to_know=_good_to_know(enriched) if label.is_maintenance else [],
        notice=notice,
        remaining=remaining,
        recovered=RECOVERED_LINE if event.recovered else "",
    )


def sourced_facts(enriched: EnrichedEvent) -> dict[str, str]:
    """The sourced facts of the VMs' advice and of the plan, each once (code: text, as given,
    the first VMs' first)."""
    seen: dict[str, str] = {}
    sources = [vm.advice.facts for vm in enriched.vms[:MAX_VM_FACTS]]
    if enriched.plan is not None:
        sources.append(enriched.plan.facts)
    for found in sources:
        for fact in found:
            seen.setdefault(fact.code, fact.text)
    return seen


def _good_to_know(enriched: EnrichedEvent) -> list[str]:
    """The first few sourced facts, cleaned, without their source (a message names it once)."""
    texts = list(sourced_facts(enriched).values())[:MAX_FACTS]
    return [clean(glance.without_source(text), LINE_CHARS) for text in texts]


def _start_url(vms: list[VirtualMachine]) -> str:
    """The step's Start link: shown only when every VM of the step carries the same one (the
    route stage signs one link per step, naming exactly these VMs)."""
    urls = {vm.start_url for vm in vms}
    return clean(urls.pop()) if len(urls) == 1 and None not in urls else ""
