"""What Azure's notices write into the per-VM records (shared/wave/records.py), as the enrich
stage handles them: a notice of planned maintenance records each VM it names (a VM whose last
wave ended begins a new one), and a notice that ends a wave (Resolved, Complete, Canceled)
closes that wave's open records quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from shared.models import EnrichedEvent, MaintenanceEvent
from shared.wave.records import (
    ABOUT_TRACKING,
    COMPLETED_RESULT,
    MaintenanceRecord,
    RecordStore,
    SentNotice,
    put_all,
)

# Service Health stages that end a wave (enrichment reads no VMs for them).
CLOSING_STAGES = frozenset({"resolved", "complete", "completed", "canceled", "cancelled"})


def is_closing(event: MaintenanceEvent) -> bool:
    """Azure's notice that ends a wave (Resolved, Complete, Canceled) with its tracking id."""
    return (event.stage or "").lower() in CLOSING_STAGES and bool(event.tracking_id)


def begins_new_wave(previous: MaintenanceRecord | None, tracking_id: str | None) -> bool:
    """Whether maintenance of a VM named under ``tracking_id`` is a wave of its own rather than
    more of ``previous``'s: ``previous`` ended (done, deleted) and this names another wave.

    A record still open that Azure names under another tracking id (the wave issued again)
    is the same work on the same VM: it takes the new id and keeps its claim and history, so
    that no board shows the VM "to do" in a wave that no longer has it."""
    if previous is None or previous.is_open:
        return False
    return (previous.tracking_id or "").lower() != (tracking_id or "").lower()


@dataclass(frozen=True)
class Announced:
    """What ``record_announced`` wrote: the records, and those it replaced because their VM
    begins a new wave (kept as their wave left them: shared/wave/history.py)."""

    records: list[MaintenanceRecord]
    ended: list[MaintenanceRecord]

    def __len__(self) -> int:
        return len(self.records)


def record_announced(
    enriched: EnrichedEvent,
    store: RecordStore,
    keep_ended: Callable[[list[MaintenanceRecord]], object] | None = None,
) -> Announced:
    """Record every VM of an enriched notice that has planned maintenance.

    A later notice of the same VM and wave (another subscription's alert, a Rescheduled stage)
    brings its windows up to date and keeps what was sent before. A notice of another
    wave, for a VM whose last wave ended, starts it afresh (``begins_new_wave``): nothing
    said, claimed or escalated in the last wave carries over, and the record that wave left
    is returned in ``ended``, and handed to ``keep_ended`` before the new one replaces it (a
    crash in between loses neither).
    """
    event = enriched.event
    if is_closing(event):
        return Announced(close_wave(enriched, store), [])
    planned = [vm for vm in enriched.vms if vm.maintenance is not None]
    # One query per subscription instead of one read per VM: a wave names thousands of VMs.
    previous_of: dict[str, MaintenanceRecord] = {}
    for subscription in sorted({vm.subscription_id.lower() for vm in planned}):
        for known in store.of_subscription(subscription):
            previous_of[known.vm_id.lower()] = known
    records = []
    ended = []
    for vm in planned:
        status = vm.maintenance
        assert status is not None  # filtered above
        previous = previous_of.get(vm.id.lower())
        if begins_new_wave(previous, event.tracking_id):
            assert previous is not None
            ended.append(previous)
            previous = None
        done = status.last_result_code == COMPLETED_RESULT
        record = MaintenanceRecord.from_vm(
            vm,
            tracking_id=event.tracking_id,
            now=enriched.enriched_at,
            status="completed" if done else "pending",
            previous=previous,
        ).with_sent(
            SentNotice(
                f"announced:{event.event_id}",
                "announced",
                event.event_id,
                enriched.enriched_at,
                about=notice_about(event),
            )
        )
        records.append(record)
    if ended and keep_ended is not None:
        keep_ended(ended)
    put_all(store, records)
    return Announced(records, ended)


def notice_about(event: MaintenanceEvent) -> str:
    """``Rescheduled`` or ``Planned, recovered; tracking TRK``: which notice, in Azure's stage
    words, and the tracking id it came under (a wave Azure re-issues keeps its open VMs'
    records, and its board names the earlier notice by the id the portal lists it under)."""
    stage = " ".join((event.stage or "").split())[:40] or "no stage"
    about = f"{stage}, recovered" if event.recovered else stage
    return f"{about}{ABOUT_TRACKING}{event.tracking_id}" if event.tracking_id else about


def close_wave(enriched: EnrichedEvent, store: RecordStore) -> list[MaintenanceRecord]:
    """Azure closed the wave (Resolved, Complete, Canceled): its open records close quietly;
    returns them as closed.

    Azure's own notice tells people; without this, a sweep that then finds the maintenance
    information gone would announce a cancelled maintenance as "completed".
    """
    event = enriched.event
    wave = (event.tracking_id or "").lower()
    stage = (event.stage or "").lower()
    closed = [
        replace(record, status="completed", updated_at=enriched.enriched_at).with_sent(
            SentNotice(f"closed:{event.event_id}", stage, event.event_id, enriched.enriched_at)
        )
        for subscription in sorted({s.lower() for s in event.subscription_ids})
        for record in store.of_subscription(subscription)
        if record.is_open and (record.tracking_id or "").lower() == wave
    ]
    put_all(store, closed)
    return closed
