"""Scheduled Events without an agent: Azure's Event Grid event, made the forwarder's posts.

With ``scheduledEventsPolicy.scheduledEventsAdditionalPublishingTargets.eventGridAndResourceGraph``
enabled on a VM, a scale set or an availability set (preview; docs/operations.md says how),
Azure publishes each change of a Scheduled Event to the subscription's
``Microsoft.ResourceNotifications.MaintenanceResources`` system topic as
``Microsoft.ResourceNotifications.MaintenanceResources.ScheduledEventEmitted``. Its ``data``
is ``{"resourceInfo": {"id", "name", "type", "location", "properties": {...}}}``, the
properties being IMDS's nine fields (and ``ScheduledEventApiVersion``); ``subject`` is the
event's resource id below the VM or scale set
(``.../virtualMachineScaleSets/NAME/providers/microsoft.maintenance/scheduledevents/ID``).
Source: Microsoft Learn, "Scheduled Events in Event Grid" (azure-compute-docs,
articles/virtual-machines/scheduled-events-event-grid.md), whose sample is
tests/fixtures/azure/eventgrid-scheduled-event-emitted.json.

Each event becomes one ``ScheduledEventPost`` per VM it names (``Resources``), so it takes
the forwarder's path from there: the same notice ids (an event heard both ways reaches each
receiver once), the same messages. The VM's id is assembled as the page says: the
subscription and resource group of the event's id, ``Microsoft.Compute/virtualMachines``, and
the name from ``Resources``. ``EventStatus`` here also says ``Completed`` (told as the
forwarder's "gone") and ``Canceled``, which IMDS never does.

    InvalidPostError (shared.scheduled)   the event is not a Scheduled Event we can read
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from shared.scheduled import EVENT_TYPES, InvalidPostError, ScheduledEventPost, parse_not_before
from shared.timeutil import format_utc, parse_utc

EVENT_TYPE: Final = "Microsoft.ResourceNotifications.MaintenanceResources.ScheduledEventEmitted"
# EventStatus as Event Grid says it -> (the forwarder's change, the status it posts).
_STATUSES: Final = {
    "Scheduled": ("new", "Scheduled"),
    "Started": ("changed", "Started"),
    "Completed": ("vanished", "Started"),
    "Canceled": ("canceled", "Scheduled"),
}
_GROUP: Final = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/", re.IGNORECASE)


def _text(value: Any, pointer: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidPostError(pointer, "must be a non-empty string")
    return value


def posts_of_event(event: Mapping[str, Any]) -> list[ScheduledEventPost]:
    """The posts an Event Grid event stands for, one per VM in ``Resources``."""
    if event.get("eventType") != EVENT_TYPE:
        raise InvalidPostError("/eventType", f"must be {EVENT_TYPE}")
    data = event.get("data")
    info = data.get("resourceInfo") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise InvalidPostError("/data/resourceInfo", "must be an object")
    properties = info.get("properties")
    if not isinstance(properties, dict):
        raise InvalidPostError("/data/resourceInfo/properties", "must be an object")
    pointer = "/data/resourceInfo/properties"
    event_id = _text(properties.get("EventId"), f"{pointer}/EventId")
    event_type = _text(properties.get("EventType"), f"{pointer}/EventType")
    if event_type not in EVENT_TYPES:
        raise InvalidPostError(f"{pointer}/EventType", f"must be one of {', '.join(EVENT_TYPES)}")
    status = _text(properties.get("EventStatus"), f"{pointer}/EventStatus")
    if status not in _STATUSES:
        raise InvalidPostError(f"{pointer}/EventStatus", f"must be one of {', '.join(_STATUSES)}")
    change, posted_status = _STATUSES[status]
    resources = properties.get("Resources")
    if not isinstance(resources, list) or not all(isinstance(r, str) and r for r in resources):
        raise InvalidPostError(f"{pointer}/Resources", "must be a list of VM names")
    source_id = str(info.get("id") or event.get("subject") or "")
    group = _GROUP.match(source_id)
    if group is None:
        raise InvalidPostError("/data/resourceInfo/id", "must be a resource id in a resource group")
    try:
        observed_at = format_utc(parse_utc(_text(event.get("eventTime"), "/eventTime")))
    except ValueError:
        raise InvalidPostError("/eventTime", "must be an ISO 8601 time") from None
    # Started events carry a NotBefore here, unlike IMDS; only a scheduled one is about it.
    not_before = parse_not_before(properties.get("NotBefore"), f"{pointer}/NotBefore")
    duration = properties.get("DurationInSeconds", -1)
    if not isinstance(duration, int) or isinstance(duration, bool):
        duration = -1
    subscription, resource_group = group.group(1), group.group(2)
    return [
        ScheduledEventPost(
            change=change,
            event_id=event_id,
            event_type=event_type,
            status=posted_status,
            resources=tuple(resources),
            not_before=not_before if posted_status == "Scheduled" else None,
            description=str(properties.get("Description") or ""),
            source=str(properties.get("EventSource") or ""),
            duration_seconds=duration,
            vm_name=name,
            vm_resource_id=(
                f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
                f"/providers/Microsoft.Compute/virtualMachines/{name}"
            ),
            observed_at=observed_at,
            vm_location=str(info.get("location") or "").strip().lower(),
        )
        for name in resources
    ]
