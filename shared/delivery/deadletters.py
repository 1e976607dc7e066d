"""Dead letters: what delivery gave up on, listed for a human and replayed on request.

list_dead_letters()      what is waiting for a human
replay(ids)              put dead jobs back on their queue with a fresh attempt count

A replayed job goes through the delivery stage as a new first attempt (``requeue.job_body``); a
job some duplicate delivered meanwhile is not sent again (the idempotency ledger says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared import names
from shared.delivery.records import DeadLetter, DeadLetterBox, IdempotencyLedger
from shared.delivery.requeue import ENVELOPE_KIND, job_body
from shared.delivery.stage import DEFAULT_LEASE, DeliveryStageError
from shared.storage import Envelope, StorageServices
from shared.timeutil import Clock, utc_now


class UnknownDeadLetterError(DeliveryStageError):
    """A replay named a dead-letter id that does not exist."""


@dataclass(frozen=True)
class ReplayResult:
    id: str
    job_id: str
    queue: str
    replayed: bool
    note: str


def _box(storage: StorageServices) -> DeadLetterBox:
    return DeadLetterBox(storage.table(names.TABLE_DEAD_LETTER), storage.payloads, {})


def list_dead_letters(storage: StorageServices) -> list[DeadLetter]:
    """Oldest first (ids start with their UTC time)."""
    return sorted(_box(storage).all(), key=lambda letter: letter.id)


def replay(
    storage: StorageServices,
    ids: Sequence[str] | None = None,
    *,
    clock: Clock = utc_now,
) -> list[ReplayResult]:
    """Re-enqueue dead jobs (all not yet replayed when ``ids`` is empty) with attempt 1.

    Named ids are replayed even if they were replayed before: an operator asked for it.
    A job delivered meanwhile (by a duplicate) is not sent again.
    """
    box = _box(storage)
    if ids:
        letters = []
        for letter_id in ids:
            letter = box.get(letter_id)
            if letter is None:
                raise UnknownDeadLetterError(f"no dead letter {letter_id!r}")
            letters.append(letter)
    else:
        letters = [letter for letter in list_dead_letters(storage) if letter.replayed_at is None]
    ledger = IdempotencyLedger(storage.table(names.TABLE_IDEMPOTENCY), lease=DEFAULT_LEASE)
    results = []
    for letter in letters:
        now = clock()
        if not ledger.reopen(letter.job, now):
            box.mark_replayed(letter.id, now)
            results.append(
                ReplayResult(letter.id, letter.job.job_id, letter.queue, False, "already delivered")
            )
            continue
        storage.courier.send(
            letter.queue,
            Envelope(
                kind=ENVELOPE_KIND,
                id=letter.job.job_id,
                body=job_body(letter.job, 1, replay_of=letter.id),
                traceparent=letter.traceparent,
            ),
        )
        box.mark_replayed(letter.id, now)
        results.append(
            ReplayResult(letter.id, letter.job.job_id, letter.queue, True, "re-enqueued")
        )
    return results
