"""Starting self-service maintenance, VM by VM (the CLI's ``start-maintenance``).

Each VM is read fresh first: Azure only accepts ``performMaintenance`` while
``isCustomerInitiatedMaintenanceAllowed`` is true, and asking anyway only earns a 409. The
call is a long-running operation that is followed to its end. Without confirmation nothing is
sent; the outcome says what would happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from shared.enrich.arm import api_version
from shared.enrich.errors import (
    TRANSIENT_ERRORS,
    ArmAuthenticationError,
    ArmError,
    ArmNotFoundError,
)
from shared.enrich.instance_view import VmRef
from shared.enrich.pacing import Operation
from shared.enrich.pipeline import EnrichmentServices

OutcomeKind = Literal["completed", "would_start", "skipped", "failed"]


@dataclass(frozen=True)
class MaintenanceOutcome:
    vm_id: str
    outcome: OutcomeKind
    message: str


def _start_one(
    vm_id: str, services: EnrichmentServices, confirm: bool, timeout: float, poll: float
) -> MaintenanceOutcome:
    ref = VmRef(vm_id)
    try:
        vm = services.reader.read(ref, use_cache=False).vm
    except ArmNotFoundError:
        return MaintenanceOutcome(vm_id, "skipped", "the VM does not exist")
    status = vm.maintenance
    if status is None:
        return MaintenanceOutcome(vm_id, "skipped", "no maintenance is planned for this VM")
    window = status.self_service_window
    if not status.self_service_allowed:
        return MaintenanceOutcome(
            vm_id, "skipped",
            f"self-service is not allowed now (window {window.start} to {window.end}, "
            f"last result {status.last_result_code or 'none'})",
        )
    if not confirm:
        return MaintenanceOutcome(
            vm_id, "would_start",
            f"would start maintenance now (self-service window ends {window.end}); "
            "add --yes to start it",
        )
    services.arm.post_and_wait(
        f"{ref.id}/performMaintenance",
        Operation.VM_UPDATE,
        params={"api-version": api_version("Microsoft.Compute")},
        timeout_seconds=timeout,
        default_poll_seconds=poll,
    )
    return MaintenanceOutcome(vm_id, "completed", "maintenance completed")


def start_maintenance(
    vm_ids: Iterable[str],
    services: EnrichmentServices,
    *,
    confirm: bool,
    timeout_seconds: float = 1800.0,
    poll_seconds: float = 15.0,
) -> Iterator[MaintenanceOutcome]:
    """One outcome per VM, in the order given. Authentication and transient errors raise."""
    ids = list(dict.fromkeys(vm_ids))
    workers = max(1, min(len(ids), 8))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="forewarn-maint") as pool:
        futures = [
            pool.submit(_start_one, vm_id, services, confirm, timeout_seconds, poll_seconds)
            for vm_id in ids
        ]
        for vm_id, future in zip(ids, futures, strict=True):
            try:
                yield future.result()
            except ArmAuthenticationError:
                raise
            except ArmError as error:
                if isinstance(error, TRANSIENT_ERRORS):
                    raise
                yield MaintenanceOutcome(vm_id, "failed", str(error))
