"""How long each table's rows live, and the pass that deletes what has expired.

Azure Table storage has no time-to-live: a row stays until someone deletes it. Most of
forewarn's tables gain rows with every notice, message or press; without this pass they grow
forever, and the sweep, which reads the records table whole every pass, slows with them. The
sweep timer runs ``tidy`` after each sweep (every 6 h by default); ``forewarn retention`` runs
one pass by hand, or with ``--dry-run`` counts what it would delete (``tidy(dry_run=True)``).

    table               kept for                      counted from
    acceptedevents      FOREWARN_RETENTION_DAYS (90)  the row's last write; longer than Azure
                                                      keeps the Activity Log (90 days), so no
                                                      catch-up can bring such an event again
    idempotency         FOREWARN_RETENTION_DAYS       last write; no job that old is queued
    deliverylog         FOREWARN_RETENTION_DAYS       last write
    deadletter          FOREWARN_RETENTION_DAYS       last write (a replay writes it); its job's
                                                      blob goes with it
    catchup             FOREWARN_RETENTION_DAYS       last write; never the checkpoint
    maintenancerecords  open: kept; closed (done, deleted VM): FOREWARN_RETENTION_DAYS after
                        its last change, then moved to endedrecords (the board keeps it)
    silences            FOREWARN_RETENTION_DAYS after the silence ended (``silence list --all``)
    eventgroups         7 days                        last write (a group waits seconds)
    instanceviews       2 days                        last write (a cache of minutes)
    actionsused         30 days                       last write; longer than a link lives
                                                      (7 days), so a used link never works again
    messagerefs         FOREWARN_AUDIT_RETENTION_DAYS last write; a thread must outlive its wave
    actionaudit         FOREWARN_AUDIT_RETENTION_DAYS (365)  last write (rows are written once)
    endedrecords        FOREWARN_AUDIT_RETENTION_DAYS last write (when the record moved there)
    slackrequests       a day: the sweep's ``forget_handled`` (shared/slack_interactivity.py)
    claims              while in force: the sweep's ``ClaimStore.prune``

Bounded: each table gives at most ``limit`` expired rows a pass (the service filters them by
its own ``Timestamp``; only their keys are read), deleted in transactions of up to 100 rows
of one partition, 8 partitions side by side. A backlog (the first pass over an old
deployment) is worked off over the next passes. One table failing is logged and the others
still go.

    RetentionSettingError   a retention setting is not a whole number of days in range
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from shared import names
from shared.storage import EntityTable, PayloadStore, StorageError
from shared.telemetry import get_logger
from shared.timeutil import format_utc, parse_utc
from shared.wave.history import TableWaveHistory
from shared.wave.records import MaintenanceRecord, RecordUnreadableError, record_keys

log = get_logger(__name__)

DEFAULT_RETENTION_DAYS: Final = 90
DEFAULT_AUDIT_RETENTION_DAYS: Final = 365
# Below these, rows go while they still matter: an accepted event that the Activity Log (90
# days) could bring back within a catch-up's reach, a wave's thread or audit before it ends.
MIN_RETENTION_DAYS: Final = 30
MAX_RETENTION_DAYS: Final = 3650
DEFAULT_LIMIT: Final = 2000  # rows per table and pass
DELETE_WORKERS: Final = 8  # partitions deleted side by side (as the storage adapter's queries)
CHECKPOINT_KEY: Final = ("checkpoint", "activity")  # shared/loganalytics/catchup.py's row
DEAD_LETTER_JOB_REF: Final = "job_ref"  # the dead letter's job blob (shared/delivery/records.py)
SILENCES_PARTITION: Final = "silence"  # shared/wave/silences.py
CLOSED_STATUSES: Final = ("completed", "gone")  # a record's statuses that are not open


class RetentionSettingError(ValueError):
    """A retention setting is not a whole number of days in range."""


@dataclass(frozen=True)
class RetentionSettings:
    operational: timedelta = timedelta(days=DEFAULT_RETENTION_DAYS)
    audit: timedelta = timedelta(days=DEFAULT_AUDIT_RETENTION_DAYS)

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> RetentionSettings:
        return cls(
            timedelta(days=_days(environ, names.SETTING_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            timedelta(
                days=_days(
                    environ, names.SETTING_AUDIT_RETENTION_DAYS, DEFAULT_AUDIT_RETENTION_DAYS
                )
            ),
        )

    def by_last_write(self) -> dict[str, timedelta]:
        """Tables whose rows expire a fixed time after their last write."""
        return {
            names.TABLE_ACCEPTED: self.operational,
            names.TABLE_IDEMPOTENCY: self.operational,
            names.TABLE_DELIVERY_LOG: self.operational,
            names.TABLE_DEAD_LETTER: self.operational,
            names.TABLE_CATCHUP: self.operational,
            names.TABLE_EVENT_GROUPS: timedelta(days=7),
            names.TABLE_INSTANCE_VIEWS: timedelta(days=2),
            names.TABLE_ACTIONS_USED: timedelta(days=30),
            names.TABLE_MESSAGE_REFS: self.audit,
            names.TABLE_ACTION_AUDIT: self.audit,
            names.TABLE_ENDED_RECORDS: self.audit,
        }


RETENTION_INVALID: Final = "invalid"


def retention_state(environ: Mapping[str, str]) -> str:
    """For /api/health: the retention in force ("90 d, audit 365 d"), or ``invalid (…)``
    naming the setting (then the sweep deletes nothing until it is fixed)."""
    try:
        settings = RetentionSettings.from_settings(environ)
    except RetentionSettingError as error:
        return f"{RETENTION_INVALID} ({error})"
    return f"{settings.operational.days} d, audit {settings.audit.days} d"


def _days(environ: Mapping[str, str], setting: str, default: int) -> int:
    text = environ.get(setting, "").strip()
    if not text:
        return default
    try:
        days = int(text)
    except ValueError:
        raise RetentionSettingError(f"{setting}: a whole number of days, not {text!r}") from None
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise RetentionSettingError(
            f"{setting}: between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days, not {days}"
        )
    return days


@dataclass
class TidyReport:
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    records_ended: int = 0  # closed records moved to endedrecords
    failed: list[str] = field(default_factory=list)  # tables left for the next pass
    tables: list[str] = field(default_factory=list)  # every table the pass looked at, in order
    dry_run: bool = False  # ``deleted`` counts what would go; nothing was deleted or moved

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def tidy(
    table: Callable[[str], EntityTable],
    payloads: PayloadStore | None,
    now: datetime,
    settings: RetentionSettings | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    dry_run: bool = False,
) -> TidyReport:
    """Delete what has expired at ``now`` in every table (see the module table); with
    ``dry_run``, only count what this pass would delete (``forewarn retention --dry-run``)."""
    settings = settings or RetentionSettings()
    report = TidyReport(dry_run=dry_run)
    for name, keep in [*settings.by_last_write().items(), (names.TABLE_SILENCES, None)]:
        report.tables.append(name)
        try:
            if keep is None:
                count = _expire_silences(table(name), now, settings, dry_run)
            else:
                count = _expire_written(table(name), name, now - keep, limit, payloads, dry_run)
        except StorageError as error:
            report.failed.append(name)
            log.warning("retention: %s left for the next pass: %s", name, error)
            continue
        if count:
            report.deleted[name] = count
    report.tables.append(names.TABLE_MAINTENANCE_RECORDS)
    try:
        moved = _end_closed_records(
            table(names.TABLE_MAINTENANCE_RECORDS),
            TableWaveHistory(table(names.TABLE_ENDED_RECORDS)),
            now,
            settings.operational,
            limit,
            dry_run,
        )
    except StorageError as error:
        report.failed.append(names.TABLE_MAINTENANCE_RECORDS)
        log.warning("retention: closed records left for the next pass: %s", error)
    else:
        report.records_ended = moved
        if moved:
            report.deleted[names.TABLE_MAINTENANCE_RECORDS] = moved
    if (report.total or report.failed) and not dry_run:
        log.info(
            "retention: %d expired rows deleted (%s)%s",
            report.total,
            ", ".join(f"{name} {count}" for name, count in sorted(report.deleted.items()))
            or "none",
            f"; left for the next pass: {', '.join(report.failed)}" if report.failed else "",
        )
    return report


def _delete(table: EntityTable, keys: list[tuple[str, str]], dry_run: bool = False) -> int:
    if dry_run:
        return len(keys)
    by_partition: dict[str, list[str]] = defaultdict(list)
    for partition, row in keys:
        by_partition[partition].append(row)
    batches = sorted(by_partition.items())
    if len(batches) <= 1:
        for partition, rows in batches:
            table.delete_many(partition, rows)
    else:
        # A transaction holds one partition: a table keyed by event id (acceptedevents) costs a
        # round trip per row, so partitions go side by side (the client is shared by threads).
        with ThreadPoolExecutor(min(DELETE_WORKERS, len(batches))) as pool:
            list(pool.map(lambda batch: table.delete_many(*batch), batches))
    return len(keys)


def _expire_written(
    table: EntityTable,
    name: str,
    cutoff: datetime,
    limit: int,
    payloads: PayloadStore | None,
    dry_run: bool = False,
) -> int:
    keys = table.written_before(cutoff, limit)
    if name == names.TABLE_CATCHUP:
        keys = [key for key in keys if key != CHECKPOINT_KEY]
    if name == names.TABLE_DEAD_LETTER and payloads is not None and not dry_run:
        by_partition: dict[str, list[str]] = {}
        for partition, row in keys:
            by_partition.setdefault(partition, []).append(row)
        for partition, rows in by_partition.items():  # one query per 100 rows, not one per row
            for entity in table.get_many(partition, rows).values():
                ref = str(entity.get(DEAD_LETTER_JOB_REF) or "")
                if ref:
                    payloads.delete(ref)  # first: a row without its blob would list a lost job
    return _delete(table, keys, dry_run)


def _expire_silences(
    table: EntityTable, now: datetime, settings: RetentionSettings, dry_run: bool = False
) -> int:
    """Silences that ended (or were expired) longer ago than the operational retention; one
    partition of few rows, read whole: a silence written long ago may hold for years yet."""
    cutoff = now - settings.operational
    old = []
    for entity in table.query(SILENCES_PARTITION):
        try:
            ended = parse_utc(str(entity.get("expired_at") or entity["ends"]))
        except (KeyError, ValueError):
            continue  # a hand-edited row: left for a person to look at
        if ended < cutoff:
            old.append((SILENCES_PARTITION, str(entity["RowKey"])))
    return _delete(table, old, dry_run)


def _end_closed_records(
    table: EntityTable,
    history: TableWaveHistory,
    now: datetime,
    keep: timedelta,
    limit: int,
    dry_run: bool = False,
) -> int:
    """Closed records (done, VM deleted) unchanged for ``keep``: moved to the wave history
    (the board of their wave still lists them), then deleted from the table the sweep and the
    reminders read whole every pass. Open records are never touched."""
    cutoff = now - keep
    # Closed ones only, asked of the service: open records unchanged for months (a long wave)
    # must not fill every batch and keep the closed ones from ever being reached.
    candidates = table.written_before(cutoff, limit, ("status", CLOSED_STATUSES))
    closed: list[MaintenanceRecord] = []
    by_partition: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for partition, row in candidates:
        by_partition[partition].append((partition, row))
    for partition, keys in sorted(by_partition.items()):
        found = table.get_many(partition, [row for _, row in keys])
        for entity in found.values():
            try:
                record = MaintenanceRecord.from_entity(entity)
            except RecordUnreadableError:
                continue
            if record.is_open or parse_utc(record.updated_at) >= cutoff:
                continue
            closed.append(record)
    if not closed or dry_run:
        return len(closed)
    history.keep(closed, format_utc(now))
    return _delete(table, [record_keys(record.vm_id) for record in closed])
