"""The Resource Graph queries forewarn sends: constant texts, the only parameter a moment.

Resource Graph takes the subscriptions to search in the request body, not in the query, so
the texts below need no subscription, VM or tracking id at all. The one query with a
parameter (the Service Health events since a moment) gets it as a ``datetime(…)`` literal
written by ``format_utc`` from a ``datetime``: digits, dashes, colons, ``T`` and ``Z``, never
text from outside. ``read_graph_query`` turns a text back into its name and parameters (the
stand-in answers exactly these texts, and a test checks that nothing else ever varies).

Sources (Microsoft Learn, read 2026-12):
- maintenance: articles/service-health/resource-graph-impacted-samples.md, "Query 1 -
  Maintenance updates and impacted resources": ``maintenanceresources``, type
  ``microsoft.maintenance/updates``, one row per resource whose ``name`` is read as the target
  resource id and whose ``properties.value`` lists its updates (``notificationId``,
  ``status``, ``impactType``). Statuses that need nothing more from anyone (Query 2 of the
  same page: ``Completed``, ``NoUpdatesPending``) are left out; the instance view stays the
  authority on windows and on whether maintenance may start now.
- a VM's region (``wave-vms``): ``resources``, type ``microsoft.compute/virtualmachines``,
  ``location`` in ARM's form ("eastus2"), joined on the lower-cased id (a ``leftouter`` join:
  a VM that ``resources`` no longer holds keeps its row, without a region).
- auto-shutdown: ``resources`` holds ``microsoft.devtestlab/schedules`` with the same
  properties as the ARM read in discovery.py (``taskType``, ``status``, ``targetResourceId``).
- Service Health: governance/resource-graph/samples, "All active planned maintenance events":
  ``servicehealthresources``, type ``microsoft.resourcehealth/events``, capitalised property
  names (``TrackingId``, ``EventType``, ``Status``, ``Title``, ``Summary``,
  ``ImpactStartTime``, ``ImpactMitigationTime``, ``LastUpdateTime``, ``Impact``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from shared.timeutil import format_utc, parse_utc

MAINTENANCE_VMS: Final = "maintenance-vms"
SHUTDOWN_SCHEDULES: Final = "shutdown-schedules"
WAVE_VMS: Final = "wave-vms"
SERVICE_HEALTH_EVENTS: Final = "service-health-events"

# The VMs with maintenance still to do: the head both VM queries share (fixed text, no input).
_PENDING_VM_UPDATES: Final = """maintenanceresources
| where type =~ 'microsoft.maintenance/updates'
| extend p = parse_json(properties)
| mv-expand d = p.value
| extend vmId = tolower(name), notificationId = tostring(d.notificationId),
    status = tostring(d.status), impactType = tostring(d.impactType)
| where vmId contains '/providers/microsoft.compute/virtualmachines/'
| where status !in~ ('Completed', 'NoUpdatesPending')
"""

TEMPLATES: Final[dict[str, str]] = {
    MAINTENANCE_VMS: _PENDING_VM_UPDATES
    + """| project vmId, subscriptionId, notificationId, status, impactType
| order by vmId asc""",
    # The same rows with each VM's region from ``resources`` (an incoming notice's discovery
    # keeps those in the notice's regions; the regions stay out of the text, see above).
    WAVE_VMS: _PENDING_VM_UPDATES
    + """| join kind=leftouter (resources
    | where type =~ 'microsoft.compute/virtualmachines'
    | project vmId = tolower(id), location) on vmId
| project vmId, subscriptionId, location, notificationId, status, impactType
| order by vmId asc""",
    SHUTDOWN_SCHEDULES: """resources
| where type =~ 'microsoft.devtestlab/schedules'
| where tostring(properties.taskType) =~ 'ComputeVmShutdownTask'
| where tostring(properties.status) =~ 'Enabled'
| project vmId = tolower(tostring(properties.targetResourceId)), subscriptionId
| order by vmId asc""",
    SERVICE_HEALTH_EVENTS: """servicehealthresources
| where type =~ 'microsoft.resourcehealth/events'
| extend lastUpdate = todatetime(tostring(properties.LastUpdateTime))
| where lastUpdate >= {since}
| project id, name, subscriptionId, properties, lastUpdate
| order by lastUpdate asc, id asc""",
}

_MOMENT = re.compile(r"datetime\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)")


@dataclass(frozen=True)
class GraphQuery:
    """A named constant template and the moments it reads (``{since}``)."""

    name: str
    moments: Mapping[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in TEMPLATES:
            raise ValueError(f"no Resource Graph query named {self.name!r}")

    def text(self) -> str:
        literals = {key: f"datetime({format_utc(moment)})" for key, moment in self.moments.items()}
        return TEMPLATES[self.name].format(**literals)


def maintenance_vms() -> GraphQuery:
    return GraphQuery(MAINTENANCE_VMS)


def wave_vms() -> GraphQuery:
    return GraphQuery(WAVE_VMS)


def shutdown_schedules() -> GraphQuery:
    return GraphQuery(SHUTDOWN_SCHEDULES)


def service_health_events(since: datetime) -> GraphQuery:
    return GraphQuery(SERVICE_HEALTH_EVENTS, {"since": since})


def read_graph_query(text: str) -> GraphQuery:
    """The query a text made by ``GraphQuery.text`` is (stand-ins, tests); ``ValueError`` for
    any other text."""
    for name, template in TEMPLATES.items():
        keys = re.findall(r"\{(\w+)\}", template)
        pattern = re.escape(template)
        for key in keys:
            pattern = pattern.replace(re.escape("{" + key + "}"), _MOMENT.pattern)
        match = re.fullmatch(pattern, text)
        if match is not None:
            return GraphQuery(
                name, {k: parse_utc(v) for k, v in zip(keys, match.groups(), strict=True)}
            )
    raise ValueError("not one of forewarn's Resource Graph queries")
