"""The sweep's survey with Resource Graph first, against the stand-in ARM and its Resource Graph
(real HTTP on 127.0.0.1, the real ARM client, pacer and instance-view reads).

    GIVEN                                   WHEN surveyed        THEN
    25 VMs in a wave of 60, pages of 10     Resource Graph on    3 + 1 query pages, 25 instance
                                                                 views, no VM list
    quota 2 a 1 s window, 3 batches         Resource Graph on    0 x 429, waits for the windows
    no quota headers, quota 2 a 1 s window  Resource Graph on    one 429 a window, no storm
    one subscription of 3 forbidden (403)   Resource Graph on    halved until it stands alone,
                                                                 it alone read the old way
    Resource Graph down (503)               Resource Graph on    all read the old way, a note
    FOREWARN_RESOURCE_GRAPH=off             settings             no query sent
    a wave that moved on (records)          on and off           the same notices
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.instance_view import InMemoryInstanceViewCache, InstanceViewReader
from shared.enrich.pipeline import survey_fleet
from shared.enrich.resource_graph import ResourceGraph
from shared.enrich.services import EnrichmentServices
from shared.standins.arm_fleet import Fleet, FleetVm, window_from
from shared.standins.arm_server import ArmStandIn
from shared.standins.resourcegraph_server import ResourceGraphStandIn
from shared.wave.sweep import sweep_subscriptions

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
SUBS = ["sub-a", "sub-b", "sub-c"]


def wave_fleet(per_subscription: int = 20, in_wave: int = 8) -> Fleet:
    """``per_subscription`` VMs in each of SUBS; the first ``in_wave`` have maintenance (the
    last subscription one more, so that pages do not fall on a round number)."""
    fleet = Fleet()
    for number, subscription in enumerate(SUBS):
        wave = in_wave + (1 if number == len(SUBS) - 1 else 0)
        for index in range(per_subscription):
            fleet.add(
                FleetVm(
                    subscription,
                    "rg-app",
                    f"vm-{index:02d}",
                    update_domain=index % 3,
                    maintenance=window_from(NOW - timedelta(days=1)) if index < wave else None,
                    auto_shutdown=index == 1,
                )
            )
    return fleet


def services_for(
    arm: ArmStandIn, *, graph: bool = True, batch_size: int = 1000, page_rows: int = 1000
) -> EnrichmentServices:
    client = ArmClient(arm.base_url, StaticTokenProvider(arm.token))
    reader = InstanceViewReader(client, InMemoryInstanceViewCache())
    found = ResourceGraph(client, batch_size=batch_size, page_rows=page_rows) if graph else None
    return EnrichmentServices(client, reader, graph=found)


@pytest.fixture
def fleet() -> Fleet:
    return wave_fleet()


@pytest.fixture
def arm(fleet: Fleet) -> Iterator[ArmStandIn]:
    server = ArmStandIn(fleet)
    with server:
        yield server


def vm_reads(arm: ArmStandIn) -> int:
    return sum(count for key, count in arm.counts.items() if key.split()[0] in ("get", "view"))


def lists(arm: ArmStandIn) -> int:
    return sum(count for key, count in arm.counts.items() if key.startswith("list "))


def test_paging_reads_only_the_wave(arm: ArmStandIn) -> None:
    services = services_for(arm, page_rows=10)

    survey = survey_fleet(SUBS, services)

    assert len(survey.vms) == 25
    assert {vm.subscription_id for vm in survey.vms} == set(SUBS)
    assert arm.graph.counts["maintenance-vms"] == 3  # 25 rows, 10 a page
    assert arm.graph.counts["shutdown-schedules"] == 1
    assert vm_reads(arm) == 25 and lists(arm) == 0
    assert services.graph is not None and services.graph.requests == 4
    # auto-shutdown came from Resource Graph too: no per-subscription schedule reads
    assert not [key for key in arm.counts if key.startswith("schedules ")]
    assert survey.notes == []


def test_quota_exhaustion_waits_for_the_window_without_a_429() -> None:
    fleet = wave_fleet()
    graph = ResourceGraphStandIn(fleet, quota=2, window=1.0)
    arm = ArmStandIn(fleet, graph=graph)
    with arm:
        services = services_for(arm, batch_size=1)  # 3 batches x 2 queries = 6 queries
        started = time.monotonic()
        survey = survey_fleet(SUBS, services)
        elapsed = time.monotonic() - started

    assert graph.counts["requests"] == 6
    assert graph.counts["429"] == 0
    assert elapsed >= 2.0  # 6 queries at 2 a window: the third window opens after 2 s
    assert len(survey.vms) == 25


def test_throttled_without_quota_headers_holds_instead_of_storming() -> None:
    fleet = wave_fleet()
    graph = ResourceGraphStandIn(fleet, quota=2, window=1.0, quota_headers=False)
    arm = ArmStandIn(fleet, graph=graph)
    with arm:
        services = services_for(arm, batch_size=1)
        survey = survey_fleet(SUBS, services)

    assert len(survey.vms) == 25
    answered = graph.counts["requests"] - graph.counts["429"]
    assert answered == 6
    # One 429 tells the client to hold for Retry-After; it never asks again before then.
    assert graph.counts["429"] <= 3


def test_forbidden_subscription_alone_is_read_the_old_way(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.enrich.resource_graph")
    fleet.forbidden.add("sub-b")
    arm = ArmStandIn(fleet)
    with arm:
        services = services_for(arm)
        survey = survey_fleet(SUBS, services)

    assert {vm.subscription_id for vm in survey.vms} == {"sub-a", "sub-c"}
    codes = [(note.code, note.subscription_id) for note in survey.notes]
    # Resource Graph refused sub-b; the old path then found no read permission either.
    assert codes == [("forbidden", "sub-b")]
    assert "refused (403): 1 subscription(s) read VM by VM instead" in caplog.text
    assert arm.counts["list sub-b"] == 1 and arm.counts["list sub-a"] == 0
    # One batch of 3, refused; halves of 1 and 2, the 2 refused; halves of 1 and 1: per query
    # 5 requests, 3 of them refused.
    assert arm.graph.counts["requests"] == 10


def test_unavailable_resource_graph_falls_back_with_a_logged_line(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.enrich.resource_graph")
    graph = ResourceGraphStandIn(fleet, unavailable=True)
    arm = ArmStandIn(fleet, graph=graph)
    with arm:
        services = services_for(arm)
        survey = survey_fleet(SUBS, services)
        listed = lists(arm)

    assert len(survey.vms) == 25
    assert survey.notes == []
    assert "Resource Graph unavailable (ArmUnavailableError" in caplog.text
    assert listed == 3  # the old path: each subscription's VM list


def test_setting_off_sends_no_query(arm: ArmStandIn) -> None:
    environ = {
        names.SETTING_ARM_ENDPOINT: arm.base_url,
        names.SETTING_ARM_TOKEN: arm.token,
        names.SETTING_RESOURCE_GRAPH: "off",
    }
    services = EnrichmentServices.create(environ)
    assert services.graph is None

    survey = survey_fleet(SUBS, services)

    assert len(survey.vms) == 25 and arm.graph.counts["requests"] == 0


def test_on_by_default_from_settings(arm: ArmStandIn) -> None:
    environ = {names.SETTING_ARM_ENDPOINT: arm.base_url, names.SETTING_ARM_TOKEN: arm.token}
    services = EnrichmentServices.create(environ)

    survey = survey_fleet(SUBS, services)

    assert len(survey.vms) == 25 and arm.graph.counts["maintenance-vms"] == 1


def test_same_notices_as_the_old_path(fleet: Fleet) -> None:
    """GIVEN records from a first sweep, WHEN the wave moves on (one VM done, one deleted, one
    rescheduled, one new in a subscription, one new that Resource Graph has not indexed yet),
    THEN both paths tell the same, except the unindexed VM, which waits for the next sweep."""
    arm = ArmStandIn(fleet)
    with arm:
        first = sweep_subscriptions(SUBS, [], services_for(arm, graph=False), NOW)
        records = first.records
        vm = fleet.find
        done = vm(
            "/subscriptions/sub-a/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-00"
        )
        gone = vm(
            "/subscriptions/sub-b/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-01"
        )
        moved = vm(
            "/subscriptions/sub-c/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-02"
        )
        assert done and gone and moved
        done.maintenance = {
            **(done.maintenance or {}),
            "lastOperationResultCode": "MaintenanceCompleted",
        }
        gone.deleted = True
        moved.maintenance = window_from(NOW + timedelta(days=2))
        fresh = FleetVm("sub-a", "rg-new", "new-1", maintenance=window_from(NOW))
        late = FleetVm("sub-b", "rg-new", "late-1", maintenance=window_from(NOW))
        fleet.add(fresh, late)
        arm.graph.hidden.add(late.id.lower())

        old = sweep_subscriptions(SUBS, records, services_for(arm, graph=False), NOW)
        new = sweep_subscriptions(SUBS, records, services_for(arm), NOW)

    def told(findings: object) -> set[tuple[str, str, str]]:
        return {(n.kind, n.vm_id.lower(), n.key) for n in findings.notices}  # type: ignore[attr-defined]

    assert len(first.notices) == 25
    assert told(old) - told(new) == {
        (
            "vm_added",
            late.id.lower(),
            next(n.key for n in old.notices if n.vm_id.lower() == late.id.lower()),
        )
    }
    assert told(new) <= told(old)
    kinds = sorted(n.kind for n in new.notices)
    assert kinds == ["completed", "gone", "rescheduled", "vm_added"]
