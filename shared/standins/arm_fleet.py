"""The fleet behind the stand-in ARM: subscriptions, VMs, their windows, sets and schedules.

JSON shapes follow the real samples in shared/standins/samples/azure (see SOURCES.md there): the
instance view is the ARM spec's planned-maintenance example with this VM's values put in,
impacted resources follow the Resource Health 2022-10-01 list example, the VM model follows the
Compute VM Get/List shape (``properties.hardwareProfile``, ``availabilitySet``,
``virtualMachineScaleSet``, ``storageProfile.osDisk.diffDiskSettings``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.standins.samples import azure_sample


def _sample(name: str) -> Any:
    return azure_sample(name)


def instance_view_sample() -> dict[str, Any]:
    return dict(_sample("arm-vm-instanceview-plannedmaintenance-example-2020-06-01.json"))


def compute_throttling_body(policy: str) -> dict[str, Any]:
    body = copy.deepcopy(_sample("compute-429-throttling-error-body.json"))
    body["details"][0]["target"] = policy
    return dict(body)


def redeploy_status(
    self_service_start: datetime,
    self_service_end: datetime,
    scheduled_start: datetime,
    scheduled_end: datetime,
    *,
    allowed: bool = True,
    result: str = "None",
    message: str | None = None,
) -> dict[str, Any]:
    """``maintenanceRedeployStatus`` as ARM writes it (times keep their own offsets)."""
    status: dict[str, Any] = {
        "isCustomerInitiatedMaintenanceAllowed": allowed,
        "preMaintenanceWindowStartTime": self_service_start.isoformat(),
        "preMaintenanceWindowEndTime": self_service_end.isoformat(),
        "maintenanceWindowStartTime": scheduled_start.isoformat(),
        "maintenanceWindowEndTime": scheduled_end.isoformat(),
        "lastOperationResultCode": result,
    }
    if message is not None:
        status["lastOperationMessage"] = message
    return status


def window_from(start: datetime, days: int = 30) -> dict[str, Any]:
    """A typical wave: self-service ``days`` long from ``start``, then a one-day schedule."""
    end = start + timedelta(days=days)
    return redeploy_status(start, end, end + timedelta(minutes=5), end + timedelta(days=1))


@dataclass
class FleetVm:
    subscription_id: str
    resource_group: str
    name: str
    location: str = "eastus"
    size: str = "Standard_D2s_v3"
    zone: str | None = None
    update_domain: int = 0
    fault_domain: int = 0
    availability_set: str | None = None  # name, in the same resource group
    scale_set: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    ephemeral_os_disk: bool = False
    power_state: str = "running"
    maintenance: dict[str, Any] | None = None  # raw maintenanceRedeployStatus
    auto_shutdown: bool = False
    deleted: bool = False  # still listed, but reads answer 404
    maintenance_fails: bool = False  # performMaintenance ends "Failed"
    maintenance_unavailable: bool = False  # performMaintenance answers 503 on every try
    # performMaintenance answers 409 Conflict although the instance view allows it (another
    # operation on the VM is under way: Azure refuses, and the read before could not know).
    maintenance_conflict: bool = False
    # performMaintenance answers 429 with each of these Retry-After values in turn, then works.
    maintenance_throttle: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{self.name}"
        )

    def _group_id(self, kind: str, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group.upper()}"
            f"/providers/Microsoft.Compute/{kind}/{name.upper()}"
        )

    def model(self) -> dict[str, Any]:
        os_disk: dict[str, Any] = {
            "osType": "Linux",
            "name": f"{self.name}_OsDisk_1",
            "createOption": "FromImage",
            "caching": "ReadOnly" if self.ephemeral_os_disk else "ReadWrite",
        }
        if self.ephemeral_os_disk:
            os_disk["diffDiskSettings"] = {"option": "Local", "placement": "CacheDisk"}
        properties: dict[str, Any] = {
            "vmId": f"00000000-0000-0000-0000-{abs(hash(self.id)) % 10**12:012d}",
            "hardwareProfile": {"vmSize": self.size},
            "storageProfile": {"osDisk": os_disk},
            "provisioningState": "Succeeded",
        }
        if self.availability_set:
            properties["availabilitySet"] = {
                "id": self._group_id("availabilitySets", self.availability_set)
            }
        if self.scale_set:
            properties["virtualMachineScaleSet"] = {
                "id": self._group_id("virtualMachineScaleSets", self.scale_set)
            }
        model: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "type": "Microsoft.Compute/virtualMachines",
            "location": self.location,
            "tags": dict(self.tags),
            "properties": properties,
        }
        if self.zone:
            model["zones"] = [self.zone]
        return model

    def instance_view(self) -> dict[str, Any]:
        view = instance_view_sample()
        view["computerName"] = self.name
        view["platformUpdateDomain"] = self.update_domain
        view["platformFaultDomain"] = self.fault_domain
        view.pop("maintenanceRedeployStatus", None)
        if self.maintenance is not None:
            view["maintenanceRedeployStatus"] = dict(self.maintenance)
        view["statuses"] = [
            view["statuses"][0],
            {
                "code": f"PowerState/{self.power_state}",
                "level": "Info",
                "displayStatus": f"VM {self.power_state}",
            },
        ]
        return view

    def schedule(self) -> dict[str, Any]:
        name = f"shutdown-computevm-{self.name}"
        return {
            "id": f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/microsoft.devtestlab/schedules/{name}",
            "name": name,
            "type": "microsoft.devtestlab/schedules",
            "location": self.location,
            "properties": {
                "status": "Enabled",
                "taskType": "ComputeVmShutdownTask",
                "dailyRecurrence": {"time": "1900"},
                "timeZoneId": "UTC",
                "targetResourceId": self.id,
                "provisioningState": "Succeeded",
            },
        }


@dataclass
class Fleet:
    vms: dict[str, FleetVm] = field(default_factory=dict)
    impacted: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (sub, event)
    forbidden: set[str] = field(default_factory=set)
    # Subscriptions whose list answers hold an item that is not an object (a broken proxy,
    # a changed API): what one odd body does to enrichment.
    garbled: set[str] = field(default_factory=set)

    def add(self, *vms: FleetVm) -> Fleet:
        for vm in vms:
            self.vms[vm.id.lower()] = vm
        return self

    def find(self, vm_id: str) -> FleetVm | None:
        return self.vms.get(vm_id.lower())

    def of(self, subscription: str) -> list[FleetVm]:
        return [vm for vm in self.vms.values() if vm.subscription_id == subscription]

    def impact(self, subscription: str, tracking_id: str, vms: list[FleetVm]) -> Fleet:
        self.impacted[(subscription, tracking_id)] = [vm.id for vm in vms]
        return self


def generated_fleet(
    subscriptions: list[str],
    vms_per_subscription: int,
    with_maintenance: int,
    *,
    start: datetime,
    location: str = "eastus",
) -> Fleet:
    """A large, varied fleet: ``with_maintenance`` VMs per subscription have a window."""
    fleet = Fleet()
    for subscription in subscriptions:
        for index in range(vms_per_subscription):
            fleet.add(
                FleetVm(
                    subscription,
                    f"rg-{index % 20:02d}",
                    f"vm-{index:05d}",
                    location,
                    update_domain=index % 5,
                    fault_domain=index % 3,
                    availability_set=f"as-{index % 40}" if index % 4 == 0 else None,
                    tags={"env": "prod" if index % 2 else "test"},
                    maintenance=window_from(start) if index < with_maintenance else None,
                )
            )
    return fleet


def maintenance_event(
    subscriptions: list[str],
    *,
    tracking_id: str = "BC_1-FXZ",  # the Resource Health sample's tracking id
    regions: tuple[str, ...] = ("East US",),
    service: str = "Virtual Machines",
    kind: str = "service_health",
    incident_type: str = "Maintenance",
    stage: str = "Planned",
    resource_ids: tuple[str, ...] = (),
) -> Any:
    """A normalised event as ingest produces it, for the subscriptions of a fleet."""
    from shared.models import ImpactedService, MaintenanceEvent

    return MaintenanceEvent(
        event_id=f"evt-{tracking_id}-{'-'.join(subscriptions)}",
        kind=kind,  # type: ignore[arg-type]
        schema="common",
        subscription_ids=list(subscriptions),
        tracking_id=tracking_id if kind == "service_health" else None,
        incident_type=incident_type if kind == "service_health" else None,
        stage=stage if kind == "service_health" else None,
        status="Active",
        level="Informational",
        title=f"{service} planned maintenance",
        summary="Planned maintenance requiring a reboot.",
        impacted=[ImpactedService(service, list(regions))] if kind == "service_health" else [],
        impact_start=None,
        impact_end=None,
        resource_ids=list(resource_ids),
        operation_name="Microsoft.ServiceHealth/maintenance/action",
        maintenance_id=None,
        communication_id=None,
        is_test=False,
        received_at="2030-01-01T00:00:00Z",
    )
