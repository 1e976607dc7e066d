"""An incoming notice's discovery with Resource Graph first, when Azure names no impacted VMs
(real HTTP on 127.0.0.1: the stand-in ARM and its Resource Graph, the real ARM client, pacer
and instance-view reads).

    GIVEN                                  WHEN enriched                THEN
    2,000 VMs in one subscription, 20 in   Resource Graph on            1 query, 20 instance
    the wave, Azure names no impacted VMs                               views, no VM list; the
                                                                        same VMs as with it off
    the same                               FOREWARN_RESOURCE_GRAPH=off  no query; the VM list,
                                                                        2,000 instance views
    200 VMs, refused by Resource Graph     Resource Graph on            read the old way, a line
    alone (403 there, ARM reads allowed)                                in the log
    200 VMs, Resource Graph down (503)     Resource Graph on            read the old way
    200 VMs, the wave not indexed yet      Resource Graph on            read the old way
    VMs in the wave in two regions         the notice names one         only that region's read
    Azure does name impacted VMs           Resource Graph on            no query: those VMs
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.pacing import BucketLimit, Pacer, PacingLimits
from shared.enrich.pipeline import enrich_event
from shared.enrich.services import EnrichmentServices
from shared.models import EnrichedEvent
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmLimits, ArmStandIn
from shared.standins.graph_estate import Estate, skewed_estate
from shared.standins.resourcegraph_server import ResourceGraphStandIn

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def one_subscription(vms: int) -> Estate:
    """One subscription of ``vms`` VMs, 20 of them in the wave, all in East US."""
    return skewed_estate(
        subscriptions=1, vms=vms, big=0, big_share=0.0, in_wave=20 / vms, start=NOW - HOURS
    )


HOURS = timedelta(hours=20)
# ARM's read quota (250, then 25 a second) would hold the old path's 2,000 reads for 70 s;
# what these tests count is requests, so both sides allow them at once (bench scale paces).
GENEROUS = (100_000.0, 100_000.0)


@pytest.fixture(scope="module")
def estate() -> Estate:
    return one_subscription(2000)


@pytest.fixture(scope="module")
def small() -> Estate:
    return one_subscription(200)


def services_for(arm: ArmStandIn, *, graph: str = "on") -> EnrichmentServices:
    environ = {names.SETTING_RESOURCE_GRAPH: graph}
    pacer = Pacer(PacingLimits(arm_reads=BucketLimit(*GENEROUS)))
    client = ArmClient(arm.base_url, StaticTokenProvider(arm.token), pacer=pacer)
    return EnrichmentServices.create(environ, arm=client)


def instance_views(arm: ArmStandIn) -> int:
    return sum(count for key, count in arm.counts.items() if key.split()[0] in ("get", "view"))


def lists(arm: ArmStandIn) -> int:
    return sum(count for key, count in arm.counts.items() if key.startswith("list "))


def enriched_by(
    estate: Estate, *, graph: str = "on", **stand_in: object
) -> tuple[EnrichedEvent, ArmStandIn]:
    """A notice for the estate's subscription with a tracking id Azure has no impacted
    resources for (the stand-in answers 404), enriched with Resource Graph ``graph``."""
    graph_stand_in = ResourceGraphStandIn(estate.fleet, **stand_in)  # type: ignore[arg-type]
    limits = ArmLimits(reads=GENEROUS)
    with ArmStandIn(estate.fleet, graph=graph_stand_in, limits=limits) as arm:
        event = maintenance_event(estate.subscriptions, tracking_id="NO-IMPACTED")
        enriched = enrich_event(event, services_for(arm, graph=graph))
    return enriched, arm


def test_graph_names_the_wave_and_only_it_is_read(estate: Estate) -> None:
    enriched, arm = enriched_by(estate)

    assert sorted(vm.id.lower() for vm in enriched.vms) == sorted(estate.wave)
    assert len(enriched.vms) == 20
    assert arm.graph.counts["wave-vms"] == 1
    assert lists(arm) == 0
    assert instance_views(arm) == 20
    assert [note.code for note in enriched.notes] == ["no_impacted_resources"]
    assert "read the 20 VMs with maintenance pending in East US" in enriched.notes[0].message


def test_same_enriched_vms_as_the_vm_list(estate: Estate) -> None:
    with_graph, _ = enriched_by(estate)
    without, arm = enriched_by(estate, graph="off")

    assert arm.graph.counts["requests"] == 0
    assert lists(arm) == 2 and instance_views(arm) == 2000  # 2 pages of 1,000
    assert [vm.to_json() for vm in with_graph.vms] == [vm.to_json() for vm in without.vms]
    assert with_graph.plan == without.plan
    assert [n.code for n in with_graph.notes] == [n.code for n in without.notes]


def test_refused_by_resource_graph_reads_the_old_way(
    small: Estate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.enrich.resource_graph")
    enriched, arm = enriched_by(small, refused={small.subscriptions[0]})

    assert sorted(vm.id.lower() for vm in enriched.vms) == sorted(small.wave)
    assert arm.graph.counts["wave-vms"] == 0  # refused before it was answered
    assert lists(arm) == 1 and instance_views(arm) == 200
    assert "refused (403): 1 subscription(s) read VM by VM instead" in caplog.text
    assert [note.code for note in enriched.notes] == ["no_impacted_resources"]
    assert "read all 200 VMs in East US" in enriched.notes[0].message


def test_unavailable_resource_graph_reads_the_old_way(
    small: Estate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.enrich.resource_graph")
    enriched, arm = enriched_by(small, unavailable=True)

    assert len(enriched.vms) == 20
    assert lists(arm) == 1 and instance_views(arm) == 200
    assert "Resource Graph unavailable (ArmUnavailableError" in caplog.text


def test_a_wave_resource_graph_has_not_indexed_yet_is_read_the_old_way(
    small: Estate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.enrich.resource_graph")
    enriched, arm = enriched_by(small, hidden=set(small.wave))

    assert arm.graph.counts["wave-vms"] == 1
    assert sorted(vm.id.lower() for vm in enriched.vms) == sorted(small.wave)
    assert lists(arm) == 1 and instance_views(arm) == 200
    assert "lists no VM with maintenance pending there" in caplog.text


def region_fleet() -> Fleet:
    fleet = Fleet()
    for index in range(6):
        fleet.add(
            FleetVm(
                "sub-r",
                "rg",
                f"vm-{index}",
                location="eastus2" if index % 2 else "westeurope",
                maintenance=window_from(NOW) if index < 4 else None,
            )
        )
    return fleet


def test_only_the_notices_regions_are_read() -> None:
    """Service Health writes "East US 2", ARM "eastus2": the same region."""
    fleet = region_fleet()
    with ArmStandIn(fleet) as arm:
        event = maintenance_event(["sub-r"], tracking_id="NO-IMPACTED", regions=("East US 2",))
        enriched = enrich_event(event, services_for(arm))

    assert [vm.name for vm in enriched.vms] == ["vm-1", "vm-3"]
    assert instance_views(arm) == 2 and lists(arm) == 0


def test_impacted_resources_still_come_first() -> None:
    fleet = region_fleet()
    fleet.impact("sub-r", "BC_1-FXZ", [fleet.find(vm.id) for vm in fleet.of("sub-r")[:1]])  # type: ignore[misc]
    with ArmStandIn(fleet) as arm:
        event = maintenance_event(["sub-r"], regions=("East US 2", "West Europe"))
        enriched = enrich_event(event, services_for(arm))

    assert [vm.name for vm in enriched.vms] == ["vm-0"]
    assert arm.graph.counts["requests"] == 0
    assert enriched.notes == []
