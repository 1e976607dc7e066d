"""One VM as a message shows it (``VmFacts``): its names, windows, advice, reasons and commands,
cleaned and bounded like every fact (facts.py), in the receiver's zone and language.
"""

from __future__ import annotations

import shlex
from functools import cached_property, lru_cache

from shared.models import VirtualMachine
from shared.render import glance
from shared.render.bounds import COMMAND_CHARS, LINE_CHARS, MAX_REASONS, NAME_CHARS, REASON_CHARS
from shared.render.text import ReaderClock, as_sentence, clean, say_moments
from shared.timeutil import parse_utc

ADVICE_LABELS = {
    "self_service": "Start it yourself in the self-service window",
    "let_azure": "Let Azure do it in the scheduled window",
    "avoid_self_service": "Do not start it yourself; let Azure do it",
    "none": "No action needed",
}


# A wave's VMs mostly share their reasons' texts (a message about 2,000 VMs may hold two), and
# each VM's facts are built per message: worked out once per text and reader, a PagerDuty
# event per VM no longer pays ~8 ms for the same few sentences at 2,000 VMs (issue 18). The
# clock is part of the key: the same text reads differently in another zone, language or day.
@lru_cache(maxsize=4096)
def _reader_reason(text: str, clock: ReaderClock) -> str:
    # Advice writes its moments in ISO 8601 (the webhook keeps them so); people read them in
    # their zone ("the self-service window closed at Wed 30 Sep 02:00 CEST").
    return as_sentence(clean(say_moments(glance.without_source(text), clock), REASON_CHARS))


class VmFacts:
    """One VM as a message shows it. Texts are worked out on first use: a 2,000-VM event shows
    a few dozen VMs in full and only names the rest."""

    def __init__(self, vm: VirtualMachine, clock: ReaderClock) -> None:
        self.vm = vm
        self.clock = clock
        self.name = clean(vm.name, NAME_CHARS)
        self.resource_group = clean(vm.resource_group, NAME_CHARS)
        self.subscription_id = clean(vm.subscription_id, NAME_CHARS)
        self.location = clean(vm.location, NAME_CHARS)
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
        """Offer the command only where self-service is possible now and not advised against,
        and only whole (a VM whose names are too long to print gets none)."""
        return (
            self.allowed_now
            and self.advice in ("self_service", "none")
            and len(self.az_command) <= COMMAND_CHARS
            and len(self.forewarn_command) <= COMMAND_CHARS
        )

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
        # The source of every reason is named once per message, not once per reason; each is
        # a sentence that ends where it ends, so that two side by side never run together.
        return [
            _reader_reason(reason.text, self.clock)
            for reason in self.vm.advice.reasons[:MAX_REASONS]
        ]

    @cached_property
    def quietest_note(self) -> str:
        """ " · quietest: Tue 8 Dec 10:00–11:00 CET, 4 % CPU" in the receiver's zone, with its
        date (beside the receiver-zone windows, a weekday and a UTC hour misled), or ""."""
        hint = self.vm.quietest_hour
        if hint is None:
            return ""
        start, end = parse_utc(hint.start), parse_utc(hint.end)
        zone_name = end.astimezone(self.clock.zone).tzname()
        until = f"{end.astimezone(self.clock.zone):%H:%M} {zone_name}"
        load = f"{hint.load_percent:.0f}" if hint.load_percent >= 1 else f"{hint.load_percent:.1f}"
        when = f"{self.clock.local(start, zone_name=False)}–{until}"
        return f" · quietest: {when}, {load} % {clean(hint.metric, NAME_CHARS).upper()}"

    @cached_property
    def owner_note(self) -> str:
        """ " · claimed by Alice" when someone has claimed the VM (shared/wave/claims.py), or ""."""
        people = sorted({clean(name, NAME_CHARS) for name in self.vm.owners.values()})
        return f" · claimed by {' and '.join(people)}" if people else ""

    @cached_property
    def reason_codes(self) -> list[str]:
        return [clean(reason.code, NAME_CHARS) for reason in self.vm.advice.reasons[:MAX_REASONS]]

    @cached_property
    def line(self) -> str:
        """The VM in one line, for the grouped list at the top of a maintenance message."""
        line = glance.vm_line(self, is_maintenance=True) + self.owner_note + self.quietest_note
        # The link last, alone after its label: chat and mail clients make a bare URL a link.
        return line + (f" · claim: {self.vm.claim_url}" if self.vm.claim_url else "")

    @cached_property
    def last_result(self) -> str:
        status = self.vm.maintenance
        if not status or not status.last_result_code or status.last_result_code == "None":
            return ""
        text = clean(status.last_result_code, NAME_CHARS)
        if status.last_message:
            text += f": {clean(status.last_message, LINE_CHARS)}"
        return text

    @cached_property
    def az_command(self) -> str:
        # From the whole names, not the display ones: a command must name the real VM.
        group, name, subscription = (
            shlex.quote(clean(text))
            for text in (self.vm.resource_group, self.vm.name, self.vm.subscription_id)
        )
        return f"az vm perform-maintenance -g {group} -n {name} --subscription {subscription}"

    @cached_property
    def forewarn_command(self) -> str:
        # start-maintenance refuses a VM not advised to self-serve unless told: say so.
        against = "" if self.vm.advice.action == "self_service" else " --against-advice"
        return f"forewarn start-maintenance {shlex.quote(clean(self.vm.id))}{against}"


def _placement(vm: VirtualMachine) -> str:
    parts = []
    # Sets are shown by name: a resource id is noise to a person (the webhook keeps the id).
    if vm.availability_set:
        parts.append(f"availability set {clean(_last_segment(vm.availability_set), NAME_CHARS)}")
    if vm.scale_set:
        parts.append(f"scale set {clean(_last_segment(vm.scale_set), NAME_CHARS)}")
    if vm.zone:
        parts.append(f"zone {clean(vm.zone, NAME_CHARS)}")
    if vm.update_domain is not None:
        parts.append(f"UD {vm.update_domain}")
    if vm.fault_domain is not None:
        parts.append(f"FD {vm.fault_domain}")
    return ", ".join(parts) or "single VM"


def _last_segment(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] or resource_id


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
