"""The delivery stage's state in tables: idempotency ledger, delivery log, dead letters.

    idempotency  PartitionKey event id, RowKey receiver: state ``sending`` | ``pending`` |
                 ``delivered`` | ``dead``, claim time, hashes of the targets already reached,
                 and of the parts of a target already posted (a Slack top message with its
                 ``ts``, each reply), written as they are reached
    deliverylog  PartitionKey event id: one row per attempt (masked targets, no secrets)
    deadletter   PartitionKey ``deadletter``: a reference to the job, its queue and why it
                 stopped
    messagerefs  PartitionKey event id, RowKey receiver: Slack ts / Message-ID / Twilio sid

Targets are stored as short hashes in the ledger and masked in the log. A dead letter must keep
its job whole, targets included, or a replay could not send it: that job is parked in the
payload container (``deadletter/<id>.json``, the claim-check store the queues already use for
large bodies) and the table row holds only its name. So phone numbers and webhook URLs never
land in a table in clear (they do sit in queue messages and payload blobs, as every job's do);
reasons are scrubbed of them and listings show them masked. Rows written before this rule may
still hold an inline ``job``; they are read as before.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from shared import names
from shared.delivery.results import DeliveryResult, mask_target, mask_targets
from shared.models import DeliveryJob
from shared.storage import EntityTable, PayloadStore
from shared.storage import table_key as table_key  # moved to storage; still importable here
from shared.timeutil import format_utc, parse_utc

DEAD_LETTER_PARTITION = "deadletter"


def target_hash(target: str) -> str:
    return hashlib.sha256(target.strip().encode("utf-8")).hexdigest()[:16]


def scrub(text: str, job: DeliveryJob, environ: Mapping[str, str]) -> str:
    """Last line of defence: raw targets and the receiver's secret values never get written."""
    for target in job.receiver.targets:
        if target and target in text:
            text = text.replace(target, mask_target(target))
    for key, setting in job.receiver.options.items():
        value = environ.get(setting, "") if key.endswith("_setting") else ""
        if len(value) >= 4 and value in text:
            text = text.replace(value, "[secret]")
    return text


# --------------------------------------------------------------------------------------
# Idempotency

# Renewals read again after a conditional update lost to another worker's lapse note.
_RENEW_TRIES = 3

LedgerState = Literal["sending", "pending", "delivered", "dead"]


@dataclass(frozen=True)
class Claim:
    """What the ledger says about a job: go ahead (with targets already reached), or not."""

    verdict: Literal["send", "duplicate", "dead", "busy"]
    reached: frozenset[str] = frozenset()  # target hashes
    wait_seconds: float = 0.0  # busy: until another worker's claim lapses
    token: str = ""  # send: names this worker's claim, for renewing it
    parts: Mapping[str, str] = field(default_factory=dict)  # part hash -> reference ("" none)


def _parts(entity: Mapping[str, Any]) -> dict[str, str]:
    loaded = json.loads(str(entity.get("parts") or "{}"))
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


class IdempotencyLedger:
    """One row per (event, receiver). A claim is a lease: a worker that dies mid-send leaves a
    ``sending`` row that others respect until ``lease`` has passed, then take over.

    A lapsed claim is not proof of a dead worker: during a storage outage a live worker cannot
    renew either, and when storage returns its queue message may reach a second worker before
    its own renewal or record does. So a lapsed claim is taken over only when it is seen lapsed
    twice, ``confirm`` apart, with no renewal in between (the first sighting is written on the
    row; a renewal clears it). The holder renews every quarter lease and retries its record at
    most every few seconds, well inside ``confirm`` (half a lease), so a live holder always
    answers first; a dead one costs half a lease more before its job is taken over."""

    def __init__(
        self, table: EntityTable, *, lease: timedelta, confirm: timedelta | None = None
    ) -> None:
        self._table = table
        self._lease = lease
        self._confirm = confirm if confirm is not None else lease / 2

    @staticmethod
    def _keys(job: DeliveryJob) -> tuple[str, str]:
        return table_key(job.event_id), table_key(job.receiver.name)

    def claim(self, job: DeliveryJob, now: datetime) -> Claim:
        """Take the claim, atomically: the first by insert, later ones by a conditional replace
        on the ETag read, so of two workers that both saw ``pending`` or a lapsed claim only
        one sends; the other is told ``busy`` for a lease, by then the winner has recorded."""
        partition, row = self._keys(job)
        token = uuid.uuid4().hex
        fresh = {
            "state": "sending",
            "claimed_at": format_utc(now),
            "job_id": job.job_id,
            "claim_id": token,
        }
        if self._table.insert_if_absent(partition, row, {**fresh, "reached": "[]"}):
            return Claim("send", token=token)
        lost = Claim("busy", wait_seconds=self._lease.total_seconds())
        current = self._table.get_versioned(partition, row)
        if current is None:
            # Deleted between the insert and the read: whoever inserts it now owns it.
            if self._table.insert_if_absent(partition, row, {**fresh, "reached": "[]"}):
                return Claim("send", token=token)
            return lost
        entity = current.entity
        state = entity.get("state")
        reached = frozenset(json.loads(entity.get("reached") or "[]"))
        parts = _parts(entity)
        if state == "delivered":
            return Claim("duplicate", reached, parts=parts)
        if state == "dead":
            return Claim("dead", reached, parts=parts)
        if state == "sending":
            claimed_at = parse_utc(str(entity.get("claimed_at") or format_utc(now)))
            remaining = (claimed_at + self._lease - now).total_seconds()
            if remaining > 0:
                return Claim("busy", reached, wait_seconds=remaining, parts=parts)
            # Lapsed. Seen so before, with no renewal since, ``confirm`` ago: the holder is gone.
            seen = entity.get("lapse_seen_at")
            seen_at = parse_utc(str(seen)) if seen else None
            if seen_at is None or seen_at > now or now - seen_at < self._confirm:
                if seen_at is None:
                    fields = {
                        k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey")
                    }
                    fields["lapse_seen_at"] = format_utc(now)
                    self._table.update_if_unchanged(partition, row, fields, current.etag)
                    seen_at = now
                wait = max((seen_at + self._confirm - now).total_seconds(), 1.0)
                return Claim("busy", reached, wait_seconds=wait, parts=parts)
        taken = {
            **fresh,
            "reached": json.dumps(sorted(reached)),
            "parts": json.dumps(parts, sort_keys=True),
        }
        if self._table.update_if_unchanged(partition, row, taken, current.etag):
            return Claim("send", reached, token=token, parts=parts)
        return replace(lost, reached=reached, parts=parts)

    @property
    def lease(self) -> timedelta:
        return self._lease

    def state_of(self, event_id: str, receiver_name: str) -> str | None:
        """Where another notice's job for this receiver stands (None: no row yet)."""
        entity = self._table.get(table_key(event_id), table_key(receiver_name))
        return None if entity is None else str(entity.get("state") or "")

    def renew(
        self,
        job: DeliveryJob,
        token: str,
        now: datetime,
        reached: Iterable[str] | None = None,
        parts: Mapping[str, str] | None = None,
    ) -> bool:
        """Move the claim's time to ``now`` (and write the progress known so far, if given) if
        it is still this worker's ``sending`` claim; False once it is not (recorded, or taken
        over): a conditional write, so a renewal never overwrites the ``delivered`` that the
        sender's own worker wrote meanwhile. A renewal clears a lapse sighting."""
        partition, row = self._keys(job)
        # A write between our read and our update (another worker noting a lapse) fails the
        # update without taking the claim: read again and retry.
        for _ in range(_RENEW_TRIES):
            current = self._table.get_versioned(partition, row)
            if current is None:
                return False
            entity = current.entity
            if entity.get("state") != "sending" or entity.get("claim_id") != token:
                return False
            fields = {
                k: v
                for k, v in entity.items()
                if k not in ("PartitionKey", "RowKey", "lapse_seen_at")
            }
            fields["claimed_at"] = format_utc(now)
            if reached is not None:
                fields["reached"] = json.dumps(sorted(set(reached)))
            if parts is not None:
                fields["parts"] = json.dumps(dict(parts), sort_keys=True)
            if self._table.update_if_unchanged(partition, row, fields, current.etag):
                return True
        return True  # still ours at the last read; the next renewal tries again

    def record(
        self,
        job: DeliveryJob,
        state: LedgerState,
        reached: Iterable[str],
        now: datetime,
        parts: Mapping[str, str] | None = None,
    ) -> None:
        partition, row = self._keys(job)
        self._table.upsert(
            partition,
            row,
            {
                "state": state,
                "job_id": job.job_id,
                "reached": json.dumps(sorted(set(reached))),
                "parts": json.dumps(dict(parts or {}), sort_keys=True),
                "updated_at": format_utc(now),
            },
        )

    def reopen(self, job: DeliveryJob, now: datetime) -> bool:
        """For a replay: a dead job may be sent again (targets already reached stay reached)."""
        partition, row = self._keys(job)
        entity = self._table.get(partition, row)
        if entity is not None and entity.get("state") == "delivered":
            return False
        reached = json.loads((entity or {}).get("reached") or "[]")
        self.record(job, "pending", reached, now, _parts(entity or {}))
        return True


# --------------------------------------------------------------------------------------
# Delivery log


@dataclass(frozen=True)
class Attempt:
    job: DeliveryJob
    outcome: str  # delivered | retry | permanent | duplicate | deferred | waiting | busy
    status: int | None
    reason: str
    latency_ms: int
    attempt: int
    dequeue_count: int
    targets: tuple[str, ...]
    reference: str | None = None


class DeliveryLog:
    def __init__(self, table: EntityTable, environ: Mapping[str, str]) -> None:
        self._table = table
        self._environ = environ

    def write(self, entry: Attempt, now: datetime) -> dict[str, Any]:
        job = entry.job
        stamp = now.strftime("%Y%m%dT%H%M%S.%f")[:-3]
        row = f"{stamp}|{table_key(job.receiver.name)}|{uuid.uuid4().hex[:8]}"
        entity: dict[str, Any] = {
            "time": format_utc(now),
            "event_id": job.event_id,
            "job_id": job.job_id,
            "receiver": job.receiver.name,
            "channel": job.receiver.type,
            "outcome": entry.outcome,
            "reason": scrub(entry.reason, job, self._environ)[:1000],
            "latency_ms": entry.latency_ms,
            "attempt": entry.attempt,
            "dequeue_count": entry.dequeue_count,
            "targets": mask_targets(entry.targets),
        }
        if entry.status is not None:
            entity["status"] = entry.status
        if entry.reference:
            entity["reference"] = entry.reference
        self._table.upsert(table_key(job.event_id), row, entity)
        return entity


# --------------------------------------------------------------------------------------
# Dead letters


@dataclass(frozen=True)
class DeadLetter:
    id: str
    job: DeliveryJob
    queue: str
    reason: str
    status: int | None
    attempts: int
    dead_at: str
    replayed_at: str | None
    traceparent: str | None

    def summary(self) -> dict[str, Any]:
        """What ``forewarn deadletter list --json`` prints: no targets, no secrets."""
        return {
            "id": self.id,
            "dead_at": self.dead_at,
            "event_id": self.job.event_id,
            "receiver": self.job.receiver.name,
            "channel": self.job.receiver.type,
            "queue": self.queue,
            "attempts": self.attempts,
            "status": self.status,
            "reason": self.reason,
            "targets": mask_targets(self.job.receiver.targets),
            "replayed_at": self.replayed_at,
        }


class DeadLetterBox:
    def __init__(
        self, table: EntityTable, payloads: PayloadStore, environ: Mapping[str, str]
    ) -> None:
        self._table = table
        self._payloads = payloads
        self._environ = environ

    def add(
        self,
        job: DeliveryJob,
        result: DeliveryResult,
        *,
        attempts: int,
        now: datetime,
        traceparent: str | None,
    ) -> str:
        letter_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
        job_json = json.dumps(job.to_json(), separators=(",", ":"), ensure_ascii=False)
        entity: dict[str, Any] = {
            "event_id": job.event_id,
            "job_id": job.job_id,
            "receiver": job.receiver.name,
            "channel": job.receiver.type,
            "queue": names.DELIVERY_QUEUES[job.receiver.type],
            "reason": scrub(result.reason, job, self._environ)[:1000],
            "attempts": attempts,
            "dead_at": format_utc(now),
        }
        if result.status is not None:
            entity["status"] = result.status
        if traceparent:
            entity["traceparent"] = traceparent
        # The job (targets in clear) goes to the payload store, never into the table row.
        ref = f"deadletter/{letter_id}.json"
        self._payloads.put(ref, job_json.encode("utf-8"))
        entity["job_ref"] = ref
        self._table.upsert(DEAD_LETTER_PARTITION, letter_id, entity)
        return letter_id

    def all(self) -> list[DeadLetter]:
        return [self._letter(entity) for entity in self._table.query(DEAD_LETTER_PARTITION)]

    def get(self, letter_id: str) -> DeadLetter | None:
        entity = self._table.get(DEAD_LETTER_PARTITION, letter_id)
        return self._letter(entity) if entity is not None else None

    def mark_replayed(self, letter_id: str, now: datetime) -> None:
        entity = self._table.get(DEAD_LETTER_PARTITION, letter_id)
        if entity is None:
            return
        fields = {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey")}
        fields["replayed_at"] = format_utc(now)
        fields["replays"] = int(fields.get("replays") or 0) + 1
        self._table.upsert(DEAD_LETTER_PARTITION, letter_id, fields)

    def _letter(self, entity: Mapping[str, Any]) -> DeadLetter:
        if "job" in entity:
            job_json = str(entity["job"])
        else:
            job_json = self._payloads.get(str(entity["job_ref"])).decode("utf-8")
        status = entity.get("status")
        return DeadLetter(
            id=str(entity["RowKey"]),
            job=DeliveryJob.from_json(json.loads(job_json)),
            queue=str(entity["queue"]),
            reason=str(entity.get("reason", "")),
            status=int(status) if status is not None else None,
            attempts=int(entity.get("attempts") or 0),
            dead_at=str(entity.get("dead_at", "")),
            replayed_at=entity.get("replayed_at"),
            traceparent=entity.get("traceparent"),
        )
