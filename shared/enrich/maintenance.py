"""Starting self-service maintenance, update domain by update domain (``start-maintenance``).

Each VM is read fresh first: Azure only accepts ``performMaintenance`` while
``isCustomerInitiatedMaintenanceAllowed`` is true, and asking anyway only earns a 409; the
read also gives the VM's update domain. Then the VMs go one update domain at a time, in the
plan's order (``plan.domain_order``), as Azure itself does: the VMs of one domain start in
parallel (at most ``MAX_PARALLEL``) and each call is a long-running operation followed to its
end, so a domain is done before the next one starts.

Every VM gets an outcome, whatever happens to the others: an error while starting one VM
(transient ones included) is that VM's ``failed`` outcome, never an exception that would leave
the rest unreported. When any VM of a domain failed, the later domains are not started: their
VMs are reported ``not_started``, naming the domain that stopped the run. Without confirmation
nothing is sent; the outcomes say what would happen.

Only reading the VMs (before anything starts) may raise: ``ArmAuthenticationError``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from shared.enrich.arm import api_version
from shared.enrich.errors import (
    ArmAuthenticationError,
    ArmError,
    ArmNotFoundError,
    MalformedResourceIdError,
)
from shared.enrich.instance_view import VmRef
from shared.enrich.pacing import Operation
from shared.enrich.pipeline import EnrichmentServices
from shared.enrich.plan import domain_order
from shared.models import VirtualMachine

log = logging.getLogger(__name__)

MAX_PARALLEL = 8  # VMs of one update domain started at once

OutcomeKind = Literal["completed", "would_start", "skipped", "failed", "not_started"]


@dataclass(frozen=True)
class MaintenanceOutcome:
    vm_id: str
    outcome: OutcomeKind
    message: str
    update_domain: int | None = None


@dataclass(frozen=True)
class _Startable:
    vm_id: str  # as given
    vm: VirtualMachine


def _domain_text(domain: int | None) -> str:
    return "unknown" if domain is None else str(domain)


def _error_text(error: Exception) -> str:
    return str(error) if isinstance(error, ArmError) else f"{type(error).__name__}: {error}"


def _read_one(vm_id: str, services: EnrichmentServices) -> MaintenanceOutcome | _Startable:
    """A fresh read: an outcome when there is nothing to start, else what to start."""
    try:
        ref = VmRef(vm_id)
        vm = services.reader.read(ref, use_cache=False).vm
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
    return _Startable(vm_id, vm)


def _start_one(
    startable: _Startable, services: EnrichmentServices, timeout: float, poll: float
) -> MaintenanceOutcome:
    vm = startable.vm
    domain = _domain_text(vm.update_domain)
    try:
        services.arm.post_and_wait(
            f"{vm.id}/performMaintenance",
            Operation.VM_UPDATE,
            params={"api-version": api_version("Microsoft.Compute")},
            timeout_seconds=timeout,
            default_poll_seconds=poll,
        )
    except Exception as error:  # this VM's outcome; the others of its domain still report
        if not isinstance(error, ArmError):  # not Azure's answer: keep the trace for a fix
            log.warning("maintenance of %s failed", vm.id, exc_info=error)
        return MaintenanceOutcome(
            startable.vm_id,
            "failed",
            f"update domain {domain}: {_error_text(error)}",
            vm.update_domain,
        )
    return MaintenanceOutcome(
        startable.vm_id,
        "completed",
        f"update domain {domain}: maintenance completed",
        vm.update_domain,
    )


def start_maintenance(
    vm_ids: Iterable[str],
    services: EnrichmentServices,
    *,
    confirm: bool,
    timeout_seconds: float = 1800.0,
    poll_seconds: float = 15.0,
) -> Iterator[MaintenanceOutcome]:
    """One outcome per VM: first those with nothing to start, then domain by domain."""
    ids = list(dict.fromkeys(vm_ids))
    if not ids:
        return
    by_domain: dict[int | None, list[_Startable]] = defaultdict(list)
    with ThreadPoolExecutor(
        max_workers=min(len(ids), MAX_PARALLEL), thread_name_prefix="forewarn-maint"
    ) as pool:
        for read in pool.map(lambda vm_id: _read_one(vm_id, services), ids):
            if isinstance(read, MaintenanceOutcome):
                yield read
            else:
                by_domain[read.vm.update_domain].append(read)
        stopped, stopped_by = False, None  # the domain with a failure, once there is one
        for domain in domain_order(by_domain):
            members = by_domain[domain]
            if stopped:
                for member in members:
                    yield MaintenanceOutcome(
                        member.vm_id,
                        "not_started",
                        f"not started: update domain {_domain_text(stopped_by)} had a failure, "
                        "so later update domains were not started",
                        domain,
                    )
                continue
            if not confirm:
                for member in members:
                    window = member.vm.maintenance.self_service_window  # type: ignore[union-attr]
                    yield MaintenanceOutcome(
                        member.vm_id,
                        "would_start",
                        f"update domain {_domain_text(domain)}: would start maintenance now "
                        f"(self-service window ends {window.end}); add --yes to start it",
                        domain,
                    )
                continue
            outcomes = list(
                pool.map(
                    lambda member: _start_one(member, services, timeout_seconds, poll_seconds),
                    members,
                )
            )
            yield from outcomes
            if any(outcome.outcome == "failed" for outcome in outcomes):
                stopped, stopped_by = True, domain
