"""Tenant scale: one sweep of 50,000 VMs in 500 subscriptions with Resource Graph first.

    python -m bench.scale [--quick]

The estate (shared/standins/graph_estate.py): 50,000 VMs in 500 subscriptions, 10 of which hold
half of them; 2 % of the VMs, drawn over the whole estate, are in a wave (``--quick``: 10,000 VMs
in 100 subscriptions). The stand-in ARM and its Resource Graph answer on 127.0.0.1.

Quotas are scaled down so that a sweep takes seconds, and the bound is computed from the same
scaled quotas (the stand-in's configuration, which the client's pacer is given too):
ARM reads per subscription ``READS`` (capacity, refill per second) instead of (250, 25), and
Resource Graph ``GRAPH_QUOTA`` queries every ``GRAPH_WINDOW`` seconds (Microsoft's example is
15 every 5 s). The bound: Resource Graph's queries at its quota, then the instance-view reads
of the busiest subscription at its read bucket (every subscription drains in parallel).

Prints: Resource Graph requests per sweep, ARM reads per sweep (goal: the VMs in the wave plus
pages, not the estate), wall time against the bound (goal <= 1.2x), 429s (goal 0), what the old
path would need at the same quotas and at the published ones, and, on a 2,000-VM estate, whether
the sweep with Resource Graph tells exactly what the old path tells (a wave that moved on:
VMs done, deleted, rescheduled, new; goal: the same notices).
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench import figures
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.instance_view import InMemoryInstanceViewCache, InstanceViewReader
from shared.enrich.pacing import BucketLimit, Pacer, PacingLimits
from shared.enrich.resource_graph import PAGE_ROWS, ResourceGraph
from shared.enrich.services import EnrichmentServices
from shared.standins.arm_fleet import window_from
from shared.standins.arm_server import ArmLimits, ArmStandIn
from shared.standins.graph_estate import Estate, skewed_estate
from shared.standins.resourcegraph_server import ResourceGraphStandIn
from shared.wave.records import MaintenanceRecord
from shared.wave.sweep import SweepFindings, sweep_subscriptions

START = datetime(2030, 3, 2, tzinfo=UTC)
NOW = START + timedelta(days=2)
READS = (5.0, 4.0)  # ARM reads per subscription, scaled down from (250, 25)
GRAPH_QUOTA, GRAPH_WINDOW = 2, 1.0  # scaled down from 15 every 5 s
PUBLISHED_READS = BucketLimit(250, 25)
GOAL_RATIO = 1.2


def services(arm: ArmStandIn, *, graph: bool, reads: BucketLimit) -> EnrichmentServices:
    pacer = Pacer(PacingLimits(arm_reads=reads))
    client = ArmClient(arm.base_url, StaticTokenProvider(arm.token), pacer=pacer)
    reader = InstanceViewReader(client, InMemoryInstanceViewCache())
    return EnrichmentServices(client, reader, graph=ResourceGraph(client) if graph else None)


def vm_reads(arm: ArmStandIn) -> int:
    return sum(n for key, n in arm.counts.items() if key.split()[0] in ("get", "view"))


def graph_bound(queries: int) -> float:
    """Seconds ``queries`` take at the quota: a full window each ``GRAPH_QUOTA`` beyond the
    first window's."""
    return max(0, math.ceil(queries / GRAPH_QUOTA) - 1) * GRAPH_WINDOW


@dataclass
class Sweep:
    findings: SweepFindings
    seconds: float
    graph_requests: int
    arm_reads: int
    throttled: int


def sweep(
    estate: Estate,
    *,
    graph: bool,
    reads: BucketLimit,
    records: list[MaintenanceRecord] | None = None,
) -> Sweep:
    stand_in = ResourceGraphStandIn(estate.fleet, quota=GRAPH_QUOTA, window=GRAPH_WINDOW)
    arm = ArmStandIn(
        estate.fleet,
        limits=ArmLimits(reads=(reads.capacity, reads.refill_per_second)),
        graph=stand_in,
    )
    with arm:
        wired = services(arm, graph=graph, reads=reads)
        started = time.perf_counter()
        findings = sweep_subscriptions(estate.subscriptions, records or [], wired, NOW)
        seconds = time.perf_counter() - started
    return Sweep(findings, seconds, stand_in.counts["requests"], vm_reads(arm), arm.counts["429"])


def old_path_bound(estate: Estate, reads: BucketLimit) -> float:
    """The old path's reads per subscription: its VM list pages, every VM, its schedules."""
    return max(
        reads.seconds_for(math.ceil(size / 1000) + size + 1) for size in estate.sizes().values()
    )


def scale(total: int, subscriptions: int, figures: dict[str, float], *, quick: bool) -> bool:
    """``quick``: the bound is under a second, so the ratio is overhead and not judged."""
    estate = skewed_estate(
        subscriptions=subscriptions,
        vms=total,
        big=10,
        big_share=0.5,
        in_wave=0.02,
        start=START,
    )
    reads = BucketLimit(*READS)
    run = sweep(estate, graph=True, reads=reads)
    per_subscription = Counter(vm_id.split("/")[2] for vm_id in estate.wave)
    pages = math.ceil(len(estate.wave) / PAGE_ROWS)
    queries = pages + 1  # the pending-maintenance pages, then the auto-shutdown page
    bound = graph_bound(queries) + max(reads.seconds_for(n) for n in per_subscription.values())
    ratio = run.seconds / bound if bound else float("inf")
    busiest = max(per_subscription.values())
    print(
        f"estate: {total:,} VMs in {subscriptions} subscriptions (10 hold half), "
        f"{len(estate.wave):,} in the wave; busiest subscription {busiest} wave VMs"
    )
    print(
        f"quotas (scaled): ARM reads {READS[0]:.0f} + {READS[1]:.0f}/s per subscription, "
        f"Resource Graph {GRAPH_QUOTA} queries per {GRAPH_WINDOW:.0f} s"
    )
    print(f"Resource Graph requests per sweep: {run.graph_requests} ({pages} page(s) + 1)")
    print(
        f"ARM reads per sweep: {run.arm_reads:,} (VMs in the wave: {len(estate.wave):,}; "
        f"the old path: {total:,} + lists + schedules)"
    )
    print(
        f"VMs found with maintenance: {run.findings.vms_seen:,}; "
        f"notices {len(run.findings.notices):,}"
    )
    print(
        f"sweep wall time: {run.seconds:.2f} s; bound from the quotas {bound:.2f} s; "
        f"ratio {ratio:.2f}x (goal <= {GOAL_RATIO}x)"
    )
    print(f"429s: {run.throttled} (goal 0)")
    print(
        f"the old path's bound: {old_path_bound(estate, reads):,.0f} s at these quotas, "
        f"{old_path_bound(estate, PUBLISHED_READS):,.0f} s at the published 250 + 25/s "
        f"(Resource Graph path at the published: "
        f"{max(PUBLISHED_READS.seconds_for(n) for n in per_subscription.values()):.0f} s of "
        "waiting)"
    )
    figures.update(
        sweep_s=run.seconds,
        bound_s=bound,
        bound_x=ratio,
        graph_requests=run.graph_requests,
        arm_reads=run.arm_reads,
        throttled=run.throttled,
    )
    return (
        run.throttled == 0
        and (ratio <= GOAL_RATIO or quick)
        and run.arm_reads <= len(estate.wave) + pages
        and run.findings.vms_seen == len(estate.wave)
    )


def told(findings: SweepFindings) -> set[tuple[str, str, str, str]]:
    """Each notice as a person reads it: what, about which VM, which windows, what to do."""
    return {(n.kind, n.vm_id.lower(), n.key, n.vm.advice.action) for n in findings.notices}


def equivalence() -> bool:
    """A 2,000-VM estate: a first sweep writes records, the wave moves on, and both paths
    sweep again from the same records."""
    estate = skewed_estate(
        subscriptions=20, vms=2000, big=2, big_share=0.5, in_wave=0.1, start=START, seed=5
    )
    fast = BucketLimit(100_000, 100_000)
    first = sweep(estate, graph=False, reads=fast).findings
    records = first.records
    wave = sorted(estate.wave)
    for vm_id in wave[0:10]:  # maintained
        vm = estate.fleet.vms[vm_id]
        vm.maintenance = {
            **(vm.maintenance or {}),
            "lastOperationResultCode": "MaintenanceCompleted",
        }
    for vm_id in wave[10:15]:  # deleted
        estate.fleet.vms[vm_id].deleted = True
    for vm_id in wave[15:20]:  # rescheduled
        estate.fleet.vms[vm_id].maintenance = window_from(START + timedelta(days=3))
    for vm_id in wave[20:25]:  # status gone without a result
        estate.fleet.vms[vm_id].maintenance = None
    quiet = [vm for vm in estate.fleet.vms.values() if vm.maintenance is None][:10]
    for vm in quiet:  # newly in the wave
        vm.maintenance = window_from(START)
    old = sweep(estate, graph=False, reads=fast, records=records)
    new = sweep(estate, graph=True, reads=fast, records=records)
    same = told(old.findings) == told(new.findings)
    kinds = Counter(n.kind for n in new.findings.notices)
    print(
        f"equivalence on {len(estate.fleet.vms):,} VMs ({len(records)} records, wave moved on): "
        f"{'same notices' if same else 'DIFFERENT notices'} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
        f"ARM reads old {old.arm_reads:,}, with Resource Graph {new.arm_reads:,} "
        f"+ {new.graph_requests} queries"
    )
    return same and len(new.findings.notices) > 0


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    found: dict[str, float] = {}
    ok = scale(*((10_000, 100) if quick else (50_000, 500)), found, quick=quick)
    same = equivalence()
    figures.emit("scale", {**found, "same_notices": float(same)})
    return 0 if same and ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
