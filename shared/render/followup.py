"""What a follow-up about some of a wave's VMs says: those VMs by name, and what is still open.

The wave timers tell people about a few VMs at a time (one is done, one was deleted, one was
found mid-wave, one was given new windows). Such a message speaks for its VMs, and for the rest
of the wave it says what remains for this receiver, from the wave's open records
(``EnrichedEvent.remaining``, already narrowed to the receiver's VMs by the route stage):

    sql-01 is done. Still to do: start sql-02 by Wed 16 Dec 07:13 CET; Azure does 3 others
    from Wed 16 Dec 07:15 CET.

"Over" is said only when nothing of the wave stays open for the receiver. A VM whose
maintenance status vanished without a ``MaintenanceCompleted`` result is not called done:
Azure's FAQ gives two reasons for planned maintenance no longer showing (the wave ended, or
the VM already runs on an updated host), and the message says that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from shared.enrich.guidance import FAQ_URL
from shared.render import glance
from shared.render.glance import V
from shared.render.text import ReaderClock, names_within, plural
from shared.render.vm_view import VmView

# Notice types (shared/render/lifecycle.py) of the wave timers' per-VM notices.
PER_VM_NOTICES: Final = frozenset(
    {
        "maintenance.completed",
        "maintenance.vm_deleted",
        "maintenance.vm_added",
        "maintenance.rescheduled",
    }
)
# Advice reason that says Azure reported the maintenance done (shared/enrich/advice.py).
COMPLETED_REASON: Final = "maintenance_completed"
# Advice reason of a VM of "still to do" whose maintenance someone started (wave/records.py).
STARTED_REASON: Final = "self_service_started"
NAME_BUDGET: Final = 80
CLEARED_WHY: Final = (
    "Azure no longer lists planned maintenance for {them} and has not reported {it} completed: "
    "by Azure's FAQ, either the maintenance wave has ended or the VM already runs on an "
    f"updated host (source: {FAQ_URL})"
)
OVER: Final = "Nothing else of this wave is open for you: this maintenance is over."


def names(vms: Sequence[VmView], budget: int = NAME_BUDGET) -> str:
    """``sql-01``, ``sql-01 and sql-02``, ``sql-01, sql-02 +3``."""
    listed = [vm.name for vm in vms]
    if len(listed) == 2 and len(listed[0]) + len(listed[1]) <= budget:
        return f"{listed[0]} and {listed[1]}"
    shown, more = names_within(listed, budget)
    return (shown or plural(len(listed), "VM")) + (f" +{more}" if more and shown else "")


def is_done(vm: VmView) -> bool:
    return COMPLETED_REASON in vm.reason_codes


def is_started(vm: VmView) -> bool:
    """Someone started its maintenance and Azure has not reported it done (wave/records.py)."""
    return STARTED_REASON in vm.reason_codes


def headline(notice: str, vms: Sequence[VmView], remaining: Sequence[VmView], where: str) -> str:
    """Names the VMs the notice is about, and says what is still open."""
    subject = names(vms)
    if notice == "maintenance.completed":
        done = [vm for vm in vms if is_done(vm)]
        what = "done" if len(done) == len(vms) else "no longer pending"
        text = f"Maintenance {what}: {subject}{where}"
    elif notice == "maintenance.vm_deleted":
        text = f"Deleted mid-wave: {subject}{where}"
    elif notice == "maintenance.vm_added":
        text = f"Planned maintenance found on {subject}{where}"
    else:
        text = f"Rescheduled: {subject}{where}"
    if remaining:
        text += f" · {plural(len(remaining), 'VM')} still to do"
    return text


def groups(notice: str, found: list[glance.VmGroup[V]]) -> list[glance.VmGroup[V]]:
    """A done or deleted VM is listed as such, never under "No action needed"."""
    if notice not in ("maintenance.completed", "maintenance.vm_deleted"):
        return found
    titled = []
    for group in found:
        title = group.title
        if notice == "maintenance.vm_deleted":
            title = "Deleted"
        elif group.key == "none":
            title = "Done" if all(is_done(vm) for vm in group.vms) else "No longer pending"
        titled.append(replace(group, title=title))
    return titled


def _finished(notice: str, vms: Sequence[VmView]) -> str:
    if notice == "maintenance.vm_deleted":
        them = "it" if len(vms) == 1 else "them"
        verb = "was" if len(vms) == 1 else "were"
        return f"{names(vms)} {verb} deleted; nothing is left to do for {them}."
    done = [vm for vm in vms if is_done(vm)]
    cleared = [vm for vm in vms if not is_done(vm)]
    parts = []
    if done:
        parts.append(f"{names(done)} {'is' if len(done) == 1 else 'are'} done.")
    if cleared:
        one = len(cleared) == 1
        why = CLEARED_WHY.format(them=names(cleared), it="it" if one else "them")
        parts.append(glance.without_source(why) + ".")
    return " ".join(parts)


def still_to_do(remaining: Sequence[VmView], clock: ReaderClock) -> str:
    """``start sql-02 by Wed 16 Dec 07:13 CET; Azure does 3 others from …``."""
    groups: dict[str, list[VmView]] = {}
    under_way = [vm for vm in remaining if is_started(vm)]
    for vm in remaining:
        if not is_started(vm):
            groups.setdefault(glance.group_of(vm), []).append(vm)
    parts = []
    if under_way:
        # Someone started it: telling people to start it again would be untrue.
        verb = "is" if len(under_way) == 1 else "are"
        parts.append(f"{names(under_way)} {verb} under way (started; not yet reported done)")
    start = groups.get("start", [])
    if start:
        ends = [vm.self_service_end for vm in start if vm.self_service_end is not None]
        opens = [vm.self_service_start for vm in start if vm.self_service_start is not None]
        when = f" by {clock.local(min(ends))}" if ends else ""
        if ends and opens and all(clock.now < moment for moment in opens):
            when = f" between {clock.local(min(opens))} and {clock.local(min(ends))}"
        parts.append(f"start {names(start)}{when}")
    others = [vm for key in ("azure", "avoid", "none") for vm in groups.get(key, [])]
    if others:
        starts = [vm.scheduled_start for vm in others if vm.scheduled_start is not None]
        who = names(others) if len(others) <= 2 else f"{len(others)} others"
        when = f" from {clock.local(min(starts))}" if starts else ""
        parts.append(f"Azure does {who}{when}")
    return "; ".join(parts)


def lead(
    notice: str, vms: Sequence[VmView], remaining: Sequence[VmView], clock: ReaderClock
) -> str:
    """What happened to these VMs, what to do about them, and what is still open."""
    if notice in ("maintenance.completed", "maintenance.vm_deleted"):
        first = _finished(notice, vms)
    else:
        groups: dict[str, list[VmView]] = {}
        for vm in vms:
            groups.setdefault(glance.group_of(vm), []).append(vm)
        opening = (
            f"No notice named {names(vms)}; {'its' if len(vms) == 1 else 'their'} instance "
            "view shows planned maintenance."
            if notice == "maintenance.vm_added"
            else f"New maintenance windows for {names(vms)}."
        )
        first = f"{opening} {glance.upcoming_lead(groups, clock)}".strip()
    if remaining:
        # The notice's own VMs are still to do when they were found or moved.
        finished = notice in ("maintenance.completed", "maintenance.vm_deleted")
        also = "Still to do" if finished else "Also still to do"
        return f"{first} {also}: {still_to_do(remaining, clock)}."
    if notice in ("maintenance.completed", "maintenance.vm_deleted"):
        return f"{first} {OVER}"
    return first
