"""Enrichment against a stand-in ARM with the real token-bucket limits and 20 ms latency.

    python -m bench.enrich [--quick]

Scenarios (the full run takes about two minutes; ``--quick`` scales the fleets down):
  named   4 subscriptions x 2,500 VMs, 2,000 with maintenance named by impactedResources
  sweep   the same fleet, but Azure lists no impacted resources: every VM in the region is read
  graph   the sweep's fleet with Resource Graph on: it names the VMs with maintenance, only
          those are read (every other scenario runs with FOREWARN_RESOURCE_GRAPH=off)
  single  one subscription of 500 VMs (sweep)

Prints per scenario: ARM requests made (and needed), 429s received, wall time, the lower bound
that the stand-in's buckets allow for the needed requests (its limits are Azure's published ones:
ARM reads 250 + 25/s per subscription, Compute per subscription and per VM; the client's own
pacing constants play no part in the bound), and wall / bound. Goal: no 429 and a ratio within 1.2.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared import names
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.pipeline import enrich_event
from shared.enrich.services import EnrichmentServices
from shared.standins.arm_fleet import Fleet, generated_fleet, maintenance_event
from shared.standins.arm_server import COMPUTE_POLICIES, ArmLimits, ArmStandIn

LATENCY = 0.020
PAGE_SIZE = 1000  # VMs per page of the VM list (ARM's page size is the service's choice)
TRACKING = "BENCH-1"


@dataclass(frozen=True)
class Scenario:
    name: str
    subscriptions: int
    vms: int  # per subscription
    with_maintenance: int  # per subscription
    named: bool  # impactedResources lists the VMs with maintenance
    graph: bool = False  # Resource Graph on: its wave-vms query stands in for the VM list


@dataclass(frozen=True)
class Result:
    requests: int
    needed: int
    throttled: int
    wall: float
    bound: float
    vms_out: int


def needed_requests(scenario: Scenario) -> dict[str, dict[str, int]]:
    """Per subscription, per bucket: the calls this enrichment cannot do without."""
    pages = math.ceil
    per_subscription: dict[str, dict[str, int]] = {}
    for index in range(scenario.subscriptions):
        if scenario.named:  # impacted list (+1 foreign item) and one GET+instanceView per VM
            lists, gets = 0, scenario.with_maintenance
            impacted = pages((scenario.with_maintenance + 1) / PAGE_SIZE)
        elif scenario.graph:  # an empty impacted list, then one GET per VM Resource Graph names
            lists, gets, impacted = 0, scenario.with_maintenance, 1
        else:  # the VM list, then each VM's instance view; an empty impacted list first
            lists, gets, impacted = pages(scenario.vms / PAGE_SIZE), scenario.vms, 1
        schedules = 1
        per_subscription[f"sub-{index}"] = {
            "arm_reads": lists + gets + impacted + schedules,
            "compute_list": lists,
            "compute_get": gets,
            # Resource Graph's queries: its own quota, not the subscription's read bucket
            "graph": pages(scenario.with_maintenance / 1000) if scenario.graph else 0,
        }
    return per_subscription


def _seconds_for(requests: int, bucket: tuple[float, float]) -> float:
    """The least time ``requests`` calls take against a full bucket (capacity, per second)."""
    capacity, per_second = bucket
    return max(0.0, (requests - capacity) / per_second)


def lower_bound(needed: dict[str, dict[str, int]], server: ArmLimits) -> float:
    """The least time the stand-in's own buckets (Azure's published limits) allow.

    Taken from the server's limits, never the client's pacing constants: a client pacing by
    wrong numbers must show as 429s or a ratio off 1.0, not be measured against itself."""

    def per_subscription(counts: dict[str, int]) -> float:
        bounds = [_seconds_for(counts["arm_reads"], server.reads)]
        if server.compute:  # per-VM buckets: one read per VM, far inside their capacity
            bounds.append(_seconds_for(counts["compute_list"], COMPUTE_POLICIES["list"][1]))
            bounds.append(_seconds_for(counts["compute_get"], COMPUTE_POLICIES["get"][1]))
        return max(bounds)

    return max(per_subscription(counts) for counts in needed.values())


def build(scenario: Scenario) -> Fleet:
    subscriptions = [f"sub-{index}" for index in range(scenario.subscriptions)]
    start = datetime.now(UTC) - timedelta(days=1)
    fleet = generated_fleet(subscriptions, scenario.vms, scenario.with_maintenance, start=start)
    if scenario.named:
        for subscription in subscriptions:
            fleet.impact(
                subscription,
                TRACKING,
                [vm for vm in fleet.of(subscription) if vm.maintenance is not None],
            )
    return fleet


def run(scenario: Scenario) -> Result:
    fleet = build(scenario)
    subscriptions = [f"sub-{index}" for index in range(scenario.subscriptions)]
    server = ArmLimits()  # the real Azure numbers, enforced by the stand-in
    with ArmStandIn(fleet, limits=server, latency=LATENCY, page_size=PAGE_SIZE) as arm:
        client = ArmClient(arm.base_url, StaticTokenProvider(arm.token))
        environ = {names.SETTING_RESOURCE_GRAPH: "on" if scenario.graph else "off"}
        services = EnrichmentServices.create(environ, arm=client)
        event = maintenance_event(subscriptions, tracking_id=TRACKING)
        started = time.perf_counter()
        enriched = enrich_event(event, services)
        wall = time.perf_counter() - started
        client.close()
    needed = needed_requests(scenario)
    return Result(
        requests=arm.counts["requests"],
        needed=sum(counts["arm_reads"] + counts["graph"] for counts in needed.values()),
        throttled=arm.counts["429"],
        wall=wall,
        bound=lower_bound(needed, server),
        vms_out=len(enriched.vms),
    )


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    scale = 5 if quick else 1
    scenarios = [
        Scenario("named", 4, 2500 // scale, 500 // scale, named=True),
        Scenario("sweep", 4, 2500 // scale, 500 // scale, named=False),
        Scenario("graph", 4, 2500 // scale, 500 // scale, named=False, graph=True),
        Scenario("single", 1, 500 if not quick else 350, 100 // scale, named=False),
    ]
    server = ArmLimits()
    print(
        f"stand-in ARM: {LATENCY * 1000:.0f} ms latency, reads bucket "
        f"{server.reads[0]:.0f} + {server.reads[1]:.0f}/s per subscription, Compute buckets "
        f"{'enforced' if server.compute else 'off'}, {PAGE_SIZE} VMs per list page; "
        "bound from the stand-in's limits"
    )
    print(
        f"{'scenario':<8} {'VMs':>6} {'maint.':>6} {'out':>5} {'requests':>9} {'needed':>7} "
        f"{'429s':>5} {'wall s':>7} {'bound s':>8} {'ratio':>6}"
    )
    failed = False
    for scenario in scenarios:
        result = run(scenario)
        ratio = result.wall / result.bound if result.bound > 0 else float("nan")
        ratio_text = f"{ratio:6.2f}" if result.bound > 0 else "   n/a"
        print(
            f"{scenario.name:<8} {scenario.vms * scenario.subscriptions:>6} "
            f"{scenario.with_maintenance * scenario.subscriptions:>6} {result.vms_out:>5} "
            f"{result.requests:>9} {result.needed:>7} {result.throttled:>5} "
            f"{result.wall:>7.1f} {result.bound:>8.1f} {ratio_text}",
            flush=True,
        )
        failed |= result.throttled > 0 or result.requests != result.needed
        failed |= result.bound > 0 and ratio > 1.2
    print("goal: 0 x 429, requests == needed, ratio <= 1.2:", "missed" if failed else "met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
