"""One catch-up pass over in-memory storage and a scripted workspace.

GIVEN notices in the workspace, some already received (a delivery ledger row) or recovered
WHEN  a pass runs (first, again over an overlapping window, after a failed or partial query)
THEN  each missing notice is queued once, marked recovered; the checkpoint moves only after a
      full answer; a failed query is a note, never an exception.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.loganalytics import LogsUnavailableError
from shared.loganalytics.catchup import LOOKBACK, OVERLAP, CatchUp
from shared.loganalytics.client import InMemoryLogsReader, QueryResult
from shared.standins.activity_rows import service_health_row
from shared.storage import InMemoryQueuePublisher, StorageServices, StorageUnavailableError
from tests.conftest import FIXTURES

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SAMPLE = json.loads(
    (FIXTURES / "forewarn" / "common-servicehealth-maintenance-planned-vms.json").read_text()
)


def notice(minutes_ago: int) -> dict:
    alert = json.loads(json.dumps(SAMPLE))
    alert["data"]["alertContext"]["properties"]["communicationId"] = uuid.uuid4().hex
    return service_health_row(alert, time_generated=NOW - timedelta(minutes=minutes_ago))


class Workspace:
    """Rows inside the asked window; optionally a partial answer."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.partial: str | None = None

    def __call__(self, name: str, parameters: dict, span: object) -> QueryResult:
        assert name == "catch-up"
        start, end = span  # type: ignore[misc]
        rows = [r for r in self.rows if start <= datetime.fromisoformat(r["TimeGenerated"]) < end]
        if self.partial:
            return QueryResult(rows[: len(rows) // 2], self.partial)
        return QueryResult(rows)


def make(rows: list[dict], clock_at: list[datetime] | None = None):
    storage = StorageServices.in_memory()
    workspace = Workspace(rows)
    reader = InMemoryLogsReader(workspace)
    moments = clock_at or [NOW]
    catch_up = CatchUp(
        reader,
        storage.courier,
        storage.table(names.TABLE_CATCHUP),
        storage.table(names.TABLE_IDEMPOTENCY),
        subscriptions=["11111111-1111-1111-1111-111111111111"],
        clock=lambda: moments[0],
    )
    return catch_up, storage, workspace, reader, moments


def queued(storage: StorageServices) -> list[dict]:
    assert isinstance(storage.queues, InMemoryQueuePublisher)
    return [json.loads(text) for text in storage.queues.messages[names.QUEUE_EVENTS]]


def test_missing_notices_are_queued_once_and_marked_recovered() -> None:
    rows = [notice(90), notice(30)]
    catch_up, storage, _, reader, _ = make(rows)

    first = catch_up.run()
    again = catch_up.run(since=NOW - LOOKBACK)  # the same window again: safe

    assert [f.verdict for f in first.findings] == ["missing", "missing"]
    assert all(f.queued for f in first.findings)
    assert [f.verdict for f in again.findings] == ["recovered", "recovered"]
    messages = queued(storage)
    assert len(messages) == 2
    assert all(m["kind"] == "event" and m["body"]["recovered"] is True for m in messages)
    assert {m["id"] for m in messages} == {f.event_id for f in first.findings}
    # the first pass looks back LOOKBACK; the parameters carry the watched subscription
    query, span = reader.queries[0]
    assert span == (NOW - LOOKBACK, NOW)
    assert query.parameters["subscriptions"] == ["11111111-1111-1111-1111-111111111111"]
    assert first.checkpoint_advanced


def test_a_notice_the_webhook_brought_is_not_queued() -> None:
    rows = [notice(20)]
    catch_up, storage, *_ = make(rows)
    event_id = catch_up.run(dry_run=True).findings[0].event_id
    assert event_id is not None
    storage.table(names.TABLE_IDEMPOTENCY).upsert(event_id, "ops-slack", {"state": "delivered"})

    report = catch_up.run()

    assert [f.verdict for f in report.findings] == ["received"]
    assert queued(storage) == []


def test_dry_run_lists_but_neither_queues_nor_moves_the_checkpoint() -> None:
    catch_up, storage, *_ = make([notice(20)])
    report = catch_up.run(dry_run=True)
    assert [f.verdict for f in report.findings] == ["missing"]
    assert not report.findings[0].queued
    assert queued(storage) == []
    assert catch_up.checkpoint() is None and not report.checkpoint_advanced


def test_the_next_pass_starts_before_the_checkpoint() -> None:
    catch_up, _, _, reader, moments = make([])
    catch_up.run()
    moments[0] = NOW + timedelta(hours=1)
    catch_up.run()
    assert reader.queries[1][1] == (NOW - OVERLAP, NOW + timedelta(hours=1))


def test_since_overrides_the_checkpoint() -> None:
    catch_up, _, _, reader, _ = make([])
    catch_up.run(since=NOW - timedelta(days=30))
    assert reader.queries[0][1] == (NOW - timedelta(days=30), NOW)


def test_a_failed_query_is_a_note_and_the_checkpoint_stays() -> None:
    catch_up, storage, _, reader, moments = make([notice(20)])
    reader.fail_with = LogsUnavailableError("503 from the workspace")

    report = catch_up.run()

    assert report.findings == [] and not report.checkpoint_advanced
    assert any("query failed" in note for note in report.notes)
    # the next pass, once the workspace answers, finds what the failed one missed
    reader.fail_with = None
    moments[0] = NOW + timedelta(hours=1)
    assert [f.verdict for f in catch_up.run().findings] == ["missing"]
    assert len(queued(storage)) == 1


def test_a_partial_answer_queues_what_came_and_keeps_the_checkpoint() -> None:
    rows = [notice(50), notice(40), notice(30), notice(20)]
    catch_up, storage, workspace, _, moments = make(rows)
    workspace.partial = "PartialError: result set too large"

    partial = catch_up.run()

    assert len(partial.findings) == 2 and not partial.checkpoint_advanced
    assert any("in part" in note for note in partial.notes)
    workspace.partial = None
    moments[0] = NOW + timedelta(minutes=5)
    full = catch_up.run()
    assert sorted(f.verdict for f in full.findings) == [
        "missing",
        "missing",
        "recovered",
        "recovered",
    ]
    assert len(queued(storage)) == 4  # each notice once
    assert full.checkpoint_advanced


def test_a_queue_outage_keeps_the_checkpoint_and_retries_next_pass() -> None:
    catch_up, storage, _, _, moments = make([notice(20)])
    assert isinstance(storage.queues, InMemoryQueuePublisher)
    storage.queues.fail_with = StorageUnavailableError("down")

    report = catch_up.run()

    assert report.missing and not report.queued and not report.checkpoint_advanced
    assert any("could not be queued" in note for note in report.notes)
    storage.queues.fail_with = None
    moments[0] = NOW + timedelta(hours=1)
    assert [f.queued for f in catch_up.run().findings] == [True]


def test_rows_that_are_not_for_forewarn_are_listed_as_ignored() -> None:
    odd = notice(20)
    odd["CategoryValue"] = "ResourceHealth"
    odd["_ResourceId"] = (
        "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/rg/providers/microsoft.storage/storageaccounts/sa"
    )
    catch_up, storage, *_ = make([odd])
    report = catch_up.run()
    assert [f.verdict for f in report.findings] == ["ignored"]
    assert queued(storage) == []
    assert report.checkpoint_advanced


@pytest.mark.parametrize(
    "as_text", [False, True], ids=["dynamic as object", "dynamic as JSON text"]
)
def test_an_ignored_row_is_listed_by_its_title_however_the_api_returns_properties(
    as_text: bool,
) -> None:
    # GIVEN a row forewarn does not act on, its Properties_d as the SDK or the REST API gives it
    odd = notice(20)
    odd["SubscriptionId"] = "not-a-subscription"
    title = odd["Properties_d"]["title"]
    odd["CategoryValue"] = "ResourceHealth"
    odd["_ResourceId"] = "/subscriptions/11111111-1111-1111-1111-111111111111/x"
    if as_text:
        odd["Properties_d"] = json.dumps(odd["Properties_d"])
    catch_up, *_ = make([odd])
    # WHEN listed THEN by the notice's title, not the operation name
    [finding] = catch_up.run().findings
    assert finding.verdict in ("ignored", "invalid")
    assert finding.title == title


@pytest.mark.parametrize("broken", [{"Properties_d": "{not json"}, {"SubscriptionId": "x"}])
def test_an_unreadable_row_is_listed_as_invalid_and_the_rest_goes_on(broken: dict) -> None:
    bad = {**notice(30), **broken}
    catch_up, storage, *_ = make([bad, notice(20)])
    report = catch_up.run()
    assert [f.verdict for f in report.findings] == ["invalid", "missing"]
    assert len(queued(storage)) == 1


def test_a_since_after_the_checkpoint_does_not_move_it_past_an_unread_window() -> None:
    # GIVEN a checkpoint 5 hours old (the timer failed since) and a notice 3 hours old
    catch_up, _, _, _, moments = make([notice(3 * 60)])
    moments[0] = NOW - timedelta(hours=5)
    catch_up.run()
    moments[0] = NOW
    # WHEN someone runs a pass by hand over the last hour only
    by_hand = catch_up.run(since=NOW - timedelta(hours=1))
    # THEN the checkpoint stays, and the next timer pass still reads the older window
    assert not by_hand.checkpoint_advanced
    assert any("checkpoint" in note for note in by_hand.notes)
    assert [f.verdict for f in catch_up.run().findings] == ["missing"]
