"""Reading many VMs and turning the readings into ``VirtualMachine``s, the same for every path.

Reads run on a bounded thread pool, subscriptions interleaved so that each subscription's
bucket is drained in parallel with the others'; the instance-view cache answers first and only
its misses go to ARM. A VM that cannot be read or advised on is a note; a transient failure
raises when the caller asks (the notice's queue then retries it).
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Literal

from shared.enrich import discovery
from shared.enrich.advice import VmFacts, advise
from shared.enrich.errors import (
    TRANSIENT_ERRORS,
    ArmAuthenticationError,
    ArmError,
    ArmForbiddenError,
    ArmNotFoundError,
    ArmThrottledError,
)
from shared.enrich.instance_view import (
    CachedRead,
    VmReading,
    VmRef,
)
from shared.enrich.services import EnrichmentServices
from shared.loganalytics.quietest import add_quietest_hours
from shared.models import EnrichmentNote, VirtualMachine

OnTransient = Literal["note", "raise"]

# The enrich pipeline's logger: these were part of it, and its warnings keep their name.
log = logging.getLogger("shared.enrich.pipeline")


def _interleaved(refs: Iterable[VmRef]) -> list[VmRef]:
    by_subscription: dict[str, list[VmRef]] = defaultdict(list)
    for ref in refs:
        by_subscription[ref.subscription_id.lower()].append(ref)
    rounds = itertools.zip_longest(*by_subscription.values())
    return [ref for group in rounds for ref in group if ref is not None]


def _note_for(error: Exception, ref: VmRef) -> EnrichmentNote:
    if not isinstance(error, ArmError):
        log.warning("VM %s unreadable", ref.id, exc_info=error)
        code, text = "unreadable", f"VM {ref.name} not read: {unreadable(error)}"
    elif isinstance(error, ArmNotFoundError):
        code, text = "vm_gone", f"VM {ref.name} no longer exists (deleted after it was listed)"
    elif isinstance(error, ArmForbiddenError):
        code, text = "forbidden", f"no read permission on VM {ref.name}"
    elif isinstance(error, ArmThrottledError):
        code, text = "throttled", f"VM {ref.name} not read: ARM kept throttling"
    elif isinstance(error, TRANSIENT_ERRORS):
        code, text = "arm_unavailable", f"VM {ref.name} not read: ARM unavailable"
    else:
        code, text = "arm_error", f"VM {ref.name} not read: {error}"
    return EnrichmentNote(code, text, subscription_id=ref.subscription_id, resource_id=ref.id)


def read_vms(
    refs: Iterable[VmRef],
    services: EnrichmentServices,
    on_transient: OnTransient,
    *,
    cached: Mapping[str, CachedRead] | None = None,
) -> tuple[list[VmReading], list[EnrichmentNote]]:
    """Read every VM concurrently; per-VM failures become notes (transient ones if asked).

    ``cached``: the fresh cached reads of ``refs`` when the caller has them already
    (discovery reads them beside the schedules); ``None``: read here."""
    ordered = _interleaved(refs)
    readings: list[VmReading] = []
    notes: list[EnrichmentNote] = []
    reader = services.reader
    # The cache is read and written a subscription at a time (a few round trips, not one
    # per VM); only the misses go to ARM, side by side, and are cached as they come in. A hit
    # is a conversion, not a wait: it is made here, not handed to a thread.
    if cached is None:
        cached = reader.fresh_many(ordered)
    misses = [ref for ref in ordered if reader.needs_arm(ref, cached.get(ref.id))]
    keeper = reader.keeper()
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(services.arm.max_concurrency, len(misses))),
        thread_name_prefix="forewarn-arm",
    )
    try:
        futures: dict[str, Future[tuple[VmReading, CachedRead | None]]] = {
            ref.id: pool.submit(reader.read_through, ref, None) for ref in misses
        }
        for ref in ordered:
            future = futures.get(ref.id)
            try:
                if future is None:
                    reading, read = reader.read_through(ref, cached.get(ref.id))
                else:
                    reading, read = future.result()
            except ArmAuthenticationError:
                raise
            except Exception as error:  # one odd VM is a note, whatever went wrong with it
                if on_transient == "raise" and isinstance(error, TRANSIENT_ERRORS):
                    raise
                notes.append(_note_for(error, ref))
                continue
            readings.append(reading)
            if read is not None:
                keeper.add(ref, read)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        # Also when a transient error stops the event: its retry finds the reads made so far.
        keeper.close()
    return readings, notes


def describe_vms(
    readings: list[VmReading],
    services: EnrichmentServices,
    shutdown: set[str],
    keep_all: set[str] | None = None,
) -> tuple[list[VirtualMachine], list[EnrichmentNote]]:
    """The one source of per-VM facts: every path that reads VMs (a first notice, the sweep,
    the reminders' and the sweep's second reading, a recovered notice) turns its readings into
    ``VirtualMachine``s here, so windows, allowed-now, last result, advice with its reasons and
    the quietest hour are worked out the same way whoever asks.

    ``shutdown``: ids (lower case) of VMs with an auto-shutdown schedule; ``keep_all``: VMs
    kept even with nothing planned (those a notice named; ``None``: every VM read). Sorted by
    window. A VM that cannot be advised on, or a Log Analytics failure, is a note.
    """
    now = services.clock()
    notes: list[EnrichmentNote] = []
    vms = []
    for reading in readings:
        vm = reading.vm
        if vm.maintenance is None and keep_all is not None and vm.id.lower() not in keep_all:
            continue  # found by a sweep and nothing planned: not part of this story
        facts = VmFacts(reading.ephemeral_os_disk, vm.id.lower() in shutdown)
        try:
            vms.append(replace(vm, advice=advise(vm, facts, services.rules, now)))
        except Exception as error:  # what cannot be advised on is a note, not a lost event
            log.warning("no advice for VM %s", vm.id, exc_info=error)
            notes.append(
                EnrichmentNote(
                    "unreadable",
                    f"VM {vm.name} not advised on: {unreadable(error)}",
                    subscription_id=vm.subscription_id,
                    resource_id=vm.id,
                )
            )

    def window_key(vm: VirtualMachine) -> tuple[str, str]:
        status = vm.maintenance
        start = status and (status.self_service_window.start or status.scheduled_window.start)
        return (start or "~", vm.id.lower())

    # One Log Analytics query for all these self-serve VMs; trouble there is a note.
    hinted, hint_notes = add_quietest_hours(sorted(vms, key=window_key), services.logs, now)
    return hinted, [*notes, *hint_notes]


def shutdown_schedules(
    subscriptions: Iterable[str], services: EnrichmentServices
) -> tuple[set[str], list[EnrichmentNote]]:
    """VMs with an auto-shutdown schedule in these subscriptions (advice reads them)."""
    found: set[str] = set()
    notes: list[EnrichmentNote] = []
    for subscription in sorted({s.lower() for s in subscriptions}):
        schedules = discovery.auto_shutdown_vms(services.arm, subscription)
        found |= schedules.vm_ids
        if schedules.note:
            notes.append(schedules.note)
    return found, notes


def unreadable(error: Exception) -> str:
    """An error as a note says it, bounded: its kind and its text."""
    return f"{type(error).__name__}: {error}"[:300]
