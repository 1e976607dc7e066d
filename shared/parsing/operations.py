"""The Activity Log's performMaintenance operations, as both their readers need them.

The enrich stage reads the VMs such an alert names fresh from ARM (subscription_vms.py), and
the wave marks them started (wave/started.py): one definition of "an alert that maintenance
was started", so the two never disagree about which alerts those are.
"""

from __future__ import annotations

from typing import Final

from shared.models import MaintenanceEvent

# As the Activity Log names them (compared case-insensitively).
PERFORM_MAINTENANCE_OPERATIONS: Final = frozenset(
    {
        "microsoft.compute/virtualmachines/performmaintenance/action",
        "microsoft.compute/virtualmachinescalesets/performmaintenance/action",
        "microsoft.compute/virtualmachinescalesets/virtualmachines/performmaintenance/action",
    }
)
# An operation that is under way or done; Failed (and anything else) started nothing.
# "completed" is not the Activity Log's: it is the status ``record_started`` gives the event
# when every VM it tells of is done, read again by the renderers.
STARTED_STATUSES: Final = frozenset({"started", "accepted", "succeeded", "completed"})


def reports_started_maintenance(event: MaintenanceEvent) -> bool:
    """An Administrative alert that a performMaintenance is under way or done."""
    return (
        event.kind == "administrative"
        and (event.operation_name or "").lower() in PERFORM_MAINTENANCE_OPERATIONS
        and (event.status or "").lower() in STARTED_STATUSES
    )
