"""A proposed self-service order: one update domain at a time, inside the self-service window.

Azure itself walks update domains one at a time with at least 30 minutes between them; a
plan that people follow should do no worse. Each step gets ``step_minutes`` for the
maintenance of its domain (the redeploy and the checks after it), then ``gap_minutes`` pass
before the next domain starts. Only VMs whose advice is ``self_service`` are planned.

A step cannot start before the self-service window of all its VMs opens (nor before now) and
should end before the first of those windows closes. When it cannot, the plan still lists it
and says so: those VMs fall to Azure's scheduled window unless someone acts sooner.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.models import MaintenancePlan, PlanStep, TimeWindow, VirtualMachine
from shared.timeutil import format_utc

AZURE_MINIMUM_GAP_MINUTES = 30


@dataclass(frozen=True)
class PlanSettings:
    gap_minutes: int = AZURE_MINIMUM_GAP_MINUTES  # between the end of one domain and the next
    step_minutes: int = 30  # time given to one update domain
    align_minutes: int = 5  # start times people can read: 14:05, not 14:03:27


def _align_up(moment: datetime, minutes: int) -> datetime:
    if minutes <= 1:
        return moment.replace(second=0, microsecond=0) + (
            timedelta(minutes=1) if moment.second or moment.microsecond else timedelta()
        )
    step = minutes * 60
    seconds = moment.timestamp()
    return datetime.fromtimestamp(math.ceil(seconds / step) * step, tz=moment.tzinfo)


def domain_order(domains: Iterable[int | None]) -> list[int | None]:
    """The order update domains are walked in: ascending, an unknown domain last."""
    return sorted(set(domains), key=lambda domain: (domain is None, domain or 0))


def plan_maintenance(
    vms: Iterable[VirtualMachine], now: datetime, settings: PlanSettings | None = None
) -> MaintenancePlan | None:
    """The plan for the VMs advised to self-serve, or ``None`` when there are none."""
    settings = settings or PlanSettings()
    domains: dict[int | None, list[VirtualMachine]] = defaultdict(list)
    for vm in vms:
        if vm.advice.action == "self_service" and vm.maintenance is not None:
            domains[vm.update_domain].append(vm)
    if not domains:
        return None
    warnings: list[str] = []
    if settings.gap_minutes < AZURE_MINIMUM_GAP_MINUTES:
        warnings.append(
            f"A gap of {settings.gap_minutes} minutes is shorter than the "
            f"{AZURE_MINIMUM_GAP_MINUTES} minutes Azure keeps between update domains."
        )
    step_length = timedelta(minutes=settings.step_minutes)
    gap = timedelta(minutes=settings.gap_minutes)
    cursor = _align_up(now, settings.align_minutes)
    steps: list[PlanStep] = []
    late: list[PlanStep] = []
    earliest_close: datetime | None = None
    # Domains in ascending order; VMs whose domain is unknown go last, as their own step.
    for order, domain in enumerate(domain_order(domains), 1):
        members = domains[domain]
        opens = [w.start_dt for w in _windows(members) if w.start_dt is not None]
        closes = [w.end_dt for w in _windows(members) if w.end_dt is not None]
        start = max([cursor, *(_align_up(o, settings.align_minutes) for o in opens)])
        end = start + step_length
        step = PlanStep(
            order=order,
            update_domain=domain,
            vm_ids=sorted(vm.id for vm in members),
            start=format_utc(start),
            end=format_utc(end),
        )
        steps.append(step)
        if closes and end > min(closes):
            late.append(step)
            earliest_close = min([*closes, *([earliest_close] if earliest_close else [])])
        cursor = end + gap
    if late and earliest_close is not None:
        domains_text = ", ".join(
            str(step.update_domain) if step.update_domain is not None else "unknown"
            for step in late
        )
        warnings.append(
            f"The self-service window closes at {format_utc(earliest_close)} but the plan "
            f"runs until {steps[-1].end} ({len(steps)} update domains, "
            f"{settings.step_minutes} + {settings.gap_minutes} minutes each): update "
            f"domain(s) {domains_text} would end after it closes; Azure does those VMs in "
            "the scheduled window unless they are started sooner."
        )
    return MaintenancePlan(steps=steps, gap_minutes=settings.gap_minutes, warnings=warnings)


def _windows(vms: list[VirtualMachine]) -> list[TimeWindow]:
    return [vm.maintenance.self_service_window for vm in vms if vm.maintenance is not None]
