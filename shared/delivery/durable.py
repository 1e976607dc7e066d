"""What keeps a delivery from being sent twice when a worker lives but storage stumbles.

- ``settle``: the ledger write after a send is retried with bounded backoff for longer than a
  storage blip (90 s by default, well inside the 10-minute function timeout). Giving up sooner
  would leave the claim in ``sending``: the job would be sent again once the claim lapsed.
- ``ClaimHeartbeat``: while a send is in flight the claim is renewed every quarter lease, so
  the lease can be short (a crashed worker's jobs are taken over within a minute) while a slow
  but live send is never taken over by a second worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TypeVar

from shared.storage import StorageError
from shared.telemetry import get_logger

log = get_logger("forewarn.delivery")

T = TypeVar("T")

SETTLE_SECONDS = 90.0
_FIRST_PAUSE_SECONDS = 0.5
_LONGEST_PAUSE_SECONDS = 8.0


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
    deadline = monotonic() + within_seconds
    pause = _FIRST_PAUSE_SECONDS
    while True:
        try:
            return write()
        except StorageError as error:
            left = deadline - monotonic()
            if left <= 0:
                raise
            log.warning("%s failed (%s); retrying in %.1f s", what, type(error).__name__, pause)
            sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)


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
