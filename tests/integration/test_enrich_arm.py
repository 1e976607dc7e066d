"""The real ARM client and enrich pipeline against the stand-in ARM on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.errors import ArmAuthenticationError, ArmUnavailableError
from shared.enrich.instance_view import InMemoryInstanceViewCache, InstanceViewReader
from shared.enrich.maintenance import start_maintenance
from shared.enrich.pacing import BucketLimit, Pacer, PacingLimits
from shared.enrich.pipeline import enrich_event
from shared.enrich.services import EnrichmentServices
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmLimits, ArmStandIn

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
SUB_A, SUB_B, SUB_DENIED = "sub-a", "sub-b", "sub-denied"


def build_fleet() -> Fleet:
    fleet = Fleet()
    for index in range(7):
        fleet.add(
            FleetVm(
                SUB_A,
                "rg-web",
                f"web{index}",
                update_domain=index % 3,
                maintenance=window_from(NOW - timedelta(days=1)) if index < 5 else None,
                availability_set="web-as" if index == 4 else None,
                auto_shutdown=index == 3,
            )
        )
    fleet.add(
        FleetVm(SUB_A, "rg-web", "elsewhere", location="westeurope", maintenance=window_from(NOW))
    )
    fleet.add(FleetVm(SUB_B, "rg-db", "db0", maintenance=window_from(NOW - timedelta(days=1))))
    fleet.add(FleetVm(SUB_B, "rg-db", "gone", deleted=True, maintenance=window_from(NOW)))
    fleet.add(FleetVm(SUB_DENIED, "rg", "secret", maintenance=window_from(NOW)))
    fleet.forbidden.add(SUB_DENIED)
    fleet.impact(SUB_A, "BC_1-FXZ", [fleet.find(vm.id) for vm in fleet.of(SUB_A)[:5]])  # type: ignore[misc]
    return fleet


@dataclass
class Setup:
    arm: ArmStandIn
    services: EnrichmentServices

    def client(self, **options: object) -> ArmClient:
        return ArmClient(self.arm.base_url, StaticTokenProvider(self.arm.token), **options)  # type: ignore[arg-type]


@pytest.fixture
def setup() -> Iterator[Setup]:
    with ArmStandIn(build_fleet(), page_size=2, latency=0.002) as arm:
        client = ArmClient(arm.base_url, StaticTokenProvider(arm.token), max_attempts=3)
        # The VM list's path (Resource Graph first is tests/integration/test_enrich_graph.py).
        off = {names.SETTING_RESOURCE_GRAPH: "off"}
        yield Setup(arm, EnrichmentServices.create(off, arm=client))
        client.close()


def names_of(vms: list[object]) -> list[str]:
    return sorted(vm.name for vm in vms)  # type: ignore[attr-defined]


def test_given_impacted_resources_over_pages_then_those_vms_are_read(setup: Setup) -> None:
    enriched = enrich_event(maintenance_event([SUB_A]), setup.services)
    assert names_of(enriched.vms) == ["web0", "web1", "web2", "web3", "web4"]
    # 5 VMs + 1 foreign item at 2 per page: 3 pages; one GET+instanceView per VM.
    assert setup.arm.counts[f"impacted {SUB_A}"] == 3
    assert setup.arm.counts[f"get {SUB_A}"] == 5
    assert setup.arm.counts[f"list {SUB_A}"] == 0
    advice = {vm.name: vm.advice.action for vm in enriched.vms}
    assert advice == {
        "web0": "self_service",
        "web1": "self_service",
        "web2": "self_service",
        "web3": "avoid_self_service",
        "web4": "let_azure",
    }
    assert enriched.plan is not None
    # Standalone VMs: one per step, whatever update domain they report.
    assert [step.kind for step in enriched.plan.steps] == ["vm", "vm", "vm"]
    assert enriched.notes == []


def test_given_no_impacted_data_then_sweeps_the_region_and_says_so(setup: Setup) -> None:
    enriched = enrich_event(maintenance_event([SUB_B], tracking_id="UNKNOWN"), setup.services)
    assert names_of(enriched.vms) == ["db0"]
    codes = sorted(note.code for note in enriched.notes)
    assert codes == ["no_impacted_resources", "vm_gone"]
    gone = next(note for note in enriched.notes if note.code == "vm_gone")
    assert gone.resource_id is not None and gone.resource_id.endswith("/gone")
    assert setup.arm.counts[f"list {SUB_B}"] == 1  # 2 VMs on one page of 2


def test_given_a_sweep_then_only_vms_in_the_impacted_region_with_maintenance(
    setup: Setup,
) -> None:
    enriched = enrich_event(maintenance_event([SUB_A], tracking_id="NONE"), setup.services)
    assert names_of(enriched.vms) == ["web0", "web1", "web2", "web3", "web4"]
    assert setup.arm.counts[f"list {SUB_A}"] == 4  # 8 VMs, 2 per page, nextLink followed
    assert setup.arm.counts[f"view {SUB_A}"] == 7  # westeurope's VM is not read


def test_given_a_forbidden_subscription_then_a_note_and_the_rest_goes_on(setup: Setup) -> None:
    enriched = enrich_event(maintenance_event([SUB_DENIED, SUB_B]), setup.services)
    assert names_of(enriched.vms) == ["db0"]
    forbidden = [note for note in enriched.notes if note.code == "forbidden"]
    assert [note.subscription_id for note in forbidden] == [SUB_DENIED]


def test_given_a_wave_of_events_then_instance_views_are_read_once(setup: Setup) -> None:
    first = enrich_event(maintenance_event([SUB_A]), setup.services)
    reads = setup.arm.counts[f"get {SUB_A}"] + setup.arm.counts[f"view {SUB_A}"]
    again = enrich_event(maintenance_event([SUB_A]), setup.services)
    resource_health = maintenance_event(
        [SUB_A], kind="resource_health", resource_ids=(first.vms[0].id,)
    )
    single = enrich_event(resource_health, setup.services)
    assert setup.arm.counts[f"get {SUB_A}"] + setup.arm.counts[f"view {SUB_A}"] == reads == 5
    assert [vm.to_json() for vm in again.vms] == [vm.to_json() for vm in first.vms]
    assert [vm.id for vm in single.vms] == [first.vms[0].id]


def test_given_an_expired_cache_then_reads_again(setup: Setup) -> None:
    later = [NOW]
    reader = InstanceViewReader(
        setup.services.arm,
        InMemoryInstanceViewCache(),
        ttl=timedelta(minutes=5),
        clock=lambda: later[0],
    )
    services = EnrichmentServices(setup.services.arm, reader, clock=lambda: later[0])
    enrich_event(maintenance_event([SUB_B]), services)
    later[0] = NOW + timedelta(minutes=6)
    enrich_event(maintenance_event([SUB_B]), services)
    assert setup.arm.counts[f"view {SUB_B}"] == 4  # db0 and gone, twice


def test_given_429s_then_retry_after_is_honoured(setup: Setup) -> None:
    setup.arm.script.fail(2, status=429, retry_after="1")
    started = time.monotonic()
    enriched = enrich_event(maintenance_event([SUB_A]), setup.services)
    assert len(enriched.vms) == 5
    assert setup.services.arm.stats.throttled == 2
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize(
    ("server_reads", "client_reads", "headers", "expect_429"),
    [
        pytest.param((20, 40), BucketLimit(20, 40), True, False, id="client paces like the server"),
        pytest.param(
            (10, 40),
            BucketLimit(250, 25),
            True,
            False,
            id="client too generous, the remaining-reads header corrects it",
        ),
        pytest.param(
            (3, 25),
            BucketLimit(250, 25),
            False,
            True,
            id="client too generous, no headers: 429, Retry-After, recovers",
        ),
    ],
)
def test_given_server_buckets_then_pacing_decides_the_429s(
    server_reads: tuple[float, float],
    client_reads: BucketLimit,
    headers: bool,
    expect_429: bool,
) -> None:
    fleet = Fleet().add(
        *(FleetVm(SUB_A, "rg", f"vm{i}", maintenance=window_from(NOW)) for i in range(60))
    )
    with ArmStandIn(
        fleet, limits=ArmLimits(reads=server_reads), page_size=100, rate_limit_headers=headers
    ) as arm:
        client = ArmClient(
            arm.base_url,
            StaticTokenProvider(arm.token),
            pacer=Pacer(PacingLimits(arm_reads=client_reads)),
        )
        enriched = enrich_event(
            maintenance_event([SUB_A], tracking_id="NONE"),
            EnrichmentServices.create({}, arm=client),
        )
    assert len(enriched.vms) == 60
    assert (arm.counts["429"] > 0) is expect_429
    assert client.stats.throttled == arm.counts["429"]


def test_given_bad_credentials_then_authentication_error_stops(setup: Setup) -> None:
    client = ArmClient(setup.arm.base_url, StaticTokenProvider("wrong"))
    with pytest.raises(ArmAuthenticationError):
        enrich_event(maintenance_event([SUB_A]), EnrichmentServices.create({}, arm=client))


@pytest.mark.parametrize("final_attempt", [False, True], ids=["retry later", "last attempt"])
def test_given_arm_unavailable_then_raise_or_note_on_the_last_attempt(
    setup: Setup, final_attempt: bool
) -> None:
    enrich_event(maintenance_event([SUB_B]), setup.services)  # discovery cached nothing
    setup.arm.script.fail(100, status=503)
    client = setup.client(max_attempts=1)
    services = EnrichmentServices.create({}, arm=client)
    if not final_attempt:
        with pytest.raises(ArmUnavailableError):
            enrich_event(maintenance_event([SUB_B]), services)
        return
    enriched = enrich_event(maintenance_event([SUB_B]), services, final_attempt=True)
    assert [note.code for note in enriched.notes] == ["arm_unavailable"]
    assert enriched.vms == []


def test_given_an_incident_for_another_service_then_no_arm_call(setup: Setup) -> None:
    event = maintenance_event([SUB_A], service="App Service", incident_type="Incident")
    enriched = enrich_event(event, setup.services)
    assert (enriched.vms, enriched.plan, enriched.notes) == ([], None, [])
    assert setup.arm.counts["requests"] == 0


def test_given_start_maintenance_then_follows_the_operation_per_vm(setup: Setup) -> None:
    fleet = setup.arm.fleet
    web = [vm.id for vm in fleet.of(SUB_A)]
    failing = fleet.find(web[1])
    assert failing is not None
    failing.maintenance_fails = True
    fleet.find(web[2]).maintenance["isCustomerInitiatedMaintenanceAllowed"] = False  # type: ignore[union-attr,index]
    ids = [web[0], web[1], web[2], web[5], web[0].replace("web0", "nothere")]
    dry = list(start_maintenance(ids[:1], setup.services, confirm=False))
    assert [o.outcome for o in dry] == ["would_start"]
    assert setup.arm.counts[f"maintain {SUB_A}"] == 0
    outcomes = list(start_maintenance(ids, setup.services, confirm=True, poll_seconds=0.01))
    # Nothing to start first, in the order given; then update domain 0, then 1.
    assert [(o.outcome, o.vm_id) for o in outcomes] == [
        ("skipped", ids[2]),
        ("skipped", ids[3]),
        ("skipped", ids[4]),
        ("completed", ids[0]),
        ("failed", ids[1]),
    ]
    assert "The host was not updated" in outcomes[4].message
    assert setup.arm.counts[f"maintain {SUB_A}"] == 2
    assert setup.arm.counts[f"operation {SUB_A}"] == 4  # one InProgress, then the end, each
    done = fleet.find(ids[0])
    assert done is not None and done.maintenance is not None
    assert done.maintenance["lastOperationResultCode"] == "MaintenanceCompleted"


# --------------------------------------------------------------------------------------
# Review S1: a VM or subscription taken from an event or an answer is read only when it is a
# well-formed ARM id in one of the event's own subscriptions; anything else is a note.

FOREIGN_VM = (
    f"/subscriptions/{SUB_B}/resourceGroups/rg-db/providers/Microsoft.Compute/virtualMachines/db0"
)


@pytest.mark.parametrize(
    ("foreign", "code"),
    [
        pytest.param(
            "x" + FOREIGN_VM,
            "malformed_resource_id",
            id="a VM id inside another string (properties.entity)",
        ),
        pytest.param(FOREIGN_VM.lstrip("/"), "malformed_resource_id", id="no leading slash"),
        pytest.param(
            f"/providers/Microsoft.Management/managementGroups/mg{FOREIGN_VM}",
            "malformed_resource_id",
            id="a VM id under another scope",
        ),
        pytest.param(
            FOREIGN_VM,
            "subscription_not_listed",
            id="well-formed, but its subscription is not the event's",
        ),
        pytest.param(
            FOREIGN_VM.upper() + "/extensions/agent",
            "subscription_not_listed",
            id="an extension of a VM in another subscription",
        ),
    ],
)
def test_given_a_named_vm_outside_the_events_subscriptions_then_a_note_and_no_arm_call(
    setup: Setup, foreign: str, code: str
) -> None:
    web0 = setup.arm.fleet.of(SUB_A)[0].id
    event = maintenance_event([SUB_A], kind="resource_health", resource_ids=(web0, foreign))
    enriched = enrich_event(event, setup.services)
    assert names_of(enriched.vms) == ["web0"]
    assert [(note.code, note.resource_id) for note in enriched.notes] == [(code, foreign)]
    assert sum(n for key, n in setup.arm.counts.items() if key.endswith(SUB_B)) == 0


def test_given_impacted_resources_naming_another_subscription_then_a_note_not_a_read(
    setup: Setup,
) -> None:
    fleet = setup.arm.fleet
    fleet.impact(SUB_A, "CROSS", [fleet.of(SUB_A)[0], fleet.of(SUB_B)[0]])
    enriched = enrich_event(maintenance_event([SUB_A], tracking_id="CROSS"), setup.services)
    assert names_of(enriched.vms) == ["web0"]
    assert [(note.code, note.resource_id) for note in enriched.notes] == [
        ("subscription_not_listed", fleet.of(SUB_B)[0].id)
    ]
    assert sum(n for key, n in setup.arm.counts.items() if key.endswith(SUB_B)) == 0


# --------------------------------------------------------------------------------------
# Review C5: whatever makes one VM or one subscription unreadable is a note, not a lost event.


@pytest.mark.parametrize("final_attempt", [False, True], ids=["first attempt", "last attempt"])
def test_given_a_vm_with_a_malformed_timestamp_then_a_note_and_the_rest_goes_on(
    setup: Setup, final_attempt: bool
) -> None:
    web0 = setup.arm.fleet.of(SUB_A)[0]
    assert web0.maintenance is not None
    web0.maintenance["preMaintenanceWindowStartTime"] = "next Tuesday"
    enriched = enrich_event(maintenance_event([SUB_A]), setup.services, final_attempt=final_attempt)
    assert names_of(enriched.vms) == ["web1", "web2", "web3", "web4"]
    assert [(note.code, note.resource_id) for note in enriched.notes] == [("unreadable", web0.id)]
    assert "next Tuesday" in enriched.notes[0].message


def test_given_a_subscription_answering_an_odd_body_then_a_note_and_the_others_go_on(
    setup: Setup,
) -> None:
    setup.arm.fleet.garbled.add(SUB_B)
    enriched = enrich_event(maintenance_event([SUB_B, SUB_A]), setup.services)
    assert names_of(enriched.vms) == ["web0", "web1", "web2", "web3", "web4"]
    assert [(note.code, note.subscription_id) for note in enriched.notes] == [("unreadable", SUB_B)]


# --------------------------------------------------------------------------------------
# Review C6: start-maintenance walks update domains in the plan's order, reports every VM,
# and does not start the next domain after a failure.


def maintenance_fleet(setup: Setup) -> dict[str, FleetVm]:
    fleet = setup.arm.fleet
    vms = {
        name: FleetVm(
            SUB_A,
            "rg-ud",
            name,
            update_domain=domain,
            availability_set="ud-as",  # update domains group VMs only inside a set
            maintenance=window_from(NOW - timedelta(days=1)),
        )
        for name, domain in [("ud2", 2), ("ud0a", 0), ("ud1", 1), ("ud0b", 0)]
    }
    fleet.add(*vms.values())
    return vms


def outcomes_of(outcomes: list[object]) -> list[tuple[str, str]]:
    return [(o.outcome, o.vm_id.rsplit("/", 1)[-1]) for o in outcomes]  # type: ignore[attr-defined]


def test_given_vms_of_three_domains_then_one_domain_at_a_time_in_plan_order(
    setup: Setup,
) -> None:
    vms = maintenance_fleet(setup)
    ids = [vm.id for vm in vms.values()]  # given out of order on purpose
    # Set members are advised to let Azure walk the domains: refused without the override.
    refused = list(start_maintenance(ids, setup.services, confirm=True, poll_seconds=0.01))
    assert {outcome for outcome, _ in outcomes_of(refused)} == {"advised_against"}
    assert setup.arm.maintenance_log == []
    outcomes = list(
        start_maintenance(ids, setup.services, confirm=True, against_advice=True, poll_seconds=0.01)
    )
    assert sorted(outcomes_of(outcomes)[:2]) == [("completed", "ud0a"), ("completed", "ud0b")]
    assert outcomes_of(outcomes)[2:] == [("completed", "ud1"), ("completed", "ud2")]
    domain = {vm.id.lower(): vm.update_domain for vm in vms.values()}
    timeline = [(what, domain[vm_id]) for what, vm_id in setup.arm.maintenance_log]
    assert sorted(timeline) == sorted(
        [("start", d) for d in domain.values()] + [("end", d) for d in domain.values()]
    )
    for index, (what, ud) in enumerate(timeline):
        if what == "start":  # no VM of an earlier domain is still running
            assert all(other >= ud for kind, other in timeline[index:] if kind == "end")


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        pytest.param("maintenance_fails", "The host was not updated", id="operation Failed"),
        pytest.param("maintenance_unavailable", "HTTP 503", id="transient: ARM unavailable"),
    ],
)
def test_given_a_failure_in_a_domain_then_its_other_vms_are_reported_and_later_ones_wait(
    setup: Setup, breaks: str, message: str
) -> None:
    vms = maintenance_fleet(setup)
    setattr(vms["ud0a"], breaks, True)
    ids = [vm.id for vm in vms.values()]
    outcomes = list(
        start_maintenance(ids, setup.services, confirm=True, against_advice=True, poll_seconds=0.01)
    )
    assert sorted(outcomes_of(outcomes)[:2]) == [("completed", "ud0b"), ("failed", "ud0a")]
    assert outcomes_of(outcomes)[2:] == [("not_started", "ud1"), ("not_started", "ud2")]
    failed = next(o for o in outcomes if o.outcome == "failed")
    assert message in failed.message
    assert all("update domain 0 had a failure" in o.message for o in outcomes[2:])
    started = {
        vm_id.rsplit("/", 1)[-1] for what, vm_id in setup.arm.maintenance_log if what == "start"
    }
    assert "ud0b" in started and started <= {"ud0a", "ud0b"}
