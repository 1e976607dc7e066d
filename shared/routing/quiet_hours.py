"""Quiet hours: whether a receiver's job waits, until when, and how its message must then read.

A receiver may set quiet hours in its own time zone. A job that comes inside them is held until
they end (the job's ``not_before``; the stage sends it with that queue delay), except emergency
maintenance (Service Health levels ``URGENT_LEVELS``) and a job whose VMs have a deadline
within ``URGENT_MARGIN`` of the quiet hours' end: a message that arrives too late to act on is
worse than one at night. A held message is rendered for the moment it arrives: a plan whose
first step would start before then (plus the plan's lead time) is made again from then.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from shared.enrich.plan import PlanSettings, plan_maintenance
from shared.models import EnrichedEvent, Receiver, VirtualMachine
from shared.render.text import zone_or_utc
from shared.timeutil import parse_utc

# Quiet hours never hold a message that would arrive later than this before its deadline.
URGENT_MARGIN = timedelta(hours=2)
# Levels Service Health uses for emergency (not routine) maintenance.
URGENT_LEVELS = frozenset({"warning", "error", "critical"})


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(receiver: Receiver, now: datetime) -> datetime | None:
    """When the receiver's quiet hours end, if ``now`` is inside them (UTC), else None."""
    quiet = receiver.quiet_hours
    if quiet is None:
        return None
    zone = zone_or_utc(receiver.timezone)
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


def as_sent_at(enriched: EnrichedEvent, sent_at: datetime) -> EnrichedEvent:
    """The event as a message sent at ``sent_at`` must show it: a plan whose first step would
    start before ``sent_at`` plus the plan's lead time is made again from then, with the same
    step length, gap and lead (a message held through quiet hours must not offer steps that
    are already past, or about to start, when it arrives)."""
    plan = enriched.plan
    if plan is None or not plan.steps:
        return enriched
    earliest = sent_at + timedelta(minutes=plan.lead_minutes)
    if min(parse_utc(step.start) for step in plan.steps) >= earliest:
        return enriched
    settings = PlanSettings(
        gap_minutes=plan.gap_minutes,
        step_minutes=plan.step_minutes,
        lead_minutes=plan.lead_minutes,
    )
    return replace(enriched, plan=plan_maintenance(enriched.vms, sent_at, settings))
