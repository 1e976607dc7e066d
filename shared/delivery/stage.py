"""The delivery stage: one queue message in, at most one send per target, every attempt logged.

The chain, each step taking the clock as input:

    open envelope → quiet hours (hold until ``not_before``) → order (wait for the notice it
    follows, order.py) → idempotency claim → send
    → log → delivered: record | transient: back off and re-enqueue | permanent: dead-letter

    DeliveryStageError
    └── MalformedDeliveryError   the message is not a delivery job (the host poisons it)

Retries are *re-enqueued* with a delay rather than raised: the Functions host retries a raised
message after a fixed visibility timeout (30 s here) at most ``maxDequeueCount`` (5) times, which
would give up on a receiver after two minutes and could not honour ``Retry-After``. A copy of the
job with ``attempt + 1`` is sent with ``delay_seconds`` = max(backoff, Retry-After), and the
current message completes. Storage failures still raise, so the host retries them.

Idempotency is at-least-once only across a crash: a claim is taken before sending and marked
delivered after. A live worker keeps its claim (renewed every quarter lease, with each target and
Slack part recorded as it is reached) until that record is written, retrying it through a storage
outage of any length up to the function timeout (``durable``), so it never sends twice. A worker
that dies leaves a claim that lapses after ``lease`` (60 s) and is taken over when seen lapsed a
second time half a lease later (``IdempotencyLedger.claim``); then only the targets and parts
not recorded as reached are sent. What can still repeat is a target in flight at the crash:
webhook receivers get a stable ``Idempotency-Key`` and emails a stable ``Message-ID`` to drop it.

Nothing a sender raises leaves the claim behind: an exception becomes a result (a configuration
error permanent, anything else a retry that counts as an attempt; ``retry.result_for_exception``)
and the ledger row is released like any other result's. The ledger is written before the delivery
log, so a log write that fails after a send cannot cause a second send. A message that finds the
claim held re-queues itself with a ``busy`` count; after ``RetryPolicy.max_busy`` in a row (sends
that keep dying without a result) the job is dead-lettered instead of waiting forever.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal, TypeVar

from shared import names
from shared.channels.base import ChannelSender, Progress
from shared.channels.retry import result_for_exception
from shared.delivery.durable import SETTLE_SECONDS, ClaimHeartbeat, LedgerProgress, settle
from shared.delivery.order import MAX_ORDER_WAITS, ORDER_WAIT_SECONDS, first_unsettled
from shared.delivery.records import (
    Attempt,
    Claim,
    DeadLetterBox,
    DeliveryLog,
    IdempotencyLedger,
    scrub,
    table_key,
    target_hash,
)
from shared.delivery.requeue import (
    ENVELOPE_KIND,
    MAX_DELAY_SECONDS,
    RetryPolicy,
    hold_seconds,
    narrow,
    requeue,
)
from shared.delivery.results import DeliveryResult
from shared.delivery.threads import ThreadBook
from shared.models import ChannelName, DeliveryJob
from shared.storage import Courier, Envelope, PayloadMissingError, StorageServices
from shared.telemetry import (
    METRIC_DEADLETTERS,
    METRIC_DELIVERIES,
    METRIC_RETRIES,
    count,
    get_logger,
    stage_span,
)
from shared.timeutil import Clock, format_utc, utc_now

log = get_logger("forewarn.delivery")

# A claim not renewed for this long belongs to a worker that is gone. The sending worker renews
# it every quarter lease (``ClaimHeartbeat``), so it can be short: a crashed worker's jobs are
# sent again about a minute later, a slow live send is never taken over.
DEFAULT_LEASE = timedelta(seconds=60)

T = TypeVar("T")

Action = Literal[
    "delivered", "duplicate", "deferred", "waiting", "busy", "retry_scheduled", "dead_lettered"
]


class DeliveryStageError(Exception):
    """Base class of delivery stage failures."""


class MalformedDeliveryError(DeliveryStageError):
    """The queue message is not a delivery job; raising lets the host move it to poison."""


@dataclass(frozen=True)
class StageOutcome:
    action: Action
    job_id: str
    attempt: int
    delay_seconds: int = 0
    result: DeliveryResult | None = None
    dead_letter_id: str | None = None


class DeliveryStage:
    def __init__(
        self,
        storage: StorageServices,
        senders: Mapping[ChannelName, ChannelSender],
        *,
        environ: Mapping[str, str],
        clock: Clock = utc_now,
        policy: RetryPolicy | None = None,
        lease: timedelta = DEFAULT_LEASE,
        confirm: timedelta | None = None,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        """``lease``, ``confirm`` (half the lease unless given) and ``settle_seconds`` are
        parameters so that tests can ride out a short outage; the app uses the defaults."""
        self._courier: Courier = storage.courier
        self._settle_seconds = settle_seconds
        self._senders = senders
        self._environ = environ
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._ledger = IdempotencyLedger(
            storage.table(names.TABLE_IDEMPOTENCY), lease=lease, confirm=confirm
        )
        self._log = DeliveryLog(storage.table(names.TABLE_DELIVERY_LOG), environ)
        self._dead = DeadLetterBox(
            storage.table(names.TABLE_DEAD_LETTER), storage.payloads, environ
        )
        self._refs = storage.table(names.TABLE_MESSAGE_REFS)
        self._threads = ThreadBook(self._refs)

    def handle(self, text: str, *, dequeue_count: int = 1) -> StageOutcome:
        """Process one queue message; raises only when storage fails (the host retries)."""
        envelope, job, attempt, busy, waited = self._open(text)
        with stage_span(
            "deliver",
            event_id=job.event_id,
            traceparent=envelope.traceparent,
            channel=job.receiver.type,
            attempt=attempt,
        ) as traceparent:
            outcome = self._process(
                replace(envelope, traceparent=traceparent),
                job,
                attempt,
                (busy, waited),
                dequeue_count,
            )
        count(METRIC_DELIVERIES, channel=job.receiver.type, outcome=outcome.action)
        if outcome.action == "retry_scheduled":
            count(METRIC_RETRIES, channel=job.receiver.type)
        elif outcome.action == "dead_lettered":
            count(METRIC_DEADLETTERS, channel=job.receiver.type)
        return outcome

    def _process(
        self,
        envelope: Envelope,
        job: DeliveryJob,
        attempt: int,
        counts: tuple[int, int],
        dequeue_count: int,
    ) -> StageOutcome:
        busy, waited = counts
        now = self._clock()
        hold = hold_seconds(job, self._clock)
        if hold > 0:
            delay = min(hold, MAX_DELAY_SECONDS)
            requeue(self._courier, job, envelope, attempt, delay, busy=busy)
            self._note(
                job, "deferred", f"quiet hours until {job.not_before}", attempt, dequeue_count
            )
            return StageOutcome("deferred", job.job_id, attempt, delay)

        # A message that follows another of its event waits for it (order.py), a bounded time.
        before = first_unsettled(self._ledger, job)
        if before is not None and waited < MAX_ORDER_WAITS:
            requeue(self._courier, job, envelope, attempt, ORDER_WAIT_SECONDS, waited=waited + 1)
            self._note(job, "waiting", f"follows {before}", attempt, dequeue_count)
            return StageOutcome("waiting", job.job_id, attempt, ORDER_WAIT_SECONDS)
        if before is not None:
            log.warning("sending %s without waiting longer for %s", job.job_id, before)

        claim = self._ledger.claim(job, now)
        if claim.verdict in ("duplicate", "dead"):
            self._note(job, "duplicate", f"already {claim.verdict}", attempt, dequeue_count)
            return StageOutcome("duplicate", job.job_id, attempt)
        if claim.verdict == "busy":
            return self._wait_for_claim(envelope, job, attempt, busy, dequeue_count, claim)

        # A later message of a wave follows the first one this receiver got (threads.py).
        pending = self._threads.following(narrow(job, claim.reached))
        if job.receiver.targets and not pending.receiver.targets:
            # Every target was reached before a crash hid it from the ledger: nothing to send.
            self._ledger.record(job, "delivered", claim.reached, now)
            self._note(job, "duplicate", "every target already reached", attempt, dequeue_count)
            return StageOutcome("duplicate", job.job_id, attempt)
        progress = LedgerProgress(
            self._ledger,
            job,
            claim.token,
            reached=claim.reached,
            parts=dict(claim.parts),
            clock=self._clock,
        )
        # The claim is kept from here until the ledger says what happened, however long
        # storage takes to come back: the heartbeat renews it (with the progress so far) while
        # the send runs and while the record after it is retried.
        with ClaimHeartbeat(
            progress.renew,
            interval_seconds=self._ledger.lease.total_seconds() / 4,
            clock=self._clock,
            name=job.job_id,
        ):
            return self._send_and_record(envelope, job, pending, progress, attempt, dequeue_count)

    def _send_and_record(
        self,
        envelope: Envelope,
        job: DeliveryJob,
        pending: DeliveryJob,
        progress: LedgerProgress,
        attempt: int,
        dequeue_count: int,
    ) -> StageOutcome:
        started = time.monotonic()
        result = self._send(pending, progress)
        latency_ms = int((time.monotonic() - started) * 1000)
        reached_so_far, parts = progress.snapshot()
        reached = reached_so_far | {target_hash(t) for t in result.delivered_targets}
        now = self._clock()

        def settled(write: Callable[[], T], what: str) -> T:
            return settle(write, what, within_seconds=self._settle_seconds)

        # The ledger is written first (and retried until storage is back), the delivery log
        # last: a write that fails after a send must not leave the claim in ``sending`` (the
        # job would be sent again once the claim lapsed).
        if result.delivered:
            settled(
                lambda: self._ledger.record(job, "delivered", reached, now, parts), "ledger write"
            )
            self._remember_reference(job, result, now)
            settled(lambda: self._threads.remember(pending, result, now), "thread write")
            self._log_attempt(job, pending, result, latency_ms, attempt, dequeue_count)
            log.info("delivered %s (attempt %d, %d ms)", job.job_id, attempt, latency_ms)
            return StageOutcome("delivered", job.job_id, attempt, result=result)

        remaining = narrow(job, reached)
        if result.outcome == "retry" and attempt < self._policy.max_attempts:
            delay = self._policy.delay(attempt, result.retry_after)
            settled(
                lambda: self._ledger.record(job, "pending", reached, now, parts), "ledger write"
            )
            requeue(self._courier, remaining, envelope, attempt + 1, delay)
            self._log_attempt(job, pending, result, latency_ms, attempt, dequeue_count)
            log.warning(
                "retrying %s in %d s (attempt %d): %s",
                job.job_id,
                delay,
                attempt,
                scrub(result.reason, job, self._environ),
            )
            return StageOutcome("retry_scheduled", job.job_id, attempt, delay, result)

        if result.outcome == "retry":
            result = replace(result, reason=f"gave up after {attempt} attempts: {result.reason}")
        letter_id = settled(
            lambda: self._dead.add(
                remaining, result, attempts=attempt, now=now, traceparent=envelope.traceparent
            ),
            "dead-letter write",
        )
        settled(lambda: self._ledger.record(job, "dead", reached, now, parts), "ledger write")
        self._log_attempt(job, pending, result, latency_ms, attempt, dequeue_count)
        log.error(
            "dead-lettered %s as %s: %s",
            job.job_id,
            letter_id,
            scrub(result.reason, job, self._environ),
        )
        return StageOutcome(
            "dead_lettered", job.job_id, attempt, result=result, dead_letter_id=letter_id
        )

    def _send(self, job: DeliveryJob, progress: Progress) -> DeliveryResult:
        """The sender's result; an exception it raises becomes one too, so that the claim is
        released by the caller instead of being left in ``sending`` (re-sent after every lease,
        forever). Only the exception's kind and where it came from are logged: its text may
        hold a webhook URL, a phone number or a credential."""
        try:
            return self._senders[job.receiver.type].send_reporting(job, progress)
        except Exception as error:
            result = result_for_exception(error, f"{job.receiver.type} sender")
            frames = traceback.extract_tb(error.__traceback__)
            where = (
                f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name}"
                if frames
                else "?"
            )
            log.error(
                "the %s sender raised %s (%s) for %s; taken as %s",
                job.receiver.type,
                type(error).__name__,
                where,
                job.job_id,
                result.outcome,
            )
            return result

    def _wait_for_claim(
        self,
        envelope: Envelope,
        job: DeliveryJob,
        attempt: int,
        busy: int,
        dequeue_count: int,
        claim: Claim,
    ) -> StageOutcome:
        if busy >= self._policy.max_busy:
            # The ledger row is left alone: a live holder may still record it; a replay of the
            # dead letter reopens it.
            result = DeliveryResult.permanent(
                None,
                f"gave up after finding the claim held {busy + 1} times in a row "
                "(its sends keep ending without a result)",
            )
            letter_id = self._dead.add(
                job, result, attempts=attempt, now=self._clock(), traceparent=envelope.traceparent
            )
            self._note(job, "permanent", result.reason, attempt, dequeue_count)
            log.error("dead-lettered %s as %s: %s", job.job_id, letter_id, result.reason)
            return StageOutcome(
                "dead_lettered", job.job_id, attempt, result=result, dead_letter_id=letter_id
            )
        delay = math.ceil(claim.wait_seconds) + 1
        requeue(self._courier, job, envelope, attempt, delay, busy=busy + 1)
        self._note(job, "busy", "another worker holds the claim", attempt, dequeue_count)
        return StageOutcome("busy", job.job_id, attempt, delay)

    # ----------------------------------------------------------------------------------

    def _open(self, text: str) -> tuple[Envelope, DeliveryJob, int, int, int]:
        try:
            envelope = self._courier.open(text)
            if envelope.kind != ENVELOPE_KIND:
                raise MalformedDeliveryError(f"expected a delivery envelope, got {envelope.kind!r}")
            job = DeliveryJob.from_json(envelope.body)
            if job.receiver.type not in self._senders:
                raise MalformedDeliveryError(f"no sender for channel {job.receiver.type!r}")
            bookkeeping = envelope.body.get("delivery") or {}
            attempt = max(int(bookkeeping.get("attempt", 1)), 1)
            busy = max(int(bookkeeping.get("busy", 0)), 0)
            waited = max(int(bookkeeping.get("waited", 0)), 0)
        except PayloadMissingError as error:
            raise MalformedDeliveryError("the job's claim-check payload is missing") from error
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise MalformedDeliveryError("the queue message is not a delivery job") from error
        return envelope, job, attempt, busy, waited

    def _log_attempt(
        self,
        job: DeliveryJob,
        pending: DeliveryJob,
        result: DeliveryResult,
        latency_ms: int,
        attempt: int,
        dequeue_count: int,
    ) -> None:
        self._log.write(
            Attempt(
                job=job,
                outcome=result.outcome,
                status=result.status,
                reason=result.reason,
                latency_ms=latency_ms,
                attempt=attempt,
                dequeue_count=dequeue_count,
                targets=tuple(pending.receiver.targets),
                reference=result.reference,
            ),
            self._clock(),
        )

    def _note(
        self, job: DeliveryJob, outcome: str, reason: str, attempt: int, dequeue_count: int
    ) -> None:
        self._log.write(
            Attempt(
                job, outcome, None, reason, 0, attempt, dequeue_count, tuple(job.receiver.targets)
            ),
            self._clock(),
        )

    def _remember_reference(self, job: DeliveryJob, result: DeliveryResult, now: Any) -> None:
        if result.reference:
            self._refs.upsert(
                table_key(job.event_id),
                table_key(job.receiver.name),
                {
                    "channel": job.receiver.type,
                    "reference": result.reference,
                    "job_id": job.job_id,
                    "delivered_at": format_utc(now),
                },
            )
