"""The notice a Start from the message sends to the wave's receivers: what happened.

A step started from a message is told like maintenance started any other way: as the
Administrative Activity Log would report ``performMaintenance`` (shared/wave/started.py), so
the enrich stage marks the VMs' records started (their reminders stop), and every receiver of
those VMs hears it in the wave's thread, "Maintenance started: sql-01: by alice@… at …". Its
summary is this start's own: who pressed, from which receiver's message, the outcome and each
VM's ``lastOperationResultCode``. Its event id is the one the Activity Log's own alert for the
same operation gets (``started_event_id``), so delivery lets one of the two through.

The notice names the VMs it tells of, by what happened to each: the VMs whose maintenance
started (completed, or still running) when any did, so that a step of two VMs where one
completed and one failed is headed "Maintenance completed: sql-01", never "failed" above
"sql-01: maintenance completed" (the summary still says what happened to every VM of the
step). A step where none started and some ended Failed is sent with that status, naming those:
the enrich stage routes it as any Administrative event (not in the thread, no record changed),
so people still hear it. Nothing is sent when nothing started (refused, or ARM said no before
starting).
"""

from __future__ import annotations

from datetime import datetime

from shared.models import MaintenanceEvent, VirtualMachine
from shared.parsing.resource_id import parse_vm_id
from shared.start.desk import OutcomeResult, StartOutcome, StartRequest
from shared.timeutil import format_utc
from shared.wave.started import FOREWARN_START_PREFIX, started_event_id

OPERATION = "Microsoft.Compute/virtualMachines/performMaintenance/action"
# Marks a notice forewarn made itself: started.py keeps its summary (not "outside forewarn").
COMMUNICATION_PREFIX = FOREWARN_START_PREFIX
_STARTED: frozenset[OutcomeResult] = frozenset({"Succeeded", "still_running"})


def told_of(request: StartRequest, outcome: StartOutcome) -> tuple[str, list[str]] | None:
    """(status, VM ids) the notice tells of: the VMs that started, else those that failed."""
    each = outcome.results or dict.fromkeys(request.vm_ids, outcome.result)
    started = [vm_id for vm_id in request.vm_ids if each.get(vm_id) in _STARTED]
    if started:
        done = all(each.get(vm_id) == "Succeeded" for vm_id in started)
        return ("Succeeded" if done else "Started"), started
    failed = [vm_id for vm_id in request.vm_ids if each.get(vm_id) == "Failed"]
    return ("Failed", failed) if failed else None


def outcome_event(
    request: StartRequest, outcome: StartOutcome, now: datetime
) -> MaintenanceEvent | None:
    told = told_of(request, outcome)
    if told is None:
        return None
    status, vm_ids = told
    vms = [
        VirtualMachine(vm_id, parsed.name, parsed.subscription_id, parsed.resource_group, "")
        for vm_id in vm_ids
        if (parsed := parse_vm_id(vm_id)) is not None
    ]
    who = f"{request.person} (Start now on {request.receiver}'s message)"
    return MaintenanceEvent(
        event_id=started_event_id(request.wave, vms),
        kind="administrative",
        schema="common",
        subscription_ids=sorted({vm.subscription_id for vm in vms}),
        tracking_id=request.wave,
        incident_type=None,
        stage=None,
        status=status,
        level="Informational",
        title=f"performMaintenance {status}",
        summary=f"{who} started {request.step} from the message. {outcome.text}",
        impacted=[],
        impact_start=None,
        impact_end=None,
        resource_ids=[vm.id for vm in vms],
        operation_name=OPERATION,
        maintenance_id=None,
        communication_id=f"{COMMUNICATION_PREFIX}{request.link}",
        is_test=False,
        received_at=format_utc(now),
        event_time=format_utc(now),
        caller=request.person,
    )
