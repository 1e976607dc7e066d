"""Where a message stands in its wave's life: the notice type and the wave it belongs to.

Every message about one wave (Azure's tracking id) carries the same ``wave`` key, so that the
delivery stage can make later ones follow the first a receiver got (one thread per notice), and
a ``notice_type`` that says what this one is:

    maintenance.announced    Azure's Planned or Active notice (the first word of a wave)
    maintenance.in_progress  Azure's InProgress notice
    maintenance.rescheduled  Azure's Rescheduled notice, or the sweep found new windows
    maintenance.completed    Azure's Complete notice, or the sweep found a VM done
    maintenance.cancelled    Azure's Canceled or Resolved notice
    maintenance.reminder     a reminder before a window closes or opens
    maintenance.vm_added     the sweep found a VM no notice named
    maintenance.vm_deleted   the sweep found a VM deleted mid-wave
    maintenance.escalated    nobody claimed or started a VM whose self-service window closes
                             soon: told to the receiver's ``escalate.to``
    maintenance.escalation_resolved  that VM was claimed, started or done since

Events the wave timers make say their kind in ``operation_name`` (``forewarn/wave/<kind>``,
reminders followed by their offset: ``forewarn/wave/reminder/self_service-72h``);
Azure's say it in their stage. Anything that is not a maintenance has no notice type (``None``);
it still threads by its tracking id.
"""

from __future__ import annotations

from shared.models import MaintenanceEvent

WAVE_OPERATION_PREFIX = "forewarn/wave/"  # shared/wave/notices.py names its events so
# Escalations and their resolutions go to the escalating receivers' ``escalate.to`` only
# (shared/routing/grouping.py), not by the routes.
ESCALATION_OPERATIONS = (
    f"{WAVE_OPERATION_PREFIX}escalation",
    f"{WAVE_OPERATION_PREFIX}escalation_resolved",
)

NOTICE_TYPES = (
    "maintenance.announced",
    "maintenance.in_progress",
    "maintenance.rescheduled",
    "maintenance.completed",
    "maintenance.cancelled",
    "maintenance.reminder",
    "maintenance.vm_added",
    "maintenance.vm_deleted",
    "maintenance.escalated",
    "maintenance.escalation_resolved",
)

_OF_WAVE_KIND = {
    "vm_added": "maintenance.vm_added",
    "rescheduled": "maintenance.rescheduled",
    "completed": "maintenance.completed",
    "gone": "maintenance.vm_deleted",
    "reminder": "maintenance.reminder",
    "escalation": "maintenance.escalated",
    "escalation_resolved": "maintenance.escalation_resolved",
}

_OF_STAGE = {
    "planned": "maintenance.announced",
    "active": "maintenance.announced",
    "inprogress": "maintenance.in_progress",
    "rescheduled": "maintenance.rescheduled",
    "complete": "maintenance.completed",
    "completed": "maintenance.completed",
    "canceled": "maintenance.cancelled",
    "cancelled": "maintenance.cancelled",
    "resolved": "maintenance.cancelled",
}


def wave_key(event: MaintenanceEvent) -> str | None:
    """The tracking id, lower-cased (Azure writes the same id in either case), if any."""
    tracking = (event.tracking_id or "").strip()
    return tracking.lower() or None


def is_wave_timer_event(event: MaintenanceEvent) -> bool:
    """Whether the wave timers made this event (rather than Azure)."""
    return (event.operation_name or "").startswith(WAVE_OPERATION_PREFIX)


def escalation_of(event: MaintenanceEvent) -> str | None:
    """``escalation`` or ``escalation_resolved`` for those events, else None."""
    operation = event.operation_name or ""
    if operation in ESCALATION_OPERATIONS:
        return operation[len(WAVE_OPERATION_PREFIX) :]
    return None


def notice_type(event: MaintenanceEvent) -> str | None:
    operation = event.operation_name or ""
    if operation.startswith(WAVE_OPERATION_PREFIX):
        kind = operation[len(WAVE_OPERATION_PREFIX) :].split("/", 1)[0]  # reminder/<offset>
        return _OF_WAVE_KIND.get(kind)
    if (event.incident_type or "").lower() != "maintenance":
        return None
    stage = (event.stage or "planned").replace(" ", "").lower()
    return _OF_STAGE.get(stage, "maintenance.announced")
