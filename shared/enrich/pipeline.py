"""The enrich stage: ``MaintenanceEvent`` in, ``EnrichedEvent`` (VMs, advice, plan, notes) out.

Only the event's own subscriptions (``event.subscription_ids``, which ingest checked against
the allow-list) are ever read. A VM named by the event or by an ARM answer is read only when
its id is a well-formed ARM id (``resource_id.parse_vm_id``) in one of them; anything else is a
note (``malformed_resource_id``, ``subscription_not_listed``), never an ARM call.

Partial failure is normal and shown, never hidden: a subscription without read permission, a
VM deleted since discovery, a wave without impacted-resources data, a VM or a subscription
whose answer cannot be read (``unreadable``: a malformed timestamp, an odd body) each become
an ``EnrichmentNote`` and the rest goes on. Transient failures (throttled after all tries, ARM
unavailable) raise so that the queue retries the message (the instance-view cache makes the
retry cheap), except on the message's last attempt: then what could be read is sent with a
note, because a late partial notice beats none.

Reads run on a bounded thread pool, subscriptions interleaved so that each subscription's
bucket is drained in parallel with the others'. Reads that do not depend on each other overlap:
once a subscription's VMs are known, its auto-shutdown schedules (ARM) are read while those
VMs' cached instance views (the table) and then the VMs themselves are (issue 18).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from shared.enrich import discovery
from shared.enrich.errors import (
    TRANSIENT_ERRORS,
    ArmAuthenticationError,
    ArmError,
    ArmThrottledError,
)
from shared.enrich.instance_view import (
    VmRef,
)
from shared.enrich.plan import (
    plan_maintenance,
)
from shared.enrich.readings import (
    OnTransient,
    describe_vms,
    read_vms,
    unreadable,
)
from shared.enrich.resource_graph import (
    survey_with_graph,
)
from shared.enrich.services import EnrichmentServices
from shared.enrich.subscription_vms import SubscriptionVms, discover
from shared.loganalytics.quietest import NOTE_NO_PERFORMANCE_DATA
from shared.models import EnrichedEvent, EnrichmentNote, MaintenanceEvent, VirtualMachine
from shared.telemetry import stage_span
from shared.timeutil import format_utc

CLOSED_STAGES = frozenset({"resolved", "complete", "completed", "canceled", "cancelled"})

log = logging.getLogger(__name__)


@dataclass
class FleetSurvey:
    vms: list[VirtualMachine]
    notes: list[EnrichmentNote]


def is_about_vms(event: MaintenanceEvent) -> bool:
    if event.kind != "service_health":
        named = discovery.named_vms(event.resource_ids, event.subscription_ids)
        return bool(named.refs or named.notes)
    if (event.incident_type or "").lower() != "maintenance":
        return False
    if (event.stage or "").lower() in CLOSED_STAGES:
        return False
    return any("virtual machine" in service.service.lower() for service in event.impacted)


# --------------------------------------------------------------------------------------
# Discovery per subscription (shared/enrich/subscription_vms.py) and the fleet survey


def _subscription_note(error: Exception, subscription: str) -> EnrichmentNote:
    if not isinstance(error, ArmError):
        log.warning("subscription %s unreadable", subscription, exc_info=error)
        code, why = "unreadable", unreadable(error)
    else:
        code = (
            "throttled"
            if isinstance(error, ArmThrottledError)
            else ("arm_unavailable" if isinstance(error, TRANSIENT_ERRORS) else "arm_error")
        )
        why = str(error)
    return EnrichmentNote(
        code,
        f"VMs of subscription {subscription} not discovered: {why}",
        subscription_id=subscription,
    )


def _survey(
    event: MaintenanceEvent | None,
    subscriptions: list[str],
    services: EnrichmentServices,
    on_transient: OnTransient,
) -> FleetSurvey:
    """Discover and read the VMs of ``subscriptions``, and nothing outside them.

    A subscription whose discovery fails, its schedules included, is one note and none of its
    VMs is kept (transient failures raise unless ``on_transient`` says note): the schedules are
    read beside the VMs, so such a subscription's readings are dropped after the reads."""
    notes: list[EnrichmentNote] = []
    named: dict[str, list[VmRef]] | None = None
    if event is not None and event.kind != "service_health":
        listed = discovery.named_vms(event.resource_ids, subscriptions)
        notes.extend(listed.notes)
        named = defaultdict(list)
        for ref in listed.refs:
            named[ref.subscription_id.lower()].append(ref)
        subscriptions = [s for s in subscriptions if s in named]

    def failed(error: Exception, subscription: str) -> EnrichmentNote:
        if isinstance(error, ArmAuthenticationError) or (
            on_transient == "raise" and isinstance(error, TRANSIENT_ERRORS)
        ):
            raise error
        return _subscription_note(error, subscription)  # the other subscriptions go on

    found_of: dict[str, SubscriptionVms | EnrichmentNote] = {}
    workers = max(1, min(len(subscriptions), 8))
    with ThreadPoolExecutor(workers, thread_name_prefix="forewarn-schedules") as side:
        # Child spans of the stage's read span: which part of a notice's reads took the time.
        with (
            stage_span("enrich.discover", subscriptions=len(subscriptions)),
            ThreadPoolExecutor(workers, thread_name_prefix="forewarn-discover") as pool,
        ):
            futures = [
                (
                    s,
                    pool.submit(
                        discover, event, s, services, None if named is None else named[s], side
                    ),
                )
                for s in subscriptions
            ]
            for subscription, future in futures:
                try:
                    found_of[subscription] = future.result()
                except Exception as error:  # one odd subscription is a note
                    found_of[subscription] = failed(error, subscription)
        discovered = [found for found in found_of.values() if isinstance(found, SubscriptionVms)]
        refs = [ref for found in discovered for ref in found.refs]
        cached = {vm_id: read for found in discovered for vm_id, read in found.cached.items()}
        with stage_span("enrich.vms", vms=len(refs)):
            readings, read_notes = read_vms(refs, services, on_transient, cached=cached)
        shutdown: set[str] = set()
        for subscription, found in found_of.items():
            if isinstance(found, SubscriptionVms) and found.schedules is not None:
                try:
                    schedules = found.schedules.result()
                except Exception as error:
                    found_of[subscription] = failed(error, subscription)
                    continue
                shutdown |= schedules.vm_ids
                found.notes.extend([schedules.note] if schedules.note else [])
    dropped = {s for s, found in found_of.items() if not isinstance(found, SubscriptionVms)}
    keep_all: set[str] = set()
    for found in found_of.values():
        if isinstance(found, SubscriptionVms):
            notes.extend(found.notes)
            keep_all |= {ref.id.lower() for ref in found.refs} if found.named else set()
        else:
            notes.append(found)
    readings = [r for r in readings if r.vm.subscription_id.lower() not in dropped]
    notes.extend(n for n in read_notes if (n.subscription_id or "").lower() not in dropped)
    vms, described_notes = describe_vms(readings, services, shutdown, keep_all)
    return FleetSurvey(vms, [*notes, *described_notes])


def _subscriptions_of(event: MaintenanceEvent) -> list[str]:
    """The event's own subscriptions: the only ones enrichment reads (review S1)."""
    return list(dict.fromkeys(s.lower() for s in event.subscription_ids))


# --------------------------------------------------------------------------------------
# Entry points


def enrich_event(
    event: MaintenanceEvent, services: EnrichmentServices, *, final_attempt: bool = False
) -> EnrichedEvent:
    """Enrich one event. Raises ``ArmAuthenticationError`` and transient ``ArmError``s
    unless ``final_attempt``, when they become notes instead."""
    enriched_at = format_utc(services.clock())
    if not is_about_vms(event):
        return EnrichedEvent.without_vms(event, enriched_at)
    on_transient: OnTransient = "note" if final_attempt else "raise"
    try:
        survey = _survey(event, _subscriptions_of(event), services, on_transient)
    except ArmAuthenticationError as error:
        if not final_attempt:
            raise
        note = EnrichmentNote("unauthorized", f"forewarn could not read VMs: {error}")
        return replace(EnrichedEvent.without_vms(event, enriched_at), notes=[note])
    plan = plan_maintenance(survey.vms, services.clock(), services.plan_settings)
    # A workspace without performance data is the operator's to fix, not something the
    # message's readers can act on: it goes to the log (and `forewarn vms` says it).
    notes = []
    for note in survey.notes:
        if note.code == NOTE_NO_PERFORMANCE_DATA:
            log.warning("event %s: %s", event.event_id, note.message)
        else:
            notes.append(note)
    return EnrichedEvent(
        event=event, vms=survey.vms, plan=plan, notes=notes, enriched_at=enriched_at
    )


def survey_fleet(subscriptions: list[str], services: EnrichmentServices) -> FleetSurvey:
    """Every VM with planned maintenance in these subscriptions (the sweep, the CLI's ``vms``).

    With Resource Graph on, it names the VMs with maintenance pending and only those are read
    (their instance views stay the authority on windows and allowed-now); subscriptions it
    refuses, or all of them when it is unavailable, are read the old way: the VM list, then
    every VM. Transient failures raise: a command line stops with one clear line instead."""
    wanted = [s.lower() for s in subscriptions]
    if services.graph is None:
        return _survey(None, wanted, services, "raise")
    graph = survey_with_graph(services.graph, wanted)
    rest = _survey(None, graph.fallback, services, "raise") if graph.fallback else None
    readings, read_notes = read_vms(graph.refs, services, "raise")
    # keep_all empty: a VM Resource Graph still lists but whose instance view shows nothing
    # planned is dropped, as the old path drops it, and the sweep re-reads its record.
    vms, described = describe_vms(readings, services, graph.shutdown, set())
    notes = [*graph.notes, *read_notes, *described]
    if rest is not None:
        vms, notes = [*vms, *rest.vms], [*notes, *rest.notes]
    return FleetSurvey(vms, notes)
