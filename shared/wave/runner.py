"""One pass of the sweep or the reminders, wired to ARM, the records and the route stage.

    read (ARM) -> assess (pure) -> receivers (routing file) -> enqueue -> write records

Notices go where Azure's own notices go: each event is put on the ``enriched`` queue as the
enrich stage does, and the route function picks receivers from the same routing file, renders
and honours quiet hours. The receivers are also worked out here, with the same grouping code,
so that ``--dry-run`` can say who would be told and each record can say who was.

Records are written only after every event was enqueued: a pass that fails half-way is simply
run again, its events get the same ids, and delivery's idempotency drops what already went out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from shared import names
from shared.enrich.services import EnrichmentServices
from shared.routing.config import config_path as routing_file
from shared.routing.config import load_config
from shared.routing.grouping import group_event
from shared.routing.rules import RoutingConfig
from shared.storage import Courier, Envelope, StorageServices
from shared.telemetry import get_logger
from shared.timeutil import format_utc
from shared.wave.claims import ClaimStore, Ownership, owner_text
from shared.wave.escalations import candidates, escalation_notice, resolutions
from shared.wave.history import TableWaveHistory, WaveHistory
from shared.wave.holdback import saying_held, unsilenced
from shared.wave.notices import Notice, notice_events
from shared.wave.records import (
    MaintenanceRecord,
    RecordStore,
    SentNotice,
    TableRecordStore,
    put_all,
)
from shared.wave.reminders import (
    DueReminder,
    ReminderOffsets,
    due_reminders,
    reminder_notice,
)
from shared.wave.report import PassReport, PlannedNotice
from shared.wave.silences import SilenceStore, TableSilenceStore
from shared.wave.sweep import assess, read_again, sweep_subscriptions

log = get_logger(__name__)

ENVELOPE_KIND_ENRICHED = "enriched"  # what the route stage opens
DEFAULT_SWEEP_SCHEDULE = names.DEFAULT_SWEEP_SCHEDULE
DEFAULT_REMINDER_SCHEDULE = names.DEFAULT_REMINDER_SCHEDULE


def watched_subscriptions(
    known: Iterable[MaintenanceRecord], environ: Mapping[str, str]
) -> list[str]:
    """Subscriptions that had notices (``known``: every record), plus
    ``FOREWARN_SWEEP_SUBSCRIPTIONS``."""
    listed = environ.get(names.SETTING_SWEEP_SUBSCRIPTIONS, "").replace(",", " ").split()
    return sorted({*(r.subscription_id for r in known), *(s.lower() for s in listed)})


class WaveRunner:
    def __init__(
        self,
        services: EnrichmentServices,
        records: RecordStore,
        config: RoutingConfig,
        courier: Courier | None,
        silences: SilenceStore | None = None,
        claims: ClaimStore | None = None,
        history: WaveHistory | None = None,
    ) -> None:
        self.services = services
        self.records = records
        self.config = config
        self.courier = courier
        self.silences = silences
        self.claims = claims
        # Where a VM's record goes when a later wave starts it afresh (wave/history.py).
        self.history = history
        # The setting's offsets, for receivers without their own; remind() sets them.
        self.reminders = ReminderOffsets()

    @classmethod
    def from_settings(
        cls,
        environ: Mapping[str, str],
        services: EnrichmentServices | None = None,
        storage: StorageServices | None = None,
        config: RoutingConfig | None = None,
    ) -> WaveRunner:
        """``services`` from the enrich stage of the same process shares its token buckets;
        ``config`` is the routing file already parsed (else it is read now)."""
        storage = storage or StorageServices.from_settings(environ)
        return cls(
            services or EnrichmentServices.from_settings(environ, storage),
            TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)),
            config if config is not None else load_config(routing_file(environ)),
            storage.courier,
            TableSilenceStore(storage.table(names.TABLE_SILENCES)),
            ClaimStore(storage.table(names.TABLE_CLAIMS)),
            TableWaveHistory(storage.table(names.TABLE_ENDED_RECORDS)),
        )

    # -- the sweep ---------------------------------------------------------------------

    def sweep(
        self,
        subscriptions: list[str],
        now: datetime,
        *,
        dry_run: bool = False,
        known: list[MaintenanceRecord] | None = None,
    ) -> PassReport:
        """``known``: the records already read (every one, as ``watched_subscriptions`` was
        given them), so that a sweep of the watched subscriptions reads the table once."""
        wanted = sorted({s.lower() for s in subscriptions})
        report = PassReport(subscriptions=wanted, dry_run=dry_run)
        if known is None:
            known = [r for s in wanted for r in self.records.of_subscription(s)]
        before = self.services.arm.stats.requests
        # sweep_subscriptions keeps only the records of ``wanted``.
        findings = sweep_subscriptions(wanted, known, self.services, now)
        report.arm_requests = self.services.arm.stats.requests - before
        report.notes, report.vms_seen = findings.notes, findings.vms_seen
        if not dry_run and findings.ended:
            # Their open escalations first: once replaced, no pass reads them again.
            ended = self.resolve_ended(findings.ended, now, known)
            # Before the new records replace them: a pass that fails later keeps them anyway.
            if self.history is not None:
                self.history.keep(ended, format_utc(now))
            released = 0
            if self.claims is not None:
                # A claim was on the wave that ended for these VMs, not on the new one.
                released = self.claims.release(record.vm_id for record in findings.ended)
            log.info(
                "sweep: %d VMs begin a new wave (their last wave's records kept, %d claims ended)",
                len(findings.ended),
                released,
            )
        if not dry_run and self.claims is not None:
            # Claims of VMs this pass finds done or gone end now, before their notices are
            # routed: those then name no owner that the claims no longer hold. Every record
            # counts, not only these subscriptions': a wave may span several.
            after = {record.vm_id.lower(): record for record in self.records.all()}
            after.update((record.vm_id.lower(), record) for record in findings.records)
            pruned = self.claims.prune(after.values(), now)
            report.claims_ended = pruned.vm_claims + pruned.wave_claims + pruned.snoozes
        self.publish(findings.notices, findings.records, now, report, known)
        log.info(
            "sweep of %d subscriptions: %d VMs with maintenance, %d notices in %d events, "
            "%d ARM requests%s",
            len(wanted),
            report.vms_seen,
            len(report.notices),
            report.events,
            report.arm_requests,
            " (dry run: nothing sent)" if dry_run else "",
        )
        return report

    # -- the reminders -----------------------------------------------------------------

    def remind(
        self,
        now: datetime,
        offsets: ReminderOffsets,
        *,
        dry_run: bool = False,
        subscriptions: list[str] | None = None,
    ) -> PassReport:
        """Send the reminders due at ``now``, each VM read again first: at every offset the
        setting or a receiver's own ``reminders:`` names; each goes to the receivers that
        want it (shared/routing/offsets.py). ``subscriptions``: only their VMs (default:
        every record's)."""
        self.reminders = offsets
        wanted = offsets.union(*self.config.reminders.values())
        # Every record, also with ``subscriptions``: the rest of a wave is what its messages
        # say remains open.
        known = list(self.records.all())
        chosen = None if subscriptions is None else {s.lower() for s in subscriptions}
        ownership = self.claims.ownership() if self.claims is not None else Ownership()
        due = due_reminders(
            [r for r in known if chosen is None or r.subscription_id.lower() in chosen],
            now,
            wanted,
            ownership.snoozes,
        )
        by_vm: dict[str, list[DueReminder]] = defaultdict(list)
        for reminder in due:
            by_vm[reminder.record.vm_id.lower()].append(reminder)
        mine = [r for r in known if chosen is None or r.subscription_id.lower() in chosen]
        escalating = self._escalation_candidates(mine, now, ownership)
        resolving = resolutions(mine, ownership)
        subscriptions = sorted(
            {r.record.subscription_id for r in due}
            | {r.subscription_id for r in escalating.values()}
            | {record.subscription_id for record, _ in resolving}
        )
        report = PassReport(subscriptions=subscriptions, dry_run=dry_run)
        if not due and not escalating and not resolving:
            return report
        to_read = {key: group[0].record for key, group in by_vm.items()}
        for key, record in escalating.items():
            to_read.setdefault(key, record)
        before = self.services.arm.stats.requests
        seen, report.notes = read_again(list(to_read.values()), self.services)
        report.arm_requests = self.services.arm.stats.requests - before
        stamp = format_utc(now)
        notices: list[Notice] = []
        updated: list[MaintenanceRecord] = []
        escalations: list[Notice] = []
        for key, record in sorted(to_read.items()):
            reminders = by_vm.get(key, [])
            reading = seen.get(key)
            if reading is None:
                continue  # not readable now: the next pass tries again, still before the deadline
            assessment = assess(record, reading, now)
            if assessment.notice is not None and assessment.record is not None:
                # Done, gone or moved: say that instead of reminding of a stale deadline (or
                # escalating a VM that needs nobody any more).
                notices.append(assessment.notice)
                updated.append(assessment.record)
                continue
            current = assessment.record or record
            for reminder in reminders:
                notices.append(reminder_notice(reminder, current))
                for moot in reminder.also_sent:
                    current = current.with_sent(SentNotice(moot, "reminder", "", stamp))
            if key in escalating:
                escalations.append(escalation_notice(current))
            updated.append(current)
        notices += self._escalated_somewhere(escalations, now)
        # Resolutions, on the records as this pass leaves them (a VM just found done too).
        after = {record.vm_id.lower(): record for record in mine}
        after.update((record.vm_id.lower(), record) for record in updated)
        touched = {record.vm_id.lower() for record in updated}
        for record, notice in resolutions(list(after.values()), ownership):
            notices.append(notice)
            if record.vm_id.lower() not in touched:
                updated.append(record)
        report.vms_seen = len(seen)
        self.publish(notices, updated, now, report, known, ownership)
        log.info(
            "reminders: %d due, %d notices in %d events, %d ARM requests%s",
            len(due),
            len(report.notices),
            report.events,
            report.arm_requests,
            " (dry run: nothing sent)" if dry_run else "",
        )
        return report

    # -- escalations (shared/wave/escalations.py) ---------------------------------------

    def resolve_claimed(
        self, now: datetime, *, vm_id: str | None = None, wave: str | None = None
    ) -> PassReport:
        """Resolve now the open escalations a claim just ended (of ``vm_id``, or of every VM
        of ``wave``), rather than at the next hourly reminders pass. The records then hold
        ``escalation-resolved:<deadline>``, so that pass tells nobody again; no ARM read."""
        if not self.config.escalations:
            # Nothing is ever escalated without an ``escalate:`` rule, so a claim (pressed in
            # Slack, which wants its answer within 3 s) reads no records for nothing.
            return PassReport(subscriptions=[])
        known = list(self.records.all())
        wanted = (vm_id or "").lower()
        tracking = (wave or "").lower()
        mine = [
            record
            for record in known
            if (wanted and record.vm_id.lower() == wanted)
            or (tracking and (record.tracking_id or "").lower() == tracking)
        ]
        ownership = self.claims.ownership() if self.claims is not None else Ownership()
        resolving = resolutions(mine, ownership)
        report = PassReport(subscriptions=sorted({r.subscription_id for r, _ in resolving}))
        if resolving:
            notices = [notice for _, notice in resolving]
            updated = [record for record, _ in resolving]
            self.publish(notices, updated, now, report, known, ownership)
        return report

    def resolve_ended(
        self,
        ended: list[MaintenanceRecord],
        now: datetime,
        known: list[MaintenanceRecord] | None = None,
    ) -> list[MaintenanceRecord]:
        """Resolve now the open escalations of records a new wave ends (the sweep's, or Azure's
        notice's through the enrich stage), and return ``ended`` holding those resolutions,
        to be kept in the wave history. The hourly pass reads live records only: an ended
        record's escalation would otherwise stay open (a PagerDuty alert never resolved)."""
        if not resolutions(ended, Ownership()):
            return ended  # nothing escalated and open (the usual case): no claims read
        ownership = self.claims.ownership() if self.claims is not None else Ownership()
        resolving = resolutions(ended, ownership)
        report = PassReport(subscriptions=sorted({r.subscription_id for r, _ in resolving}))
        notices = [notice for _, notice in resolving]
        records = [record for record, _ in resolving]
        # Not written to the live table: the new wave's records take those rows.
        said = self.publish(notices, records, now, report, known, ownership, write=False)
        by_vm = {record.vm_id.lower(): record for record in said}
        log.info("%d escalations of records a new wave ended resolved", len(said))
        return [by_vm.get(record.vm_id.lower(), record) for record in ended]

    def _escalation_candidates(
        self, records: list[MaintenanceRecord], now: datetime, ownership: Ownership
    ) -> dict[str, MaintenanceRecord]:
        befores = [rule.before for rule in self.config.escalations.values()]
        if not befores:
            return {}
        found = candidates(records, now, max(befores), ownership)
        return {record.vm_id.lower(): record for record in found}

    def _escalated_somewhere(self, escalations: list[Notice], now: datetime) -> list[Notice]:
        """The escalations the routing file sends somewhere now: a VM whose receivers'
        ``before`` does not hold yet is left for a later pass, not marked escalated."""
        if not escalations:
            return []
        reached: set[str] = set()
        for enriched, _ in notice_events(escalations, now):
            for group in group_event(enriched, self.config, now, self.reminders):
                reached.update(vm.id.lower() for vm in group.vms)
        return [notice for notice in escalations if notice.vm_id.lower() in reached]

    # -- shared by the sweep and the reminders ----------------------------------------

    def publish(
        self,
        notices: list[Notice],
        updated: list[MaintenanceRecord],
        now: datetime,
        report: PassReport,
        known: list[MaintenanceRecord] | None = None,
        ownership: Ownership | None = None,
        *,
        write: bool = True,
    ) -> list[MaintenanceRecord]:
        """Route and enqueue ``notices``, then write ``updated`` with what was sent to whom
        (``write=False``: only return them so; empty on a dry run).

        Every notice comes with its VM's record in ``updated`` (the sweep's assessment and the
        reminders make both), so what was sent is kept without reading any record again.
        ``known``: the records read before this pass; with ``updated`` over them they say
        what else of each wave is still open (a per-VM notice's message says so).
        ``ownership``: the claims as already read (else read now): each notice's VM says
        who has it, and its reminders reach only the owner's receiver."""
        if ownership is None and self.claims is not None and notices:
            ownership = self.claims.ownership()
        if ownership is not None:
            notices = [_owned(notice, ownership) for notice in notices]
        stamp = format_utc(now)
        sent: dict[str, list[SentNotice]] = defaultdict(list)
        active = self.silences.active(now) if self.silences is not None else []
        notices, held = unsilenced(notices, updated, now, report, sent, active)
        after = {record.vm_id.lower(): record for record in known or []}
        after.update((record.vm_id.lower(), record) for record in updated)
        for enriched, members in notice_events(notices, now, list(after.values())):
            receivers: dict[str, list[str]] = defaultdict(list)
            for group in group_event(enriched, self.config, now, self.reminders):
                for vm in group.vms:
                    receivers[vm.id.lower()].append(group.receiver.name)
            if held:
                reached = {name for names_ in receivers.values() for name in names_}
                enriched = saying_held(
                    enriched, members, reached, held, now, self.config, self.reminders
                )
            event_id = enriched.event.event_id
            if not report.dry_run and self.courier is not None:
                self.courier.send(
                    names.QUEUE_ENRICHED,
                    Envelope(ENVELOPE_KIND_ENRICHED, event_id, enriched.to_json()),
                )
            report.events += 1
            for notice in members:
                who = receivers.get(notice.vm_id.lower(), [])
                report.notices.append(PlannedNotice.of(notice, who, event_id))
                sent[notice.vm_id.lower()].append(
                    SentNotice(notice.key, notice.kind, event_id, stamp, who)
                )
        if report.dry_run:
            return []
        writes = []
        for record in updated:
            for entry in sent.get(record.vm_id.lower(), []):
                record = record.with_sent(entry)
            writes.append(record)
        if write:
            put_all(self.records, writes)
            report.records_written = len(writes)
        return writes


def _owned(notice: Notice, ownership: Ownership) -> Notice:
    owners = ownership.owners_of(notice.vm_id, notice.tracking_id)
    if not owners:
        return notice
    if notice.kind == "escalation_resolved":  # its line already says who claimed it
        return replace(notice, vm=replace(notice.vm, owners=owners))
    # In the notice's own line too ("sql-02: claimed by Alice; …"), which every channel shows.
    said = f"claimed by {owner_text(owners)}" + (f"; {notice.detail}" if notice.detail else "")
    return replace(notice, vm=replace(notice.vm, owners=owners), detail=said)


def resolve_claimed_now(
    environ: Mapping[str, str],
    storage: StorageServices,
    now: datetime,
    *,
    vm_id: str | None = None,
    wave: str | None = None,
) -> PassReport | None:
    """``WaveRunner.resolve_claimed`` for a claim just made (CLI, action link, Slack button);
    None when it could not run. The claim stands either way: the next reminders pass then
    resolves the escalation, as before, so a failure here is a warning, never the claim's."""
    try:
        runner = WaveRunner.from_settings(environ, storage=storage)
        return runner.resolve_claimed(now, vm_id=vm_id, wave=wave)
    except Exception as error:  # the claim is kept; the hourly pass resolves it instead
        log.warning("claim: the escalation is left to the next reminders pass: %s", error)
        return None
