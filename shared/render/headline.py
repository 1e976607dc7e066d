"""The headline (email subject, Slack header, Teams title, SMS opening) and the "what" sentence.

Each says what kind of event it is (``labels``): a maintenance says when Azure reboots which
VMs; a service issue, advisory or Resource Health event says so, and never "maintenance".
A test notification starts with ``[TEST]`` on every channel, because every channel shows the
headline first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from shared.models import MaintenanceEvent, TimeWindow
from shared.render.labels import EventLabel
from shared.render.lifecycle import WAVE_OPERATION_PREFIX
from shared.render.scheduled import scheduled_headline
from shared.render.text import ReaderClock, clean, clip, names_within, plural, say_moments
from shared.render.vm_view import VmView

TEST_PREFIX: Final = "[TEST] "
NAME_CHARS: Final = 100
WHAT_CHARS: Final = 600
HEADLINE_CHARS: Final = 300


def where(event: MaintenanceEvent, vms: Sequence[VmView]) -> list[str]:
    # A receiver's VMs say where its maintenance is; the notice's regions only when it has none.
    seen: dict[str, None] = {}
    for region in [vm.location for vm in vms] or event.regions:
        seen.setdefault(clean(region, NAME_CHARS), None)
    return list(seen)


def where_text(event: MaintenanceEvent, vms: Sequence[VmView]) -> str:
    regions = where(event, vms)
    if not regions:
        return ""
    return f" in {regions[0]}" + (f" +{len(regions) - 1}" if len(regions) > 1 else "")


def _vm_names(event: MaintenanceEvent, vms: Sequence[VmView]) -> str:
    names = [vm.name for vm in vms] or [
        clean(resource_id.rstrip("/").rsplit("/", 1)[-1], NAME_CHARS)
        for resource_id in event.resource_ids
    ]
    shown, more = names_within(names, 60)
    return shown + (f" +{more}" if more else "")


def _maintenance_headline(
    event: MaintenanceEvent, label: EventLabel, vms: Sequence[VmView], clock: ReaderClock
) -> str:
    located = where_text(event, vms)
    services = [clean(item.service, NAME_CHARS) for item in event.impacted[:1]]
    subject = plural(len(vms), "VM") if vms else (services[0] if services else "maintenance")
    if label.phase == "canceled":
        return f"Canceled: maintenance of {subject}{located}"
    if label.phase == "done":
        return f"Completed: maintenance of {subject}{located}"
    prefix = {"Rescheduled": "Rescheduled: ", "In progress": "In progress: "}.get(label.stage, "")
    starts = [vm.scheduled_start for vm in vms if vm.scheduled_start is not None]
    if starts:
        return f"{prefix}Azure reboots {subject}{located} from {clock.local(min(starts))}"
    if event.impact_start:
        start = TimeWindow(event.impact_start, None).start_dt
        assert start is not None
        # Where and when first: a subject line cut short loses the service name, not the time.
        if vms:
            return f"{prefix}Maintenance of {subject}{located} from {clock.local(start)}"
        what = "" if subject == "maintenance" else f": {subject}"
        return f"{prefix}Maintenance{located} from {clock.local(start)}{what}"
    return f"{prefix}Maintenance: {clean(event.title, NAME_CHARS) or subject}{located}"


def _other_headline(event: MaintenanceEvent, label: EventLabel, vms: Sequence[VmView]) -> str:
    title = clean(event.title, NAME_CHARS)
    if event.kind in ("resource_health", "administrative"):
        stage = f" {label.stage.lower()}" if label.stage and label.stage != "Active" else ""
        names = _vm_names(event, vms)
        about = f" {names}" if names else ""
        return f"{label.kind}{stage}:{about}" + (f": {title}" if title else "")
    # Service Health: "Service issue resolved: <title>"; Active is the default, not said.
    stage = f" {label.stage.lower()}" if label.stage and label.stage != "Active" else ""
    # The notice's regions: a service issue is about a region, not about where our VMs are.
    return f"{label.kind}{stage}: {title or 'no title'}{where_text(event, [])}"


def headline(
    event: MaintenanceEvent, label: EventLabel, vms: Sequence[VmView], clock: ReaderClock
) -> str:
    # A test notice says so first, on every channel, because every channel shows the headline.
    prefix = TEST_PREFIX if event.is_test else ""
    if event.kind == "scheduled_event":
        text = scheduled_headline(event, vms, clock)
    elif label.is_maintenance:
        text = _maintenance_headline(event, label, vms, clock)
    else:
        # A started maintenance's title says when, in ISO 8601 (shared/wave/started.py).
        text = say_moments(_other_headline(event, label, vms), clock)
    return clip(prefix + text, HEADLINE_CHARS)


def _per_vm_close(event: MaintenanceEvent) -> bool:
    """A wave timer's event (render/lifecycle.py's prefix) at a closing stage."""
    timer = (event.operation_name or "").startswith(WAVE_OPERATION_PREFIX)
    return timer and (event.stage or "") in ("Complete", "Resolved")


def what(event: MaintenanceEvent, label: EventLabel, vms: Sequence[VmView]) -> str:
    """One sentence: what kind of event, about which services where, and how many VMs."""
    services = ", ".join(clean(item.service, NAME_CHARS) for item in event.impacted) or "Azure"
    regions = ", ".join(where(event, vms)) or "unspecified regions"
    if label.is_maintenance and _per_vm_close(event):
        # The wave timers' "completed" and "gone" events carry the stage Complete or Resolved
        # for their own VMs only: "Complete maintenance of Virtual Machines in eastus" would
        # read as the whole wave done beside "4 VMs still to do".
        text = f"Maintenance of {services} in {regions}"
    elif label.is_maintenance:
        stage = clean(event.stage, NAME_CHARS) or "Planned"
        text = f"{stage} maintenance of {services} in {regions}"
    elif event.kind == "service_health":
        stage = f" ({label.stage})" if label.stage else ""
        text = f"{label.kind}{stage} for {services} in {regions}"
    else:
        stage = f" ({label.stage})" if label.stage else ""
        text = f"{label.kind}{stage} in {regions}"
    if vms:
        planned = sum(1 for vm in vms if vm.planned)
        text += f", affecting {plural(len(vms), 'of your VMs', 'of your VMs')}"
        if planned and label.is_maintenance:
            text += f" ({planned} with a reboot-requiring maintenance window)"
    return clip(text, WHAT_CHARS - 1) + "."
