"""The headline of a Scheduled Event (shared/scheduled): the exact minute, in the reader's zone.

    Scheduled   "Reboot of sql-01 at 14:05 CET, in 15 min"
    Started     "Reboot of sql-01 started (seen 14:05 CET)"
    Gone        "sql-01 rebooted, back at 14:09 CET"  (the forwarder, in the VM, saw it go)
                / "Reboot of sql-01 at 14:05 CET no longer scheduled (seen 13:58 CET): done
                early or canceled"  (gone before its NotBefore, never seen Started)
    Canceled    "Reboot of sql-01 at 14:05 CET canceled"  (Event Grid only: IMDS never says so)
    Drained     "sql-01 drained: Reboot approved at 13:52 CET" / "... drain failed: Reboot at 14:05"
                / "sql-01 drained, but the approval failed: Reboot at 14:05 CET as Azure planned"

The time is the reader's wall clock without a day: the event is minutes away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from shared.models import MaintenanceEvent
from shared.render.text import ReaderClock, clean, names_within
from shared.render.vm_view import VmView
from shared.timeutil import parse_utc

_DONE: Final = {
    "Reboot": "rebooted",
    "Redeploy": "redeployed to another host",
    "Freeze": "resumed after a pause",
    "Preempt": "evicted",
    "Terminate": "deleted",
}


def _at(clock: ReaderClock, moment: datetime) -> str:
    here = moment.astimezone(clock.zone)
    return f"{here:%H:%M} {here.tzname()}"


def _names(event: MaintenanceEvent, vms: Sequence[VmView]) -> str:
    names = [vm.name for vm in vms] or [rid.rsplit("/", 1)[-1] for rid in event.resource_ids]
    shown, more = names_within([clean(name, 60) for name in names], 60)
    return shown + (f" +{more}" if more else "")


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError:
        return None


def scheduled_headline(event: MaintenanceEvent, vms: Sequence[VmView], clock: ReaderClock) -> str:
    what = clean(event.title, 20) or "Maintenance"
    vm = _names(event, vms)
    not_before = _moment(event.impact_start)
    seen = _moment(event.event_time) or clock.now
    status = (event.status or "").lower()
    if status == "gone":
        if not_before is not None and seen < not_before:
            # Gone before it was due with its NotBefore still on it: never seen Started, never
            # approved. IMDS drops a canceled event without a word, so whether it happened
            # cannot be told; "rebooted" would be more than the forwarder saw.
            return (
                f"{what} of {vm} at {_at(clock, not_before)} no longer scheduled "
                f"(seen {_at(clock, seen)}): done early or canceled"
            )
        if what == "Reboot" or what == "Redeploy":
            return f"{vm} {_DONE[what]}, back at {_at(clock, seen)}"
        return f"{vm} {_DONE.get(what, 'done')} at {_at(clock, seen)}"
    if status == "canceled":
        when = f" at {_at(clock, not_before)}" if not_before else ""
        return f"{what} of {vm}{when} canceled"
    if status == "started":
        return f"{what} of {vm} started (seen {_at(clock, seen)})"
    if status == "drained":
        return f"{vm} drained: {what} approved at {_at(clock, seen)}"
    if status == "drained, not approved":
        when = f" at {_at(clock, not_before)}" if not_before else ""
        return f"{vm} drained, but the approval failed: {what}{when} as Azure planned"
    if status == "drain failed":
        when = f" at {_at(clock, not_before)}" if not_before else ""
        return f"{vm} drain failed: {what}{when} as Azure planned"
    if not_before is None:
        return f"{what} of {vm} now"
    minutes = math.ceil((not_before - clock.now).total_seconds() / 60)
    soon = f"in {minutes} min" if minutes > 0 else "now"
    return f"{what} of {vm} at {_at(clock, not_before)}, {soon}"
