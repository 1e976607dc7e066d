"""The route stage: an enriched event in, one rendered ``DeliveryJob`` per receiver out.

    open envelope (kind "enriched") → group VMs per receiver → render per channel
    → quiet hours (``not_before``) → one message per job on that channel's queue

What is not routing lives with the idea it belongs to, and the stage calls it: a wave's
first notices parked for the grouping interval (``gather.park``), silenced VMs held back
(``silencing.SilenceGate.hold_back``), a job held through quiet hours and its plan made
again for when it arrives (``quiet_hours``).

Each receiver is rendered on its own and its job sent as soon as it is rendered, so neither a
receiver whose message cannot be rendered nor a slow render holds up the others (renderers are
bounded by construction: see shared/render). Each receiver that failed is logged (event id,
receiver, traceback) and counted, and then the stage raises ``ReceiversNotRenderedError``.
Why raise rather than write a dead-letter row: a dead letter holds a ``DeliveryJob``, and a
job that failed to render has no message to hold or replay. Raising hands the whole *event* to
the platform instead: the host retries it (a transient failure heals on its own), and after
``maxDequeueCount`` it lands in ``enriched-poison``, from where an operator replays it once the
cause is fixed. Re-sending the jobs that did render on each retry is harmless: delivery's
idempotency record is keyed on ``job_id`` (``event id:receiver``), so each receiver still gets
one message. A failure while *sending* raises too, with the same retry and the same guarantee.

    RouteStageError
    ├── UnexpectedMessageError      the queue message is not an enriched event
    └── ReceiversNotRenderedError   some receivers' messages could not be rendered
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared import names
from shared.models import (
    DeliveryJob,
    EnrichedEvent,
    EnrichmentNote,
    Receiver,
    VirtualMachine,
)
from shared.render import Renderer, render_message
from shared.render.lifecycle import notice_type, wave_key
from shared.routing.gather import ENVELOPE_KIND_GROUP, EventGatherer, park
from shared.routing.grouping import (
    ReceiverGroup,
    group_event,
    notes_for,
    subscription_note_readers,
    vm_note_readers,
)
from shared.routing.offsets import ReminderOffsets
from shared.routing.quiet_hours import as_sent_at, hold_until
from shared.routing.rules import RoutingConfig
from shared.routing.silencing import SilenceGate
from shared.storage import MAX_QUEUE_DELAY, Courier, Envelope
from shared.telemetry import METRIC_DELIVERIES, count, get_logger, stage_span
from shared.timeutil import format_utc, parse_utc
from shared.wave.actions import ClaimLinks, StartLinks
from shared.wave.claims import ClaimStore, Ownership
from shared.wave.notices import summary_for

logger = get_logger(__name__)

ENVELOPE_KIND_ENRICHED = "enriched"
ENVELOPE_KIND_DELIVERY = "delivery"


class RouteStageError(Exception):
    """Base class of route-stage failures."""


class UnexpectedMessageError(RouteStageError):
    """The message is not an ``enriched`` envelope with an ``EnrichedEvent`` body."""


class ReceiversNotRenderedError(RouteStageError):
    """Some receivers' messages could not be rendered (the others' jobs were sent)."""

    def __init__(self, event_id: str, receivers: list[str]) -> None:
        super().__init__(
            f"event {event_id}: no message could be rendered for {', '.join(receivers)}"
        )
        self.event_id = event_id
        self.receivers = receivers


@dataclass(frozen=True)
class RenderFailure:
    """One receiver whose message could not be rendered, and why."""

    receiver: Receiver
    error: Exception


@dataclass(frozen=True)
class RoutedEvent:
    """What routing made of one event: the jobs that rendered and the receivers that did not."""

    jobs: list[DeliveryJob]
    failures: list[RenderFailure]


def _job(
    enriched: EnrichedEvent, group: ReceiverGroup, now: datetime, render: Renderer
) -> DeliveryJob:
    event_id = enriched.event.event_id
    held = hold_until(enriched, group.receiver, group.vms, now)
    # Rendered for the moment it is sent: relative times and plan steps hold then.
    sent_at = held or now
    shown = as_sent_at(enriched, sent_at) if held else enriched
    with stage_span("route.render", channel=group.receiver.type, vms=len(group.vms)):
        message = render(shown, group.receiver, group.vms, sent_at)
    # The wave key lets delivery thread this message under the wave's first (threads.py).
    meta = {
        **message.meta,
        "routes": group.routes,
        "wave": wave_key(enriched.event),
        "notice_type": notice_type(enriched.event),
    }
    # What this message must not overtake for its receiver (shared/delivery/order.py).
    if enriched.after:
        meta["after"] = list(enriched.after)
    message = replace(message, meta=meta)
    return DeliveryJob(
        job_id=f"{event_id}:{group.receiver.name}",
        event_id=event_id,
        receiver=group.receiver,
        message=message,
        created_at=format_utc(now),
        not_before=format_utc(held) if held else None,
    )


def route_receivers(
    enriched: EnrichedEvent,
    config: RoutingConfig,
    now: datetime,
    render: Renderer = render_message,
    on_job: Callable[[DeliveryJob], None] | None = None,
    reminders: ReminderOffsets | None = None,
    gate: SilenceGate | None = None,
    links: ClaimLinks | None = None,
    ownership: Ownership | None = None,
    start_links: StartLinks | None = None,
) -> RoutedEvent:
    """Group, render and time one job per receiver, each on its own.

    Pure unless ``on_job`` is given: it is called with each job as soon as that job is
    rendered (the stage sends it there), before the next receiver is rendered. Any exception
    from one receiver's rendering is caught, whatever its type: a renderer bug met by one odd
    alert must cost that receiver its message, not every receiver theirs. The failure is
    returned, never dropped; the caller decides what to do about it. An exception from
    ``on_job`` (a queue that cannot be written) is not a render failure and propagates.

    With a ``gate``, silenced VMs are left out of each receiver's message (silencing.py); a
    receiver left with none gets no job. With ``links``, each VM still facing maintenance
    carries a signed "Claim" link for the receiver (shared/wave/actions.py); with
    ``start_links`` (Start from the message on), each plan step of VMs advised to start
    themselves carries a signed "Start now" link for the receiver. With
    ``ownership``, each claimed VM says who has it (Azure's own notices too, not only the
    wave's timers').
    """
    if ownership is not None:
        enriched = with_owners(enriched, ownership)
    jobs: list[DeliveryJob] = []
    failures: list[RenderFailure] = []
    silences = gate.active(enriched, now) if gate is not None else []
    remaining = _by_receiver(enriched.remaining, enriched, config, now, reminders)
    closed = _by_receiver(enriched.closed, enriched, config, now, reminders)
    note_readers = vm_note_readers(enriched, config, now)
    views = _Views(enriched)
    groups = group_event(enriched, config, now, reminders)
    subscription_readers = subscription_note_readers(groups)
    for group in groups:
        # Each receiver hears what remains of its own VMs only (followup.py says it), and of
        # the VMs a closing notice ended, its own only.
        name = group.receiver.name
        shown = views.view(
            remaining.get(name, []),
            closed.get(name, []),
            # A note for one receiver (a wave pass's held-back note) is that receiver's alone;
            # one about a VM or a subscription, the receivers of that VM or its VMs'.
            notes_for(enriched.notes, name, note_readers, subscription_readers),
        )
        if gate is not None and silences:
            kept = gate.hold_back(shown, group, silences, now)
            if kept is None:
                continue
            group, shown = kept
        if links is not None:
            group = _with_links(group, links, now)
        if start_links is not None:
            group = _with_start_links(group, shown, start_links, now)
        # A wave notice's summary has a line per VM: this receiver reads its own VMs' only.
        shown = summary_for(shown, group.vms)
        try:
            job = _job(shown, group, now, render)
        except Exception as error:  # any type: see the docstring (returned, not swallowed)
            failures.append(RenderFailure(group.receiver, error))
            continue
        jobs.append(job)
        if on_job is not None:
            on_job(job)
    return RoutedEvent(jobs, failures)


class _Views:
    """The event as each receiver sees it (its own remaining and closed VMs and notes), one
    object for receivers that see the same: the renderers work out an event's facts once per
    event object and reader (render/facts.py), so receivers sharing a view and a zone share
    them instead of each making its own copy of the same facts (issue 18)."""

    def __init__(self, enriched: EnrichedEvent) -> None:
        self._enriched = enriched
        self._made: dict[tuple[tuple[int, ...], ...], EnrichedEvent] = {}

    def view(
        self,
        remaining: list[VirtualMachine],
        closed: list[VirtualMachine],
        notes: list[EnrichmentNote],
    ) -> EnrichedEvent:
        # By identity: each receiver's lists hold the event's own objects, which the views
        # kept here hold on to, so an id here always names the object it was taken from.
        key = (tuple(map(id, remaining)), tuple(map(id, closed)), tuple(map(id, notes)))
        made = self._made.get(key)
        if made is None:
            made = replace(self._enriched, remaining=remaining, closed=closed, notes=notes)
            self._made[key] = made
        return made


def with_owners(enriched: EnrichedEvent, ownership: Ownership) -> EnrichedEvent:
    """The event with each claimed VM's owners (shared/wave/claims.py)."""
    wave = enriched.event.tracking_id
    vms = []
    for vm in enriched.vms:
        owners = ownership.owners_of(vm.id, wave)
        vms.append(replace(vm, owners=owners) if owners and owners != vm.owners else vm)
    return replace(enriched, vms=vms)


def _with_links(group: ReceiverGroup, links: ClaimLinks, now: datetime) -> ReceiverGroup:
    """The group with a claim link per VM that still faces maintenance (not done or gone)."""
    name = group.receiver.name
    vms = [
        replace(vm, claim_url=links.url(vm.id, name, now)) if vm.maintenance is not None else vm
        for vm in group.vms
    ]
    return replace(group, vms=vms)


def _with_start_links(
    group: ReceiverGroup, enriched: EnrichedEvent, links: StartLinks, now: datetime
) -> ReceiverGroup:
    """The group with each plan step's "Start now" link on the step's VMs.

    The steps are those the message shows (render/facts.py): the plan's steps kept to this
    receiver's VMs advised to start themselves, numbered in that order, so the link names the
    step ("step 2") and exactly the VMs the message lists under it. No wave, no plan or a
    step of more VMs than a link may name: no link (the page checks everything again anyway).
    """
    wave = enriched.event.tracking_id
    if not wave or enriched.plan is None:
        return group
    advised = {
        vm.id: vm
        for vm in group.vms
        if vm.advice.action == "self_service" and vm.maintenance is not None
    }
    urls: dict[str, str] = {}
    order = 0
    for step in enriched.plan.steps:
        ids = [vm_id for vm_id in step.vm_ids if vm_id in advised]
        if not ids:
            continue
        order += 1
        url = links.url(wave, f"step {order}", ids, group.receiver.name, now)
        if url is not None:
            urls.update(dict.fromkeys(ids, url))
    if not urls:
        return group
    vms = [replace(vm, start_url=urls[vm.id]) if vm.id in urls else vm for vm in group.vms]
    return replace(group, vms=vms)


def _by_receiver(
    vms: list[VirtualMachine],
    enriched: EnrichedEvent,
    config: RoutingConfig,
    now: datetime,
    reminders: ReminderOffsets | None,
) -> dict[str, list[VirtualMachine]]:
    """The wave's other VMs (still open, or closed by the notice) each receiver follows,
    routed by the same rules as the notice."""
    if not vms:
        return {}
    others = replace(enriched, vms=vms, remaining=[], closed=[])
    return {group.receiver.name: group.vms for group in group_event(others, config, now, reminders)}


def route_event(
    enriched: EnrichedEvent,
    config: RoutingConfig,
    now: datetime,
    reminders: ReminderOffsets | None = None,
) -> list[DeliveryJob]:
    """Every receiver's job, or ``ReceiversNotRenderedError`` if any could not be rendered."""
    routed = route_receivers(enriched, config, now, reminders=reminders)
    if routed.failures:
        first = routed.failures[0].error
        failed = [failure.receiver.name for failure in routed.failures]
        raise ReceiversNotRenderedError(enriched.event.event_id, failed) from first
    return routed.jobs


def dispatch(
    jobs: list[DeliveryJob], courier: Courier, now: datetime, traceparent: str | None = None
) -> None:
    """Put each job on its channel's queue, invisible until its ``not_before``."""
    for job in jobs:
        delay = timedelta(0)
        if job.not_before:
            delay = min(max(parse_utc(job.not_before) - now, timedelta(0)), MAX_QUEUE_DELAY)
        courier.send(
            names.DELIVERY_QUEUES[job.receiver.type],
            Envelope(ENVELOPE_KIND_DELIVERY, job.job_id, job.to_json(), traceparent),
            delay_seconds=int(delay.total_seconds()),
        )


def open_enriched(text: str, courier: Courier) -> tuple[EnrichedEvent, str | None]:
    return enriched_of(_open(text, courier))


def _open(text: str, courier: Courier) -> Envelope:
    try:
        return courier.open(text)
    except (ValueError, KeyError, TypeError) as error:
        raise UnexpectedMessageError("the message is not a forewarn envelope") from error


def enriched_of(envelope: Envelope) -> tuple[EnrichedEvent, str | None]:
    if envelope.kind != ENVELOPE_KIND_ENRICHED:
        raise UnexpectedMessageError(f"expected an enriched envelope, got {envelope.kind!r}")
    try:
        return EnrichedEvent.from_json(envelope.body), envelope.traceparent
    except (ValueError, KeyError, TypeError) as error:
        raise UnexpectedMessageError(f"envelope {envelope.id!r} holds no EnrichedEvent") from error


def _report_failures(event_id: str, failures: list[RenderFailure]) -> None:
    for failure in failures:
        receiver = failure.receiver
        logger.error(
            "event %s: the message for receiver %s (%s) could not be rendered; the other "
            "receivers' jobs were sent and the event will be retried",
            event_id,
            receiver.name,
            receiver.type,
            exc_info=failure.error,
        )
        count(METRIC_DELIVERIES, channel=receiver.type, outcome="render_failed")


def handle_enriched_message(
    text: str,
    courier: Courier,
    config: RoutingConfig,
    now: datetime,
    traceparent: str | None = None,
    render: Renderer = render_message,
    *,
    gatherer: EventGatherer | None = None,
    reminders: ReminderOffsets | None = None,
    silences: SilenceGate | None = None,
    links: ClaimLinks | None = None,
    claims: ClaimStore | None = None,
    start_links: StartLinks | None = None,
) -> list[DeliveryJob]:
    """The route function's one call: open, route, render, send; returns the jobs sent.

    With a ``gatherer`` (the grouping interval, gather.py) a wave's first notice is held and
    gathered with the others; its ``group`` message routes them later as one event.
    ``reminders``: the setting's reminder offsets, for receivers without their own (offsets.py).
    ``silences``: hold back silenced VMs of Azure's notices (silencing.py).

    Raises ``ReceiversNotRenderedError`` after sending the others if any receiver's message
    could not be rendered (see the module docstring for why).
    """
    envelope = _open(text, courier)
    if envelope.kind == ENVELOPE_KIND_GROUP:
        if gatherer is None:
            raise UnexpectedMessageError("a group message came, but grouping is not set up")
        merged = gatherer.close(envelope.body, now)
        if merged is None:
            return []
        enriched, carried = merged, envelope.traceparent
    else:
        enriched, carried = enriched_of(envelope)
        if gatherer is not None and park(enriched, gatherer, courier, now, carried):
            return []
    event_id = enriched.event.event_id
    with stage_span("route", event_id=event_id, traceparent=carried or traceparent) as parent:

        def send(job: DeliveryJob) -> None:
            dispatch([job], courier, now, parent)
            logger.info(
                "event %s -> %s (%s, %d VMs)%s",
                job.event_id,
                job.receiver.name,
                job.receiver.type,
                int(job.message.meta.get("vms", 0)),
                f", held until {job.not_before}" if job.not_before else "",
            )

        routed = route_receivers(
            enriched,
            config,
            now,
            render,
            on_job=send,
            reminders=reminders,
            gate=silences,
            links=links,
            ownership=claims.ownership() if claims is not None and enriched.vms else None,
            start_links=start_links,
        )
        if routed.failures:
            # Inside the span, so that the trace shows the stage failed and why.
            _report_failures(event_id, routed.failures)
            raise ReceiversNotRenderedError(
                event_id, [failure.receiver.name for failure in routed.failures]
            ) from routed.failures[0].error
    if not routed.jobs:
        logger.warning("event %s reached no receiver", event_id)
    return routed.jobs
