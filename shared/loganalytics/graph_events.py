"""Catch-up without a workspace: planned-maintenance events from Resource Graph's
``servicehealthresources``, turned into the ``AzureActivity`` rows the catch-up reads.

Resource Graph keeps each subscription's Service Health events (type
``microsoft.resourcehealth/events``, capitalised properties: ``TrackingId``, ``EventType``,
``Status``, ``Title``, ``Summary``, ``ImpactStartTime``, ``ImpactMitigationTime``,
``LastUpdateTime``, ``Impact``; see shared/enrich/graph_queries.py for the sources) and any
identity with Reader on a subscription may query them, so catch-up works where no diagnostic
setting sends the Activity Log to a workspace.

Each event becomes the row an Activity Log export would hold, and the catch-up makes its
``MaintenanceEvent`` with ``parse_alert`` as for a workspace row: the same validation, the same
id function, ``recovered`` marked the same way. What Resource Graph does not keep is a
communication's id and its stage, so an event's id here is built from the subscription, the
tracking id and the event's ``Status`` (as its stage): a second pass finds the same id, but a
webhook copy (which has its communication id) has another one. So ``GraphActivity`` only
brings planned maintenance, and the catch-up counts one as received when forewarn already
follows its wave in that subscription (maintenance records with its tracking id), see
catchup.py. Other event types (service issues, advisories) are left to the webhook.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from shared.enrich import graph_queries
from shared.enrich.errors import ArmAuthenticationError, ArmError
from shared.enrich.resource_graph import ResourceGraph
from shared.loganalytics import LogsUnavailableError
from shared.loganalytics.client import QueryResult
from shared.timeutil import format_utc, parse_utc

PLANNED_MAINTENANCE: Final = "PlannedMaintenance"
OPERATION: Final = "Microsoft.ServiceHealth/maintenance/action"


def _moment(value: Any) -> str | None:
    """An ISO 8601 text as given, or epoch milliseconds (the samples read some times with
    ``todatetime(tolong(...))``) as ISO 8601 UTC."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return format_utc(datetime.fromtimestamp(int(value) / 1000, tz=UTC))
    return str(value)


def _impacted(impact: Any) -> list[dict[str, Any]]:
    """``Impact`` as the ``impactedServices`` array an Activity Log event carries."""
    services = []
    for item in impact if isinstance(impact, list) else []:
        if not isinstance(item, dict) or not item.get("ImpactedService"):
            continue
        regions = item.get("ImpactedRegions")
        services.append(
            {
                "ServiceName": str(item["ImpactedService"]),
                "ImpactedRegions": [
                    {"RegionName": str(region["ImpactedRegion"])}
                    for region in (regions if isinstance(regions, list) else [])
                    if isinstance(region, dict) and region.get("ImpactedRegion")
                ],
            }
        )
    return services


def activity_row(row: dict[str, Any]) -> dict[str, Any]:
    """The ``AzureActivity`` row an Activity Log export would hold for this event."""
    raw = row.get("properties")
    properties: dict[str, Any] = raw if isinstance(raw, dict) else {}
    tracking = properties.get("TrackingId") or row.get("name")
    status = properties.get("Status")
    title = properties.get("Title")
    event = {
        "title": title,
        "defaultLanguageTitle": title,
        "communication": properties.get("Summary") or properties.get("Description"),
        "incidentType": "Maintenance",
        "trackingId": tracking,
        "stage": status,
        "impactStartTime": _moment(properties.get("ImpactStartTime")),
        "impactMitigationTime": _moment(properties.get("ImpactMitigationTime")),
        "impactedServices": json.dumps(_impacted(properties.get("Impact"))),
    }
    return {
        "TimeGenerated": _moment(row.get("lastUpdate") or properties.get("LastUpdateTime")),
        "CategoryValue": "ServiceHealth",
        "SubscriptionId": row.get("subscriptionId"),
        "OperationNameValue": OPERATION,
        "ActivityStatusValue": status,
        "Level": "Informational",
        "Properties_d": {key: value for key, value in event.items() if value is not None},
    }


class GraphActivity:
    """The catch-up's rows from Resource Graph instead of a workspace."""

    def __init__(self, graph: ResourceGraph) -> None:
        self.graph = graph

    def rows(self, subscriptions: Sequence[str], since: datetime, until: datetime) -> QueryResult:
        """Planned-maintenance events updated in [since, until) of ``subscriptions`` (empty:
        every subscription the identity can read). Raises ``LogsUnavailableError`` when
        Resource Graph cannot be read; a refused batch makes the answer partial."""
        wanted = sorted({s.strip().lower() for s in subscriptions if s.strip()})
        try:
            answer = self.graph.query(graph_queries.service_health_events(since), wanted or None)
        except ArmAuthenticationError as error:
            raise LogsUnavailableError(f"Resource Graph: {error}") from error
        except ArmError as error:
            raise LogsUnavailableError(f"Resource Graph unavailable: {error}") from error
        rows = []
        for row in answer.rows:
            properties = row.get("properties")
            if not isinstance(properties, dict):
                continue
            if properties.get("EventType") != PLANNED_MAINTENANCE:
                continue  # the webhook's alone: see the module docstring
            converted = activity_row(row)
            moment = converted.get("TimeGenerated")
            try:
                if moment is not None and parse_utc(str(moment)) >= until:
                    continue  # the next pass's
            except ValueError:
                pass  # parse_alert says what is wrong with it
            rows.append(converted)
        partial = None
        if answer.refused:
            partial = f"Resource Graph refused {len(answer.refused)} subscription(s) (403)"
        elif answer.truncated:
            partial = (
                "Resource Graph answered for the first 10,000 subscriptions only; list the "
                "watched ones in FOREWARN_ALLOWED_SUBSCRIPTIONS"
            )
        return QueryResult(rows, partial)
