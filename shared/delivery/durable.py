"""What keeps a delivery from being sent twice when a worker lives but storage stumbles.

- ``settle``: the ledger write after a send is retried (0.5 s doubling to 4 s) for as long as
  the function may run (9 minutes of host.json's 10-minute ``functionTimeout``), not for a
  fixed 90 s: a live worker that gave up would leave its claim in ``sending`` and the job would
  be sent again once the claim lapsed (the 123 s outage of issue 20 did exactly that).
- ``ClaimHeartbeat``: from the claim until the ledger write succeeds, the claim is renewed
  every quarter lease, so the lease can be short (a crashed worker's jobs are taken over
  within a minute and a half) while a slow but live send is never taken over by a second
  worker. Renewals that fail during an outage are tried again; the first one that succeeds
  after it (or the record itself) answers the second worker's lapse sighting
  (``IdempotencyLedger.claim``), well inside the half lease that sighting waits.
- ``LedgerProgress``: each target (and each part of one: a Slack top message and its
  replies) is written to the claim as it is reached, and kept in memory when the write fails
  (the next renewal carries it), so the worker never forgets what it sent and a crash re-sends
  only what was not reached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TypeVar

from shared.channels.base import Progress
from shared.delivery.records import IdempotencyLedger, target_hash
from shared.models import DeliveryJob
from shared.storage import StorageError
from shared.telemetry import get_logger

log = get_logger("forewarn.delivery")

T = TypeVar("T")

# host.json's functionTimeout (10 min) less a minute for the writes after the record.
SETTLE_SECONDS = 540.0
_FIRST_PAUSE_SECONDS = 0.5
# Well under the half lease a lapse sighting waits: a live worker records before a second
# worker may take its claim over once storage is back.
_LONGEST_PAUSE_SECONDS = 4.0
_SAY_AGAIN_SECONDS = 30.0


def settle(
    write: Callable[[], T],
    what: str,
    *,
    within_seconds: float = SETTLE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """``write()``, retried on ``StorageError`` until ``within_seconds`` have passed; the last
    error is raised after that (the host then retries the message, as before)."""
    started = monotonic()
    deadline = started + within_seconds
    pause = _FIRST_PAUSE_SECONDS
    said_at: float | None = None
    while True:
        try:
            result = write()
        except StorageError as error:
            now = monotonic()
            left = deadline - now
            if left <= 0:
                raise
            # Once, then every half minute: a long outage is a few lines per job, not hundreds.
            if said_at is None or now - said_at >= _SAY_AGAIN_SECONDS:
                log.warning(
                    "%s failed (%s); retrying every %.0f s at most, until it succeeds",
                    what,
                    type(error).__name__,
                    _LONGEST_PAUSE_SECONDS,
                )
                said_at = now
            sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)
            continue
        if said_at is not None:
            log.warning("%s succeeded after %.0f s", what, monotonic() - started)
        return result


class ClaimHeartbeat:
    """Calls ``renew(now)`` every ``interval_seconds`` on a thread until the block ends.

    ``renew`` returns False once the claim is no longer ours (recorded, or taken over after a
    lapse): the heartbeat then stops. A renewal that fails is logged and tried again."""

    def __init__(
        self,
        renew: Callable[[datetime], bool],
        *,
        interval_seconds: float,
        clock: Callable[[], datetime],
        name: str,
    ) -> None:
        self._renew = renew
        self._interval = interval_seconds
        self._clock = clock
        self._name = name
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{name}", daemon=True)

    def __enter__(self) -> ClaimHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self._interval):
            try:
                if not self._renew(self._clock()):
                    log.warning("claim of %s is no longer held; heartbeat stops", self._name)
                    return
            except StorageError as error:
                log.warning("claim of %s not renewed (%s)", self._name, type(error).__name__)


class LedgerProgress(Progress):
    """The parts of a job reached so far, written to the ledger claim as they come."""

    def __init__(
        self,
        ledger: IdempotencyLedger,
        job: DeliveryJob,
        token: str,
        *,
        reached: frozenset[str],
        parts: dict[str, str],
        clock: Callable[[], datetime],
    ) -> None:
        self._ledger = ledger
        self._job = job
        self._token = token
        self._targets = set(job.receiver.targets)
        self._reached = set(reached)
        self._parts = dict(parts)
        self._clock = clock
        self._lock = threading.Lock()
        # One ledger write at a time from this worker: the heartbeat and the sender's progress
        # would otherwise fail each other's conditional updates.
        self._write_lock = threading.Lock()
        self._writes_fail = False

    def reached(self, part: str, reference: str | None = None) -> None:
        with self._lock:
            if part in self._targets:
                self._reached.add(target_hash(part))
            else:
                self._parts[target_hash(part)] = reference or ""
            skip = self._writes_fail
        if skip:
            return  # storage is failing: the heartbeat's next renewal carries it
        try:
            self.renew(self._clock())
        except StorageError as error:
            with self._lock:
                self._writes_fail = True
            log.warning(
                "progress of %s kept in memory (%s)", self._job.job_id, type(error).__name__
            )

    def done(self, part: str) -> str | None:
        with self._lock:
            key = target_hash(part)
            if part in self._targets and key in self._reached:
                return ""
            return self._parts.get(key)

    def renew(self, now: datetime) -> bool:
        """The claim renewed with everything reached so far; what ``ClaimHeartbeat`` calls."""
        with self._write_lock:
            with self._lock:
                reached, parts = set(self._reached), dict(self._parts)
            held = self._ledger.renew(self._job, self._token, now, reached, parts)
        with self._lock:
            self._writes_fail = False
        return held

    def snapshot(self) -> tuple[frozenset[str], dict[str, str]]:
        with self._lock:
            return frozenset(self._reached), dict(self._parts)
