"""The route stage: an enriched event in, one rendered ``DeliveryJob`` per receiver out.

    open envelope (kind "enriched") → group VMs per receiver → render per channel
    → quiet hours (``not_before``) → one message per job on that channel's queue

Every job is rendered before any is sent, so a rendering failure sends nothing; a failure
while sending raises and the platform retries the whole event, which delivery's idempotency
record (keyed on ``job_id``) turns into no duplicate messages.

    RouteStageError
    └── UnexpectedMessageError   the queue message is not an enriched event
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import names
from shared.models import DeliveryJob, EnrichedEvent, Receiver, VirtualMachine
from shared.render import render_message
from shared.routing.grouping import group_event
from shared.routing.rules import RoutingConfig
from shared.storage import Courier, Envelope
from shared.telemetry import get_logger, stage_span
from shared.timeutil import format_utc, parse_utc

logger = get_logger(__name__)

ENVELOPE_KIND_ENRICHED = "enriched"
ENVELOPE_KIND_DELIVERY = "delivery"
# Quiet hours never hold a message that would arrive later than this before its deadline.
URGENT_MARGIN = timedelta(hours=2)
# Levels Service Health uses for emergency (not routine) maintenance.
URGENT_LEVELS = frozenset({"warning", "error", "critical"})
MAX_QUEUE_DELAY = timedelta(days=7) - timedelta(minutes=1)  # Azure Queue visibility limit


class RouteStageError(Exception):
    """Base class of route-stage failures."""


class UnexpectedMessageError(RouteStageError):
    """The message is not an ``enriched`` envelope with an ``EnrichedEvent`` body."""


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(receiver: Receiver, now: datetime) -> datetime | None:
    """When the receiver's quiet hours end, if ``now`` is inside them (UTC), else None."""
    quiet = receiver.quiet_hours
    if quiet is None:
        return None
    try:
        zone = ZoneInfo(receiver.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    start, end = _clock_time(quiet.start), _clock_time(quiet.end)
    moment = local.time().replace(tzinfo=None)
    inside = start <= moment < end if start < end else (moment >= start or moment < end)
    if not inside:
        return None
    day = local.date() if moment < end else local.date() + timedelta(days=1)
    # zoneinfo resolves a wall time in a DST gap or fold; converting to UTC settles it.
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def _deadlines(enriched: EnrichedEvent, vms: list[VirtualMachine], now: datetime) -> list[datetime]:
    moments: list[datetime | None] = []
    for vm in vms:
        status = vm.maintenance
        if status is None:
            continue
        moments.append(status.scheduled_window.start_dt)
        if status.self_service_allowed and vm.advice.action == "self_service":
            moments.append(status.self_service_window.end_dt)
    if enriched.event.impact_start:
        moments.append(parse_utc(enriched.event.impact_start))
    return [moment for moment in moments if moment is not None and moment >= now]


def hold_until(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> datetime | None:
    """``not_before`` for a job: the end of quiet hours, unless holding would be too late."""
    until = quiet_until(receiver, now)
    if until is None:
        return None
    if (enriched.event.level or "").lower() in URGENT_LEVELS:
        return None
    if any(deadline <= until + URGENT_MARGIN for deadline in _deadlines(enriched, vms, now)):
        return None
    return until


def route_event(enriched: EnrichedEvent, config: RoutingConfig, now: datetime) -> list[DeliveryJob]:
    """Group, render and time one job per receiver (pure: nothing is sent)."""
    jobs: list[DeliveryJob] = []
    event_id = enriched.event.event_id
    for group in group_event(enriched, config, now):
        message = render_message(enriched, group.receiver, group.vms, now)
        message = replace(message, meta={**message.meta, "routes": group.routes})
        held = hold_until(enriched, group.receiver, group.vms, now)
        jobs.append(
            DeliveryJob(
                job_id=f"{event_id}:{group.receiver.name}",
                event_id=event_id,
                receiver=group.receiver,
                message=message,
                created_at=format_utc(now),
                not_before=format_utc(held) if held else None,
            )
        )
    return jobs


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
    try:
        envelope = courier.open(text)
    except (ValueError, KeyError, TypeError) as error:
        raise UnexpectedMessageError("the message is not a forewarn envelope") from error
    if envelope.kind != ENVELOPE_KIND_ENRICHED:
        raise UnexpectedMessageError(f"expected an enriched envelope, got {envelope.kind!r}")
    try:
        return EnrichedEvent.from_json(envelope.body), envelope.traceparent
    except (ValueError, KeyError, TypeError) as error:
        raise UnexpectedMessageError(f"envelope {envelope.id!r} holds no EnrichedEvent") from error


def handle_enriched_message(
    text: str,
    courier: Courier,
    config: RoutingConfig,
    now: datetime,
    traceparent: str | None = None,
) -> list[DeliveryJob]:
    """The route function's one call: open, route, render, send; returns the jobs sent."""
    enriched, carried = open_enriched(text, courier)
    event_id = enriched.event.event_id
    with stage_span("route", event_id=event_id, traceparent=carried or traceparent) as parent:
        jobs = route_event(enriched, config, now)
        dispatch(jobs, courier, now, parent)
    if not jobs:
        logger.warning("event %s reached no receiver", enriched.event.event_id)
    for job in jobs:
        logger.info(
            "event %s -> %s (%s, %d VMs)%s",
            job.event_id,
            job.receiver.name,
            job.receiver.type,
            int(job.message.meta.get("vms", 0)),
            f", held until {job.not_before}" if job.not_before else "",
        )
    return jobs
