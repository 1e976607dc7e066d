"""Client-side token buckets that keep forewarn under Azure's throttling limits.

Azure Resource Manager counts reads and writes per subscription in token buckets (reads: 250
tokens, 25 per second back). Behind it, the Compute resource provider has its own buckets per
subscription and per VM, one set per kind of call (a VM list costs more than one VM's instance
view). A request that finds an empty bucket is answered 429 with ``Retry-After``.

Rather than discover the limits by being throttled, forewarn keeps a copy of every bucket a
request will draw from and waits until all of them hold a token. The copy is corrected from
the ``x-ms-ratelimit-remaining-subscription-*`` headers (other clients of the same subscription
drain the same bucket) and a 429 stops the whole subscription for its ``Retry-After``.

Sources: learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
and learn.microsoft.com/azure/virtual-machines/compute-throttling-limits (token bucket tables).
Compute buckets are per region; they are kept per subscription here, which is never looser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

Monotonic = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class BucketLimit:
    capacity: float
    refill_per_second: float

    def seconds_for(self, requests: int) -> float:
        """The least time ``requests`` calls take against a full bucket of this size."""
        return max(0.0, (requests - self.capacity) / self.refill_per_second)


def _per_minute(capacity: float, refill_per_minute: float) -> BucketLimit:
    return BucketLimit(capacity, refill_per_minute / 60.0)


class Operation(Enum):
    """What a request costs: which buckets it draws from."""

    READ = "read"  # ARM read outside Compute (Resource Health, DevTest Labs schedules)
    VM_LIST = "vm_list"  # Compute "High Cost Get VM": List, List All
    VM_GET = "vm_get"  # Compute "Low Cost Get VM": Get, Instance View
    VM_UPDATE = "vm_update"  # Compute "Update VM": Perform Maintenance (an ARM write)
    VM_OPERATION = "vm_operation"  # Compute "Get Operation": async operation status
    GRAPH_QUERY = "graph_query"  # Resource Graph: the per-user quota window (``QuotaWindow``)


@dataclass(frozen=True)
class PacingLimits:
    """The published limits; tests and the benchmark may shrink them."""

    arm_reads: BucketLimit = BucketLimit(250, 25)
    arm_writes: BucketLimit = BucketLimit(200, 10)
    # Compute: (subscription bucket, per-VM bucket or None)
    compute: dict[Operation, tuple[BucketLimit, BucketLimit | None]] = field(
        default_factory=lambda: {
            Operation.VM_LIST: (_per_minute(900, 300), None),
            Operation.VM_GET: (_per_minute(24_000, 8_000), _per_minute(36, 12)),
            Operation.VM_UPDATE: (_per_minute(1_500, 500), _per_minute(12, 4)),
            Operation.VM_OPERATION: (_per_minute(15_000, 5_000), _per_minute(45, 15)),
        }
    )

    def is_write(self, operation: Operation) -> bool:
        return operation is Operation.VM_UPDATE


# The bucket key of a request outside any subscription (Resource Graph's, for one).
TENANT_SCOPE = "-"

# Tokens the ARM buckets keep in hand. Our copy can be up to one token above the server's: its
# header is whole tokens, and its bucket starts refilling when our first request arrives, a
# little after ours does. Drawing the last token on that copy drew 429s.
ARM_RESERVE = 1.0


class TokenBucket:
    """One bucket: ``capacity`` tokens, refilled continuously, starting full; a request goes
    when one token is there beyond ``reserve``."""

    def __init__(self, limit: BucketLimit, now: float, reserve: float = 0.0) -> None:
        self.limit = limit
        self.reserve = reserve
        self._tokens = float(limit.capacity)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            gained = (now - self._stamp) * self.limit.refill_per_second
            self._tokens = min(float(self.limit.capacity), self._tokens + gained)
            self._stamp = now

    def tokens(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def wait_time(self, now: float) -> float:
        """Seconds until one token beyond the reserve is there (0 when it is there now)."""
        self._refill(now)
        missing = 1.0 + self.reserve - self._tokens
        # A hair of float error must not turn into sleeps too short to move the clock.
        return 0.0 if missing <= 1e-9 else missing / self.limit.refill_per_second

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0

    def empty_until(self, moment: float) -> None:
        """After a 429: no tokens now, and refilling only from ``moment`` on."""
        self._tokens = min(self._tokens, 0.0)
        self._stamp = max(self._stamp, moment)

    def clamp(self, now: float, at_most: float) -> None:
        self._refill(now)
        self._tokens = min(self._tokens, at_most)


class QuotaWindow:
    """Resource Graph's per-user quota: so many queries per window (for example 15 every 5 s),
    told on every answer as ``x-ms-user-quota-remaining`` and ``x-ms-user-quota-resets-after``.

    Not a token bucket: the quota comes back all at once when the window resets. Until an
    answer has told us, nothing is known and a query goes; after that one goes while the
    window has some left, else it waits for the reset. The header counts whole seconds; the
    wait is the whole of it, never less (guidance-for-throttled-requests on Microsoft Learn).
    """

    def __init__(self) -> None:
        self.remaining: int | None = None
        self.resets_at = 0.0

    def wait_time(self, now: float) -> float:
        if self.remaining is None or now >= self.resets_at or self.remaining > 0:
            return 0.0
        return self.resets_at - now

    def take(self, now: float) -> None:
        if now >= self.resets_at:
            self.remaining = None  # a new window: its size is told by the next answer
        elif self.remaining is not None:
            self.remaining -= 1

    def observe(self, now: float, remaining: int, resets_after: float) -> None:
        self.remaining = remaining
        self.resets_at = now + resets_after

    def empty_until(self, moment: float) -> None:
        self.remaining = 0
        self.resets_at = max(self.resets_at, moment)


@dataclass(frozen=True)
class Ticket:
    """Permission for one request, with what is needed to read its rate-limit headers."""

    subscription: str
    operation: Operation
    sent_at: float


class Pacer:
    """All buckets of all subscriptions; ``acquire`` blocks until a request may go."""

    def __init__(
        self,
        limits: PacingLimits | None = None,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.limits = limits or PacingLimits()
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._held_until: dict[str, float] = {}
        self.quota = QuotaWindow()  # Resource Graph's, one per identity (this process's)
        self.waited_seconds = 0.0

    def _bucket(
        self, key: tuple[str, ...], limit: BucketLimit, now: float, reserve: float = 0.0
    ) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(limit, now, reserve)
        return bucket

    def _arm_bucket(self, subscription: str, operation: Operation, now: float) -> TokenBucket:
        if self.limits.is_write(operation):
            key, limit = ("arm-writes", subscription), self.limits.arm_writes
        else:
            key, limit = ("arm-reads", subscription), self.limits.arm_reads
        return self._bucket(key, limit, now, ARM_RESERVE)

    def _buckets_for(
        self, subscription: str, operation: Operation, resource: str | None, now: float
    ) -> list[TokenBucket]:
        buckets = [self._arm_bucket(subscription, operation, now)]
        compute = self.limits.compute.get(operation)
        if compute is not None:
            per_subscription, per_resource = compute
            key: tuple[str, ...] = ("compute", operation.value, subscription)
            buckets.append(self._bucket(key, per_subscription, now))
            if per_resource is not None and resource:
                key = (*key, resource.lower())
                buckets.append(self._bucket(key, per_resource, now))
        return buckets

    def acquire(self, subscription: str, operation: Operation, resource: str | None) -> Ticket:
        subscription = subscription.lower()
        while True:
            with self._lock:
                now = self._monotonic()
                buckets = self._buckets_for(subscription, operation, resource, now)
                graph = operation is Operation.GRAPH_QUERY
                wait = max(
                    self._held_until.get(subscription, 0.0) - now,
                    self.quota.wait_time(now) if graph else 0.0,
                    *(bucket.wait_time(now) for bucket in buckets),
                )
                if wait <= 0:
                    for bucket in buckets:
                        bucket.take(now)
                    if graph:
                        self.quota.take(now)
                    return Ticket(subscription, operation, now)
            self.waited_seconds += wait
            self._sleep(wait)

    def observe_remaining(self, ticket: Ticket, remaining: int) -> None:
        """Correct the ARM bucket from ``x-ms-ratelimit-remaining-subscription-reads|writes``.

        The header is the server's bucket when it handled *this* request, at some moment
        between ``sent_at`` and now, and it may already count requests we sent later: answers
        come back out of order under concurrency, and one whose connection waited (a SYN
        retransmitted after a second) comes back after a whole burst. So the only sure thing
        is an upper bound: the server cannot hold more than the header (+1: it rounds down)
        plus what came back since ``sent_at``. Only when ours is above that does someone else
        drain the same bucket, and ours drops to it. Our own requests still in flight are not
        subtracted (that double-counted, and once clamped a bucket 200 tokens too low); if the
        other client left nothing, they may draw 429s, and ``hold`` then stops us.
        """
        with self._lock:
            now = self._monotonic()
            bucket = self._arm_bucket(ticket.subscription, ticket.operation, now)
            refilled = max(0.0, now - ticket.sent_at) * bucket.limit.refill_per_second
            server_at_most = remaining + refilled
            if bucket.tokens(now) > server_at_most + 1:
                bucket.clamp(now, server_at_most)

    def observe_quota(self, remaining: int, resets_after: float) -> None:
        """Resource Graph's quota headers, as the latest answer gave them."""
        with self._lock:
            self.quota.observe(self._monotonic(), remaining, resets_after)

    def hold(self, subscription: str, seconds: float) -> None:
        """After a 429: nothing more for this subscription until ``Retry-After`` has passed,
        and then no burst either: its buckets start empty, so requests resume at the refill
        rate instead of all waiting workers firing at once."""
        subscription = subscription.lower()
        with self._lock:
            until = self._monotonic() + seconds
            self._held_until[subscription] = max(self._held_until.get(subscription, 0.0), until)
            for key, bucket in self._buckets.items():
                if key[-1] == subscription:  # ARM and Compute subscription buckets, not per VM
                    bucket.empty_until(until)
            if subscription == TENANT_SCOPE:  # a 429 from Resource Graph: its quota is spent
                self.quota.empty_until(until)
