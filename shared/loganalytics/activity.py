"""``AzureActivity`` rows -> the same ``MaintenanceEvent`` the webhook path makes.

Diagnostic settings export a subscription's Activity Log to the workspace's ``AzureActivity``
table: one row per event, its ``properties`` in ``Properties_d``. A row is turned back into the
activity-log event an Action Group would have carried (the legacy envelope's ``activityLog``)
and given to ``parse_alert``: the same validation, the same "is this for us", the same event
id. So a notice the webhook did bring and the catch-up finds again has one id, and the
existing idempotency keeps it from being sent twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from shared.loganalytics.kql import KqlQuery
from shared.models import MaintenanceEvent
from shared.parsing.errors import InvalidAlertError, Problem
from shared.parsing.normalise import LEGACY_SCHEMA_ID, parse_alert

QUERY_NAME: Final = "catch-up"
CATEGORIES: Final = ("ServiceHealth", "ResourceHealth")
# The time window is the request's timespan (TimeGenerated), never part of the text.
QUERY_TEMPLATE: Final = """let subscriptions = todynamic(p.subscriptions);
let categories = todynamic(p.categories);
AzureActivity
| where CategoryValue in (categories)
| where array_length(subscriptions) == 0 or SubscriptionId in~ (subscriptions)
| project TimeGenerated, CategoryValue, SubscriptionId, EventDataId, CorrelationId,
    OperationNameValue, ActivityStatusValue, ActivitySubstatusValue, Level, _ResourceId,
    ResourceGroup, ResourceProviderValue, EventSubmissionTimestamp, Properties_d
| order by TimeGenerated asc"""


def activity_query(subscriptions: Sequence[str]) -> KqlQuery:
    """Service Health and Resource Health events of ``subscriptions`` (empty: every one)."""
    return KqlQuery(
        QUERY_NAME,
        QUERY_TEMPLATE,
        {
            "subscriptions": sorted({s.strip().lower() for s in subscriptions if s.strip()}),
            "categories": list(CATEGORIES),
        },
    )


def properties_of(value: Any) -> dict[str, Any]:
    # The query API returns a ``dynamic`` column as JSON text; the SDK leaves it so.
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise InvalidAlertError([Problem("/Properties_d", "is not a JSON object")]) from None
    return dict(value) if isinstance(value, dict) else {}


def _text(row: dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def activity_log_event(row: dict[str, Any]) -> dict[str, Any]:
    """The ``activityLog`` object an Action Group would have sent for this row."""
    return {
        "channels": "Operation",
        "correlationId": _text(row, "CorrelationId"),
        "eventDataId": _text(row, "EventDataId"),
        "eventSource": _text(row, "CategoryValue"),
        "eventTimestamp": _text(row, "TimeGenerated"),
        "submissionTimestamp": _text(row, "EventSubmissionTimestamp"),
        "level": _text(row, "Level"),
        "operationName": _text(row, "OperationNameValue"),
        "properties": properties_of(row.get("Properties_d")),
        "resourceId": _text(row, "_ResourceId"),
        "resourceGroupName": _text(row, "ResourceGroup"),
        "resourceProviderName": _text(row, "ResourceProviderValue"),
        "status": _text(row, "ActivityStatusValue"),
        "subStatus": _text(row, "ActivitySubstatusValue"),
        "subscriptionId": _text(row, "SubscriptionId"),
    }


def event_from_row(row: dict[str, Any], received_at: datetime) -> MaintenanceEvent:
    """The normalised event, marked recovered. Raises what ``parse_alert`` raises:
    ``InvalidAlertError`` or ``NotForForewarnError`` (e.g. a user-initiated health change)."""
    payload = {
        "schemaId": LEGACY_SCHEMA_ID,
        "data": {"status": "Activated", "context": {"activityLog": activity_log_event(row)}},
    }
    return replace(parse_alert(payload, received_at), recovered=True)
