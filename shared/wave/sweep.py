"""The sweep: re-read watched subscriptions and compare every VM with its record.

    read    ``survey_fleet`` (the enrichment survey: the same ARM client, token buckets and
            instance-view reads), then one direct read of each open record's VM that the
            survey no longer shows (deleted, or its maintenance information gone)
    compare ``assess(record, seen)`` per VM, pure: a notice (or none) and the record to keep

    record   seen now                             notice        record becomes
    none     maintenance planned                  vm_added      pending
    open     deleted (404)                        gone          gone
    open     no maintenance, or last result       completed     completed
             MaintenanceCompleted
    open     windows differ from the record's     rescheduled   rescheduled
    gone     maintenance planned                  vm_added      pending, afresh (a new VM of
                                                                the same name)
    done     other windows, and no open record    vm_added      pending, afresh (a later
             of its region has its wave                         maintenance: a wave of its own)
    done     other windows, its wave still open   rescheduled   rescheduled (deallocated and
             in its region                                      back: the same wave)
    closed   same windows, not completed          (none)        pending again, quietly

"Afresh": the new record keeps nothing of the old one (its sends, first seen, wave); the old
one is returned as ``ended``, to be kept as its wave left it (shared/wave/history.py), so that
a later wave never threads into, or is silenced by the "said once" keys of, an earlier one.

A VM or subscription that could not be read (forbidden, throttled, unreadable) is left as its
record says: a sweep never announces what it did not see.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.enrich.instance_view import InMemoryInstanceViewCache, InstanceViewReader, VmRef
from shared.enrich.pipeline import survey_fleet
from shared.enrich.readings import describe_vms, read_vms, shutdown_schedules
from shared.enrich.services import EnrichmentServices
from shared.models import EnrichmentNote, VirtualMachine
from shared.timeutil import format_utc
from shared.wave.notices import Notice, due_of, windows_phrase, windows_text
from shared.wave.records import COMPLETED_RESULT, MaintenanceRecord

VANISHED = (
    "maintenance status no longer shown, without a completed result (Azure's FAQ: the wave "
    "ended, or the VM already runs on an updated host)"
)


class Gone:
    """The VM was deleted (ARM answered 404)."""

    def __repr__(self) -> str:
        return "GONE"


GONE = Gone()
Seen = VirtualMachine | Gone


@dataclass(frozen=True)
class Assessment:
    notice: Notice | None
    record: MaintenanceRecord | None  # None: nothing to write
    ended: MaintenanceRecord | None = None  # the record ``record`` replaces (a new wave)


def _windows(vm: VirtualMachine) -> tuple[str | None, str | None, str | None, str | None]:
    status = vm.maintenance
    if status is None:
        return (None, None, None, None)
    return (
        status.self_service_window.start,
        status.self_service_window.end,
        status.scheduled_window.start,
        status.scheduled_window.end,
    )


def _window_key(vm: VirtualMachine) -> str:
    return "|".join(part or "" for part in _windows(vm))


def assess(
    record: MaintenanceRecord | None,
    seen: Seen,
    now: datetime,
    wave_guess: str | None = None,
) -> Assessment:
    """What one VM's record and its current reading mean (pure; see the module table)."""
    stamp = format_utc(now)
    if isinstance(seen, Gone):
        if record is None or not record.is_open:
            return Assessment(None, None)
        notice = Notice("gone", record.vm, record.tracking_id, "gone", None, "deleted")
        return Assessment(notice, replace(record, status="gone", updated_at=stamp))
    vm = seen
    status = vm.maintenance
    done = status is None or status.last_result_code == COMPLETED_RESULT
    if record is None or record.status == "gone" or _later_maintenance(record, vm, wave_guess):
        if done:
            return Assessment(None, None)  # nothing to tell about a VM never followed
        tracking = wave_guess
        notice = Notice(
            "vm_added", vm, tracking, f"vm_added:{_window_key(vm)}", due_of(vm), windows_text(vm)
        )
        fresh = MaintenanceRecord.from_vm(vm, tracking_id=tracking, now=stamp)
        return Assessment(notice, fresh, ended=record)
    if done:
        if not record.is_open:
            return Assessment(None, None)
        # Only a MaintenanceCompleted result says done; a status that merely vanished is said
        # as it is (Azure's FAQ: the wave ended, or the VM already runs on an updated host).
        detail = "done (MaintenanceCompleted)" if status is not None else VANISHED
        notice = Notice("completed", vm, record.tracking_id, "completed", None, detail)
        return Assessment(
            notice,
            replace(
                MaintenanceRecord.from_vm(vm, tracking_id=None, now=stamp, previous=record),
                status="completed",
                # The windows it was done in, not the empty ones of a VM with nothing planned.
                self_service_window=record.self_service_window,
                scheduled_window=record.scheduled_window,
            ),
        )
    if _windows(vm) != record.windows:
        before = windows_phrase(record.self_service_window, record.scheduled_window)
        notice = Notice(
            "rescheduled",
            vm,
            record.tracking_id,
            f"rescheduled:{_window_key(vm)}",
            due_of(vm),
            f"now {windows_text(vm)} (was {before})",
        )
        updated = MaintenanceRecord.from_vm(
            vm, tracking_id=None, now=stamp, status="rescheduled", previous=record
        )
        return Assessment(notice, updated)
    reopened = "pending" if not record.is_open else record.status
    updated = MaintenanceRecord.from_vm(
        vm, tracking_id=None, now=stamp, status=reopened, previous=record
    )
    changed = (
        updated.status != record.status
        or updated.allowed_now != record.allowed_now
        or updated.last_result != record.last_result
        or updated.advice != record.advice
    )
    return Assessment(None, updated if changed else None)


def _later_maintenance(
    record: MaintenanceRecord, vm: VirtualMachine, wave_guess: str | None
) -> bool:
    """A done record's VM has other windows now, and its wave is not running in its region any
    more (``wave_guess``: the wave its region's open records carry): a later maintenance, not
    this wave's. Same windows: Azure closed the wave while the VM still shows it (reopened)."""
    if record.status != "completed" or _windows(vm) == record.windows:
        return False
    own = (record.tracking_id or "").lower()
    return not own or own != (wave_guess or "").lower()


# --------------------------------------------------------------------------------------
# Reading and comparing a whole sweep


@dataclass
class SweepFindings:
    notices: list[Notice] = field(default_factory=list)
    records: list[MaintenanceRecord] = field(default_factory=list)  # to write once sent
    ended: list[MaintenanceRecord] = field(default_factory=list)  # replaced by a new wave's
    notes: list[EnrichmentNote] = field(default_factory=list)
    vms_seen: int = 0


def _guess_wave(records: Iterable[MaintenanceRecord]) -> dict[tuple[str, str], str]:
    """(subscription, region) -> the tracking id most of its open records carry."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for record in records:
        if record.is_open and record.tracking_id:
            where = (record.subscription_id, record.vm.location.lower())
            counts.setdefault(where, Counter())[record.tracking_id] += 1
    return {where: counter.most_common(1)[0][0] for where, counter in counts.items()}


def read_again(
    missing: list[MaintenanceRecord], services: EnrichmentServices
) -> tuple[dict[str, Seen], list[EnrichmentNote]]:
    """Read each record's VM again, past the cache: deleted ones are ``GONE``; a VM that could
    not be read is left out, with a note (transient ARM failures raise).

    The readings become VMs through ``describe_vms``, as a first notice's do: a reminder must
    give the same advice, with the same reasons, as the notice it reminds of (issue 16)."""
    refs = [VmRef(record.vm_id) for record in missing]
    seen: dict[str, Seen] = {}
    notes: list[EnrichmentNote] = []
    readings, read_notes = read_vms(refs, _uncached(services), "raise")
    shutdown, schedule_notes = (
        shutdown_schedules((r.vm.subscription_id for r in readings), services)
        if readings
        else (set(), [])
    )
    vms, described_notes = describe_vms(readings, services, shutdown)
    for vm in vms:
        seen[vm.id.lower()] = vm
    for note in [*read_notes, *schedule_notes, *described_notes]:
        if note.code == "vm_gone" and note.resource_id:
            seen[note.resource_id.lower()] = GONE
        else:
            notes.append(note)
    return seen, notes


def _uncached(services: EnrichmentServices) -> EnrichmentServices:
    """The same ARM client and pacing, without the instance-view cache: a VM that dropped out
    of the survey must be seen as it is now, not as read a few minutes ago."""
    reader = InstanceViewReader(
        services.arm, InMemoryInstanceViewCache(), clock=services.reader.clock
    )
    return replace(services, reader=reader)


def sweep_subscriptions(
    subscriptions: list[str],
    records: list[MaintenanceRecord],
    services: EnrichmentServices,
    now: datetime,
) -> SweepFindings:
    """Read ``subscriptions`` and assess every VM against ``records`` (of those subscriptions).

    Transient ARM failures raise (the timer tries again next time); per-VM and
    per-subscription failures are notes, and the VMs concerned keep their records."""
    wanted = {s.lower() for s in subscriptions}
    records = [r for r in records if r.subscription_id in wanted]
    survey = survey_fleet(sorted(wanted), services)
    findings = SweepFindings(notes=list(survey.notes), vms_seen=len(survey.vms))
    blind_subscriptions = {
        n.subscription_id.lower() for n in survey.notes if n.subscription_id and not n.resource_id
    }
    blind_vms = {n.resource_id.lower() for n in survey.notes if n.resource_id}
    gone_in_survey = {
        n.resource_id.lower() for n in survey.notes if n.code == "vm_gone" and n.resource_id
    }
    by_id = {record.vm_id.lower(): record for record in records}
    seen: dict[str, Seen] = {vm.id.lower(): vm for vm in survey.vms}
    for vm_id in gone_in_survey:
        seen[vm_id] = GONE
    missing = [
        record
        for key, record in by_id.items()
        if record.is_open
        and key not in seen
        and key not in blind_vms
        and record.subscription_id not in blind_subscriptions
    ]
    if missing:
        more, notes = read_again(missing, services)
        seen.update(more)
        findings.notes.extend(notes)
    guesses = _guess_wave(records)
    for key, reading in sorted(seen.items()):
        record = by_id.get(key)
        guess = None
        if isinstance(reading, VirtualMachine):
            guess = guesses.get((reading.subscription_id.lower(), reading.location.lower()))
        assessment = assess(record, reading, now, guess)
        if assessment.notice is not None:
            findings.notices.append(assessment.notice)
        if assessment.record is not None:
            findings.records.append(assessment.record)
        if assessment.ended is not None:
            findings.ended.append(assessment.ended)
    return findings
