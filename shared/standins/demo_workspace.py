"""The demo's Log Analytics workspace: a stand-in seeded with what the local world needs.

14 days of CPU history for the demo fleet's database VMs (each quiet at one hour a week, so
enrichment finds a quietest hour) and, for ``forewarn demo``, the Activity Log row of the
sample notice (the catch-up finds it received once it has been posted) and the row of one
notice no webhook brought (the catch-up recovers it). ``forewarn serve`` and ``forewarn
stand-in`` take the CPU history only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Final

from shared.standins.activity_rows import service_health_row
from shared.standins.cpu_history import hourly_cpu
from shared.standins.local_stack import DEMO_SUBSCRIPTION, sample_alert
from shared.standins.loganalytics_server import LogAnalyticsStandIn

QUIET_VMS: Final = ("sql-01", "sql-02")


def seeded_workspace(now: datetime | None = None, *, notices: bool = True) -> LogAnalyticsStandIn:
    """The stand-in (not started), seeded relative to ``now``. ``notices=False`` leaves the
    Activity Log empty (CPU history only): ``forewarn serve`` runs a catch-up as it starts,
    which would otherwise send the sample notice before anyone posted it, and make the
    README's ``curl`` a duplicate."""
    now = now or datetime.now(UTC)
    workspace = LogAnalyticsStandIn()
    for offset, name in enumerate(QUIET_VMS):
        vm_id = (
            f"/subscriptions/{DEMO_SUBSCRIPTION}/resourceGroups/rg-shop-prod/providers/"
            f"Microsoft.Compute/virtualMachines/{name}"
        )
        quiet_at = now.replace(minute=0, second=0, microsecond=0) + timedelta(
            days=1 + offset, hours=3
        )
        workspace.add_cpu(vm_id, hourly_cpu(now, quiet_at))
    if not notices:
        return workspace
    # The notice the demo posts is in the workspace too: the catch-up finds it received.
    workspace.add_activity(service_health_row(sample_alert(), time_generated=now))
    missed = sample_alert(communication_id=uuid.uuid4().hex)
    missed["data"]["alertContext"]["properties"]["stage"] = "Rescheduled"
    workspace.add_activity(service_health_row(missed, time_generated=now - timedelta(minutes=20)))
    return workspace
