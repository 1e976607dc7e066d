"""The ARM client takes its proxy and CA settings from the environment once, as it starts.

requests reads them again for every request (walking the whole environment: about 0.2 ms a
request, 200 requests on a cold 200-VM notice, issue 18); a worker's environment is fixed when
it starts, so the client reads it once and sends every request with what it read.

    GIVEN when the client is made          WHEN it reads a VM            THEN
    HTTP_PROXY names a closed port         (no NO_PROXY)                 ARM unreachable: the
                                                                         proxy is used
    the same and NO_PROXY=127.0.0.1                                      read directly
    no proxy; HTTP_PROXY set afterwards    a second read                 still read directly
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.errors import ArmUnavailableError
from shared.enrich.pacing import Operation
from shared.standins.arm_fleet import Fleet, FleetVm
from shared.standins.arm_server import ArmStandIn
from shared.standins.stand_in import closed_port

pytestmark = pytest.mark.integration

PROXY_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
PARAMS = {"api-version": "2024-07-01"}


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmStandIn]:
    for name in PROXY_SETTINGS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    fleet = Fleet()
    fleet.add(FleetVm("sub-env", "rg", "vm-0"))
    with ArmStandIn(fleet) as stand_in:
        yield stand_in


def client_of(arm: ArmStandIn) -> ArmClient:
    return ArmClient(arm.base_url, StaticTokenProvider(arm.token), max_attempts=1)


def vm_path(arm: ArmStandIn) -> str:
    (vm,) = arm.fleet.vms.values()
    return vm.id


def test_a_proxy_in_the_environment_is_used(
    arm: ArmStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    client = client_of(arm)
    with pytest.raises(ArmUnavailableError):
        client.get(vm_path(arm), Operation.VM_GET, params=PARAMS)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = client_of(arm)
    assert direct.get(vm_path(arm), Operation.VM_GET, params=PARAMS)["name"] == "vm-0"


def test_the_environment_is_read_once_when_the_client_is_made(
    arm: ArmStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_of(arm)
    assert client.get(vm_path(arm), Operation.VM_GET, params=PARAMS)["name"] == "vm-0"
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    assert client.get(vm_path(arm), Operation.VM_GET, params=PARAMS)["name"] == "vm-0"
