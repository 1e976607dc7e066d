"""Progress per target and part, as the ledger keeps it (in-memory tables, no network).

GIVEN a claimed job and what an earlier try reached
WHEN  the sender reports parts, the heartbeat renews, or another worker writes in between
THEN  the ledger holds every part reached, the claim stays this worker's, and a Slack job
      posts only the parts not posted yet, its replies under the earlier top message
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.channels.base import Progress
from shared.channels.slack import _parts
from shared.delivery.durable import LedgerProgress
from shared.delivery.records import IdempotencyLedger, target_hash
from shared.delivery.results import DeliveryResult
from shared.models import DeliveryJob, Receiver, RenderedMessage
from shared.storage import InMemoryEntityTable, StorageUnavailableError, VersionedEntity

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
NUMBERS = ["+15550100001", "+15550100002"]


def sms_job() -> DeliveryJob:
    return DeliveryJob(
        job_id="evt-1:oncall",
        event_id="evt-1",
        receiver=Receiver("oncall", "sms", list(NUMBERS)),
        message=RenderedMessage("sms", "", "Maintenance on vm-01"),
        created_at="2026-12-07T09:00:00Z",
    )


class InterruptedTable(InMemoryEntityTable):
    """Runs ``between`` once, right after the next versioned read (another writer)."""

    def __init__(self) -> None:
        super().__init__()
        self.between: Callable[[], object] | None = None
        self.down = False

    def get_versioned(self, partition: str, row: str) -> VersionedEntity | None:
        if self.down:
            raise StorageUnavailableError("table service unreachable")
        found = super().get_versioned(partition, row)
        between, self.between = self.between, None
        if between is not None:
            between()
        return found


def claimed(table: InterruptedTable) -> tuple[IdempotencyLedger, LedgerProgress]:
    ledger = IdempotencyLedger(table, lease=LEASE)
    claim = ledger.claim(sms_job(), NOW)
    assert claim.verdict == "send"
    progress = LedgerProgress(
        ledger, sms_job(), claim.token, reached=frozenset(), parts={}, clock=lambda: NOW
    )
    return ledger, progress


def row(table: InMemoryEntityTable) -> dict[str, Any]:
    found = table.get("evt-1", "oncall")
    assert found is not None
    return found


def test_each_number_and_part_reached_is_in_the_ledger_at_once() -> None:
    table = InterruptedTable()
    _, progress = claimed(table)
    progress.reached(NUMBERS[0], "SM1")
    progress.reached("C1#top", "C1/1.0")
    stored = row(table)
    assert json.loads(stored["reached"]) == [target_hash(NUMBERS[0])]
    assert json.loads(stored["parts"]) == {target_hash("C1#top"): "C1/1.0"}
    assert (progress.done(NUMBERS[0]), progress.done(NUMBERS[1])) == ("", None)
    assert progress.done("C1#top") == "C1/1.0"


def test_progress_kept_in_memory_while_storage_is_away_goes_out_with_the_next_renewal() -> None:
    table = InterruptedTable()
    _, progress = claimed(table)
    table.down = True
    progress.reached(NUMBERS[0], "SM1")  # the write fails: kept, never raised
    assert progress.done(NUMBERS[0]) == ""
    table.down = False
    assert progress.renew(NOW + timedelta(seconds=15))
    assert json.loads(row(table)["reached"]) == [target_hash(NUMBERS[0])]


def test_a_renewal_that_races_another_workers_lapse_note_still_holds_the_claim() -> None:
    # GIVEN another worker writing its lapse sighting between this worker's read and write
    table = InterruptedTable()
    ledger, progress = claimed(table)
    rival = IdempotencyLedger(table, lease=LEASE)
    table.between = lambda: rival.claim(sms_job(), NOW + LEASE + timedelta(seconds=1))
    # WHEN the heartbeat renews THEN the claim is still held, renewed, and the sighting gone
    assert progress.renew(NOW + LEASE + timedelta(seconds=2))
    stored = row(table)
    assert "lapse_seen_at" not in stored
    assert stored["claimed_at"] == "2026-12-07T10:01:02Z"
    assert ledger.renew(sms_job(), "someone-else", NOW) is False


class Remembered(Progress):
    def __init__(self, done: Mapping[str, str]) -> None:
        self.known = dict(done)

    def reached(self, part: str, reference: str | None = None) -> None:
        self.known[part] = reference or ""

    def done(self, part: str) -> str | None:
        return self.known.get(part)


@pytest.mark.parametrize(
    ("earlier", "posted", "reply_under"),
    [
        # GIVEN an earlier try reached            THEN this try posts     replies thread under
        ({}, ["top", "reply1", "reply2"], "C1/9.9"),
        ({"C1#top": "C1/1.0"}, ["reply1", "reply2"], "C1/1.0"),
        ({"C1#top": "C1/1.0", "C1#reply1": ""}, ["reply2"], "C1/1.0"),
        ({"C1#top": "C1/1.0", "C1#reply1": "", "C1#reply2": ""}, [], None),
    ],
    ids=["nothing", "the-top-message", "top-and-first-reply", "everything"],
)
def test_a_slack_job_posts_only_what_an_earlier_try_did_not(
    earlier: dict[str, str], posted: list[str], reply_under: str | None
) -> None:
    calls: list[str] = []
    top_seen: dict[str, str] = {}

    def post(name: str) -> Callable[[], DeliveryResult]:
        def send() -> DeliveryResult:
            calls.append(name)
            if name.startswith("reply"):
                calls.append(f"under {top_seen.get('reference')}")
            return DeliveryResult.ok(200, reference="C1/9.9" if name == "top" else None)

        return send

    progress = Remembered(earlier)
    result = _parts(progress, "C1", post("top"), [post("reply1"), post("reply2")], top_seen)
    assert result.delivered
    assert [call for call in calls if not call.startswith("under")] == posted
    assert {call for call in calls if call.startswith("under")} <= {f"under {reply_under}"}
    assert set(progress.known) == {"C1#top", "C1#reply1", "C1#reply2"}
