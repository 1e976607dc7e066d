"""``AzureActivity`` rows made from the activity-log events of real Action Group samples.

What diagnostic settings write for an event, column by column (Microsoft's AzureActivity
table reference): ``CategoryValue`` is the event source (ServiceHealth, ResourceHealth),
``OperationNameValue``/``ActivityStatusValue`` the operation and status, ``Properties_d`` the
event's ``properties``, ``_ResourceId`` the resource in lower case; a Service Health event is
about a subscription, so its ``_ResourceId`` is ``/subscriptions/<id>`` (Microsoft's Activity
Log schema, ServiceHealth category: ``"resourceId": "/subscriptions/<subscription ID>"``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

_LEVELS = {0: "Critical", 1: "Error", 2: "Warning", 3: "Informational", 4: "Verbose"}


def row_from_event(
    event: dict[str, Any],
    *,
    category: str,
    subscription_id: str,
    time_generated: datetime | None = None,
) -> dict[str, Any]:
    """The row for one activity-log event (an ``alertContext`` or a legacy ``activityLog``)."""
    level = event.get("level")
    resource = event.get("resourceId")
    if category == "ServiceHealth":
        resource = f"/subscriptions/{subscription_id}"
    return {
        "TimeGenerated": time_generated.isoformat() if time_generated else event["eventTimestamp"],
        "CategoryValue": category,
        "SubscriptionId": subscription_id,
        "EventDataId": event.get("eventDataId"),
        "CorrelationId": event.get("correlationId"),
        "OperationNameValue": event.get("operationName"),
        "ActivityStatusValue": event.get("status"),
        "ActivitySubstatusValue": event.get("subStatus") or "",
        "Level": _LEVELS.get(level, level) if isinstance(level, int) else level,
        "_ResourceId": resource.lower() if isinstance(resource, str) else "",
        "ResourceGroup": event.get("resourceGroupName") or "",
        "ResourceProviderValue": event.get("resourceProviderName") or "",
        "EventSubmissionTimestamp": event.get("submissionTimestamp"),
        "Properties_d": dict(event.get("properties") or {}),
    }


def service_health_row(
    alert: dict[str, Any], *, time_generated: datetime | None = None
) -> dict[str, Any]:
    """The row of a common-schema Service Health alert's event (its target subscription)."""
    subscription = alert["data"]["essentials"]["alertTargetIDs"][0].rsplit("/", 1)[-1]
    return row_from_event(
        alert["data"]["alertContext"],
        category="ServiceHealth",
        subscription_id=subscription,
        time_generated=time_generated,
    )
