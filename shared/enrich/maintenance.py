"""Starting self-service maintenance, one plan step at a time (``start-maintenance``).

Each VM is read fresh first: Azure only accepts ``performMaintenance`` while
``isCustomerInitiatedMaintenanceAllowed`` is true, and asking anyway only earns a 409; the
read also says which plan step the VM belongs in (``plan.step_key``: update domain for sets,
zone, ``forewarn-group`` tag, else the VM alone). Then the steps go one at a time, in the plan's
order: the VMs of one step start in parallel (at most ``MAX_PARALLEL``) and each call is a
long-running operation followed to its end, so a step is done before the next one starts,
``gap_seconds`` later.

Azure's guidance is honoured: a VM whose advice (worked out as for every message, by
``readings.describe_vms``) is not "start it yourself" is ``advised_against``, with the advice's
reasons, and not started, unless the caller says ``against_advice`` (the CLI's
``--against-advice``): its owner may know better, but must say so.

Every VM gets an outcome, whatever happens to the others: an error while starting one VM
(transient ones included) is that VM's ``failed`` outcome, never an exception that would leave
the rest unreported. When any VM of a step failed, the later steps are not started: their
VMs are reported ``not_started``, naming the step that stopped the run. Without confirmation
nothing is sent; the outcomes say what would happen.

Only reading the VMs (before anything starts) may raise: ``ArmAuthenticationError``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

from shared.enrich.arm import api_version
from shared.enrich.errors import (
    ArmAuthenticationError,
    ArmError,
    ArmNotFoundError,
    MalformedResourceIdError,
)
from shared.enrich.instance_view import VmReading, VmRef
from shared.enrich.pacing import Operation
from shared.enrich.plan import group_into_steps, step_key, step_label
from shared.enrich.readings import describe_vms, shutdown_schedules
from shared.enrich.services import EnrichmentServices
from shared.models import PlanStep, VirtualMachine

log = logging.getLogger(__name__)

MAX_PARALLEL = 8  # VMs of one step started at once

OutcomeKind = Literal[
    "completed", "would_start", "skipped", "advised_against", "failed", "not_started"
]
# What each advice that is not "start it yourself" says, for the refusal line.
_AGAINST = {
    "let_azure": "let Azure do it",
    "avoid_self_service": "do not start it yourself",
    "none": "no action needed",
}


@dataclass(frozen=True)
class MaintenanceOutcome:
    vm_id: str
    outcome: OutcomeKind
    message: str
    update_domain: int | None = None
    step: int | None = None  # the step of this run, 1-based; None when nothing was to start


@dataclass(frozen=True)
class _Startable:
    vm_id: str  # as given
    vm: VirtualMachine
    reading: VmReading


def _label(vm: VirtualMachine) -> str:
    """The step's label ("update domain 0", "zone 2", "group db", "VM web1") for a VM of it."""
    key = step_key(vm)
    return step_label(
        PlanStep(
            0,
            vm.update_domain if key.kind == "update_domain" else None,
            [vm.id],
            "",
            "",
            kind=key.kind,
            zone=key.value if key.kind == "zone" else None,
            group=key.value if key.kind == "group" else None,
        )
    )


def _error_text(error: Exception) -> str:
    return str(error) if isinstance(error, ArmError) else f"{type(error).__name__}: {error}"


def _read_one(vm_id: str, services: EnrichmentServices) -> MaintenanceOutcome | _Startable:
    """A fresh read: an outcome when there is nothing to start, else what to start."""
    try:
        ref = VmRef(vm_id)
        reading = services.reader.read(ref, use_cache=False)
        vm = reading.vm
    except ArmAuthenticationError:
        raise
    except MalformedResourceIdError:
        return MaintenanceOutcome(
            vm_id,
            "skipped",
            "not a VM resource id (/subscriptions/…/providers/Microsoft.Compute/virtualMachines/…)",
        )
    except ArmNotFoundError:
        return MaintenanceOutcome(vm_id, "skipped", "the VM does not exist")
    except Exception as error:  # reported for this VM; nothing was started for it
        return MaintenanceOutcome(vm_id, "failed", f"could not read the VM: {_error_text(error)}")
    status = vm.maintenance
    if status is None:
        return MaintenanceOutcome(
            vm_id, "skipped", "no maintenance is planned for this VM", vm.update_domain
        )
    window = status.self_service_window
    if not status.self_service_allowed:
        return MaintenanceOutcome(
            vm_id,
            "skipped",
            f"self-service is not allowed now (window {window.start} to {window.end}, "
            f"last result {status.last_result_code or 'none'})",
            vm.update_domain,
        )
    return _Startable(vm_id, vm, reading)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def _advised(
    startables: list[_Startable], services: EnrichmentServices, against_advice: bool
) -> tuple[list[_Startable], list[MaintenanceOutcome]]:
    """The VMs advised to self-serve (every one with ``against_advice``), with their advice;
    the others as ``advised_against`` outcomes that say why."""
    if not startables:
        return [], []
    shutdown, _ = shutdown_schedules((item.vm.subscription_id for item in startables), services)
    vms, _ = describe_vms([item.reading for item in startables], services, shutdown)
    advised = {vm.id.lower(): vm for vm in vms}
    keep: list[_Startable] = []
    refused: list[MaintenanceOutcome] = []
    for item in startables:
        vm = advised.get(item.vm.id.lower())
        action = vm.advice.action if vm is not None else "unknown"
        if vm is not None and (action == "self_service" or against_advice):
            keep.append(replace(item, vm=vm))
            continue
        if vm is None:
            why = "forewarn could not work out the advice for it."
        else:
            why = " ".join(_sentence(reason.text) for reason in vm.advice.reasons)
        refused.append(
            MaintenanceOutcome(
                item.vm_id,
                "advised_against",
                f"advised: {_AGAINST.get(action, action)}. {why} Not started; add "
                "--against-advice to start it anyway.".replace("  ", " "),
                item.vm.update_domain,
            )
        )
    return keep, refused


def _start_one(
    startable: _Startable, services: EnrichmentServices, step: int, timeout: float, poll: float
) -> MaintenanceOutcome:
    vm = startable.vm
    where = f"step {step} of this run ({_label(vm)})"
    try:
        services.arm.post_and_wait(
            f"{vm.id}/performMaintenance",
            Operation.VM_UPDATE,
            params={"api-version": api_version("Microsoft.Compute")},
            timeout_seconds=timeout,
            default_poll_seconds=poll,
        )
    except Exception as error:  # this VM's outcome; the others of its step still report
        if not isinstance(error, ArmError):  # not Azure's answer: keep the trace for a fix
            log.warning("maintenance of %s failed", vm.id, exc_info=error)
        return MaintenanceOutcome(
            startable.vm_id, "failed", f"{where}: {_error_text(error)}", vm.update_domain, step
        )
    return MaintenanceOutcome(
        startable.vm_id, "completed", f"{where}: maintenance completed", vm.update_domain, step
    )


def start_maintenance(
    vm_ids: Iterable[str],
    services: EnrichmentServices,
    *,
    confirm: bool,
    against_advice: bool = False,
    timeout_seconds: float = 1800.0,
    poll_seconds: float = 15.0,
    gap_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[MaintenanceOutcome]:
    """One outcome per VM: first those with nothing to start or advised against, then step
    by step, waiting ``gap_seconds`` after each step that completed before the next one
    starts."""
    ids = list(dict.fromkeys(vm_ids))
    if not ids:
        return
    startables: list[_Startable] = []
    with ThreadPoolExecutor(
        max_workers=min(len(ids), MAX_PARALLEL), thread_name_prefix="forewarn-maint"
    ) as pool:
        for read in pool.map(lambda vm_id: _read_one(vm_id, services), ids):
            if isinstance(read, MaintenanceOutcome):
                yield read
            else:
                startables.append(read)
        startables, refused = _advised(startables, services, against_advice)
        yield from refused
        by_vm = {id(item.vm): item for item in startables}
        steps = group_into_steps([item.vm for item in startables])
        stopped_by: str | None = None  # the step with a failure, once there is one
        for number, (_, vms) in enumerate(steps, 1):
            members = [by_vm[id(vm)] for vm in vms]
            # This run's steps: a command pasted from a message's plan step 2 runs one step.
            label = f"step {number} of this run ({_label(vms[0])})"
            if stopped_by is not None:
                for member in members:
                    yield MaintenanceOutcome(
                        member.vm_id,
                        "not_started",
                        f"not started: {stopped_by}, so later steps were not started",
                        member.vm.update_domain,
                        number,
                    )
                continue
            if not confirm:
                for member in members:
                    window = member.vm.maintenance.self_service_window  # type: ignore[union-attr]
                    yield MaintenanceOutcome(
                        member.vm_id,
                        "would_start",
                        f"{label}: would start maintenance (self-service window ends "
                        f"{window.end}); add --yes to start it",
                        member.vm.update_domain,
                        number,
                    )
                continue
            if number > 1 and gap_seconds > 0:
                sleep(gap_seconds)  # Azure's own pause between update domains, or longer
            start = partial(
                _start_one,
                services=services,
                step=number,
                timeout=timeout_seconds,
                poll=poll_seconds,
            )
            outcomes = list(pool.map(start, members))
            yield from outcomes
            if any(outcome.outcome == "failed" for outcome in outcomes):
                stopped_by = f"{_label(vms[0])} had a failure (step {number})"
