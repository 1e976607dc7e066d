"""Which VMs an event is about, per subscription.

1. Resource Health and Administrative events name their VM: no call needed.
2. A Service Health event: ``Microsoft.ResourceHealth/events/{trackingId}/impactedResources``
   (Azure's own list of the resources it affects), paged by ``nextLink``.
3. Where that gives nothing (not every wave fills it, and an unknown tracking id is a 404):
   with Resource Graph on, the subscription's VMs with maintenance pending in the impacted
   regions (``resource_graph.wave_vms_with_graph``); refused, unavailable, off or listing none
   there, all VMs of the subscription in the impacted regions, from the VM list (also paged).
   The list returns each VM's model, so the reads that follow only need the instance view.

Also here: the VMs with an enabled auto-shutdown schedule (``Microsoft.DevTestLab/schedules``,
which is where the portal's "Auto-shutdown" lives), one paged call per subscription.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.enrich.arm import ArmClient, api_version
from shared.enrich.arm_paths import path_segment
from shared.enrich.errors import ArmForbiddenError, ArmNotFoundError, ArmRequestError
from shared.enrich.instance_view import VmRef
from shared.enrich.pacing import Operation
from shared.models import EnrichmentNote
from shared.parsing.resource_id import mentions_vm, parse_vm_id

VM_TYPE = "microsoft.compute/virtualmachines"
SHUTDOWN_TASK = "computevmshutdowntask"


def region_key(region: str) -> str:
    """Service Health's "East US 2" and ARM's "eastus2" name the same region."""
    return "".join(region.split()).lower()


@dataclass
class VmList:
    """VMs to read, and a note for each id that may not be read.

    The subscription guard: a VM is only admitted when its id is well-formed and its
    subscription is one of ``allowed`` (the event's own). Whatever else an event or an answer
    names becomes a note; it is never read with forewarn's identity.
    """

    allowed: frozenset[str]
    refs: list[VmRef] = field(default_factory=list)
    notes: list[EnrichmentNote] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    @classmethod
    def within(cls, subscriptions: Iterable[str]) -> VmList:
        return cls(frozenset(s.lower() for s in subscriptions))

    def add(
        self,
        resource_id: str,
        *,
        location: str | None = None,
        model: dict[str, Any] | None = None,
        source: str,
    ) -> None:
        vm = parse_vm_id(resource_id)
        if vm is None:
            self.notes.append(
                EnrichmentNote(
                    "malformed_resource_id",
                    f"{source} names a VM by something that is not a well-formed ARM id "
                    f"(/subscriptions/…/virtualMachines/…): not read",
                    resource_id=resource_id,
                )
            )
        elif vm.subscription_id.lower() not in self.allowed:
            self.notes.append(
                EnrichmentNote(
                    "subscription_not_listed",
                    f"{source} names VM {vm.name} in subscription {vm.subscription_id}, which is "
                    "not one of the event's subscriptions: not read",
                    subscription_id=vm.subscription_id,
                    resource_id=resource_id,
                )
            )
        elif vm.key not in self._seen:
            self._seen.add(vm.key)
            self.refs.append(VmRef(vm.id, location=location, model=model))


def named_vms(resource_ids: Iterable[str], allowed: Collection[str]) -> VmList:
    """The VMs among an event's resource ids (an extension's id names its VM too).

    Ids of other resources are not about VMs and are passed over; an id that looks meant to
    name a VM but is not a well-formed one is a note."""
    found = VmList.within(allowed)
    for resource_id in resource_ids:
        if parse_vm_id(resource_id) or mentions_vm(resource_id):
            found.add(resource_id, source="the event")
    return found


def impacted_vms(arm: ArmClient, subscription: str, tracking_id: str) -> VmList:
    """Azure's list of VMs impacted by an event; raises ``ArmNotFoundError`` if unknown.

    The tracking id comes from the alert: ingest checks its shape, and it is still encoded as
    one path segment here (``UnsafePathError`` if it cannot be one), so that no tracking id
    can walk the path into another subscription's events."""
    path = (
        f"/subscriptions/{path_segment(subscription)}/providers/Microsoft.ResourceHealth/events/"
        f"{path_segment(tracking_id)}/impactedResources"
    )
    params = {"api-version": api_version("Microsoft.ResourceHealth")}
    found = VmList.within([subscription])
    for item in arm.pages(path, Operation.READ, params=params):
        properties = item.get("properties") or {}
        target = properties.get("targetResourceId")
        if str(properties.get("targetResourceType", "")).lower() == VM_TYPE and target:
            found.add(
                str(target),
                location=properties.get("targetRegion"),
                source=f"Azure's impacted resources of {tracking_id}",
            )
    return found


def subscription_vms(arm: ArmClient, subscription: str, regions: Iterable[str] = ()) -> VmList:
    """Every VM of the subscription (in ``regions`` if any are given), with its model."""
    wanted = {region_key(region) for region in regions}
    path = (
        f"/subscriptions/{path_segment(subscription)}/providers/Microsoft.Compute/virtualMachines"
    )
    params = {"api-version": api_version("Microsoft.Compute")}
    found = VmList.within([subscription])
    for vm in arm.pages(path, Operation.VM_LIST, params=params):
        location = str(vm.get("location") or "")
        if vm.get("id") and (not wanted or region_key(location) in wanted):
            found.add(
                str(vm["id"]),
                location=location,
                model=vm,
                source=f"the VM list of subscription {subscription}",
            )
    return found


@dataclass
class Schedules:
    """Lower-cased ids of VMs with an enabled auto-shutdown; a note when unreadable."""

    vm_ids: set[str] = field(default_factory=set)
    note: EnrichmentNote | None = None


def auto_shutdown_vms(arm: ArmClient, subscription: str) -> Schedules:
    path = f"/subscriptions/{path_segment(subscription)}/providers/Microsoft.DevTestLab/schedules"
    params = {"api-version": api_version("Microsoft.DevTestLab")}
    found = Schedules()
    try:
        for schedule in arm.pages(path, Operation.READ, params=params):
            properties = schedule.get("properties") or {}
            target = properties.get("targetResourceId")
            if (
                target
                and str(properties.get("status", "")).lower() == "enabled"
                and str(properties.get("taskType", "")).lower() == SHUTDOWN_TASK
            ):
                found.vm_ids.add(str(target).lower())
    except (ArmNotFoundError, ArmRequestError):
        # Provider not registered in the subscription: then there are no schedules.
        return Schedules()
    except ArmForbiddenError:
        return Schedules(
            note=EnrichmentNote(
                code="forbidden",
                message=f"no read permission on auto-shutdown schedules in subscription "
                f"{subscription}: advice cannot see them",
                subscription_id=subscription,
            )
        )
    return found
