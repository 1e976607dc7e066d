"""What an event is, in words: its kind and its stage, for the first line of every message.

A message must say what it is before anything else: a planned maintenance that asks for a
decision reads differently from a service issue that was resolved, a Resource Health outage, or
the Action Group's own test (an ``Incident`` at stage ``Resolved``). Only maintenance carries
maintenance instructions (windows, advice, plan, commands); every other kind says what happened
and where, and names the VMs it is about.

Service Health's ``incidentType`` and ``stage`` values are those of the Service Health event
properties (incidentType ``ActionRequired``, ``Informational``, ``Incident``, ``Maintenance``,
``Security``; maintenance stages ``Active``, ``Planned``, ``InProgress``, ``Canceled``,
``Rescheduled``, ``Resolved``, ``Complete``; incident stages ``Active``, ``Resolved``, ``RCA``).
Unknown values are shown as given (cleaned), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from shared.models import MaintenanceEvent
from shared.render.lifecycle import WAVE_OPERATION_PREFIX, notice_type
from shared.render.text import clean

# The label's stage for the wave timers' per-VM closing events (see label_of).
FOLLOW_UP_STAGE: Final = "Follow-up"

# The wave timers' notices that read as stage Planned for routing (shared/wave/notices.py)
# but are not an announcement: their label says what they are.
_WAVE_STAGES: Final = {
    "maintenance.reminder": "Reminder",
    "maintenance.escalated": "Escalated",
    "maintenance.escalation_resolved": "Escalation resolved",
}

# What the message asks of its reader, by stage of a maintenance.
Phase = Literal["upcoming", "in_progress", "canceled", "done", "other"]

KIND_LABELS: Final = {
    "maintenance": "Planned maintenance",
    "incident": "Service issue",
    "security": "Security advisory",
    "informational": "Health advisory",
    "actionrequired": "Action required",
}
STAGE_LABELS: Final = {
    "planned": "Planned",
    "active": "Active",
    "inprogress": "In progress",
    "rescheduled": "Rescheduled",
    "canceled": "Canceled",
    "cancelled": "Canceled",
    "resolved": "Resolved",
    "complete": "Completed",
    "completed": "Completed",
    "rca": "Root cause analysis",
}
_PHASES: Final[dict[str, Phase]] = {
    "planned": "upcoming",
    "active": "upcoming",
    "rescheduled": "upcoming",
    "inprogress": "in_progress",
    "canceled": "canceled",
    "cancelled": "canceled",
    "resolved": "done",
    "complete": "done",
    "completed": "done",
}
LABEL_CHARS = 80


def _key(text: str | None) -> str:
    return clean(text).replace(" ", "").replace("_", "").replace("-", "").lower()


@dataclass(frozen=True)
class EventLabel:
    """``kind`` ("Planned maintenance", "Service issue", "Resource Health", …), ``stage``
    ("Planned", "Resolved", …, "" when the alert has none) and what they mean for the reader."""

    kind: str
    stage: str
    is_maintenance: bool  # only then: windows, advice, plan and commands
    phase: Phase

    @property
    def text(self) -> str:
        """``Planned maintenance · Rescheduled``: the label shown near the top."""
        return f"{self.kind} · {self.stage}" if self.stage else self.kind


def label_of(event: MaintenanceEvent) -> EventLabel:
    stage_key = _key(event.stage)
    stage = STAGE_LABELS.get(stage_key) or clean(event.stage, LABEL_CHARS)
    if event.kind == "resource_health":
        status = STAGE_LABELS.get(_key(event.status), "")
        return EventLabel("Resource Health", status, False, "other")
    if event.kind == "scheduled_event":
        # Azure's minutes-ahead notice from inside the VM (shared/scheduled).
        return EventLabel("Scheduled event", clean(event.status, LABEL_CHARS), False, "other")
    if event.kind == "administrative":
        status = clean(event.status, LABEL_CHARS)
        if (event.operation_name or "").lower().endswith("/performmaintenance/action"):
            # Someone started a VM's maintenance (shared/wave/started.py): say it so.
            return EventLabel("Maintenance", status, False, "other")
        return EventLabel("Administrative operation", status, False, "other")
    incident = _key(event.incident_type)
    if incident in ("", "maintenance"):
        if stage_key in ("complete", "resolved") and (event.operation_name or "").startswith(
            WAVE_OPERATION_PREFIX
        ):
            # The sweep's "completed" and "gone" events close some VMs, not the wave: beside
            # "4 VMs still to do", "Planned maintenance · Completed" would say the wave is.
            stage = FOLLOW_UP_STAGE
        stage = _WAVE_STAGES.get(notice_type(event) or "", stage)
        return EventLabel(
            KIND_LABELS["maintenance"], stage, True, _PHASES.get(stage_key, "upcoming")
        )
    kind = KIND_LABELS.get(incident) or (
        f"Service Health {clean(event.incident_type, LABEL_CHARS)}"
    )
    return EventLabel(kind, stage, False, "other")
