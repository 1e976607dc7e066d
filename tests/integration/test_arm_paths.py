"""No value from a payload changes which subscription ARM is asked about (issue 8).

The stand-in ARM on 127.0.0.1 records the path of every request it receives, as sent on the
wire: whatever a tracking id or subscription holds, each request stays inside the event's own
subscription, and a path that a client or server would normalise (dot segments) is never sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.enrich import discovery
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.errors import ArmError, ArmRequestError
from shared.enrich.pacing import Operation
from shared.enrich.pipeline import enrich_event
from shared.enrich.services import EnrichmentServices
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event
from shared.standins.arm_server import ArmStandIn

pytestmark = pytest.mark.integration

SUB_A = "11111111-2222-4333-8444-555555555555"
SUB_B = "99999999-9999-4999-8999-999999999999"
WALKS = [
    f"../../../../../subscriptions/{SUB_B}/providers/Microsoft.ResourceHealth/events/X",
    f"..%2f..%2f..%2f..%2f..%2fsubscriptions%2f{SUB_B}%2fproviders%2fMicrosoft.ResourceHealth"
    "%2fevents%2fX",
    f"X/../../../../../../subscriptions/{SUB_B}/providers/Microsoft.ResourceHealth/events/X",
    f"X?x=/../../../../subscriptions/{SUB_B}",
    f"X#/../../../../subscriptions/{SUB_B}",
    "..",
    ".",
    "X\\..\\..\\..\\..",
]


def fleet() -> Fleet:
    fleet = Fleet()
    mine = FleetVm(SUB_A, "rg", "mine")
    secret = FleetVm(SUB_B, "rg", "secret")
    fleet.add(mine, secret)
    fleet.impact(SUB_A, "BC_1-FXZ", [mine])
    fleet.impact(SUB_B, "X", [secret])
    return fleet


@pytest.fixture(scope="module")
def arm() -> Iterator[ArmStandIn]:
    with ArmStandIn(fleet()) as stand_in:
        yield stand_in


@pytest.fixture
def client(arm: ArmStandIn) -> Iterator[ArmClient]:
    arm.reset()
    arm.counts.clear()
    made = ArmClient(arm.base_url, StaticTokenProvider(arm.token), max_attempts=1)
    yield made
    made.close()


def paths(arm: ArmStandIn) -> list[str]:
    return [request.path for request in arm.requests]


@pytest.mark.parametrize("tracking_id", WALKS, ids=range(len(WALKS)))
def test_a_tracking_id_never_leads_enrichment_into_another_subscription(
    arm: ArmStandIn, client: ArmClient, tracking_id: str
) -> None:
    # GIVEN an event of SUB_A whose tracking id tries to walk to SUB_B's impacted resources
    services = EnrichmentServices.create({}, arm=client)
    # WHEN it is enriched (the ingest check bypassed: this is the defence behind it)
    enriched = enrich_event(maintenance_event([SUB_A], tracking_id=tracking_id), services)
    # THEN every request stayed in SUB_A, nothing of SUB_B shows, and a note says why
    assert all(path.startswith(f"/subscriptions/{SUB_A}/") for path in paths(arm)), paths(arm)
    assert "secret" not in repr(enriched.to_json())
    assert enriched.notes


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(
        st.sampled_from(WALKS),
        st.text(st.sampled_from("./\\?#%2fe&=X:@ ;"), min_size=1, max_size=30),
        st.text(min_size=1, max_size=30),
    )
)
def test_any_tracking_id_is_one_path_segment(
    arm: ArmStandIn, client: ArmClient, tracking_id: str
) -> None:
    arm.reset()
    with contextlib.suppress(ArmError):  # refused or unknown: what matters is what was asked
        discovery.impacted_vms(client, SUB_A, tracking_id)
    for path in paths(arm):
        segments = path.split("/")
        expected = ["", "subscriptions", SUB_A, "providers", "Microsoft.ResourceHealth", "events"]
        assert segments[:6] == expected, path
        assert len(segments) == 8 and segments[7] == "impactedResources", path
        assert unquote(segments[6]) == tracking_id


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.text(min_size=1, max_size=40))
def test_any_subscription_is_one_path_segment(
    arm: ArmStandIn, client: ArmClient, subscription: str
) -> None:
    arm.reset()
    for read in (discovery.subscription_vms, discovery.auto_shutdown_vms):
        with contextlib.suppress(ArmError):
            read(client, subscription)
    for path in paths(arm):
        segments = path.split("/")
        assert segments[1] == "subscriptions" and unquote(segments[2]) == subscription, path


UNSAFE = [
    f"/subscriptions/{SUB_A}/../{SUB_B}/providers/Microsoft.Compute/virtualMachines",
    f"/subscriptions/{SUB_A}/%2e%2e/{SUB_B}/providers/Microsoft.Compute/virtualMachines",
    f"/subscriptions/{SUB_A}/./providers/Microsoft.Compute/virtualMachines",
    f"/subscriptions/{SUB_A}\\..\\{SUB_B}/providers/Microsoft.Compute/virtualMachines",
    f"/subscriptions/{SUB_A}/providers/Microsoft.Compute/virtualMachines?x=1",
    f"/subscriptions/{SUB_A}/providers/Microsoft.Compute/virtualMachines#x",
    "ARM-BASE/subscriptions/{SUB_A}/resourceGroups/rg/../../../x",
]


@pytest.mark.parametrize("path", UNSAFE, ids=range(len(UNSAFE)))
def test_the_client_refuses_a_path_a_server_would_normalise(
    arm: ArmStandIn, client: ArmClient, path: str
) -> None:
    # GIVEN a path (or an ARM-given URL) with dot segments, a backslash, a query or a fragment
    path = path.replace("ARM-BASE", arm.base_url)
    # WHEN requested THEN refused before anything is sent
    with pytest.raises(ArmRequestError):
        client.get(path, Operation.READ, params={"api-version": "2024-07-01"})
    assert paths(arm) == []
