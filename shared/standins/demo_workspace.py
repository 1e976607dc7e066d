"""The demo's Log Analytics workspace: a stand-in seeded with what the local world needs.

14 days of CPU history for the demo fleet's database VMs (each quiet at one hour a week, so
enrichment finds a quietest hour), the Activity Log row of the sample notice (the catch-up
finds it received once it has been posted) and the row of one notice no webhook brought (the
catch-up recovers it). ``forewarn demo``, ``forewarn serve`` and ``forewarn stand-in`` use it.
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


def seeded_workspace(now: datetime | None = None, *, missed: bool = True) -> LogAnalyticsStandIn:
    """The stand-in (not started), seeded relative to ``now``; ``missed=False`` leaves out the
    notice no webhook brought (``forewarn serve`` runs a catch-up as it starts, and would send
    it before anyone posted anything)."""
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
    # The notice the demo posts is in the workspace too: the catch-up finds it received.
    workspace.add_activity(service_health_row(sample_alert(), time_generated=now))
    if missed:
        notice = sample_alert(communication_id=uuid.uuid4().hex)
        notice["data"]["alertContext"]["properties"]["stage"] = "Rescheduled"
        workspace.add_activity(
            service_health_row(notice, time_generated=now - timedelta(minutes=20))
        )
    return workspace
