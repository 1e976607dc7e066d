"""Advice, case by case against Azure's guidance ("Should you start maintenance during the
self-service window?", learn.microsoft.com/azure/virtual-machines/maintenance-notifications)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.enrich.advice import GUIDANCE_URL, AdviceRules, VmFacts, advise, signals_of
from shared.enrich.instance_view import VmRef, maintenance_status, to_virtual_machine
from shared.models import VirtualMachine
from tests.conftest import load_fixture

# The real planned-maintenance sample: self-service 2020-09-01..10-01 UTC, allowed.
SAMPLE = load_fixture("arm-vm-instanceview-plannedmaintenance-example-2020-06-01.json")
VM_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web1"
BASE = to_virtual_machine(VmRef(VM_ID, location="westus"), None, SAMPLE)
DURING = datetime(2020, 9, 10, tzinfo=UTC)
BEFORE = datetime(2020, 8, 1, tzinfo=UTC)
AFTER = datetime(2020, 10, 1, 12, tzinfo=UTC)
AS_ID = "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/availabilitySets/WEB-AS"
SS_ID = "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/SS"
RULES = AdviceRules(signal_tags={"AutoShutdown": "auto-shutdown", "Lifetime": "short-lived"})


def vm(**changes: object) -> VirtualMachine:
    return replace(BASE, **changes)  # type: ignore[arg-type]


def with_status(**changes: object) -> VirtualMachine:
    assert BASE.maintenance is not None
    return vm(maintenance=replace(BASE.maintenance, **changes))  # type: ignore[arg-type]


CASES = [
    # (id, vm, facts, now, expected action, words each reason must contain, in order)
    (
        "single VM during the window: self-serve",
        vm(),
        VmFacts(),
        DURING,
        "self_service",
        ["single VM"],
    ),
    (
        "availability set: Azure walks update domains",
        vm(availability_set=AS_ID),
        VmFacts(),
        DURING,
        "let_azure",
        [
            "availability set WEB-AS: Azure updates one update domain at a time, "
            "at least 30 minutes apart"
        ],
    ),
    (
        "scale set: Azure walks update domains",
        vm(scale_set=SS_ID),
        VmFacts(),
        DURING,
        "let_azure",
        ["scale set SS"],
    ),
    (
        "auto-shutdown schedule: avoid",
        vm(),
        VmFacts(auto_shutdown=True),
        DURING,
        "avoid_self_service",
        ["auto-shutdown"],
    ),
    (
        "DevTest Labs hidden tag: avoid",
        vm(tags={"hidden-DevTestLabs-LabUId": "x"}),
        VmFacts(),
        DURING,
        "avoid_self_service",
        ["DevTest Labs"],
    ),
    (
        "ephemeral OS disk: avoid",
        vm(),
        VmFacts(ephemeral_os_disk=True),
        DURING,
        "avoid_self_service",
        ["ephemeral disk"],
    ),
    (
        "forewarn-advice tag lists signals",
        vm(tags={"forewarn-advice": "resized-often; Scheduled_Events"}),
        VmFacts(),
        DURING,
        "avoid_self_service",
        ["resized often", "Scheduled Events"],
    ),
    (
        "org tag mapped by routing config",
        vm(tags={"Lifetime": "2 days"}),
        VmFacts(),
        DURING,
        "avoid_self_service",
        ["short-lived"],
    ),
    (
        "org tag set to false: no signal",
        vm(tags={"AutoShutdown": "false"}),
        VmFacts(),
        DURING,
        "self_service",
        ["single VM"],
    ),
    (
        "avoid wins over availability set",
        vm(availability_set=AS_ID),
        VmFacts(auto_shutdown=True),
        DURING,
        "avoid_self_service",
        ["auto-shutdown"],
    ),
    (
        "do signal in availability set: self-serve in plan order",
        vm(availability_set=AS_ID, tags={"forewarn-advice": "control-order"}),
        VmFacts(),
        DURING,
        "self_service",
        ["order matters", "availability set WEB-AS"],
    ),
    (
        "do signal: must announce a window",
        vm(tags={"forewarn-advice": "announce-window"}),
        VmFacts(),
        DURING,
        "self_service",
        ["announce an exact"],
    ),
    (
        "window not open yet: self-serve later",
        with_status(self_service_allowed=False),
        VmFacts(),
        BEFORE,
        "self_service",
        ["single VM", "opens at 2020-09-01T00:00:00Z"],
    ),
    (
        "window open but Azure says not now",
        with_status(self_service_allowed=False),
        VmFacts(),
        DURING,
        "self_service",
        ["single VM", "isCustomerInitiatedMaintenanceAllowed is false"],
    ),
    (
        "last attempt RetryLater is shown",
        with_status(last_result_code="RetryLater", last_message="host busy"),
        VmFacts(),
        DURING,
        "self_service",
        ["single VM", "RetryLater: host busy"],
    ),
    (
        "window closed: Azure does it",
        vm(),
        VmFacts(),
        AFTER,
        "let_azure",
        [
            "closed at 2020-10-01T00:00:00Z; Azure will do the maintenance in the scheduled window "
            "2020-10-02T00:05:00Z to 2020-10-03T00:00:00Z"
        ],
    ),
    (
        "already completed: nothing to do",
        with_status(last_result_code="MaintenanceCompleted"),
        VmFacts(auto_shutdown=True),
        DURING,
        "none",
        ["already completed"],
    ),
    ("nothing planned", vm(maintenance=None), VmFacts(), DURING, "none", ["No maintenance"]),
]


@pytest.mark.parametrize(
    ("machine", "facts", "now", "action", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_advice_given_signals_then_follows_azure_guidance(
    machine: VirtualMachine, facts: VmFacts, now: datetime, action: str, words: list[str]
) -> None:
    advice = advise(machine, facts, RULES, now)
    assert advice.action == action
    assert len(advice.reasons) == len(words)
    for reason, word in zip(advice.reasons, words, strict=True):
        assert word in reason
        assert "(source: https://learn.microsoft.com/" in reason


def test_signals_given_several_sources_then_each_once_in_guidance_order() -> None:
    machine = vm(tags={"forewarn-advice": "short-lived,short-lived,bogus", "AutoShutdown": "yes"})
    assert signals_of(machine, VmFacts(ephemeral_os_disk=True), RULES) == [
        "auto-shutdown",
        "short-lived",
        "ephemeral-state",
    ]


def test_advice_given_avoid_signals_then_cites_the_self_service_guidance() -> None:
    advice = advise(vm(), VmFacts(auto_shutdown=True), RULES, DURING)
    assert advice.reasons[0].endswith(f"(source: {GUIDANCE_URL})")
    assert maintenance_status(SAMPLE) == BASE.maintenance
