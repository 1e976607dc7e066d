"""A proposed self-service order: one step at a time, inside the self-service window.

Which VMs may restart together follows what keeps a service up (``step_key``):

- VMs of availability sets and scale sets go by update domain, Azure's own unit: each set
  keeps all its other domains up. Sets share a step per domain number.
- Zonal VMs outside sets go one zone at a time (zone redundancy keeps the other zones up).
- Any other VM goes alone: the update domain a standalone VM reports means nothing outside an
  availability set, and grouping by it once put two database servers in one step. The
  ``forewarn-group`` tag puts VMs outside sets into one step on purpose.

Each step gets ``step_minutes`` (the redeploy and the checks after it), then ``gap_minutes``
pass before the next starts (Azure keeps at least 30 between update domains): steps start at
least ``spacing_minutes`` apart, which is what a message may state. The first step starts no
sooner than ``lead_minutes`` after the plan is made, so nobody is told to act in the past.

A step cannot start before the self-service window of all its VMs opens and should end before
the first of those windows closes. When it cannot, the plan still lists it and says so: those
VMs fall to Azure's scheduled window unless someone acts sooner.
"""

from __future__ import annotations

import math
import shlex
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Final

from shared.enrich.guidance import DEFAULT_GROUP_TAG, FACTS
from shared.models import MaintenancePlan, PlanStep, StepKind, TimeWindow, VirtualMachine
from shared.parsing.resource_id import parse_vm_id
from shared.timeutil import format_utc, parse_utc

AZURE_MINIMUM_GAP_MINUTES: Final = 30
DEFAULT_LEAD_MINUTES: Final = 60
_KIND_RANK: Final[Mapping[StepKind, int]] = {"update_domain": 0, "zone": 1, "group": 2, "vm": 3}


class PlanSettingError(ValueError):
    """A plan setting that is not a whole number of minutes, or is negative."""


@dataclass(frozen=True)
class PlanSettings:
    gap_minutes: int = AZURE_MINIMUM_GAP_MINUTES  # between the end of one step and the next
    step_minutes: int = 30  # time given to one step
    align_minutes: int = 5  # start times people can read: 14:05, not 14:03:27
    lead_minutes: int = DEFAULT_LEAD_MINUTES  # no step starts sooner after the plan is made
    group_tag: str = DEFAULT_GROUP_TAG

    @classmethod
    def with_lead(cls, text: str | None) -> PlanSettings:
        """Settings with the lead time of ``FOREWARN_PLAN_LEAD_MINUTES`` (empty: default)."""
        if not text or not text.strip():
            return cls()
        try:
            minutes = int(text.strip())
        except ValueError:
            raise PlanSettingError(
                f"lead time is not a whole number of minutes: {text!r}"
            ) from None
        if minutes < 0:
            raise PlanSettingError(f"lead time is negative: {minutes}")
        return cls(lead_minutes=minutes)


@dataclass(frozen=True, order=True)
class StepKey:
    """What the VMs of one step share; orders as the steps go."""

    rank: int
    sort: tuple[int, str]
    kind: StepKind
    value: str | None  # the update domain, zone, group or VM id; None: unknown update domain


def _tag(vm: VirtualMachine, name: str) -> str:
    wanted = name.lower()
    return next((v.strip() for k, v in vm.tags.items() if k.lower() == wanted), "")


def step_key(vm: VirtualMachine, group_tag: str = DEFAULT_GROUP_TAG) -> StepKey:
    """Which step a VM belongs in (see the module docstring)."""
    if vm.availability_set or vm.scale_set:
        domain = vm.update_domain
        sort = (1, "") if domain is None else (0, f"{domain:09d}")
        return StepKey(0, sort, "update_domain", None if domain is None else str(domain))
    group = _tag(vm, group_tag).lower()
    if group:
        return StepKey(2, (0, group), "group", group)
    if vm.zone:
        zone = vm.zone.strip()
        return StepKey(1, (0, zone.zfill(9)), "zone", zone)
    return StepKey(3, (0, f"{vm.name.lower()}\n{vm.id.lower()}"), "vm", vm.id)


def step_label(step: PlanStep) -> str:
    """What a step's VMs share, for people: "update domain 0", "zone 2", "group db", "VM web1"."""
    if step.kind == "zone":
        return f"zone {step.zone}"
    if step.kind == "group":
        return f"group {step.group}"
    if step.kind == "vm":
        return "VM " + (step.vm_ids[0].rstrip("/").rsplit("/", 1)[-1] if step.vm_ids else "?")
    return f"update domain {'unknown' if step.update_domain is None else step.update_domain}"


def step_command(step: PlanStep) -> str:
    """The ``forewarn start-maintenance`` line that starts this step's VMs (shell-quoted).

    Without ``--yes`` it only says what it would do; people add ``--yes`` once it reads right.
    """
    return shlex.join(["forewarn", "start-maintenance", *step.vm_ids])


def az_command(vm_id: str) -> str | None:
    """The plain Azure CLI line that starts one VM's maintenance (shell-quoted), for anyone
    without forewarn; ``None`` when the id does not name a VM."""
    vm = parse_vm_id(vm_id)
    if vm is None:
        return None
    return shlex.join(
        [
            "az",
            "vm",
            "perform-maintenance",
            "-g",
            vm.resource_group,
            "-n",
            vm.name,
            "--subscription",
            vm.subscription_id,
        ]
    )


def step_az_commands(step: PlanStep) -> list[str]:
    """``az vm perform-maintenance`` for each VM of the step, beside its ``forewarn`` line."""
    return [line for vm_id in step.vm_ids if (line := az_command(vm_id)) is not None]


def duration_text(span: timedelta) -> str:
    """``45 min``, ``2 h``, ``2 h 30 min``, ``1 day``, ``3 days 4 h``: a span for people."""
    minutes = max(0, round(span.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if not days and not hours:
        return f"{mins} min"
    if not days:
        return f"{hours} h" + (f" {mins} min" if mins else "")
    text = f"{days} day{'s' if days != 1 else ''}"
    return text + (f" {hours} h" if hours else "") + (f" {mins} min" if mins else "")


def spacing_phrase(starts: list[datetime]) -> str:
    """How far apart steps starting at ``starts`` really are, start to start: "60 min apart",
    or "60 min to 1 day apart" when some moved (to a quietest hour, or past a window's
    opening); "" for fewer than two steps. Never the planned spacing alone: the steps are
    what people read beside it."""
    ordered = sorted(starts)
    gaps = [later - earlier for earlier, later in pairwise(ordered)]
    if not gaps:
        return ""
    least, most = min(gaps), max(gaps)
    if duration_text(least) == duration_text(most):
        return f"{duration_text(least)} apart"
    return f"{duration_text(least)} to {duration_text(most)} apart"


def plan_heading(starts: list[datetime]) -> str:
    """ "1 step", "2 steps, 1 day apart (start to start)": what a plan's header says."""
    count = len(starts)
    heading = f"{count} step{'s' if count != 1 else ''}"
    phrase = spacing_phrase(starts)
    return f"{heading}, {phrase} (start to start)" if phrase else heading


def _align_up(moment: datetime, minutes: int) -> datetime:
    if minutes <= 1:
        return moment.replace(second=0, microsecond=0) + (
            timedelta(minutes=1) if moment.second or moment.microsecond else timedelta()
        )
    step = minutes * 60
    seconds = moment.timestamp()
    return datetime.fromtimestamp(math.ceil(seconds / step) * step, tz=moment.tzinfo)


def group_into_steps(
    vms: Iterable[VirtualMachine], group_tag: str = DEFAULT_GROUP_TAG
) -> list[tuple[StepKey, list[VirtualMachine]]]:
    """The VMs by step, in the order the steps go."""
    steps: dict[StepKey, list[VirtualMachine]] = defaultdict(list)
    for vm in vms:
        steps[step_key(vm, group_tag)].append(vm)
    return [(key, steps[key]) for key in sorted(steps)]


def _step(
    order: int,
    key: StepKey,
    members: list[VirtualMachine],
    start: datetime,
    end: datetime,
    quietest: bool = False,
) -> PlanStep:
    return PlanStep(
        quietest=quietest,
        order=order,
        update_domain=int(key.value) if key.kind == "update_domain" and key.value else None,
        vm_ids=sorted(vm.id for vm in members),
        start=format_utc(start),
        end=format_utc(end),
        kind=key.kind,
        zone=key.value if key.kind == "zone" else None,
        group=key.value if key.kind == "group" else None,
    )


def plan_maintenance(
    vms: Iterable[VirtualMachine], now: datetime, settings: PlanSettings | None = None
) -> MaintenancePlan | None:
    """The plan for the VMs advised to self-serve, or ``None`` when there are none."""
    settings = settings or PlanSettings()
    chosen = [vm for vm in vms if vm.advice.action == "self_service" and vm.maintenance]
    if not chosen:
        return None
    warnings: list[str] = []
    if settings.gap_minutes < AZURE_MINIMUM_GAP_MINUTES:
        warnings.append(
            f"A gap of {settings.gap_minutes} minutes is shorter than the "
            f"{AZURE_MINIMUM_GAP_MINUTES} minutes Azure keeps between update domains."
        )
    step_length = timedelta(minutes=settings.step_minutes)
    gap = timedelta(minutes=settings.gap_minutes)
    cursor = _align_up(now + timedelta(minutes=settings.lead_minutes), settings.align_minutes)
    steps: list[PlanStep] = []
    late: list[PlanStep] = []
    earliest_close: datetime | None = None
    groups = group_into_steps(chosen, settings.group_tag)
    closes_of = [_closes(members) for _, members in groups]
    latest = _latest_starts(closes_of, step_length, gap)
    for order, (key, members) in enumerate(groups, 1):
        opens = [w.start_dt for w in _windows(members) if w.start_dt is not None]
        closes = closes_of[order - 1]
        start = max([cursor, *(_align_up(o, settings.align_minutes) for o in opens)])
        quiet = _quiet_start(members, start, latest[order - 1], settings.align_minutes)
        start = quiet or start
        end = start + step_length
        step = _step(order, key, members, start, end, quietest=quiet is not None)
        steps.append(step)
        if closes and end > min(closes):
            late.append(step)
            earliest_close = min([*closes, *([earliest_close] if earliest_close else [])])
        cursor = end + gap
    if late and earliest_close is not None:
        named = ", ".join(f"{step.order} ({step_label(step)})" for step in late)
        warnings.append(
            f"The self-service window closes at {format_utc(earliest_close)} but the plan "
            f"runs until {steps[-1].end} ({len(steps)} steps, "
            f"{settings.step_minutes} + {settings.gap_minutes} minutes each): step(s) {named} "
            "would end after it closes; Azure does those VMs in the scheduled window unless "
            "they are started sooner."
        )
    return MaintenancePlan(
        steps=steps,
        gap_minutes=settings.gap_minutes,
        warnings=warnings,
        step_minutes=settings.step_minutes,
        lead_minutes=settings.lead_minutes,
        facts=[FACTS["reboot_duration"], FACTS["status_can_revert"]],
    )


def _latest_starts(
    closes_of: list[list[datetime]], step: timedelta, gap: timedelta
) -> list[datetime | None]:
    """Per step (given when each step's windows close), the latest start that lets it and
    every later step end before their self-service windows close (``None``: no window
    limits it). A backward pass."""
    latest: list[datetime | None] = [None] * len(closes_of)
    following: datetime | None = None
    for index in range(len(closes_of) - 1, -1, -1):
        closes = closes_of[index]
        bounds = [min(closes) - step] if closes else []
        if following is not None:
            bounds.append(following - gap - step)
        following = latest[index] = min(bounds) if bounds else None
    return latest


def _quiet_start(
    members: list[VirtualMachine],
    earliest: datetime,
    latest: datetime | None,
    align_minutes: int,
) -> datetime | None:
    """The start of the quietest hour (Log Analytics' hint) of one of the step's VMs that falls
    between ``earliest`` and ``latest``, the lowest load first; ``None`` when none does.
    A weekly hour already past is taken a week (or weeks) later."""
    week = timedelta(days=7)
    found: list[tuple[float, datetime]] = []
    for vm in members:
        hint = vm.quietest_hour
        if hint is None:
            continue
        moment = _align_up(parse_utc(hint.start), align_minutes)
        if moment < earliest:
            moment += week * math.ceil((earliest - moment) / week)
        if latest is None or moment <= latest:
            found.append((hint.load_percent, moment))
    return min(found)[1] if found else None


def _closes(vms: list[VirtualMachine]) -> list[datetime]:
    return [w.end_dt for w in _windows(vms) if w.end_dt is not None]


def _windows(vms: list[VirtualMachine]) -> list[TimeWindow]:
    return [vm.maintenance.self_service_window for vm in vms if vm.maintenance is not None]
