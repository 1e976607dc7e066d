"""The catch-up: notices the webhook never brought, found in the workspace and sent on.

One pass (the hourly timer, or ``forewarn catch-up``)::

    since = checkpoint - OVERLAP   (first run: LOOKBACK before now; ``--since`` overrides)
    rows  = AzureActivity, Service Health + Resource Health, watched subscriptions, [since, now)
            (no workspace: Resource Graph's planned-maintenance events instead, graph_events.py)
    each row -> MaintenanceEvent (same id as the webhook's), then one of
        received    accepted already (the book of accepted events has its id: a copy was
                    read by the enrich stage, even if its messages are still held by quiet
                    hours or the group wait), or, before that book, the delivery ledger has it;
                    from Resource Graph also: records of its wave in its subscription
        recovered   recovered by an earlier pass (overlapping windows are safe)
        ignored     valid but not for forewarn (e.g. a user-initiated health change)
        invalid     not the shape an Action Group would send
        missing     none of these: queued on ``events`` with a token, like ingest does, and
                    marked ``recovered``
    checkpoint = now, only when the query answered in full, every missing event was queued,
                 and the pass started no later than the old checkpoint

A failed or partial query is a note in the report, never an exception: the pipeline goes on
and the next pass, starting from the old checkpoint, catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from shared import names
from shared.accepted import AcceptedEvents, stamped
from shared.enrich.arm import ArmClient
from shared.enrich.resource_graph import resource_graph_from_settings
from shared.loganalytics import LogsError
from shared.loganalytics.activity import activity_query, event_from_row, properties_of
from shared.loganalytics.client import LogsReader, QueryResult, logs_reader_from_settings
from shared.loganalytics.graph_events import GraphActivity
from shared.models import MaintenanceEvent
from shared.parsing.errors import InvalidAlertError, NotForForewarnError
from shared.storage import Courier, EntityTable, Envelope, StorageError, StorageServices
from shared.telemetry import count, stage_span
from shared.timeutil import Clock, format_utc, parse_utc, utc_now
from shared.wave.records import RecordStore, TableRecordStore

log = logging.getLogger(__name__)

# Activity Log rows reach the workspace minutes after the event; each pass looks this far
# behind the last checkpoint so that a late row is still seen (duplicates are skipped).
OVERLAP: Final = timedelta(minutes=30)
LOOKBACK: Final = timedelta(hours=24)  # the first pass, before there is a checkpoint
CHECKPOINT_PARTITION: Final = "checkpoint"
CHECKPOINT_ROW: Final = "activity"
RECOVERED_PARTITION: Final = "recovered"

Verdict = Literal["missing", "received", "recovered", "ignored", "invalid"]


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    event_id: str | None
    kind: str | None
    title: str
    time: str | None
    subscription_ids: list[str] = field(default_factory=list)
    reason: str | None = None
    queued: bool = False


@dataclass
class CatchUpReport:
    since: str
    until: str
    dry_run: bool
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checkpoint_advanced: bool = False
    # False when the query failed: "0 found" would then read as an empty window.
    read: bool = True

    @property
    def missing(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "missing"]

    @property
    def queued(self) -> list[Finding]:
        return [f for f in self.findings if f.queued]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "dry_run": self.dry_run,
            "found": len(self.findings),
            "missing": len(self.missing),
            "queued": len(self.queued),
            "checkpoint_advanced": self.checkpoint_advanced,
            "notes": list(self.notes),
            "events": [asdict(f) for f in self.findings],
        }


class CatchUp:
    """One pass over the workspace; built once per process by the timer."""

    def __init__(
        self,
        reader: LogsReader | None,
        courier: Courier,
        state: EntityTable,
        ledger: EntityTable,
        *,
        subscriptions: Sequence[str] = (),
        clock: Clock = utc_now,
        accepted: EntityTable | None = None,
        graph: GraphActivity | None = None,
        records: RecordStore | None = None,
    ) -> None:
        if reader is None and graph is None:
            raise ValueError("a catch-up reads a workspace or Resource Graph")
        self._reader = reader
        # Resource Graph instead of the workspace (graph_events.py); its events' ids cannot be
        # the webhook's, so a wave forewarn already follows (``records``) counts as received.
        self._graph = graph
        self._records = records
        self._courier = courier
        self._state = state  # names.TABLE_CATCHUP: checkpoint and recovered event ids
        self._ledger = ledger  # names.TABLE_IDEMPOTENCY: PartitionKey = event id
        # names.TABLE_ACCEPTED; None: "received" falls back to the ledger alone
        self._accepted = AcceptedEvents(accepted) if accepted is not None else None
        self._subscriptions = list(subscriptions)
        self._clock = clock

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> CatchUp | None:
        """The real pass: from the workspace when one is configured, else from Resource
        Graph unless ``FOREWARN_RESOURCE_GRAPH`` is off (then ``None``: the feature is off).
        Raises ``StorageError`` when storage is not configured."""
        reader = logs_reader_from_settings(environ)
        graph = None
        if reader is None:
            found = resource_graph_from_settings(environ, ArmClient.from_settings(environ))
            if found is None:
                return None
            graph = GraphActivity(found)
        storage = StorageServices.from_settings(environ)
        # The allow-list's subscriptions; ``activity_query`` trims, lower-cases and drops
        # empty ones, and an empty list means every subscription the workspace holds.
        allowed = environ.get(names.SETTING_ALLOWED_SUBSCRIPTIONS, "").replace(";", ",")
        return cls(
            reader,
            storage.courier,
            storage.table(names.TABLE_CATCHUP),
            storage.table(names.TABLE_IDEMPOTENCY),
            subscriptions=allowed.split(","),
            accepted=storage.table(names.TABLE_ACCEPTED),
            graph=graph,
            records=(
                TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS))
                if graph is not None
                else None
            ),
        )

    def checkpoint(self) -> datetime | None:
        found = self._state.get(CHECKPOINT_PARTITION, CHECKPOINT_ROW)
        return parse_utc(str(found["until"])) if found and found.get("until") else None

    def run(self, *, since: datetime | None = None, dry_run: bool = False) -> CatchUpReport:
        now = self._clock()
        notes: list[str] = []
        try:
            last = self.checkpoint()
        except StorageError as error:
            last = None
            notes.append(f"checkpoint unreadable ({error}); looked back {LOOKBACK}")
        # A pass may move the checkpoint only if it read everything after it: a ``--since``
        # later than the checkpoint leaves a window no pass has read.
        covers_checkpoint = since is None or last is None or since <= last
        if since is None:
            since = (last - OVERLAP) if last else now - LOOKBACK
        report = CatchUpReport(format_utc(since), format_utc(now), dry_run, notes=notes)
        if last is not None and not covers_checkpoint:
            report.notes.append(
                f"--since starts after the checkpoint ({format_utc(last)}); the checkpoint "
                "stays so that the next pass reads the hours before it"
            )
        try:
            result = self._query(since, now)
        except LogsError as error:
            report.notes.append(f"query failed, the next pass retries: {error}")
            log.warning("catch-up query failed: %s", error)
            report.read = False
            return report
        complete = result.partial_error is None
        if not complete:
            report.notes.append(
                f"Log Analytics answered in part ({result.partial_error}); "
                "the checkpoint stays so that the next pass reads this window again"
            )
        for row in result.rows:
            finding = self._consider(row, now, dry_run)
            report.findings.append(finding)
            if finding.verdict == "missing" and not finding.queued and not dry_run:
                complete = False
        if complete and covers_checkpoint and not dry_run:
            try:
                self._state.upsert(CHECKPOINT_PARTITION, CHECKPOINT_ROW, {"until": format_utc(now)})
                report.checkpoint_advanced = True
            except StorageError as error:
                report.notes.append(f"checkpoint not stored ({error}); the next pass overlaps")
        unqueued = len(report.missing) - len(report.queued)
        if unqueued and not dry_run:
            report.notes.append(f"{unqueued} event(s) could not be queued; the next pass retries")
        return report

    def _query(self, since: datetime, now: datetime) -> QueryResult:
        if self._graph is not None:
            return self._graph.rows(self._subscriptions, since, now)
        assert self._reader is not None
        return self._reader.query(activity_query(self._subscriptions), (since, now))

    def _consider(self, row: dict[str, Any], now: datetime, dry_run: bool) -> Finding:
        try:
            event = event_from_row(row, now)
        except NotForForewarnError as error:
            return Finding("ignored", None, None, _title(row), _time(row), reason=error.reason)
        except InvalidAlertError as error:
            problem = error.problems[0]
            reason = f"{problem.pointer}: {problem.message}"[:300]
            return Finding("invalid", None, None, _title(row), _time(row), reason=reason)
        verdict = self._seen(event)
        finding = Finding(
            verdict,
            event.event_id,
            event.kind,
            event.title,
            event.event_time,
            list(event.subscription_ids),
        )
        if verdict != "missing" or dry_run:
            return finding
        try:
            self._enqueue(event, now)
        except StorageError as error:
            log.warning("recovered event %s not queued: %s", event.event_id, error)
            return replace(finding, reason=f"not queued: {error}")
        try:
            self._state.insert_if_absent(
                RECOVERED_PARTITION, event.event_id, {"queued_at": format_utc(now)}
            )
        except StorageError:
            # Queued but not remembered: the next pass queues it again, and delivery's
            # idempotency ledger still sends it once.
            log.warning("recovered event %s not remembered", event.event_id)
        count("forewarn.events", outcome="recovered", kind=event.kind)
        log.info("recovered event %s (%s, %s)", event.event_id, event.kind, event.stage or "-")
        return replace(finding, queued=True)

    def _seen(self, event: MaintenanceEvent) -> Verdict:
        """``received`` when it was accepted (or, from before the book, delivery has a record
        of it), ``recovered`` when a pass queued it."""
        try:
            if self._state.get(RECOVERED_PARTITION, event.event_id) is not None:
                return "recovered"
            if self._accepted is not None and self._accepted.was_accepted(event.event_id):
                return "received"
            if next(iter(self._ledger.query(event.event_id)), None) is not None:
                return "received"
            if self._records is not None and self._follows(event):
                return "received"
        except StorageError:
            # Unknown: queue it anyway; delivery's ledger is the last word on duplicates.
            log.warning("could not tell whether %s was received", event.event_id)
        return "missing"

    def _follows(self, event: MaintenanceEvent) -> bool:
        """Records with the event's tracking id in one of its subscriptions: its notice came
        (the webhook's copy, under its communication's id) and the wave is being followed."""
        assert self._records is not None
        tracking = (event.tracking_id or "").lower()
        return bool(tracking) and any(
            (record.tracking_id or "").lower() == tracking
            for subscription in event.subscription_ids
            for record in self._records.of_subscription(subscription)
        )

    def _enqueue(self, event: MaintenanceEvent, now: datetime) -> None:
        with stage_span("catch-up", event_id=event.event_id, kind=event.kind) as traceparent:
            # Stamped as ingest does: of this copy and a webhook copy, the first read goes on.
            self._courier.send(
                names.QUEUE_EVENTS,
                Envelope(
                    kind="event",
                    id=event.event_id,
                    body=stamped(event, now, via="catch-up"),
                    traceparent=traceparent,
                ),
            )


def _title(row: dict[str, Any]) -> str:
    try:
        # Read as the row itself is: the REST API returns a dynamic column as JSON text.
        title = properties_of(row.get("Properties_d")).get("title")
    except InvalidAlertError:
        title = None
    return str(title or row.get("OperationNameValue") or "")[:200]


def _time(row: dict[str, Any]) -> str | None:
    value = row.get("TimeGenerated")
    return str(value) if value else None
