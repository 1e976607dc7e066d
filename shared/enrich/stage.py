"""The enrich stage as the queue trigger runs it: envelope in, enriched envelope out.

The message's last attempt (``dequeue_count`` at the host's ``maxDequeueCount``) sends what
could be read, with notes, rather than let the notice die in the poison queue.

A message that is not its event's accepted copy (an Action Group re-post, the same event from a
second rule or from the catch-up; ``shared/accepted.py``) is dropped first, before any ARM
read, grouping or routing: ``handle`` answers ``None`` for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from shared import names
from shared.accepted import AcceptedEvents, Stamp
from shared.enrich.errors import UnexpectedMessageError
from shared.enrich.pipeline import enrich_event
from shared.enrich.services import EnrichmentServices
from shared.models import EnrichedEvent, MaintenanceEvent
from shared.storage import Envelope, StorageServices
from shared.telemetry import METRIC_ENRICHMENT_NOTES, count, get_logger, stage_span
from shared.timeutil import Clock, format_utc, utc_now
from shared.wave.announcements import close_wave, is_closing, record_announced
from shared.wave.claims import ClaimStore
from shared.wave.history import TableWaveHistory
from shared.wave.records import MaintenanceRecord, RecordStore, TableRecordStore
from shared.wave.started import is_started_maintenance, record_started

log = get_logger(__name__)

# Records a new wave ends, and the moment -> those records, their escalations resolved.
ResolveEnded = Callable[[list[MaintenanceRecord], datetime], list[MaintenanceRecord]]


class EnrichStage:
    def __init__(
        self,
        storage: StorageServices,
        services: EnrichmentServices,
        records: RecordStore | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.storage = storage
        self.services = services
        self.accepted = AcceptedEvents(storage.table(names.TABLE_ACCEPTED))
        self._clock = clock
        # The per-VM maintenance records that the sweep and reminders follow the wave with.
        self.records = records or TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS))
        # Where a VM's record goes when a new wave starts it afresh, and the claims it ends.
        self.history = TableWaveHistory(storage.table(names.TABLE_ENDED_RECORDS))
        self.claims = ClaimStore(storage.table(names.TABLE_CLAIMS))
        # Resolves the open escalations of records a new wave ends, returning them so (the
        # wave runner's, wired by functions/enrich.py: a stage does not import another).
        self.resolve_ended: ResolveEnded | None = None

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> EnrichStage:
        storage = StorageServices.from_settings(environ)
        return cls(storage, EnrichmentServices.from_settings(environ, storage))

    def _keep_ended(self, records: list[MaintenanceRecord]) -> None:
        """Before the new records replace these: a retry after a crash finds the old ones
        again and does the same, so neither the old record nor a stale claim survives."""
        now = self._clock()
        if self.resolve_ended is not None:
            records = self.resolve_ended(records, now)
        self.history.keep(records, format_utc(now))
        # A claim was on the wave that ended for these VMs, not on this one.
        released = self.claims.release(record.vm_id for record in records)
        log.info(
            "%d VMs begin a new wave: their last wave's records kept, %d claims ended",
            len(records),
            released,
        )

    def handle(self, text: str, *, dequeue_count: int) -> EnrichedEvent | None:
        envelope = self.storage.courier.open(text)
        if envelope.kind != "event":
            raise UnexpectedMessageError(f"expected an 'event' envelope, got {envelope.kind!r}")
        event = MaintenanceEvent.from_json(envelope.body)
        # A storage failure here raises: the host retries the message, nothing was read yet.
        admission = self.accepted.admit(event.event_id, Stamp.of(envelope.body), self._clock())
        if not admission.admitted:
            count("forewarn.events", outcome="duplicate", kind=event.kind)
            log.info(
                "duplicate of event %s (first came by %s at %s), nothing sent",
                event.event_id,
                admission.first_via or "?",
                admission.first_at or "?",
            )
            return None
        final_attempt = dequeue_count >= names.MAX_DEQUEUE_COUNT
        with stage_span(
            "enrich", event_id=event.event_id, traceparent=envelope.traceparent
        ) as traceparent:
            # Child spans name where the stage's time goes (bench/pipeline.py prints them).
            with stage_span("enrich.read"):
                enriched = enrich_event(event, self.services, final_attempt=final_attempt)
            # Before the send: a VM is never announced without a record for the sweep to
            # follow (a storage failure raises and the message is retried, nothing sent).
            with stage_span("enrich.records", vms=len(enriched.vms)):
                if is_started_maintenance(enriched):
                    # Someone started it outside forewarn: the records say so, the reminders
                    # stop, and the event is reshaped to be told in the wave's thread.
                    enriched = record_started(enriched, self.records).enriched
                elif is_closing(enriched.event):
                    # Azure ended the wave: the VMs still open go with the notice, so that
                    # what was said of them (calendar entries) can be withdrawn.
                    closed = close_wave(enriched, self.records)
                    enriched = replace(enriched, closed=[record.vm for record in closed])
                else:
                    record_announced(enriched, self.records, self._keep_ended)
            self.storage.courier.send(
                names.QUEUE_ENRICHED,
                Envelope("enriched", enriched.event.event_id, enriched.to_json(), traceparent),
            )
        for note in enriched.notes:
            count(METRIC_ENRICHMENT_NOTES, code=note.code)
        log.info(
            "enriched %s: %d VMs, %d notes, %d ARM requests so far (%d throttled)",
            event.event_id,
            len(enriched.vms),
            len(enriched.notes),
            self.services.arm.stats.requests,
            self.services.arm.stats.throttled,
        )
        return enriched
