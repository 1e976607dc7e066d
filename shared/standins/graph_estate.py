"""Generated tenant-sized estates for the Resource Graph stand-in (tests, ``bench scale``).

    estate = skewed_estate(subscriptions=500, vms=50_000, big=10, big_share=0.5,
                           in_wave=0.02, start=START, seed=23)

``big`` subscriptions hold ``big_share`` of the VMs between them, the rest share the remainder
(as estates grow: a few landing zones hold most of the fleet). ``in_wave`` of the VMs, drawn
at random over the whole estate, have a maintenance window; the rest have none.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from shared.standins.arm_fleet import Fleet, FleetVm, window_from


@dataclass(frozen=True)
class Estate:
    fleet: Fleet
    subscriptions: list[str]
    wave: list[str]  # lower-cased ids of the VMs with a window

    def sizes(self) -> dict[str, int]:
        counts = dict.fromkeys(self.subscriptions, 0)
        for vm in self.fleet.vms.values():
            counts[vm.subscription_id] += 1
        return counts


def subscription_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def skewed_estate(
    *,
    subscriptions: int,
    vms: int,
    big: int,
    big_share: float,
    in_wave: float,
    start: datetime,
    seed: int = 23,
) -> Estate:
    rng = random.Random(seed)
    names = [subscription_id(index) for index in range(subscriptions)]
    big_vms = round(vms * big_share) if big else 0
    sizes = [big_vms // big + (1 if i < big_vms % big else 0) for i in range(big)] if big else []
    small = subscriptions - big
    rest = vms - big_vms
    sizes += [rest // small + (1 if i < rest % small else 0) for i in range(small)]
    wave = set(rng.sample(range(vms), round(vms * in_wave)))
    fleet = Fleet()
    serial = 0
    for subscription, size in zip(names, sizes, strict=True):
        for index in range(size):
            fleet.add(
                FleetVm(
                    subscription,
                    f"rg-{index % 20:02d}",
                    f"vm-{index:05d}",
                    update_domain=index % 5,
                    fault_domain=index % 3,
                    availability_set=f"as-{index % 40}" if index % 4 == 0 else None,
                    tags={"env": "prod" if index % 2 else "test"},
                    maintenance=window_from(start) if serial in wave else None,
                    auto_shutdown=index % 50 == 7,
                )
            )
            serial += 1
    in_the_wave = [vm.id.lower() for vm in fleet.vms.values() if vm.maintenance is not None]
    return Estate(fleet, names, in_the_wave)
