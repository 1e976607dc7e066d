"""The part of a message read in ten seconds: what to do, by when, and which VMs.

The lead sentence follows Azure's own notice: "Start 2 VMs yourself by <the self-service
deadline>, or Azure reboots them between <the scheduled window>". Below it the VMs are grouped
by what their owner does (start yourself / let Azure do it / don't start yourself / nothing to
do), one short line each; windows, reasons and commands come after, in each channel's details.

Only a maintenance gets instructions; other kinds say what happened (``labels``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Generic, TypeVar

from shared.models import TimeWindow
from shared.render.labels import EventLabel
from shared.render.text import ReaderClock, plural
from shared.render.vm_view import VmView

# Group keys in the order people act on them, and their headings.
GROUP_ORDER: Final = ("start", "azure", "avoid", "none")
GROUP_TITLES: Final = {
    "start": "Start yourself",
    "azure": "Let Azure do it",
    "avoid": "Don't start yourself",
    "none": "No action needed",
}
_GROUP_OF_ADVICE: Final = {
    "self_service": "start",
    "let_azure": "azure",
    "avoid_self_service": "avoid",
}
# Every advice reason and fact ends with "(source: URL)"; a message names the source once.
_SOURCE = re.compile(r"\s*\(source: https?://[^\s)]+\)\s*$")


def without_source(text: str) -> str:
    return _SOURCE.sub("", text)


# The VMs' own type goes through grouping, so that a renderer's group holds its VmFacts.
V = TypeVar("V", bound=VmView)


@dataclass(frozen=True)
class VmGroup(Generic[V]):
    key: str  # one of GROUP_ORDER
    title: str
    vms: list[V]

    @property
    def heading(self) -> str:
        return f"{self.title} ({len(self.vms)})"


def group_of(vm: VmView) -> str:
    if not vm.planned:
        return "none"
    return _GROUP_OF_ADVICE.get(vm.advice, "none")


def group_vms(vms: Sequence[V]) -> list[VmGroup[V]]:
    buckets: dict[str, list[V]] = {key: [] for key in GROUP_ORDER}
    for vm in vms:
        buckets[group_of(vm)].append(vm)
    return [VmGroup(key, GROUP_TITLES[key], buckets[key]) for key in GROUP_ORDER if buckets[key]]


def vm_line(vm: VmView, is_maintenance: bool) -> str:
    """``sql-01 (rg-data-prod) · start by Tue 29 Sep 17:00 PDT``: one VM in one line."""
    where = f"{vm.name} ({vm.resource_group})"
    if not is_maintenance or not vm.planned:
        return where
    clock = vm.clock
    azure = f"Azure from {clock.local(vm.scheduled_start)}" if vm.scheduled_start else ""
    if group_of(vm) == "start":
        if vm.allowed_now and vm.self_service_end is not None:
            return f"{where} · start by {clock.local(vm.self_service_end)}"
        opens = vm.self_service_start
        if opens is not None and clock.now < opens:
            return f"{where} · start from {clock.local(opens)}"
        return f"{where} · Azure does not accept a start now" + (f"; {azure}" if azure else "")
    return f"{where} · {azure}" if azure else where


def _between(clock: ReaderClock, starts: list[datetime], ends: list[datetime]) -> str:
    if not starts:
        return ""
    first = clock.local(min(starts))
    if not ends:
        return f"from {first}"
    return f"between {first} and {clock.local(max(ends))}"


def scheduled_moments(vms: Sequence[VmView]) -> tuple[list[datetime], list[datetime]]:
    """The starts and the ends of these VMs' scheduled windows (where known)."""
    starts = [vm.scheduled_start for vm in vms if vm.scheduled_start is not None]
    ends = [
        end
        for vm in vms
        if vm.vm.maintenance is not None
        and (end := vm.vm.maintenance.scheduled_window.end_dt) is not None
    ]
    return starts, ends


def upcoming_lead(groups: Mapping[str, Sequence[VmView]], clock: ReaderClock) -> str:
    start = groups.get("start", [])
    others = [vm for key in ("azure", "avoid") for vm in groups.get(key, [])]
    avoid = groups.get("avoid", [])
    if start:
        ends = [vm.self_service_end for vm in start if vm.self_service_end is not None]
        opens = [vm.self_service_start for vm in start if vm.self_service_start is not None]
        when = ""
        if ends:
            when = f" by {clock.local(min(ends))}"
            if opens and all(clock.now < moment for moment in opens):
                when = f" between {clock.local(min(opens))} and {clock.local(min(ends))}"
        them = "it" if len(start) == 1 else "them"
        window = _between(clock, *scheduled_moments(start))
        lead = f"Start {plural(len(start), 'VM')} yourself{when}"
        lead += f", or Azure reboots {them} {window}." if window else "."
        if others and len(avoid) == len(others):
            lead += f" Don't start the other {len(others)} yourself; Azure does them."
        elif others:
            lead += f" Let Azure do the other {len(others)}"
            lead += f" (don't start {len(avoid)} of them yourself)." if avoid else "."
        return lead
    if others:
        window = _between(clock, *scheduled_moments(others))
        lead = f"No action needed: Azure reboots {plural(len(others), 'VM')}"
        lead += f" {window}." if window else "."
        if avoid:
            lead += f" Don't start {'it' if len(others) == 1 else 'them'} yourself."
        return lead
    return ""


def lead_sentence(
    label: EventLabel,
    vms: Sequence[VmView],
    what: str,
    clock: ReaderClock,
    impact: TimeWindow | None = None,
) -> str:
    """The first sentence after the headline: what to do and by when, or what happened."""
    if not label.is_maintenance:
        # The headline already gives the title; this says what and where, and that no start
        # is asked (people read "Azure" and "maintenance" as "do something").
        return f"{what} No maintenance action is asked of you."
    groups: dict[str, list[VmView]] = {}
    for vm in vms:
        groups.setdefault(group_of(vm), []).append(vm)
    planned = [vm for vm in vms if vm.planned]
    if label.phase == "canceled":
        return "Canceled: Azure will not do this maintenance; no action needed."
    if label.phase == "done":
        return "Completed: this maintenance is over; no action needed."
    lead = upcoming_lead(groups, clock) if planned else ""
    if not lead and impact is not None and impact.start_dt is not None:
        # No VM windows: the notice's own impact window says when.
        ends = [impact.end_dt] if impact.end_dt is not None else []
        lead = f"{what.rstrip('.')}, {_between(clock, [impact.start_dt], ends)}."
    if label.phase == "in_progress":
        if not planned:
            return f"In progress: {what}"
        starts, ends = scheduled_moments(planned)
        window = _between(clock, starts, ends)
        count = plural(len(planned), "VM")
        if any(start <= clock.now for start in starts):
            doing = f"Azure is rebooting {count} {window}".rstrip()
        else:
            # Azure's InProgress is about the wave: until one of these VMs' scheduled windows
            # has begun, none of them is being rebooted, and "start it yourself" still holds.
            doing = f"Azure has begun this maintenance; it reboots {count} {window}".rstrip()
        return f"In progress: {doing}." + (f" {lead}" if lead.startswith("Start") else "")
    return lead or what
