"""What an escalation says, and its resolution (shared/wave/escalations.py decides when).

An escalation goes to someone who was not told before (the receiver's ``escalate.to``, often
on call), so it says everything on its own: what, which VM, by when, and why it came to them:

    Escalated: sql-01, nobody has started it
    Nobody claimed or started sql-01; the self-service window closes at Thu 7 Mar 10:00 CET.
    After it, Azure reboots it from Thu 7 Mar 10:05 CET.

Its resolution says who has it now, or that nothing is left to do:

    Escalation resolved: sql-01
    sql-01: claimed by Bob.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from shared.render.followup import is_started, names
from shared.render.text import plural
from shared.render.vm_view import VmView

ESCALATED: Final = "maintenance.escalated"
RESOLVED: Final = "maintenance.escalation_resolved"


def headline(notice: str, vms: Sequence[VmView], where: str) -> str:
    if notice == RESOLVED:
        return f"Escalation resolved: {names(vms)}{where}"
    nobody = "nobody has started it" if len(vms) == 1 else "nobody has started them"
    return f"Escalated: {names(vms)}{where}, {nobody}"


def _why_resolved(vm: VmView) -> str:
    people = sorted(set(vm.vm.owners.values()))
    if people:
        return f"claimed by {' and '.join(people)}"
    if not vm.planned:
        return "no longer pending"
    if is_started(vm):
        return "its maintenance was started"
    return "no longer waiting on anyone"


def lead(notice: str, vms: Sequence[VmView]) -> str:
    if notice == RESOLVED:
        return " ".join(f"{vm.name}: {_why_resolved(vm)}." for vm in vms)
    if not vms:
        return ""
    clock = vms[0].clock
    ends = [vm.self_service_end for vm in vms if vm.self_service_end is not None]
    starts = [vm.scheduled_start for vm in vms if vm.scheduled_start is not None]
    closes = f"; the self-service window closes at {clock.local(min(ends))}" if ends else ""
    them = "it" if len(vms) == 1 else "them"
    after = f" After it, Azure reboots {them} from {clock.local(min(starts))}." if starts else ""
    count = names(vms) if len(vms) <= 3 else plural(len(vms), "VM")
    return f"Nobody claimed or started {count}{closes}.{after}"
