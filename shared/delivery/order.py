"""Order within one event: a message that names what it follows waits until that is settled.

A notice may name the notices it must follow for the same receiver (``EnrichedEvent.after``):
the route stage writes their event ids in the message's ``meta["after"]``. Scheduled Events
do, as a chain: "in 15 min", the drain's outcome, Started, "back at", each naming the one
before it (shared/scheduled ``notices_before``). Such a job, before it is claimed,
reads the ledger rows of those notices for its receiver: delivered, or dead (given up on), lets
it go; anything else (absent, pending, sending) makes it wait ``ORDER_WAIT_SECONDS`` on its
queue and look again. Absent is waited for too: the earlier notice may not have been routed
yet, which is how one overtakes the other. After ``MAX_ORDER_WAITS`` looks it goes anyway: the
earlier notice may never reach this receiver (a route that takes warnings only), and a message
out of order is better than none.
"""

from __future__ import annotations

from typing import Final

from shared.delivery.records import IdempotencyLedger
from shared.models import DeliveryJob

AFTER_META: Final = "after"
ORDER_WAIT_SECONDS: Final = 2
# 20 looks, 2 s apart: well inside the 15 minutes before a reboot, and far longer than an
# earlier notice spends between the intake and its receiver when nothing is wrong.
MAX_ORDER_WAITS: Final = 20
SETTLED: Final = ("delivered", "dead")


def predecessors(job: DeliveryJob) -> tuple[str, ...]:
    """The event ids this job's message follows (none for most)."""
    after = job.message.meta.get(AFTER_META)
    if not isinstance(after, list):
        return ()
    return tuple(item for item in after if isinstance(item, str) and item)


def first_unsettled(ledger: IdempotencyLedger, job: DeliveryJob) -> str | None:
    """The first notice this job follows that its receiver has not been settled for, if any."""
    for event_id in predecessors(job):
        if ledger.state_of(event_id, job.receiver.name) not in SETTLED:
            return event_id
    return None
