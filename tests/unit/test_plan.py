"""The self-service plan, case by case: update-domain order, gaps, the window, warnings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.enrich.plan import PlanSettings, plan_maintenance
from shared.models import Advice, VirtualMachine
from tests.conftest import load_fixture

# The real sample's window: self-service 2020-09-01T00:00Z to 2020-10-01T00:00Z.
SAMPLE = load_fixture("arm-vm-instanceview-plannedmaintenance-example-2020-06-01.json")
SELF = Advice("self_service", ["single VM"])


def vm(name: str, domain: int | None, advice: Advice = SELF) -> VirtualMachine:
    ref = VmRef(
        f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"
    )
    return replace(to_virtual_machine(ref, None, SAMPLE), update_domain=domain, advice=advice)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


FLEET = [vm("c", 2), vm("a", 0), vm("b", 1), vm("a2", 0)]

CASES = [
    # id, vms, now, settings, expected steps (domain, start, end, vm names), warning fragments
    (
        "three domains in order, 30 min each + 30 min gap",
        FLEET,
        at("2020-09-10T10:03:00"),
        PlanSettings(),
        [
            (0, "10:05", "10:35", ["a", "a2"]),
            (1, "11:05", "11:35", ["b"]),
            (2, "12:05", "12:35", ["c"]),
        ],
        [],
    ),
    (
        "a longer gap is honoured",
        FLEET[:2],
        at("2020-09-10T10:00:00"),
        PlanSettings(gap_minutes=60),
        [(0, "10:00", "10:30", ["a"]), (2, "11:30", "12:00", ["c"])],
        [],
    ),
    (
        "a gap under Azure's 30 minutes is warned about",
        FLEET[:2],
        at("2020-09-10T10:00:00"),
        PlanSettings(gap_minutes=10),
        [(0, "10:00", "10:30", ["a"]), (2, "10:40", "11:10", ["c"])],
        ["shorter than the 30 minutes"],
    ),
    (
        "before the window opens: start when it opens",
        FLEET[1:3],
        at("2020-08-20T08:00:00"),
        PlanSettings(),
        [(0, "00:00", "00:30", ["a"]), (1, "01:00", "01:30", ["b"])],
        [],
    ),
    (
        "unknown update domain goes last",
        [vm("x", None), vm("a", 0)],
        at("2020-09-10T10:00:00"),
        PlanSettings(),
        [(0, "10:00", "10:30", ["a"]), (None, "11:00", "11:30", ["x"])],
        [],
    ),
    (
        "window too short: late domains named",
        FLEET,
        at("2020-09-30T22:50:00"),
        PlanSettings(),
        [
            (0, "22:50", "23:20", ["a", "a2"]),
            (1, "23:50", "00:20", ["b"]),
            (2, "00:50", "01:20", ["c"]),
        ],
        ["closes at 2020-10-01T00:00:00Z", "runs until 2020-10-01T01:20:00Z", "domain(s) 1, 2"],
    ),
    (
        "VMs advised otherwise are not planned",
        [vm("a", 0), vm("s", 1, Advice("let_azure", ["set"])), vm("d", 2, Advice("none", []))],
        at("2020-09-10T10:00:00"),
        PlanSettings(),
        [(0, "10:00", "10:30", ["a"])],
        [],
    ),
]


@pytest.mark.parametrize(
    ("vms", "now", "settings", "steps", "warnings"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_plan_given_vms_then_orders_by_update_domain_inside_the_window(
    vms: list[VirtualMachine],
    now: datetime,
    settings: PlanSettings,
    steps: list[tuple[int | None, str, str, list[str]]],
    warnings: list[str],
) -> None:
    plan = plan_maintenance(vms, now, settings)
    assert plan is not None
    got = [
        (s.update_domain, s.start[11:16], s.end[11:16], [i.rsplit("/", 1)[-1] for i in s.vm_ids])
        for s in plan.steps
    ]
    assert got == steps
    assert [s.order for s in plan.steps] == list(range(1, len(steps) + 1))
    assert plan.gap_minutes == settings.gap_minutes
    text = " ".join(plan.warnings)
    assert all(fragment in text for fragment in warnings)
    assert bool(plan.warnings) == bool(warnings)


def test_plan_given_no_vm_to_self_serve_then_none() -> None:
    now = at("2020-09-10T10:00:00")
    assert plan_maintenance([vm("s", 0, Advice("let_azure", []))], now) is None
    assert plan_maintenance([], at("2020-09-10T10:00:00")) is None
