"""Instance views from the real ARM samples turned into ``VirtualMachine`` records."""

from __future__ import annotations

from typing import Any

import pytest

from shared.enrich.errors import MalformedResourceIdError
from shared.enrich.instance_view import (
    CachedRead,
    InMemoryInstanceViewCache,
    InstanceViewReader,
    TableInstanceViewCache,
    VmRef,
    _trim_instance_view,
    _trim_model,
    has_ephemeral_os_disk,
    maintenance_status,
    to_virtual_machine,
)
from shared.models import MaintenanceStatus, TimeWindow
from shared.parsing.resource_id import parse_vm_id
from shared.storage import InMemoryEntityTable
from shared.timeutil import InvalidTimestampError
from tests.conftest import load_fixture

VM_ID = (
    "/subscriptions/4970d23e-ed41-4670-9c19-02a1d2808dd9/resourceGroups/myResourceGroup"
    "/providers/Microsoft.Compute/virtualMachines/myVM"
)
PLANNED = load_fixture("arm-vm-instanceview-plannedmaintenance-example-2020-06-01.json")
NOTHING_PLANNED = load_fixture("arm-vm-instanceview-example-2024-07-01.json")["responses"]["200"][
    "body"
]
SPEC_EXCERPT = load_fixture("vm-maintenanceredeploystatus-spec-excerpt-2022-08-01.json")


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        pytest.param(
            PLANNED,
            MaintenanceStatus(
                self_service_allowed=True,
                # -07:00 in the sample: 17:00 there is 00:00 UTC the next day.
                self_service_window=TimeWindow("2020-09-01T00:00:00Z", "2020-10-01T00:00:00Z"),
                scheduled_window=TimeWindow("2020-10-02T00:05:00Z", "2020-10-03T00:00:00Z"),
                last_result_code="None",
                last_message=None,
            ),
            id="2020-06-01 planned-maintenance sample, -07:00 offsets",
        ),
        pytest.param(NOTHING_PLANNED, None, id="2024-07-01 sample: absent = nothing planned"),
        pytest.param(
            SPEC_EXCERPT,
            MaintenanceStatus(
                True,
                TimeWindow("2022-01-14T16:43:41Z", "2022-01-14T16:43:41Z"),
                TimeWindow("2022-01-14T16:43:41Z", "2022-01-14T16:43:41Z"),
                "None",
                "aa",
            ),
            id="2022-08-01 spec: Z with milliseconds, all six fields",
        ),
        pytest.param(
            {
                "maintenanceRedeployStatus": {
                    "isCustomerInitiatedMaintenanceAllowed": False,
                    "lastOperationResultCode": "RetryLater",
                }
            },
            MaintenanceStatus(
                False, TimeWindow(None, None), TimeWindow(None, None), "RetryLater", None
            ),
            id="only some fields: the rest stay None",
        ),
    ],
)
def test_maintenance_status_given_real_instance_views(
    view: dict[str, Any], expected: MaintenanceStatus | None
) -> None:
    assert maintenance_status(view) == expected


@pytest.mark.parametrize(
    ("view", "field", "expected"),
    [
        pytest.param(PLANNED, "power_state", "running", id="power state from PowerState/*"),
        pytest.param(PLANNED, "update_domain", 0, id="update domain, planned sample"),
        pytest.param(NOTHING_PLANNED, "update_domain", 1, id="update domain, 2024 sample"),
        pytest.param(NOTHING_PLANNED, "fault_domain", 1, id="fault domain, 2024 sample"),
        pytest.param({"statuses": []}, "power_state", None, id="no statuses: unknown"),
    ],
)
def test_to_virtual_machine_given_instance_view_then_reads_state(
    view: dict[str, Any], field: str, expected: object
) -> None:
    vm = to_virtual_machine(VmRef(VM_ID, location="westus"), None, view)
    assert getattr(vm, field) == expected
    assert (vm.name, vm.resource_group, vm.location) == ("myVM", "myResourceGroup", "westus")
    assert vm.subscription_id == "4970d23e-ed41-4670-9c19-02a1d2808dd9"


MODEL = {
    "id": VM_ID,
    "name": "myVM",
    "location": "eastus",
    "zones": ["2"],
    "tags": {"env": "prod", "forewarn-advice": "short-lived"},
    "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "availabilitySet": {
            "id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/"
            "availabilitySets/AS1"
        },
        "storageProfile": {
            "osDisk": {
                "name": "osdisk",
                "caching": "ReadOnly",
                "diffDiskSettings": {"option": "Local"},
            }
        },
        "osProfile": {"computerName": "myVM", "adminUsername": "azureuser"},
    },
}


def test_to_virtual_machine_given_model_then_placement_and_tags_come_from_it() -> None:
    vm = to_virtual_machine(VmRef(VM_ID), MODEL, PLANNED)
    assert (vm.location, vm.zone, vm.size) == ("eastus", "2", "Standard_D2s_v3")
    assert vm.availability_set is not None and vm.availability_set.endswith("/AS1")
    assert vm.scale_set is None
    assert vm.tags == {"env": "prod", "forewarn-advice": "short-lived"}
    assert has_ephemeral_os_disk(MODEL) is True
    assert has_ephemeral_os_disk({"properties": {}}) is False


def test_table_cache_given_a_trimmed_read_then_round_trips_what_advice_needs() -> None:
    table = InMemoryEntityTable()
    cache = TableInstanceViewCache(table)
    read = CachedRead(_trim_instance_view(PLANNED), _trim_model(MODEL), "2030-01-01T00:00:00Z")
    cache.put(VM_ID, read)
    back = cache.get(VM_ID.upper())  # ARM ids are case-insensitive
    assert back == read
    assert back is not None and "osProfile" not in back.model["properties"]  # type: ignore[index]
    vm = to_virtual_machine(VmRef(VM_ID), back.model, back.instance_view)
    assert vm == to_virtual_machine(VmRef(VM_ID), MODEL, PLANNED)
    assert has_ephemeral_os_disk(back.model)
    assert list(table.rows) == [("4970d23e-ed41-4670-9c19-02a1d2808dd9", "myresourcegroup:myvm")]


# Review S1: one anchored parser says which subscription, group and VM an id names.
SUB = "4970d23e-ed41-4670-9c19-02a1d2808dd9"
OTHER_VM = VM_ID.replace(SUB, "OTHER")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(VM_ID, (SUB, "myResourceGroup", "myVM"), id="a VM id"),
        pytest.param(VM_ID.lower(), (SUB, "myresourcegroup", "myvm"), id="lower-cased"),
        pytest.param(
            f"{VM_ID}/extensions/agent",
            (SUB, "myResourceGroup", "myVM"),
            id="an extension names its VM",
        ),
        pytest.param(f"{VM_ID}/", (SUB, "myResourceGroup", "myVM"), id="a trailing slash"),
        pytest.param(f"x{OTHER_VM}", None, id="review S1: properties.entity with a prefix"),
        pytest.param(OTHER_VM[1:], None, id="no leading slash"),
        pytest.param(
            f"/providers/Microsoft.Management/managementGroups/mg{OTHER_VM}",
            None,
            id="under a management group",
        ),
        pytest.param(f"{VM_ID}/../../../../../../../subscriptions/OTHER", None, id="dot segments"),
        pytest.param(VM_ID.replace("myResourceGroup", "rg%2F.."), None, id="escaped slash"),
        pytest.param(f"{VM_ID}?x=/subscriptions/OTHER", None, id="a query string"),
        pytest.param(
            VM_ID.replace("virtualMachines", "virtualMachineScaleSets"),
            None,
            id="a scale set is not a VM",
        ),
        pytest.param(VM_ID.rsplit("/", 1)[0], None, id="no VM name"),
    ],
)
def test_parse_vm_id_given_ids_from_payloads_then_only_whole_ids_count(
    text: str, expected: tuple[str, str, str] | None
) -> None:
    vm = parse_vm_id(text)
    assert (None if vm is None else (vm.subscription_id, vm.resource_group, vm.name)) == expected
    if expected is None:
        with pytest.raises(MalformedResourceIdError):
            VmRef(text)
    else:
        ref = VmRef(text)
        assert (ref.subscription_id, ref.resource_group, ref.name) == expected
        assert ref.id.lower() == VM_ID.lower()  # the VM itself, not its extension


def test_reader_given_a_malformed_timestamp_then_raises_and_caches_nothing() -> None:
    """Review C5: the read fails for this VM alone (the pipeline makes it a note), and a
    read that does not convert is not kept for the cache's lifetime."""
    view = {"maintenanceRedeployStatus": {"preMaintenanceWindowStartTime": "next Tuesday"}}
    model = {**MODEL, "properties": {**MODEL["properties"], "instanceView": view}}  # type: ignore[dict-item]
    cache = InMemoryInstanceViewCache()
    reader = InstanceViewReader(OneAnswerArm(model), cache)  # type: ignore[arg-type]
    with pytest.raises(InvalidTimestampError):
        reader.read(VmRef(VM_ID))
    assert cache.entries == {}


class OneAnswerArm:
    """Stands in for ``ArmClient.get`` in a pure test: the same body for every read."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def get(self, path: str, *_: object, **__: object) -> dict[str, Any]:
        return self.body
