"""The grouping interval: a wave's notices, one per subscription, reach a receiver as one message.

Action Groups fire once per subscription, so one wave arrives as several notices a few seconds
apart, each naming its own subscription's VMs. Like Alertmanager's ``group_wait``, the route
stage waits a short interval (``FOREWARN_GROUP_WAIT_SECONDS``, default 60 s, 0 = off) after the
first notice of a wave and notice type before routing anything, gathers the others, and routes
them as one event listing every VM:

    first notice      → a row in ``eventgroups`` (``gathering``, due = now + wait), the notice
                        parked in the payload store, and a ``group`` message on the enriched
                        queue, invisible until due (the queue's own visibility delay)
    another, in time  → added to the row (a conditional write, so none is lost to a race)
    the group message → the row is closed (conditionally), its notices merged and routed once
    another, too late → routed on its own; delivery threads it under the first (threads.py)

State is durable (a table row, payload blobs, a delayed queue message), so a worker that dies
during the interval loses nothing: the delayed message still comes, and a retried one finds
the row closed with the same members and routes the same merged event (same event id, so
delivery's idempotency drops what already went out). A group of one routes its notice as it
came. A closed group is replaced by a new one for a notice that comes ``REGROUP_AFTER`` later
(Azure re-issuing a wave's notice days later is news again, for every subscription at once).

Only Azure's own maintenance notices with a tracking id are gathered: the wave timers' events
already list a wave's VMs across subscriptions, and a notice without a tracking id has no wave.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from shared import names
from shared.enrich.plan import PlanSettings, plan_maintenance
from shared.models import EnrichedEvent, EnrichmentNote, ImpactedService, VirtualMachine
from shared.render.lifecycle import is_wave_timer_event, notice_type, wave_key
from shared.storage import (
    MAX_QUEUE_DELAY,
    Courier,
    EntityTable,
    Envelope,
    PayloadStore,
    StorageServices,
    table_key,
)
from shared.telemetry import get_logger
from shared.timeutil import format_utc, parse_utc

log = get_logger(__name__)

ENVELOPE_KIND_GROUP = "group"  # on the enriched queue: "route this group now"
DEFAULT_WAIT = timedelta(seconds=60)
REGROUP_AFTER = timedelta(hours=1)
PARTITION = "group"
_MAX_WRITE_TRIES = 20  # conditional writes lost to other workers before giving up


MAX_WAIT_SECONDS = 3600


def group_wait_from(environ: Mapping[str, str]) -> timedelta:
    """The grouping interval. A value that is not whole seconds from 0 to 3600 is logged and
    the default used: every notice would fail to route otherwise (as reminder offsets do)."""
    text = environ.get(names.SETTING_GROUP_WAIT_SECONDS, "").strip()
    if not text:
        return DEFAULT_WAIT
    if not text.isdigit() or int(text) > MAX_WAIT_SECONDS:
        log.warning(
            "%s=%r is not whole seconds from 0 to %d; using %d",
            names.SETTING_GROUP_WAIT_SECONDS,
            text,
            MAX_WAIT_SECONDS,
            DEFAULT_WAIT.seconds,
        )
        return DEFAULT_WAIT
    return timedelta(seconds=int(text))


Verdict = Literal["route", "opened", "joined"]


@dataclass(frozen=True)
class Gathered:
    """What to do with a notice now: route it alone, or nothing (its group will)."""

    verdict: Verdict
    key: str = ""
    group_id: str = ""
    due: datetime | None = None

    def flush_body(self) -> dict[str, str]:
        """The ``group`` message that routes the group once ``due``."""
        return {"key": self.key, "group_id": self.group_id}


def group_key(enriched: EnrichedEvent) -> str | None:
    """``wave|notice type`` for a notice to gather, else None."""
    event = enriched.event
    if is_wave_timer_event(event):
        return None
    wave, kind = wave_key(event), notice_type(event)
    if wave is None or kind is None:
        return None
    return f"{wave}|{kind}"


class EventGatherer:
    def __init__(self, table: EntityTable, payloads: PayloadStore, wait: timedelta) -> None:
        self._table = table
        self._payloads = payloads
        self.wait = wait

    @classmethod
    def from_storage(cls, storage: StorageServices, environ: Mapping[str, str]) -> EventGatherer:
        return cls(
            storage.table(names.TABLE_EVENT_GROUPS), storage.payloads, group_wait_from(environ)
        )

    def gather(self, enriched: EnrichedEvent, now: datetime) -> Gathered:
        key = group_key(enriched)
        if key is None or self.wait <= timedelta(0):
            return Gathered("route")
        row = table_key(key)
        for _ in range(_MAX_WRITE_TRIES):
            current = self._table.get_versioned(PARTITION, row)
            if current is None:
                fresh = self._fresh(key, enriched, now, generation=1)
                if self._table.insert_if_absent(PARTITION, row, fresh):
                    return Gathered("opened", key, fresh["group_id"], now + self.wait)
                continue
            entity = current.entity
            if entity.get("state") == "gathering":
                members = json.loads(str(entity.get("members") or "[]"))
                if enriched.event.event_id in {m["event_id"] for m in members}:
                    # A redelivery: the first try may have failed before the group message
                    # was sent, so it is sent again (a second one routes the same event).
                    due = parse_utc(str(entity["due"]))
                    return Gathered("opened", key, str(entity["group_id"]), due)
                members.append(self._park(str(entity["group_id"]), enriched))
                # The table's writes set PartitionKey and RowKey themselves: the row is
                # written back as read, with one field changed.
                joined = {**entity, "members": json.dumps(members)}
                if self._table.update_if_unchanged(PARTITION, row, joined, current.etag):
                    return Gathered("joined", key, str(entity["group_id"]))
                continue
            closed_at = parse_utc(str(entity.get("closed_at") or format_utc(now)))
            if now - closed_at < REGROUP_AFTER:
                return Gathered("route")  # late: it follows the group's message in its thread
            generation = int(entity.get("generation") or 1) + 1
            fresh = self._fresh(key, enriched, now, generation)
            if self._table.update_if_unchanged(PARTITION, row, fresh, current.etag):
                return Gathered("opened", key, fresh["group_id"], now + self.wait)
        raise GroupContentionError(f"group {key}: {_MAX_WRITE_TRIES} conditional writes lost")

    def close(self, body: Mapping[str, Any], now: datetime) -> EnrichedEvent | None:
        """The group named by a ``group`` message, closed and merged; None if it is gone or
        is a later generation than the message's (a stale message)."""
        key, group_id = str(body.get("key") or ""), str(body.get("group_id") or "")
        row = table_key(key)
        for _ in range(_MAX_WRITE_TRIES):
            current = self._table.get_versioned(PARTITION, row)
            if current is None or current.entity.get("group_id") != group_id:
                log.warning("group %s (%s) is gone; nothing to route", group_id, key)
                return None
            entity = current.entity
            members = json.loads(str(entity.get("members") or "[]"))
            if entity.get("state") != "gathering":
                return self._merged(group_id, members, now)  # a retried message
            closed = {**entity, "state": "closed", "closed_at": format_utc(now)}
            if self._table.update_if_unchanged(PARTITION, row, closed, current.etag):
                return self._merged(group_id, members, now)
        raise GroupContentionError(f"group {key}: {_MAX_WRITE_TRIES} conditional writes lost")

    # ----------------------------------------------------------------------------------

    def _fresh(
        self, key: str, enriched: EnrichedEvent, now: datetime, generation: int
    ) -> dict[str, Any]:
        digest = hashlib.sha256(f"{key}|{generation}|{format_utc(now)}".encode()).hexdigest()
        group_id = f"group-{digest[:24]}"
        return {
            "key": key,
            "group_id": group_id,
            "generation": generation,
            "state": "gathering",
            "opened_at": format_utc(now),
            "due": format_utc(now + self.wait),
            "members": json.dumps([self._park(group_id, enriched)]),
        }

    def _park(self, group_id: str, enriched: EnrichedEvent) -> dict[str, str]:
        ref = f"groups/{group_id}/{uuid.uuid4().hex}.json"
        body = json.dumps(enriched.to_json(), separators=(",", ":"), ensure_ascii=False)
        self._payloads.put(ref, body.encode("utf-8"))
        return {"event_id": enriched.event.event_id, "ref": ref}

    def _merged(self, group_id: str, members: list[dict[str, str]], now: datetime) -> EnrichedEvent:
        events = [
            EnrichedEvent.from_json(json.loads(self._payloads.get(member["ref"]).decode("utf-8")))
            for member in members
        ]
        return merge_events(events, group_id, now)


class GroupContentionError(RuntimeError):
    """Other workers kept changing the group row; raising lets the host retry the message."""


def merge_events(events: list[EnrichedEvent], group_id: str, now: datetime) -> EnrichedEvent:
    """One event listing every VM of the gathered notices (a group of one: that notice)."""
    if len(events) == 1:
        return events[0]
    first = events[0]
    vms: dict[str, VirtualMachine] = {}
    closed: dict[str, VirtualMachine] = {}
    regions: dict[str, dict[str, None]] = {}
    subscriptions: dict[str, None] = {}
    resources: dict[str, None] = {}
    notes: dict[tuple[str, str, str | None], EnrichmentNote] = {}
    for enriched in events:
        for vm in enriched.vms:
            vms.setdefault(vm.id.lower(), vm)
        for vm in enriched.closed:
            closed.setdefault(vm.id.lower(), vm)
        for service in enriched.event.impacted:
            for region in service.regions:
                regions.setdefault(service.service, {}).setdefault(region, None)
        for subscription in enriched.event.subscription_ids:
            subscriptions.setdefault(subscription.lower(), None)
        for resource in enriched.event.resource_ids:
            resources.setdefault(resource, None)
        for note in enriched.notes:
            notes.setdefault((note.code, note.message, note.receiver), note)
    event = replace(
        first.event,
        event_id=group_id,
        subscription_ids=list(subscriptions),
        resource_ids=list(resources),
        impacted=[ImpactedService(service, list(found)) for service, found in regions.items()],
        # Part of the message came from the Activity Log: it says so (facts.RECOVERED_LINE).
        recovered=any(enriched.event.recovered for enriched in events),
    )
    plans = [enriched.plan for enriched in events if enriched.plan is not None]
    plan = None
    if plans:
        settings = PlanSettings(
            gap_minutes=plans[0].gap_minutes,
            step_minutes=plans[0].step_minutes,
            lead_minutes=plans[0].lead_minutes,
        )
        plan = plan_maintenance(list(vms.values()), now, settings)
    return EnrichedEvent(
        event=event,
        vms=list(vms.values()),
        plan=plan,
        notes=list(notes.values()),
        enriched_at=max(enriched.enriched_at for enriched in events),
        closed=list(closed.values()),
    )


def park(
    enriched: EnrichedEvent,
    gatherer: EventGatherer,
    courier: Courier,
    now: datetime,
    traceparent: str | None,
) -> bool:
    """Whether the notice was kept for its group (and nothing is to be routed now).

    The first notice of a group opens it: its ``group`` message goes on the enriched queue,
    invisible until the group is due, and routes the gathered notices then."""
    gathered = gatherer.gather(enriched, now)
    if gathered.verdict == "route":
        return False
    if gathered.verdict == "opened" and gathered.due is not None:
        delay = min(max(gathered.due - now, timedelta(0)), MAX_QUEUE_DELAY)
        courier.send(
            names.QUEUE_ENRICHED,
            Envelope(ENVELOPE_KIND_GROUP, gathered.group_id, gathered.flush_body(), traceparent),
            delay_seconds=int(delay.total_seconds()),
        )
    log.info(
        "event %s %s group %s (%s)",
        enriched.event.event_id,
        "opened" if gathered.verdict == "opened" else "joined",
        gathered.group_id,
        gathered.key,
    )
    return True
