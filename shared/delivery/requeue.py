"""A delivery job sent round again: its bookkeeping in the envelope body, the backoff, the hold.

Retries are re-enqueued copies of the job, not raised (stage.py says why): the body carries the
attempt and the ``busy`` and ``waited`` counts beside the job, and the copy is sent with a delay
the queue allows. A retry is sent only to the targets not reached yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from shared import names
from shared.delivery.records import target_hash
from shared.models import DeliveryJob
from shared.storage import Courier, Envelope
from shared.timeutil import Clock, InvalidTimestampError, parse_utc

ENVELOPE_KIND = "delivery"
# A queue message stays invisible at most 7 days; keep an hour's margin.
MAX_DELAY_SECONDS = 7 * 24 * 3600 - 3600


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: 30 s, 2 min, 8 min, 32 min, then hourly; 10 attempts ≈ 5.7 h.

    ``max_busy``: how many times in a row a job may find its claim held by another worker (each
    wait lasts until that claim's lease lapses, ≤ one lease) before it is dead-lettered. A live
    holder finishes within one lease, so a second or later ``busy`` means the sends in between
    died without a result (killed at the function timeout, storage failing after the send).
    """

    max_attempts: int = 10
    base_seconds: float = 30.0
    factor: float = 4.0
    cap_seconds: float = 3600.0
    max_busy: int = 5

    def delay(self, attempt: int, retry_after: float | None = None) -> int:
        backoff = min(self.cap_seconds, self.base_seconds * self.factor ** max(attempt - 1, 0))
        wanted = max(backoff, retry_after or 0.0)
        return int(min(math.ceil(wanted), MAX_DELAY_SECONDS))


def job_body(job: DeliveryJob, attempt: int, **extra: Any) -> dict[str, Any]:
    """The envelope body: the job plus the stage's own bookkeeping (ignored by ``from_json``)."""
    return {**job.to_json(), "delivery": {"attempt": attempt, **extra}}


def hold_seconds(job: DeliveryJob, clock: Clock) -> int:
    """Seconds until the job's quiet-hours hold (``not_before``) ends; 0 when none."""
    if not job.not_before:
        return 0
    try:
        not_before = parse_utc(job.not_before)
    except InvalidTimestampError:
        return 0  # a malformed hold must not keep a notice back
    return max(math.ceil((not_before - clock()).total_seconds()), 0)


def narrow(job: DeliveryJob, reached: frozenset[str] | set[str]) -> DeliveryJob:
    """The job for the targets not reached yet (a retry never re-sends to a reached one)."""
    if not reached:
        return job
    targets = [t for t in job.receiver.targets if target_hash(t) not in reached]
    return replace(job, receiver=replace(job.receiver, targets=targets))


def requeue(
    courier: Courier,
    job: DeliveryJob,
    envelope: Envelope,
    attempt: int,
    delay: int,
    *,
    busy: int = 0,
    waited: int = 0,
) -> None:
    """Send the job round again after ``delay`` seconds, its bookkeeping in the body; the
    message being handled then completes."""
    extra = {"busy": busy} if busy else {}
    if waited:
        extra["waited"] = waited
    courier.send(
        names.DELIVERY_QUEUES[job.receiver.type],
        Envelope(
            kind=ENVELOPE_KIND,
            id=job.job_id,
            body=job_body(job, attempt, **extra),
            traceparent=envelope.traceparent,
        ),
        delay_seconds=delay,
    )
