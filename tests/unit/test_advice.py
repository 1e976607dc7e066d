"""Advice, case by case against Azure's guidance ("Should you start maintenance during the
self-service window?", learn.microsoft.com/azure/virtual-machines/maintenance-notifications)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.enrich.advice import GUIDANCE_URL, AdviceRules, VmFacts, advise, signals_of
from shared.enrich.guidance import FACTS
from shared.enrich.instance_view import VmRef, maintenance_status, to_virtual_machine
from shared.models import AdviceReason, VirtualMachine
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


TAGGED_NONE = {"forewarn-advice": "none"}

CASES = [
    # (id, vm, facts, now, expected action, [(reason code, words its text must contain)])
    (
        "single VM, owner says no counter-indication applies: self-serve",
        vm(tags=TAGGED_NONE),
        VmFacts(),
        DURING,
        "self_service",
        [("single_vm", "outside availability sets")],
    ),
    (
        "single VM, nothing told: self-serve, naming what forewarn cannot see",
        vm(),
        VmFacts(),
        DURING,
        "self_service",
        [
            ("single_vm", "outside availability sets"),
            ("counter_indications_unknown", "resized often, short-lived"),
        ],
    ),
    (
        "availability set: Azure walks update domains",
        vm(availability_set=AS_ID),
        VmFacts(),
        DURING,
        "let_azure",
        [
            (
                "in_availability_set",
                "availability set WEB-AS: Azure takes one update domain at a time, "
                "at least 30 minutes apart",
            )
        ],
    ),
    (
        "scale set: Azure walks update domains",
        vm(scale_set=SS_ID),
        VmFacts(),
        DURING,
        "let_azure",
        [("in_scale_set", "scale set SS")],
    ),
    (
        "auto-shutdown schedule: avoid, the status could revert",
        vm(),
        VmFacts(auto_shutdown=True),
        DURING,
        "avoid_self_service",
        [("shut_down_often", "auto-shutdown schedule")],
    ),
    (
        "DevTest Labs hidden tag: avoid",
        vm(tags={"hidden-DevTestLabs-LabUId": "x"}),
        VmFacts(),
        DURING,
        "avoid_self_service",
        [("shut_down_often", "DevTest Labs")],
    ),
    (
        "ephemeral OS disk: avoid",
        vm(),
        VmFacts(ephemeral_os_disk=True),
        DURING,
        "avoid_self_service",
        [("temp_disk_state", "ephemeral OS disk")],
    ),
    (
        "forewarn-advice tag lists counter-indications, any spelling",
        vm(tags={"forewarn-advice": "resized-often; Scheduled_Events, temp-disk-state"}),
        VmFacts(),
        DURING,
        "avoid_self_service",
        [
            ("scheduled_events", "Scheduled Events"),
            ("temp_disk_state", "temporary (local) disk"),
            ("resized_often", "could revert its maintenance status"),
        ],
    ),
    (
        "tag: short-lived and shut down often",
        vm(tags={"forewarn-advice": "short-lived,shut-down-often"}),
        VmFacts(),
        DURING,
        "avoid_self_service",
        [("short_lived", "deleted before"), ("shut_down_often", "deallocating could revert")],
    ),
    (
        "org tag mapped by routing config",
        vm(tags={"Lifetime": "2 days"}),
        VmFacts(),
        DURING,
        "avoid_self_service",
        [("short_lived", "short-lived")],
    ),
    (
        "org tag set to false: no signal",
        vm(tags={"AutoShutdown": "false", **TAGGED_NONE}),
        VmFacts(),
        DURING,
        "self_service",
        [("single_vm", "outside availability sets")],
    ),
    (
        "avoid wins over availability set",
        vm(availability_set=AS_ID),
        VmFacts(auto_shutdown=True),
        DURING,
        "avoid_self_service",
        [("shut_down_often", "auto-shutdown")],
    ),
    (
        "reason to self-serve in availability set: follow the plan",
        vm(availability_set=AS_ID, tags={"forewarn-advice": "ordered"}),
        VmFacts(),
        DURING,
        "self_service",
        [
            ("ordered", "order matters"),
            ("in_availability_set_follow_plan", "availability set WEB-AS"),
        ],
    ),
    (
        "each reason to self-serve has its code; old spellings still read",
        vm(tags={"forewarn-advice": "exact-window, finish-by, control-order, longer-gap"}),
        VmFacts(),
        DURING,
        "self_service",
        [
            ("exact_window", "announce an exact"),
            ("must_finish_by", "finished by a given date"),
            ("ordered", "order matters"),
            ("longer_gap", "more than 30 minutes"),
        ],
    ),
    (
        "window not open yet: self-serve later",
        with_status(self_service_allowed=False),
        VmFacts(),
        BEFORE,
        "self_service",
        [
            ("single_vm", "outside"),
            ("counter_indications_unknown", "cannot see"),
            ("self_service_opens_later", "opens at 2020-09-01T00:00:00Z"),
        ],
    ),
    (
        "window open but Azure says not now",
        vm(maintenance=replace(BASE.maintenance, self_service_allowed=False), tags=TAGGED_NONE),
        VmFacts(),
        DURING,
        "self_service",
        [
            ("single_vm", "outside"),
            ("self_service_not_allowed_now", "isCustomerInitiatedMaintenanceAllowed is false"),
        ],
    ),
    (
        "last attempt RetryLater is shown",
        vm(
            maintenance=replace(
                BASE.maintenance, last_result_code="RetryLater", last_message="host busy"
            ),
            tags=TAGGED_NONE,
        ),
        VmFacts(),
        DURING,
        "self_service",
        [("single_vm", "outside"), ("last_attempt_failed", "RetryLater: host busy")],
    ),
    (
        "window closed: Azure does it",
        vm(),
        VmFacts(),
        AFTER,
        "let_azure",
        [
            (
                "self_service_window_closed",
                "closed at 2020-10-01T00:00:00Z; Azure will do the maintenance in the scheduled "
                "window 2020-10-02T00:05:00Z to 2020-10-03T00:00:00Z",
            )
        ],
    ),
    (
        "already completed: nothing to do",
        with_status(last_result_code="MaintenanceCompleted"),
        VmFacts(auto_shutdown=True),
        DURING,
        "none",
        [("maintenance_completed", "already completed")],
    ),
    (
        "nothing planned",
        vm(maintenance=None),
        VmFacts(),
        DURING,
        "none",
        [("no_maintenance_planned", "no maintenance")],
    ),
]


@pytest.mark.parametrize(
    ("machine", "facts", "now", "action", "reasons"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_advice_given_signals_then_follows_azure_guidance_with_coded_reasons(
    machine: VirtualMachine,
    facts: VmFacts,
    now: datetime,
    action: str,
    reasons: list[tuple[str, str]],
) -> None:
    advice = advise(machine, facts, RULES, now)
    assert advice.action == action
    assert advice.reason_codes == [code for code, _ in reasons]
    for reason, (_, words) in zip(advice.reasons, reasons, strict=True):
        assert words.lower() in reason.text.lower()
        assert "(source: https://learn.microsoft.com/" in reason.text
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", reason.code)


def test_advice_given_resize_or_shutdown_then_never_claims_it_moves_the_vm_to_an_updated_host() -> (
    None
):
    # GIVEN every counter-indication at once WHEN advised THEN the texts follow the source:
    # resizing or shutting down *could revert* the maintenance status.
    machine = vm(tags={"forewarn-advice": "resized-often,shut-down-often"})
    advice = advise(machine, VmFacts(auto_shutdown=True), RULES, DURING)
    texts = " ".join(r.text for r in advice.reasons) + " ".join(f.text for f in advice.facts)
    assert "updated host" not in texts
    assert "revert" in advice.reasons[0].text and "revert" in advice.reasons[1].text
    assert "status_can_revert" in [fact.code for fact in advice.facts]


UNKNOWN_ALL = ["unknown"] * 5
CHECKS = [
    # (id, tags, facts, THEN state per counter-indication in guidance order:
    #  scheduled_events, temp_disk_state, resized_often, short_lived, shut_down_often)
    ("nothing told, nothing seen", {}, VmFacts(), UNKNOWN_ALL),
    (
        "auto-shutdown schedule seen; the rest unknown",
        {},
        VmFacts(auto_shutdown=True),
        ["unknown", "unknown", "unknown", "unknown", "applies"],
    ),
    (
        "ephemeral OS disk seen",
        {},
        VmFacts(ephemeral_os_disk=True),
        ["unknown", "applies", "unknown", "unknown", "unknown"],
    ),
    ("owner says none applies", TAGGED_NONE, VmFacts(), ["clear"] * 5),
    (
        "owner lists one: the others are clear",
        {"forewarn-advice": "short-lived"},
        VmFacts(),
        ["clear", "clear", "clear", "applies", "clear"],
    ),
    (
        "owner lists only a reason to self-serve: counter-indications clear",
        {"forewarn-advice": "exact-window"},
        VmFacts(),
        ["clear"] * 5,
    ),
    (
        "a tag value forewarn does not know describes nothing",
        {"forewarn-advice": "x"},
        VmFacts(),
        UNKNOWN_ALL,
    ),
]


@pytest.mark.parametrize(
    ("tags", "facts", "states"), [pytest.param(*case[1:], id=case[0]) for case in CHECKS]
)
def test_checks_given_tags_and_vm_facts_then_say_what_was_seen_and_what_cannot_be(
    tags: dict[str, str], facts: VmFacts, states: list[str]
) -> None:
    advice = advise(vm(tags=tags), facts, RULES, DURING)
    assert [c.code for c in advice.checks] == [
        "scheduled_events",
        "temp_disk_state",
        "resized_often",
        "short_lived",
        "shut_down_often",
    ]
    assert [c.state for c in advice.checks] == states
    assert advice.unknown_checks == [c.code for c in advice.checks if c.state == "unknown"]
    seen = {c.code: c.seen for c in advice.checks}
    if states == UNKNOWN_ALL:
        assert "no auto-shutdown schedule" in seen["shut_down_often"]
        assert "not visible to forewarn" in seen["resized_often"]


ADVISED_ALLOWED = [
    # (id, vm, now, THEN self_service_advised, self_service_allowed)
    ("single VM in an open window", vm(tags=TAGGED_NONE), DURING, True, True),
    ("single VM before the window opens", vm(), BEFORE, True, False),
    (
        "single VM, Azure says not now",
        with_status(self_service_allowed=False),
        DURING,
        True,
        False,
    ),
    ("availability set: allowed, not advised", vm(availability_set=AS_ID), DURING, False, True),
    (
        "shut down often: allowed, not advised",
        vm(tags={"forewarn-advice": "shut-down-often"}),
        DURING,
        False,
        True,
    ),
    ("window closed: neither", vm(), AFTER, False, False),
    ("nothing planned: neither", vm(maintenance=None), DURING, False, False),
]


@pytest.mark.parametrize(
    ("machine", "now", "advised", "allowed"),
    [pytest.param(*case[1:], id=case[0]) for case in ADVISED_ALLOWED],
)
def test_advice_given_a_situation_then_advised_and_allowed_are_told_apart(
    machine: VirtualMachine, now: datetime, advised: bool, allowed: bool
) -> None:
    advice = advise(machine, VmFacts(), RULES, now)
    assert (advice.self_service_advised, advice.self_service_allowed) == (advised, allowed)


FACT_CASES = [
    # (id, vm, facts, now, THEN fact codes)
    (
        "self-serve",
        vm(tags=TAGGED_NONE),
        VmFacts(),
        DURING,
        ["reboot_duration", "status_can_revert"],
    ),
    (
        "availability set",
        vm(availability_set=AS_ID),
        VmFacts(),
        DURING,
        ["update_domain_capacity", "reboot_duration", "scheduled_events_notice"],
    ),
    (
        "shut down on a schedule",
        vm(),
        VmFacts(auto_shutdown=True),
        DURING,
        ["reboot_duration", "scheduled_events_notice", "status_can_revert"],
    ),
    ("window closed", vm(), VmFacts(), AFTER, ["reboot_duration", "scheduled_events_notice"]),
    ("nothing planned", vm(maintenance=None), VmFacts(), DURING, []),
]


@pytest.mark.parametrize(
    ("machine", "facts", "now", "codes"),
    [pytest.param(*case[1:], id=case[0]) for case in FACT_CASES],
)
def test_facts_given_a_situation_then_the_sourced_facts_people_need(
    machine: VirtualMachine, facts: VmFacts, now: datetime, codes: list[str]
) -> None:
    advice = advise(machine, facts, RULES, now)
    assert [fact.code for fact in advice.facts] == codes
    assert all("(source: https://learn.microsoft.com/" in fact.text for fact in advice.facts)


FIGURES = [
    # (fact code, THEN words from the source document it must state)
    ("reboot_duration", ["about 25 minutes", "several minutes"]),
    ("update_domain_capacity", ["1/(number of update domains)", "add instances", "30 minutes"]),
    ("scheduled_events_notice", ["15-minute notice"]),
    ("status_can_revert", ["deallocating", "resizing", "auto-shutdown", "revert"]),
]


@pytest.mark.parametrize(("code", "words"), FIGURES)
def test_fact_given_its_code_then_states_the_sourced_figures(code: str, words: list[str]) -> None:
    text = FACTS[code].text
    assert all(word.lower() in text.lower() for word in words), text


def test_signals_given_several_sources_then_each_once_in_guidance_order() -> None:
    machine = vm(tags={"forewarn-advice": "short-lived,short-lived,bogus", "AutoShutdown": "yes"})
    assert signals_of(machine, VmFacts(ephemeral_os_disk=True), RULES) == [
        "temp_disk_state",
        "short_lived",
        "shut_down_often",
    ]


def test_advice_given_avoid_signals_then_cites_the_self_service_guidance() -> None:
    advice = advise(vm(), VmFacts(auto_shutdown=True), RULES, DURING)
    assert advice.reasons[0].text.endswith(f"(source: {GUIDANCE_URL})")
    assert maintenance_status(SAMPLE) == BASE.maintenance


def test_advice_given_a_round_trip_through_json_then_unchanged_and_old_records_still_read() -> None:
    machine = replace(vm(), advice=advise(vm(), VmFacts(auto_shutdown=True), RULES, DURING))
    assert VirtualMachine.from_json(machine.to_json()) == machine
    old = {**machine.to_json(), "advice": {"action": "let_azure", "reasons": ["as before"]}}
    assert VirtualMachine.from_json(old).advice.reasons == [
        AdviceReason("unspecified", "as before")
    ]


def test_unknown_counter_indications_given_none_seen_then_read_as_one_sentence() -> None:
    reads = (
        "it cannot see whether the VM uses Scheduled Events, keeps state on its temporary "
        "disk or is resized often, short-lived or shut down often."
    )
    # GIVEN a standalone VM whose owner has not told forewarn which counter-indications apply
    advice = advise(vm(tags={}), VmFacts(), RULES, DURING)
    (reason,) = [r for r in advice.reasons if r.code == "counter_indications_unknown"]
    # THEN the unknown ones read as English (they are what a person checks before starting)
    assert reads in reason.text, reason.text
