"""Maintenance someone started outside forewarn, heard from the Administrative Activity Log.

The Bicep's Administrative alert rule sends every ``performMaintenance`` operation of a VM, a
scale set or a scale-set VM (started in the portal, with ``az vm perform-maintenance``, by any
tool). For each VM it names that forewarn follows (an open maintenance record), enrichment
then:

    record      status ``self_service_started``: the reminders stop (reminders.py); the sweep
                still follows the VM and says "completed" when Azure reports it done, or
                "rescheduled" (and the reminders resume) if Azure gives it new windows
    message     the event is reshaped to follow the wave: the record's tracking id (so delivery
                threads it under the wave's first message), status Started, or Completed
                when every VM's record now says completed (its last result
                MaintenanceCompleted), and the title "by <caller> at <time>" (every
                channel's first line then reads "Maintenance started: <VMs>: by …" or
                "Maintenance completed: …", render/labels.py; a heading never says started
                above a body that says completed), an id made from
                the wave and the VMs, and the wave's VMs nobody has started yet in
                ``remaining`` (the message says "Still to do: start sql-02 by …")

One operation raises several alerts (Started, then Succeeded): they all get that same id, so
delivery's idempotency lets one message through. A Failed operation, another operation, or a
VM forewarn does not follow leaves the event as it came: routed as any Administrative event,
with no record written (``is_started_maintenance`` is False, or ``record_started`` finds
nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final

from shared.models import EnrichedEvent, VirtualMachine
from shared.parsing.operations import reports_started_maintenance
from shared.timeutil import format_utc, parse_utc
from shared.wave.records import (
    COMPLETED_RESULT,
    MaintenanceRecord,
    RecordStatus,
    RecordStore,
    SentNotice,
    put_all,
    remaining_vm,
)

STARTED_STATUS: Final = "self_service_started"
# The communication id of the notice a Start from the message sends (shared/start/notice.py).
FOREWARN_START_PREFIX: Final = "forewarn-start:"


@dataclass(frozen=True)
class Started:
    """What ``record_started`` did: the event to route, and the records it marked."""

    enriched: EnrichedEvent
    records: list[MaintenanceRecord]


def is_started_maintenance(enriched: EnrichedEvent) -> bool:
    return reports_started_maintenance(enriched.event)


def record_started(enriched: EnrichedEvent, store: RecordStore) -> Started:
    """Mark the records of the VMs whose maintenance was started; reshape the event.

    Only VMs with an open record count: a VM forewarn never announced has no reminders to
    stop and no thread to tell. The VM as enrichment just read it is kept in the record.
    """
    event = enriched.event
    previous_of: dict[str, MaintenanceRecord] = {}
    for subscription in sorted({vm.subscription_id.lower() for vm in enriched.vms}):
        for known in store.of_subscription(subscription):
            previous_of[known.vm_id.lower()] = known
    followed = [
        (vm, previous_of[vm.id.lower()])
        for vm in enriched.vms
        if vm.id.lower() in previous_of and previous_of[vm.id.lower()].is_open
    ]
    if not followed:
        return Started(enriched, [])
    tracking_id = next((r.tracking_id for _, r in followed if r.tracking_id), None)
    event_id = started_event_id(tracking_id, [vm for vm, _ in followed])
    stamp = enriched.enriched_at
    # A Start from the message that ended Succeeded followed each VM's operation to its end
    # and read its result fresh (start/desk.py): done, whatever the VM's read says. An Activity
    # Log alert is not taken so: its Started and Succeeded share one message, which said
    # "started"; the sweep then says "completed". Its VMs were read fresh from ARM, not the
    # cache (subscription_vms.discover), so a Succeeded alert that comes first says what ARM
    # says of them then.
    told_done = (event.communication_id or "").startswith(FOREWARN_START_PREFIX) and (
        event.status or ""
    ).lower() == "succeeded"
    # What the message says of them, for the board's "told" column (wave/board.py).
    finished = told_done or all(
        vm.maintenance is not None and vm.maintenance.last_result_code == COMPLETED_RESULT
        for vm, _ in followed
    )
    from_message = (event.communication_id or "").startswith(FOREWARN_START_PREFIX)
    about = ("Completed" if finished else "Started") + (", from a message" if from_message else "")
    records = []
    for vm, previous in followed:
        done = told_done or (
            vm.maintenance is not None and vm.maintenance.last_result_code == COMPLETED_RESULT
        )
        status: RecordStatus = "completed" if done else STARTED_STATUS
        record = MaintenanceRecord.from_vm(
            vm,
            tracking_id=None,  # the record's own wave is kept (from_vm takes previous's)
            now=stamp,
            status=status,
            previous=previous,
        ).with_sent(SentNotice(f"started:{event_id}", "started", event_id, stamp, about=about))
        if vm.maintenance is None:
            # The instance view no longer says (maintenance under way): keep the windows
            # people were told, as the sweep does for a completed VM.
            record = replace(
                record,
                self_service_window=previous.self_service_window,
                scheduled_window=previous.scheduled_window,
            )
        records.append(record)
    put_all(store, records)
    vms = [vm for vm, _ in followed]
    reshaped = replace(
        event,
        event_id=event_id,
        tracking_id=tracking_id,
        # Whichever entry of the operation comes first (Started, Accepted, Succeeded), what it
        # tells is what the VMs' records now say: "Maintenance started: <VMs>: by … at …", or
        # "Maintenance completed: …" when Azure already reports every one of them done.
        status="Completed" if finished else "Started",
        title=started_title(event.caller, event.event_time),
        # A start forewarn made itself (Start from the message, shared/start/notice.py) says
        # its own story (who pressed, the outcome); any other was made outside forewarn.
        summary=event.summary
        if (event.communication_id or "").startswith(FOREWARN_START_PREFIX)
        else started_summary(vms, event.caller, event.event_time, event.operation_name),
        resource_ids=[vm.id for vm in vms],
    )
    remaining = _still_open(previous_of.values(), vms, tracking_id)
    return Started(replace(enriched, event=reshaped, vms=vms, remaining=remaining), records)


def _still_open(
    known: Iterable[MaintenanceRecord], started: list[VirtualMachine], tracking_id: str | None
) -> list[VirtualMachine]:
    """The wave's other open VMs (same tracking id): the message says what is still to do, so
    that one VM started is not read as nothing left to do; one started earlier is said to be
    under way. Records of other subscriptions of the wave are not read."""
    told = {vm.id.lower() for vm in started}
    return [
        remaining_vm(record)
        for record in sorted(known, key=lambda record: record.vm_id.lower())
        if record.is_open
        and record.vm_id.lower() not in told
        and (record.tracking_id or "").lower() == (tracking_id or "").lower()
    ]


def started_event_id(tracking_id: str | None, vms: list[VirtualMachine]) -> str:
    """The same for every alert of one started maintenance (Started, Succeeded, a re-post)."""
    digest = hashlib.sha256()
    for part in ("started", (tracking_id or "").lower(), *sorted(vm.id.lower() for vm in vms)):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return f"wave-started-{digest.hexdigest()[:24]}"


def started_title(caller: str | None, at: str | None) -> str:
    """The part after the headline's "Maintenance started: <VMs>:"."""
    return f"by {caller or 'someone'} at {_utc_text(at)}"


def _utc_text(at: str | None) -> str:
    """The Activity Log's moment in ISO 8601 UTC: each renderer says it in its receiver's
    zone, as every other time of the message (shared/render/text.py, ``say_moments``)."""
    if not at:
        return "an unknown time"
    try:
        return format_utc(parse_utc(at))
    except ValueError:
        return at


def started_summary(
    vms: list[VirtualMachine], caller: str | None, at: str | None, operation: str | None
) -> str:
    who = caller or "someone (the Activity Log names no caller)"
    return (
        f"{who} started the self-service maintenance of {len(vms)} VM"
        f"{'' if len(vms) == 1 else 's'} at {_utc_text(at)} ({operation}), outside "
        "forewarn. No more reminders are sent for "
        f"{'it' if len(vms) == 1 else 'them'}; forewarn says when Azure reports it done."
    )
