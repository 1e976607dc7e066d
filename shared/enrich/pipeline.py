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

import itertools
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal

from shared import names
from shared.enrich import discovery
from shared.enrich.advice import AdviceRules, VmFacts, advise
from shared.enrich.arm import ArmClient
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
    InMemoryInstanceViewCache,
    InstanceViewCache,
    InstanceViewReader,
    TableInstanceViewCache,
    VmReading,
    VmRef,
)
from shared.enrich.plan import (
    DEFAULT_LEAD_MINUTES,
    PlanSettingError,
    PlanSettings,
    plan_maintenance,
)
from shared.enrich.resource_graph import (
    ResourceGraph,
    resource_graph_from_settings,
    survey_with_graph,
)
from shared.enrich.subscription_vms import SubscriptionVms, discover
from shared.loganalytics.client import LogsReader, logs_reader_from_settings
from shared.loganalytics.quietest import NOTE_NO_PERFORMANCE_DATA, add_quietest_hours
from shared.models import EnrichedEvent, EnrichmentNote, MaintenanceEvent, VirtualMachine
from shared.storage import StorageServices
from shared.telemetry import stage_span
from shared.timeutil import Clock, format_utc, utc_now

CLOSED_STAGES = frozenset({"resolved", "complete", "completed", "canceled", "cancelled"})
OnTransient = Literal["note", "raise"]

log = logging.getLogger(__name__)


@dataclass
class EnrichmentServices:
    arm: ArmClient
    reader: InstanceViewReader
    rules: AdviceRules = field(default_factory=AdviceRules)
    plan_settings: PlanSettings = field(default_factory=PlanSettings)
    clock: Clock = utc_now
    logs: LogsReader | None = None  # Log Analytics, for quietest hours; None: no hints
    graph: ResourceGraph | None = None  # Resource Graph for the fleet survey; None: off

    @classmethod
    def create(
        cls,
        environ: Mapping[str, str],
        cache: InstanceViewCache | None = None,
        arm: ArmClient | None = None,
    ) -> EnrichmentServices:
        arm = arm or ArmClient.from_settings(environ)
        reader = InstanceViewReader(arm, cache or InMemoryInstanceViewCache())
        logs = logs_reader_from_settings(environ)
        graph = resource_graph_from_settings(environ, arm)
        return cls(arm, reader, plan_settings=plan_settings_from(environ), logs=logs, graph=graph)

    @classmethod
    def from_settings(
        cls, environ: Mapping[str, str], storage: StorageServices
    ) -> EnrichmentServices:
        """Production: the instance-view cache is the shared Azure Table."""
        table = storage.table(names.TABLE_INSTANCE_VIEWS)
        return cls.create(environ, TableInstanceViewCache(table))


def plan_settings_from(environ: Mapping[str, str]) -> PlanSettings:
    """The plan's lead time from ``FOREWARN_PLAN_LEAD_MINUTES``; a bad value is logged and the
    default used, because a plan a little early beats every event failing enrichment."""
    try:
        return PlanSettings.with_lead(environ.get(names.SETTING_PLAN_LEAD_MINUTES))
    except PlanSettingError as error:
        log.warning(
            "%s: %s; using %s", names.SETTING_PLAN_LEAD_MINUTES, error, DEFAULT_LEAD_MINUTES
        )
        return PlanSettings()


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
# Reading many VMs


def _interleaved(refs: Iterable[VmRef]) -> list[VmRef]:
    by_subscription: dict[str, list[VmRef]] = defaultdict(list)
    for ref in refs:
        by_subscription[ref.subscription_id.lower()].append(ref)
    rounds = itertools.zip_longest(*by_subscription.values())
    return [ref for group in rounds for ref in group if ref is not None]


def _note_for(error: Exception, ref: VmRef) -> EnrichmentNote:
    if not isinstance(error, ArmError):
        log.warning("VM %s unreadable", ref.id, exc_info=error)
        code, text = "unreadable", f"VM {ref.name} not read: {_unreadable(error)}"
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
                    f"VM {vm.name} not advised on: {_unreadable(error)}",
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


# --------------------------------------------------------------------------------------
# Discovery per subscription (shared/enrich/subscription_vms.py) and the fleet survey


def _subscription_note(error: Exception, subscription: str) -> EnrichmentNote:
    if not isinstance(error, ArmError):
        log.warning("subscription %s unreadable", subscription, exc_info=error)
        code, why = "unreadable", _unreadable(error)
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


def _unreadable(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:300]


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
