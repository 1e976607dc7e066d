"""The self-service plan, case by case: which VMs go together, in what order, when, and warnings.

Steps follow what keeps a service up: availability sets and scale sets by update domain (Azure's
own unit), zonal VMs one zone at a time, every other VM on its own unless the ``forewarn-group``
tag puts VMs together. An update domain reported by a standalone VM means nothing.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.enrich.plan import PlanSettings, plan_maintenance, step_command, step_label
from shared.models import Advice, MaintenancePlan, PlanStep, VirtualMachine
from shared.timeutil import parse_utc
from tests.conftest import load_fixture

# The real sample's window: self-service 2020-09-01T00:00Z to 2020-10-01T00:00Z.
SAMPLE = load_fixture("arm-vm-instanceview-plannedmaintenance-example-2020-06-01.json")
SELF = Advice("self_service", ["single VM"])
AS_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/availabilitySets/AS"
SS_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/S"
NO_LEAD = PlanSettings(lead_minutes=0)


def vm(name: str, domain: int | None, advice: Advice = SELF, **changes: object) -> VirtualMachine:
    ref = VmRef(
        f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"
    )
    machine = replace(to_virtual_machine(ref, None, SAMPLE), update_domain=domain, advice=advice)
    return replace(machine, **changes)  # type: ignore[arg-type]


def in_set(name: str, domain: int | None) -> VirtualMachine:
    return vm(name, domain, availability_set=AS_ID)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


SET_FLEET = [in_set("c", 2), in_set("a", 0), in_set("b", 1), in_set("a2", 0)]
MIXED = [
    vm("db2", 0),
    vm("db1", 0),  # two standalone databases in "update domain 0": never one step
    vm("z2", 0, zone="2"),
    vm("z1b", 3, zone="1"),
    vm("z1a", 0, zone="1"),
    vm("g2", 1, tags={"forewarn-group": "Batch"}),
    vm("g1", 0, tags={"Forewarn-Group": "batch "}),
    in_set("w1", 1),
    in_set("w0", 0),
    vm("s0", 0, scale_set=SS_ID),
]

CASES = [
    # id, GIVEN vms, now, settings, THEN steps (label, start, end, vm names), warning fragments
    (
        "sets, zones, groups and standalone VMs each by what keeps them up",
        MIXED,
        at("2020-09-10T10:00:00"),
        NO_LEAD,
        [
            ("update domain 0", "10:00", "10:30", ["s0", "w0"]),
            ("update domain 1", "11:00", "11:30", ["w1"]),
            ("zone 1", "12:00", "12:30", ["z1a", "z1b"]),
            ("zone 2", "13:00", "13:30", ["z2"]),
            ("group batch", "14:00", "14:30", ["g1", "g2"]),
            ("VM db1", "15:00", "15:30", ["db1"]),
            ("VM db2", "16:00", "16:30", ["db2"]),
        ],
        [],
    ),
    (
        "standalone VMs in the same reported update domain: one per step",
        [vm("sql-b", 0), vm("sql-a", 0)],
        at("2020-09-10T10:00:00"),
        NO_LEAD,
        [("VM sql-a", "10:00", "10:30", ["sql-a"]), ("VM sql-b", "11:00", "11:30", ["sql-b"])],
        [],
    ),
    (
        "three update domains in order, 30 min each + 30 min gap",
        SET_FLEET,
        at("2020-09-10T10:03:00"),
        NO_LEAD,
        [
            ("update domain 0", "10:05", "10:35", ["a", "a2"]),
            ("update domain 1", "11:05", "11:35", ["b"]),
            ("update domain 2", "12:05", "12:35", ["c"]),
        ],
        [],
    ),
    (
        "the first step starts no sooner than the lead time (default one hour)",
        SET_FLEET[:2],
        at("2020-09-10T10:03:00"),
        PlanSettings(),
        [
            ("update domain 0", "11:05", "11:35", ["a"]),
            ("update domain 2", "12:05", "12:35", ["c"]),
        ],
        [],
    ),
    (
        "a longer gap is honoured",
        SET_FLEET[:2],
        at("2020-09-10T10:00:00"),
        PlanSettings(gap_minutes=60, lead_minutes=0),
        [
            ("update domain 0", "10:00", "10:30", ["a"]),
            ("update domain 2", "11:30", "12:00", ["c"]),
        ],
        [],
    ),
    (
        "a gap under Azure's 30 minutes is warned about",
        SET_FLEET[:2],
        at("2020-09-10T10:00:00"),
        PlanSettings(gap_minutes=10, lead_minutes=0),
        [
            ("update domain 0", "10:00", "10:30", ["a"]),
            ("update domain 2", "10:40", "11:10", ["c"]),
        ],
        ["shorter than the 30 minutes"],
    ),
    (
        "before the window opens: start when it opens",
        SET_FLEET[1:3],
        at("2020-08-20T08:00:00"),
        PlanSettings(),
        [
            ("update domain 0", "00:00", "00:30", ["a"]),
            ("update domain 1", "01:00", "01:30", ["b"]),
        ],
        [],
    ),
    (
        "unknown update domain goes last",
        [in_set("x", None), in_set("a", 0)],
        at("2020-09-10T10:00:00"),
        NO_LEAD,
        [
            ("update domain 0", "10:00", "10:30", ["a"]),
            ("update domain unknown", "11:00", "11:30", ["x"]),
        ],
        [],
    ),
    (
        "window too short: late steps named",
        SET_FLEET,
        at("2020-09-30T22:50:00"),
        NO_LEAD,
        [
            ("update domain 0", "22:50", "23:20", ["a", "a2"]),
            ("update domain 1", "23:50", "00:20", ["b"]),
            ("update domain 2", "00:50", "01:20", ["c"]),
        ],
        [
            "closes at 2020-10-01T00:00:00Z",
            "runs until 2020-10-01T01:20:00Z",
            "step(s) 2 (update domain 1), 3 (update domain 2)",
        ],
    ),
    (
        "VMs advised otherwise are not planned",
        [vm("a", 0), vm("s", 1, Advice("let_azure", ["set"])), vm("d", 2, Advice("none", []))],
        at("2020-09-10T10:00:00"),
        NO_LEAD,
        [("VM a", "10:00", "10:30", ["a"])],
        [],
    ),
]


@pytest.mark.parametrize(
    ("vms", "now", "settings", "steps", "warnings"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_plan_given_vms_then_steps_keep_related_vms_apart_inside_the_window(
    vms: list[VirtualMachine],
    now: datetime,
    settings: PlanSettings,
    steps: list[tuple[str, str, str, list[str]]],
    warnings: list[str],
) -> None:
    plan = plan_maintenance(vms, now, settings)
    assert plan is not None
    got = [
        (step_label(s), s.start[11:16], s.end[11:16], [i.rsplit("/", 1)[-1] for i in s.vm_ids])
        for s in plan.steps
    ]
    assert got == steps
    assert [s.order for s in plan.steps] == list(range(1, len(steps) + 1))
    assert (plan.gap_minutes, plan.step_minutes) == (settings.gap_minutes, settings.step_minutes)
    text = " ".join(plan.warnings)
    assert all(fragment in text for fragment in warnings), text
    assert bool(plan.warnings) == bool(warnings)


@pytest.mark.parametrize(
    ("vms", "now", "settings"),
    [pytest.param(case[1], case[2], case[3], id=case[0]) for case in CASES],
)
def test_plan_given_any_case_then_its_stated_spacing_and_lead_hold_for_every_step(
    vms: list[VirtualMachine], now: datetime, settings: PlanSettings
) -> None:
    plan = plan_maintenance(vms, now, settings)
    assert plan is not None
    starts = [parse_utc(s.start) for s in plan.steps]
    ends = [parse_utc(s.end) for s in plan.steps]
    assert plan.lead_minutes == settings.lead_minutes
    assert starts[0] >= now + timedelta(minutes=plan.lead_minutes)  # never in the past
    for before, after, end in zip(starts, starts[1:], ends, strict=False):
        assert after - before >= timedelta(minutes=plan.spacing_minutes)
        assert after - end >= timedelta(minutes=plan.gap_minutes)
    assert plan.spacing_minutes == settings.step_minutes + settings.gap_minutes


STEP_KINDS = [
    # GIVEN a step WHEN labelled THEN what it names
    (PlanStep(1, 3, ["x"], "s", "e"), "update domain 3"),
    (PlanStep(1, None, ["x"], "s", "e", kind="zone", zone="2"), "zone 2"),
    (PlanStep(1, None, ["x"], "s", "e", kind="group", group="db"), "group db"),
    (
        PlanStep(1, None, ["/subscriptions/s/x/virtualMachines/web1"], "s", "e", kind="vm"),
        "VM web1",
    ),
]


@pytest.mark.parametrize(("step", "label"), STEP_KINDS)
def test_step_label_given_its_kind_then_names_what_the_vms_share(
    step: PlanStep, label: str
) -> None:
    assert step_label(step) == label


def test_step_command_given_a_step_then_one_pasteable_start_maintenance_line() -> None:
    plan = plan_maintenance(MIXED, at("2020-09-10T10:00:00"), NO_LEAD)
    assert plan is not None
    first = plan.steps[0]
    command = step_command(first)
    assert shlex.split(command) == ["forewarn", "start-maintenance", *first.vm_ids]
    odd = replace(first, vm_ids=["/subscriptions/s/resourceGroups/r g/x; rm -rf"])
    assert shlex.split(step_command(odd))[2:] == odd.vm_ids  # quoted, never interpreted


def test_plan_given_it_travels_as_json_then_reads_back_the_same() -> None:
    plan = plan_maintenance(MIXED, at("2020-09-10T10:00:00"), PlanSettings())
    assert plan is not None
    from dataclasses import asdict

    assert MaintenancePlan.from_json(asdict(plan)) == plan
    assert [fact.code for fact in plan.facts] == ["reboot_duration", "status_can_revert"]


def test_plan_given_no_vm_to_self_serve_then_none() -> None:
    now = at("2020-09-10T10:00:00")
    assert plan_maintenance([vm("s", 0, Advice("let_azure", []))], now) is None
    assert plan_maintenance([], at("2020-09-10T10:00:00")) is None
