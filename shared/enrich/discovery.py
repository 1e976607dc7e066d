"""Which VMs an event is about, per subscription.

1. Resource Health and Administrative events name their VM: no call needed.
2. A Service Health event: ``Microsoft.ResourceHealth/events/{trackingId}/impactedResources``
   (Azure's own list of the resources it affects), paged by ``nextLink``.
3. Where that gives nothing (not every wave fills it, and an unknown tracking id is a 404): all
   VMs of the subscription in the impacted regions, from the VM list (also paged). The list
   returns each VM's model, so the reads that follow only need the instance view.

Also here: the VMs with an enabled auto-shutdown schedule (``Microsoft.DevTestLab/schedules``,
which is where the portal's "Auto-shutdown" lives), one paged call per subscription.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.enrich.arm import ArmClient, api_version, vm_of
from shared.enrich.errors import ArmForbiddenError, ArmNotFoundError, ArmRequestError
from shared.enrich.instance_view import VmRef
from shared.enrich.pacing import Operation
from shared.models import EnrichmentNote

VM_TYPE = "microsoft.compute/virtualmachines"
SHUTDOWN_TASK = "computevmshutdowntask"


def region_key(region: str) -> str:
    """"East US 2" (Service Health) and "eastus2" (ARM) name the same region."""
    return "".join(region.split()).lower()


def _unique(refs: Iterable[VmRef]) -> list[VmRef]:
    seen: dict[str, VmRef] = {}
    for ref in refs:
        seen.setdefault(ref.id.lower(), ref)
    return list(seen.values())


def named_vms(resource_ids: Iterable[str]) -> list[VmRef]:
    """The VMs among an event's resource ids (an extension's id names its VM too)."""
    return _unique(VmRef(vm) for vm in (vm_of(rid) for rid in resource_ids) if vm)


def impacted_vms(arm: ArmClient, subscription: str, tracking_id: str) -> list[VmRef]:
    """Azure's list of VMs impacted by an event; raises ``ArmNotFoundError`` if unknown."""
    path = (
        f"/subscriptions/{subscription}/providers/Microsoft.ResourceHealth/events/"
        f"{tracking_id}/impactedResources"
    )
    params = {"api-version": api_version("Microsoft.ResourceHealth")}
    refs = []
    for item in arm.pages(path, Operation.READ, params=params):
        properties = item.get("properties") or {}
        target = properties.get("targetResourceId")
        if str(properties.get("targetResourceType", "")).lower() == VM_TYPE and target:
            refs.append(VmRef(str(target), location=properties.get("targetRegion")))
    return _unique(refs)


def subscription_vms(
    arm: ArmClient, subscription: str, regions: Iterable[str] = ()
) -> list[VmRef]:
    """Every VM of the subscription (in ``regions`` if any are given), with its model."""
    wanted = {region_key(region) for region in regions}
    path = f"/subscriptions/{subscription}/providers/Microsoft.Compute/virtualMachines"
    params = {"api-version": api_version("Microsoft.Compute")}
    refs = []
    for vm in arm.pages(path, Operation.VM_LIST, params=params):
        location = str(vm.get("location") or "")
        if vm.get("id") and (not wanted or region_key(location) in wanted):
            refs.append(VmRef(str(vm["id"]), location=location, model=vm))
    return _unique(refs)


@dataclass
class Schedules:
    """Lower-cased ids of VMs with an enabled auto-shutdown; a note when unreadable."""

    vm_ids: set[str] = field(default_factory=set)
    note: EnrichmentNote | None = None


def auto_shutdown_vms(arm: ArmClient, subscription: str) -> Schedules:
    path = f"/subscriptions/{subscription}/providers/Microsoft.DevTestLab/schedules"
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
        return Schedules(note=EnrichmentNote(
            code="forbidden",
            message=f"no read permission on auto-shutdown schedules in subscription "
                    f"{subscription}: advice cannot see them",
            subscription_id=subscription,
        ))
    return found
