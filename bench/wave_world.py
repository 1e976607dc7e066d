"""The simulated fleet of ``python -m bench wave``: what really happens to each VM, and when.

Ground truth, kept apart from what forewarn reads: the benchmark judges every message by it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.standins.arm_fleet import Fleet, FleetVm, redeploy_status
from shared.timeutil import parse_utc

START = datetime(2030, 3, 2, 0, tzinfo=UTC)


def windows(close: datetime) -> dict[str, Any]:
    """Self-service from the wave's start to ``close``, Azure's window five minutes later."""
    return redeploy_status(START, close, close + timedelta(minutes=5), close + timedelta(hours=8))


@dataclass
class Truth:
    """What really happened to one VM, for judging what people were told."""

    vm: FleetVm
    visible_at: datetime  # when its maintenance could first be known
    mid_wave: bool
    first_close: str  # its self-service window's first end (ISO 8601)
    done_at: datetime | None = None
    deleted_at: datetime | None = None

    def finished(self, now: datetime) -> bool:
        return any(
            moment is not None and moment <= now for moment in (self.done_at, self.deleted_at)
        )


@dataclass
class World:
    fleet: Fleet
    subscriptions: list[str]
    truths: dict[str, Truth] = field(default_factory=dict)
    actions: list[tuple[datetime, int, str, Any]] = field(default_factory=list)

    def at(self, moment: datetime, what: str, vm_id: str, *extra: Any) -> None:
        self.actions.append((moment, len(self.actions), what, (vm_id, *extra)))


def build_world(subscriptions: list[str], total: int, rng: random.Random) -> World:
    world = World(Fleet(), subscriptions)
    # Exact shares, shuffled: 10 % created mid-wave; 20 % maintained by their owners, 10 %
    # deallocated and rescheduled, 5 % deleted (the rest left to Azure).
    mid = set(rng.sample(range(total), total // 10))
    fates = ["owner"] * (total // 5) + ["move"] * (total // 10) + ["delete"] * (total // 20)
    fates += [""] * (total - len(fates))
    rng.shuffle(fates)
    serial = 0
    for number, subscription in enumerate(subscriptions):
        share = total // len(subscriptions) + (number < total % len(subscriptions))
        for index in range(share):
            days = rng.uniform(5, 18)
            close = (START + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
            vm = FleetVm(
                subscription,
                f"rg-{index % 5}",
                f"vm-{index:03d}",
                update_domain=index % 5,
                availability_set=f"as-{index % 7}" if index % 6 == 0 else None,
                maintenance=windows(close),
            )
            mid_wave, fate = serial in mid, fates[serial]
            serial += 1
            # Created at least two days before its self-service window closes.
            created = (
                START + timedelta(days=rng.uniform(1, min(10, days - 2))) if mid_wave else START
            )
            truth = Truth(vm, created, mid_wave, vm.maintenance["preMaintenanceWindowEndTime"])
            world.truths[vm.id.lower()] = truth
            if mid_wave:
                world.at(created, "create", vm.id)
            else:
                world.fleet.add(vm)
            if fate == "owner":  # the owner starts it during the self-service window
                world.at(created + (close - created) * rng.uniform(0.2, 0.9), "owner", vm.id)
            elif fate == "move":  # deallocated: Azure schedules it again, later
                moved = close + timedelta(days=rng.uniform(1, 3))
                world.at(created + (close - created) * rng.uniform(0.1, 0.6), "move", vm.id, moved)
            elif fate == "delete":
                world.at(created + (close - created) * rng.uniform(0.1, 0.9), "delete", vm.id)
    return world


def apply(world: World, what: str, args: tuple[Any, ...], now: datetime) -> None:
    vm_id = args[0]
    truth = world.truths[vm_id.lower()]
    vm = truth.vm
    if truth.finished(now):
        return
    if what == "create":
        world.fleet.add(vm)
    elif what == "owner":
        vm.maintenance = {
            **(vm.maintenance or {}),
            "lastOperationResultCode": "MaintenanceCompleted",
        }
        truth.done_at = now
    elif what == "move":
        vm.maintenance = windows(args[1])
    elif what == "delete":
        world.fleet.vms.pop(vm.id.lower(), None)
        truth.deleted_at = now


def azure_maintains(world: World, now: datetime) -> None:
    """At its scheduled start Azure does it: the maintenance information goes away."""
    for truth in world.truths.values():
        status = truth.vm.maintenance
        if status is None or truth.finished(now) or truth.vm.id.lower() not in world.fleet.vms:
            continue
        if parse_utc(status["maintenanceWindowStartTime"]) + timedelta(hours=1) <= now:
            truth.vm.maintenance = None
            truth.done_at = now
