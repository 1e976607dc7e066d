"""EnrichedEvents built around the real Microsoft samples, for routing and rendering tests.

The event is the Service Health *maintenance* alertContext from the Azure Monitor docs
(samples/azure/common-servicehealth-maintenance-planned-alertcontext.json); each VM's
maintenance status is the ``maintenanceRedeployStatus`` of the ARM spec's planned-maintenance
instance view (arm-vm-instanceview-plannedmaintenance-example-2020-06-01.json), shifted per VM
where a test needs different windows. The sample has no subscription ID; ours is chosen so that
the portal link's short form is the docs' own example ``bbadb3``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.models import (
    UNCODED_REASON,
    Advice,
    AdviceAction,
    AdviceReason,
    EnrichedEvent,
    EnrichmentNote,
    ImpactedService,
    MaintenanceEvent,
    MaintenancePlan,
    MaintenanceStatus,
    PlanStep,
    TimeWindow,
    VirtualMachine,
)
from shared.standins.samples import azure_sample as load_fixture
from shared.timeutil import format_utc, normalise_timestamp, parse_utc

SUBSCRIPTION = "bba4f1e2-7c3d-4e5f-8a9b-0c1d2e3fadb3"
OTHER_SUBSCRIPTION = "7d3c9a10-4b2e-4f6a-9c8d-1e2f3a4b5c6d"
# Inside the sample's self-service window (2020-08-31 17:00 → 2020-09-30 17:00, -07:00).
NOW = datetime(2020, 9, 15, 12, 0, tzinfo=UTC)

ALERT_CONTEXT = "common-servicehealth-maintenance-planned-alertcontext.json"
INSTANCE_VIEW = "arm-vm-instanceview-plannedmaintenance-example-2020-06-01.json"

AVAILABILITY_SET_REASON = (
    "In availability set as-web: Azure updates one update domain at a time, at least "
    "30 minutes apart, so the set stays available."
)
ORDER_REASON = "Multi-tier application: start the database tier yourself before the web tier."
SHUTDOWN_REASON = "Shut down daily by a schedule: maintenance may not finish while it is off."


def _uncoded(text: str) -> AdviceReason:
    # What Advice makes of a plain-text reason (one written before reasons had codes).
    return AdviceReason(UNCODED_REASON, text)


def sample_event(**changes: Any) -> MaintenanceEvent:
    """The documented Service Health maintenance alert, normalised as ingest would."""
    context = load_fixture(ALERT_CONTEXT)["alertContext"]
    props = context["properties"]
    impacted = [
        ImpactedService(
            service=item["ServiceName"],
            regions=[region["RegionName"] for region in item["ImpactedRegions"]],
        )
        for item in json.loads(props["impactedServices"])
    ]
    event = MaintenanceEvent(
        event_id=f"sh-{context['correlationId']}",
        kind="service_health",
        schema="common",
        subscription_ids=[SUBSCRIPTION],
        tracking_id=props["trackingId"],
        incident_type=props["incidentType"],
        stage=props["stage"],
        status=context["status"],
        level="Informational",  # the sample's integer level 3; mapping undocumented
        title=props["title"],
        summary=props["communication"],
        impacted=impacted,
        impact_start=normalise_timestamp(props["impactStartTime"]),
        impact_end=normalise_timestamp(props["impactMitigationTime"]),
        resource_ids=[],
        operation_name=context["operationName"],
        maintenance_id=props["maintenanceId"],
        communication_id=props["communicationId"],
        is_test=False,
        received_at=normalise_timestamp(context["submissionTimestamp"]) or "",
        event_time=normalise_timestamp(context["eventTimestamp"]),
    )
    return replace(event, **changes)


def sample_status(shift: timedelta = timedelta(0), **changes: Any) -> MaintenanceStatus:
    """``maintenanceRedeployStatus`` of the real instance view, optionally moved in time."""
    raw = load_fixture(INSTANCE_VIEW)["maintenanceRedeployStatus"]

    def moved(key: str) -> str:
        return format_utc(parse_utc(raw[key]) + shift)

    status = MaintenanceStatus(
        self_service_allowed=bool(raw["isCustomerInitiatedMaintenanceAllowed"]),
        self_service_window=TimeWindow(
            moved("preMaintenanceWindowStartTime"), moved("preMaintenanceWindowEndTime")
        ),
        scheduled_window=TimeWindow(
            moved("maintenanceWindowStartTime"), moved("maintenanceWindowEndTime")
        ),
        last_result_code=raw.get("lastOperationResultCode"),
        last_message=raw.get("lastOperationMessage"),
    )
    return replace(status, **changes)


def _power_state() -> str | None:
    for status in load_fixture(INSTANCE_VIEW)["statuses"]:
        if status["code"].startswith("PowerState/"):
            return str(status["code"].split("/", 1)[1])
    return None


def vm_id(subscription: str, group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/virtualMachines/{name}"
    )


def make_vm(name: str, group: str, **changes: Any) -> VirtualMachine:
    subscription = changes.pop("subscription_id", SUBSCRIPTION)
    view = load_fixture(INSTANCE_VIEW)
    vm = VirtualMachine(
        id=vm_id(subscription, group, name),
        name=name,
        subscription_id=subscription,
        resource_group=group,
        location="eastus",
        power_state=_power_state(),
        size="Standard_D4s_v5",
        update_domain=view["platformUpdateDomain"],
        fault_domain=view["platformFaultDomain"],
        maintenance=sample_status(),
    )
    return replace(vm, **changes)


def sample_vms() -> list[VirtualMachine]:
    """Four VMs: an availability set across two UDs, a database, a VM shut down daily."""
    return [
        make_vm(
            "web-01",
            "rg-web-prod",
            availability_set="as-web",
            update_domain=0,
            fault_domain=0,
            tags={"env": "prod", "tier": "web", "owner": "web-team"},
            advice=Advice("avoid_self_service", [_uncoded(AVAILABILITY_SET_REASON)]),
        ),
        make_vm(
            "web-02",
            "rg-web-prod",
            availability_set="as-web",
            update_domain=1,
            fault_domain=1,
            tags={"env": "prod", "tier": "web", "owner": "web-team"},
            advice=Advice("avoid_self_service", [_uncoded(AVAILABILITY_SET_REASON)]),
            maintenance=sample_status(timedelta(hours=2)),
        ),
        make_vm(
            "sql-01",
            "rg-data-prod",
            zone="2",
            update_domain=None,
            fault_domain=None,
            tags={"env": "prod", "tier": "db", "owner": "dba"},
            advice=Advice("self_service", [_uncoded(ORDER_REASON)]),
            maintenance=sample_status(-timedelta(days=1)),
        ),
        make_vm(
            "batch-07",
            "rg-batch-dev",
            location="westeurope",
            update_domain=None,
            fault_domain=None,
            tags={"env": "dev", "shutdown": "daily"},
            advice=Advice("let_azure", [_uncoded(SHUTDOWN_REASON)]),
            maintenance=sample_status(
                timedelta(days=3),
                self_service_allowed=False,
                last_result_code="RetryLater",
                last_message="Maintenance could not start: the VM is deallocated.",
            ),
        ),
    ]


def _plan_for(vms: list[VirtualMachine], start: datetime) -> MaintenancePlan:
    steps: list[PlanStep] = []
    domains = sorted({vm.update_domain for vm in vms}, key=lambda ud: (ud is not None, ud or 0))
    for order, domain in enumerate(domains, start=1):
        begin = start + timedelta(minutes=60 * (order - 1))  # 30-minute steps, 30-minute gaps
        members = [vm for vm in vms if vm.update_domain == domain]
        zones = {vm.zone for vm in members if not (vm.availability_set or vm.scale_set)}
        zonal = len(zones) == 1 and None not in zones  # standalone zonal VMs: a zone's step
        steps.append(
            PlanStep(
                order=order,
                update_domain=None if zonal else domain,
                vm_ids=[vm.id for vm in members],
                start=format_utc(begin),
                end=format_utc(begin + timedelta(minutes=30)),
                kind="zone" if zonal else "update_domain",
                zone=members[0].zone if zonal else None,
            )
        )
    return MaintenancePlan(steps=steps, gap_minutes=30, warnings=[])


def sample_enriched(**event_changes: Any) -> EnrichedEvent:
    vms = sample_vms()
    self_service = [vm for vm in vms if vm.advice.action == "self_service"]
    return EnrichedEvent(
        event=sample_event(**event_changes),
        vms=vms,
        plan=_plan_for(self_service, datetime(2020, 9, 17, 6, 0, tzinfo=UTC)),
        notes=[
            EnrichmentNote(
                code="forbidden",
                message=f"No read access to subscription {OTHER_SUBSCRIPTION}; VMs not listed.",
                subscription_id=OTHER_SUBSCRIPTION,
            )
        ],
        enriched_at=format_utc(NOW - timedelta(minutes=1)),
    )


def enriched_without_vms(**event_changes: Any) -> EnrichedEvent:
    """A Service Health notice naming no VMs (here: Azure Synapse Analytics, as in the sample)."""
    return EnrichedEvent.without_vms(
        sample_event(**event_changes), format_utc(NOW - timedelta(minutes=1))
    )


def enriched_with_vms(count: int, **event_changes: Any) -> EnrichedEvent:
    """``count`` VMs over three resource groups, five update domains and varied tags."""
    groups = ("rg-app-prod", "rg-data-prod", "rg-batch-dev")
    actions: tuple[AdviceAction, ...] = ("self_service", "let_azure", "avoid_self_service")
    vms = [
        make_vm(
            f"vm-app-{index:04d}",
            groups[index % 3],
            availability_set="as-app" if index % 2 else None,
            update_domain=index % 5,
            fault_domain=index % 3,
            tags={"env": "dev" if index % 3 == 2 else "prod", "service": f"svc-{index % 7}"},
            advice=Advice(
                actions[index % 3],
                [_uncoded(AVAILABILITY_SET_REASON if index % 2 else ORDER_REASON)],
            ),
            maintenance=sample_status(timedelta(minutes=index)),
        )
        for index in range(count)
    ]
    return EnrichedEvent(
        event=sample_event(**event_changes),
        vms=vms,
        plan=_plan_for(vms, datetime(2020, 9, 17, 6, 0, tzinfo=UTC)),
        notes=[],
        enriched_at=format_utc(NOW - timedelta(minutes=1)),
    )


def hostile_enriched(text: str) -> EnrichedEvent:
    """Put ``text`` everywhere alert or Azure text reaches a message."""
    base = sample_enriched(title=f"Maintenance {text}", summary=f"Details: {text}\nEnd.")
    vms = [
        replace(
            vm,
            name=f"{vm.name}{text}",
            resource_group=f"{vm.resource_group}{text}",
            tags={**vm.tags, "note": text},
            advice=Advice(
                vm.advice.action, [_uncoded(f"{reason} {text}") for reason in vm.advice.reasons]
            ),
        )
        for vm in base.vms
    ]
    event = replace(
        base.event,
        impacted=[ImpactedService(service=f"Virtual Machines {text}", regions=[f"East US {text}"])],
        tracking_id=f"AB{text}",
    )
    notes = [EnrichmentNote(code="vm_gone", message=f"VM went away {text}")]
    return replace(base, event=event, vms=vms, notes=notes)
