"""One subscription's VMs for a notice: which they are, and what can be read beside them.

Those the event named, else Azure's impacted resources, else (Resource Graph first) a sweep of
the impacted regions (shared/enrich/discovery.py says each source). Once the VMs are known,
their fresh cached instance views are read, and their subscription's auto-shutdown schedules
are asked on a side thread: only advice needs the schedules, so the cache read and the VMs'
own reads (``readings.read_vms``) do not wait for them (issue 18). ``pipeline._survey`` runs
this for every subscription of a notice and waits for the schedules after the reads.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from shared.enrich import discovery
from shared.enrich.arm import ArmClient
from shared.enrich.errors import ArmForbiddenError, ArmNotFoundError
from shared.enrich.instance_view import CachedRead, InstanceViewReader, VmRef
from shared.enrich.resource_graph import ResourceGraph, wave_vms_with_graph
from shared.models import EnrichmentNote, MaintenanceEvent
from shared.parsing.operations import reports_started_maintenance


class VmSources(Protocol):
    """What discovery reads from (``services.EnrichmentServices`` is one)."""

    arm: ArmClient
    reader: InstanceViewReader
    graph: ResourceGraph | None


@dataclass
class SubscriptionVms:
    refs: list[VmRef] = field(default_factory=list)
    named: bool = True  # False when a sweep stood in for impacted resources
    notes: list[EnrichmentNote] = field(default_factory=list)
    cached: dict[str, CachedRead] = field(default_factory=dict)  # fresh reads of ``refs``
    # The auto-shutdown schedules, still being read while the VMs are (None: no VMs).
    schedules: Future[discovery.Schedules] | None = None


def discover(
    event: MaintenanceEvent | None,
    subscription: str,
    reads: VmSources,
    named: list[VmRef] | None,
    side: ThreadPoolExecutor,
) -> SubscriptionVms:
    """The VMs of one subscription: those the event named (``named``), else Azure's impacted
    resources, else a sweep of the impacted regions; and the fresh cached reads of those VMs.

    Once the VMs are known, their auto-shutdown schedules are asked on ``side``: neither the
    cache read nor the VMs' reads need them (only advice does), so they are read while those
    are, instead of before them (``SubscriptionVms.schedules``)."""
    found = SubscriptionVms()
    arm = reads.arm
    tracking = event.tracking_id if event is not None else None
    if named is not None:
        found.refs = named
    else:
        if tracking:
            try:
                impacted = discovery.impacted_vms(arm, subscription, tracking)
                found.refs, found.notes = impacted.refs, impacted.notes
            except (ArmNotFoundError, ArmForbiddenError):
                found.refs = []
        if not found.refs:
            regions = [r for r in (event.regions if event else []) if r.lower() != "global"]
            # Resource Graph first: the VMs with maintenance pending, not the whole estate.
            # Not for the sweep (no event): it asked Resource Graph already, and only the
            # subscriptions it refused, or all when it was unavailable, come this way.
            pending = (
                wave_vms_with_graph(reads.graph, subscription, regions)
                if reads.graph is not None and event is not None
                else None
            )
            if pending is not None:
                swept, read = pending, "the {count} VMs with maintenance pending"
            else:
                try:
                    swept = discovery.subscription_vms(arm, subscription, regions)
                except ArmForbiddenError:
                    found.notes.append(
                        EnrichmentNote(
                            "forbidden",
                            f"no read permission on subscription {subscription}: "
                            "its VMs are unknown",
                            subscription_id=subscription,
                        )
                    )
                    return found
                read = "all {count} VMs"
            found.refs = swept.refs
            found.notes.extend(swept.notes)
            found.named = False
            if tracking:
                where = ", ".join(regions) or "all regions"
                read = read.format(count=len(found.refs))
                found.notes.append(
                    EnrichmentNote(
                        "no_impacted_resources",
                        f"Azure lists no impacted VMs for {tracking} in subscription "
                        f"{subscription}; read {read} in {where} instead",
                        subscription_id=subscription,
                    )
                )
    if found.refs:
        found.schedules = side.submit(discovery.auto_shutdown_vms, arm, subscription)
        # An alert that someone's performMaintenance is under way or done is about VMs that
        # changed since they were cached (often within the cache's minutes): its heading must
        # say what ARM says now, so the VMs it names (and only those) are read fresh.
        fresh = event is not None and reports_started_maintenance(event)
        found.cached = {} if fresh else reads.reader.fresh_many(found.refs)
    return found
